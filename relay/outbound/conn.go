package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"gatewayd/internal/netpolicy"
)

// Stages of opening a connection, as reported by CheckError.
const (
	StageConnect = "connect" // DNS, TCP connect, greeting
	StageTLS     = "tls"     // implicit TLS, STARTTLS
	StageEHLO    = "ehlo"
	StageAuth    = "auth"
)

// CheckError says at which stage opening a connection to a route failed and
// what the server answered (Code 0 when no server reply was involved).
type CheckError struct {
	Stage    string
	Code     int
	Enhanced string
	Message  string
	Err      error

	tlsFailed bool   // STARTTLS was offered but refused or its handshake failed
	refused   bool   // the outbound address policy refused every address tried
	public    string // what a tenant may be told when no server reply is involved
}

// Public is what a connection test tells a tenant about the failure: the
// server's own reply (code, enhanced code, text) when there is one, else a
// fixed sentence for the stage. It never holds an address, a port or a Go
// error string (open, closed and filtered ports look the same, and nothing of
// the gateway's own network shows).
func (e *CheckError) Public() string {
	if e.Code != 0 {
		var b strings.Builder
		b.WriteString(strconv.Itoa(e.Code))
		if e.Enhanced != "" {
			b.WriteString(" " + e.Enhanced)
		}
		if e.Message != "" {
			b.WriteString(" " + e.Message)
		}
		return b.String()
	}
	if e.public != "" {
		return e.public
	}
	switch e.Stage {
	case StageTLS:
		return "the TLS handshake failed"
	case StageEHLO:
		return "the server did not answer EHLO"
	case StageAuth:
		return "authentication did not complete"
	}
	return "the server could not be reached"
}

func (e *CheckError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "outbound: %s failed: ", e.Stage)
	if e.Code != 0 {
		b.WriteString(strconv.Itoa(e.Code))
		b.WriteByte(' ')
		if e.Enhanced != "" {
			b.WriteString(e.Enhanced)
			b.WriteByte(' ')
		}
	}
	b.WriteString(e.Message)
	return b.String()
}

func (e *CheckError) Unwrap() error { return e.Err }

// stageError turns err at stage into a CheckError; synth is the enhanced
// code used when the server did not answer.
func stageError(stage, synth string, err error) *CheckError {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return &CheckError{Stage: stage, Code: se.Code, Enhanced: enhanced(se.EnhancedCode), Message: oneLine(se.Message), Err: err}
	}
	return &CheckError{Stage: stage, Enhanced: synth, Message: err.Error(), Err: err}
}

// conn is one SMTP connection, greeted, encrypted and authenticated as its
// route requires.
type conn struct {
	raw      net.Conn // the TCP connection; closing it aborts everything above
	wire     *wireConn
	sc       *smtp.Client
	secure   bool
	lastUsed time.Time
}

// wireConn sits between go-smtp and the network. It lets the connection
// underneath be swapped for its TLS upgrade, and replays a greeting line so a
// fresh go-smtp client can take over after STARTTLS. It also counts what was
// written, to tell a refused greeting from a refused EHLO.
type wireConn struct {
	net.Conn
	pending []byte
	written int64
}

func (w *wireConn) Read(p []byte) (int, error) {
	if len(w.pending) > 0 {
		n := copy(p, w.pending)
		w.pending = w.pending[n:]
		return n, nil
	}
	return w.Conn.Read(p)
}

func (w *wireConn) Write(p []byte) (int, error) {
	n, err := w.Conn.Write(p)
	w.written += int64(n)
	return n, err
}

// command sends one line and reads the (possibly multi-line) reply byte by
// byte, so that nothing after the reply is consumed (the TLS handshake
// follows a STARTTLS reply).
func (w *wireConn) command(line string, timeout time.Duration) (code int, text string, err error) {
	if err := w.SetDeadline(time.Now().Add(timeout)); err != nil {
		return 0, "", err
	}
	defer w.SetDeadline(time.Time{})
	if _, err := w.Write([]byte(line + "\r\n")); err != nil {
		return 0, "", err
	}
	var lines []string
	var cur []byte
	one := make([]byte, 1)
	for {
		if _, err := w.Read(one); err != nil {
			return 0, "", err
		}
		if one[0] != '\n' {
			if len(cur) > 2000 {
				return 0, "", errors.New("reply line too long")
			}
			cur = append(cur, one[0])
			continue
		}
		l := strings.TrimRight(string(cur), "\r")
		cur = cur[:0]
		if len(l) < 3 {
			return 0, "", fmt.Errorf("malformed reply %q", l)
		}
		c, err := strconv.Atoi(l[:3])
		if err != nil {
			return 0, "", fmt.Errorf("malformed reply %q", l)
		}
		if len(l) > 4 {
			lines = append(lines, l[4:])
		}
		if len(l) == 3 || l[3] != '-' {
			return c, strings.Join(lines, " "), nil
		}
	}
}

func (c *Client) newSMTP(w *wireConn) *smtp.Client {
	sc := smtp.NewClient(w)
	sc.CommandTimeout = c.cfg.CommandTimeout
	sc.SubmissionTimeout = c.cfg.DataTimeout
	return sc
}

func (c *Client) tlsConfig(rt Route) *tls.Config {
	return &tls.Config{
		ServerName:         rt.Host,
		RootCAs:            c.cfg.RootCAs,
		InsecureSkipVerify: rt.InsecureSkipVerify,
		MinVersion:         tls.VersionTLS12,
	}
}

// open connects to rt and runs greeting, TLS, EHLO and AUTH. ctx ending
// aborts it.
func (c *Client) open(ctx context.Context, rt Route) (*conn, *CheckError) {
	raw, cerr := c.dial(ctx, rt)
	if cerr != nil {
		return nil, cerr
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	cn, cerr := c.handshake(ctx, raw, rt)
	if !stop() && cerr == nil {
		cerr = &CheckError{Stage: StageConnect, Enhanced: "4.4.2", Message: ctx.Err().Error(), Err: ctx.Err()}
	}
	if cerr != nil {
		raw.Close()
		if err := ctx.Err(); err != nil {
			cerr.Message = fmt.Sprintf("%s (%v)", err, cerr.Message)
			cerr.Err = fmt.Errorf("%w: %w", err, cerr.Err)
		}
		return nil, cerr
	}
	return cn, nil
}

// policy is the outbound address policy for rt's connections: none for the
// operator's routes, the private ranges for a Tenant route, the host's own
// and link-local addresses for an MX host.
func (c *Client) policy(rt Route) (netpolicy.Policy, bool) {
	switch {
	case rt.mx:
		return netpolicy.Policy{Local: true, AllowPrivate: c.cfg.MXAllowLocal}, !c.cfg.MXAllowLocal
	case rt.Tenant:
		return netpolicy.Policy{AllowPrivate: c.cfg.UpstreamAllowPrivate}, !c.cfg.UpstreamAllowPrivate
	}
	return netpolicy.Policy{}, false
}

// dial resolves rt.Host and connects to the first address that answers. When
// a policy applies, every address is checked in the dialer's Control hook,
// just before the connection is made.
func (c *Client) dial(ctx context.Context, rt Route) (net.Conn, *CheckError) {
	port := strconv.Itoa(rt.Port)
	addrs := []string{rt.Host}
	if net.ParseIP(rt.Host) == nil {
		lctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
		hosts, err := c.cfg.LookupHost(lctx, rt.Host)
		cancel()
		if err == nil && len(hosts) == 0 {
			err = fmt.Errorf("no address for %s", rt.Host)
		}
		if err != nil {
			return nil, &CheckError{Stage: StageConnect, Enhanced: "4.4.3",
				Message: fmt.Sprintf("resolve %s: %v", rt.Host, err), Err: err,
				public: "the host name does not resolve"}
		}
		addrs = hosts
	}
	d := net.Dialer{Timeout: c.cfg.DialTimeout}
	if pol, ok := c.policy(rt); ok {
		d.Control = pol.Control
	}
	var last error
	for _, a := range addrs {
		raw, err := d.DialContext(ctx, "tcp", net.JoinHostPort(a, port))
		if err == nil {
			return raw, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	if errors.Is(last, netpolicy.ErrRefused) {
		// The Control hook's own words: "destination refused: 127.0.0.1 is loopback".
		msg := last.Error()
		var oe *net.OpError
		if errors.As(last, &oe) && oe.Err != nil {
			msg = oe.Err.Error()
		}
		return nil, &CheckError{Stage: StageConnect, Enhanced: "4.4.4", Err: last, refused: true,
			Message: fmt.Sprintf("%s: %s", rt.Host, msg),
			public:  "the destination address is not allowed (loopback, private, link-local or reserved)"}
	}
	return nil, &CheckError{Stage: StageConnect, Enhanced: "4.4.1",
		Message: fmt.Sprintf("connect to %s: %v", rt, last), Err: last}
}

func (c *Client) handshake(ctx context.Context, raw net.Conn, rt Route) (*conn, *CheckError) {
	cn := &conn{raw: raw, wire: &wireConn{Conn: raw}}
	tlsCfg := c.tlsConfig(rt)

	if rt.Encryption == EncryptionTLS {
		tc, err := c.tlsHandshake(ctx, raw, tlsCfg)
		if err != nil {
			return nil, &CheckError{Stage: StageTLS, Enhanced: "4.7.0",
				Message: fmt.Sprintf("TLS handshake with %s: %v", rt, err), Err: err, public: tlsPublic(err)}
		}
		cn.wire.Conn, cn.secure = tc, true
	}

	cn.sc = c.newSMTP(cn.wire)
	if err := cn.sc.Hello(c.cfg.HeloName); err != nil {
		if cn.wire.written == 0 {
			return nil, stageError(StageConnect, "4.4.2", err)
		}
		return nil, stageError(StageEHLO, "4.4.2", err)
	}

	if !cn.secure && (rt.Encryption == EncryptionSTARTTLS || rt.Encryption == EncryptionSTARTTLSRequired) {
		if ok, _ := cn.sc.Extension("STARTTLS"); ok {
			if cerr := c.startTLS(ctx, cn, tlsCfg); cerr != nil {
				return nil, cerr
			}
		} else if rt.Encryption == EncryptionSTARTTLSRequired {
			return nil, &CheckError{Stage: StageTLS, Enhanced: "4.7.0",
				Message: fmt.Sprintf("%s does not offer STARTTLS and the route requires it", rt),
				public:  "the server does not offer STARTTLS"}
		}
	}

	if rt.Username != "" && !cn.secure && !rt.InsecureAuth {
		// Credentials never travel in clear: no AUTH, the attempt is deferred.
		if rt.Encryption == EncryptionNone {
			return nil, &CheckError{Stage: StageTLS, Enhanced: "4.7.0",
				Message: fmt.Sprintf("%s is set to no encryption; credentials are only sent over TLS, AUTH not attempted", rt),
				public:  "the route is set to no encryption; credentials are only sent over TLS"}
		}
		return nil, &CheckError{Stage: StageTLS, Enhanced: "4.7.0",
			Message: fmt.Sprintf("%s does not offer STARTTLS; credentials are only sent over TLS, AUTH not attempted", rt),
			public:  "the server does not offer STARTTLS; credentials are only sent over TLS"}
	}
	if rt.Username != "" {
		if cerr := c.auth(cn, rt); cerr != nil {
			return nil, cerr
		}
	}
	return cn, nil
}

func (c *Client) tlsHandshake(ctx context.Context, nc net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	tc := tls.Client(nc, cfg)
	if err := nc.SetDeadline(time.Now().Add(c.cfg.CommandTimeout)); err != nil {
		return nil, err
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return tc, nil
}

// startTLS upgrades cn in place and says EHLO again over TLS.
func (c *Client) startTLS(ctx context.Context, cn *conn, cfg *tls.Config) *CheckError {
	code, text, err := cn.wire.command("STARTTLS", c.cfg.CommandTimeout)
	if err != nil {
		return &CheckError{Stage: StageTLS, Enhanced: "4.4.2", Message: "STARTTLS: " + err.Error(), Err: err}
	}
	if code != 220 {
		enh, msg := splitEnhanced(text)
		return &CheckError{Stage: StageTLS, Code: code, Enhanced: enh, Message: msg, tlsFailed: true,
			Err: &smtp.SMTPError{Code: code, Message: text}}
	}
	tc, err := c.tlsHandshake(ctx, cn.wire.Conn, cfg)
	if err != nil {
		return &CheckError{Stage: StageTLS, Enhanced: "4.7.0", Message: "TLS handshake after STARTTLS: " + err.Error(),
			Err: err, tlsFailed: true, public: tlsPublic(err)}
	}
	// A new go-smtp client takes over; it expects a greeting first, which
	// the server does not repeat after STARTTLS.
	cn.wire.Conn, cn.secure = tc, true
	cn.wire.pending = []byte("220 TLS established\r\n")
	cn.sc = c.newSMTP(cn.wire)
	if err := cn.sc.Hello(c.cfg.HeloName); err != nil {
		return stageError(StageEHLO, "4.4.2", err)
	}
	return nil
}

func (c *Client) auth(cn *conn, rt Route) *CheckError {
	var mech sasl.Client
	switch {
	case cn.sc.SupportsAuth(sasl.Plain):
		mech = sasl.NewPlainClient("", rt.Username, rt.Password)
	case cn.sc.SupportsAuth(sasl.Login):
		mech = sasl.NewLoginClient(rt.Username, rt.Password)
	default:
		msg, public := fmt.Sprintf("%s does not offer AUTH", rt), "the server does not offer AUTH"
		if ok, mechs := cn.sc.Extension("AUTH"); ok {
			msg = fmt.Sprintf("%s offers no supported AUTH mechanism (offers %q, want PLAIN or LOGIN)", rt, mechs)
			public = "the server offers no supported AUTH mechanism (PLAIN or LOGIN)"
		} else if !cn.secure {
			msg += " on an unencrypted connection"
		}
		return &CheckError{Stage: StageAuth, Enhanced: "4.7.0", Message: msg, public: public}
	}
	if err := cn.sc.Auth(mech); err != nil {
		return stageError(StageAuth, "4.4.2", err)
	}
	return nil
}

// tlsPublic says why a TLS handshake failed without Go's error text.
func tlsPublic(err error) string {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
	)
	if errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return "the server's certificate is not trusted"
	}
	return "the TLS handshake failed"
}

// close ends the connection; polite says QUIT first.
func (cn *conn) close(polite bool, timeout time.Duration) {
	if polite {
		_ = cn.wire.SetDeadline(time.Now().Add(timeout))
		_ = cn.sc.Quit()
	}
	_ = cn.raw.Close()
}

// Check is the gateway "status" probe: connect, EHLO, TLS as the route
// says, AUTH when a username is set, QUIT. It returns nil or a *CheckError
// with the failing stage and the server's reply.
func (c *Client) Check(ctx context.Context, route Route) error {
	rt, err := route.normalize()
	if err != nil {
		return &CheckError{Stage: StageConnect, Message: err.Error(), Err: err}
	}
	cn, cerr := c.open(ctx, rt)
	if cerr != nil {
		return cerr
	}
	cn.close(true, min(c.cfg.CommandTimeout, 5*time.Second))
	return nil
}

// enhanced formats an enhanced status code, "" when there is none.
func enhanced(ec smtp.EnhancedCode) string {
	if ec == smtp.EnhancedCodeNotSet || ec == smtp.NoEnhancedCode {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2])
}

// splitEnhanced separates a leading enhanced status code from reply text.
func splitEnhanced(text string) (string, string) {
	text = oneLine(text)
	first, rest, _ := strings.Cut(text, " ")
	parts := strings.Split(first, ".")
	if len(parts) != 3 {
		return "", text
	}
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil || p == "" {
			return "", text
		}
	}
	return first, rest
}

func oneLine(s string) string {
	return strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(s, "\r", ""), "\n", " "))
}
