// Package outbound delivers queued mail over SMTP: through an upstream relay
// (a tenant's gateway or the platform default) or directly to a recipient
// domain's MX hosts. It owns the outbound SMTP conversation, TLS policy,
// upstream authentication, the per-destination connection pool and
// concurrency limit, and the classification of every reply into Delivered,
// Deferred or Bounced per recipient.
//
// It does not read or write the queue, sign messages, decide backoff, or
// record events: the delivery workers call Send or SendMX for one attempt and
// act on the Results.
package outbound

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Encryption is a route's transport security.
type Encryption string

const (
	// EncryptionNone speaks clear text even when STARTTLS is offered.
	EncryptionNone Encryption = "none"
	// EncryptionSTARTTLS upgrades with STARTTLS when the server offers it
	// and continues in clear text when it does not (Postfix's "may").
	EncryptionSTARTTLS Encryption = "starttls"
	// EncryptionSTARTTLSRequired fails the attempt when STARTTLS is not
	// offered.
	EncryptionSTARTTLSRequired Encryption = "starttls-required"
	// EncryptionTLS is implicit TLS from the first byte (port 465).
	EncryptionTLS Encryption = "tls"
)

// ParseEncryption normalizes a gateway's encryption setting: "" and
// "starttls" are opportunistic STARTTLS, "ssl" is the same as "tls".
func ParseEncryption(s string) (Encryption, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "starttls":
		return EncryptionSTARTTLS, nil
	case "none":
		return EncryptionNone, nil
	case "starttls-required":
		return EncryptionSTARTTLSRequired, nil
	case "tls", "ssl":
		return EncryptionTLS, nil
	}
	return "", fmt.Errorf("outbound: unknown encryption %q (want none, starttls, starttls-required, tls or ssl)", s)
}

// Route is where one attempt goes: an upstream relay (a gateway or
// GATEWAY_DEFAULT_RELAY) or one MX host.
type Route struct {
	Host string
	Port int // 0: 465 for tls, else 587
	// Username and Password authenticate (AUTH PLAIN, else LOGIN) when
	// Username is set.
	Username, Password string
	Encryption         Encryption
	// InsecureSkipVerify accepts any server certificate (Navixy's
	// "mail.smtp.ssl.trust_all_hosts").
	InsecureSkipVerify bool
	// Tenant marks a host a tenant named (a user's own gateway): every
	// address dialled is checked against the outbound address policy
	// (internal/netpolicy) unless Config.UpstreamAllowPrivate. The
	// operator's routes (GATEWAY_DEFAULT_RELAY, platform gateways) leave it
	// false.
	Tenant bool
	// InsecureAuth sends the credentials even without TLS (smtp+insecure://
	// in GATEWAY_DEFAULT_RELAY, operator only). Otherwise AUTH is only ever
	// sent after implicit TLS or STARTTLS.
	InsecureAuth bool

	mx bool // a recipient domain's MX host: Config.MXAllowLocal's policy applies
}

func (r Route) String() string {
	return net.JoinHostPort(r.Host, strconv.Itoa(r.Port))
}

// normalize validates r and fills its defaults.
func (r Route) normalize() (Route, error) {
	r.Host = strings.TrimSuffix(strings.Trim(strings.TrimSpace(r.Host), "[]"), ".")
	if r.Host == "" {
		return r, errors.New("outbound: route has no host")
	}
	enc, err := ParseEncryption(string(r.Encryption))
	if err != nil {
		return r, err
	}
	r.Encryption = enc
	if r.Port == 0 {
		r.Port = 587
		if enc == EncryptionTLS {
			r.Port = 465
		}
	}
	if r.Port < 0 || r.Port > 65535 {
		return r, fmt.Errorf("outbound: route port %d out of range", r.Port)
	}
	return r, nil
}

// ParseRelayURL parses GATEWAY_DEFAULT_RELAY: smtp://user:pass@host:port
// (STARTTLS when offered, default port 587; the credentials only go after
// STARTTLS), smtps://user:pass@host:port (implicit TLS, default port 465), or
// smtp+insecure://user:pass@host:port (as smtp://, but AUTH is sent in clear
// text when the server offers no STARTTLS: for an operator who really wants
// that). User and password are URL-decoded. Errors never repeat the URL,
// which carries a password.
func ParseRelayURL(s string) (Route, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Route{}, fmt.Errorf("outbound: relay URL does not parse: %w", err)
	}
	var rt Route
	switch strings.ToLower(u.Scheme) {
	case "smtp":
		rt.Encryption, rt.Port = EncryptionSTARTTLS, 587
	case "smtp+insecure":
		rt.Encryption, rt.Port, rt.InsecureAuth = EncryptionSTARTTLS, 587, true
	case "smtps":
		rt.Encryption, rt.Port = EncryptionTLS, 465
	default:
		return Route{}, fmt.Errorf("outbound: relay URL scheme %q is not smtp, smtps or smtp+insecure", u.Scheme)
	}
	rt.Host = u.Hostname()
	if rt.Host == "" {
		return Route{}, errors.New("outbound: relay URL has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return Route{}, fmt.Errorf("outbound: relay URL port %q is not valid", p)
		}
		rt.Port = n
	}
	if u.User != nil {
		rt.Username = u.User.Username()
		rt.Password, _ = u.User.Password()
	}
	return rt, nil
}

// Config is the client's configuration, read once by main.
type Config struct {
	HeloName string         // GATEWAY_HOSTNAME; default: the OS host name
	RootCAs  *x509.CertPool // nil: the system roots (plus SSL_CERT_FILE)

	DialTimeout    time.Duration // DNS lookups and TCP connects (default 30s)
	CommandTimeout time.Duration // each command's reply, TLS handshakes (default 60s)
	DataTimeout    time.Duration // sending the body and the reply after it (default 10m)

	MaxConnsPerRoute int           // simultaneous connections per route (default 8)
	IdleTimeout      time.Duration // how long an unused pooled connection stays open (default 30s)
	MXPort           int           // GATEWAY_MX_PORT (default 25)

	// UpstreamAllowPrivate (GATEWAY_UPSTREAM_ALLOW_PRIVATE) lets Tenant
	// routes reach loopback and private addresses; MXAllowLocal
	// (GATEWAY_MX_ALLOW_LOCAL) lets MX hosts be loopback, link-local or
	// metadata addresses. Both are for development and tests.
	UpstreamAllowPrivate bool
	MXAllowLocal         bool

	// LookupMX and LookupHost resolve names; nil uses net.DefaultResolver.
	LookupMX   func(ctx context.Context, domain string) ([]*net.MX, error)
	LookupHost func(ctx context.Context, host string) ([]string, error)
}

func (cfg Config) withDefaults() Config {
	if cfg.HeloName == "" {
		cfg.HeloName = "localhost"
		if h, err := os.Hostname(); err == nil && h != "" {
			cfg.HeloName = h
		}
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 30 * time.Second
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 60 * time.Second
	}
	if cfg.DataTimeout <= 0 {
		cfg.DataTimeout = 10 * time.Minute
	}
	if cfg.MaxConnsPerRoute <= 0 {
		cfg.MaxConnsPerRoute = 8
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	if cfg.MXPort <= 0 {
		cfg.MXPort = 25
	}
	if cfg.LookupMX == nil {
		cfg.LookupMX = net.DefaultResolver.LookupMX
	}
	if cfg.LookupHost == nil {
		cfg.LookupHost = net.DefaultResolver.LookupHost
	}
	return cfg
}

// ErrClosed is returned by Send and SendMX after Close.
var ErrClosed = errors.New("outbound: client closed")

// Client delivers mail. It is safe for concurrent use. It keeps connections
// per route in a pool (an idle one is reused after RSET and closed after
// IdleTimeout) and never holds more than MaxConnsPerRoute connections to one
// route at a time.
type Client struct {
	cfg Config

	mu     sync.Mutex
	pools  map[Route]*pool
	closed bool

	stop    chan struct{}
	stopped chan struct{}
	closing sync.WaitGroup // connections being closed in the background
}

// New returns a Client; Close releases its connections.
func New(cfg Config) *Client {
	c := &Client{
		cfg:     cfg.withDefaults(),
		pools:   make(map[Route]*pool),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go c.janitor()
	return c
}

// Close closes the idle connections and stops the pool. Sends in flight
// finish; their connections are closed instead of pooled.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var idle []*conn
	for _, p := range c.pools {
		idle = append(idle, p.idle...)
		p.idle = nil
	}
	c.mu.Unlock()

	close(c.stop)
	<-c.stopped
	var wg sync.WaitGroup
	for _, cn := range idle {
		wg.Go(func() { cn.close(true, min(c.cfg.CommandTimeout, 5*time.Second)) })
	}
	wg.Wait()
	c.closing.Wait()
	return nil
}

// Envelope is one attempt: the sender (empty for the null sender), the
// recipients (all for the same route) and the raw RFC 5322 message.
type Envelope struct {
	From string
	To   []string
	Data []byte
}

func (env Envelope) validate() error {
	if len(env.To) == 0 {
		return errors.New("outbound: envelope has no recipients")
	}
	if strings.ContainsAny(env.From, "\r\n<>") {
		return fmt.Errorf("outbound: invalid sender %q", env.From)
	}
	for _, to := range env.To {
		if to == "" || strings.ContainsAny(to, "\r\n<>") {
			return fmt.Errorf("outbound: invalid recipient %q", to)
		}
	}
	return nil
}

// Class is the outcome of one recipient's attempt.
type Class int

const (
	// Deferred: try again later (4xx, timeouts, connection and TLS
	// failures, a route that refuses us, every MX host failing).
	Deferred Class = iota
	// Delivered: the server took responsibility (2xx after DATA).
	Delivered
	// Bounced: permanent failure (5xx, null MX, no such domain).
	Bounced
)

func (c Class) String() string {
	switch c {
	case Delivered:
		return "delivered"
	case Bounced:
		return "bounced"
	}
	return "deferred"
}

// Result is the outcome for one recipient. Code, Enhanced and Message are
// the server's reply; Code 0 means the reply was made up here because no
// server answered it (connection failures, DNS, TLS, a cancelled context),
// and then Enhanced is still set (e.g. 4.4.1) and Message says what failed.
type Result struct {
	Recipient string
	Code      int
	Enhanced  string // e.g. "5.1.1"; "" when the server sent none
	Message   string // one line
	Class     Class
}
