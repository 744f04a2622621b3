package netpolicy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/idna"
)

// MaxURLLength is the longest webhook or callback URL ValidateURL accepts.
const MaxURLLength = 2048

// lookupTimeout bounds one host name resolution.
const lookupTimeout = 5 * time.Second

// ErrRefused is wrapped by every error that refuses a destination address,
// at registration (inside *Error) and at connect time (inside the error a
// dial returns).
var ErrRefused = errors.New("destination refused")

// Policy decides which destinations may be called. The zero Policy refuses
// private destinations and resolves names with net.DefaultResolver.
type Policy struct {
	// AllowPrivate lifts the address and host name checks; the syntax
	// checks still apply. GATEWAY_WEBHOOK_ALLOW_PRIVATE for webhooks and
	// callbacks, GATEWAY_UPSTREAM_ALLOW_PRIVATE for tenants' SMTP gateways,
	// GATEWAY_MX_ALLOW_LOCAL for direct-to-MX delivery.
	AllowPrivate bool
	// Local narrows the refused addresses to the gateway host's own, its
	// link and the metadata services (LocalReason): direct-to-MX delivery,
	// where mail hosts on private networks are legitimate. The zero value
	// refuses every private range (Refused).
	Local bool
	// LookupHost resolves a host name to addresses, both in the
	// registration checks and when a Client connects. Nil means
	// net.DefaultResolver.LookupHost.
	LookupHost func(ctx context.Context, host string) ([]string, error)
}

// reason names why ip is refused under p, or returns "".
func (p Policy) reason(ip netip.Addr) string {
	if p.Local {
		return LocalReason(ip)
	}
	return refusedReason(ip)
}

// Error is the error ValidateURL and CheckHost return. Reason is short and
// safe to show to the customer who named the destination.
type Error struct {
	Target string
	Reason string
	Err    error // the cause, if any: ErrRefused or a resolver error
}

func (e *Error) Error() string {
	if e.Err != nil && !errors.Is(e.Err, ErrRefused) {
		return "destination rejected: " + e.Reason + ": " + e.Err.Error()
	}
	return "destination rejected: " + e.Reason
}

func (e *Error) Unwrap() error { return e.Err }

// ValidateURL is the registration-time check of a webhook or callback URL:
// the scheme is http or https; a host is present; there is no userinfo; the
// port, if any, is 1..65535; and the host passes CheckHost. It returns an
// *Error.
func (p Policy) ValidateURL(ctx context.Context, raw string) error {
	fail := func(reason string, err error) error {
		return &Error{Target: raw, Reason: reason, Err: err}
	}
	if raw == "" {
		return fail("URL is empty", nil)
	}
	if len(raw) > MaxURLLength {
		return fail(fmt.Sprintf("URL is longer than %d characters", MaxURLLength), nil)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fail("URL does not parse", nil)
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return fail("scheme must be http or https", nil)
	}
	if u.Opaque != "" {
		return fail("URL must be of the form scheme://host/path", nil)
	}
	if u.User != nil {
		return fail("URL must not contain a user name or password", nil)
	}
	if u.Hostname() == "" {
		return fail("URL has no host", nil)
	}
	if port := u.Port(); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fail("port must be between 1 and 65535", nil)
		}
	}
	if err := p.CheckHost(ctx, u.Hostname()); err != nil {
		err.(*Error).Target = raw
		return err
	}
	return nil
}

// CheckHost is the registration-time check of a host a tenant names (an SMTP
// gateway's host, a URL's host): it parses as an IP address (IPv6, or IPv4
// in any spelling inet_aton accepts) or a DNS name, and, unless
// AllowPrivate, it is not a refused name (localhost, *.localhost, cloud
// metadata names), and the address (or every address the name resolves to)
// is not refused under p. It returns an *Error.
func (p Policy) CheckHost(ctx context.Context, hostname string) error {
	fail := func(reason string, err error) error {
		return &Error{Target: hostname, Reason: reason, Err: err}
	}
	h, err := parseHost(strings.TrimSuffix(strings.TrimPrefix(hostname, "["), "]"))
	if err != nil {
		return fail(err.Error(), nil)
	}
	if p.AllowPrivate {
		return nil
	}
	if h.isIP {
		if r := p.reason(h.addr); r != "" {
			return fail("address "+h.addr.String()+" is "+r, ErrRefused)
		}
		return nil
	}
	if r := refusedName(h.name); r != "" {
		return fail("host "+h.name+" is "+r, ErrRefused)
	}
	addrs, err := p.resolve(ctx, h.name)
	if err != nil {
		return fail("host "+h.name+" does not resolve", err)
	}
	for _, a := range addrs {
		if r := p.reason(a); r != "" {
			return fail("host "+h.name+" resolves to "+a.String()+", which is "+r, ErrRefused)
		}
	}
	return nil
}

// resolve looks name up with LookupHost (or the default resolver) under a
// deadline and parses the answers. An answer that is not an IP address is an
// error; so is an empty answer.
func (p Policy) resolve(ctx context.Context, name string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	lookup := p.LookupHost
	if lookup == nil {
		lookup = net.DefaultResolver.LookupHost
	}
	answers, err := lookup(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", name, err)
	}
	if len(answers) == 0 {
		return nil, fmt.Errorf("look up %s: no addresses", name)
	}
	addrs := make([]netip.Addr, 0, len(answers))
	for _, s := range answers {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("look up %s: answer %q: %w", name, s, err)
		}
		addrs = append(addrs, a.Unmap())
	}
	return addrs, nil
}

// host is a URL host after parsing: either an IP address or a lower-case
// ASCII name without a trailing dot.
type host struct {
	isIP bool
	addr netip.Addr
	name string
}

// parseHost reads a URL host name (without brackets or port) the way the
// resolvers behind an HTTP client may: IPv6 literals, IPv4 literals in every
// inet_aton spelling (decimal "2130706433", octal "0177.0.0.1", hex
// "0x7f.0.0.1", short "127.1"), and names, which are mapped to ASCII (IDNA)
// so that look-alike spellings of refused names are caught. The error text is
// a short reason.
func parseHost(s string) (host, error) {
	if strings.Contains(s, ":") {
		if strings.Contains(s, "%") {
			return host{}, errors.New("IPv6 zone identifiers are not allowed")
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return host{}, errors.New("invalid IPv6 address")
		}
		return host{isIP: true, addr: a}, nil
	}
	name := strings.ToLower(s)
	if !isASCII(name) {
		n, err := idna.Lookup.ToASCII(name)
		if err != nil {
			return host{}, errors.New("invalid international host name")
		}
		name = n
	}
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return host{}, errors.New("no host")
	}
	if a, numeric, err := parseIPv4(name); numeric {
		if err != nil {
			return host{}, errors.New("invalid IPv4 address")
		}
		return host{isIP: true, addr: a}, nil
	}
	if !validName(name) {
		return host{}, errors.New("invalid host name")
	}
	return host{name: name}, nil
}

// parseIPv4 reads s the way inet_aton (and the WHATWG URL host parser) does:
// one to four parts separated by dots, each decimal, octal (leading 0) or hex
// (leading 0x); the last part fills the remaining bytes. numeric reports
// whether s is meant as an address, which is the case when its last label is
// a number: a name cannot end in one, so an s that is numeric but does not
// parse is an invalid address, not a name.
func parseIPv4(s string) (addr netip.Addr, numeric bool, err error) {
	parts := strings.Split(s, ".")
	if !numericLabel(parts[len(parts)-1]) {
		return netip.Addr{}, false, nil
	}
	if len(parts) > 4 {
		return netip.Addr{}, true, errors.New("too many parts")
	}
	var v uint64
	for i, p := range parts {
		n, err := parseIPv4Part(p)
		if err != nil {
			return netip.Addr{}, true, err
		}
		if i < len(parts)-1 {
			if n > 0xff {
				return netip.Addr{}, true, errors.New("part out of range")
			}
			v = v<<8 | n
			continue
		}
		bits := uint(8 * (5 - len(parts)))
		if n >= 1<<bits {
			return netip.Addr{}, true, errors.New("part out of range")
		}
		v = v<<bits | n
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true, nil
}

func parseIPv4Part(p string) (uint64, error) {
	base := 10
	switch {
	case p == "":
		return 0, errors.New("empty part")
	case len(p) >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'):
		p, base = p[2:], 16
		if p == "" {
			return 0, nil
		}
	case len(p) >= 2 && p[0] == '0':
		p, base = p[1:], 8
	}
	n, err := strconv.ParseUint(p, base, 32)
	if err != nil {
		return 0, fmt.Errorf("part %q: %w", p, err)
	}
	return n, nil
}

// numericLabel reports whether a label is a number in the sense of the
// WHATWG "ends in a number" rule: decimal digits, or 0x followed by hex
// digits (possibly none).
func numericLabel(l string) bool {
	if l == "" {
		return false
	}
	if len(l) >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X') {
		for _, c := range l[2:] {
			if !isHexDigit(c) {
				return false
			}
		}
		return true
	}
	for _, c := range l {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isHexDigit(c rune) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// validName accepts DNS names of letters, digits, hyphens and underscores,
// labels 1..63 long, 253 characters in all.
func validName(name string) bool {
	if len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
			if !ok {
				return false
			}
		}
	}
	return true
}

// refusedName names why a host name is refused outright, before any lookup,
// or returns "". name is lower case, ASCII, without a trailing dot.
func refusedName(name string) string {
	switch {
	case name == "localhost", strings.HasSuffix(name, ".localhost"),
		name == "localhost.localdomain", name == "ip6-localhost", name == "ip6-loopback":
		return "a local host name"
	case name == "metadata", name == "metadata.google.internal", name == "metadata.goog",
		name == "instance-data", strings.HasPrefix(name, "instance-data."):
		return "a cloud metadata host name"
	}
	return ""
}
