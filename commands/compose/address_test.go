package compose

import (
	"strings"
	"testing"
)

func TestValidAddress(t *testing.T) {
	long64 := strings.Repeat("a", 64)
	label63 := strings.Repeat("b", 63)
	tests := []struct {
		addr string
		ok   bool
	}{
		{"user@example.com", true},
		{"first.last+tag@mail.example.co.uk", true},
		{"o'brien@example.ie", true},
		{"USER@EXAMPLE.COM", true},
		{"user@xn--bcher-kva.de", true},
		{"user@bücher.de", true},
		{"user@例え.テスト", true},
		{long64 + "@example.com", true},
		{long64 + "a@example.com", false},
		{"a@" + label63 + ".com", true},
		{"a@" + label63 + "b.com", false},
		{"a@" + strings.Repeat(label63+".", 3) + "com", true},
		{"a@" + strings.Repeat(label63+".", 4) + "com", false},
		{"", false},
		{"user", false},
		{"@example.com", false},
		{"user@", false},
		{"user@localhost", false},
		{"user@example", false},
		{"user@example.com.", false},
		{"user@.example.com", false},
		{"user@exa mple.com", false},
		{"us er@example.com", false},
		{" user@example.com", false},
		{"user@example.com ", false},
		{"<user@example.com>", false},
		{"User <user@example.com>", false},
		{"user@@example.com", false},
		{"a@b@example.com", false},
		{"user.@example.com", false},
		{".user@example.com", false},
		{"us..er@example.com", false},
		{"\"quoted\"@example.com", false},
		{"üser@example.com", false},
		{"user@-example.com", false},
		{"user@example-.com", false},
		{"user@exa_mple.com", false},
		{"user@1.2.3.4", false},
		{"user@[127.0.0.1]", false},
		{"user@example.com\r\nBcc: x@example.com", false},
		{"user@example.com\x00", false},
	}
	for _, tc := range tests {
		if got := ValidAddress(tc.addr); got != tc.ok {
			t.Errorf("ValidAddress(%q) = %v, want %v", tc.addr, got, tc.ok)
		}
	}
}

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in   string
		want Address
	}{
		{"Darth Vader <darth@example.com>", Address{"Darth Vader", "darth@example.com"}},
		{"bounce@example.com", Address{"", "bounce@example.com"}},
		{"  bounce@example.com  ", Address{"", "bounce@example.com"}},
		{"<bounce@example.com>", Address{"", "bounce@example.com"}},
		{`"Vader, Darth" <darth@example.com>`, Address{"Vader, Darth", "darth@example.com"}},
		{"=?utf-8?q?Gr=C3=BC=C3=9Fe?= <g@example.com>", Address{"Grüße", "g@example.com"}},
		{"Grüße <g@example.com>", Address{"Grüße", "g@example.com"}},
	}
	for _, tc := range tests {
		got, err := ParseAddress(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseAddress(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		"",
		"Darth Vader",
		"darth",
		"Darth <darth@localhost>",
		"a@example.com, b@example.com",
		"Darth <darth@example.com>\r\nBcc: x@example.com",
		"Darth <darth@example.com",
	} {
		if got, err := ParseAddress(bad); err == nil {
			t.Errorf("ParseAddress(%q) = %+v, want an error", bad, got)
		}
	}
}
