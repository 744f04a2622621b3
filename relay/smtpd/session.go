package smtpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Replies of the server's own policy (the backend's refusals are its *Reply errors, passed
// on by reply).
var (
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0},
		Message: "Authentication required"}
	errAuthThrottled = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
		Message: "Too many failed authentication attempts, try again later"}
	errCredConns = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
		Message: "Too many connections for this credential, try again later"}
	errIPRate = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1},
		Message: "Too many messages from your address, try again later"}
	errCredRate = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1},
		Message: "Too many messages for this credential, try again later"}
	errBareLineBreak = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message: "Message refused: bare LF or CR found; lines must end with CRLF"}
	errShuttingDown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2},
		Message: "Service shutting down, try again later"}
	errTemporary = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "Temporary failure, try again later"}
	errAuthTemporary = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
		Message: "Temporary authentication failure, try again later"}
	errLineTooLong = &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2},
		Message: "Line too long"}
)

// smtpBackend is the go-smtp backend of a Server.
type smtpBackend struct{ s *Server }

// NewSession starts a session at HELO/EHLO (and again after STARTTLS): it learns which
// credentials the client's address may relay for without AUTH.
func (b smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := b.s
	sess := &session{srv: s, conn: c, ip: remoteIP(c.Conn().RemoteAddr())}
	sess.tc = unwrap(c.Conn())
	_, sess.tls = c.TLSConnectionState()
	if sess.tc != nil && sess.tls {
		sess.tc.secured.Store(true)
	}
	if s.closing.Load() {
		sess.closeAfterReply()
		return nil, errShuttingDown
	}
	ctx, cancel := sess.opContext()
	defer cancel()
	senders, err := s.backend.NetworkSenders(ctx, sess.ip)
	if err != nil {
		return nil, sess.reply("connect", err)
	}
	sess.network, sess.fresh = senders, true
	return sess, nil
}

// unwrap finds the trackedConn under a connection (and under TLS).
func unwrap(c net.Conn) *trackedConn {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	tc, _ := c.(*trackedConn)
	return tc
}

// session is one client's conversation between HELO/EHLO and QUIT (or STARTTLS).
type session struct {
	srv     *Server
	conn    *smtp.Conn
	tc      *trackedConn
	ip      net.IP
	tls     bool
	network []Sender // allowed by the client's address
	authed  Sender   // after AUTH
	fresh   bool     // network or authed was loaded and no transaction has used it yet
	credKey string   // the per-credential connection slot held

	sender Sender // of the transaction under way
	from   string
	rcpts  []string
}

func (s *session) opContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.srv.opts.OpTimeout)
}

func (s *session) closeAfterReply() {
	if s.tc != nil {
		s.tc.closeAfter.Store(true)
	}
}

func (s *session) setBusy(b bool) {
	if s.tc != nil {
		s.tc.busy.Store(b)
	}
}

// AuthMechanisms lists PLAIN and LOGIN; go-smtp offers them only over TLS unless insecure
// AUTH is allowed.
func (s *session) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

// Auth starts a SASL exchange. A client address with too many recent failures is told
// "421 4.7.0" and disconnected.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if _, blocked := s.srv.authFails.Blocked(s.ip.String()); blocked {
		s.srv.log.Warn("smtp auth throttled", "ip", s.ip.String())
		s.closeAfterReply()
		return nil, errAuthThrottled
	}
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				s.srv.authFails.Fail(s.ip.String())
				return smtp.ErrAuthFailed
			}
			return s.login(username, password)
		}), nil
	case sasl.Login:
		return &loginServer{authenticate: s.login}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) login(username, password string) error {
	ctx, cancel := s.opContext()
	defer cancel()
	userKey := "user:" + strings.ToLower(username)
	if _, blocked := s.srv.authFails.Blocked(userKey); blocked {
		// Guessing one credential's password from many addresses: refused without a check.
		s.srv.log.Warn("smtp auth throttled", "ip", s.ip.String(), "username", username)
		s.srv.authFails.Fail(s.ip.String())
		return smtp.ErrAuthFailed
	}
	sender, err := s.srv.backend.Login(ctx, username, password)
	if err != nil {
		if errors.Is(err, ErrAuthFailed) {
			s.srv.authFails.Fail(s.ip.String(), userKey)
			s.srv.log.Info("smtp auth failed", "ip", s.ip.String(), "username", username)
			return smtp.ErrAuthFailed
		}
		return s.reply("auth", err)
	}
	key := "cred:" + strconv.FormatInt(sender.CredentialID(), 10)
	if !s.srv.credConns.acquire(key, s.srv.opts.MaxConns) {
		s.closeAfterReply()
		return errCredConns
	}
	s.authed, s.credKey, s.fresh = sender, key, true
	s.srv.authFails.Clear(userKey)
	return nil
}

// Mail starts a transaction: the client must have authenticated or connect from a
// credential's AllowedNetworks, be within its message rate, and send as an address of the
// credential's domain from an account and domain that may send.
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if s.srv.closing.Load() {
		s.closeAfterReply()
		return errShuttingDown
	}
	candidates := s.network
	if s.authed != nil {
		candidates = []Sender{s.authed}
	}
	if len(candidates) == 0 {
		return errAuthRequired
	}
	if s.srv.ipRate != nil {
		if _, ok := s.srv.ipRate.Allow(s.ip.String()); !ok {
			return errIPRate
		}
	}
	ctx, cancel := s.opContext()
	defer cancel()
	sender, err := s.srv.backend.Mail(ctx, candidates, from, s.fresh)
	s.fresh = false
	if err != nil {
		return s.reply("mail", err)
	}
	if s.srv.credRate != nil {
		if _, ok := s.srv.credRate.Allow("cred:" + strconv.FormatInt(sender.CredentialID(), 10)); !ok {
			return errCredRate
		}
	}
	s.sender, s.from, s.rcpts = sender, from, nil
	s.setBusy(true)
	return nil
}

// Rcpt checks a recipient: a valid address that is not on the domain's suppression list.
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if s.sender == nil {
		return &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Need MAIL command first"}
	}
	ctx, cancel := s.opContext()
	defer cancel()
	if err := s.srv.backend.Rcpt(ctx, s.sender, to); err != nil {
		return s.reply("rcpt", err)
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

// Data reads the message, refuses bare line breaks (SMTP smuggling), and commits it through
// the acceptance path before answering "250 2.0.0 Ok: queued as <uuid>".
func (s *session) Data(r io.Reader) error {
	// The connection stays busy until go-smtp has written the reply and calls Reset: a
	// shutdown must not cut a client off between the commit and its 250.
	raw, err := s.readData(r)
	if err != nil {
		return s.reply("data", err)
	}
	if bareLineBreak(raw) {
		s.srv.log.Info("smtp message refused: bare line break", "ip", s.ip.String())
		return errBareLineBreak
	}
	ctx, cancel := s.opContext()
	defer cancel()
	id, err := s.srv.backend.Accept(ctx, &Message{
		Sender: s.sender, MailFrom: s.from, Rcpts: s.rcpts, Raw: raw, Trace: s.received(),
	})
	if err != nil {
		return s.reply("data", err)
	}
	s.srv.log.Debug("smtp accepted", "id", id, "ip", s.ip.String(), "domain", s.sender.DomainName(), "recipients", len(s.rcpts))
	// go-smtp writes an *SMTPError as the reply: this is how the queue id reaches the client.
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok: queued as " + id}
}

// readData reads DATA. go-smtp sets one read deadline for the DATA command; while the message
// is read, the connection renews it at every read instead, so the timeout applies to a stall,
// not to the whole upload.
func (s *session) readData(r io.Reader) ([]byte, error) {
	if s.tc != nil {
		s.tc.renewRead.Store(int64(s.srv.opts.ReadTimeout))
		defer s.tc.renewRead.Store(0)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// received is the trace header put on top of the message (RFC 5321 section 4.4; the
// protocol names of RFC 3848).
func (s *session) received() string {
	proto := "ESMTP"
	if s.tls {
		proto += "S"
	}
	if s.authed != nil {
		proto += "A"
	}
	helo := sanitizeHelo(s.conn.Hostname())
	return fmt.Sprintf("Received: from %s ([%s])\r\n\tby %s (gatewayd) with %s;\r\n\t%s\r\n",
		helo, s.ip.String(), s.srv.opts.Hostname, proto, time.Now().Format(time.RFC1123Z))
}

func sanitizeHelo(h string) string {
	var b strings.Builder
	for _, r := range h {
		if r > ' ' && r < 0x7f && r != '(' && r != ')' && r != ';' {
			b.WriteRune(r)
		}
		if b.Len() >= 100 {
			break
		}
	}
	if b.Len() == 0 {
		return "unknown"
	}
	return b.String()
}

// bareLineBreak reports an LF not preceded by CR, or a CR not followed by LF: the line endings
// other servers may read differently, which SMTP smuggling abuses.
func bareLineBreak(b []byte) bool {
	for i := 0; i < len(b); {
		j := bytes.IndexAny(b[i:], "\r\n")
		if j < 0 {
			return false
		}
		j += i
		if b[j] == '\n' || j+1 >= len(b) || b[j+1] != '\n' {
			return true
		}
		i = j + 2
	}
	return false
}

// Reset ends the transaction.
func (s *session) Reset() {
	s.sender, s.from, s.rcpts = nil, "", nil
	s.setBusy(false)
}

// Logout releases what the session holds.
func (s *session) Logout() error {
	if s.credKey != "" {
		s.srv.credConns.release(s.credKey)
		s.credKey = ""
	}
	s.setBusy(false)
	return nil
}

// reply is the one mapper from errors to SMTP replies: the server's own replies and the
// backend's refusals (*Reply) pass through, and anything else is logged and answered with a
// generic temporary failure, never its text.
func (s *session) reply(stage string, err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	var r *Reply
	if errors.As(err, &r) {
		s.srv.log.Debug("smtp refused", "stage", stage, "ip", s.ip.String(), "reply", r.Error())
		return &smtp.SMTPError{Code: r.Code, EnhancedCode: smtp.EnhancedCode(r.Enhanced), Message: r.Text}
	}
	if errors.Is(err, smtp.ErrTooLongLine) {
		return errLineTooLong
	}
	var ne net.Error
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, smtp.ErrDataReset) || (errors.As(err, &ne) && ne.Timeout()) {
		// The client went away or stalled mid-message: nothing was queued.
		s.srv.log.Debug("smtp transaction aborted", "stage", stage, "ip", s.ip.String(), "err", err)
		return errTemporary
	}
	s.srv.log.Error("smtp failure", "stage", stage, "ip", s.ip.String(), "err", err)
	if stage == "auth" {
		return errAuthTemporary
	}
	return errTemporary
}

// loginServer is the server side of the LOGIN mechanism (draft-murchison-sasl-login), which
// go-sasl implements only as a client: "Username:", then "Password:".
type loginServer struct {
	step         int
	username     string
	authenticate func(username, password string) error
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		if response == nil {
			l.step = 1
			return []byte("Username:"), false, nil
		}
		// An initial response carries the username.
		l.username, l.step = string(response), 2
		return []byte("Password:"), false, nil
	case 1:
		l.username, l.step = string(response), 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.authenticate(l.username, string(response))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}
