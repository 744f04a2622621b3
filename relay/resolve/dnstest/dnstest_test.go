package dnstest

import (
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func exchange(t *testing.T, s *Server, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	req := new(dns.Msg)
	req.SetQuestion(dns.Fqdn(name), qtype)
	resp, _, err := c.Exchange(req, s.Addr)
	if err != nil {
		t.Fatalf("%s query %s: %v", network, name, err)
	}
	return resp
}

func TestLongTXTIsSplitOnTheWire(t *testing.T) {
	s := Start(t)
	value := strings.Repeat("x", 255) + strings.Repeat("y", 255) + `z\"`
	s.AddTXT("long.example.com", value)

	// Over UDP without EDNS the 513-byte record does not fit: TC is set.
	if resp := exchange(t, s, "udp", "long.example.com", dns.TypeTXT); !resp.Truncated || len(resp.Answer) != 0 {
		t.Fatalf("UDP answer: truncated=%v with %d records; want truncated and empty", resp.Truncated, len(resp.Answer))
	}

	resp := exchange(t, s, "tcp", "long.example.com", dns.TypeTXT)
	if resp.Truncated || len(resp.Answer) != 1 {
		t.Fatalf("TCP answer: truncated=%v with %d records", resp.Truncated, len(resp.Answer))
	}
	// Check the raw character-strings: length-prefixed, at most 255 bytes each.
	buf := make([]byte, 1024)
	end, err := dns.PackRR(resp.Answer[0], buf, 0, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	rdata := buf[end-int(resp.Answer[0].Header().Rdlength) : end]
	var parts []string
	for len(rdata) > 0 {
		n := int(rdata[0])
		parts = append(parts, string(rdata[1:1+n]))
		rdata = rdata[1+n:]
	}
	if len(parts) != 3 || len(parts[0]) != 255 || len(parts[1]) != 255 || strings.Join(parts, "") != value {
		t.Fatalf("character-strings = %d of lengths %v; want 3 (255, 255, 3) joining to the value", len(parts), lengths(parts))
	}
}

func lengths(parts []string) []int {
	var n []int
	for _, p := range parts {
		n = append(n, len(p))
	}
	return n
}

func TestAnswers(t *testing.T) {
	s := Start(t)
	s.AddA("Host.Example.com", "192.0.2.1", "2001:db8::1")
	s.AddCNAME("www.example.com", "host.example.com")
	s.SetFail("fail.example.com", dns.RcodeServerFailure)

	tests := []struct {
		name    string
		qtype   uint16
		rcode   int
		answers int
	}{
		{"host.example.com", dns.TypeA, dns.RcodeSuccess, 1},
		{"HOST.EXAMPLE.COM", dns.TypeAAAA, dns.RcodeSuccess, 1},
		{"host.example.com", dns.TypeMX, dns.RcodeSuccess, 0},        // NODATA
		{"www.example.com", dns.TypeA, dns.RcodeSuccess, 2},          // CNAME + A
		{"www.example.com", dns.TypeCNAME, dns.RcodeSuccess, 1},      // the alias only
		{"nowhere.example.com", dns.TypeA, dns.RcodeNameError, 0},    // NXDOMAIN
		{"fail.example.com", dns.TypeA, dns.RcodeServerFailure, 0},   // injected
		{"fail.example.com", dns.TypeTXT, dns.RcodeServerFailure, 0}, // every type
	}
	for _, tt := range tests {
		resp := exchange(t, s, "udp", tt.name, tt.qtype)
		if resp.Rcode != tt.rcode || len(resp.Answer) != tt.answers || !resp.Authoritative {
			t.Errorf("%s %s: rcode %s, %d answers, aa=%v; want %s, %d, aa",
				tt.name, dns.TypeToString[tt.qtype], dns.RcodeToString[resp.Rcode], len(resp.Answer),
				resp.Authoritative, dns.RcodeToString[tt.rcode], tt.answers)
		}
	}
}
