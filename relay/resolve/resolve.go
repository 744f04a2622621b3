// Package resolve owns gatewayd's DNS lookups: TXT and CNAME records for
// sender-domain verification, MX and A/AAAA records for outbound routing and
// SSRF checks. Queries go either to the system resolver or to one configured
// server (GATEWAY_DNS_SERVER), always under a deadline.
//
// It answers questions about names; it must not decide what an answer means
// for a domain's verification or for a delivery (that belongs to callers).
// It distinguishes "does not exist" (ErrNotFound) from a failure to find out.
package resolve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// ErrNotFound reports that the name or the record asked for does not exist
// (NXDOMAIN or an empty answer). A timeout, SERVFAIL or refused query is
// reported with another error: the answer is unknown, not negative.
var ErrNotFound = errors.New("no such record")

// ErrNullMX reports that a domain publishes a null MX (RFC 7505): it accepts
// no mail at all. LookupMX returns it instead of a record list.
var ErrNullMX = errors.New("domain accepts no mail (null MX)")

// DefaultTimeout bounds each lookup when New is given no positive timeout.
const DefaultTimeout = 5 * time.Second

// Resolver answers DNS questions through the system resolver or one server.
// It is safe for concurrent use.
type Resolver struct {
	server  string // host:port; "" means the system resolver
	timeout time.Duration
	system  *net.Resolver
}

// New returns a resolver. server "" uses the system resolver
// (net.DefaultResolver); otherwise queries go to that host:port over UDP,
// retried over TCP when the answer is truncated. timeout bounds each lookup
// (both transports together); zero or negative means DefaultTimeout.
func New(server string, timeout time.Duration) *Resolver {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Resolver{server: server, timeout: timeout, system: net.DefaultResolver}
}

// LookupTXT returns the TXT records at name, one string per record with the
// record's character-strings joined (long values such as DKIM keys are
// published in 255-byte pieces).
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if r.server == "" {
		txts, err := r.system.LookupTXT(ctx, name)
		if err != nil {
			return nil, systemError("TXT", name, err)
		}
		if len(txts) == 0 {
			return nil, notFound("TXT", name)
		}
		return txts, nil
	}
	rrs, err := r.query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range rrs {
		if txt, ok := rr.(*dns.TXT); ok {
			var b strings.Builder
			for _, part := range txt.Txt {
				b.WriteString(unescapeTXT(part))
			}
			out = append(out, b.String())
		}
	}
	if len(out) == 0 {
		return nil, notFound("TXT", name)
	}
	return out, nil
}

// LookupCNAME returns the target of the CNAME record at name, lower-cased and
// without a trailing dot. It returns ErrNotFound when name has no CNAME.
// Through a configured server this is the first hop of a chain; through the
// system resolver it is the canonical name at the end of the chain.
func (r *Resolver) LookupCNAME(ctx context.Context, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if r.server == "" {
		target, err := r.system.LookupCNAME(ctx, name)
		if err != nil {
			return "", systemError("CNAME", name, err)
		}
		target = trimName(target)
		// The system resolver answers with the name itself when there is no alias.
		if target == "" || target == trimName(name) {
			return "", notFound("CNAME", name)
		}
		return target, nil
	}
	rrs, err := r.query(ctx, name, dns.TypeCNAME)
	if err != nil {
		return "", err
	}
	for _, rr := range rrs {
		if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, dns.Fqdn(name)) {
			return trimName(c.Target), nil
		}
	}
	return "", notFound("CNAME", name)
}

// LookupMX returns the MX records of domain sorted by preference (records of
// equal preference keep the server's order), hosts lower-cased and without a
// trailing dot. It returns ErrNotFound when the domain has no MX records
// (callers then fall back to its A/AAAA records) and ErrNullMX when the
// domain publishes a null MX.
func (r *Resolver) LookupMX(ctx context.Context, domain string) ([]*net.MX, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var out []*net.MX
	if r.server == "" {
		mxs, err := r.system.LookupMX(ctx, domain)
		if err != nil {
			return nil, systemError("MX", domain, err)
		}
		for _, mx := range mxs {
			out = append(out, &net.MX{Host: mx.Host, Pref: mx.Pref})
		}
	} else {
		rrs, err := r.query(ctx, domain, dns.TypeMX)
		if err != nil {
			return nil, err
		}
		for _, rr := range rrs {
			if mx, ok := rr.(*dns.MX); ok {
				out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
			}
		}
	}
	if len(out) == 0 {
		return nil, notFound("MX", domain)
	}
	if len(out) == 1 && (out[0].Host == "." || out[0].Host == "") {
		return nil, fmt.Errorf("resolve: MX %s: %w", domain, ErrNullMX)
	}
	for _, mx := range out {
		mx.Host = trimName(mx.Host)
	}
	slices.SortStableFunc(out, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	return out, nil
}

// LookupHost returns host's IPv4 (A) and IPv6 (AAAA) addresses as strings.
// An IP literal is returned as is. Through a configured server both record
// types are asked for at once; if either answers with addresses they are
// returned, otherwise a failure of either is reported, and ErrNotFound only
// when both are negative.
func (r *Resolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []string{ip.String()}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if r.server == "" {
		addrs, err := r.system.LookupHost(ctx, host)
		if err != nil {
			return nil, systemError("A/AAAA", host, err)
		}
		if len(addrs) == 0 {
			return nil, notFound("A/AAAA", host)
		}
		return addrs, nil
	}

	qtypes := []uint16{dns.TypeA, dns.TypeAAAA}
	results := make([][]dns.RR, len(qtypes))
	errs := make([]error, len(qtypes))
	var wg sync.WaitGroup
	for i, qt := range qtypes {
		wg.Go(func() { results[i], errs[i] = r.query(ctx, host, qt) })
	}
	wg.Wait()

	var addrs []string
	for _, rrs := range results {
		for _, rr := range rrs {
			switch a := rr.(type) {
			case *dns.A:
				addrs = append(addrs, a.A.String())
			case *dns.AAAA:
				addrs = append(addrs, a.AAAA.String())
			}
		}
	}
	if len(addrs) > 0 {
		return addrs, nil
	}
	for _, err := range errs {
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	return nil, notFound("A/AAAA", host)
}

// query asks the configured server for name's qtype records and returns the
// answer section. NXDOMAIN and an answer without qtype records (NODATA) are
// ErrNotFound; any other non-success rcode is a failure.
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	typ := dns.TypeToString[qtype]
	fqdn := dns.Fqdn(name)
	if _, ok := dns.IsDomainName(fqdn); !ok || name == "" {
		return nil, fmt.Errorf("resolve: %s %q: invalid domain name", typ, name)
	}
	req := new(dns.Msg)
	req.SetQuestion(fqdn, qtype)
	req.RecursionDesired = true

	resp, err := r.exchange(ctx, "udp", req)
	if err == nil && resp.Truncated {
		resp, err = r.exchange(ctx, "tcp", req)
	}
	if err != nil {
		return nil, fmt.Errorf("resolve: %s %s via %s: %w", typ, name, r.server, err)
	}
	switch resp.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, notFound(typ, name)
	default:
		return nil, fmt.Errorf("resolve: %s %s via %s: server answered %s",
			typ, name, r.server, dns.RcodeToString[resp.Rcode])
	}
	var rrs []dns.RR
	for _, rr := range resp.Answer {
		if rr.Header().Rrtype == qtype {
			rrs = append(rrs, rr)
		}
	}
	if len(rrs) == 0 {
		return nil, notFound(typ, name)
	}
	return rrs, nil
}

// exchange sends req over network ("udp" or "tcp") and reads the reply,
// giving up when ctx is done.
func (r *Resolver) exchange(ctx context.Context, network string, req *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: r.timeout}
	conn, err := c.DialContext(ctx, r.server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// The client only honours the context's deadline; make cancellation end
	// the read as well.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, req, conn)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return nil, err
	}
	if len(resp.Question) > 0 && !strings.EqualFold(resp.Question[0].Name, req.Question[0].Name) {
		return nil, fmt.Errorf("reply for %s, asked for %s", resp.Question[0].Name, req.Question[0].Name)
	}
	return resp, nil
}

// systemError maps a system resolver error onto ErrNotFound when the name
// or record does not exist.
func systemError(typ, name string, err error) error {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return fmt.Errorf("resolve: %s %s: %w", typ, name, ErrNotFound)
	}
	return fmt.Errorf("resolve: %s %s: %w", typ, name, err)
}

func notFound(typ, name string) error {
	return fmt.Errorf("resolve: %s %s: %w", typ, name, ErrNotFound)
}

// unescapeTXT turns a character-string as the dns package presents it
// (`\"`, `\\` and `\DDD` escapes) back into its bytes on the wire.
func unescapeTXT(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		if i+2 < len(s) && isDigit(s[i]) && isDigit(s[i+1]) && isDigit(s[i+2]) {
			n := int(s[i]-'0')*100 + int(s[i+1]-'0')*10 + int(s[i+2]-'0')
			b.WriteByte(byte(n))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// trimName lower-cases a domain name and drops its trailing dot.
func trimName(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}
