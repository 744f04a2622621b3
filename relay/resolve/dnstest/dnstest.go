// Package dnstest provides a fake authoritative DNS server on loopback for
// tests of code that resolves through a configured DNS server.
//
// It answers only from the records a test adds; it must never forward a query
// or listen beyond 127.0.0.1.
package dnstest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// ttl is the TTL of every record served.
const ttl = 60

// maxChase bounds how many in-zone CNAME hops an answer follows.
const maxChase = 8

// Server is an authoritative fake DNS server on 127.0.0.1 (UDP and TCP on
// the same port). Names are case-insensitive and given without a trailing
// dot. A name with no records answers NXDOMAIN; a name with records but none
// of the type asked for answers NOERROR with an empty answer (NODATA). UDP
// answers larger than the client allows (512 bytes without EDNS) are
// truncated with the TC bit set, as real servers do. Safe for concurrent use.
type Server struct {
	Addr string // host:port, for resolve.New

	t     testing.TB
	mu    sync.Mutex
	rrs   map[string][]dns.RR // by lower-case name without trailing dot
	fails map[string]int
}

// Start runs a server on a free loopback port; t.Cleanup shuts it down.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, rrs: map[string][]dns.RR{}, fails: map[string]int{}}

	pc, ln, err := listenPair()
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	s.Addr = pc.LocalAddr().String()

	handler := dns.HandlerFunc(s.serve)
	udp := &dns.Server{PacketConn: pc, Handler: handler}
	tcp := &dns.Server{Listener: ln, Handler: handler}
	for _, srv := range []*dns.Server{udp, tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
	}
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return s
}

// listenPair opens UDP and TCP listeners on the same free loopback port.
func listenPair() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp: %w", err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		lastErr = err
		_ = pc.Close()
	}
	return nil, nil, fmt.Errorf("no port free for both udp and tcp: %w", lastErr)
}

// AddTXT adds one TXT record per value at name. Values longer than 255 bytes
// are served as several 255-byte character-strings of one record.
func (s *Server) AddTXT(name string, values ...string) {
	for _, v := range values {
		s.add(name, &dns.TXT{Hdr: s.hdr(name, dns.TypeTXT), Txt: split255(v)})
	}
}

// AddCNAME makes name an alias of target.
func (s *Server) AddCNAME(name, target string) {
	s.add(name, &dns.CNAME{Hdr: s.hdr(name, dns.TypeCNAME), Target: dns.Fqdn(target)})
}

// AddMX adds an MX record at name. host "." publishes a null MX.
func (s *Server) AddMX(name string, pref uint16, host string) {
	s.add(name, &dns.MX{Hdr: s.hdr(name, dns.TypeMX), Preference: pref, Mx: dns.Fqdn(host)})
}

// AddA adds address records at name: A for IPv4 literals, AAAA for IPv6.
func (s *Server) AddA(name string, ips ...string) {
	s.t.Helper()
	for _, v := range ips {
		ip := net.ParseIP(v)
		switch {
		case ip == nil:
			s.t.Fatalf("dnstest: AddA(%q): %q is not an IP address", name, v)
		case ip.To4() != nil:
			s.add(name, &dns.A{Hdr: s.hdr(name, dns.TypeA), A: ip.To4()})
		default:
			s.add(name, &dns.AAAA{Hdr: s.hdr(name, dns.TypeAAAA), AAAA: ip})
		}
	}
}

// SetFail makes every query for name answer with rcode (for example
// dns.RcodeServerFailure or dns.RcodeRefused) and no records.
func (s *Server) SetFail(name string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails[key(name)] = rcode
}

func (s *Server) add(name string, rr dns.RR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(name)
	s.rrs[k] = append(s.rrs[k], rr)
}

func (s *Server) hdr(name string, rrtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: dns.Fqdn(name), Rrtype: rrtype, Class: dns.ClassINET, Ttl: ttl}
}

// serve answers one query from the records held.
func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	if len(req.Question) == 1 {
		s.answer(resp, req.Question[0])
	} else {
		resp.Rcode = dns.RcodeFormatError
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
			size = int(opt.UDPSize())
		}
		resp.Truncate(size)
	}
	_ = w.WriteMsg(resp)
}

func (s *Server) answer(resp *dns.Msg, q dns.Question) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := key(q.Name)
	for range maxChase {
		if rcode, ok := s.fails[name]; ok {
			resp.Rcode = rcode
			resp.Answer = nil
			return
		}
		rrs, ok := s.rrs[name]
		if !ok {
			if len(resp.Answer) == 0 {
				resp.Rcode = dns.RcodeNameError
			}
			return
		}
		var alias *dns.CNAME
		found := false
		for _, rr := range rrs {
			if q.Qtype == dns.TypeANY || rr.Header().Rrtype == q.Qtype {
				resp.Answer = append(resp.Answer, dns.Copy(rr))
				found = true
			}
			if c, ok := rr.(*dns.CNAME); ok {
				alias = c
			}
		}
		if found || alias == nil {
			return
		}
		// Follow the alias within the records held, as an authoritative
		// server does for in-zone targets.
		resp.Answer = append(resp.Answer, dns.Copy(alias))
		name = key(alias.Target)
	}
}

// key is the map key for a name: lower-case, without a trailing dot.
func key(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// split255 cuts a TXT value into character-strings of at most 255 bytes,
// each escaped the way the dns package expects (a backslash quotes the next
// byte).
func split255(v string) []string {
	var parts []string
	for {
		n := min(len(v), 255)
		parts = append(parts, strings.ReplaceAll(v[:n], `\`, `\\`))
		v = v[n:]
		if v == "" {
			return parts
		}
	}
}
