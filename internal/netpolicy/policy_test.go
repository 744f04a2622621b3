package netpolicy

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// stubLookup answers from a fixed table and fails for any other name, so no
// test reaches a real resolver.
func stubLookup(table map[string][]string) func(context.Context, string) ([]string, error) {
	return func(_ context.Context, host string) ([]string, error) {
		if a, ok := table[host]; ok {
			return a, nil
		}
		return nil, errors.New("no such host " + host)
	}
}

func testPolicy(allowPrivate bool) Policy {
	return Policy{
		AllowPrivate: allowPrivate,
		LookupHost: stubLookup(map[string][]string{
			"example.com":        {"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
			"internal.example":   {"10.0.0.1"},
			"mixed.example":      {"93.184.215.14", "192.168.1.10"},
			"metadata.example":   {"169.254.169.254"},
			"mapped.example":     {"::ffff:127.0.0.1"},
			"v6loop.example":     {"::1"},
			"empty.example":      {},
			"garbage.example":    {"not-an-ip"},
			"public-v6.example":  {"2606:4700:4700::1111"},
			"xn--bcher-kva.test": {"93.184.215.14"},
		}),
	}
}

func TestValidateURLRefused(t *testing.T) {
	cases := []struct {
		url, reason string // reason: a substring the Error must hold
	}{
		// schemes and shape
		{"", "empty"},
		{"ftp://example.com/hook", "scheme"},
		{"javascript:alert(1)", "scheme"},
		{"file:///etc/passwd", "scheme"},
		{"gopher://example.com/", "scheme"},
		{"//example.com/hook", "scheme"},
		{"example.com/hook", "scheme"},
		{"http:example.com", "form"},
		{"http://", "no host"},
		{"https:///hook", "no host"},
		{"http://:8080/hook", "no host"},
		{"http://user:pass@example.com/hook", "user name"},
		{"http://user@example.com/hook", "user name"},
		{"http://@example.com/hook", "user name"},
		{"http://example.com:0/hook", "port"},
		{"http://example.com:65536/hook", "port"},
		{"http://example.com:99999999999/hook", "port"},
		{"http://" + strings.Repeat("a", 2100) + ".com/", "longer"},
		{"http://exa mple.com/", "parse"},
		{"http://bad_host!.com/", "invalid host name"},
		// IPv4 ranges
		{"http://127.0.0.1/", "loopback"},
		{"http://127.255.255.254:8080/", "loopback"},
		{"http://0.0.0.0/", "unspecified"},
		{"http://0.1.2.3/", "this-network"},
		{"http://10.0.0.1/", "private"},
		{"http://10.255.255.255/", "private"},
		{"http://172.16.0.1/", "private"},
		{"http://172.31.255.255/", "private"},
		{"http://192.168.0.1/", "private"},
		{"http://169.254.169.254/latest/meta-data/", "link-local"},
		{"http://169.254.0.1/", "link-local"},
		{"http://100.64.0.1/", "carrier-grade NAT"},
		{"http://100.127.255.255/", "carrier-grade NAT"},
		{"http://192.0.0.170/", "IETF"},
		{"http://198.18.0.1/", "benchmarking"},
		{"http://198.19.255.255/", "benchmarking"},
		{"http://224.0.0.1/", "multicast"},
		{"http://239.255.255.250/", "multicast"},
		{"http://255.255.255.255/", "broadcast"},
		{"http://240.0.0.1/", "reserved"},
		{"http://192.0.2.1/", "documentation"},
		// odd IPv4 spellings
		{"http://2130706433/", "loopback"},
		{"http://0177.0.0.1/", "loopback"},
		{"http://0x7f.0.0.1/", "loopback"},
		{"http://0x7f000001/", "loopback"},
		{"http://0X7F.1/", "loopback"},
		{"http://127.1/", "loopback"},
		{"http://127.0.1/", "loopback"},
		{"http://10.1/", "private"},
		{"http://0/", "unspecified"},
		{"http://017700000001/", "loopback"},
		{"http://0xa9.0xfe.0xa9.0xfe/", "link-local"},
		{"http://2852039166/", "link-local"},
		{"http://127.0.0.1./", "loopback"},
		{"http://１２７.０.０.１/", "loopback"},
		{"http://0x7f.0.0.0x1/", "loopback"},
		{"http://256.0.0.1/", "invalid IPv4"},
		{"http://1.2.3.4.5/", "invalid IPv4"},
		{"http://08.0.0.1/", "invalid IPv4"},
		{"http://4294967296/", "invalid IPv4"},
		{"http://foo.123/", "invalid IPv4"},
		// IPv6
		{"http://[::1]/", "loopback"},
		{"http://[::]/", "unspecified"},
		{"http://[fe80::1]/", "link-local"},
		{"http://[febf:ffff::1]/", "link-local"},
		{"http://[fc00::1]/", "unique local"},
		{"http://[fd12:3456:789a::1]/", "unique local"},
		{"http://[fec0::1]/", "site-local"},
		{"http://[ff02::1]/", "multicast"},
		{"http://[2001:db8::1]/", "documentation"},
		{"http://[100::1]/", "discard"},
		{"http://[fe80::1%25eth0]/", "zone"},
		{"http://[::ffff:127.0.0.1]/", "IPv4-mapped loopback"},
		{"http://[::ffff:7f00:1]/", "IPv4-mapped loopback"},
		{"http://[::ffff:10.0.0.1]/", "IPv4-mapped private"},
		{"http://[::ffff:169.254.169.254]/", "IPv4-mapped link-local"},
		{"http://[::127.0.0.1]/", "IPv4-compatible"},
		{"http://[::a9fe:a9fe]/", "IPv4-compatible"},
		{"http://[64:ff9b::127.0.0.1]/", "NAT64 loopback"},
		{"http://[64:ff9b::a9fe:a9fe]/", "NAT64 link-local"},
		{"http://[64:ff9b:1::1]/", "local-use NAT64"},
		{"http://[2002:7f00:1::]/", "6to4 loopback"},
		{"http://[2002:a00:1::1]/", "6to4 private"},
		{"http://[2002:c0a8:101::1]/", "6to4 private"},
		{"http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "Teredo loopback"},
		{"http://[::1:2:3:4:5:6:7:8:9]/", "parse"},
		{"http://[1::2::3]/", "parse"},
		// names
		{"http://localhost/", "local host name"},
		{"http://LOCALHOST:8080/", "local host name"},
		{"http://localhost./", "local host name"},
		{"http://api.localhost/", "local host name"},
		{"http://a.b.localhost/", "local host name"},
		{"http://localhost.localdomain/", "local host name"},
		{"http://ⓛocalhost/", "local host name"},
		{"http://metadata.google.internal/computeMetadata/v1/", "metadata"},
		{"http://metadata/", "metadata"},
		{"http://internal.example/hook", "resolves to 10.0.0.1"},
		{"http://mixed.example/hook", "resolves to 192.168.1.10"},
		{"http://metadata.example/hook", "link-local"},
		{"http://mapped.example/hook", "127.0.0.1"},
		{"http://v6loop.example/hook", "loopback"},
		{"http://unknown.example/hook", "does not resolve"},
		{"http://empty.example/hook", "does not resolve"},
		{"http://garbage.example/hook", "does not resolve"},
	}
	p := testPolicy(false)
	for _, c := range cases {
		err := p.ValidateURL(context.Background(), c.url)
		var ue *Error
		if !errors.As(err, &ue) {
			t.Errorf("ValidateURL(%q) = %v, want *Error", c.url, err)
			continue
		}
		if ue.Target != c.url {
			t.Errorf("ValidateURL(%q): Error.Target = %q", c.url, ue.Target)
		}
		if !strings.Contains(ue.Reason, c.reason) {
			t.Errorf("ValidateURL(%q): reason %q, want it to contain %q", c.url, ue.Reason, c.reason)
		}
	}
}

func TestValidateURLAddressRefusalsWrapErrRefused(t *testing.T) {
	p := testPolicy(false)
	for _, u := range []string{"http://127.0.0.1/", "http://internal.example/", "http://localhost/"} {
		if err := p.ValidateURL(context.Background(), u); !errors.Is(err, ErrRefused) {
			t.Errorf("ValidateURL(%q) = %v, want it to wrap ErrRefused", u, err)
		}
	}
	if err := p.ValidateURL(context.Background(), "ftp://example.com/"); errors.Is(err, ErrRefused) {
		t.Errorf("a bad scheme should not wrap ErrRefused: %v", err)
	}
}

func TestValidateURLAccepted(t *testing.T) {
	p := testPolicy(false)
	for _, u := range []string{
		"https://example.com/hook",
		"http://example.com/hook?token=abc#frag",
		"HTTPS://EXAMPLE.COM:8443/hook",
		"https://example.com.:443/",
		"https://93.184.215.14/hook",
		"http://93.184.215.14:8080/hook",
		"http://1572395790/",
		"https://[2606:4700:4700::1111]/hook",
		"https://[::ffff:93.184.215.14]/",
		"https://[64:ff9b::93.184.215.14]/",
		"https://[2002:5db8:d70e::1]/",
		"https://public-v6.example/hook",
		"https://bücher.test/hook",
		"https://172.32.0.1/",
		"https://100.128.0.1/",
		"https://198.20.0.1/",
		"https://11.0.0.1/",
	} {
		if err := p.ValidateURL(context.Background(), u); err != nil {
			t.Errorf("ValidateURL(%q) = %v, want nil", u, err)
		}
	}
}

func TestValidateURLAllowPrivate(t *testing.T) {
	p := testPolicy(true)
	for _, u := range []string{
		"http://127.0.0.1:8080/hook",
		"http://localhost:8080/hook",
		"http://[::1]/hook",
		"http://10.0.0.1/",
		"http://internal.example/hook",
		"http://not-resolvable.example/hook",
	} {
		if err := p.ValidateURL(context.Background(), u); err != nil {
			t.Errorf("AllowPrivate: ValidateURL(%q) = %v, want nil", u, err)
		}
	}
	// The syntax checks still hold.
	for _, u := range []string{"ftp://127.0.0.1/", "http://u:p@127.0.0.1/", "http://127.0.0.1:0/", "http://256.1.1.1/"} {
		if err := p.ValidateURL(context.Background(), u); err == nil {
			t.Errorf("AllowPrivate: ValidateURL(%q) = nil, want an error", u)
		}
	}
}

func TestValidateURLLookupUsesContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := Policy{LookupHost: func(ctx context.Context, host string) ([]string, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return []string{"93.184.215.14"}, nil
	}}
	err := p.ValidateURL(ctx, "https://example.com/")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ValidateURL with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestRefused(t *testing.T) {
	for _, c := range []struct {
		ip   string
		want bool
	}{
		{"127.0.0.1", true}, {"::1", true}, {"0.0.0.0", true}, {"::", true},
		{"10.1.2.3", true}, {"172.16.0.0", true}, {"172.15.255.255", false}, {"192.168.255.255", true},
		{"169.254.169.254", true}, {"fe80::abcd", true}, {"100.64.0.0", true}, {"100.63.255.255", false},
		{"fc00::", true}, {"fdff::1", true}, {"ff05::2", true}, {"224.0.0.251", true},
		{"255.255.255.255", true}, {"0.255.255.255", true}, {"192.0.0.8", true}, {"192.0.1.1", false},
		{"198.18.0.0", true}, {"198.17.255.255", false}, {"::ffff:192.168.0.1", true},
		{"::ffff:8.8.8.8", false}, {"64:ff9b::10.0.0.1", true}, {"64:ff9b::8.8.8.8", false},
		{"2002:a9fe:a9fe::", true}, {"2002:808:808::", false}, {"8.8.8.8", false},
		{"1.1.1.1", false}, {"2606:4700:4700::1111", false}, {"fe80::1%eth0", true},
	} {
		if got := Refused(netip.MustParseAddr(c.ip)); got != c.want {
			t.Errorf("Refused(%s) = %v, want %v", c.ip, got, c.want)
		}
	}
	if !Refused(netip.Addr{}) {
		t.Error("Refused(zero Addr) = false, want true")
	}
}

// TestLocalReason: the Local scope (direct-to-MX) refuses the host's own addresses, its link
// and the metadata services in every spelling, and lets private networks through.
func TestLocalReason(t *testing.T) {
	for _, c := range []struct {
		ip      string
		refused bool
	}{
		{"127.0.0.1", true}, {"127.8.9.10", true}, {"::1", true}, {"0.0.0.0", true}, {"::", true},
		{"0.1.2.3", true}, {"169.254.169.254", true}, {"169.254.1.1", true}, {"fe80::1", true},
		{"fd00:ec2::254", true}, {"100.100.100.200", true},
		{"::ffff:127.0.0.1", true}, {"::127.0.0.1", true}, {"64:ff9b::7f00:1", true},
		{"2002:7f00:1::", true}, {"::ffff:169.254.169.254", true}, {"64:ff9b::a9fe:a9fe", true},
		{"10.0.0.1", false}, {"192.168.1.1", false}, {"172.16.0.1", false}, {"100.64.0.1", false},
		{"fd00::1", false}, {"8.8.8.8", false}, {"2606:4700:4700::1111", false}, {"::ffff:10.0.0.1", false},
	} {
		got := LocalReason(netip.MustParseAddr(c.ip)) != ""
		if got != c.refused {
			t.Errorf("LocalReason(%s) refused = %v, want %v", c.ip, got, c.refused)
		}
	}
}

// TestCheckHost: the registration check of a bare host (an SMTP gateway's) refuses every
// spelling of a refused address and names that resolve to one, and accepts public ones.
func TestCheckHost(t *testing.T) {
	ctx := context.Background()
	p := testPolicy(false)
	for _, h := range []string{
		"127.0.0.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "127.1", "[::1]", "::1",
		"::ffff:127.0.0.1", "[::ffff:7f00:1]", "::127.0.0.1", "64:ff9b::127.0.0.1", "2002:7f00:1::",
		"10.0.0.1", "012.0.0.1", "172.16.0.1", "192.168.0.1", "100.64.0.1", "169.254.169.254",
		"0xa9fea9fe", "0.0.0.0", "0", "224.0.0.1", "fe80::1", "fd00::1",
		"localhost", "LOCALHOST.", "foo.localhost", "metadata.google.internal",
		"internal.example", "metadata.example", "mapped.example", "mixed.example",
	} {
		err := p.CheckHost(ctx, h)
		var pe *Error
		if !errors.As(err, &pe) || !errors.Is(err, ErrRefused) {
			t.Errorf("CheckHost(%q) = %v, want a refusal", h, err)
		}
	}
	if err := p.CheckHost(ctx, "example.com"); err != nil {
		t.Errorf("CheckHost(example.com) = %v", err)
	}
	if err := p.CheckHost(ctx, "93.184.215.14"); err != nil {
		t.Errorf("CheckHost(public literal) = %v", err)
	}
	if err := p.CheckHost(ctx, "nowhere.example"); err == nil || errors.Is(err, ErrRefused) {
		t.Errorf("CheckHost(unresolvable) = %v, want a resolution failure", err)
	}
	if err := testPolicy(true).CheckHost(ctx, "127.0.0.1"); err != nil {
		t.Errorf("AllowPrivate: CheckHost(127.0.0.1) = %v", err)
	}
	local := Policy{Local: true, LookupHost: p.LookupHost}
	if err := local.CheckHost(ctx, "10.0.0.1"); err != nil {
		t.Errorf("Local: CheckHost(10.0.0.1) = %v", err)
	}
	if err := local.CheckHost(ctx, "127.0.0.1"); !errors.Is(err, ErrRefused) {
		t.Errorf("Local: CheckHost(127.0.0.1) = %v", err)
	}
}
