// Package smtptest is a fake SMTP server for tests of outbound delivery: it
// listens on 127.0.0.1 with an ephemeral port, records every message it
// accepts, and answers chosen stages (connect, HELO, AUTH, MAIL, RCPT, DATA)
// with injected errors. It can offer STARTTLS or speak implicit TLS with a
// throwaway self-signed certificate, require AUTH, and count connections so
// tests can see pooling and concurrency limits from the server side.
//
// It is test support only: production code must not import it, and it never
// listens on anything but loopback.
package smtptest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message the server accepted.
type Message struct {
	From     string
	To       []string
	Data     []byte // as received, dot-stuffing removed, CRLF line ends kept
	AuthUser string
	AuthPass string
	Helo     string // the EHLO/HELO name of the session that sent it
	TLS      bool   // the session was encrypted (implicit TLS or STARTTLS)
}

// Options configure a Server.
type Options struct {
	// TLS, when set, makes the server offer STARTTLS (or, with Implicit,
	// speak TLS from the first byte).
	TLS      *tls.Config
	Implicit bool
	// AuthUsers, when non-nil, makes the server offer AUTH PLAIN and LOGIN
	// and require it before MAIL. A wrong password is answered 535 5.7.8.
	AuthUsers map[string]string
	// AllowInsecureAuth offers AUTH on a connection that is not encrypted.
	AllowInsecureAuth bool
	// Latency delays every DATA answer, to hold connections busy in
	// concurrency tests.
	Latency time.Duration
}

// Stages accepted by Server.Fail.
const (
	StageConnect = "CONNECT" // the greeting: the server answers err and hangs up
	StageHelo    = "HELO"    // EHLO/HELO
	StageAuth    = "AUTH"
	StageMail    = "MAIL"
	StageRcpt    = "RCPT"
	StageData    = "DATA" // after the body has been read
)

// Server is a running fake SMTP server.
type Server struct {
	Addr string // 127.0.0.1:port

	opts Options
	srv  *smtp.Server

	mu       sync.Mutex
	messages []Message
	failures []*failure
	changed  chan struct{} // closed and replaced whenever messages change
	accepted int
	open     int
	peak     int
	wire     []byte // every byte clients sent, as an on-path observer sees them
}

type failure struct {
	stage string
	addr  string
	err   *smtp.SMTPError
	left  int // -1 = forever
}

// Start runs a server on 127.0.0.1:0 until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Implicit && opts.TLS == nil {
		t.Fatal("smtptest: Implicit needs a TLS config")
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s := &Server{Addr: tcp.Addr().String(), opts: opts, changed: make(chan struct{})}

	var l net.Listener = &countingListener{Listener: tcp, s: s}
	if opts.Implicit {
		l = tls.NewListener(l, opts.TLS)
	}
	l = &gateListener{Listener: l, s: s}

	srv := smtp.NewServer(&backend{s: s})
	srv.Domain = "smtptest.localhost"
	srv.TLSConfig = opts.TLS
	srv.AllowInsecureAuth = opts.AllowInsecureAuth
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 32 << 20
	srv.ErrorLog = log.New(io.Discard, "", 0)
	s.srv = srv

	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = l.Close() // in case Serve had not registered it yet
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	})
	return s
}

// Messages returns copies of the accepted messages, in arrival order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.copyMessages()
}

func (s *Server) copyMessages() []Message {
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		m.To = append([]string(nil), m.To...)
		m.Data = append([]byte(nil), m.Data...)
		out[i] = m
	}
	return out
}

// WaitMessages waits until at least n messages arrived and returns them; the
// test fails if that takes longer than timeout.
func (s *Server) WaitMessages(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		if len(s.messages) >= n {
			out := s.copyMessages()
			s.mu.Unlock()
			return out
		}
		changed, have := s.changed, len(s.messages)
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("smtptest: got %d messages, want %d within %v", have, n, timeout)
			return nil
		}
	}
}

// Fail makes stage answer with err, n times (-1 = until Reset). For MAIL, a
// non-empty addr restricts the failure to that sender; for RCPT, to that
// recipient. For CONNECT the server sends err instead of its greeting and
// closes the connection. Failures are matched in the order they were added.
func (s *Server) Fail(stage string, addr string, err *smtp.SMTPError, n int) {
	stage = strings.ToUpper(stage)
	switch stage {
	case StageConnect, StageHelo, StageAuth, StageMail, StageRcpt, StageData:
	default:
		panic(fmt.Sprintf("smtptest: unknown stage %q", stage))
	}
	if err == nil || n == 0 {
		return
	}
	if n < 0 {
		n = -1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, &failure{stage: stage, addr: addr, err: err, left: n})
}

// Reset clears injected failures and recorded messages.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = nil
	s.messages = nil
	close(s.changed)
	s.changed = make(chan struct{})
}

// Connections is the number of TCP connections accepted so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// OpenConnections is the number of connections open right now.
func (s *Server) OpenConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

// PeakConnections is the largest number of connections that were open at
// the same time.
func (s *Server) PeakConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// Wire is every byte clients have sent so far, below any TLS layer: what an
// on-path observer sees (commands in clear text, ciphertext after STARTTLS).
func (s *Server) Wire() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.wire...)
}

// injected returns the error to answer at stage for addr, if any.
func (s *Server) injected(stage, addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.failures {
		if f.stage != stage || f.left == 0 {
			continue
		}
		if f.addr != "" && !strings.EqualFold(f.addr, addr) {
			continue
		}
		if f.left > 0 {
			f.left--
		}
		e := *f.err
		return &e
	}
	return nil
}

func (s *Server) record(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

// countingListener counts raw TCP connections, below any TLS layer.
type countingListener struct {
	net.Listener
	s *Server
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.mu.Lock()
	l.s.accepted++
	l.s.open++
	if l.s.open > l.s.peak {
		l.s.peak = l.s.open
	}
	l.s.mu.Unlock()
	return &countedConn{Conn: c, s: l.s}, nil
}

type countedConn struct {
	net.Conn
	s    *Server
	once sync.Once
}

// Read records what the client sent (Server.Wire), capped at 1 MiB.
func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.s.mu.Lock()
		if len(c.s.wire) < 1<<20 {
			c.s.wire = append(c.s.wire, p[:n]...)
		}
		c.s.mu.Unlock()
	}
	return n, err
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		c.s.open--
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

// gateListener answers connections with an injected CONNECT failure itself
// and hands the others to the SMTP server untouched (so a *tls.Conn stays
// one).
type gateListener struct {
	net.Listener
	s *Server
}

func (l *gateListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ferr := l.s.injected(StageConnect, "")
		if ferr == nil {
			return c, nil
		}
		go func() {
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(c, replyLine(ferr.(*smtp.SMTPError)))
			_ = c.Close()
		}()
	}
}

func replyLine(e *smtp.SMTPError) string {
	ec := e.EnhancedCode
	if ec == smtp.EnhancedCodeNotSet {
		ec = smtp.EnhancedCode{e.Code / 100, 0, 0}
	}
	if ec == smtp.NoEnhancedCode {
		return fmt.Sprintf("%d %s\r\n", e.Code, e.Message)
	}
	return fmt.Sprintf("%d %d.%d.%d %s\r\n", e.Code, ec[0], ec[1], ec[2], e.Message)
}

type backend struct{ s *Server }

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	if err := b.s.injected(StageHelo, ""); err != nil {
		return nil, err
	}
	return &session{s: b.s, conn: c}, nil
}

var errAuthRequired = &smtp.SMTPError{
	Code:         530,
	EnhancedCode: smtp.EnhancedCode{5, 7, 0},
	Message:      "Authentication required",
}

// session implements smtp.Session and smtp.AuthSession.
type session struct {
	s        *Server
	conn     *smtp.Conn
	authed   bool
	authUser string
	authPass string
	from     string
	to       []string
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.AuthUsers == nil {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if ss.s.opts.AuthUsers == nil {
		return nil, smtp.ErrAuthUnsupported
	}
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error {
			return ss.checkAuth(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{check: ss.checkAuth}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *session) checkAuth(user, pass string) error {
	if err := ss.s.injected(StageAuth, user); err != nil {
		return err
	}
	want, ok := ss.s.opts.AuthUsers[user]
	if !ok || want != pass {
		return smtp.ErrAuthFailed
	}
	ss.authed, ss.authUser, ss.authPass = true, user, pass
	return nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.AuthUsers != nil && !ss.authed {
		return errAuthRequired
	}
	if err := ss.s.injected(StageMail, from); err != nil {
		return err
	}
	ss.from, ss.to = from, nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := ss.s.injected(StageRcpt, to); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if d := ss.s.opts.Latency; d > 0 {
		time.Sleep(d)
	}
	if err := ss.s.injected(StageData, ""); err != nil {
		return err
	}
	_, isTLS := ss.conn.TLSConnectionState()
	ss.s.record(Message{
		From:     ss.from,
		To:       append([]string(nil), ss.to...),
		Data:     b,
		AuthUser: ss.authUser,
		AuthPass: ss.authPass,
		Helo:     ss.conn.Hostname(),
		TLS:      isTLS,
	})
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// loginServer is the server side of the LOGIN mechanism, which go-sasl only
// implements as a client: "Username:" and "Password:" challenges, the first
// one skipped when the client sent the user name as initial response.
type loginServer struct {
	check    func(user, pass string) error
	user     string
	haveUser bool
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch {
	case !l.haveUser && resp == nil:
		return []byte("Username:"), false, nil
	case !l.haveUser:
		l.user, l.haveUser = string(resp), true
		return []byte("Password:"), false, nil
	case resp == nil:
		return nil, false, errors.New("smtptest: LOGIN: missing password")
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}
