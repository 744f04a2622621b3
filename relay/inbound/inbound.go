// Package inbound is gatewayd's MX listener for returned mail: it accepts messages for the
// VERP return-path addresses the delivery engine sends from (bounce+<token>@bounces.<domain>)
// and nothing else, reads them as delivery status notifications (RFC 3464) or abuse reports
// (RFC 5965) with relay/bounce, and records what they say about the recipient the token
// names: bounced (hard bounces suppress the address), deferred (a remote delay notice) or
// complained (the address is suppressed).
//
// It does not relay or store mail, and it writes only through storage.
package inbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"gatewayd/internal/metrics"
	"gatewayd/relay/bounce"
	"gatewayd/storage"
)

// Config configures the listener.
type Config struct {
	Addr     string      // GATEWAY_MX_ADDR
	Hostname string      // the greeting name (GATEWAY_HOSTNAME)
	TLS      *tls.Config // when set, STARTTLS is offered
	MaxBytes int64       // largest message accepted (default 30 MiB)
	VERPKey  []byte      // the delivery engine's VERP key
}

// Unsubscriber handles the mailto: form of List-Unsubscribe: mail to
// unsubscribe+<token>@<return-path domain>.
type Unsubscriber interface {
	// ValidUnsubscribeToken reports whether token is a genuine unsubscribe token.
	ValidUnsubscribeToken(token string) bool
	// UnsubscribeToken records the unsubscription (event and suppression).
	UnsubscribeToken(ctx context.Context, token string) error
}

// Server is a running MX listener.
type Server struct {
	DB      *storage.DB
	Metrics *metrics.Metrics // nil: not reported
	Log     *slog.Logger
	// Unsubscribe, when set, accepts unsubscribe+<token>@ addresses; otherwise they are
	// refused like any unknown mailbox.
	Unsubscribe Unsubscriber

	cfg Config
	srv *smtp.Server

	mu    sync.Mutex
	ln    net.Listener
	done  chan struct{}
	conns map[*smtp.Conn]struct{}
}

// New returns a listener; Start binds it.
func New(db *storage.DB, cfg Config, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 30 << 20
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "localhost"
	}
	s := &Server{DB: db, Log: log, cfg: cfg, conns: map[*smtp.Conn]struct{}{}}
	srv := smtp.NewServer(s)
	srv.Domain = cfg.Hostname
	srv.TLSConfig = cfg.TLS
	srv.MaxMessageBytes = cfg.MaxBytes
	srv.MaxRecipients = 50
	srv.ReadTimeout = 2 * time.Minute
	srv.WriteTimeout = 2 * time.Minute
	srv.ErrorLog = slogLogger{log}
	s.srv = srv
	return s
}

// Start listens on cfg.Addr and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("mx listen: %w", err)
	}
	s.mu.Lock()
	s.ln = ln
	s.done = make(chan struct{})
	s.mu.Unlock()
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			s.Log.Error("mx serve", "err", err)
		}
	}()
	s.Log.Info("mx listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the address the listener is bound to ("" before Start).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops accepting and waits (until ctx ends) for the sessions in progress.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		// Sessions still open when ctx ended are cut.
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	}
	<-done
	return err
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return &session{s: s, conn: c}, nil
}

type session struct {
	s            *Server
	conn         *smtp.Conn
	targets      []target
	unsubscribes []string // tokens of unsubscribe+ recipients
}

// target is one accepted RCPT: a recipient row we sent to.
type target struct {
	row *storage.Recipient
}

var (
	errNoSuchUser = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	errTemporary  = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem, try again later"}
)

func (ss *session) Reset() { ss.targets, ss.unsubscribes = nil, nil }
func (ss *session) Logout() error {
	ss.s.mu.Lock()
	delete(ss.s.conns, ss.conn)
	ss.s.mu.Unlock()
	return nil
}

// Mail accepts any sender: DSNs come from the null sender, complaints from anyone.
func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.targets, ss.unsubscribes = nil, nil
	return nil
}

// unsubscribeToken returns the token of an unsubscribe+<token>@<domain> address whose
// domain is a return-path domain (bounces.<name>).
func unsubscribeToken(addr string) (string, bool) {
	local, domain, ok := strings.Cut(strings.Trim(strings.TrimSpace(addr), "<>"), "@")
	if !ok || !strings.HasPrefix(strings.ToLower(local), "unsubscribe+") || !strings.HasPrefix(strings.ToLower(domain), "bounces.") {
		return "", false
	}
	return local[len("unsubscribe+"):], true
}

// Rcpt accepts a valid VERP address of a recipient row whose sender domain's return-path
// domain is the address's domain, and refuses everything else with 550 5.1.1.
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if tok, ok := unsubscribeToken(to); ok && ss.s.Unsubscribe != nil {
		if !ss.s.Unsubscribe.ValidUnsubscribeToken(tok) {
			return errNoSuchUser
		}
		ss.unsubscribes = append(ss.unsubscribes, tok)
		return nil
	}
	id, domain, ok := bounce.ParseVERP(ss.s.cfg.VERPKey, to)
	if !ok {
		return errNoSuchUser
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	row, err := ss.s.DB.RecipientByID(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return errNoSuchUser
	}
	if err != nil {
		ss.s.Log.Error("mx: recipient lookup", "err", err)
		return errTemporary
	}
	d, err := ss.s.DB.DomainByID(ctx, row.DomainID, 0)
	if errors.Is(err, storage.ErrNotFound) {
		return errNoSuchUser
	}
	if err != nil {
		ss.s.Log.Error("mx: domain lookup", "err", err)
		return errTemporary
	}
	if !strings.EqualFold(domain, d.ReturnPathDomain()) {
		return errNoSuchUser
	}
	ss.targets = append(ss.targets, target{row: row})
	return nil
}

// Data reads the returned message and records what it says for each accepted recipient.
func (ss *session) Data(r io.Reader) error {
	rep, perr := bounce.Parse(r)
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err // too large or a broken connection: go-smtp answers
	}
	if perr != nil {
		rep = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tok := range ss.unsubscribes {
		if err := ss.s.Unsubscribe.UnsubscribeToken(ctx, tok); err != nil {
			ss.s.Log.Error("mx: unsubscribe", "err", err)
			return errTemporary
		}
		ss.s.Log.Info("mx: unsubscribed by mail")
	}
	for _, t := range ss.targets {
		ir, kind, ok := Interpret(rep, t.row)
		if !ok {
			ss.s.Log.Info("mx: returned message with nothing to record", "recipient", t.row.ID)
			continue
		}
		recorded, err := ss.s.DB.RecordInbound(ctx, ir)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			ss.s.Log.Error("mx: record", "recipient", t.row.ID, "err", err)
			return errTemporary
		}
		if recorded && ss.s.Metrics != nil {
			ss.s.Metrics.Inbound.WithLabelValues(kind).Inc()
		}
		ss.s.Log.Info("mx: returned message", "recipient", t.row.ID, "kind", kind, "type", ir.Type, "recorded", recorded)
	}
	return nil
}

// Interpret decides what a parsed returned message (nil when it could not be parsed) says
// about one recipient row. ok is false when there is nothing to record (a positive DSN, or a
// DSN that only reports success for this recipient).
//
//   - A complaint (ARF) is a complained event and suppresses the address.
//   - A DSN: the per-recipient block for this address (or, when none names it, the first
//     block that failed or was delayed: the VERP address already tells whose message it is)
//     decides: failed -> bounced, hard (5.1.x no such user/domain, 5.2.1) suppressing the
//     address; delayed -> deferred.
//   - Anything else that came back to a VERP address (a plain-text bounce, a malformed
//     report) is a bounce of that recipient, not a hard one.
func Interpret(rep *bounce.Report, row *storage.Recipient) (ir storage.InboundReport, kind string, ok bool) {
	ir.RecipientID = row.ID
	if rep == nil {
		ir.Type, ir.Details = storage.EventBounced, "returned message that could not be parsed"
		return ir, "unknown", true
	}
	switch rep.Kind {
	case bounce.Complaint:
		ir.Type, ir.Suppress = storage.EventComplained, storage.SuppressComplaint
		ft := rep.FeedbackType
		if ft == "" {
			ft = "abuse"
		}
		ir.Details = "complaint: " + ft
		if rep.UserAgent != "" {
			ir.Details += " (" + rep.UserAgent + ")"
		}
		return ir, "complaint", true
	case bounce.Bounce, bounce.Delay:
		rs, found := pick(rep.Recipients, row.Email)
		if !found {
			if rep.Kind == bounce.Delay {
				ir.Type, ir.Details = storage.EventDeferred, "delivery delayed"
				return ir, "delay", true
			}
			ir.Type, ir.Details = storage.EventBounced, "delivery failed"
			return ir, "bounce", true
		}
		ir.Code, ir.Details = statusCode(rs), statusText(rs)
		switch rs.Action {
		case "failed":
			ir.Type = storage.EventBounced
			if rs.Hard {
				ir.Suppress = storage.SuppressHardBounce
			}
			return ir, "bounce", true
		case "delayed":
			ir.Type = storage.EventDeferred
			return ir, "delay", true
		}
		return ir, "", false
	}
	if len(rep.Recipients) > 0 {
		return ir, "", false // a positive DSN: every recipient succeeded
	}
	ir.Type, ir.Details = storage.EventBounced, "returned message without a delivery status report"
	return ir, "unknown", true
}

// pick finds the status block for email, else the first failed or delayed one.
func pick(rs []bounce.RecipientStatus, email string) (bounce.RecipientStatus, bool) {
	for _, r := range rs {
		if strings.EqualFold(r.Recipient, email) {
			return r, true
		}
	}
	for _, r := range rs {
		if r.Action == "failed" || r.Action == "delayed" {
			return r, true
		}
	}
	return bounce.RecipientStatus{}, false
}

// statusCode is the SMTP reply code of the diagnostic ("550 5.1.1 ..."), else one made from
// the status class (5.x.x 550, 4.x.x 450), else 0.
func statusCode(rs bounce.RecipientStatus) int {
	d := strings.TrimSpace(rs.Diagnostic)
	if len(d) >= 3 {
		if n, err := strconv.Atoi(d[:3]); err == nil && n >= 200 && n < 600 && (len(d) == 3 || d[3] == ' ' || d[3] == '-') {
			return n
		}
	}
	switch {
	case strings.HasPrefix(rs.Status, "5."):
		return 550
	case strings.HasPrefix(rs.Status, "4."):
		return 450
	}
	return 0
}

func statusText(rs bounce.RecipientStatus) string {
	d := strings.TrimSpace(rs.Diagnostic)
	switch {
	case d == "":
		return rs.Status
	case rs.Status == "" || strings.Contains(d, rs.Status):
		return d
	}
	return rs.Status + " " + d
}

// slogLogger routes go-smtp's error log to slog.
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Printf(format string, v ...any) { l.log.Warn("mx: " + fmt.Sprintf(format, v...)) }
func (l slogLogger) Println(v ...any)               { l.log.Warn("mx: " + fmt.Sprint(v...)) }
