package smtpd_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"gatewayd/relay/smtpd"
	"gatewayd/storage"
)

func TestEHLOCapabilities(t *testing.T) {
	f := start(t, setup{})

	c := dial(t, f.addr)
	if c.banner != "mx.gateway.test ESMTP Service Ready" {
		t.Errorf("banner %q", c.banner)
	}
	ehlo := c.ehlo()
	for _, want := range []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "STARTTLS", "SIZE 65536", "LIMITS RCPTMAX=100"} {
		if !strings.Contains(ehlo, want) {
			t.Errorf("EHLO before TLS lacks %q:\n%s", want, ehlo)
		}
	}
	if strings.Contains(ehlo, "AUTH") {
		t.Errorf("AUTH offered before STARTTLS:\n%s", ehlo)
	}
	c.send("AUTH PLAIN %s", base64.StdEncoding.EncodeToString([]byte("\x00"+f.username+"\x00"+f.password)))
	if code, msg := c.read(); code != 523 || !strings.HasPrefix(msg, "5.7.10") {
		t.Errorf("AUTH before TLS: %d %s, want 523 5.7.10", code, msg)
	}

	c.startTLS()
	ehlo = c.ehlo()
	if !strings.Contains(ehlo, "AUTH PLAIN LOGIN") || strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("EHLO after STARTTLS:\n%s", ehlo)
	}

	tc := dialTLS(t, f.tlsAddr)
	ehlo = tc.ehlo()
	if !strings.Contains(ehlo, "AUTH PLAIN LOGIN") || strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("EHLO on implicit TLS:\n%s", ehlo)
	}

	insecure := start(t, setup{opts: func(o *smtpd.Options) { o.InsecureAuth = true }})
	ic := dial(t, insecure.addr)
	if ehlo := ic.ehlo(); !strings.Contains(ehlo, "AUTH PLAIN LOGIN") {
		t.Errorf("EHLO with insecure AUTH allowed lacks AUTH:\n%s", ehlo)
	}
	if code, msg := ic.authPlain(insecure.username, insecure.password); code != 235 {
		t.Errorf("insecure AUTH: %d %s", code, msg)
	}
}

func TestAuth(t *testing.T) {
	f := start(t, setup{})

	// No AUTH, no allowed network: MAIL is refused.
	c := dial(t, f.addr)
	c.ehlo()
	if code, msg := c.send2("MAIL FROM:<app@example.com>"); code != 530 || !strings.HasPrefix(msg, "5.7.0") {
		t.Errorf("MAIL without AUTH: %d %s", code, msg)
	}

	c.startTLS()
	c.ehlo()
	if code, msg := c.authPlain(f.username, "wrong-password"); code != 535 || !strings.HasPrefix(msg, "5.7.8") {
		t.Errorf("wrong password: %d %s, want 535 5.7.8", code, msg)
	}
	if code, msg := c.authPlain("smtp_nobody_0000000000", f.password); code != 535 {
		t.Errorf("unknown user: %d %s", code, msg)
	}
	// An authorization identity other than the username is refused.
	c.send("AUTH PLAIN %s", base64.StdEncoding.EncodeToString([]byte("someone-else\x00"+f.username+"\x00"+f.password)))
	if code, _ := c.read(); code != 535 {
		t.Errorf("foreign authzid: %d, want 535", code)
	}
	// PLAIN without an initial response: an empty challenge, then the credentials.
	c.cmd(334, "AUTH PLAIN")
	c.send("%s", base64.StdEncoding.EncodeToString([]byte("\x00"+f.username+"\x00"+f.password)))
	if code, msg := c.read(); code != 235 || !strings.HasPrefix(msg, "2.0.0") {
		t.Fatalf("AUTH PLAIN: %d %s", code, msg)
	}
	c.cmd(250, "MAIL FROM:<app@example.com>")
	c.cmd(250, "RCPT TO:<user@dest.test>")
	if code, msg := c.data(message("app@example.com", "user@dest.test", "auth plain")); code != 250 {
		t.Fatalf("DATA: %d %s", code, msg)
	}
	c.cmd(221, "QUIT")

	// LOGIN, with and without an initial response.
	l := dialTLS(t, f.tlsAddr)
	l.ehlo()
	if got := l.cmd(334, "AUTH LOGIN"); got != base64.StdEncoding.EncodeToString([]byte("Username:")) {
		t.Errorf("LOGIN challenge %q", got)
	}
	if got := l.cmd(334, "%s", base64.StdEncoding.EncodeToString([]byte(f.username))); got != base64.StdEncoding.EncodeToString([]byte("Password:")) {
		t.Errorf("LOGIN challenge %q", got)
	}
	l.cmd(535, "%s", base64.StdEncoding.EncodeToString([]byte("nope")))
	l.cmd(334, "AUTH LOGIN %s", base64.StdEncoding.EncodeToString([]byte(f.username)))
	l.cmd(235, "%s", base64.StdEncoding.EncodeToString([]byte(f.password)))
	l.cmd(503, "AUTH LOGIN")
	l.cmd(250, "MAIL FROM:<app@example.com>")
}

// send2 sends a command and returns whatever reply comes.
func (c *client) send2(format string, args ...any) (int, string) {
	c.t.Helper()
	c.send(format, args...)
	return c.read()
}

func TestAuthThrottle(t *testing.T) {
	f := start(t, setup{})
	c := dialTLS(t, f.tlsAddr)
	c.ehlo()
	for i := 0; i < 5; i++ {
		if code, _ := c.authPlain(f.username, "wrong"); code != 535 {
			t.Fatalf("failure %d: %d, want 535", i+1, code)
		}
	}
	// The sixth attempt within the minute, even with the right password: 421 and goodbye.
	if code, msg := c.authPlain(f.username, f.password); code != 421 || !strings.HasPrefix(msg, "4.7.0") {
		t.Fatalf("throttled AUTH: %d %s, want 421 4.7.0", code, msg)
	}
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.text.ReadLine(); !errors.Is(err, io.EOF) {
		t.Errorf("connection still open after 421: %v", err)
	}
	// A new connection from the same address is throttled too.
	d := dialTLS(t, f.tlsAddr)
	d.ehlo()
	if code, _ := d.authPlain(f.username, f.password); code != 421 {
		t.Errorf("new connection: %d, want 421", code)
	}
}

func TestAllowedNetworks(t *testing.T) {
	f := start(t, setup{})
	relayID := f.env.AddDomain(f.user, "relay.example")
	f.env.EnableDomain(relayID)
	f.addSMTP(relayID, "127.0.0.1/32")
	other := f.env.AddDomain(f.user, "elsewhere.example")
	f.env.EnableDomain(other)
	f.addSMTP(other, "192.0.2.0/24")

	c := dial(t, f.addr) // no TLS, no AUTH
	c.ehlo()
	// example.com's credential has no networks; elsewhere.example's does not contain us.
	if code, msg := c.send2("MAIL FROM:<app@example.com>"); code != 550 || !strings.HasPrefix(msg, "5.7.1") {
		t.Errorf("MAIL for a domain not allowed from here: %d %s", code, msg)
	}
	if code, _ := c.send2("MAIL FROM:<app@elsewhere.example>"); code != 550 {
		t.Errorf("MAIL for a network that does not contain us: %d", code)
	}
	c.cmd(250, "MAIL FROM:<app@relay.example>")
	c.cmd(250, "RCPT TO:<user@dest.test>")
	code, msg := c.data(message("app@relay.example", "user@dest.test", "from the network"))
	if code != 250 {
		t.Fatalf("DATA: %d %s", code, msg)
	}
	m, rs := f.recipientsOf(queuedID(t, msg))
	if m.DomainID != relayID || m.Source != "smtp" || len(rs) != 1 || rs[0].Email != "user@dest.test" || rs[0].State != storage.StateQueued {
		t.Errorf("stored %+v %+v", m, rs)
	}
	c.cmd(221, "QUIT")

	// What one connection read of the address's credentials serves the next connections
	// from it for a moment, but never past a change on the node: a credential added now
	// serves the very next connection, and a domain disabled now refuses it.
	third := f.env.AddDomain(f.user, "third.example")
	f.env.EnableDomain(third)
	f.addSMTP(third, "127.0.0.0/8")
	c = dial(t, f.addr)
	c.ehlo()
	c.cmd(250, "MAIL FROM:<app@third.example>")
	c.cmd(221, "QUIT")
	if err := f.env.Server.DB.SetDomainStatus(context.Background(), relayID, "Disabled", 0); err != nil {
		t.Fatal(err)
	}
	c = dial(t, f.addr)
	c.ehlo()
	if code, msg := c.send2("MAIL FROM:<app@relay.example>"); code != 550 || msg != "5.7.1 Sender domain is not active" {
		t.Errorf("MAIL for the domain disabled a moment ago: %d %s", code, msg)
	}
}

func TestMailRcptPolicy(t *testing.T) {
	f := start(t, setup{})
	ctx := context.Background()
	db := f.env.Server.DB
	if err := db.AddSuppression(ctx, f.domainID, "gone@dest.test", storage.SuppressHardBounce); err != nil {
		t.Fatal(err)
	}
	c := f.login(t)

	// A foreign envelope sender.
	if code, msg := c.send2("MAIL FROM:<app@other.test>"); code != 550 || !strings.HasPrefix(msg, "5.7.1") || !strings.Contains(msg, "example.com") {
		t.Errorf("foreign MAIL FROM: %d %s", code, msg)
	}
	if code, _ := c.send2("MAIL FROM:<>"); code != 550 {
		t.Errorf("null MAIL FROM: %d, want 550", code)
	}
	// A subdomain is the domain's.
	c.cmd(250, "MAIL FROM:<app@mail.example.com>")
	// Suppressed recipient refused; the others go on.
	if code, msg := c.send2("RCPT TO:<Gone@dest.test>"); code != 550 || !strings.HasPrefix(msg, "5.1.1") || !strings.Contains(msg, "suppression") {
		t.Errorf("suppressed RCPT: %d %s", code, msg)
	}
	if code, msg := c.send2("RCPT TO:<not an address>"); code != 501 {
		t.Errorf("bad RCPT: %d %s", code, msg)
	}
	c.cmd(250, "RCPT TO:<ok@dest.test>")
	code, msg := c.data(message("app@mail.example.com", "ok@dest.test", "policy"))
	if code != 250 {
		t.Fatalf("DATA: %d %s", code, msg)
	}
	m, rs := f.recipientsOf(queuedID(t, msg))
	if len(rs) != 1 || rs[0].Email != "ok@dest.test" || m.MailFrom != "app@mail.example.com" || m.Subject != "policy" {
		t.Errorf("stored %+v %+v", m, rs)
	}
	if !strings.Contains(string(m.Raw), "Message-Id: <") && !strings.Contains(string(m.Raw), "Message-ID: <"+m.UUID+"@example.com>") {
		t.Errorf("no Message-ID added:\n%s", m.Raw)
	}
	if !strings.HasPrefix(string(m.Raw), "Received: from client.test ([127.0.0.1])\r\n\tby mx.gateway.test (gatewayd) with ESMTPSA;") ||
		!strings.Contains(string(m.Raw), "\r\nDate: ") {
		t.Errorf("trace and Date headers:\n%s", m.Raw)
	}

	// The From header must be the domain's too.
	c.cmd(250, "MAIL FROM:<app@example.com>")
	c.cmd(250, "RCPT TO:<ok@dest.test>")
	if code, msg := c.data(message("ceo@bank.test", "ok@dest.test", "spoof")); code != 550 || !strings.HasPrefix(msg, "5.7.1") {
		t.Errorf("foreign From header: %d %s", code, msg)
	}
	// No From header at all.
	c.cmd(250, "MAIL FROM:<app@example.com>")
	c.cmd(250, "RCPT TO:<ok@dest.test>")
	if code, msg := c.data("Subject: no from\r\n\r\nbody\r\n"); code != 550 || !strings.HasPrefix(msg, "5.6.0") {
		t.Errorf("no From: %d %s", code, msg)
	}

	// Account flags and domain status are read again at every MAIL after the connection's first.
	u, err := db.UserByID(ctx, f.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	u.ReputationLevel = "Untrusted"
	if err := db.UpdateUserFlags(ctx, u); err != nil {
		t.Fatal(err)
	}
	if code, msg := c.send2("MAIL FROM:<app@example.com>"); code != 550 || msg != "5.7.1 User account is not trusted" {
		t.Errorf("untrusted: %d %s", code, msg)
	}
	u.ReputationLevel = "Trusted"
	if err := db.UpdateUserFlags(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := db.SetDomainStatus(ctx, f.domainID, "Disabled", 0); err != nil {
		t.Fatal(err)
	}
	if code, msg := c.send2("MAIL FROM:<app@example.com>"); code != 550 || msg != "5.7.1 Sender domain is not active" {
		t.Errorf("disabled domain: %d %s", code, msg)
	}
	if n, _ := f.counts(); n != 1 {
		t.Errorf("%d messages stored, want 1", n)
	}
}

func TestSize(t *testing.T) {
	f := start(t, setup{})
	c := f.login(t)
	if code, msg := c.send2("MAIL FROM:<app@example.com> SIZE=70000"); code != 552 || !strings.HasPrefix(msg, "5.3.4") {
		t.Errorf("declared SIZE over the limit: %d %s", code, msg)
	}
	c.cmd(250, "MAIL FROM:<app@example.com> SIZE=1000")
	c.cmd(250, "RCPT TO:<user@dest.test>")
	big := message("app@example.com", "user@dest.test", "big") + strings.Repeat(strings.Repeat("x", 98)+"\r\n", 700)
	if code, msg := c.data(big); code != 552 || !strings.HasPrefix(msg, "5.3.4") {
		t.Errorf("70 kB message: %d %s", code, msg)
	}
	// The session goes on.
	c.cmd(250, "MAIL FROM:<app@example.com>")
	c.cmd(250, "RCPT TO:<user@dest.test>")
	if code, msg := c.data(message("app@example.com", "user@dest.test", "small")); code != 250 {
		t.Errorf("small message: %d %s", code, msg)
	}
	if n, _ := f.counts(); n != 1 {
		t.Errorf("%d messages stored, want 1", n)
	}
}

// TestSmuggling sends the end-of-data look-alikes of SMTP smuggling: "\n.\r\n", "\r\n.\n" and
// "\r.\r" must not end the message, and a message holding them is refused, so nothing after
// them is ever read as commands or queued.
func TestSmuggling(t *testing.T) {
	f := start(t, setup{})
	c := f.login(t)
	for _, eod := range []string{"\n.\r\n", "\r\n.\n", "\r.\r", "\n.\n"} {
		c.cmd(250, "MAIL FROM:<app@example.com>")
		c.cmd(250, "RCPT TO:<user@dest.test>")
		c.cmd(354, "DATA")
		c.write(message("app@example.com", "user@dest.test", "smuggle") + "first" + eod +
			"MAIL FROM:<ceo@example.com>\r\nRCPT TO:<victim@dest.test>\r\nDATA\r\nFrom: ceo@example.com\r\n\r\nsmuggled\r\n.\r\n")
		code, msg := c.read()
		if code != 554 || !strings.HasPrefix(msg, "5.6.0") {
			t.Fatalf("%q: %d %s, want 554 5.6.0", eod, code, msg)
		}
		// Exactly one reply: the smuggled commands were message text.
		c.cmd(250, "NOOP")
	}
	if n, _ := f.counts(); n != 0 {
		t.Errorf("%d messages stored, want none", n)
	}
}

func TestPipelining(t *testing.T) {
	f := start(t, setup{})
	c := f.login(t)
	c.write("MAIL FROM:<app@example.com>\r\nRCPT TO:<a@dest.test>\r\nRCPT TO:<gone@dest.test>\r\nRCPT TO:<b@dest.test>\r\nDATA\r\n")
	for i, want := range []int{250, 250, 250, 250, 354} {
		if code, msg := c.read(); code != want {
			t.Fatalf("pipelined reply %d: %d %s, want %d", i, code, msg, want)
		}
	}
	c.write(message("app@example.com", "a@dest.test", "pipelined") + ".\r\nMAIL FROM:<app@example.com>\r\nRCPT TO:<c@dest.test>\r\nDATA\r\n")
	code, msg := c.read()
	if code != 250 {
		t.Fatalf("end of data: %d %s", code, msg)
	}
	_, rs := f.recipientsOf(queuedID(t, msg))
	if len(rs) != 3 {
		t.Errorf("%d recipients, want 3", len(rs))
	}
	c.expect(250)
	c.expect(250)
	c.expect(354)
	c.write(message("app@example.com", "c@dest.test", "second") + ".\r\nQUIT\r\n")
	c.expect(250)
	c.expect(221)
	if n, r := f.counts(); n != 2 || r != 4 {
		t.Errorf("%d messages, %d recipients stored; want 2, 4", n, r)
	}
}

func TestHundredRecipients(t *testing.T) {
	f := start(t, setup{})
	c := f.login(t)
	c.cmd(250, "MAIL FROM:<app@example.com>")
	var b strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, "RCPT TO:<user%03d@dest.test>\r\n", i)
	}
	c.write(b.String())
	for i := 0; i < 100; i++ {
		c.expect(250)
	}
	if code, msg := c.send2("RCPT TO:<one-too-many@dest.test>"); code != 452 || !strings.HasPrefix(msg, "4.5.3") {
		t.Errorf("101st recipient: %d %s, want 452 4.5.3", code, msg)
	}
	code, msg := c.data(message("app@example.com", "user000@dest.test", "a hundred"))
	if code != 250 {
		t.Fatalf("DATA: %d %s", code, msg)
	}
	_, rs := f.recipientsOf(queuedID(t, msg))
	if len(rs) != 100 {
		t.Fatalf("%d recipients stored, want 100", len(rs))
	}
	if rs[0].Kind != "to" || rs[1].Kind != "bcc" {
		t.Errorf("kinds %s %s, want to (in To:) and bcc", rs[0].Kind, rs[1].Kind)
	}
}

func TestDroppedConnectionMidData(t *testing.T) {
	f := start(t, setup{})
	c := f.login(t)
	c.cmd(250, "MAIL FROM:<app@example.com>")
	c.cmd(250, "RCPT TO:<user@dest.test>")
	c.cmd(354, "DATA")
	c.write(message("app@example.com", "user@dest.test", "half") + "and then the line dro")
	c.conn.Close()

	// The server notices (its reads fail) and the connection's slot is released; then a
	// complete message shows the database is being looked at correctly.
	time.Sleep(300 * time.Millisecond)
	if n, r := f.counts(); n != 0 || r != 0 {
		t.Fatalf("%d messages, %d recipients after a dropped DATA; want none", n, r)
	}
	d := f.login(t)
	d.cmd(250, "MAIL FROM:<app@example.com>")
	d.cmd(250, "RCPT TO:<user@dest.test>")
	if code, msg := d.data(message("app@example.com", "user@dest.test", "whole")); code != 250 {
		t.Fatalf("DATA: %d %s", code, msg)
	}
	if n, r := f.counts(); n != 1 || r != 1 {
		t.Errorf("%d messages, %d recipients; want 1, 1", n, r)
	}
}

// failingBackend fails Accept like a storage that is down.
type failingBackend struct{ smtpd.Backend }

func (failingBackend) Accept(context.Context, *smtpd.Message) (string, error) {
	return "", errors.New("enqueue: database is locked (SQLITE_BUSY) at /var/lib/gatewayd/gatewayd.db")
}

func TestStorageFailure(t *testing.T) {
	f := start(t, setup{backend: func(b smtpd.Backend) smtpd.Backend { return failingBackend{b} }})
	c := f.login(t)
	c.cmd(250, "MAIL FROM:<app@example.com>")
	c.cmd(250, "RCPT TO:<user@dest.test>")
	code, msg := c.data(message("app@example.com", "user@dest.test", "storage down"))
	if code != 451 || msg != "4.3.0 Temporary failure, try again later" {
		t.Errorf("injected failure: %d %q, want 451 4.3.0 without internal text", code, msg)
	}

	// The real database closed under the relay.
	g := start(t, setup{})
	d := g.login(t)
	d.cmd(250, "MAIL FROM:<app@example.com>")
	d.cmd(250, "RCPT TO:<user@dest.test>")
	g.env.Server.DB.Close()
	code, msg = d.data(message("app@example.com", "user@dest.test", "database closed"))
	if code != 451 || msg != "4.3.0 Temporary failure, try again later" {
		t.Errorf("closed database: %d %q, want 451 4.3.0", code, msg)
	}
}

func TestConnectionAndMessageLimits(t *testing.T) {
	f := start(t, setup{opts: func(o *smtpd.Options) {
		o.MaxConns = 2
		o.MessageRate.Off, o.MessageRate.N, o.MessageRate.Per = false, 2, time.Minute
	}})
	a := dial(t, f.addr)
	dial(t, f.addr)
	conn, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 200)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := conn.Read(line)
	if got := string(line[:n]); !strings.HasPrefix(got, "421 4.7.0 mx.gateway.test Too many connections") {
		t.Errorf("third connection: %q", got)
	}
	conn.Close()
	a.cmd(221, "QUIT")
	time.Sleep(100 * time.Millisecond)

	// Per credential: a second address (127.0.0.2) may connect, but not AUTH as a credential
	// already at its limit of connections.
	c := f.login(t)
	d := dialFrom(t, "127.0.0.2", f.tlsAddr)
	d.ehlo()
	if code, msg := d.authPlain(f.username, f.password); code != 235 {
		t.Fatalf("AUTH: %d %s", code, msg)
	}
	e := dialFrom(t, "127.0.0.3", f.tlsAddr)
	e.ehlo()
	if code, msg := e.authPlain(f.username, f.password); code != 421 || !strings.HasPrefix(msg, "4.7.0") {
		t.Errorf("AUTH over the credential's connection limit: %d %s", code, msg)
	}

	// Messages: two per minute.
	for i := 0; i < 2; i++ {
		c.cmd(250, "MAIL FROM:<app@example.com>")
		c.cmd(250, "RSET")
	}
	if code, msg := c.send2("MAIL FROM:<app@example.com>"); code != 451 || !strings.HasPrefix(msg, "4.7.1") {
		t.Errorf("third message within the minute: %d %s, want 451 4.7.1", code, msg)
	}
}

func dialFrom(t testing.TB, local, addr string) *client {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("cannot dial from %s: %v", local, err)
	}
	conn.Close()
	tc, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: tc, text: textproto.NewConn(tc)}
	t.Cleanup(func() { tc.Close() })
	c.banner = c.expect(220)
	return c
}

func TestShutdown(t *testing.T) {
	f := start(t, setup{})
	idle := dial(t, f.addr)
	idle.ehlo()
	busy := f.login(t)
	busy.cmd(250, "MAIL FROM:<app@example.com>")
	busy.cmd(250, "RCPT TO:<user@dest.test>")
	busy.cmd(354, "DATA")
	busy.write(message("app@example.com", "user@dest.test", "in flight"))

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- f.srv.Shutdown(ctx)
	}()
	// The idle client is told and let go; nobody new gets in.
	if code, msg := idle.read(); code != 421 || !strings.HasPrefix(msg, "4.3.2") {
		t.Errorf("idle client at shutdown: %d %s", code, msg)
	}
	time.Sleep(100 * time.Millisecond)
	if conn, err := net.DialTimeout("tcp", f.addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("listener still accepting during shutdown")
	}
	select {
	case err := <-done:
		t.Fatalf("shutdown returned (%v) with a transaction in flight", err)
	default:
	}
	// The transaction in flight finishes and is queued.
	busy.write(".\r\n")
	code, msg := busy.read()
	if code != 250 {
		t.Fatalf("DATA during shutdown: %d %s", code, msg)
	}
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
	f.recipientsOf(queuedID(t, msg))
}

func TestLineLengthAndTimeouts(t *testing.T) {
	f := start(t, setup{opts: func(o *smtpd.Options) { o.ReadTimeout = 500 * time.Millisecond }})

	// A DATA line over the 2000-byte limit: refused, and the connection is closed.
	c := f.login(t)
	c.cmd(250, "MAIL FROM:<app@example.com>")
	c.cmd(250, "RCPT TO:<user@dest.test>")
	c.cmd(354, "DATA")
	c.write(message("app@example.com", "user@dest.test", "long line") + strings.Repeat("y", 3000) + "\r\n.\r\n")
	if code, msg := c.read(); code != 500 {
		t.Errorf("over-long line: %d %s, want 500", code, msg)
	}

	// An idle client is let go after the read timeout.
	idle := dial(t, f.addr)
	idle.ehlo()
	if code, msg := idle.read(); code != 421 || !strings.HasPrefix(msg, "4.4.2") {
		t.Errorf("idle client: %d %s, want 421 4.4.2", code, msg)
	}

	// DATA that keeps coming renews the deadline, past the timeout in all...
	s := f.login(t)
	s.cmd(250, "MAIL FROM:<app@example.com>")
	s.cmd(250, "RCPT TO:<user@dest.test>")
	s.cmd(354, "DATA")
	s.write("From: app@example.com\r\n")
	for i := 0; i < 4; i++ {
		time.Sleep(300 * time.Millisecond)
		s.write("X-Slow: header\r\n")
	}
	s.write("\r\nbody\r\n.\r\n")
	if code, msg := s.read(); code != 250 {
		t.Fatalf("slow DATA: %d %s", code, msg)
	}
	// ... but DATA that stalls longer than the timeout is dropped, and nothing is queued.
	s.cmd(250, "MAIL FROM:<app@example.com>")
	s.cmd(250, "RCPT TO:<user@dest.test>")
	s.cmd(354, "DATA")
	s.write("From: app@example.com\r\n")
	time.Sleep(time.Second)
	if code, msg := s.read(); code != 451 {
		t.Errorf("stalled DATA: %d %s, want 451", code, msg)
	}
	if n, _ := f.counts(); n != 1 {
		t.Errorf("%d messages stored, want 1", n)
	}
}
