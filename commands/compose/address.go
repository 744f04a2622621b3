package compose

import (
	"fmt"
	netmail "net/mail"
	"strings"

	"github.com/emersion/go-message/mail"
	"golang.org/x/net/idna"
)

// ValidAddress reports whether s is a bare addr-spec gatewayd can send to or
// from: local@domain with an ASCII dot-atom local part of at most 64 octets,
// a domain of DNS labels with at least one dot (internationalized domains
// are accepted and checked in their punycode form), at most 254 octets in
// all, and no spaces, angle brackets or display name.
func ValidAddress(s string) bool {
	_, ok := asciiAddress(s)
	return ok
}

// asciiAddress validates s as ValidAddress does and returns it with the
// domain in ASCII (punycode) form.
func asciiAddress(s string) (string, bool) {
	if s == "" || len(s) > 254 {
		return "", false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return "", false
		}
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", false
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 || len(domain) > 255 {
		return "", false
	}
	for i := 0; i < len(local); i++ {
		if local[i] >= 0x80 {
			// A UTF-8 local part needs SMTPUTF8 end to end.
			return "", false
		}
	}
	ascii, ok := asciiDomain(domain)
	if !ok {
		return "", false
	}
	addr := local + "@" + ascii
	if len(addr) > 254 {
		return "", false
	}
	a, err := netmail.ParseAddress(addr)
	if err != nil || a.Name != "" || a.Address != addr {
		return "", false
	}
	return addr, true
}

// asciiDomain returns d in ASCII form if it is a plausible mail domain.
func asciiDomain(d string) (string, bool) {
	ascii := d
	if needsEncoding(d) {
		var err error
		ascii, err = idna.Lookup.ToASCII(d)
		if err != nil {
			return "", false
		}
	}
	if len(ascii) > 255 {
		return "", false
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return "", false
			}
		}
	}
	tld := labels[len(labels)-1]
	if strings.Trim(tld, "0123456789") == "" {
		return "", false
	}
	return ascii, true
}

// ParseAddress parses GatewayAPI's from/reply form: "Name <addr>" or a bare
// addr. An RFC 2047 encoded name is decoded. The address must pass
// ValidAddress.
func ParseAddress(s string) (Address, error) {
	if hasBreak(s) {
		return Address{}, fmt.Errorf("compose: address %q contains a line break or NUL", s)
	}
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil {
		return Address{}, fmt.Errorf("compose: parse address %q: %w", s, err)
	}
	if !ValidAddress(a.Address) {
		return Address{}, fmt.Errorf("compose: invalid address %q", a.Address)
	}
	return Address{Name: a.Name, Email: a.Address}, nil
}

// formatAddressList validates list and renders it as an address-list header
// value (ASCII only: names RFC 2047 encoded where needed, domains punycode).
func formatAddressList(field string, list []Address) (string, error) {
	parts := make([]string, 0, len(list))
	for _, a := range list {
		if err := checkText(field, "display name", a.Name); err != nil {
			return "", err
		}
		if hasBreak(a.Email) {
			return "", fieldError(field, "address contains a line break or NUL")
		}
		if a.Email == "" {
			return "", fieldError(field, "missing address")
		}
		addr, ok := asciiAddress(a.Email)
		if !ok {
			return "", fieldError(field, "invalid address %q", a.Email)
		}
		parts = append(parts, formatMailbox(a.Name, addr))
	}
	return strings.Join(parts, ", "), nil
}

// formatMailbox renders one mailbox. The name is written as an atom phrase
// or a quoted string when that reads back unchanged, else as encoded words.
func formatMailbox(name, addr string) string {
	if name == "" {
		return addr
	}
	if !needsEncoding(name) && !strings.Contains(name, "=?") {
		return (&netmail.Address{Name: name, Address: addr}).String()
	}
	if !needsEncoding(name) {
		return encodeWordsB(name) + " <" + addr + ">"
	}
	// net/mail chooses Q or B encoding by the name's specials.
	return (&netmail.Address{Name: name, Address: addr}).String()
}
