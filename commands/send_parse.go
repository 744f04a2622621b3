package commands

import (
	"encoding/base64"
	"mime"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"gatewayd/commands/compose"
	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// Limits of one API send that are not configuration.
const (
	maxTags          = 20  // Tags of a message
	maxTagLen        = 128 // characters of one tag
	maxAttachments   = 100 // files of a message
	maxUserRefLen    = 255 // GatewayAPI userref (the column's size)
	maxSendAhead     = 30 * 24 * 3600
	gatewayAPIMaxTag = 100 // GatewayAPI personalisation tags
)

// addrProblem says what is wrong with one entry of an address list.
type addrProblem uint8

const (
	addrOK        addrProblem = iota
	addrMalformed             // not an object (or a bare address string)
	addrMissing               // no address
	addrInvalid               // address or display name unusable
)

// addrEntry is one parsed entry of an address list.
type addrEntry struct {
	compose.Address
	problem addrProblem
	index   int
}

// listOf reads a parameter that should be a list: arrays (and PHP-style indexed objects) as
// they are, a single object or scalar as a list of one, absent or null as empty. ok is false
// for a value that cannot be a list.
func listOf(v any) (items []any, ok bool) {
	switch t := dispatcher.Normalize(v).(type) {
	case nil:
		return nil, true
	case []any:
		return t, true
	case map[string]any:
		if len(t) == 0 {
			return nil, true
		}
		return []any{t}, true
	case string:
		if strings.TrimSpace(t) == "" {
			return nil, true
		}
		return []any{t}, true
	}
	return nil, false
}

// field returns obj's value for name, case-insensitively, as text.
func field(obj map[string]any, name string) (string, bool) {
	v, ok := dispatcher.Lookup(obj, name)
	if !ok || v == nil {
		return "", false
	}
	s, ok := dispatcher.AsString(v)
	return s, ok
}

// parseAddresses reads address list entries: objects {name, <emailKey>} or bare addresses.
func parseAddresses(items []any, emailKey string) []addrEntry {
	out := make([]addrEntry, 0, len(items))
	for i, it := range items {
		e := addrEntry{index: i}
		switch t := it.(type) {
		case map[string]any:
			email, ok := field(t, emailKey)
			if _, present := dispatcher.Lookup(t, emailKey); present && !ok {
				e.problem = addrMalformed
				break
			}
			name, nameOK := field(t, "name")
			if v, present := dispatcher.Lookup(t, "name"); present && v != nil && !nameOK {
				e.problem = addrInvalid
				break
			}
			e.Name, e.Email = strings.TrimSpace(name), strings.TrimSpace(email)
		case string:
			e.Email = strings.TrimSpace(t)
		default:
			e.problem = addrMalformed
		}
		if e.problem == addrOK {
			e.problem = checkAddress(e.Address)
		}
		out = append(out, e)
	}
	return out
}

// checkAddress validates a mailbox: an address gatewayd can send to, and a display name
// without line breaks, NUL or invalid UTF-8.
func checkAddress(a compose.Address) addrProblem {
	switch {
	case a.Email == "":
		return addrMissing
	case !compose.ValidAddress(a.Email):
		return addrInvalid
	case !cleanText(a.Name):
		return addrInvalid
	}
	return addrOK
}

// cleanText reports text that may go into a header: valid UTF-8 without CR, LF or NUL.
func cleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsAny(s, "\r\n\x00")
}

// domainOf returns the lower-case ASCII domain of an address.
func domainOf(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return ""
	}
	d, _ := NormalizeDomain(email[at+1:])
	return d
}

// onSenderDomain reports whether an address belongs to the sender domain or a subdomain of it.
func onSenderDomain(email string, d *storage.SenderDomain) bool {
	dom := domainOf(email)
	return dom != "" && (dom == d.Name || strings.HasSuffix(dom, "."+d.Name))
}

// decodeBase64 reads attachment content: standard or URL-safe alphabet, padded or not, with
// line breaks and spaces ignored (MIME-style wrapped base64 is common).
func decodeBase64(s string) ([]byte, bool) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

// validMediaType accepts "type/subtype" with optional parameters.
func validMediaType(s string) bool {
	mt, _, err := mime.ParseMediaType(s)
	return err == nil && strings.Count(mt, "/") == 1 && cleanText(s)
}

// parseTags reads Tags: a list of strings (or one string), each 1-128 printable characters,
// at most maxTags; duplicates are dropped.
func parseTags(v any) ([]string, bool) {
	items, ok := listOf(v)
	if !ok || len(items) > maxTags {
		return nil, false
	}
	var tags []string
	seen := map[string]bool{}
	for _, it := range items {
		s, ok := dispatcher.AsString(it)
		s = strings.TrimSpace(s)
		if !ok || s == "" || utf8.RuneCountInString(s) > maxTagLen || !printable(s) {
			return nil, false
		}
		if !seen[s] {
			seen[s] = true
			tags = append(tags, s)
		}
	}
	return tags, true
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// parseHeaders reads Headers: an object of name -> text value, sorted by name (JSON objects
// carry no order). ok is false for anything else.
func parseHeaders(v any) ([][2]string, bool) {
	if v == nil {
		return nil, true
	}
	obj, isObj := dispatcher.Normalize(v).(map[string]any)
	if !isObj {
		if items, isList := dispatcher.Normalize(v).([]any); isList && len(items) == 0 {
			return nil, true
		}
		return nil, false
	}
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([][2]string, 0, len(names))
	for _, k := range names {
		s, ok := dispatcher.AsString(obj[k])
		if !ok {
			return nil, false
		}
		out = append(out, [2]string{k, s})
	}
	return out, true
}

// headersError checks custom headers with compose's own rules (field names, injection,
// reserved names), so every problem is found before the message is built.
func headersError(hs [][2]string, replyTo bool) error {
	if len(hs) == 0 {
		return nil
	}
	m := &compose.Message{From: compose.Address{Email: "check@example.com"}, MessageID: "check@example.com", Headers: hs, Text: "x"}
	if replyTo {
		m.ReplyTo = []compose.Address{{Email: "check@example.com"}}
	}
	_, err := compose.Build(m)
	return err
}

// subjectError checks a subject with compose's rules (line breaks, NUL, UTF-8, length).
func subjectError(s string) error {
	_, err := compose.Build(&compose.Message{From: compose.Address{Email: "check@example.com"}, MessageID: "check@example.com", Subject: s, Text: "x"})
	return err
}

// envelope lists a message's recipients once each (the first kind wins: to, then cc, bcc).
func envelope(to, cc, bcc []compose.Address) []Rcpt {
	seen := map[string]bool{}
	var out []Rcpt
	add := func(list []compose.Address, kind string) {
		for _, a := range list {
			k := strings.ToLower(a.Email)
			if !seen[k] {
				seen[k] = true
				out = append(out, Rcpt{Email: a.Email, Kind: kind})
			}
		}
	}
	add(to, "to")
	add(cc, "cc")
	add(bcc, "bcc")
	return out
}
