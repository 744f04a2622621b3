package compose

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseAddress checks the "Name <addr>" parser (GatewayAPI's from and reply fields):
// it either refuses the text or returns an address ValidAddress accepts, with no line break
// anywhere, that Build writes into a To header and reads back unchanged. Seeds are in
// testdata/fuzz/FuzzParseAddress.
func FuzzParseAddress(f *testing.F) {
	f.Add("Jane Doe <jane@example.org>")
	f.Add("=?utf-8?q?J=C3=A4ne?= <j@bücher.de>")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		if !ValidAddress(a.Email) {
			t.Fatalf("ParseAddress(%q) = %+v: the address does not pass ValidAddress", s, a)
		}
		if strings.ContainsAny(a.Email+a.Name, "\r\n\x00") {
			t.Fatalf("ParseAddress(%q) = %+v: a line break or NUL got through", s, a)
		}
		out, err := Build(&Message{From: Address{Email: "sender@example.com"}, To: []Address{a}, Subject: "x", Text: "x",
			MessageID: "id@example.com", Date: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)})
		if err != nil {
			return // a display name Build refuses (e.g. control characters) is refused there, typed
		}
		p, err := readMessage(out)
		if err != nil {
			t.Fatalf("Build with To %+v does not parse back: %v\n%q", a, err, out)
		}
		to, err := p.header.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Name != a.Name {
			t.Fatalf("To of %+v read back as %v (%v)\n%q", a, to, err, out)
		}
		if want, _ := asciiAddress(a.Email); !strings.EqualFold(to[0].Address, want) {
			t.Fatalf("To address %q read back as %q", want, to[0].Address)
		}
	})
}
