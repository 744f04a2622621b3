package app_test

// The outbound address policy and upstream credentials (DESIGN "Hostile input and hostile
// tenants"): each test reproduces an attack on a tenant-named host, a recipient's MX or an
// upstream's credentials, and asserts nothing reaches a loopback listener or the wire.

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gatewayd/app/apptest"
	"gatewayd/config"
	"gatewayd/relay/smtptest"
	"gatewayd/storage"
)

// trap listens on a loopback port and counts the connections that reach it; every test that
// uses it asserts the count stays 0.
func trap(t *testing.T) (port int, hits func() int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Write([]byte("220 trap ESMTP\r\n"))
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port, n.Load
}

// refusedSpellings are host spellings of loopback, private, CGNAT, link-local, metadata,
// unspecified and multicast addresses, in every form a parser along the way may accept, and
// names that lead there.
var refusedSpellings = []string{
	"127.0.0.1", "127.0.0.2", "2130706433", "0x7f000001", "0x7f.0.0.1", "0177.0.0.1", "127.1",
	"::1", "[::1]", "::ffff:127.0.0.1", "::ffff:7f00:1", "::127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::",
	"10.0.0.5", "012.0.0.5", "172.16.0.1", "192.168.1.1", "100.64.0.1", "169.254.169.254", "0xa9fea9fe",
	"::ffff:169.254.169.254", "fd00:ec2::254", "100.100.100.200", "0.0.0.0", "0", "::", "fe80::1", "fd00::1",
	"224.0.0.1", "localhost", "LOCALHOST.", "relay.localhost", "metadata.google.internal",
	"loop.tenant.test", "internal.tenant.test", "metadata.tenant.test", "mapped.tenant.test",
}

// addTenantNames publishes the names of refusedSpellings (and a public one) in the fake DNS.
func addTenantNames(env *apptest.Env) {
	env.DNS.AddA("loop.tenant.test", "127.0.0.1")
	env.DNS.AddA("internal.tenant.test", "10.1.2.3")
	env.DNS.AddA("metadata.tenant.test", "169.254.169.254")
	env.DNS.AddA("mapped.tenant.test", "::ffff:127.0.0.1")
	env.DNS.AddA("public.tenant.test", "93.184.215.14") // never connected to
}

// TestTenantHostRefusedAtRegistration (finding 2): a B2Core provider and a Tenevo gateway
// cannot be created or changed to point at any refused spelling (the surface's field error on
// host / server), and a Navixy bind of an own gateway stored with such a host is refused;
// nothing connects anywhere.
func TestTenantHostRefusedAtRegistration(t *testing.T) {
	env := apptest.Start(t, func(c *config.Config) { c.UpstreamAllowPrivate = false })
	addTenantNames(env)
	c := &gwClient{t: t, env: env}
	alice := env.CreateUser("alice")
	port, hits := trap(t)

	provider := func(host string) map[string]any {
		return map[string]any{"driver": "smtp", "host": host, "port": port, "username": "u", "password": "pw",
			"sendFrom": "a@alice.test", "sendFromName": "A", "encryption": "tls", "isEnabled": true}
	}
	gateway := func(host string) map[string]any {
		return map[string]any{"interface": "email", "name": "relay", "server": host, "port": port, "username": "u", "password": "pw"}
	}
	pid := idOf(t, mustStatus(t, c.do("POST", "/api/v2/mail/providers", alice.SessionID, provider("public.tenant.test")), 201), "id")
	gid := idOf(t, mustStatus(t, c.do("POST", "/messages/gateways/", alice.SessionID, gateway("public.tenant.test")), 201), "id")

	refused := func(r *apptest.Response, field, host string) {
		t.Helper()
		if r.Status != 400 || !strings.Contains(string(r.Body), `"field":"`+field+`"`) ||
			!strings.Contains(string(r.Body), "Must be a public host, not a loopback or private address.") {
			t.Errorf("%s: %d %s", host, r.Status, r.Body)
		}
	}
	for _, host := range refusedSpellings {
		refused(c.do("POST", "/api/v2/mail/providers", alice.SessionID, provider(host)), "host", host)
		refused(c.do("PATCH", fmt.Sprintf("/api/v2/mail/providers/%d", pid), alice.SessionID, map[string]any{"host": host}), "host", host)
		refused(c.do("POST", "/messages/gateways/", alice.SessionID, gateway(host)), "server", host)
		refused(c.do("PUT", fmt.Sprintf("/messages/gateways/%d", gid), alice.SessionID, gateway(host)), "server", host)
	}
	gs, total, err := env.Server.DB.Gateways(context.Background(), storage.GatewayFilter{OwnerID: alice.ID})
	if err != nil || total != 2 {
		t.Fatalf("%d gateways stored (%v), want the 2 public ones", total, err)
	}
	for _, g := range gs {
		if g.Host != "public.tenant.test" {
			t.Fatalf("a refused host was stored: %q", g.Host)
		}
	}

	// A Navixy bind of an own gateway whose stored host is refused (stored before the policy,
	// or while GATEWAY_UPSTREAM_ALLOW_PRIVATE was set): 7, and nothing bound.
	hash := navixyLogin(t, c, alice)
	for _, host := range []string{"127.0.0.1", "loop.tenant.test", "::ffff:10.0.0.1"} {
		g := &storage.Gateway{OwnerID: alice.ID, Label: "old", Interface: "email", Provider: "smtp", Host: host, Port: port,
			SSLPort: 465, Encryption: "tls", Enabled: true, TimeoutMS: 60000, ConnectTimeoutMS: 60000}
		if err := env.Server.DB.CreateGateway(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		r := c.navixy("/panel/gateways/email/bind", hash, map[string]any{"gateway_id": g.ID})
		if m := mustStatus(t, r, 400); fmt.Sprint(m["status"].(map[string]any)["code"]) != "7" {
			t.Fatalf("bind %s: %s", host, r.Body)
		}
		if _, err := env.Server.DB.BoundGatewayID(context.Background(), alice.ID); err == nil {
			t.Fatalf("bind %s: a gateway was bound", host)
		}
	}
	if n := hits(); n != 0 {
		t.Fatalf("%d connections reached the loopback listener", n)
	}
}

// TestTenantHostRefusedAtConnect (finding 2): gateways stored with refused hosts (a literal,
// its spellings, a name that resolves there: DNS rebinding after registration) are refused
// again when they connect. GET /status answers the stage and a fixed sentence, no address and
// no Go error text; delivery through the bound gateway defers with the reason on the
// message's events; nothing reaches the loopback listener.
func TestTenantHostRefusedAtConnect(t *testing.T) {
	d := startDelivery(t, func(cfg *config.Config, _ *smtptest.Server) { cfg.UpstreamAllowPrivate = false })
	addTenantNames(d.Env)
	c := &gwClient{t: t, env: d.Env}
	session := d.MustAPI(map[string]any{"Command": "user.login", "Username": "alice", "Password": "password-alice"})["SessionID"].(string)
	port, hits := trap(t)
	ctx := context.Background()

	var bindID int64
	for _, host := range refusedSpellings {
		g := &storage.Gateway{OwnerID: d.user.ID, Label: host, Interface: "email", Provider: "smtp", Host: host, Port: port,
			SSLPort: 465, Username: "u", Encryption: "starttls", Enabled: true, TimeoutMS: 5000, ConnectTimeoutMS: 5000}
		if err := d.Server.DB.CreateGateway(ctx, g); err != nil {
			t.Fatal(err)
		}
		if host == "loop.tenant.test" {
			bindID = g.ID
		}
		r := c.do("GET", fmt.Sprintf("/api/v2/mail/providers/%d/status", g.ID), session, nil)
		body := string(r.Body)
		if r.Status != 422 || !strings.Contains(body, "Connection check failed at connect: ") {
			t.Fatalf("status of %s: %d %s", host, r.Status, body)
		}
		for _, leak := range []string{"127.0.0.1", "::1", "10.1.2.3", "169.254", "dial tcp", "read udp", "lookup", strconv.Itoa(port), "connection refused"} {
			if strings.Contains(body, leak) {
				t.Fatalf("status of %s leaks %q: %s", host, leak, body)
			}
		}
	}

	// Bind the rebinding one and send: deferred, the reason on the events, no connection.
	if err := d.Server.DB.BindGateway(ctx, d.user.ID, bindID); err != nil {
		t.Fatal(err)
	}
	m := d.mustAccept("jane@dest.test")
	deadline := time.Now().Add(15 * time.Second)
	for {
		evs := d.events(m, "jane@dest.test")
		if types(evs) == "accepted,deferred" || strings.HasPrefix(types(evs), "accepted,deferred,") {
			if !strings.Contains(evs[1].Details, "destination refused") || !strings.Contains(evs[1].Details, "loopback") {
				t.Fatalf("deferral reason: %+v", evs[1])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no deferral: %+v", evs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(d.sink.Messages()); n != 0 {
		t.Fatalf("the default relay got %d messages while a gateway was bound", n)
	}
	if n := hits(); n != 0 {
		t.Fatalf("%d connections reached the loopback listener", n)
	}
}

// TestMXLoopbackRefused (finding 9): a recipient domain whose MX resolves to 127.0.0.1 bounces
// with the reason and no connection; with GATEWAY_MX_ALLOW_LOCAL=true it is delivered there.
func TestMXLoopbackRefused(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow=%v", allow), func(t *testing.T) {
			d := startDelivery(t, func(cfg *config.Config, sink *smtptest.Server) {
				cfg.DefaultRelay = ""
				cfg.MXAllowLocal = allow
				_, port, _ := net.SplitHostPort(sink.Addr)
				cfg.MXPort, _ = strconv.Atoi(port)
			})
			d.DNS.AddMX("dest.test", 10, "mx.dest.test")
			d.DNS.AddA("mx.dest.test", "127.0.0.1")
			m := d.mustAccept("jane@dest.test")
			row := d.wait(m, 15*time.Second)["jane@dest.test"]
			if allow {
				if row.State != storage.StateDelivered || len(d.sink.WaitMessages(t, 1, 5*time.Second)) != 1 {
					t.Fatalf("row %+v", row)
				}
				return
			}
			evs := d.events(m, "jane@dest.test")
			if row.State != storage.StateBounced || types(evs) != "accepted,bounced" ||
				!strings.Contains(evs[1].Details, "5.4.4") || !strings.Contains(evs[1].Details, "destination refused") {
				t.Fatalf("row %+v events %+v", row, evs)
			}
			if n := d.sink.Connections(); n != 0 {
				t.Fatalf("%d connections reached the loopback MX", n)
			}
		})
	}
}

// TestDefaultRelayNoCleartextAuth (finding 6): GATEWAY_DEFAULT_RELAY=smtp://user:pass@host to
// a server that offers no STARTTLS (but would take AUTH in clear): no AUTH and no password on
// the wire, the message deferred with the reason; smtp+insecure:// authenticates in clear.
func TestDefaultRelayNoCleartextAuth(t *testing.T) {
	for _, scheme := range []string{"smtp", "smtp+insecure"} {
		t.Run(scheme, func(t *testing.T) {
			up := smtptest.Start(t, smtptest.Options{AuthUsers: map[string]string{"relay-user": "relay-Secret-9"}, AllowInsecureAuth: true})
			d := startDelivery(t, func(cfg *config.Config, _ *smtptest.Server) {
				cfg.DefaultRelay = scheme + "://relay-user:relay-Secret-9@" + up.Addr
			})
			m := d.mustAccept("jane@dest.test")
			if scheme == "smtp+insecure" {
				if row := d.wait(m, 15*time.Second)["jane@dest.test"]; row.State != storage.StateDelivered {
					t.Fatalf("row %+v", row)
				}
				if got := up.WaitMessages(t, 1, 5*time.Second)[0]; got.AuthUser != "relay-user" || got.TLS {
					t.Fatalf("upstream got %+v", got)
				}
				return
			}
			deadline := time.Now().Add(15 * time.Second)
			for !strings.HasPrefix(types(d.events(m, "jane@dest.test")), "accepted,deferred") {
				if time.Now().After(deadline) {
					t.Fatalf("no deferral: %+v", d.events(m, "jane@dest.test"))
				}
				time.Sleep(20 * time.Millisecond)
			}
			if ev := d.events(m, "jane@dest.test")[1]; !strings.Contains(ev.Details, "does not offer STARTTLS; credentials are only sent over TLS") {
				t.Fatalf("deferral reason: %+v", ev)
			}
			wire := up.Wire()
			if !bytes.Contains(wire, []byte("EHLO")) {
				t.Fatalf("the upstream was never talked to: %q", wire)
			}
			plain := base64.StdEncoding.EncodeToString([]byte("\x00relay-user\x00relay-Secret-9"))
			for _, bad := range []string{"AUTH", "relay-Secret-9", plain} {
				if bytes.Contains(bytes.ToUpper(wire), bytes.ToUpper([]byte(bad))) {
					t.Fatalf("%q crossed the wire in clear: %q", bad, wire)
				}
			}
			if len(up.Messages()) != 0 {
				t.Fatal("a message was relayed")
			}
		})
	}
}
