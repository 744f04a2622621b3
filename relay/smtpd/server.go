// Package smtpd is gatewayd's SMTP submission server (the relay): go-smtp listeners with
// STARTTLS and implicit TLS, AUTH PLAIN and LOGIN against the domains' SMTP credentials,
// relaying without AUTH from a credential's AllowedNetworks, and the protocol-level policy
// (size, recipients, timeouts, bare line endings, connection, message and AUTH failure
// limits).
//
// It owns the SMTP conversation only. Who may send what, and the acceptance of a message,
// belong to a Backend the caller hands in (app wires gatewayd's acceptance path into it, as
// go-smtp's own Backend is wired), so the data flows edge -> acceptance -> storage and this
// package depends on neither. Every error a session sees goes through one mapper (reply) so
// internal text never reaches a client. It must not touch storage or SQL.
package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"gatewayd/internal/throttle"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"gatewayd/config"
	"gatewayd/dispatcher"
)

// Backend is what the server needs from the rest of gatewayd: credential checks, the
// envelope policy and the one acceptance path. A refusal the client should see is a *Reply
// (or wraps one); any other error is answered with a generic temporary failure and logged.
type Backend interface {
	// Login checks AUTH credentials; ErrAuthFailed when they are wrong.
	Login(ctx context.Context, username, password string) (Sender, error)
	// NetworkSenders lists the senders a client at ip may relay for without AUTH.
	NetworkSenders(ctx context.Context, ip net.IP) ([]Sender, error)
	// Mail picks and checks the sender of a transaction from its MAIL FROM address, among
	// the candidates (the authenticated sender, or the client address's). fresh says the
	// candidates were loaded by this connection's Login or NetworkSenders and no transaction
	// has used them yet: the backend need not read them again. A later transaction on the
	// same connection passes false, so a change to the sender is seen at the next MAIL.
	Mail(ctx context.Context, candidates []Sender, from string, fresh bool) (Sender, error)
	// Rcpt checks one recipient.
	Rcpt(ctx context.Context, s Sender, to string) error
	// Accept commits a message and returns its queue id; once it returns nil the message is
	// queued. Every recipient of m was accepted by Rcpt in the same transaction.
	Accept(ctx context.Context, m *Message) (queueID string, err error)
}

// Sender is who a client sends as. The server only needs the credential's id (the unit of
// the per-credential connection and message limits) and the domain's name (for its log);
// the rest belongs to the backend.
type Sender interface {
	CredentialID() int64
	DomainName() string
}

// Message is a received message with its envelope.
type Message struct {
	Sender   Sender
	MailFrom string   // envelope sender
	Rcpts    []string // envelope recipients, as accepted at RCPT
	Raw      []byte   // the DATA, CRLF line endings, dot-unstuffed
	Trace    string   // the Received header to put on top, CRLF-terminated
}

// ErrAuthFailed is the backend's answer to wrong AUTH credentials ("535 5.7.8", counted
// towards the client address's failure limit).
var ErrAuthFailed = errors.New("smtpd: authentication failed")

// Reply is a refusal and the SMTP reply the client gets for it.
type Reply struct {
	Code     int
	Enhanced [3]int
	Text     string
}

func (r *Reply) Error() string {
	return fmt.Sprintf("%d %d.%d.%d %s", r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2], r.Text)
}

// Options are the server's settings; OptionsFromConfig fills them from the configuration.
type Options struct {
	Hostname        string      // banner and EHLO name
	TLS             *tls.Config // STARTTLS and implicit TLS; nil offers neither
	InsecureAuth    bool        // offer AUTH without TLS
	MaxMessageBytes int64       // SIZE, enforced while reading DATA
	MaxRecipients   int         // per message
	MaxLineLength   int         // bytes per line, commands and DATA (go-smtp's default 2000)
	MaxConns        int         // concurrent connections per client IP, and per credential
	MessageRate     config.RateLimit
	AuthFailures    int           // failed AUTH attempts per client IP within AuthWindow before 421
	AuthWindow      time.Duration // window of AuthFailures
	ReadTimeout     time.Duration // waiting for a command, or for more DATA
	WriteTimeout    time.Duration
	OpTimeout       time.Duration // a credential check or an acceptance
	Log             *slog.Logger
}

// OptionsFromConfig reads the relay's settings from cfg (loading or making the TLS certificate).
func OptionsFromConfig(cfg *config.Config, log *slog.Logger) (Options, error) {
	tc, err := LoadTLS(cfg)
	if err != nil {
		return Options{}, err
	}
	return Options{
		Hostname: cfg.Hostname, TLS: tc, InsecureAuth: cfg.SMTPInsecureAuth,
		MaxMessageBytes: cfg.SMTPMaxSize, MaxRecipients: cfg.SMTPMaxRcpts, MaxConns: cfg.SMTPMaxConns,
		MessageRate: cfg.SMTPRateLimit, Log: log,
	}, nil
}

func (o *Options) defaults() {
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 25 << 20
	}
	if o.MaxRecipients <= 0 {
		o.MaxRecipients = 100
	}
	if o.MaxLineLength <= 0 {
		o.MaxLineLength = 2000
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 50
	}
	if o.AuthFailures <= 0 {
		o.AuthFailures = 5
	}
	if o.AuthWindow <= 0 {
		o.AuthWindow = time.Minute
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 5 * time.Minute
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 2 * time.Minute
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = time.Minute
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
}

// Server is the submission server: one go-smtp server behind any number of listeners.
type Server struct {
	backend Backend
	opts    Options
	smtp    *smtp.Server
	log     *slog.Logger

	ipConns   *counter
	credConns *counter
	ipRate    *dispatcher.Limiter
	credRate  *dispatcher.Limiter
	authFails *throttle.Failures

	closing   atomic.Bool
	mu        sync.Mutex
	conns     map[*trackedConn]struct{}
	listeners []*listener
	serving   sync.WaitGroup
}

// New returns a server that answers with backend.
func New(backend Backend, opts Options) *Server {
	opts.defaults()
	s := &Server{
		backend: backend, opts: opts, log: opts.Log,
		ipConns: newCounter(), credConns: newCounter(), authFails: throttle.New(opts.AuthFailures, opts.AuthWindow),
		conns: map[*trackedConn]struct{}{},
	}
	if !opts.MessageRate.Off && opts.MessageRate.N > 0 {
		s.ipRate = dispatcher.NewLimiter(opts.MessageRate.N, opts.MessageRate.Per)
		s.credRate = dispatcher.NewLimiter(opts.MessageRate.N, opts.MessageRate.Per)
	}
	srv := smtp.NewServer(smtpBackend{s})
	srv.Domain = opts.Hostname
	srv.TLSConfig = opts.TLS
	srv.AllowInsecureAuth = opts.InsecureAuth
	srv.MaxMessageBytes = opts.MaxMessageBytes
	srv.MaxRecipients = opts.MaxRecipients
	srv.MaxLineLength = opts.MaxLineLength
	srv.ReadTimeout = opts.ReadTimeout
	srv.WriteTimeout = opts.WriteTimeout
	srv.ErrorLog = slogPrinter{opts.Log}
	s.smtp = srv
	return s
}

// Listen binds every listener of cfg (GATEWAY_SMTP_ADDR with STARTTLS, GATEWAY_SMTP_TLS_ADDR
// with implicit TLS) for backend; Start serves them.
func Listen(cfg *config.Config, backend Backend, log *slog.Logger) (*Server, error) {
	opts, err := OptionsFromConfig(cfg, log)
	if err != nil {
		return nil, err
	}
	s := New(backend, opts)
	for _, set := range []struct {
		addrs    []string
		implicit bool
	}{{cfg.SMTPAddrs, false}, {cfg.SMTPTLSAddrs, true}} {
		for _, addr := range set.addrs {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				s.closeListeners()
				return nil, fmt.Errorf("smtp listen %s: %w", addr, err)
			}
			s.listeners = append(s.listeners, &listener{Listener: ln, srv: s, implicitTLS: set.implicit})
		}
	}
	return s, nil
}

// Addrs lists the bound addresses: the STARTTLS listeners first, then the implicit-TLS ones.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, 0, len(s.listeners))
	for _, l := range s.listeners {
		out = append(out, l.Addr())
	}
	return out
}

// Start serves every bound listener in the background.
func (s *Server) Start() {
	for _, l := range s.listeners {
		l := l
		s.serving.Add(1)
		go func() {
			defer s.serving.Done()
			s.log.Info("smtp listening", "addr", l.Addr().String(), "implicit_tls", l.implicitTLS)
			if err := s.smtp.Serve(l); err != nil && !errors.Is(err, net.ErrClosed) {
				s.log.Error("smtp serve", "addr", l.Addr().String(), "err", err)
			}
		}()
	}
}

// Serve answers connections on ln (STARTTLS offered when TLS is set) until the server stops.
func (s *Server) Serve(ln net.Listener) error {
	return s.smtp.Serve(&listener{Listener: ln, srv: s})
}

// ServeTLS answers implicit-TLS connections on ln.
func (s *Server) ServeTLS(ln net.Listener) error {
	if s.opts.TLS == nil {
		return errors.New("smtpd: implicit TLS needs a certificate")
	}
	return s.smtp.Serve(&listener{Listener: ln, srv: s, implicitTLS: true})
}

// Shutdown stops accepting connections, lets transactions in flight finish (a session is told
// "421 4.3.2" and closed as soon as it is between messages), and returns when every
// connection is gone, or closes what is left when ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.closeListeners()
	done := make(chan error, 1)
	go func() { done <- s.smtp.Shutdown(ctx) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.closeIdle()
		select {
		case err := <-done:
			// The listeners were closed above: go-smtp closing them again is no failure.
			if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
				err = nil
			}
			if err != nil {
				s.closeAll()
			}
			s.serving.Wait()
			return err
		case <-tick.C:
		}
	}
}

// Close closes every listener and connection at once.
func (s *Server) Close() error {
	s.closing.Store(true)
	err := s.smtp.Close()
	s.closeAll()
	s.serving.Wait()
	if errors.Is(err, smtp.ErrServerClosed) {
		err = nil
	}
	return err
}

func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		l.Close()
	}
}

// closeIdle says goodbye to connections that are not inside a transaction.
func (s *Server) closeIdle() {
	s.mu.Lock()
	var idle []*trackedConn
	for c := range s.conns {
		if !c.busy.Load() {
			idle = append(idle, c)
		}
	}
	s.mu.Unlock()
	for _, c := range idle {
		c.goodbye(s.opts.Hostname)
	}
}

func (s *Server) closeAll() {
	s.mu.Lock()
	all := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		all = append(all, c)
	}
	s.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
}

func (s *Server) track(c *trackedConn) {
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
}

func (s *Server) untrack(c *trackedConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// slogPrinter takes go-smtp's internal log lines (handshake failures and the like).
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(format string, v ...any) {
	p.log.Debug("smtp", "msg", fmt.Sprintf(format, v...))
}

func (p slogPrinter) Println(v ...any) { p.log.Debug("smtp", "msg", fmt.Sprint(v...)) }
