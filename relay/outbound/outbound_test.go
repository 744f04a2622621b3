package outbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"gatewayd/relay/smtptest"
)

const msg = "From: sender@gw.test\r\nTo: rcpt@dest.test\r\nSubject: hello\r\n\r\n" +
	".a line that starts with a dot\r\n..two dots\r\n.\r\nlast line\r\n"

func testClient(t *testing.T, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		HeloName:       "gw.test",
		DialTimeout:    2 * time.Second,
		CommandTimeout: 5 * time.Second,
		DataTimeout:    5 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	c := New(cfg)
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func routeTo(t *testing.T, s *smtptest.Server) Route {
	t.Helper()
	host, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return Route{Host: host, Port: p}
}

func env(to ...string) Envelope {
	return Envelope{From: "bounce+1@gw.test", To: to, Data: []byte(msg)}
}

// closedPort returns a loopback port nobody listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func port(t *testing.T, s *smtptest.Server) int { return routeTo(t, s).Port }

func want(t *testing.T, got Result, rcpt string, class Class, code int, enh string) {
	t.Helper()
	if got.Recipient != rcpt || got.Class != class || got.Code != code || got.Enhanced != enh {
		t.Errorf("result = %+v, want %s %v %d %s", got, rcpt, class, code, enh)
	}
}

func send(t *testing.T, c *Client, rt Route, e Envelope) []Result {
	t.Helper()
	res, err := c.Send(testCtx(t), rt, e)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(res) != len(e.To) {
		t.Fatalf("got %d results for %d recipients", len(res), len(e.To))
	}
	return res
}

func TestSendDelivered(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{AuthUsers: map[string]string{"user@x": "p:ss"}, AllowInsecureAuth: true})
	c := testClient(t, nil)
	rt := routeTo(t, s)
	rt.Username, rt.Password, rt.Encryption = "user@x", "p:ss", EncryptionNone
	rt.InsecureAuth = true // the operator's smtp+insecure://

	res := send(t, c, rt, env("a@dest.test", "b@dest.test"))
	want(t, res[0], "a@dest.test", Delivered, 250, "2.0.0")
	want(t, res[1], "b@dest.test", Delivered, 250, "2.0.0")

	m := s.WaitMessages(t, 1, 5*time.Second)[0]
	if string(m.Data) != msg {
		t.Errorf("data = %q\nwant %q", m.Data, msg)
	}
	if m.From != "bounce+1@gw.test" || strings.Join(m.To, ",") != "a@dest.test,b@dest.test" {
		t.Errorf("envelope = %s -> %v", m.From, m.To)
	}
	if m.AuthUser != "user@x" || m.AuthPass != "p:ss" || m.Helo != "gw.test" {
		t.Errorf("auth %q/%q helo %q", m.AuthUser, m.AuthPass, m.Helo)
	}
}

func TestSendNullSenderAndBareLF(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	c := testClient(t, nil)
	e := Envelope{From: "", To: []string{"a@dest.test"}, Data: []byte("Subject: x\n\nbody\n.\n")}
	res := send(t, c, routeTo(t, s), e)
	want(t, res[0], "a@dest.test", Delivered, 250, "2.0.0")
	m := s.WaitMessages(t, 1, 5*time.Second)[0]
	if m.From != "" || string(m.Data) != "Subject: x\r\n\r\nbody\r\n.\r\n" {
		t.Errorf("from %q data %q", m.From, m.Data)
	}
}

func TestSendAuthRefusedDefers(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{AuthUsers: map[string]string{"u": "right"}, AllowInsecureAuth: true})
	c := testClient(t, nil)
	rt := routeTo(t, s)
	rt.Username, rt.Password, rt.InsecureAuth = "u", "wrong", true
	res := send(t, c, rt, env("a@dest.test"))
	want(t, res[0], "a@dest.test", Deferred, 535, "5.7.8")
	if !strings.Contains(res[0].Message, "Authentication failed") {
		t.Errorf("message %q does not carry the server's reply", res[0].Message)
	}
	if len(s.Messages()) != 0 {
		t.Error("message delivered despite failed AUTH")
	}
}

func TestSendAuthNotOffered(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	c := testClient(t, nil)
	rt := routeTo(t, s)
	rt.Username, rt.Password, rt.InsecureAuth = "u", "p", true
	res := send(t, c, rt, env("a@dest.test"))
	want(t, res[0], "a@dest.test", Deferred, 0, "4.7.0")
	if !strings.Contains(res[0].Message, "does not offer AUTH") {
		t.Errorf("message %q", res[0].Message)
	}
}

func TestSendMixedRecipients(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	s.Fail("RCPT", "later@dest.test", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}, -1)
	s.Fail("RCPT", "nobody@dest.test", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, -1)
	c := testClient(t, nil)
	res := send(t, c, routeTo(t, s), env("ok@dest.test", "later@dest.test", "nobody@dest.test"))
	want(t, res[0], "ok@dest.test", Delivered, 250, "2.0.0")
	want(t, res[1], "later@dest.test", Deferred, 451, "4.3.0")
	want(t, res[2], "nobody@dest.test", Bounced, 550, "5.1.1")
	if res[2].Message != "no such user" {
		t.Errorf("message %q", res[2].Message)
	}
	m := s.WaitMessages(t, 1, 5*time.Second)[0]
	if strings.Join(m.To, ",") != "ok@dest.test" {
		t.Errorf("server got recipients %v", m.To)
	}
}

func TestSendAllRecipientsRefused(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	s.Fail("RCPT", "", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, -1)
	c := testClient(t, nil)
	res := send(t, c, routeTo(t, s), env("x@dest.test", "y@dest.test"))
	want(t, res[0], "x@dest.test", Bounced, 550, "5.1.1")
	want(t, res[1], "y@dest.test", Bounced, 550, "5.1.1")
	// The connection stays usable for the next transaction.
	s.Reset()
	res = send(t, c, routeTo(t, s), env("z@dest.test"))
	want(t, res[0], "z@dest.test", Delivered, 250, "2.0.0")
	if s.Connections() != 1 {
		t.Errorf("Connections = %d, want 1", s.Connections())
	}
}

func TestSendDataRejected(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	s.Fail("DATA", "", &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "message too big"}, 1)
	s.Fail("RCPT", "b@dest.test", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "unknown"}, 1)
	c := testClient(t, nil)
	res := send(t, c, routeTo(t, s), env("a@dest.test", "b@dest.test", "c@dest.test"))
	want(t, res[0], "a@dest.test", Bounced, 552, "5.3.4")
	want(t, res[1], "b@dest.test", Bounced, 550, "5.1.1")
	want(t, res[2], "c@dest.test", Bounced, 552, "5.3.4")
	if len(s.Messages()) != 0 {
		t.Error("server kept a rejected message")
	}
}

func TestSendMailFromTemporaryFailure(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	s.Fail("MAIL", "", &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Try again in 2 minutes"}, 1)
	c := testClient(t, nil)
	res := send(t, c, routeTo(t, s), env("a@dest.test", "b@dest.test"))
	for i, r := range res {
		want(t, r, []string{"a@dest.test", "b@dest.test"}[i], Deferred, 421, "4.7.0")
	}
	if d, ok := RetryAfter(res[0].Message); !ok || d != 2*time.Minute {
		t.Errorf("RetryAfter(%q) = %v %v", res[0].Message, d, ok)
	}
	// 421 closes the connection: the next send opens a new one.
	res = send(t, c, routeTo(t, s), env("a@dest.test"))
	want(t, res[0], "a@dest.test", Delivered, 250, "2.0.0")
	if s.Connections() != 2 {
		t.Errorf("Connections = %d, want 2", s.Connections())
	}
}

func TestSendMailFromPermanentFailure(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	s.Fail("MAIL", "bounce+1@gw.test", &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "sender rejected"}, 1)
	c := testClient(t, nil)
	res := send(t, c, routeTo(t, s), env("a@dest.test", "b@dest.test"))
	want(t, res[0], "a@dest.test", Bounced, 553, "5.7.1")
	want(t, res[1], "b@dest.test", Bounced, 553, "5.7.1")
}

func TestSendConnectionRefused(t *testing.T) {
	c := testClient(t, nil)
	res := send(t, c, Route{Host: "127.0.0.1", Port: closedPort(t)}, env("a@dest.test"))
	want(t, res[0], "a@dest.test", Deferred, 0, "4.4.1")
	if !strings.Contains(res[0].Message, "refused") {
		t.Errorf("message %q", res[0].Message)
	}
}

func TestSendGreetingRefused(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	s.Fail("CONNECT", "", &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "go away"}, 1)
	c := testClient(t, nil)
	res := send(t, c, routeTo(t, s), env("a@dest.test"))
	want(t, res[0], "a@dest.test", Deferred, 554, "5.7.1")
}

func TestSendImplicitTLS(t *testing.T) {
	srvTLS, pool := smtptest.SelfSigned(t)
	s := smtptest.Start(t, smtptest.Options{TLS: srvTLS, Implicit: true, AuthUsers: map[string]string{"u": "p"}})
	c := testClient(t, func(cfg *Config) { cfg.RootCAs = pool })
	rt := routeTo(t, s)
	rt.Encryption, rt.Username, rt.Password = "ssl", "u", "p"
	res := send(t, c, rt, env("a@dest.test"))
	want(t, res[0], "a@dest.test", Delivered, 250, "2.0.0")
	if m := s.WaitMessages(t, 1, 5*time.Second)[0]; !m.TLS || m.AuthUser != "u" || string(m.Data) != msg {
		t.Errorf("message TLS=%v user=%q", m.TLS, m.AuthUser)
	}
}

func TestSendSTARTTLS(t *testing.T) {
	srvTLS, pool := smtptest.SelfSigned(t)
	// AUTH is only offered after STARTTLS.
	s := smtptest.Start(t, smtptest.Options{TLS: srvTLS, AuthUsers: map[string]string{"u": "p"}})
	for _, enc := range []Encryption{EncryptionSTARTTLS, EncryptionSTARTTLSRequired} {
		t.Run(string(enc), func(t *testing.T) {
			s.Reset()
			c := testClient(t, func(cfg *Config) { cfg.RootCAs = pool })
			rt := routeTo(t, s)
			rt.Encryption, rt.Username, rt.Password = enc, "u", "p"
			res := send(t, c, rt, env("a@dest.test"))
			want(t, res[0], "a@dest.test", Delivered, 250, "2.0.0")
			m := s.WaitMessages(t, 1, 5*time.Second)[0]
			if !m.TLS || m.AuthUser != "u" || m.Helo != "gw.test" || string(m.Data) != msg {
				t.Errorf("message TLS=%v user=%q helo=%q", m.TLS, m.AuthUser, m.Helo)
			}
			// The pooled connection is reused over TLS.
			res = send(t, c, rt, env("b@dest.test"))
			want(t, res[0], "b@dest.test", Delivered, 250, "2.0.0")
		})
	}
}

func TestSendSTARTTLSUntrustedCertificate(t *testing.T) {
	srvTLS, _ := smtptest.SelfSigned(t)
	s := smtptest.Start(t, smtptest.Options{TLS: srvTLS, AllowInsecureAuth: true})
	c := testClient(t, nil) // system roots do not trust the test certificate
	rt := routeTo(t, s)
	res := send(t, c, rt, env("a@dest.test"))
	want(t, res[0], "a@dest.test", Deferred, 0, "4.7.0")
	if len(s.Messages()) != 0 {
		t.Fatal("delivered in clear text after a failed certificate check")
	}
	rt.InsecureSkipVerify = true
	res = send(t, c, rt, env("a@dest.test"))
	want(t, res[0], "a@dest.test", Delivered, 250, "2.0.0")
	if m := s.WaitMessages(t, 1, 5*time.Second)[0]; !m.TLS {
		t.Error("not delivered over TLS")
	}
}

func TestSendSTARTTLSOptionalAndRequired(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{}) // no TLS at all
	c := testClient(t, nil)
	rt := routeTo(t, s)

	rt.Encryption = EncryptionSTARTTLSRequired
	res := send(t, c, rt, env("a@dest.test"))
	want(t, res[0], "a@dest.test", Deferred, 0, "4.7.0")
	if !strings.Contains(res[0].Message, "STARTTLS") {
		t.Errorf("message %q", res[0].Message)
	}
	if len(s.Messages()) != 0 {
		t.Fatal("delivered without the required TLS")
	}

	rt.Encryption = EncryptionSTARTTLS
	res = send(t, c, rt, env("a@dest.test"))
	want(t, res[0], "a@dest.test", Delivered, 250, "2.0.0")
	if m := s.WaitMessages(t, 1, 5*time.Second)[0]; m.TLS {
		t.Error("TLS used against a server without TLS?")
	}
}

func TestSendPoolsConnections(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	c := testClient(t, nil)
	for i := range 3 {
		res := send(t, c, routeTo(t, s), env(fmt.Sprintf("r%d@dest.test", i)))
		want(t, res[0], fmt.Sprintf("r%d@dest.test", i), Delivered, 250, "2.0.0")
	}
	if got := len(s.WaitMessages(t, 3, 5*time.Second)); got != 3 {
		t.Fatalf("messages = %d", got)
	}
	if s.Connections() != 1 {
		t.Errorf("Connections = %d, want 1", s.Connections())
	}
}

func TestSendConcurrencyLimit(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{Latency: 30 * time.Millisecond})
	c := testClient(t, func(cfg *Config) { cfg.MaxConnsPerRoute = 2 })
	rt := routeTo(t, s)
	var wg sync.WaitGroup
	errs := make(chan string, 10)
	for i := range 10 {
		wg.Go(func() {
			res, err := c.Send(testCtx(t), rt, env(fmt.Sprintf("r%d@dest.test", i)))
			if err != nil || res[0].Class != Delivered {
				errs <- fmt.Sprintf("send %d: %v %+v", i, err, res)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := len(s.Messages()); n != 10 {
		t.Errorf("messages = %d, want 10", n)
	}
	if s.PeakConnections() > 2 || s.Connections() > 2 {
		t.Errorf("peak %d, total %d connections; limit is 2", s.PeakConnections(), s.Connections())
	}
}

func TestIdleConnectionsClosed(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	c := testClient(t, func(cfg *Config) { cfg.IdleTimeout = 100 * time.Millisecond })
	send(t, c, routeTo(t, s), env("a@dest.test"))
	deadline := time.Now().Add(3 * time.Second)
	for s.OpenConnections() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if s.OpenConnections() != 0 {
		t.Fatal("idle connection still open")
	}
	res := send(t, c, routeTo(t, s), env("b@dest.test"))
	want(t, res[0], "b@dest.test", Delivered, 250, "2.0.0")
	if s.Connections() != 2 {
		t.Errorf("Connections = %d, want 2", s.Connections())
	}
}

func TestCloseClosesIdleConnections(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	c := New(Config{HeloName: "gw.test", DialTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	send(t, c, routeTo(t, s), env("a@dest.test"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for s.OpenConnections() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if s.OpenConnections() != 0 {
		t.Error("connection open after Close")
	}
	if _, err := c.Send(testCtx(t), routeTo(t, s), env("a@dest.test")); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
}

func TestSendCancelledContext(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{Latency: 2 * time.Second})
	c := testClient(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := c.Send(ctx, routeTo(t, s), env("a@dest.test"))
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Send took %v after its context ended", el)
	}
	want(t, res[0], "a@dest.test", Deferred, 0, "4.4.2")
	if !strings.Contains(res[0].Message, "deadline exceeded") {
		t.Errorf("message %q", res[0].Message)
	}
}

func TestSendInvalidInput(t *testing.T) {
	c := testClient(t, nil)
	ctx := testCtx(t)
	for name, tc := range map[string]struct {
		rt Route
		e  Envelope
	}{
		"no recipients":  {Route{Host: "127.0.0.1", Port: 1}, Envelope{From: "a@b"}},
		"CRLF recipient": {Route{Host: "127.0.0.1", Port: 1}, env("a@b\r\nDATA")},
		"no host":        {Route{Port: 25}, env("a@b")},
		"bad encryption": {Route{Host: "x", Encryption: "rot13"}, env("a@b")},
	} {
		if _, err := c.Send(ctx, tc.rt, tc.e); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// mxClient resolves the given MX records and host addresses.
// The MX hosts of these tests listen on loopback: GATEWAY_MX_ALLOW_LOCAL.
func mxClient(t *testing.T, mxPort int, mx map[string][]*net.MX, hosts map[string][]string) *Client {
	return mxClientLocal(t, mxPort, mx, hosts, true)
}

func mxClientLocal(t *testing.T, mxPort int, mx map[string][]*net.MX, hosts map[string][]string, allowLocal bool) *Client {
	return testClient(t, func(cfg *Config) {
		cfg.MXPort = mxPort
		cfg.MXAllowLocal = allowLocal
		cfg.LookupMX = func(_ context.Context, d string) ([]*net.MX, error) {
			if r, ok := mx[d]; ok {
				return r, nil
			}
			return nil, &net.DNSError{Err: "no such host", Name: d, IsNotFound: true}
		}
		cfg.LookupHost = func(_ context.Context, h string) ([]string, error) {
			if a, ok := hosts[h]; ok {
				return a, nil
			}
			return nil, &net.DNSError{Err: "no such host", Name: h, IsNotFound: true}
		}
	})
}

func TestSendMXFallsBackToNextHost(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	c := mxClient(t, port(t, s),
		map[string][]*net.MX{"dest.test": {{Host: "mx2.dest.test.", Pref: 20}, {Host: "mx1.dest.test.", Pref: 10}}},
		// Nothing listens on ::1 at the server's port: mx1 is unreachable.
		map[string][]string{"mx1.dest.test": {"::1"}, "mx2.dest.test": {"127.0.0.1"}})
	res, err := c.SendMX(testCtx(t), "dest.test", env("a@dest.test"))
	if err != nil {
		t.Fatal(err)
	}
	want(t, res[0], "a@dest.test", Delivered, 250, "2.0.0")
	if m := s.WaitMessages(t, 1, 5*time.Second)[0]; string(m.Data) != msg || m.Helo != "gw.test" {
		t.Errorf("message helo %q", m.Helo)
	}
}

func TestSendMXNextHostOnTemporaryGreeting(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	s.Fail("CONNECT", "", &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "busy"}, 1)
	c := mxClient(t, port(t, s),
		map[string][]*net.MX{"dest.test": {{Host: "mx1.dest.test", Pref: 10}, {Host: "mx2.dest.test", Pref: 20}}},
		map[string][]string{"mx1.dest.test": {"127.0.0.1"}, "mx2.dest.test": {"127.0.0.1"}})
	res, err := c.SendMX(testCtx(t), "dest.test", env("a@dest.test"))
	if err != nil {
		t.Fatal(err)
	}
	want(t, res[0], "a@dest.test", Delivered, 250, "2.0.0")
	if s.Connections() != 2 {
		t.Errorf("Connections = %d, want 2", s.Connections())
	}
}

func TestSendMXAllHostsFail(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	s.Fail("HELO", "", &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted, retry in 5 minutes"}, -1)
	c := mxClient(t, port(t, s),
		map[string][]*net.MX{"dest.test": {{Host: "mx1.dest.test", Pref: 10}, {Host: "mx2.dest.test", Pref: 20}}},
		map[string][]string{"mx1.dest.test": {"127.0.0.1"}, "mx2.dest.test": {"127.0.0.1"}})
	res, err := c.SendMX(testCtx(t), "dest.test", env("a@dest.test"))
	if err != nil {
		t.Fatal(err)
	}
	want(t, res[0], "a@dest.test", Deferred, 450, "4.7.1")
	if d, ok := RetryAfter(res[0].Message); !ok || d != 5*time.Minute {
		t.Errorf("message %q: RetryAfter = %v %v", res[0].Message, d, ok)
	}
	if s.Connections() != 2 {
		t.Errorf("Connections = %d, want one per MX host", s.Connections())
	}
}

func TestSendMXPermanentGreeting(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	s.Fail("CONNECT", "", &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "blocked"}, -1)
	c := mxClient(t, port(t, s),
		map[string][]*net.MX{"dest.test": {{Host: "mx1.dest.test", Pref: 10}, {Host: "mx2.dest.test", Pref: 20}}},
		map[string][]string{"mx1.dest.test": {"127.0.0.1"}, "mx2.dest.test": {"127.0.0.1"}})
	res, err := c.SendMX(testCtx(t), "dest.test", env("a@dest.test"))
	if err != nil {
		t.Fatal(err)
	}
	want(t, res[0], "a@dest.test", Bounced, 554, "5.7.1")
	if s.Connections() != 1 {
		t.Errorf("Connections = %d, want 1 (no next host after 5xx)", s.Connections())
	}
}

func TestSendMXAddressFallback(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	c := mxClient(t, port(t, s), nil, map[string][]string{"dest.test": {"127.0.0.1"}})
	res, err := c.SendMX(testCtx(t), "Dest.Test.", env("a@dest.test"))
	if err != nil {
		t.Fatal(err)
	}
	want(t, res[0], "a@dest.test", Delivered, 250, "2.0.0")
	s.WaitMessages(t, 1, 5*time.Second)
}

func TestSendMXNoSuchDomain(t *testing.T) {
	c := mxClient(t, 25, nil, nil)
	res, err := c.SendMX(testCtx(t), "nowhere.test", env("a@nowhere.test"))
	if err != nil {
		t.Fatal(err)
	}
	want(t, res[0], "a@nowhere.test", Bounced, 0, "5.1.2")
}

func TestSendMXNullMX(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	c := mxClient(t, port(t, s),
		map[string][]*net.MX{"dest.test": {{Host: ".", Pref: 0}}},
		map[string][]string{"dest.test": {"127.0.0.1"}})
	res, err := c.SendMX(testCtx(t), "dest.test", env("a@dest.test", "b@dest.test"))
	if err != nil {
		t.Fatal(err)
	}
	want(t, res[0], "a@dest.test", Bounced, 0, "5.1.10")
	want(t, res[1], "b@dest.test", Bounced, 0, "5.1.10")
	if s.Connections() != 0 {
		t.Error("connected despite null MX")
	}
}

func TestSendMXTemporaryDNSFailure(t *testing.T) {
	c := testClient(t, func(cfg *Config) {
		cfg.LookupMX = func(_ context.Context, d string) ([]*net.MX, error) {
			return nil, &net.DNSError{Err: "server misbehaving", Name: d, IsTemporary: true}
		}
	})
	res, err := c.SendMX(testCtx(t), "dest.test", env("a@dest.test"))
	if err != nil {
		t.Fatal(err)
	}
	want(t, res[0], "a@dest.test", Deferred, 0, "4.4.3")
}

func TestSendMXRetriesInClearWhenTLSFails(t *testing.T) {
	// STARTTLS is offered but the server has no certificate, so every
	// handshake fails.
	s := smtptest.Start(t, smtptest.Options{TLS: brokenTLS()})
	c := mxClient(t, port(t, s),
		map[string][]*net.MX{"dest.test": {{Host: "mx.dest.test", Pref: 10}}},
		map[string][]string{"mx.dest.test": {"127.0.0.1"}})
	res, err := c.SendMX(testCtx(t), "dest.test", env("a@dest.test"))
	if err != nil {
		t.Fatal(err)
	}
	want(t, res[0], "a@dest.test", Delivered, 250, "2.0.0")
	if m := s.WaitMessages(t, 1, 5*time.Second)[0]; m.TLS {
		t.Error("message marked TLS")
	}
	if s.Connections() != 2 {
		t.Errorf("Connections = %d, want 2 (TLS, then clear)", s.Connections())
	}
}

func TestSendMXUsesUnverifiedTLS(t *testing.T) {
	srvTLS, _ := smtptest.SelfSigned(t, "mx.dest.test")
	s := smtptest.Start(t, smtptest.Options{TLS: srvTLS})
	c := mxClient(t, port(t, s),
		map[string][]*net.MX{"dest.test": {{Host: "mx.dest.test", Pref: 10}}},
		map[string][]string{"mx.dest.test": {"127.0.0.1"}})
	res, err := c.SendMX(testCtx(t), "dest.test", env("a@dest.test"))
	if err != nil {
		t.Fatal(err)
	}
	want(t, res[0], "a@dest.test", Delivered, 250, "2.0.0")
	if m := s.WaitMessages(t, 1, 5*time.Second)[0]; !m.TLS {
		t.Error("opportunistic TLS not used")
	}
}

func TestCheck(t *testing.T) {
	srvTLS, pool := smtptest.SelfSigned(t)
	s := smtptest.Start(t, smtptest.Options{TLS: srvTLS, AuthUsers: map[string]string{"u": "p"}})
	c := testClient(t, func(cfg *Config) { cfg.RootCAs = pool })
	ctx := testCtx(t)
	rt := routeTo(t, s)
	rt.Username, rt.Password, rt.Encryption = "u", "p", EncryptionSTARTTLSRequired
	if err := c.Check(ctx, rt); err != nil {
		t.Fatalf("Check ok route: %v", err)
	}

	bad := rt
	bad.Password = "nope"
	err := c.Check(ctx, bad)
	var ce *CheckError
	if !errors.As(err, &ce) || ce.Stage != StageAuth || ce.Code != 535 || !strings.Contains(err.Error(), "535") {
		t.Fatalf("Check wrong password = %v", err)
	}

	err = c.Check(ctx, Route{Host: "127.0.0.1", Port: closedPort(t)})
	if !errors.As(err, &ce) || ce.Stage != StageConnect || ce.Code != 0 {
		t.Fatalf("Check closed port = %v", err)
	}

	untrusted := testClient(t, nil)
	err = untrusted.Check(ctx, rt)
	if !errors.As(err, &ce) || ce.Stage != StageTLS {
		t.Fatalf("Check untrusted certificate = %v", err)
	}

	s.Fail("HELO", "", &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "shutting down"}, 1)
	err = c.Check(ctx, rt)
	if !errors.As(err, &ce) || ce.Stage != StageEHLO || ce.Code != 421 || ce.Message != "shutting down" {
		t.Fatalf("Check EHLO refused = %v", err)
	}
	if len(s.Messages()) != 0 {
		t.Error("Check sent a message")
	}
	// Check never pools: every call was its own connection, and all are closed.
	deadline := time.Now().Add(3 * time.Second)
	for s.OpenConnections() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if s.OpenConnections() != 0 {
		t.Errorf("%d connections left open by Check", s.OpenConnections())
	}
}

func TestParseRelayURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Route
		bad  bool
	}{
		{in: "smtp://user%40example.com:p%3As%2Fs@relay.example.com:2525",
			want: Route{Host: "relay.example.com", Port: 2525, Username: "user@example.com", Password: "p:s/s", Encryption: EncryptionSTARTTLS}},
		{in: "smtp://relay.example.com", want: Route{Host: "relay.example.com", Port: 587, Encryption: EncryptionSTARTTLS}},
		{in: "smtps://u:p@relay.example.com", want: Route{Host: "relay.example.com", Port: 465, Username: "u", Password: "p", Encryption: EncryptionTLS}},
		{in: "SMTPS://u@[::1]:1465", want: Route{Host: "::1", Port: 1465, Username: "u", Encryption: EncryptionTLS}},
		{in: "smtp+insecure://u:p@relay.example.com", want: Route{Host: "relay.example.com", Port: 587, Username: "u", Password: "p",
			Encryption: EncryptionSTARTTLS, InsecureAuth: true}},
		{in: "http://relay.example.com", bad: true},
		{in: "smtp://", bad: true},
		{in: "smtp://relay.example.com:0", bad: true},
		{in: "smtp://relay.example.com:99999", bad: true},
		{in: "relay.example.com:25", bad: true},
	} {
		got, err := ParseRelayURL(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseRelayURL(%q) = %+v, want error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseRelayURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	if _, err := ParseRelayURL("smtp://user:sec ret@host\x7f"); err == nil || strings.Contains(err.Error(), "sec ret") {
		t.Errorf("error %v should not repeat the password", err)
	}
}

func TestParseEncryption(t *testing.T) {
	for in, want := range map[string]Encryption{
		"": EncryptionSTARTTLS, "STARTTLS": EncryptionSTARTTLS, "none": EncryptionNone,
		"ssl": EncryptionTLS, "tls": EncryptionTLS, "starttls-required": EncryptionSTARTTLSRequired,
	} {
		if got, err := ParseEncryption(in); err != nil || got != want {
			t.Errorf("ParseEncryption(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseEncryption("rot13"); err == nil {
		t.Error("ParseEncryption(rot13) accepted")
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"Try again later", 0, false},
		{"4.7.0 Try again later", 0, false},
		{"Please try again in 300 seconds", 300 * time.Second, true},
		{"Greylisted, please retry in 5 minutes", 5 * time.Minute, true},
		{"greylisted for 60s", time.Minute, true},
		{"Too many connections, retry after 2 hours", 2 * time.Hour, true},
		{"rate limited, try again in 10 mins", 10 * time.Minute, true},
		{"please wait 90 secs", 90 * time.Second, true},
		{"mailbox full for 3 recipients", 0, false},
		{"try again in 0 seconds", 0, false},
		{"", 0, false},
	} {
		got, ok := RetryAfter(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("RetryAfter(%q) = %v %v, want %v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// brokenTLS is a server TLS config without a certificate: STARTTLS is
// offered, every handshake fails.
func brokenTLS() *tls.Config { return &tls.Config{} }

// relayRoute is GATEWAY_DEFAULT_RELAY=scheme://u:secret-pw@<s> as main parses it.
func relayRoute(t *testing.T, scheme string, s *smtptest.Server) Route {
	t.Helper()
	rt, err := ParseRelayURL(scheme + "://u:secret-pw@" + s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// assertNoAuthOnWire fails when the credentials or an AUTH command crossed the wire in clear.
func assertNoAuthOnWire(t *testing.T, s *smtptest.Server) {
	t.Helper()
	wire := s.Wire()
	plain := base64.StdEncoding.EncodeToString([]byte("\x00u\x00secret-pw"))
	for _, bad := range []string{"AUTH", "secret-pw", plain, base64.StdEncoding.EncodeToString([]byte("secret-pw"))} {
		if bytes.Contains(bytes.ToUpper(wire), bytes.ToUpper([]byte(bad))) {
			t.Fatalf("%q crossed the wire in clear:\n%s", bad, wire)
		}
	}
}

// TestNoCleartextAuth (finding 6): GATEWAY_DEFAULT_RELAY=smtp://user:pass@host (and a Tenevo
// gateway with security null, the same opportunistic STARTTLS) to a server that does not offer
// STARTTLS but would take AUTH PLAIN in clear (as a STARTTLS-stripping attacker's would): no
// AUTH and no password on the wire, nothing delivered, every recipient deferred with the reason.
func TestNoCleartextAuth(t *testing.T) {
	for _, enc := range []Encryption{EncryptionSTARTTLS, EncryptionNone} {
		t.Run(string(enc), func(t *testing.T) {
			s := smtptest.Start(t, smtptest.Options{AuthUsers: map[string]string{"u": "secret-pw"}, AllowInsecureAuth: true})
			c := testClient(t, nil)
			rt := relayRoute(t, "smtp", s)
			rt.Encryption = enc
			res := send(t, c, rt, env("a@dest.test", "b@dest.test"))
			for i, to := range []string{"a@dest.test", "b@dest.test"} {
				want(t, res[i], to, Deferred, 0, "4.7.0")
				if !strings.Contains(res[i].Message, "credentials are only sent over TLS") {
					t.Errorf("deferral reason %q does not say why", res[i].Message)
				}
			}
			if s.Connections() == 0 || !bytes.Contains(s.Wire(), []byte("EHLO")) {
				t.Fatalf("the server was never talked to: %q", s.Wire())
			}
			assertNoAuthOnWire(t, s)
			if len(s.Messages()) != 0 {
				t.Error("a message was delivered without authentication")
			}
			err := c.Check(testCtx(t), rt)
			var ce *CheckError
			if !errors.As(err, &ce) || ce.Stage != StageTLS || !strings.Contains(ce.Public(), "credentials are only sent over TLS") {
				t.Fatalf("Check = %v", err)
			}
			assertNoAuthOnWire(t, s)
		})
	}
}

// TestAuthAfterSTARTTLS: with STARTTLS offered, smtp:// authenticates inside TLS only.
func TestAuthAfterSTARTTLS(t *testing.T) {
	srvTLS, pool := smtptest.SelfSigned(t)
	s := smtptest.Start(t, smtptest.Options{TLS: srvTLS, AuthUsers: map[string]string{"u": "secret-pw"}})
	c := testClient(t, func(cfg *Config) { cfg.RootCAs = pool })
	res := send(t, c, relayRoute(t, "smtp", s), env("a@dest.test"))
	want(t, res[0], "a@dest.test", Delivered, 250, "2.0.0")
	if m := s.WaitMessages(t, 1, 5*time.Second)[0]; !m.TLS || m.AuthUser != "u" {
		t.Fatalf("delivered with TLS %v as %q", m.TLS, m.AuthUser)
	}
	if !bytes.Contains(s.Wire(), []byte("STARTTLS")) {
		t.Fatal("no STARTTLS on the wire")
	}
	assertNoAuthOnWire(t, s)
}

// TestInsecureRelayAuthsInClear: smtp+insecure:// is the operator's explicit choice of clear
// text AUTH when the server offers no STARTTLS.
func TestInsecureRelayAuthsInClear(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{AuthUsers: map[string]string{"u": "secret-pw"}, AllowInsecureAuth: true})
	c := testClient(t, nil)
	res := send(t, c, relayRoute(t, "smtp+insecure", s), env("a@dest.test"))
	want(t, res[0], "a@dest.test", Delivered, 250, "2.0.0")
	if m := s.WaitMessages(t, 1, 5*time.Second)[0]; m.TLS || m.AuthUser != "u" || m.AuthPass != "secret-pw" {
		t.Fatalf("delivered with TLS %v as %q/%q", m.TLS, m.AuthUser, m.AuthPass)
	}
	if !bytes.Contains(s.Wire(), []byte("AUTH PLAIN")) {
		t.Fatalf("no AUTH PLAIN on the wire: %q", s.Wire())
	}
}

// TestTenantRouteRefusedAtConnect (finding 2): a Tenant route to any spelling of a loopback
// host (literal, a name resolving there) makes no connection: delivery defers with the reason
// and Check answers the connect stage with a fixed sentence; the operator's route (Tenant
// false) and GATEWAY_UPSTREAM_ALLOW_PRIVATE reach it.
func TestTenantRouteRefusedAtConnect(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	p := port(t, s)
	lookup := func(cfg *Config) {
		cfg.LookupHost = func(_ context.Context, h string) ([]string, error) {
			switch h {
			case "rebind.example", "localhost":
				return []string{"127.0.0.1"}, nil
			case "mapped.example":
				return []string{"::ffff:127.0.0.1"}, nil
			}
			return nil, &net.DNSError{Err: "no such host", Name: h, IsNotFound: true}
		}
	}
	c := testClient(t, lookup)
	for _, host := range []string{"127.0.0.1", "rebind.example", "localhost", "mapped.example", "[::ffff:127.0.0.1]"} {
		rt := Route{Host: host, Port: p, Tenant: true}
		res := send(t, c, rt, env("a@dest.test"))
		want(t, res[0], "a@dest.test", Deferred, 0, "4.4.4")
		if !strings.Contains(res[0].Message, "destination refused") {
			t.Errorf("%s: deferral reason %q", host, res[0].Message)
		}
		err := c.Check(testCtx(t), rt)
		var ce *CheckError
		if !errors.As(err, &ce) || ce.Stage != StageConnect {
			t.Fatalf("%s: Check = %v", host, err)
		}
		if pub := ce.Public(); strings.Contains(pub, "127.0.0.1") || strings.Contains(pub, "dial") || !strings.Contains(pub, "not allowed") {
			t.Errorf("%s: Public() = %q", host, pub)
		}
	}
	if n := s.Connections(); n != 0 {
		t.Fatalf("%d connections reached the loopback server", n)
	}
	send(t, c, Route{Host: "127.0.0.1", Port: p}, env("a@dest.test")) // the operator's own route
	allowed := testClient(t, func(cfg *Config) { lookup(cfg); cfg.UpstreamAllowPrivate = true })
	res := send(t, allowed, Route{Host: "rebind.example", Port: p, Tenant: true}, env("a@dest.test"))
	want(t, res[0], "a@dest.test", Delivered, 250, "2.0.0")
	if n := len(s.WaitMessages(t, 2, 5*time.Second)); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
}

// TestSendMXRefusesLocal (finding 9): a recipient domain whose MX (or, without MX, whose own
// address) is loopback bounces with the reason and no connection, unless MXAllowLocal.
func TestSendMXRefusesLocal(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	mx := map[string][]*net.MX{"dest.test": {{Host: "mx.dest.test.", Pref: 10}, {Host: "mx2.dest.test.", Pref: 20}}}
	hosts := map[string][]string{"mx.dest.test": {"127.0.0.1"}, "mx2.dest.test": {"::ffff:169.254.169.254"}, "plain.test": {"127.0.0.1"}}
	strict := mxClientLocal(t, port(t, s), mx, hosts, false)
	for _, domain := range []string{"dest.test", "plain.test"} {
		res, err := strict.SendMX(testCtx(t), domain, env("a@"+domain))
		if err != nil {
			t.Fatal(err)
		}
		want(t, res[0], "a@"+domain, Bounced, 0, "5.4.4")
		if !strings.Contains(res[0].Message, "destination refused") || !strings.Contains(res[0].Message, "local") {
			t.Errorf("%s: bounce reason %q", domain, res[0].Message)
		}
	}
	if n := s.Connections(); n != 0 {
		t.Fatalf("%d connections reached the loopback MX", n)
	}
	allowed := mxClient(t, port(t, s), mx, hosts)
	res, err := allowed.SendMX(testCtx(t), "dest.test", env("a@dest.test"))
	if err != nil {
		t.Fatal(err)
	}
	want(t, res[0], "a@dest.test", Delivered, 250, "2.0.0")
}
