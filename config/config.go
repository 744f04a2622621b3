// Package config reads gatewayd's configuration once, from GATEWAY_* environment variables
// and the command-line flags that mirror them, into a Config passed down by main.
//
// It is a top-level package because main, the commands, the relay and the tests all take the
// same struct; it must not read the environment anywhere but Load.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/mail"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Config is every setting gatewayd has. Zero values are never used: Load fills defaults.
type Config struct {
	DB                  string        // GATEWAY_DB: sqlite://path or mysql://user:pass@host:port[,host:port...]/db
	HTTPAddr            string        // GATEWAY_HTTP_ADDR
	SMTPAddrs           []string      // GATEWAY_SMTP_ADDR: STARTTLS submission listeners
	SMTPTLSAddrs        []string      // GATEWAY_SMTP_TLS_ADDR: implicit-TLS listeners (e.g. :465)
	MXAddr              string        // GATEWAY_MX_ADDR: inbound bounce/complaint listener; "" is off
	AdminAPIKey         string        // GATEWAY_ADMIN_API_KEY
	SecretKey           string        // GATEWAY_SECRET_KEY: 64 hex characters
	SecretKeyFile       string        // GATEWAY_SECRET_KEY_FILE: used when SecretKey is empty
	PublicURL           string        // GATEWAY_PUBLIC_URL
	Hostname            string        // GATEWAY_HOSTNAME
	TLSCert, TLSKey     string        // GATEWAY_TLS_CERT / GATEWAY_TLS_KEY
	SMTPInsecureAuth    bool          // GATEWAY_SMTP_INSECURE_AUTH
	SMTPMaxSize         int64         // GATEWAY_SMTP_MAX_SIZE bytes
	SMTPMaxRcpts        int           // GATEWAY_SMTP_MAX_RECIPIENTS: recipients of one SMTP message
	SMTPMaxConns        int           // GATEWAY_SMTP_MAX_CONNECTIONS: per client IP and per credential
	SMTPRateLimit       RateLimit     // GATEWAY_SMTP_RATE_LIMIT: messages per client IP and per credential
	LoginThrottle       RateLimit     // GATEWAY_LOGIN_THROTTLE: failed password logins per username and per client address
	DefaultRelay        string        // GATEWAY_DEFAULT_RELAY
	DNSServer           string        // GATEWAY_DNS_SERVER host:port
	MXPort              int           // GATEWAY_MX_PORT
	WebhookAllowPrivate bool          // GATEWAY_WEBHOOK_ALLOW_PRIVATE
	RateLimit           RateLimit     // GATEWAY_RATE_LIMIT
	Workers             int           // GATEWAY_WORKERS
	RetryMin            time.Duration // GATEWAY_RETRY_MIN
	RetryMax            time.Duration // GATEWAY_RETRY_MAX
	QueueLifetime       time.Duration // GATEWAY_QUEUE_LIFETIME
	DeliveryLease       time.Duration // GATEWAY_DELIVERY_LEASE: how long a node's claim on queue rows holds
	WebhookRetryMin     time.Duration // GATEWAY_WEBHOOK_RETRY_MIN
	WebhookRetryMax     time.Duration // GATEWAY_WEBHOOK_RETRY_MAX
	SessionLifetime     time.Duration // GATEWAY_SESSION_LIFETIME
	BodyLimit           int64         // GATEWAY_BODY_LIMIT: bodies of commands that take content, bytes
	SmallBodyLimit      int64         // GATEWAY_SMALL_BODY_LIMIT: bodies of every other command, bytes
	MaxInputNesting     int           // GATEWAY_MAX_INPUT_NESTING: levels below a top-level parameter
	MaxInputVars        int           // GATEWAY_MAX_INPUT_VARS: form variables (query + body) of one request
	MaxInputValues      int           // GATEWAY_MAX_INPUT_VALUES: decoded values of one request
	BodyInflight        int64         // GATEWAY_BODY_INFLIGHT: bytes of bodies and decoded parameters in flight
	InflightWait        time.Duration // GATEWAY_BODY_INFLIGHT_WAIT: how long a request waits for that budget
	PricePerEmail       float64       // GATEWAY_PRICE_PER_EMAIL (GatewayAPI usage)
	Currency            string        // GATEWAY_CURRENCY
	SendEmailFullList   bool          // GATEWAY_SENDEMAIL_FULL_LIST: a TargetListID send reaches the whole list, not the first 250
	MaxRecipients       int           // GATEWAY_MAX_RECIPIENTS: To addresses of one API send (GatewayAPI: recipients)
	MaxCC               int           // GATEWAY_MAX_CC: CC addresses of one API send
	MaxBCC              int           // GATEWAY_MAX_BCC: BCC addresses of one API send
	MaxReplyTo          int           // GATEWAY_MAX_REPLY_TO: Reply-To addresses of one API send
	MaxAttachmentBytes  int64         // GATEWAY_MAX_ATTACHMENT_SIZE: decoded attachments of one API send, bytes
	MaxUsers            int           // GATEWAY_MAX_USERS: user accounts user.create may make; 0 is no limit
	PlatformFrom        string        // GATEWAY_PLATFORM_FROM: sender of the platform's own mail (password resets)
	LogLevel            string        // GATEWAY_LOG_LEVEL: debug, info, warn, error
	MetricsToken        string        // GATEWAY_METRICS_TOKEN: Bearer token for /metrics on the HTTP port
	MetricsAddr         string        // GATEWAY_METRICS_ADDR: a separate listener for /metrics

	// The outbound address policy (docs/gateways.md, docs/delivery.md): tenants' SMTP gateways
	// and providers may not name loopback or private hosts, and direct-to-MX delivery does not
	// connect to loopback, link-local or metadata addresses, unless these allow it
	// (development and tests).
	UpstreamAllowPrivate bool // GATEWAY_UPSTREAM_ALLOW_PRIVATE
	MXAllowLocal         bool // GATEWAY_MX_ALLOW_LOCAL
}

// RateLimit is N requests per Per; Off disables limiting.
type RateLimit struct {
	N   int
	Per time.Duration
	Off bool
}

func (r RateLimit) String() string {
	if r.Off {
		return "off"
	}
	return fmt.Sprintf("%d/%s", r.N, r.Per)
}

// ParseRateLimit reads "100/60s", "5/1s" or "off".
func ParseRateLimit(s string) (RateLimit, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "off") {
		return RateLimit{Off: true}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return RateLimit{}, fmt.Errorf("rate limit %q: want N/duration or off", s)
	}
	count, err := strconv.Atoi(n)
	if err != nil || count <= 0 {
		return RateLimit{}, fmt.Errorf("rate limit %q: bad count", s)
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return RateLimit{}, fmt.Errorf("rate limit %q: bad duration", s)
	}
	return RateLimit{N: count, Per: d}, nil
}

// Defaults returns the configuration with nothing set.
func Defaults() *Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	return &Config{
		DB:              "sqlite://data/gatewayd.db",
		HTTPAddr:        ":8080",
		SMTPAddrs:       []string{":2525"},
		SecretKeyFile:   "data/secret.key",
		PublicURL:       "http://localhost:8080",
		Hostname:        host,
		SMTPMaxSize:     25 << 20,
		SMTPMaxRcpts:    100,
		SMTPMaxConns:    50,
		SMTPRateLimit:   RateLimit{N: 1000, Per: 60 * time.Second},
		LoginThrottle:   RateLimit{N: 10, Per: 15 * time.Minute},
		MXPort:          25,
		RateLimit:       RateLimit{N: 100, Per: 60 * time.Second},
		Workers:         max(4, 4*runtime.NumCPU()),
		RetryMin:        time.Minute,
		RetryMax:        4 * time.Hour,
		QueueLifetime:   120 * time.Hour,
		DeliveryLease:   15 * time.Minute,
		WebhookRetryMin: 30 * time.Second,
		WebhookRetryMax: 12 * time.Hour,
		SessionLifetime: 24 * time.Hour,
		BodyLimit:       30 << 20,
		SmallBodyLimit:  1 << 20,
		MaxInputNesting: 32,
		MaxInputVars:    1000,
		MaxInputValues:  10000,
		BodyInflight:    256 << 20,
		InflightWait:    10 * time.Second,
		PricePerEmail:   0.00075,
		Currency:        "EUR",
		LogLevel:        "info",

		// Limits of one API send.
		MaxRecipients:      50,
		MaxCC:              50,
		MaxBCC:             50,
		MaxReplyTo:         5,
		MaxAttachmentBytes: 5 << 20,
	}
}

// Load fills a Config from defaults, then the environment (getenv), then flags in args.
// Flags are the lower-case, dashed form of the variable without its prefix:
// GATEWAY_HTTP_ADDR is --http-addr.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (*Config, error) {
	c := Defaults()
	var errs []error
	str := func(p *string, env, usage string) {
		if v := getenv(env); v != "" {
			*p = v
		}
		fs.StringVar(p, flagName(env), *p, usage+" ("+env+")")
	}
	list := func(p *[]string, env, usage string) {
		if v, ok := lookup(getenv, env); ok {
			*p = splitList(v)
		}
		fs.Func(flagName(env), usage+" ("+env+", comma-separated)", func(v string) error { *p = splitList(v); return nil })
	}
	boolean := func(p *bool, env, usage string) {
		if v := getenv(env); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
			*p = b
		}
		fs.BoolVar(p, flagName(env), *p, usage+" ("+env+")")
	}
	integer := func(p *int, env, usage string) {
		if v := getenv(env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
			*p = n
		}
		fs.IntVar(p, flagName(env), *p, usage+" ("+env+")")
	}
	int64v := func(p *int64, env, usage string) {
		if v := getenv(env); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
			*p = n
		}
		fs.Int64Var(p, flagName(env), *p, usage+" ("+env+")")
	}
	dur := func(p *time.Duration, env, usage string) {
		if v := getenv(env); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
			*p = d
		}
		fs.DurationVar(p, flagName(env), *p, usage+" ("+env+")")
	}

	str(&c.DB, "GATEWAY_DB", "database: sqlite://path or mysql://user:pass@host:port[,host2:port...]/db")
	str(&c.HTTPAddr, "GATEWAY_HTTP_ADDR", "HTTP listen address")
	list(&c.SMTPAddrs, "GATEWAY_SMTP_ADDR", "SMTP submission listen addresses (STARTTLS)")
	list(&c.SMTPTLSAddrs, "GATEWAY_SMTP_TLS_ADDR", "SMTP implicit-TLS listen addresses")
	str(&c.MXAddr, "GATEWAY_MX_ADDR", "inbound MX listen address for bounces and complaints (empty: off)")
	str(&c.AdminAPIKey, "GATEWAY_ADMIN_API_KEY", "admin API key (generated and printed when empty)")
	str(&c.SecretKey, "GATEWAY_SECRET_KEY", "server key, 64 hex characters")
	str(&c.SecretKeyFile, "GATEWAY_SECRET_KEY_FILE", "server key file, created with mode 0600 when GATEWAY_SECRET_KEY is empty")
	str(&c.PublicURL, "GATEWAY_PUBLIC_URL", "public base URL for tracking and unsubscribe links")
	str(&c.Hostname, "GATEWAY_HOSTNAME", "EHLO name and SMTP host shown to users")
	str(&c.TLSCert, "GATEWAY_TLS_CERT", "TLS certificate file (self-signed when empty)")
	str(&c.TLSKey, "GATEWAY_TLS_KEY", "TLS key file")
	boolean(&c.SendEmailFullList, "GATEWAY_SENDEMAIL_FULL_LIST", "a TargetListID send reaches the whole list (default: the first 250)")
	boolean(&c.SMTPInsecureAuth, "GATEWAY_SMTP_INSECURE_AUTH", "allow SMTP AUTH without TLS")
	int64v(&c.SMTPMaxSize, "GATEWAY_SMTP_MAX_SIZE", "largest SMTP message in bytes")
	integer(&c.SMTPMaxRcpts, "GATEWAY_SMTP_MAX_RECIPIENTS", "most recipients of one SMTP message")
	integer(&c.SMTPMaxConns, "GATEWAY_SMTP_MAX_CONNECTIONS", "concurrent SMTP connections per client IP and per credential")
	smtpRate := c.SMTPRateLimit.String()
	loginThrottle := c.LoginThrottle.String()
	str(&loginThrottle, "GATEWAY_LOGIN_THROTTLE", "failed password logins per username and per client address before refusal: N/duration or off")
	str(&smtpRate, "GATEWAY_SMTP_RATE_LIMIT", "SMTP messages per client IP and per credential: N/duration or off")
	str(&c.DefaultRelay, "GATEWAY_DEFAULT_RELAY", "platform default route smtp://user:pass@host:port")
	str(&c.DNSServer, "GATEWAY_DNS_SERVER", "DNS server host:port for MX and verification lookups (empty: system)")
	integer(&c.MXPort, "GATEWAY_MX_PORT", "port of recipients' MX servers")
	boolean(&c.WebhookAllowPrivate, "GATEWAY_WEBHOOK_ALLOW_PRIVATE", "allow webhooks to private and loopback addresses")
	boolean(&c.UpstreamAllowPrivate, "GATEWAY_UPSTREAM_ALLOW_PRIVATE", "allow tenants' SMTP gateways on private and loopback addresses")
	boolean(&c.MXAllowLocal, "GATEWAY_MX_ALLOW_LOCAL", "allow direct-to-MX delivery to loopback, link-local and metadata addresses")
	rate := c.RateLimit.String()
	str(&rate, "GATEWAY_RATE_LIMIT", "requests per credential: N/duration or off")
	integer(&c.Workers, "GATEWAY_WORKERS", "delivery workers")
	dur(&c.RetryMin, "GATEWAY_RETRY_MIN", "first delivery retry delay")
	dur(&c.RetryMax, "GATEWAY_RETRY_MAX", "longest delivery retry delay")
	dur(&c.QueueLifetime, "GATEWAY_QUEUE_LIFETIME", "how long a message is retried before it fails")
	dur(&c.DeliveryLease, "GATEWAY_DELIVERY_LEASE", "how long a node's claim on queue rows holds (a crashed node's rows are retried after it)")
	dur(&c.WebhookRetryMin, "GATEWAY_WEBHOOK_RETRY_MIN", "first webhook retry delay")
	dur(&c.WebhookRetryMax, "GATEWAY_WEBHOOK_RETRY_MAX", "longest webhook retry delay")
	dur(&c.SessionLifetime, "GATEWAY_SESSION_LIFETIME", "login session lifetime")
	int64v(&c.BodyLimit, "GATEWAY_BODY_LIMIT", "largest HTTP request body of a command that takes content (sends, relay, imports, templates), bytes")
	int64v(&c.SmallBodyLimit, "GATEWAY_SMALL_BODY_LIMIT", "largest HTTP request body of every other command, bytes")
	integer(&c.MaxInputNesting, "GATEWAY_MAX_INPUT_NESTING", "deepest nesting of request parameters (a[b][c] is 2)")
	integer(&c.MaxInputVars, "GATEWAY_MAX_INPUT_VARS", "most form variables (query string and form body) of one request")
	integer(&c.MaxInputValues, "GATEWAY_MAX_INPUT_VALUES", "most decoded parameter values (objects, arrays, scalars) of one request")
	int64v(&c.BodyInflight, "GATEWAY_BODY_INFLIGHT", "bytes of request bodies and their decoded parameters held at once, server-wide")
	dur(&c.InflightWait, "GATEWAY_BODY_INFLIGHT_WAIT", "how long a request waits for room in GATEWAY_BODY_INFLIGHT before it is refused")
	priceStr := strconv.FormatFloat(c.PricePerEmail, 'f', -1, 64)
	str(&priceStr, "GATEWAY_PRICE_PER_EMAIL", "GatewayAPI price per email")
	str(&c.Currency, "GATEWAY_CURRENCY", "GatewayAPI currency")
	integer(&c.MaxRecipients, "GATEWAY_MAX_RECIPIENTS", "most To addresses of one API send (GatewayAPI: recipients)")
	integer(&c.MaxCC, "GATEWAY_MAX_CC", "most CC addresses of one API send")
	integer(&c.MaxBCC, "GATEWAY_MAX_BCC", "most BCC addresses of one API send")
	integer(&c.MaxReplyTo, "GATEWAY_MAX_REPLY_TO", "most Reply-To addresses of one API send")
	int64v(&c.MaxAttachmentBytes, "GATEWAY_MAX_ATTACHMENT_SIZE", "largest total of decoded attachments of one API send, bytes")
	integer(&c.MaxUsers, "GATEWAY_MAX_USERS", "most user accounts user.create may make (0: no limit)")
	str(&c.PlatformFrom, "GATEWAY_PLATFORM_FROM", "sender of the platform's own mail (password resets): an address or 'Name <address>' of an enabled sender domain")
	str(&c.LogLevel, "GATEWAY_LOG_LEVEL", "log level: debug, info, warn, error")
	str(&c.MetricsToken, "GATEWAY_METRICS_TOKEN", "Bearer token that unlocks /metrics (empty: /metrics is not served on the HTTP port)")
	str(&c.MetricsAddr, "GATEWAY_METRICS_ADDR", "separate listen address serving /metrics (empty: none)")

	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	rl, err := ParseRateLimit(rate)
	if err != nil {
		errs = append(errs, fmt.Errorf("GATEWAY_RATE_LIMIT: %w", err))
	}
	c.RateLimit = rl
	if c.SMTPRateLimit, err = ParseRateLimit(smtpRate); err != nil {
		errs = append(errs, fmt.Errorf("GATEWAY_SMTP_RATE_LIMIT: %w", err))
	}
	if c.LoginThrottle, err = ParseRateLimit(loginThrottle); err != nil {
		errs = append(errs, fmt.Errorf("GATEWAY_LOGIN_THROTTLE: %w", err))
	}
	if c.PricePerEmail, err = strconv.ParseFloat(priceStr, 64); err != nil {
		errs = append(errs, fmt.Errorf("GATEWAY_PRICE_PER_EMAIL: %w", err))
	}
	errs = append(errs, c.validate()...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func (c *Config) validate() []error {
	var errs []error
	if c.SecretKey != "" && len(c.SecretKey) != 64 {
		errs = append(errs, errors.New("GATEWAY_SECRET_KEY: want 64 hex characters"))
	}
	for _, a := range append(append([]string{c.HTTPAddr}, c.SMTPAddrs...), c.SMTPTLSAddrs...) {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("listen address %q: %w", a, err))
		}
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		errs = append(errs, errors.New("GATEWAY_RETRY_MIN must be positive and at most GATEWAY_RETRY_MAX"))
	}
	if c.WebhookRetryMin <= 0 || c.WebhookRetryMax < c.WebhookRetryMin {
		errs = append(errs, errors.New("GATEWAY_WEBHOOK_RETRY_MIN must be positive and at most GATEWAY_WEBHOOK_RETRY_MAX"))
	}
	if c.DeliveryLease < 5*time.Second {
		errs = append(errs, errors.New("GATEWAY_DELIVERY_LEASE must be at least 5s"))
	}
	if c.Workers < 1 {
		errs = append(errs, errors.New("GATEWAY_WORKERS must be at least 1"))
	}
	if c.SMTPMaxSize < 1024 || c.SMTPMaxRcpts < 1 || c.SMTPMaxConns < 1 {
		errs = append(errs, errors.New("GATEWAY_SMTP_MAX_SIZE must be at least 1024, GATEWAY_SMTP_MAX_RECIPIENTS and GATEWAY_SMTP_MAX_CONNECTIONS at least 1"))
	}
	if c.BodyLimit < 1024 || c.SmallBodyLimit < 1024 {
		errs = append(errs, errors.New("GATEWAY_BODY_LIMIT and GATEWAY_SMALL_BODY_LIMIT must be at least 1024"))
	}
	if c.MaxInputNesting < 1 || c.MaxInputVars < 1 || c.MaxInputValues < 1 {
		errs = append(errs, errors.New("GATEWAY_MAX_INPUT_NESTING, GATEWAY_MAX_INPUT_VARS and GATEWAY_MAX_INPUT_VALUES must be at least 1"))
	}
	if c.BodyInflight < c.BodyLimit || c.InflightWait <= 0 {
		errs = append(errs, errors.New("GATEWAY_BODY_INFLIGHT must be at least GATEWAY_BODY_LIMIT, and GATEWAY_BODY_INFLIGHT_WAIT positive"))
	}
	if c.MaxRecipients < 1 || c.MaxCC < 0 || c.MaxBCC < 0 || c.MaxReplyTo < 0 || c.MaxAttachmentBytes < 0 || c.MaxUsers < 0 {
		errs = append(errs, errors.New("GATEWAY_MAX_RECIPIENTS must be at least 1; GATEWAY_MAX_CC, _BCC, _REPLY_TO, _ATTACHMENT_SIZE and GATEWAY_MAX_USERS at least 0"))
	}
	if c.PlatformFrom != "" {
		if _, err := mail.ParseAddress(c.PlatformFrom); err != nil {
			errs = append(errs, fmt.Errorf("GATEWAY_PLATFORM_FROM: %w", err))
		}
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return errs
}

// SMTPPorts lists the ports of every SMTP listener, for SMTPPorts in API answers.
func (c *Config) SMTPPorts() []int {
	var ports []int
	for _, a := range append(append([]string(nil), c.SMTPAddrs...), c.SMTPTLSAddrs...) {
		if _, p, err := net.SplitHostPort(a); err == nil {
			if n, err := strconv.Atoi(p); err == nil {
				ports = append(ports, n)
			}
		}
	}
	return ports
}

func flagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "GATEWAY_")), "_", "-")
}

func lookup(getenv func(string) string, env string) (string, bool) {
	v := getenv(env)
	return v, v != ""
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
