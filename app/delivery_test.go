package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"gatewayd/app/apptest"
	"gatewayd/commands"
	"gatewayd/config"
	"gatewayd/relay/bounce"
	"gatewayd/relay/smtptest"
	"gatewayd/storage"
)

// deliveryEnv is a running gatewayd with delivery workers, a tenant with an Enabled domain
// whose DKIM key is published in the fake DNS, and a fake SMTP server as the sink.
type deliveryEnv struct {
	*apptest.Env
	t    *testing.T
	sink *smtptest.Server
	user *storage.User
	dom  *storage.SenderDomain
}

// startDelivery starts gatewayd relaying to a fresh sink (GATEWAY_DEFAULT_RELAY) unless edit
// routes otherwise.
func startDelivery(t *testing.T, edit func(cfg *config.Config, sink *smtptest.Server)) *deliveryEnv {
	t.Helper()
	sink := smtptest.Start(t, smtptest.Options{})
	env := apptest.Start(t, func(cfg *config.Config) {
		cfg.DefaultRelay = "smtp://" + sink.Addr
		cfg.Workers = 4
		cfg.RetryMin, cfg.RetryMax = time.Second, 2*time.Second
		if edit != nil {
			edit(cfg, sink)
		}
	})
	ctx := context.Background()
	u := env.CreateUser("alice")
	id := env.AddDomain(u, "shop.test")
	env.EnableDomain(id)
	dom, err := env.Server.DB.DomainByID(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range env.Server.App.DomainRecords(dom) {
		if strings.Contains(r.Name, "._domainkey.") {
			env.DNS.AddTXT(r.Name, r.Value)
		}
	}
	user, err := env.Server.DB.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Server.StartDelivery(); err != nil {
		t.Fatal(err)
	}
	return &deliveryEnv{Env: env, t: t, sink: sink, user: user, dom: dom}
}

var msgSeq int

// accept submits a message through the one acceptance path, as every surface does.
func (d *deliveryEnv) accept(rcpts ...string) (*storage.Message, error) {
	msgSeq++
	mid := strconv.Itoa(msgSeq) + "." + strconv.FormatInt(time.Now().UnixNano(), 36) + "@shop.test"
	raw := "From: Shop <orders@shop.test>\r\nTo: " + strings.Join(rcpts, ", ") + "\r\nSubject: Your order\r\n" +
		"Date: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\nMessage-ID: <" + mid + ">\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nThank you for your order.\r\n"
	s := &commands.Submission{User: d.user, Domain: d.dom, Source: "api", MailFrom: "orders@shop.test", Subject: "Your order",
		Tags: []string{"orders"}, Raw: []byte(raw), HeaderMessageID: mid}
	for _, r := range rcpts {
		s.Recipients = append(s.Recipients, commands.Rcpt{Email: r, Kind: "to"})
	}
	return d.Server.App.Accept(context.Background(), s)
}

func (d *deliveryEnv) mustAccept(rcpts ...string) *storage.Message {
	d.t.Helper()
	m, err := d.accept(rcpts...)
	if err != nil {
		d.t.Fatalf("accept: %v", err)
	}
	return m
}

// wait waits until every recipient of m is in a final state and returns the rows by address.
func (d *deliveryEnv) wait(m *storage.Message, timeout time.Duration) map[string]storage.Recipient {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rs, err := d.Server.DB.RecipientsOf(context.Background(), m.ID)
		if err != nil {
			d.t.Fatal(err)
		}
		out := map[string]storage.Recipient{}
		final := true
		for _, r := range rs {
			out[r.Email] = r
			switch r.State {
			case storage.StateDelivered, storage.StateBounced, storage.StateFailed, storage.StateCancelled:
			default:
				final = false
			}
		}
		if final {
			return out
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("recipients not final after %s: %+v", timeout, rs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// events lists the message's events of one recipient as "type code details" lines.
func (d *deliveryEnv) events(m *storage.Message, email string) []storage.Event {
	d.t.Helper()
	evs, err := d.Server.DB.MessageEvents(context.Background(), m.ID)
	if err != nil {
		d.t.Fatal(err)
	}
	var out []storage.Event
	for _, ev := range evs {
		if ev.Email == email {
			out = append(out, ev)
		}
	}
	return out
}

func types(evs []storage.Event) string {
	var s []string
	for _, ev := range evs {
		s = append(s, ev.Type)
	}
	return strings.Join(s, ",")
}

// Delivered mail reaches the relay DKIM-signed by the sender domain, one transaction per
// recipient with a VERP envelope sender that names the recipient row.
func TestDeliveredSignedWithVERP(t *testing.T) {
	d := startDelivery(t, nil)
	m := d.mustAccept("jane@dest.test", "joe@other.test")
	rows := d.wait(m, 15*time.Second)
	msgs := d.sink.WaitMessages(t, 2, 5*time.Second)
	key := d.Server.Keys.Subkey("verp")
	for _, sm := range msgs {
		if len(sm.To) != 1 {
			t.Fatalf("transaction with %d recipients", len(sm.To))
		}
		row := rows[sm.To[0]]
		if row.State != storage.StateDelivered || row.Attempts != 1 || row.LastCode != 250 || row.LeaseOwner != "" {
			t.Fatalf("row of %s: %+v", sm.To[0], row)
		}
		id, domain, ok := bounce.ParseVERP(key, sm.From)
		if !ok || id != row.ID || domain != "bounces.shop.test" || !strings.HasPrefix(sm.From, "bounce+") {
			t.Fatalf("envelope sender %q: id %d ok %v domain %q, want row %d", sm.From, id, ok, domain, row.ID)
		}
		if sm.Helo != "mx.gateway.test" {
			t.Fatalf("EHLO %q, want GATEWAY_HOSTNAME", sm.Helo)
		}
		verifs, err := msgdkim.VerifyWithOptions(bytes.NewReader(sm.Data), &msgdkim.VerifyOptions{
			LookupTXT: func(name string) ([]string, error) {
				return d.Server.App.Resolver.LookupTXT(context.Background(), name)
			},
		})
		if err != nil || len(verifs) != 1 {
			t.Fatalf("dkim: %d verifications, %v", len(verifs), err)
		}
		v := verifs[0]
		if v.Err != nil || v.Domain != "shop.test" {
			t.Fatalf("dkim: domain %q err %v", v.Domain, v.Err)
		}
		signed := strings.ToLower(strings.Join(v.HeaderKeys, ":"))
		for _, h := range []string{"from", "to", "subject", "date", "message-id"} {
			if !strings.Contains(signed, h) {
				t.Fatalf("DKIM signature does not cover %s: %s", h, signed)
			}
		}
		evs := d.events(m, sm.To[0])
		if types(evs) != "accepted,delivered" || evs[1].Code != 250 || !strings.HasPrefix(evs[1].Details, "250 ") {
			t.Fatalf("events of %s: %+v", sm.To[0], evs)
		}
	}

	// /metrics counts what happened.
	res := d.Metrics()
	body := string(res.Body)
	for _, want := range []string{
		`gatewayd_accepted_messages_total 1`,
		`gatewayd_delivery_outcomes_total{outcome="delivered"} 2`,
		`gatewayd_delivery_outcomes_total{outcome="bounced"} 0`,
		`gatewayd_queue_depth{state="queued"} 0`,
		`gatewayd_queue_depth{state="deferred"} 0`,
		`gatewayd_delivery_attempt_seconds_count{route="relay"} 2`,
		`gatewayd_webhook_backlog`,
		`gatewayd_http_request_duration_seconds_count{code="200",method="POST",route="/api.php"}`,
	} {
		if res.Status != 200 || !strings.Contains(body, want) {
			t.Fatalf("/metrics (%d) lacks %q:\n%s", res.Status, want, body)
		}
	}
}

// A 4xx answer defers the recipient; the retry after the backoff delivers it.
func TestDeferredThenDelivered(t *testing.T) {
	d := startDelivery(t, nil)
	d.sink.Fail(smtptest.StageRcpt, "", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}, 1)
	start := time.Now()
	m := d.mustAccept("jane@dest.test")
	rows := d.wait(m, 15*time.Second)
	r := rows["jane@dest.test"]
	if r.State != storage.StateDelivered || r.Attempts != 2 {
		t.Fatalf("row: %+v", r)
	}
	if time.Since(start) < 500*time.Millisecond {
		t.Fatalf("retried after %s, sooner than the backoff", time.Since(start))
	}
	evs := d.events(m, "jane@dest.test")
	if types(evs) != "accepted,deferred,delivered" || evs[1].Code != 451 || evs[1].Details != "451 4.3.0 Try again later" {
		t.Fatalf("events: %+v", evs)
	}
	if n := len(d.sink.Messages()); n != 1 {
		t.Fatalf("%d messages at the sink", n)
	}
}

// 550 5.1.1 bounces the recipient and suppresses the address: the next send to it is refused.
func TestHardBounceSuppresses(t *testing.T) {
	d := startDelivery(t, nil)
	d.sink.Fail(smtptest.StageRcpt, "nobody@dest.test", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}, -1)
	m := d.mustAccept("nobody@dest.test", "jane@dest.test")
	rows := d.wait(m, 15*time.Second)
	if r := rows["nobody@dest.test"]; r.State != storage.StateBounced || r.LastCode != 550 {
		t.Fatalf("bounced row: %+v", r)
	}
	if r := rows["jane@dest.test"]; r.State != storage.StateDelivered {
		t.Fatalf("other row: %+v", r)
	}
	evs := d.events(m, "nobody@dest.test")
	if types(evs) != "accepted,bounced" || evs[1].Code != 550 || evs[1].Details != "550 5.1.1 No such user" {
		t.Fatalf("events: %+v", evs)
	}
	_, err := d.accept("Nobody@dest.test")
	var se *commands.SuppressedError
	if !errors.As(err, &se) || se.Reason != storage.SuppressHardBounce {
		t.Fatalf("send to a hard-bounced address: %v", err)
	}
	if _, err := d.accept("jane@dest.test"); err != nil {
		t.Fatalf("send to a delivered address: %v", err)
	}
}

// A recipient still deferred when the queue lifetime ends fails.
func TestExpiredFails(t *testing.T) {
	d := startDelivery(t, func(cfg *config.Config, _ *smtptest.Server) { cfg.QueueLifetime = 2 * time.Second })
	d.sink.Fail(smtptest.StageRcpt, "", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 1}, Message: "Mailbox busy"}, -1)
	m := d.mustAccept("jane@dest.test")
	rows := d.wait(m, 20*time.Second)
	r := rows["jane@dest.test"]
	if r.State != storage.StateFailed || r.Attempts < 2 {
		t.Fatalf("row: %+v", r)
	}
	evs := d.events(m, "jane@dest.test")
	last := evs[len(evs)-1]
	if last.Type != storage.EventFailed || last.Code != 451 || !strings.Contains(last.Details, "gave up after 2s") {
		t.Fatalf("events: %s, last %+v", types(evs), last)
	}
	if !strings.HasPrefix(types(evs), "accepted,deferred") {
		t.Fatalf("events: %s", types(evs))
	}
	if sup, _ := d.Server.DB.Suppressed(context.Background(), d.dom.ID, []string{"jane@dest.test"}); len(sup) != 0 {
		t.Fatalf("a failed (not bounced) address was suppressed: %v", sup)
	}
}

// Without a gateway or default relay, mail goes to the recipient domain's MX hosts (found
// through GATEWAY_DNS_SERVER) in preference order, falling back to the A record.
func TestMXRouting(t *testing.T) {
	d := startDelivery(t, func(cfg *config.Config, sink *smtptest.Server) {
		cfg.DefaultRelay = ""
		cfg.MXAllowLocal = true // the MX hosts are on loopback
		_, port, _ := net.SplitHostPort(sink.Addr)
		cfg.MXPort, _ = strconv.Atoi(port)
	})
	d.DNS.AddMX("dest.test", 5, "mx0.dest.test")
	d.DNS.AddA("mx0.dest.test", "127.0.0.2") // nothing listens there: refused, next host
	d.DNS.AddMX("dest.test", 10, "mx1.dest.test")
	d.DNS.AddA("mx1.dest.test", "127.0.0.1")
	d.DNS.AddA("plain.test", "127.0.0.1") // no MX: the domain's own address
	m := d.mustAccept("jane@dest.test", "joe@plain.test", "ghost@nxdomain.test")
	rows := d.wait(m, 20*time.Second)
	for _, a := range []string{"jane@dest.test", "joe@plain.test"} {
		if r := rows[a]; r.State != storage.StateDelivered {
			t.Fatalf("%s: %+v", a, r)
		}
	}
	ghost := rows["ghost@nxdomain.test"]
	if ghost.State != storage.StateBounced || !strings.Contains(ghost.LastReply, "5.1.2") {
		t.Fatalf("a domain without MX or address: %+v", ghost)
	}
	got := map[string]bool{}
	for _, sm := range d.sink.WaitMessages(t, 2, 5*time.Second) {
		got[sm.To[0]] = true
		if _, _, ok := bounce.ParseVERP(d.Server.Keys.Subkey("verp"), sm.From); !ok {
			t.Fatalf("MX delivery without a VERP sender: %q", sm.From)
		}
	}
	if !got["jane@dest.test"] || !got["joe@plain.test"] {
		t.Fatalf("sink got %v", got)
	}
}

// A DSN sent back to the VERP address through the MX listener bounces the recipient and
// suppresses the address; an ARF complaint suppresses too.
func TestBounceAndComplaintThroughMX(t *testing.T) {
	d := startDelivery(t, func(cfg *config.Config, _ *smtptest.Server) { cfg.MXAddr = "127.0.0.1:0" })
	if d.Server.MX == nil || d.Server.MX.Addr() == "" {
		t.Fatal("MX listener not started")
	}
	m := d.mustAccept("gone@dest.test", "angry@dest.test")
	d.wait(m, 15*time.Second)
	verp := map[string]string{}
	for _, sm := range d.sink.WaitMessages(t, 2, 5*time.Second) {
		verp[sm.To[0]] = sm.From
	}
	send := func(rcpt, fixture string) {
		t.Helper()
		raw, err := os.ReadFile("../relay/bounce/testdata/" + fixture)
		if err != nil {
			t.Fatal(err)
		}
		if err := sendPlain(d.Server.MX.Addr(), rcpt, raw); err != nil {
			t.Fatalf("send %s to the MX listener: %v", fixture, err)
		}
	}
	send(verp["gone@dest.test"], "postfix-hard-5.1.1.eml")
	send(verp["angry@dest.test"], "arf-abuse.eml")

	rows := d.wait(m, time.Second)
	if r := rows["gone@dest.test"]; r.State != storage.StateBounced {
		t.Fatalf("bounced row: %+v", r)
	}
	if evs := d.events(m, "gone@dest.test"); types(evs) != "accepted,delivered,bounced" || evs[2].Code != 550 {
		t.Fatalf("events: %+v", evs)
	}
	if evs := d.events(m, "angry@dest.test"); types(evs) != "accepted,delivered,complained" {
		t.Fatalf("events: %+v", evs)
	}
	for a, reason := range map[string]string{"gone@dest.test": storage.SuppressHardBounce, "angry@dest.test": storage.SuppressComplaint} {
		_, err := d.accept(a)
		var se *commands.SuppressedError
		if !errors.As(err, &se) || se.Reason != reason {
			t.Fatalf("send to %s after its report: %v", a, err)
		}
	}
	if err := sendPlain(d.Server.MX.Addr(), "postmaster@bounces.shop.test", []byte("Subject: hi\r\n\r\nhi\r\n")); err == nil ||
		!strings.Contains(err.Error(), "550") {
		t.Fatalf("a non-VERP recipient: %v", err)
	}
}

// sendPlain sends raw from the null sender to rcpt over plain SMTP, as a remote MTA returning
// mail does.
func sendPlain(addr, rcpt string, raw []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("mta.remote.test"); err != nil {
		return err
	}
	if err := c.Mail("", nil); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(raw); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// A user's bound gateway takes the user's mail, with the gateway's credentials, instead of the
// default relay; binding another gateway moves the next message to it, and unbinding sends it
// back to the default relay (the engine's cached route follows each change).
func TestBoundGatewayRoute(t *testing.T) {
	d := startDelivery(t, nil)
	ctx := context.Background()
	tlsCfg, _ := smtptest.SelfSigned(t)
	gw := smtptest.Start(t, smtptest.Options{TLS: tlsCfg, AuthUsers: map[string]string{"gw-user": "gw-pass"}})
	host, port, _ := net.SplitHostPort(gw.Addr)
	p, _ := strconv.Atoi(port)
	sealed, err := d.Server.Keys.Encrypt([]byte("gw-pass"))
	if err != nil {
		t.Fatal(err)
	}
	g := &storage.Gateway{OwnerID: d.user.ID, Label: "own relay", Interface: "email", Provider: "smtp", Host: host, Port: p,
		SSLPort: 465, Username: "gw-user", PasswordEnc: sealed, Encryption: "starttls", TrustAllHosts: true, Enabled: true,
		TimeoutMS: 60000, ConnectTimeoutMS: 60000}
	if err := d.Server.DB.CreateGateway(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := d.Server.DB.BindGateway(ctx, d.user.ID, g.ID); err != nil {
		t.Fatal(err)
	}
	m := d.mustAccept("jane@dest.test")
	if r := d.wait(m, 15*time.Second)["jane@dest.test"]; r.State != storage.StateDelivered {
		t.Fatalf("row: %+v", r)
	}
	got := gw.WaitMessages(t, 1, 5*time.Second)
	if got[0].AuthUser != "gw-user" || got[0].AuthPass != "gw-pass" || !got[0].TLS || got[0].To[0] != "jane@dest.test" {
		t.Fatalf("gateway got %+v", got[0])
	}
	if _, _, ok := bounce.ParseVERP(d.Server.Keys.Subkey("verp"), got[0].From); !ok {
		t.Fatalf("gateway delivery without a VERP sender: %q", got[0].From)
	}
	if n := len(d.sink.Messages()); n != 0 {
		t.Fatalf("the default relay got %d messages while a gateway was bound", n)
	}

	// Another gateway bound: the next message goes there.
	gw2 := smtptest.Start(t, smtptest.Options{})
	host2, port2, _ := net.SplitHostPort(gw2.Addr)
	p2, _ := strconv.Atoi(port2)
	g2 := &storage.Gateway{OwnerID: d.user.ID, Label: "second relay", Interface: "email", Provider: "smtp", Host: host2,
		Port: p2, SSLPort: 465, Encryption: "none", Enabled: true, TimeoutMS: 60000, ConnectTimeoutMS: 60000}
	if err := d.Server.DB.CreateGateway(ctx, g2); err != nil {
		t.Fatal(err)
	}
	if err := d.Server.DB.BindGateway(ctx, d.user.ID, g2.ID); err != nil {
		t.Fatal(err)
	}
	m = d.mustAccept("ann@dest.test")
	if r := d.wait(m, 15*time.Second)["ann@dest.test"]; r.State != storage.StateDelivered {
		t.Fatalf("row: %+v", r)
	}
	if got := gw2.WaitMessages(t, 1, 5*time.Second); got[0].To[0] != "ann@dest.test" || len(gw.Messages()) != 1 {
		t.Fatalf("after binding another gateway: second gateway %d, first %d", len(got), len(gw.Messages()))
	}

	if err := d.Server.DB.UnbindGateway(ctx, d.user.ID); err != nil {
		t.Fatal(err)
	}
	m = d.mustAccept("joe@dest.test")
	d.wait(m, 15*time.Second)
	if sm := d.sink.WaitMessages(t, 1, 5*time.Second); sm[0].To[0] != "joe@dest.test" || len(gw.Messages()) != 1 || len(gw2.Messages()) != 1 {
		t.Fatalf("after unbinding: default relay %d, gateways %d and %d", len(sm), len(gw.Messages()), len(gw2.Messages()))
	}
	body := string(d.Metrics().Body)
	for _, want := range []string{`gatewayd_delivery_attempt_seconds_count{route="gateway"} 2`, `gatewayd_delivery_attempt_seconds_count{route="relay"} 1`} {
		if !strings.Contains(body, want) {
			t.Fatalf("/metrics lacks %q", want)
		}
	}
}

// TestDeliveredDualSignedEd25519: emailgateway.updatedomain DKIMEd25519=1 gives the domain an
// Ed25519 key (RFC 8463) whose record (k=ed25519) the domain's DNS records list beside the RSA
// one; delivered mail then carries two DKIM signatures, rsa-sha256 and ed25519-sha256, and
// both verify against the published records. DKIMEd25519=0 goes back to RSA alone.
func TestDeliveredDualSignedEd25519(t *testing.T) {
	sink := smtptest.Start(t, smtptest.Options{})
	env := apptest.Start(t, func(cfg *config.Config) {
		cfg.DefaultRelay = "smtp://" + sink.Addr
		cfg.Workers = 2
	})
	ctx := context.Background()
	u := env.CreateUser("alice")
	id := env.AddDomain(u, "shop.test")
	env.EnableDomain(id)
	m := env.MustAPI(map[string]any{"Command": "emailgateway.updatedomain", "SessionID": u.SessionID, "DomainID": id, "DKIMEd25519": 1})
	if opts := m["Domain"].(map[string]any)["Options"].(map[string]any); fmt.Sprint(opts["DKIMEd25519"]) != "1" {
		t.Fatalf("updatedomain: %v", m)
	}
	m = env.MustAPI(map[string]any{"Command": "emailgateway.getdomains", "SessionID": u.SessionID})
	var edRecord string
	for _, r := range m["Domains"].([]any)[0].(map[string]any)["VerificationMeta"].(map[string]any)["DNSRecords"].([]any) {
		rec := r.(map[string]any)
		name, value := rec["Name"].(string), rec["Value"].(string)
		if strings.HasPrefix(value, "v=DKIM1; k=ed25519; p=") {
			edRecord = name
		}
		if strings.Contains(name, "._domainkey.") {
			env.DNS.AddTXT(name, value)
		}
	}
	if edRecord == "" || !strings.HasSuffix(edRecord, "._domainkey.shop.test") {
		t.Fatalf("no k=ed25519 record among the domain's DNS records: %v", m)
	}
	if err := env.Server.StartDelivery(); err != nil {
		t.Fatal(err)
	}
	dom, err := env.Server.DB.DomainByID(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	user, err := env.Server.DB.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	send := func(to string) {
		t.Helper()
		raw := "From: Shop <orders@shop.test>\r\nTo: " + to + "\r\nSubject: Your order\r\nDate: " +
			time.Now().UTC().Format(time.RFC1123Z) + "\r\nMessage-ID: <" + to + ">\r\n\r\nThank you.\r\n"
		if _, err := env.Server.App.Accept(ctx, &commands.Submission{User: user, Domain: dom, Source: "api",
			MailFrom: "orders@shop.test", Subject: "Your order", Raw: []byte(raw), HeaderMessageID: "<" + to + ">",
			Recipients: []commands.Rcpt{{Email: to, Kind: "to"}}}); err != nil {
			t.Fatal(err)
		}
	}
	verify := func(data []byte) []*msgdkim.Verification {
		t.Helper()
		verifs, err := msgdkim.VerifyWithOptions(bytes.NewReader(data), &msgdkim.VerifyOptions{
			LookupTXT: func(name string) ([]string, error) { return env.Server.App.Resolver.LookupTXT(ctx, name) },
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range verifs {
			if v.Err != nil || v.Domain != "shop.test" {
				t.Errorf("signature of %q: %v", v.Domain, v.Err)
			}
		}
		return verifs
	}
	send("jane@dest.test")
	got := sink.WaitMessages(t, 1, 15*time.Second)
	if n := len(verify(got[0].Data)); n != 2 || !bytes.Contains(got[0].Data, []byte("a=ed25519-sha256")) ||
		!bytes.Contains(got[0].Data, []byte("a=rsa-sha256")) {
		t.Fatalf("%d signatures, want rsa-sha256 and ed25519-sha256:\n%s", n, got[0].Data)
	}

	env.MustAPI(map[string]any{"Command": "emailgateway.updatedomain", "SessionID": u.SessionID, "DomainID": id, "DKIMEd25519": 0})
	send("joe@dest.test")
	got = sink.WaitMessages(t, 2, 15*time.Second)
	if n := len(verify(got[1].Data)); n != 1 || bytes.Contains(got[1].Data, []byte("ed25519")) {
		t.Fatalf("after DKIMEd25519=0: %d signatures:\n%s", n, got[1].Data)
	}
}
