package tracking

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/idna"
)

// Paths of the tracking endpoints under the public base URL.
const (
	openPath        = "/t/o/"
	clickPath       = "/t/c/"
	unsubscribePath = "/t/u/"
	webViewPath     = "/t/v/"
	trackingPrefix  = "/t/"
)

// pixelStyle keeps the open pixel invisible without display:none, which some
// clients honour by not loading the image at all.
const pixelStyle = "height:1px!important;width:1px!important;border:0!important;margin:0!important;padding:0!important"

// UnsubscribeURL is base + "/t/u/" + token, for the List-Unsubscribe header
// and the unsubscribe page. A trailing slash on base is ignored.
func UnsubscribeURL(base string, s *Signer, recipientID int64) string {
	return trimBase(base) + unsubscribePath + s.Token(Claim{Kind: Unsubscribe, RecipientID: recipientID})
}

// WebViewURL is base + "/t/v/" + token: the recipient's copy of the message in a browser.
func WebViewURL(base string, s *Signer, recipientID int64) string {
	return trimBase(base) + webViewPath + s.Token(Claim{Kind: WebView, RecipientID: recipientID})
}

func trimBase(base string) string { return strings.TrimRight(base, "/") }

// Rewrite transforms the HTML body src for one recipient.
//
// With links, the href of every <a> whose target is an absolute http or
// https URL becomes base+"/t/c/"+token. The targets are returned in urls, as
// a browser would follow them (entities decoded, surrounding spaces and
// embedded tabs and newlines removed, spaces and non-ASCII bytes
// percent-encoded, an internationalised host in punycode); a token's Link is
// an index into urls, and identical targets share one index. mailto:, tel:,
// fragments, relative URLs, URLs already under base+"/t/" (the unsubscribe
// URL among them) and links inside comments, <script>, <style> or
// <textarea> are left alone.
//
// With opens, a 1x1 image pointing at base+"/t/o/"+token is inserted before
// the last </body>, or appended when there is none.
//
// Only the href values are replaced; every other byte of src is copied as is.
func Rewrite(src string, base string, s *Signer, recipientID int64, links, opens bool) (out string, urls []string, err error) {
	if s == nil && (links || opens) {
		return "", nil, errors.New("tracking: rewrite: nil signer")
	}
	base = trimBase(base)
	skipPrefix := strings.ToLower(base + trackingPrefix)
	index := make(map[string]int)

	var b strings.Builder
	b.Grow(len(src) + 256)
	bodyEnd := -1 // offset in b of the last </body>
	pos := 0      // offset in src of the current token
	z := html.NewTokenizer(strings.NewReader(src))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if err := z.Err(); err != io.EOF {
				return "", nil, fmt.Errorf("tracking: rewrite: tokenize at byte %d: %w", pos, err)
			}
			break
		}
		n := len(z.Raw())
		if pos+n > len(src) || string(z.Raw()) != src[pos:pos+n] {
			return "", nil, fmt.Errorf("tracking: rewrite: tokenizer lost its place at byte %d", pos)
		}
		raw := src[pos : pos+n]
		pos += n
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			if !links {
				break
			}
			target, span, ok, err := anchorTarget(z, raw)
			if err != nil {
				return "", nil, fmt.Errorf("tracking: rewrite at byte %d: %w", pos-n, err)
			}
			if !ok || strings.HasPrefix(strings.ToLower(target), skipPrefix) {
				break
			}
			i, seen := index[target]
			if !seen {
				i = len(urls)
				index[target] = i
				urls = append(urls, target)
			}
			href := html.EscapeString(base + clickPath + s.Token(Claim{Kind: Click, RecipientID: recipientID, Link: i}))
			if !span.quoted {
				href = `"` + href + `"`
			}
			raw = raw[:span.start] + href + raw[span.end:]
		case html.EndTagToken:
			if name, _ := z.TagName(); opens && string(name) == "body" {
				bodyEnd = b.Len()
			}
		}
		b.WriteString(raw)
	}
	b.WriteString(src[pos:])
	out = b.String()
	if opens {
		pixel := `<img src="` + html.EscapeString(base+openPath+s.Token(Claim{Kind: Open, RecipientID: recipientID})) +
			`" width="1" height="1" border="0" alt="" style="` + pixelStyle + `" />`
		if bodyEnd < 0 {
			bodyEnd = len(out)
		}
		out = out[:bodyEnd] + pixel + out[bodyEnd:]
	}
	return out, urls, nil
}

// anchorTarget reports the URL a browser would follow for the current tag
// when it is an <a> with an absolute http(s) href, and where that href's
// value sits in raw.
func anchorTarget(z *html.Tokenizer, raw string) (target string, span attrSpan, ok bool, err error) {
	name, more := z.TagName()
	if string(name) != "a" || !more {
		return "", attrSpan{}, false, nil
	}
	var keys []string
	href, hrefAt := "", -1
	for more {
		var k, v []byte
		k, v, more = z.TagAttr()
		if string(k) == "href" && hrefAt < 0 {
			href, hrefAt = string(v), len(keys)
		}
		keys = append(keys, string(k))
	}
	if hrefAt < 0 {
		return "", attrSpan{}, false, nil
	}
	target, ok = browserURL(href)
	if !ok {
		return "", attrSpan{}, false, nil
	}
	spans := scanAttrs(raw)
	if len(spans) != len(keys) {
		return "", attrSpan{}, false, fmt.Errorf("attribute scan found %d attributes, tokenizer %d", len(spans), len(keys))
	}
	for i := range spans {
		if spans[i].key != keys[i] {
			return "", attrSpan{}, false, fmt.Errorf("attribute scan found %q, tokenizer %q", spans[i].key, keys[i])
		}
	}
	return target, spans[hrefAt], true, nil
}

// attrSpan locates one attribute of a raw start tag: its key as the
// tokenizer reports it, and the byte range of its value (inside the quotes
// when quoted).
type attrSpan struct {
	key        string
	start, end int
	quoted     bool
}

func isHTMLSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f'
}

// scanAttrs walks a complete raw start tag ("<name ... >") with the same
// rules as golang.org/x/net/html's tokenizer (readTag, readTagAttrKey,
// readTagAttrVal), which does not expose attribute offsets. It keeps the
// first of duplicate keys, as the tokenizer and browsers do. Rewrite checks
// its keys against the tokenizer's before trusting the offsets.
func scanAttrs(t string) []attrSpan {
	n := len(t)
	i := 2 // "<" and the first byte of the name
	for i < n {
		c := t[i]
		if isHTMLSpace(c) {
			i++
			break
		}
		if c == '/' || c == '>' {
			break
		}
		i++
	}
	skipSpace := func() {
		for i < n && isHTMLSpace(t[i]) {
			i++
		}
	}
	skipSpace()
	var spans []attrSpan
	seen := make(map[string]bool)
	for i < n && t[i] != '>' {
		ks := i
		for i < n {
			c := t[i]
			if c == '=' && i == ks {
				i++
				continue
			}
			if c == '=' || c == '/' || c == '>' || isHTMLSpace(c) {
				break
			}
			i++
		}
		ke := i
		a := attrSpan{start: i, end: i}
		skipSpace()
		if i < n {
			c := t[i]
			i++
			switch {
			case c == '/':
			case c != '=':
				i--
			default:
				skipSpace()
				if i < n {
					q := t[i]
					i++
					switch q {
					case '>':
						i--
					case '"', '\'':
						a.start, a.quoted = i, true
						for i < n && t[i] != q {
							i++
						}
						a.end = i
						if i < n {
							i++
						}
					default:
						a.start = i - 1
						for i < n && !isHTMLSpace(t[i]) && t[i] != '>' {
							i++
						}
						a.end = i
						if i < n && t[i] != '>' {
							i++
						}
					}
				}
			}
		}
		rawKey := asciiLower(t[ks:ke])
		if ks != ke && !seen[rawKey] {
			seen[rawKey] = true
			a.key = strings.ReplaceAll(rawKey, "\x00", "\uFFFD")
			spans = append(spans, a)
		}
		skipSpace()
	}
	return spans
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// browserURL turns a decoded href value into the absolute http(s) URL a
// browser would request, or reports false when the value is not one.
func browserURL(v string) (string, bool) {
	// WHATWG URL parsing: strip leading and trailing C0 controls and
	// spaces, drop tabs and newlines anywhere.
	v = strings.TrimFunc(v, func(r rune) bool { return r <= ' ' })
	v = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, v)
	var scheme string
	switch lv := strings.ToLower(v); {
	case strings.HasPrefix(lv, "http://"):
		scheme = "http"
	case strings.HasPrefix(lv, "https://"):
		scheme = "https"
	default:
		return "", false
	}
	rest := v[len(scheme)+len("://"):]
	authEnd := strings.IndexAny(rest, "/\\?#")
	if authEnd < 0 {
		authEnd = len(rest)
	}
	auth, tail := rest[:authEnd], rest[authEnd:]
	at := strings.LastIndexByte(auth, '@')
	userinfo, hostport := auth[:at+1], auth[at+1:]
	if hostport == "" {
		return "", false
	}
	if !isASCII(hostport) {
		host, port := hostport, ""
		if c := strings.LastIndexByte(hostport, ':'); c >= 0 && !strings.Contains(hostport[c:], "]") {
			host, port = hostport[:c], hostport[c:]
		}
		a, err := idna.Lookup.ToASCII(host)
		if err != nil {
			return "", false
		}
		hostport = a + port
	}
	out := scheme + "://" + percentEncode(userinfo) + hostport + percentEncode(tail)
	u, err := url.Parse(out)
	if err != nil || u.Host == "" {
		return "", false
	}
	return out, true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// percentEncode escapes the bytes every browser escapes in any part of a
// URL: controls, space, DEL, '"', '<', '>' and non-ASCII. Everything else,
// '%' included, is kept, so existing escapes are not doubled.
func percentEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	escaped := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7F || c == '"' || c == '<' || c == '>' {
			if !escaped {
				escaped = true
				b.Grow(len(s) + 16)
				b.WriteString(s[:i])
			}
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		} else if escaped {
			b.WriteByte(c)
		}
	}
	if !escaped {
		return s
	}
	return b.String()
}
