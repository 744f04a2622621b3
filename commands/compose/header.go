package compose

import (
	"encoding/base64"
	"mime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
)

const (
	// preferredLineLen is RFC 5322's SHOULD limit, maxLineLen its MUST limit
	// (octets, without CRLF).
	preferredLineLen = 78
	maxLineLen       = 998

	dateLayout = "Mon, 02 Jan 2006 15:04:05 -0700"
)

// topHeader validates the envelope-visible fields of m and renders the
// message header lines up to and including the extra headers.
func topHeader(m *Message) ([]string, error) {
	var lines []string
	add := func(field, name, value string) error {
		l, ok := foldField(name, value)
		if !ok {
			return fieldError(field, "%s is too long to fit in a header line", name)
		}
		lines = append(lines, l)
		return nil
	}

	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	if err := add("Date", "Date", date.Format(dateLayout)); err != nil {
		return nil, err
	}

	if m.From.Email == "" {
		return nil, fieldError("From", "missing sender address")
	}
	lists := []struct {
		field, name string
		list        []Address
	}{
		{"From", "From", []Address{m.From}},
		{"To", "To", m.To},
		{"CC", "Cc", m.CC},
		{"ReplyTo", "Reply-To", m.ReplyTo},
	}
	for _, l := range lists {
		if len(l.list) == 0 {
			continue
		}
		v, err := formatAddressList(l.field, l.list)
		if err != nil {
			return nil, err
		}
		if err := add(l.field, l.name, v); err != nil {
			return nil, err
		}
	}

	subject, err := subjectLine(m.Subject)
	if err != nil {
		return nil, err
	}
	lines = append(lines, subject)

	if err := checkMessageID(m.MessageID); err != nil {
		return nil, err
	}
	if err := add("MessageID", "Message-ID", "<"+m.MessageID+">"); err != nil {
		return nil, err
	}
	lines = append(lines, "MIME-Version: 1.0\r\n")

	custom, err := customHeaders(m.Headers, len(m.ReplyTo) > 0)
	if err != nil {
		return nil, err
	}
	lines = append(lines, custom...)
	extra, err := headerLines(m.ExtraHeaders)
	if err != nil {
		return nil, err
	}
	return append(lines, extra...), nil
}

// hasBreak reports characters that would end or corrupt a header line.
func hasBreak(s string) bool {
	return strings.ContainsAny(s, "\r\n\x00")
}

// checkText validates caller text destined for a header.
func checkText(field, what, s string) error {
	if hasBreak(s) {
		return fieldError(field, "%s contains a line break or NUL", what)
	}
	if !utf8.ValidString(s) {
		return fieldError(field, "%s is not valid UTF-8", what)
	}
	return nil
}

func subjectLine(s string) (string, error) {
	if err := checkText("Subject", "subject", s); err != nil {
		return "", err
	}
	v := encodeText(s)
	// go-message and most readers trim the value's ends, so a raw subject
	// with leading or trailing white space would not read back the same.
	if v == s && s != strings.Trim(s, " \t") {
		v = encodeWordsB(s)
	}
	if l, ok := foldField("Subject", v); ok {
		return l, nil
	}
	if v == s {
		// A word too long for one line: encoded words can always be folded.
		if l, ok := foldField("Subject", encodeWordsB(s)); ok {
			return l, nil
		}
	}
	return "", fieldError("Subject", "subject is too long")
}

func checkMessageID(id string) error {
	if id == "" {
		return fieldError("MessageID", "missing message id")
	}
	at := strings.IndexByte(id, '@')
	if at <= 0 || at == len(id)-1 || strings.Count(id, "@") != 1 {
		return fieldError("MessageID", "message id %q is not id-left@id-right", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c < 33 || c > 126 || c == '<' || c == '>' || c == '"' || c == '\\' {
			return fieldError("MessageID", "message id %q has a forbidden character", id)
		}
	}
	return nil
}

// reservedHeader reports header names a caller may not set: the ones Build
// writes itself, the ones set on delivery (Return-Path, DKIM-Signature,
// Received, Sender) and the system's own X-Gatewayd- namespace.
func reservedHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version",
		"content-type", "content-transfer-encoding", "return-path", "sender",
		"dkim-signature", "received", "list-unsubscribe", "list-unsubscribe-post":
		return true
	}
	return strings.HasPrefix(n, "x-gatewayd-")
}

// singleHeader reports fields RFC 5322 allows at most once that a caller may
// set.
func singleHeader(name string) bool {
	switch strings.ToLower(name) {
	case "reply-to", "in-reply-to", "references":
		return true
	}
	return false
}

func customHeaders(hs [][2]string, haveReplyTo bool) ([]string, error) {
	seen := make(map[string]bool)
	for _, h := range hs {
		name := h[0]
		if reservedHeader(name) {
			return nil, fieldError("Headers", "header %q may not be set", name)
		}
		key := strings.ToLower(name)
		if singleHeader(name) {
			if seen[key] || (key == "reply-to" && haveReplyTo) {
				return nil, fieldError("Headers", "header %q is given more than once", name)
			}
			seen[key] = true
		}
	}
	return headerLines(hs)
}

// headerLines validates and renders name/value pairs. Values are trimmed and,
// when not printable ASCII, RFC 2047 encoded.
func headerLines(hs [][2]string) ([]string, error) {
	lines := make([]string, 0, len(hs))
	for _, h := range hs {
		name, value := h[0], h[1]
		if !validFieldName(name) {
			return nil, fieldError("Headers", "header name %q is not a valid field name", name)
		}
		if err := checkText("Headers", "value of header "+name, value); err != nil {
			return nil, err
		}
		value = strings.Trim(value, " \t")
		if needsEncoding(value) {
			value = mime.QEncoding.Encode("utf-8", value)
		}
		l, ok := foldField(name, value)
		if !ok {
			return nil, fieldError("Headers", "value of header %s is too long to fit in a header line", name)
		}
		lines = append(lines, l)
	}
	return lines, nil
}

// validFieldName checks RFC 5322 ftext: printable ASCII except ':'.
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// needsEncoding reports characters that may not appear raw in a header:
// controls other than tab, and anything outside ASCII.
func needsEncoding(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c > '~' {
			return true
		}
	}
	return false
}

// encodeText returns header text that decodes back to exactly s: s itself
// when it is printable ASCII without "=?" (which a reader would take for an
// encoded word), else RFC 2047 encoded words.
func encodeText(s string) string {
	if needsEncoding(s) {
		return mime.QEncoding.Encode("utf-8", s)
	}
	if strings.Contains(s, "=?") {
		return encodeWordsB(s)
	}
	return s
}

// encodeWordsB encodes all of s as "B" encoded words of at most 75 octets,
// split on rune boundaries and separated by single spaces (fold points that
// decoders drop between adjacent encoded words).
func encodeWordsB(s string) string {
	const maxChunk = 45 // 60 base64 octets + 12 of "=?utf-8?b?" and "?=" <= 75
	var words []string
	for len(s) > 0 {
		n := 0
		for n < len(s) {
			_, size := utf8.DecodeRuneInString(s[n:])
			if n+size > maxChunk {
				break
			}
			n += size
		}
		words = append(words, "=?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return strings.Join(words, " ")
}

// foldField renders "name: value" CRLF, folding where the value has a single
// space between two non-blank characters, so that unfolding (by RFC 5322 or by
// readers that collapse white space around line breaks) restores the value
// exactly. Lines are kept within 78 octets where the value allows and never
// exceed 998; ok is false when they would.
func foldField(name, value string) (line string, ok bool) {
	if value == "" {
		return name + ":\r\n", len(name)+1 <= maxLineLen
	}
	var b strings.Builder
	b.Grow(len(name) + len(value) + 8)
	b.WriteString(name)
	b.WriteString(":")
	lineLen := len(name) + 1

	first := true
	start := 0
	emit := func(seg string) bool {
		if !first && lineLen+1+len(seg) > preferredLineLen {
			b.WriteString("\r\n")
			lineLen = 0
		}
		first = false
		b.WriteString(" ")
		b.WriteString(seg)
		lineLen += 1 + len(seg)
		return lineLen <= maxLineLen
	}
	for i := 1; i < len(value)-1; i++ {
		if value[i] == ' ' && !isWSP(value[i-1]) && !isWSP(value[i+1]) {
			if !emit(value[start:i]) {
				return "", false
			}
			start = i + 1
		}
	}
	if !emit(value[start:]) {
		return "", false
	}
	b.WriteString("\r\n")
	return b.String(), true
}

func isWSP(c byte) bool {
	return c == ' ' || c == '\t'
}

// singleOccurrence lists the fields RFC 5322 section 3.6 allows at most once in a message.
var singleOccurrence = []string{
	"Date", "From", "Sender", "Reply-To", "To", "Cc", "Bcc",
	"Message-ID", "In-Reply-To", "References", "Subject",
}

// RepeatedField returns the name of the first field of h that RFC 5322 section 3.6
// allows at most once but that occurs more than once, or "" when there is none. Every path
// that accepts or composes a message refuses one that has such a field: a second From is how
// a sender shows one address to the checks and another to the reader.
func RepeatedField(h message.Header) string {
	for _, k := range singleOccurrence {
		if len(h.Values(k)) > 1 {
			return k
		}
	}
	return ""
}
