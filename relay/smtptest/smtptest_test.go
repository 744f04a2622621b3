package smtptest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

const body = "Subject: t\r\n\r\n.starts with a dot\r\n..two\r\n.\r\nend\r\n"

func send(t *testing.T, c *smtp.Client, from string, to ...string) error {
	t.Helper()
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return err
	}
	return w.Close()
}

func dial(t *testing.T, s *Server) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c.CommandTimeout = 5 * time.Second
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRecordsMessage(t *testing.T) {
	s := Start(t, Options{})
	c := dial(t, s)
	if err := send(t, c, "a@x.test", "b@y.test", "c@y.test"); err != nil {
		t.Fatal(err)
	}
	msgs := s.WaitMessages(t, 1, 5*time.Second)
	m := msgs[0]
	if m.From != "a@x.test" || strings.Join(m.To, ",") != "b@y.test,c@y.test" || m.Helo != "client.test" || m.TLS {
		t.Fatalf("message = %+v", m)
	}
	if string(m.Data) != body {
		t.Fatalf("data = %q, want %q", m.Data, body)
	}
	// Messages hands out copies.
	msgs[0].Data[0] = 'X'
	if string(s.Messages()[0].Data) != body {
		t.Fatal("Messages shares its buffers")
	}
	if s.Connections() != 1 {
		t.Fatalf("Connections = %d, want 1", s.Connections())
	}
	s.Reset()
	if len(s.Messages()) != 0 {
		t.Fatal("Reset kept messages")
	}
}

func TestFailCountsAndAddresses(t *testing.T) {
	s := Start(t, Options{})
	s.Fail("RCPT", "bad@y.test", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, 1)
	s.Fail("DATA", "", &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "too big"}, 1)
	c := dial(t, s)

	if err := c.Mail("a@x.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("good@y.test", nil); err != nil {
		t.Fatalf("good recipient refused: %v", err)
	}
	var se *smtp.SMTPError
	if err := c.Rcpt("bad@y.test", nil); !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) {
		t.Fatalf("RCPT bad = %v, want 550 5.1.1", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(body))
	if err := w.Close(); !errors.As(err, &se) || se.Code != 552 {
		t.Fatalf("DATA = %v, want 552", err)
	}
	if len(s.Messages()) != 0 {
		t.Fatal("a refused message was recorded")
	}
	// Both failures were used up.
	if err := send(t, c, "a@x.test", "bad@y.test"); err != nil {
		t.Fatalf("second transaction: %v", err)
	}
	s.WaitMessages(t, 1, 5*time.Second)
}

func TestFailConnectAndHelo(t *testing.T) {
	s := Start(t, Options{})
	s.Fail("CONNECT", "", &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "not now"}, 1)
	s.Fail("HELO", "", &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "slow down"}, 1)

	nc, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(nc).ReadString('\n')
	nc.Close()
	if err != nil || line != "421 4.3.2 not now\r\n" {
		t.Fatalf("greeting = %q, %v", line, err)
	}

	c, err := smtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var se *smtp.SMTPError
	if err := c.Hello("client.test"); !errors.As(err, &se) || se.Code != 450 {
		t.Fatalf("EHLO = %v, want 450", err)
	}
	if s.Connections() != 2 {
		t.Fatalf("Connections = %d, want 2", s.Connections())
	}
}

func TestAuth(t *testing.T) {
	s := Start(t, Options{AuthUsers: map[string]string{"u": "p"}, AllowInsecureAuth: true})
	for _, tc := range []struct {
		name string
		mech sasl.Client
		ok   bool
	}{
		{"plain", sasl.NewPlainClient("", "u", "p"), true},
		{"login", sasl.NewLoginClient("u", "p"), true},
		{"wrong password", sasl.NewPlainClient("", "u", "x"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.Reset()
			c := dial(t, s)
			err := c.Auth(tc.mech)
			if !tc.ok {
				var se *smtp.SMTPError
				if !errors.As(err, &se) || se.Code != 535 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 8}) {
					t.Fatalf("AUTH = %v, want 535 5.7.8", err)
				}
				if err := c.Mail("a@x.test", nil); !errors.As(err, &se) || se.Code != 530 {
					t.Fatalf("MAIL without AUTH = %v, want 530", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := send(t, c, "a@x.test", "b@y.test"); err != nil {
				t.Fatal(err)
			}
			m := s.WaitMessages(t, 1, 5*time.Second)[0]
			if m.AuthUser != "u" || m.AuthPass != "p" {
				t.Fatalf("auth seen = %q/%q", m.AuthUser, m.AuthPass)
			}
		})
	}
}

func TestSTARTTLS(t *testing.T) {
	srvTLS, pool := SelfSigned(t)
	s := Start(t, Options{TLS: srvTLS, AuthUsers: map[string]string{"u": "p"}})
	c := dial(t, s)
	if ok, _ := c.Extension("AUTH"); ok {
		t.Fatal("AUTH offered before TLS without AllowInsecureAuth")
	}
	c.Close()

	c, err := smtp.DialStartTLS(s.Addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "u", "p")); err != nil {
		t.Fatal(err)
	}
	if err := send(t, c, "a@x.test", "b@y.test"); err != nil {
		t.Fatal(err)
	}
	if m := s.WaitMessages(t, 1, 5*time.Second)[0]; !m.TLS || m.AuthUser != "u" {
		t.Fatalf("message = %+v, want TLS and user u", m)
	}
}

func TestImplicitTLS(t *testing.T) {
	srvTLS, pool := SelfSigned(t)
	s := Start(t, Options{TLS: srvTLS, Implicit: true})
	c, err := smtp.DialTLS(s.Addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := send(t, c, "a@x.test", "b@y.test"); err != nil {
		t.Fatal(err)
	}
	if m := s.WaitMessages(t, 1, 5*time.Second)[0]; !m.TLS {
		t.Fatal("message not marked TLS")
	}
	// A client that does not trust the certificate fails the handshake.
	if c2, err := smtp.DialTLS(s.Addr, &tls.Config{}); err == nil {
		c2.Close()
		t.Fatal("untrusted certificate accepted")
	}
}

func TestConnectionCounts(t *testing.T) {
	s := Start(t, Options{})
	a, b := dial(t, s), dial(t, s)
	deadline := time.Now().Add(5 * time.Second)
	for s.OpenConnections() != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s.OpenConnections() != 2 || s.PeakConnections() != 2 {
		t.Fatalf("open=%d peak=%d, want 2 and 2", s.OpenConnections(), s.PeakConnections())
	}
	a.Quit()
	b.Quit()
	for s.OpenConnections() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s.OpenConnections() != 0 || s.PeakConnections() != 2 || s.Connections() != 2 {
		t.Fatalf("open=%d peak=%d total=%d, want 0, 2, 2", s.OpenConnections(), s.PeakConnections(), s.Connections())
	}
}
