package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatewayd/app/apptest"
	"gatewayd/config"
	"gatewayd/relay/outbound"
	"gatewayd/relay/smtptest"
	"gatewayd/storage/storagetest"
)

// gwClient calls the gateway surfaces of one test server and remembers every response, so a
// test can assert on all of them at the end.
type gwClient struct {
	t    *testing.T
	env  *apptest.Env
	seen []*apptest.Response
}

func (c *gwClient) do(method, path, token string, body any) *apptest.Response {
	c.t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	var b []byte
	if body != nil {
		h.Set("Content-Type", "application/json")
		b, _ = json.Marshal(body)
	}
	r := c.env.Do(method, path, h, b)
	c.seen = append(c.seen, r)
	return r
}

func (c *gwClient) navixy(path, hash string, body map[string]any) *apptest.Response {
	c.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	body["hash"] = hash
	return c.do("POST", path, "", body)
}

func (c *gwClient) api(params map[string]any) map[string]any {
	c.t.Helper()
	b, _ := json.Marshal(params)
	r := c.env.Do("POST", "/api.php", http.Header{"Content-Type": {"application/json"}}, b)
	c.seen = append(c.seen, r)
	return r.JSON(c.t)
}

func mustStatus(t *testing.T, r *apptest.Response, want int) map[string]any {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d: %s", r.Status, want, r.Body)
	}
	if len(r.Body) == 0 {
		return nil
	}
	if r.Body[0] == '[' { // a B2Core list
		var list []any
		if err := json.Unmarshal(r.Body, &list); err != nil {
			t.Fatalf("response is not a JSON array (%d): %s", r.Status, r.Body)
		}
		return nil
	}
	return r.JSON(t)
}

func idOf(t *testing.T, m map[string]any, key string) int64 {
	t.Helper()
	n, ok := m[key].(json.Number)
	if !ok {
		t.Fatalf("%s missing in %v", key, m)
	}
	id, _ := n.Int64()
	return id
}

func navixyLogin(t *testing.T, c *gwClient, u *apptest.User) string {
	t.Helper()
	m := mustStatus(t, c.do("POST", "/panel/account/auth", "", map[string]any{"login": u.Username, "password": u.Password}), 200)
	return m["hash"].(string)
}

// TestGatewayPasswordsNeverShown drives every surface with gateways whose passwords are
// distinctive, then asserts that no response ever carried one and that the database holds
// them only sealed.
func TestGatewayPasswordsNeverShown(t *testing.T) {
	env := apptest.Start(t, nil)
	c := &gwClient{t: t, env: env}
	alice := env.CreateUser("alice")
	passwords := []string{"Pw-B2Core-7f3a9c", "Pw-Tenevo-51d0e2", "Pw-Platform-9b8e77", "Pw-Patched-2c4d6f", "Pw-Put-0a1b2c",
		"ACsecret-token-77aa"}

	p := mustStatus(t, c.do("POST", "/api/v2/mail/providers", alice.SessionID, map[string]any{
		"driver": "smtp", "host": "smtp.alice.test", "port": 587, "username": "alice", "password": passwords[0],
		"sendFrom": "a@alice.test", "sendFromName": "Alice", "encryption": "tls", "isEnabled": true}), 201)
	pid := idOf(t, p, "id")
	tg := mustStatus(t, c.do("POST", "/messages/gateways/", alice.SessionID, map[string]any{
		"interface": "email", "name": "T", "server": "smtp.t.test", "port": 25, "username": "t", "password": passwords[1],
		"methods": []any{map[string]any{"channel": "email", "detail": "ops@t.test"}}}), 201)
	tid := idOf(t, tg, "id")
	tw := mustStatus(t, c.do("POST", "/messages/gateways/", alice.SessionID, map[string]any{
		"interface": "twilio", "name": "Tw", "server": "https://api.twilio.com", "port": 443,
		"username": "AC0123456789abcdef0123456789abcdef", "password": passwords[5]}), 201)
	twid := idOf(t, tw, "id")
	plat := c.api(map[string]any{"Command": "gateways.create", "AdminAPIKey": apptest.AdminKey, "Label": "P", "Host": "smtp.p.test",
		"Username": "p", "Password": passwords[2], "Leasable": true})
	platID := idOf(t, plat, "GatewayID")

	mustStatus(t, c.do("PATCH", fmt.Sprintf("/api/v2/mail/providers/%d", pid), alice.SessionID, map[string]any{"password": passwords[3]}), 200)
	mustStatus(t, c.do("PUT", fmt.Sprintf("/messages/gateways/%d/", tid), alice.SessionID, map[string]any{
		"name": "T", "server": "smtp.t.test", "port": 25, "username": "t", "password": passwords[4]}), 200)
	mustStatus(t, c.do("GET", "/api/v2/mail/providers", alice.SessionID, nil), 200)
	mustStatus(t, c.do("GET", fmt.Sprintf("/api/v2/mail/providers/%d", pid), alice.SessionID, nil), 200)
	c.do("GET", fmt.Sprintf("/api/v2/mail/providers/%d/status", pid), alice.SessionID, nil) // fails: no such host
	mustStatus(t, c.do("GET", "/messages/gateways/", alice.SessionID, nil), 200)
	mustStatus(t, c.do("GET", fmt.Sprintf("/messages/gateways/%d", twid), alice.SessionID, nil), 200)
	mustStatus(t, c.do("GET", fmt.Sprintf("/messages/gateways/%d/methods/", tid), alice.SessionID, nil), 200)
	mustStatus(t, c.do("GET", "/api/v2/mail/providers", apptest.AdminKey, nil), 200)
	hash := navixyLogin(t, c, alice)
	mustStatus(t, c.navixy("/panel/gateways/email/bind", hash, map[string]any{"gateway_id": platID}), 200)
	mustStatus(t, c.navixy("/panel/gateways/email/list", hash, nil), 200)
	for _, cmd := range []map[string]any{
		{"Command": "gateways.list"}, {"Command": "gateways.get", "GatewayID": platID},
		{"Command": "gateways.update", "GatewayID": platID, "Label": "P2"},
	} {
		cmd["AdminAPIKey"] = apptest.AdminKey
		if m := c.api(cmd); m["Success"] != true {
			t.Fatalf("%v: %v", cmd["Command"], m)
		}
	}
	if m := c.api(map[string]any{"Command": "panel/gateways/email/list", "SessionID": alice.SessionID}); m["Success"] != true {
		t.Fatalf("api.php panel list: %v", m)
	}

	if len(c.seen) < 20 {
		t.Fatalf("only %d responses seen", len(c.seen))
	}
	for _, r := range c.seen {
		for _, pw := range passwords {
			if strings.Contains(string(r.Body), pw) || strings.Contains(fmt.Sprint(r.Header), pw) {
				t.Fatalf("a response shows password %q: %s", pw, r.Body)
			}
		}
		if strings.Contains(strings.ToLower(string(r.Body)), `"password":"`) {
			t.Fatalf("a response carries a password field: %s", r.Body)
		}
	}

	// In the database: sealed, and the seal opens to the password last set.
	raw := string(storagetest.Dump(t, env.Cfg.DB, "gateways"))
	if raw == "" {
		t.Fatal("no gateway rows")
	}
	for _, pw := range passwords {
		if strings.Contains(raw, pw) {
			t.Fatalf("password %q stored in clear", pw)
		}
	}
	if strings.HasPrefix(env.Cfg.DB, "sqlite://") {
		path := strings.TrimPrefix(env.Cfg.DB, "sqlite://")
		for _, f := range []string{path, path + "-wal"} {
			b, err := os.ReadFile(f)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			for _, pw := range passwords {
				if strings.Contains(string(b), pw) {
					t.Fatalf("password %q found in clear in %s", pw, f)
				}
			}
		}
	}
	for id, want := range map[int64]string{pid: passwords[3], tid: passwords[4], twid: passwords[5]} {
		g, err := env.Server.DB.GatewayByID(context.Background(), id, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := env.Server.Keys.Decrypt(g.PasswordEnc)
		if err != nil || string(plain) != want {
			t.Fatalf("gateway %d: sealed password opens to %q (%v), want %q", id, plain, err, want)
		}
	}
}

// TestGatewayRoute: the delivery engine's view of binding — GatewayRoute gives the bound
// gateway's route with the password opened, follows binding and unbinding, skips disabled and
// no longer leasable gateways, and maps the encryption settings.
func TestGatewayRoute(t *testing.T) {
	env := apptest.Start(t, nil)
	ctx := context.Background()
	c := &gwClient{t: t, env: env}
	alice := env.CreateUser("alice")
	bob := env.CreateUser("bob")
	tlsCfg, _ := smtptest.SelfSigned(t)
	upstream := smtptest.Start(t, smtptest.Options{TLS: tlsCfg, AuthUsers: map[string]string{"relay-user": "relay-Pass-42"}})
	_, portS, _ := net.SplitHostPort(upstream.Addr)
	port, _ := strconv.Atoi(portS)

	route := func(u *apptest.User) (*outbound.Route, bool) {
		t.Helper()
		rt, ok, err := env.Server.App.GatewayRoute(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return rt, ok
	}
	if _, ok := route(alice); ok {
		t.Fatal("a route before any binding")
	}

	p := mustStatus(t, c.do("POST", "/api/v2/mail/providers", alice.SessionID, map[string]any{
		"driver": "smtp", "host": "127.0.0.1", "port": port, "username": "relay-user", "password": "relay-Pass-42",
		"sendFrom": "a@alice.test", "sendFromName": "Alice", "encryption": "tls", "isEnabled": true, "trustAllHosts": true}), 201)
	pid := idOf(t, p, "id")
	if _, ok := route(alice); ok {
		t.Fatal("a route for a gateway that is not bound")
	}
	hash := navixyLogin(t, c, alice)
	mustStatus(t, c.navixy("/panel/gateways/email/bind", hash, map[string]any{"gateway_id": pid}), 200)

	rt, ok := route(alice)
	want := outbound.Route{Host: "127.0.0.1", Port: port, Username: "relay-user", Password: "relay-Pass-42",
		Encryption: outbound.EncryptionSTARTTLSRequired, InsecureSkipVerify: true, Tenant: true}
	if !ok || *rt != want {
		t.Fatalf("route = %+v %v, want %+v", rt, ok, want)
	}
	// The route really works: the upstream takes its credentials over STARTTLS.
	oc := outbound.New(outbound.Config{HeloName: "test.local", DialTimeout: 5 * time.Second, CommandTimeout: 5 * time.Second,
		UpstreamAllowPrivate: true})
	defer oc.Close()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := oc.Check(cctx, *rt); err != nil {
		t.Fatalf("the bound route does not work: %v", err)
	}
	if _, ok := route(bob); ok {
		t.Fatal("alice's binding routes bob's mail")
	}
	// Bob cannot bind alice's gateway.
	bobHash := navixyLogin(t, c, bob)
	if r := c.navixy("/panel/gateways/email/bind", bobHash, map[string]any{"gateway_id": pid}); r.Status != 404 {
		t.Fatalf("bob bound alice's gateway: %d %s", r.Status, r.Body)
	}
	if err := env.Server.DB.BindGateway(ctx, bob.ID, pid); err == nil {
		t.Fatal("storage bound another tenant's gateway")
	}

	// Disabled: no route; enabled again: the route is back.
	mustStatus(t, c.do("PATCH", fmt.Sprintf("/api/v2/mail/providers/%d", pid), alice.SessionID, map[string]any{"isEnabled": 0}), 200)
	if _, ok := route(alice); ok {
		t.Fatal("a disabled gateway still routes")
	}
	mustStatus(t, c.do("PATCH", fmt.Sprintf("/api/v2/mail/providers/%d", pid), alice.SessionID, map[string]any{"isEnabled": 1}), 200)
	if _, ok := route(alice); !ok {
		t.Fatal("re-enabled gateway does not route")
	}

	// Unbind.
	mustStatus(t, c.navixy("/panel/gateways/email/bind", hash, map[string]any{"gateway_id": nil}), 200)
	if _, ok := route(alice); ok {
		t.Fatal("a route after unbinding")
	}

	// A leased platform gateway, each encryption setting.
	plat := c.api(map[string]any{"Command": "gateways.create", "AdminAPIKey": apptest.AdminKey, "Label": "Platform",
		"Host": "smtp.platform.test", "Port": 587, "SSLPort": 4650, "Username": "platform", "Password": "platform-Pw-1",
		"Leasable": true, "TrustAllHosts": false})
	platID := idOf(t, plat, "GatewayID")
	mustStatus(t, c.navixy("/panel/gateways/email/bind", hash, map[string]any{"gateway_id": platID}), 200)
	for _, tc := range []struct {
		enc  string
		want outbound.Encryption
		port int
	}{
		{"none", outbound.EncryptionNone, 587},
		{"starttls", outbound.EncryptionSTARTTLS, 587},
		{"tls", outbound.EncryptionSTARTTLSRequired, 587},
		{"ssl", outbound.EncryptionTLS, 4650},
	} {
		if m := c.api(map[string]any{"Command": "gateways.update", "AdminAPIKey": apptest.AdminKey, "GatewayID": platID, "Encryption": tc.enc}); m["Success"] != true {
			t.Fatal(m)
		}
		rt, ok := route(alice)
		want := outbound.Route{Host: "smtp.platform.test", Port: tc.port, Username: "platform", Password: "platform-Pw-1", Encryption: tc.want}
		if !ok || *rt != want {
			t.Fatalf("%s: route = %+v %v, want %+v", tc.enc, rt, ok, want)
		}
	}
	// No longer leasable: the lessee's mail falls back.
	if m := c.api(map[string]any{"Command": "gateways.update", "AdminAPIKey": apptest.AdminKey, "GatewayID": platID, "Leasable": false}); m["Success"] != true {
		t.Fatal(m)
	}
	if _, ok := route(alice); ok {
		t.Fatal("a gateway that is no longer leasable still routes its former lessee")
	}
}

// TestGatewaySurfacesRateLimit: the panel answers 15 (HTTP 429) and the REST surfaces 429,
// with Retry-After, when the caller's bucket is empty.
func TestGatewaySurfacesRateLimit(t *testing.T) {
	env := apptest.Start(t, func(cfg *config.Config) { cfg.RateLimit = config.RateLimit{N: 2, Per: time.Hour} })
	c := &gwClient{t: t, env: env}
	u := env.CreateUser("dealer")
	hash := navixyLogin(t, c, u)
	for i := 0; i < 2; i++ {
		mustStatus(t, c.navixy("/panel/gateways/email/list", hash, nil), 200)
	}
	r := c.navixy("/panel/gateways/email/list", hash, nil)
	m := mustStatus(t, r, 429)
	if st := m["status"].(map[string]any); st["code"] != json.Number("15") || r.Header.Get("Retry-After") == "" {
		t.Fatalf("rate limited answer: %s %v", r.Body, r.Header)
	}
	// Allowances are per credential and per surface: the admin has its own on each REST
	// surface, and spending one leaves the other whole.
	for i := 0; i < 2; i++ {
		mustStatus(t, c.do("GET", "/messages/gateways/", apptest.AdminKey, nil), 200)
	}
	mustStatus(t, c.do("GET", "/messages/gateways/", apptest.AdminKey, nil), 429)
	for i := 0; i < 2; i++ {
		mustStatus(t, c.do("GET", "/api/v2/mail/providers", apptest.AdminKey, nil), 200)
	}
	r = c.do("GET", "/api/v2/mail/providers", apptest.AdminKey, nil)
	mustStatus(t, r, 429)
	if r.Header.Get("Retry-After") == "" || !strings.Contains(string(r.Body), `"Too many requests."`) {
		t.Fatalf("B2Core 429: %s %v", r.Body, r.Header)
	}
}

// TestNavixySessionEnded: an expired panel session answers 4, as an unknown one does.
func TestNavixySessionEnded(t *testing.T) {
	env := apptest.Start(t, nil)
	c := &gwClient{t: t, env: env}
	u := env.CreateUser("dealer")
	hash := navixyLogin(t, c, u)
	mustStatus(t, c.navixy("/panel/gateways/email/list", hash, nil), 200)
	if err := env.Server.DB.Exec(context.Background(), "UPDATE sessions SET expires_at = 1"); err != nil {
		t.Fatal(err)
	}
	m := mustStatus(t, c.navixy("/panel/gateways/email/list", hash, nil), 400)
	if st := m["status"].(map[string]any); st["code"] != json.Number("4") {
		t.Fatalf("expired session: %v", m)
	}
}

// TestGatewayStatusFailures: the /status answers carry what failed and the server's reply.
func TestGatewayStatusFailures(t *testing.T) {
	env := apptest.Start(t, nil)
	c := &gwClient{t: t, env: env}
	u := env.CreateUser("alice")
	tlsCfg, _ := smtptest.SelfSigned(t)
	s := smtptest.Start(t, smtptest.Options{TLS: tlsCfg, AuthUsers: map[string]string{"u": "right-password"}})
	_, portS, _ := net.SplitHostPort(s.Addr)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	_, closedPort, _ := net.SplitHostPort(closed.Addr().String())
	closed.Close()

	for _, tc := range []struct {
		name   string
		fields map[string]any
		status int
		want   []string
	}{
		{"accepted", map[string]any{"port": portS, "password": "right-password", "trustAllHosts": true}, 204, nil},
		{"auth refused", map[string]any{"port": portS, "password": "wrong-password", "trustAllHosts": true}, 422, []string{"at auth", "535"}},
		{"untrusted certificate", map[string]any{"port": portS, "password": "right-password"}, 422, []string{"at tls", "certificate"}},
		{"closed port", map[string]any{"port": closedPort, "password": "right-password"}, 422, []string{"at connect", "the server could not be reached"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"driver": "smtp", "host": "127.0.0.1", "username": "u", "sendFrom": "a@alice.test",
				"sendFromName": "A", "encryption": "tls", "isEnabled": true}
			for k, v := range tc.fields {
				body[k] = v
			}
			id := idOf(t, mustStatus(t, c.do("POST", "/api/v2/mail/providers", u.SessionID, body), 201), "id")
			r := c.do("GET", fmt.Sprintf("/api/v2/mail/providers/%d/status", id), u.SessionID, nil)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if tc.status == 204 && len(r.Body) != 0 {
				t.Fatalf("204 with a body: %s", r.Body)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(r.Body), w) {
					t.Fatalf("%s does not say %q", r.Body, w)
				}
			}
			if strings.Contains(string(r.Body), "password") {
				t.Fatalf("the answer mentions the password: %s", r.Body)
			}
		})
	}
}
