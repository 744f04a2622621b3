package resolve_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"gatewayd/relay/resolve"
	"gatewayd/relay/resolve/dnstest"
)

func newResolver(t *testing.T) (*dnstest.Server, *resolve.Resolver) {
	t.Helper()
	srv := dnstest.Start(t)
	return srv, resolve.New(srv.Addr, 2*time.Second)
}

func TestLookupTXT(t *testing.T) {
	srv, r := newResolver(t)
	srv.AddTXT("example.com", "v=spf1 -all", `quote" back\slash; semi`)
	srv.AddA("example.com", "192.0.2.1")

	got, err := r.LookupTXT(t.Context(), "example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"v=spf1 -all", `quote" back\slash; semi`}
	if !slices.Equal(got, want) {
		t.Fatalf("TXT = %q, want %q", got, want)
	}
}

func TestLookupTXTLongValues(t *testing.T) {
	srv, r := newResolver(t)
	// The size of a 2048-bit DKIM key record: two character-strings, one UDP answer.
	dkimRecord := "v=DKIM1; k=rsa; p=" + strings.Repeat("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A", 12) + "IDAQAB"
	// Larger than a 512-byte UDP answer: truncated, then fetched over TCP.
	huge := strings.Repeat("0123456789abcdef", 200)
	srv.AddTXT("sel._domainkey.example.com", dkimRecord)
	srv.AddTXT("big.example.com", huge)

	for name, want := range map[string]string{"sel._domainkey.example.com": dkimRecord, "big.example.com": huge} {
		got, err := r.LookupTXT(t.Context(), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != 1 || got[0] != want {
			t.Fatalf("%s: got %d records, first %d bytes; want one of %d bytes", name, len(got), len(first(got)), len(want))
		}
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func TestLookupCaseInsensitive(t *testing.T) {
	srv, r := newResolver(t)
	srv.AddTXT("Sel._DomainKey.Example.COM", "v=DKIM1; p=abc")
	srv.AddMX("example.org", 10, "MX.Example.ORG")

	for _, name := range []string{"sel._domainkey.example.com", "SEL._DOMAINKEY.EXAMPLE.COM."} {
		got, err := r.LookupTXT(t.Context(), name)
		if err != nil || !slices.Equal(got, []string{"v=DKIM1; p=abc"}) {
			t.Fatalf("LookupTXT(%q) = %q, %v", name, got, err)
		}
	}
	mxs, err := r.LookupMX(t.Context(), "EXAMPLE.org")
	if err != nil || len(mxs) != 1 || mxs[0].Host != "mx.example.org" {
		t.Fatalf("LookupMX = %v, %v; want host mx.example.org", mxs, err)
	}
}

func TestLookupCNAME(t *testing.T) {
	srv, r := newResolver(t)
	srv.AddCNAME("track.example.com", "Links.Gateway.example.NET")
	srv.AddTXT("plain.example.com", "no alias here")
	srv.AddCNAME("alias.example.com", "target.example.com")
	srv.AddTXT("target.example.com", "through the alias")

	got, err := r.LookupCNAME(t.Context(), "track.example.com")
	if err != nil || got != "links.gateway.example.net" {
		t.Fatalf("LookupCNAME = %q, %v; want links.gateway.example.net", got, err)
	}
	for _, name := range []string{"plain.example.com", "missing.example.com"} {
		if got, err := r.LookupCNAME(t.Context(), name); !errors.Is(err, resolve.ErrNotFound) {
			t.Fatalf("LookupCNAME(%s) = %q, %v; want ErrNotFound", name, got, err)
		}
	}
	txt, err := r.LookupTXT(t.Context(), "alias.example.com")
	if err != nil || !slices.Equal(txt, []string{"through the alias"}) {
		t.Fatalf("LookupTXT through CNAME = %q, %v", txt, err)
	}
}

func TestLookupMX(t *testing.T) {
	srv, r := newResolver(t)
	srv.AddMX("example.com", 20, "mx2.example.com")
	srv.AddMX("example.com", 5, "mx0.example.net")
	srv.AddMX("example.com", 10, "mx1.example.com")
	srv.AddA("nomx.example.com", "192.0.2.7")
	srv.AddMX("nullmx.example.com", 0, ".")

	mxs, err := r.LookupMX(t.Context(), "example.com")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mx := range mxs {
		got = append(got, mx.Host)
	}
	want := []string{"mx0.example.net", "mx1.example.com", "mx2.example.com"}
	if !slices.Equal(got, want) || mxs[0].Pref != 5 || mxs[2].Pref != 20 {
		t.Fatalf("MX hosts = %q (prefs %d..%d), want %q", got, mxs[0].Pref, mxs[len(mxs)-1].Pref, want)
	}

	for _, name := range []string{"nomx.example.com", "missing.example.com"} {
		if mxs, err := r.LookupMX(t.Context(), name); !errors.Is(err, resolve.ErrNotFound) {
			t.Fatalf("LookupMX(%s) = %v, %v; want ErrNotFound", name, mxs, err)
		}
	}
	if mxs, err := r.LookupMX(t.Context(), "nullmx.example.com"); !errors.Is(err, resolve.ErrNullMX) || errors.Is(err, resolve.ErrNotFound) {
		t.Fatalf("LookupMX(null MX) = %v, %v; want ErrNullMX", mxs, err)
	}
}

func TestLookupHost(t *testing.T) {
	srv, r := newResolver(t)
	srv.AddA("mx.example.com", "192.0.2.1", "2001:db8::25", "192.0.2.2")
	srv.AddA("v6only.example.com", "2001:db8::1")
	srv.AddTXT("noaddr.example.com", "text only")

	got, err := r.LookupHost(t.Context(), "mx.example.com")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"192.0.2.1", "192.0.2.2", "2001:db8::25"}; !slices.Equal(got, want) {
		t.Fatalf("LookupHost = %q, want %q", got, want)
	}
	if got, err := r.LookupHost(t.Context(), "v6only.example.com"); err != nil || !slices.Equal(got, []string{"2001:db8::1"}) {
		t.Fatalf("LookupHost(v6only) = %q, %v", got, err)
	}
	if got, err := r.LookupHost(t.Context(), "10.1.2.3"); err != nil || !slices.Equal(got, []string{"10.1.2.3"}) {
		t.Fatalf("LookupHost(IP literal) = %q, %v", got, err)
	}
	for _, name := range []string{"noaddr.example.com", "missing.example.com"} {
		if got, err := r.LookupHost(t.Context(), name); !errors.Is(err, resolve.ErrNotFound) {
			t.Fatalf("LookupHost(%s) = %q, %v; want ErrNotFound", name, got, err)
		}
	}
}

func TestServerFailureIsNotNotFound(t *testing.T) {
	srv, r := newResolver(t)
	srv.AddTXT("broken.example.com", "never served")
	srv.SetFail("broken.example.com", dns.RcodeServerFailure)
	srv.SetFail("refused.example.com", dns.RcodeRefused)

	lookups := map[string]func(name string) error{
		"TXT":   func(n string) error { _, err := r.LookupTXT(t.Context(), n); return err },
		"CNAME": func(n string) error { _, err := r.LookupCNAME(t.Context(), n); return err },
		"MX":    func(n string) error { _, err := r.LookupMX(t.Context(), n); return err },
		"Host":  func(n string) error { _, err := r.LookupHost(t.Context(), n); return err },
	}
	for kind, lookup := range lookups {
		for name, rcode := range map[string]string{"broken.example.com": "SERVFAIL", "refused.example.com": "REFUSED"} {
			err := lookup(name)
			if err == nil || errors.Is(err, resolve.ErrNotFound) {
				t.Fatalf("%s %s: err = %v; want a failure that is not ErrNotFound", kind, name, err)
			}
			if !strings.Contains(err.Error(), rcode) {
				t.Errorf("%s %s: err = %q; want it to name %s", kind, name, err, rcode)
			}
		}
		if err := lookup("missing.example.com"); !errors.Is(err, resolve.ErrNotFound) {
			t.Fatalf("%s NXDOMAIN: err = %v; want ErrNotFound", kind, err)
		}
	}
}

func TestLookupHostPartialFailure(t *testing.T) {
	srv, r := newResolver(t)
	srv.SetFail("down.example.com", dns.RcodeServerFailure)
	// Failing both A and AAAA is a failure, never "no such host".
	if _, err := r.LookupHost(t.Context(), "down.example.com"); err == nil || errors.Is(err, resolve.ErrNotFound) {
		t.Fatalf("err = %v; want a failure that is not ErrNotFound", err)
	}
}

func TestInvalidName(t *testing.T) {
	_, r := newResolver(t)
	for _, name := range []string{"", "bad..name", strings.Repeat("a", 64) + ".example.com"} {
		if _, err := r.LookupTXT(t.Context(), name); err == nil || errors.Is(err, resolve.ErrNotFound) {
			t.Fatalf("LookupTXT(%q) err = %v; want an invalid-name error", name, err)
		}
	}
}

func TestUnresponsiveServerTimesOut(t *testing.T) {
	// A UDP socket that never answers.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r := resolve.New(pc.LocalAddr().String(), 200*time.Millisecond)

	start := time.Now()
	_, err = r.LookupTXT(t.Context(), "example.com")
	elapsed := time.Since(start)
	if err == nil || errors.Is(err, resolve.ErrNotFound) {
		t.Fatalf("err = %v; want a timeout", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("err = %v; want a timeout", err)
		}
	}
	if elapsed < 150*time.Millisecond || elapsed > 2*time.Second {
		t.Fatalf("lookup took %v; want about the 200ms timeout", elapsed)
	}

	// The same bound holds for the two lookups LookupHost makes.
	start = time.Now()
	if _, err := r.LookupHost(t.Context(), "mx.example.com"); err == nil || errors.Is(err, resolve.ErrNotFound) {
		t.Fatalf("LookupHost err = %v; want a timeout", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("LookupHost took %v", elapsed)
	}
}

func TestClosedPortFailsPromptly(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	r := resolve.New(addr, 500*time.Millisecond)

	start := time.Now()
	_, err = r.LookupMX(t.Context(), "example.com")
	if err == nil || errors.Is(err, resolve.ErrNotFound) {
		t.Fatalf("err = %v; want a failure that is not ErrNotFound", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("lookup took %v", elapsed)
	}
}

func TestCancelledContextStopsLookup(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r := resolve.New(pc.LocalAddr().String(), 10*time.Second)

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = r.LookupTXT(ctx, "example.com")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v; want context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("lookup took %v after cancellation at 100ms", elapsed)
	}
}

func TestSystemResolverIPLiteral(t *testing.T) {
	r := resolve.New("", time.Second)
	got, err := r.LookupHost(t.Context(), "::1")
	if err != nil || !slices.Equal(got, []string{"::1"}) {
		t.Fatalf("LookupHost(::1) = %q, %v", got, err)
	}
}
