package smtpd_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"strings"
	"testing"
	"time"

	"gatewayd/app"
	"gatewayd/app/apptest"
	"gatewayd/relay/smtpd"
	"gatewayd/storage"
	"gatewayd/storage/storagetest"
)

// fixture is a whole gatewayd (apptest, on the dialect under test) with a submission server
// on 127.0.0.1:0 answering through the real commands layer, one user, one Enabled domain
// (example.com) and one SMTP credential for it.
type fixture struct {
	t        testing.TB
	env      *apptest.Env
	srv      *smtpd.Server
	addr     string // STARTTLS listener
	tlsAddr  string // implicit-TLS listener
	user     *apptest.User
	domainID int64
	username string
	password string
}

type setup struct {
	opts    func(*smtpd.Options)
	backend func(smtpd.Backend) smtpd.Backend // wraps the real backend (fault injection)
}

func start(t testing.TB, s setup) *fixture {
	t.Helper()
	env := apptest.Start(t, nil)
	f := &fixture{t: t, env: env}
	f.user = env.CreateUser("alice")
	f.domainID = env.AddDomain(f.user, "example.com")
	env.EnableDomain(f.domainID)
	f.username, f.password = f.addSMTP(f.domainID, "")

	opts := smtpd.Options{
		Hostname: "mx.gateway.test", TLS: serverTLS(t), MaxMessageBytes: 64 << 10, MaxRecipients: 100,
		MaxConns: 20, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, OpTimeout: 10 * time.Second,
		Log: testLog(),
	}
	opts.MessageRate.Off = true
	if s.opts != nil {
		s.opts(&opts)
	}
	backend := app.RelayBackend(env.Server.App)
	if s.backend != nil {
		backend = s.backend(backend)
	}
	f.srv = smtpd.New(backend, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr, f.tlsAddr = ln.Addr().String(), tln.Addr().String()
	go f.srv.Serve(ln)
	go f.srv.ServeTLS(tln)
	t.Cleanup(func() { f.srv.Close() })
	return f
}

// addSMTP makes SMTP credentials for a domain (with AllowedNetworks when given).
func (f *fixture) addSMTP(domainID int64, networks string) (username, password string) {
	f.t.Helper()
	params := map[string]any{"Command": "emailgateway.addsmtp", "SessionID": f.user.SessionID, "DomainID": domainID}
	if networks != "" {
		params["AllowedNetworks"] = networks
	}
	m := f.env.MustAPI(params)
	smtp := m["SMTP"].(map[string]any)
	return smtp["SMTPUsername"].(string), smtp["SMTPPassword"].(string)
}

// testLog discards the server's log unless GATEWAY_TEST_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("GATEWAY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

var testCert *tls.Config

func serverTLS(t testing.TB) *tls.Config {
	if testCert != nil {
		return testCert
	}
	certPEM, keyPEM, err := smtpd.SelfSigned("mx.gateway.test")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	testCert = &tls.Config{Certificates: []tls.Certificate{pair}}
	return testCert
}

// counts reads how many messages and recipients the database holds, through a connection
// of its own (what a look at the database would show).
func (f *fixture) counts() (messages, recipients int) {
	f.t.Helper()
	db := storagetest.Raw(f.t, f.env.Cfg.DB)
	for table, n := range map[string]*int{"messages": &messages, "recipients": &recipients} {
		if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(n); err != nil {
			f.t.Fatal(err)
		}
	}
	return
}

// client speaks raw SMTP.
type client struct {
	t      testing.TB
	conn   net.Conn
	text   *textproto.Conn
	banner string
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: conn, text: textproto.NewConn(conn)}
	t.Cleanup(func() { conn.Close() })
	c.banner = c.expect(220)
	return c
}

func dialTLS(t testing.TB, addr string) *client {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: conn, text: textproto.NewConn(conn)}
	t.Cleanup(func() { conn.Close() })
	c.banner = c.expect(220)
	return c
}

// read reads one reply (all its lines).
func (c *client) read() (int, string) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	code, msg, err := c.text.ReadResponse(0)
	if err != nil && code == 0 {
		c.t.Fatalf("read reply: %v", err)
	}
	return code, msg
}

// expect reads a reply and checks its code.
func (c *client) expect(code int) string {
	c.t.Helper()
	got, msg := c.read()
	if got != code {
		c.t.Fatalf("reply %d %q, want %d", got, msg, code)
	}
	return msg
}

func (c *client) send(format string, args ...any) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.text.PrintfLine(format, args...); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) write(s string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// cmd sends a command and checks the reply code; it returns the reply text.
func (c *client) cmd(code int, format string, args ...any) string {
	c.t.Helper()
	c.send(format, args...)
	return c.expect(code)
}

func (c *client) ehlo() string { return c.cmd(250, "EHLO client.test") }

// startTLS upgrades the connection (the server's certificate is self-signed).
func (c *client) startTLS() {
	c.t.Helper()
	c.cmd(220, "STARTTLS")
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true, ServerName: "mx.gateway.test"})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("tls handshake: %v", err)
	}
	c.conn = tc
	c.text = textproto.NewConn(tc)
}

// authPlain authenticates and returns the reply code.
func (c *client) authPlain(user, pass string) (int, string) {
	c.t.Helper()
	c.send("AUTH PLAIN %s", base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)))
	return c.read()
}

// login is EHLO, STARTTLS, EHLO, AUTH PLAIN with the fixture's credential.
func (f *fixture) login(t testing.TB) *client {
	t.Helper()
	c := dial(t, f.addr)
	c.ehlo()
	c.startTLS()
	c.ehlo()
	if code, msg := c.authPlain(f.username, f.password); code != 235 {
		t.Fatalf("AUTH: %d %s", code, msg)
	}
	return c
}

// message is a small valid message from sender to rcpt.
func message(from, to, subject string) string {
	return fmt.Sprintf("From: Sender <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\nHello.\r\n", from, to, subject)
}

// data sends DATA, the body (dot-stuffed) and the end marker; it returns the final reply.
func (c *client) data(body string) (int, string) {
	c.t.Helper()
	c.cmd(354, "DATA")
	w := c.text.DotWriter()
	if _, err := w.Write([]byte(body)); err != nil {
		c.t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		c.t.Fatal(err)
	}
	return c.read()
}

// queuedID extracts the id of "Ok: queued as <uuid>".
func queuedID(t testing.TB, msg string) string {
	t.Helper()
	const p = "2.0.0 Ok: queued as "
	if !strings.HasPrefix(msg, p) {
		t.Fatalf("reply %q is not %q...", msg, p)
	}
	return strings.TrimPrefix(msg, p)
}

// recipientsOf returns the recipient rows of a message by its uuid.
func (f *fixture) recipientsOf(id string) (*storage.Message, []storage.Recipient) {
	f.t.Helper()
	ctx := context.Background()
	m, err := f.env.Server.DB.MessageByUUID(ctx, id, 0)
	if err != nil {
		f.t.Fatalf("message %s: %v", id, err)
	}
	rs, err := f.env.Server.DB.RecipientsOf(ctx, m.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return m, rs
}
