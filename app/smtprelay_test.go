package app_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatewayd/app"
	"gatewayd/app/apptest"
	"gatewayd/config"
	"gatewayd/internal/testkit"
	"gatewayd/storage"
)

// relayEnv is a test server with its SMTP listeners started by the server's own wiring
// (StartRelay: the configuration's addresses, the self-signed certificate of the data
// directory), one user, an Enabled domain and SMTP credentials for it.
type relayEnv struct {
	*apptest.Env
	smtpAddr, tlsAddr  string
	username, password string
}

func startRelay(t *testing.T) *relayEnv {
	t.Helper()
	env := apptest.Start(t, func(cfg *config.Config) {
		cfg.SMTPAddrs = []string{"127.0.0.1:0"}
		cfg.SMTPTLSAddrs = []string{"127.0.0.1:0"}
		cfg.SMTPRateLimit = config.RateLimit{Off: true}
	})
	if err := env.Server.StartRelay(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		env.Server.StopRelay(ctx)
	})
	addrs := env.Server.RelayAddrs()
	if len(addrs) != 2 {
		t.Fatalf("relay listens on %v, want two addresses", addrs)
	}
	u := env.CreateUser("alice")
	d := env.AddDomain(u, "example.com")
	env.EnableDomain(d)
	m := env.MustAPI(map[string]any{"Command": "emailgateway.addsmtp", "SessionID": u.SessionID, "DomainID": d})
	cred := m["SMTP"].(map[string]any)
	return &relayEnv{Env: env, smtpAddr: addrs[0].String(), tlsAddr: addrs[1].String(),
		username: cred["SMTPUsername"].(string), password: cred["SMTPPassword"].(string)}
}

// queued returns the stored message with the given MessageID and its recipients.
func (e *relayEnv) queued(t *testing.T, id string) (*storage.Message, []storage.Recipient) {
	t.Helper()
	ctx := context.Background()
	m, err := e.Server.DB.MessageByUUID(ctx, id, 0)
	if err != nil {
		t.Fatalf("message %q: %v", id, err)
	}
	rs, err := e.Server.DB.RecipientsOf(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	return m, rs
}

// TestRelayEndToEnd submits with Go's SMTP client (STARTTLS, AUTH PLAIN) to the listeners the
// server itself started, and finds the message in the queue.
func TestRelayEndToEnd(t *testing.T) {
	e := startRelay(t)

	// The self-signed certificate was made beside the server key, its key private.
	dir := filepath.Dir(e.Cfg.SecretKeyFile)
	st, err := os.Stat(filepath.Join(dir, "tls-key.pem"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("self-signed key: %v %v", st, err)
	}

	c, err := smtp.Dial(e.smtpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("app.client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", e.username, e.password, "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("app@example.com"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"one@dest.test", "two@dest.test"} {
		if err := c.Rcpt(r); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, "From: App <app@example.com>\r\nTo: one@dest.test\r\nCc: two@dest.test\r\nSubject: end to end\r\n\r\nHello.\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()

	// net/smtp keeps the final reply (with the id) to itself; it returned after the 250, so
	// the message is committed.
	m, rs := e.queued(t, lastMessage(t, e))
	if m.Source != "smtp" || m.Subject != "end to end" || m.MailFrom != "app@example.com" {
		t.Errorf("message %+v", m)
	}
	if len(rs) != 2 || rs[0].Email != "one@dest.test" || rs[0].Kind != "to" || rs[1].Kind != "cc" ||
		rs[0].State != storage.StateQueued {
		t.Errorf("recipients %+v", rs)
	}
}

// lastMessage is the MessageID of the newest message (row ids count up from 1 in a fresh
// database of either dialect).
func lastMessage(t *testing.T, e *relayEnv) string {
	t.Helper()
	last := ""
	for id := int64(1); ; id++ {
		m, err := e.Server.DB.MessageByID(context.Background(), id)
		if err != nil {
			break
		}
		last = m.UUID
	}
	if last == "" {
		t.Fatal("no message stored")
	}
	return last
}

func waitFor(ok func() bool) error {
	for i := 0; i < 100; i++ {
		if ok() {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("timed out")
}

// TestRelayPythonSmtplib is a real third-party client: Python's smtplib with STARTTLS (an
// unverified context: the certificate is self-signed), AUTH and sendmail.
func TestRelayPythonSmtplib(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	e := startRelay(t)
	host, port, _ := net.SplitHostPort(e.smtpAddr)
	tlsHost, tlsPort, _ := net.SplitHostPort(e.tlsAddr)
	script := `
import json, smtplib, ssl, sys
host, port, tls_host, tls_port, user, pw = sys.argv[1:7]
msg = "From: App <app@example.com>\r\nTo: py@dest.test\r\nSubject: from python\r\n\r\nHello from smtplib.\r\n"
out = {}
s = smtplib.SMTP(host, int(port), local_hostname="py.client.test", timeout=10)
s.ehlo()
out["auth_before_tls"] = s.has_extn("auth")
s.starttls(context=ssl._create_unverified_context())
s.ehlo()
out["auth_after_tls"] = s.esmtp_features.get("auth", "")
s.login(user, pw)
out["refused"] = s.sendmail("app@example.com", ["py@dest.test", "py2@dest.test"], msg)
code, reply = s.docmd("NOOP")
s.quit()
s = smtplib.SMTP_SSL(tls_host, int(tls_port), context=ssl._create_unverified_context(), timeout=10)
s.login(user, pw)
try:
    s.sendmail("ceo@other.test", ["py@dest.test"], msg)
except smtplib.SMTPSenderRefused as e:
    out["foreign_sender"] = [e.smtp_code, e.smtp_error.decode()]
s.quit()
print(json.dumps(out))
`
	cmd := exec.Command(py, "-c", script, host, port, tlsHost, tlsPort, e.username, e.password)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd = exec.CommandContext(ctx, py, cmd.Args[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python smtplib: %v\n%s", err, out)
	}
	var res struct {
		AuthBeforeTLS bool           `json:"auth_before_tls"`
		AuthAfterTLS  string         `json:"auth_after_tls"`
		Refused       map[string]any `json:"refused"`
		Foreign       []any          `json:"foreign_sender"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("python output %s: %v", out, err)
	}
	if res.AuthBeforeTLS || !strings.Contains(res.AuthAfterTLS, "PLAIN") || len(res.Refused) != 0 {
		t.Errorf("smtplib saw %+v", res)
	}
	if len(res.Foreign) != 2 || res.Foreign[0] != float64(550) || !strings.HasPrefix(res.Foreign[1].(string), "5.7.1") {
		t.Errorf("foreign sender: %v", res.Foreign)
	}
	m, rs := e.queued(t, lastMessage(t, e))
	if m.Subject != "from python" || len(rs) != 2 || rs[0].Email != "py@dest.test" || rs[1].Kind != "bcc" {
		t.Errorf("stored %+v %+v", m, rs)
	}
}

// TestRelaySMTPRelayCommand sends through emailgateway.smtprelay and finds the message queued
// with the UUID given, its line endings made CRLF and a Message-ID added.
func TestRelaySMTPRelayCommand(t *testing.T) {
	e := startRelay(t)
	const id = "550e8400-e29b-41d4-a716-446655440000"
	send := map[string]any{"Command": "emailgateway.smtprelay", "AdminAPIKey": apptest.AdminKey,
		"SMTPUsername": e.username, "SMTPPassword": e.password, "UUID": id, "MailFrom": "sender@example.com",
		"RcptTo": "a@dest.test, <b@dest.test>", "Subject": "Test Email",
		"RawEmail": "From: sender@example.com\nTo: a@dest.test\n\nLine one\nLine two\n"}
	res := e.MustAPI(send)
	if res["SMTPResponse"] != "250 2.0.0 Ok: queued as "+id {
		t.Fatalf("answer %v", res)
	}
	m, rs := e.queued(t, id)
	raw := string(m.Raw)
	if m.Subject != "Test Email" || m.Source != "smtp" || len(rs) != 2 || rs[1].Email != "b@dest.test" ||
		!strings.HasPrefix(raw, "Message-ID: <"+id+"@example.com>\r\nDate: ") ||
		!strings.HasSuffix(raw, "\r\n\r\nLine one\r\nLine two\r\n") {
		t.Errorf("stored %+v %+v\n%q", m, rs, raw)
	}
	// Retried with the same UUID: the same answer, nothing queued twice.
	if again := e.MustAPI(send); again["SMTPResponse"] != res["SMTPResponse"] {
		t.Errorf("retry answered %v", again)
	}
	if usage, _ := e.Server.DB.MonthlyUsage(context.Background(), m.UserID); usage != 2 {
		t.Errorf("monthly usage %d, want 2", usage)
	}

	// More recipients than GATEWAY_SMTP_MAX_RECIPIENTS (100): code 10, nothing queued.
	var many []string
	for i := 0; i < 101; i++ {
		many = append(many, fmt.Sprintf("r%d@dest.test", i))
	}
	delete(send, "UUID")
	send["RcptTo"] = strings.Join(many, ",")
	res = e.API(send)
	if res["ErrorCode"] != json.Number("10") || res["SMTPResponse"] != "452 4.5.3 Too many recipients" {
		t.Errorf("101 recipients: %v", res)
	}
	send["RcptTo"] = strings.Join(many[:100], ",")
	e.MustAPI(send)
	if usage, _ := e.Server.DB.MonthlyUsage(context.Background(), m.UserID); usage != 102 {
		t.Errorf("monthly usage %d, want 102", usage)
	}
}

// TestRunServesSMTP runs the whole server (Run) and checks that its SMTP listener answers,
// and that shutdown stops it.
func TestRunServesSMTP(t *testing.T) {
	cfg := apptest.Config(t)
	cfg.HTTPAddr = testkit.FreeAddr(t)
	cfg.SMTPAddrs = []string{testkit.FreeAddr(t)}
	cfg.SMTPTLSAddrs = nil
	stop := runServer(t, cfg)
	var conn net.Conn
	if err := waitFor(func() bool {
		var err error
		conn, err = net.Dial("tcp", cfg.SMTPAddrs[0])
		return err == nil
	}); err != nil {
		t.Fatalf("SMTP listener of Run: %v", err)
	}
	banner, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if banner != "220 mx.gateway.test ESMTP Service Ready\r\n" {
		t.Errorf("banner %q", banner)
	}
	stop()
	if c, err := net.DialTimeout("tcp", cfg.SMTPAddrs[0], time.Second); err == nil {
		c.Close()
		t.Error("SMTP listener still open after Run returned")
	}
}

// runServer runs the whole server (app.Server.Run) on cfg in the background; stop cancels it
// and waits for Run to return, failing the test if Run fails or does not return.
func runServer(t *testing.T, cfg *config.Config) (stop func()) {
	t.Helper()
	s, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(s *app.Server) {
		s.App.NewDKIMKey = apptest.DKIMKey
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestRelayRefusesRepeatedFrom is finding 4 of the hardening issue: a message with a From in
// the credential's domain and a second From elsewhere is refused over SMTP (550 5.6.0 at the
// end of DATA) and over emailgateway.smtprelay (ErrorCode 9), and nothing is queued; the same
// message with one From is accepted on both paths.
func TestRelayRefusesRepeatedFrom(t *testing.T) {
	e := startRelay(t)
	const twoFrom = "From: a@example.com\r\nFrom: ceo@other-tenant.test\r\nTo: one@dest.test\r\nSubject: pay\r\n\r\nPay it.\r\n"
	const oneFrom = "From: a@example.com\r\nTo: one@dest.test\r\nSubject: pay\r\n\r\nPay it.\r\n"
	const refusal = "550 5.6.0 Message refused: more than one From header (RFC 5322 section 3.6)"
	stored := func() int {
		n := 0
		for id := int64(1); ; id++ {
			if _, err := e.Server.DB.MessageByID(context.Background(), id); err != nil {
				return n
			}
			n++
		}
	}

	c, err := smtp.Dial(e.smtpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", e.username, e.password, "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	data := func(raw string) error {
		if err := c.Mail("a@example.com"); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("one@dest.test"); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(w, raw)
		return w.Close()
	}
	var reply *textproto.Error
	if err := data(twoFrom); !errors.As(err, &reply) || fmt.Sprintf("%d %s", reply.Code, reply.Msg) != refusal {
		t.Fatalf("SMTP two From: %v, want %q", err, refusal)
	}
	if n := stored(); n != 0 {
		t.Fatalf("SMTP two From: %d messages stored", n)
	}

	send := map[string]any{"Command": "emailgateway.smtprelay", "AdminAPIKey": apptest.AdminKey,
		"SMTPUsername": e.username, "SMTPPassword": e.password, "MailFrom": "a@example.com",
		"RcptTo": "one@dest.test", "RawEmail": twoFrom}
	res := e.API(send)
	if res["Success"] != false || res["ErrorCode"] != json.Number("9") || res["SMTPResponse"] != refusal {
		t.Fatalf("smtprelay two From: %v", res)
	}
	if n := stored(); n != 0 {
		t.Fatalf("smtprelay two From: %d messages stored", n)
	}

	// The control: one From passes both paths.
	if err := data(oneFrom); err != nil {
		t.Fatalf("SMTP one From: %v", err)
	}
	send["RawEmail"] = oneFrom
	if res := e.API(send); res["Success"] != true || !strings.HasPrefix(res["SMTPResponse"].(string), "250 2.0.0 Ok: queued as ") {
		t.Fatalf("smtprelay one From: %v", res)
	}
	if n := stored(); n != 2 {
		t.Fatalf("%d messages stored, want 2", n)
	}
	c.Quit()
}
