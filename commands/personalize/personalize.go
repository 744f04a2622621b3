// Package personalize fills personalization tags (octeth-5.9.4/personalization.md) into a
// subject or body. One renderer serves templates, their previews, list sends and plain sends.
//
// A tag is written either way:
//
//	%Subscriber:EmailAddress%            {{ Subscriber:EmailAddress }}
//	%Subscriber:FirstName|there%         {{ Subscriber:FirstName | there }}
//
// The category is Subscriber, User or Link (any case); the name is letters, digits, spaces,
// dots, hyphens and underscores (a custom field's merge tag alias, CustomField<ID>, or a
// built-in name), matched case-insensitively. After "|" comes the fallback: the text used
// when the value is empty or unknown (surrounding spaces and one pair of double quotes are
// removed). A tag without a value and without a fallback renders as nothing. Text that is not
// a tag, "50% off" or "{{ name }}" among it, is left exactly as written.
//
// Values are escaped for where they land: HTML-escaped in an HTML body, line breaks turned
// into spaces in a header (the subject), as they are in plain text. Fallbacks are the
// author's own text and are not escaped.
package personalize

import (
	"html"
	"strings"
)

// Mode says where rendered text goes.
type Mode uint8

const (
	Text   Mode = iota // a text/plain body: values as they are
	HTML               // a text/html body: values HTML-escaped
	Header             // a header such as the subject: CR and LF become spaces
)

// The categories of tags.
const (
	Subscriber = "Subscriber"
	User       = "User"
	Link       = "Link"
)

// Values holds what tags resolve to. Names are matched case-insensitively.
type Values struct {
	m map[string]string // "category:name" lower-cased -> value
}

// NewValues returns an empty set of values.
func NewValues() *Values { return &Values{m: map[string]string{}} }

// Set records the value of category:name.
func (v *Values) Set(category, name, value string) {
	v.m[key(category, name)] = value
}

// Get returns the value of category:name.
func (v *Values) Get(category, name string) (string, bool) {
	if v == nil {
		return "", false
	}
	s, ok := v.m[key(category, name)]
	return s, ok
}

func key(category, name string) string {
	return strings.ToLower(category) + ":" + strings.ToLower(strings.TrimSpace(name))
}

// Tag is one tag found in a text.
type Tag struct {
	Category    string // canonical: Subscriber, User or Link
	Name        string // as written, spaces trimmed
	Fallback    string
	HasFallback bool
}

// segment is literal text, or a tag when tag is set.
type segment struct {
	text string
	tag  *Tag
}

// Template is a text compiled once and rendered for many recipients.
type Template struct {
	segs []segment
	tags []Tag
}

// Compile splits s into literal text and tags.
func Compile(s string) *Template {
	t := &Template{}
	lit := 0 // start of the pending literal
	for i := 0; i < len(s); {
		var tag *Tag
		var end int
		switch {
		case s[i] == '%':
			tag, end = percentTag(s, i)
		case s[i] == '{' && strings.HasPrefix(s[i:], "{{"):
			tag, end = braceTag(s, i)
		}
		if tag == nil {
			i++
			continue
		}
		if lit < i {
			t.segs = append(t.segs, segment{text: s[lit:i]})
		}
		t.segs = append(t.segs, segment{tag: tag})
		t.tags = append(t.tags, *tag)
		i, lit = end, end
	}
	if lit < len(s) {
		t.segs = append(t.segs, segment{text: s[lit:]})
	}
	return t
}

// Tags lists the tags of the template in order of appearance.
func (t *Template) Tags() []Tag { return t.tags }

// Render fills the template's tags from v for the given mode.
func (t *Template) Render(v *Values, mode Mode) string {
	if len(t.tags) == 0 {
		if len(t.segs) == 0 {
			return ""
		}
		return t.segs[0].text
	}
	var b strings.Builder
	for _, sg := range t.segs {
		if sg.tag == nil {
			b.WriteString(sg.text)
			continue
		}
		val, _ := v.Get(sg.tag.Category, sg.tag.Name)
		if val == "" {
			b.WriteString(sg.tag.Fallback)
			continue
		}
		switch mode {
		case HTML:
			b.WriteString(html.EscapeString(val))
		case Header:
			b.WriteString(strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ", "\x00", "").Replace(val))
		default:
			b.WriteString(val)
		}
	}
	return b.String()
}

// Render compiles and renders s once.
func Render(s string, v *Values, mode Mode) string {
	if !strings.ContainsAny(s, "%{") {
		return s
	}
	return Compile(s).Render(v, mode)
}

// Limits of one tag, so a stray "%" never makes the scanner look far ahead.
const (
	maxName     = 64
	maxFallback = 256
)

func category(s string) (string, bool) {
	for _, c := range []string{Subscriber, User, Link} {
		if strings.EqualFold(s, c) {
			return c, true
		}
	}
	return "", false
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' || c == ' '
}

// head reads "Category:Name" at s[i:], returning the tag and where the name ends.
func head(s string, i int) (*Tag, int) {
	colon := strings.IndexByte(s[i:min(len(s), i+16)], ':')
	if colon < 0 {
		return nil, 0
	}
	cat, ok := category(s[i : i+colon])
	if !ok {
		return nil, 0
	}
	j := i + colon + 1
	k := j
	for k < len(s) && k-j <= maxName && nameByte(s[k]) {
		k++
	}
	name := strings.TrimSpace(s[j:k])
	if name == "" || k-j > maxName {
		return nil, 0
	}
	return &Tag{Category: cat, Name: name}, k
}

// fallback reads the text after "|" up to the closing delimiter.
func fallback(s string, i int, closing string) (string, int, bool) {
	end := strings.Index(s[i:min(len(s), i+maxFallback+len(closing))], closing)
	if end < 0 {
		return "", 0, false
	}
	fb := s[i : i+end]
	if strings.ContainsAny(fb, "\r\n") {
		return "", 0, false
	}
	fb = strings.TrimSpace(fb)
	if len(fb) >= 2 && fb[0] == '"' && fb[len(fb)-1] == '"' {
		fb = fb[1 : len(fb)-1]
	}
	return fb, i + end + len(closing), true
}

// percentTag reads %Category:Name% or %Category:Name|fallback% at s[i].
func percentTag(s string, i int) (*Tag, int) {
	t, k := head(s, i+1)
	if t == nil || k >= len(s) {
		return nil, 0
	}
	switch s[k] {
	case '%':
		return t, k + 1
	case '|':
		fb, end, ok := fallback(s, k+1, "%")
		if !ok {
			return nil, 0
		}
		t.Fallback, t.HasFallback = fb, true
		return t, end
	}
	return nil, 0
}

// braceTag reads {{ Category:Name }} or {{ Category:Name | fallback }} at s[i].
func braceTag(s string, i int) (*Tag, int) {
	j := i + 2
	for j < len(s) && s[j] == ' ' {
		j++
	}
	t, k := head(s, j)
	if t == nil {
		return nil, 0
	}
	for k < len(s) && s[k] == ' ' {
		k++
	}
	switch {
	case strings.HasPrefix(s[k:], "}}"):
		return t, k + 2
	case k < len(s) && s[k] == '|':
		fb, end, ok := fallback(s, k+1, "}}")
		if !ok {
			return nil, 0
		}
		t.Fallback, t.HasFallback = fb, true
		return t, end
	}
	return nil, 0
}
