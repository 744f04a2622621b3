package tracking

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/quotedprintable"
	"sort"
	"strings"
)

// MessageOptions says how to transform one message for one recipient.
type MessageOptions struct {
	Base string // GATEWAY_PUBLIC_URL
	// LinkBase, when set, is the base of the recipient's tracking URLs (open, click and
	// unsubscribe) instead of Base: a sender domain's own tracking host. Placeholders are
	// still looked for under Base, where acceptance rendered them.
	LinkBase    string
	Signer      *Signer
	RecipientID int64
	Links       bool // rewrite the links of the HTML body for click tracking
	Opens       bool // add the open pixel to the HTML body
	// Unsubscribe adds the List-Unsubscribe and List-Unsubscribe-Post (RFC 8058) headers,
	// unless the message has its own List-Unsubscribe, and an unsubscribe link at the end of
	// the HTML and plain-text bodies.
	Unsubscribe bool
	// UnsubscribeMailto, when set, is the address of the mailto: form of List-Unsubscribe.
	UnsubscribeMailto string
	// ListHeader adds the List-Unsubscribe headers without the footer link (list mail).
	ListHeader bool
	// Placeholders replaces UnsubscribePlaceholder(Base) and WebViewPlaceholder(Base) in the
	// bodies with the recipient's unsubscribe and web view URLs (%Link:Unsubscribe% and
	// %Link:WebBrowser% tags rendered at acceptance).
	Placeholders bool
}

func (o *MessageOptions) linkBase() string {
	if o.LinkBase != "" {
		return o.LinkBase
	}
	return o.Base
}

// unsubscribePlaceholder is the token part of the URL a %Link:Unsubscribe% tag renders to
// at acceptance, before the recipient (and so its token) exists; "~" never occurs in a token.
const unsubscribePlaceholder = "~unsubscribe~"

// UnsubscribePlaceholder is the URL delivery replaces with the recipient's unsubscribe URL.
func UnsubscribePlaceholder(base string) string {
	return trimBase(base) + unsubscribePath + unsubscribePlaceholder
}

// webViewPlaceholder is the token part of the URL a %Link:WebBrowser% tag renders to at
// acceptance.
const webViewPlaceholder = "~view~"

// WebViewPlaceholder is the URL delivery replaces with the recipient's web view URL.
func WebViewPlaceholder(base string) string {
	return trimBase(base) + webViewPath + webViewPlaceholder
}

// FillPlaceholders replaces the unsubscribe and web view placeholders (rendered under base)
// in s with the recipient's URLs under linkBase (the domain's tracking host, or base); own
// reports that s had the unsubscribe one.
func FillPlaceholders(s, base, linkBase string, signer *Signer, recipientID int64) (out string, own bool) {
	if ph := UnsubscribePlaceholder(base); strings.Contains(s, ph) {
		s, own = strings.ReplaceAll(s, ph, UnsubscribeURL(linkBase, signer, recipientID)), true
	}
	if ph := WebViewPlaceholder(base); strings.Contains(s, ph) {
		s = strings.ReplaceAll(s, ph, WebViewURL(linkBase, signer, recipientID))
	}
	return s, own
}

// Bodies returns the decoded first text/html and first text/plain body parts of a message
// (attachments left out), as a mail client would show them.
func Bodies(raw []byte) (htmlBody, textBody string) {
	t := &transformer{o: MessageOptions{Placeholders: true}, raw: raw, nl: "\r\n", bodies: &bodies{}}
	fields, bodyStart := t.fields(0, len(raw))
	if bodyStart < 0 {
		return "", ""
	}
	t.part(fields, 0, bodyStart, len(raw), 0)
	return t.bodies.html, t.bodies.text
}

// bodies collects the text bodies for Bodies.
type bodies struct{ html, text string }

// maxDepth bounds multipart nesting.
const maxDepth = 16

// TransformMessage applies tracking to an RFC 5322 message for one recipient: the first
// text/html body part (not an attachment) gets Rewrite (links and pixel) and, with
// Unsubscribe, a footer link; the first text/plain body part gets the unsubscribe line; the
// headers get List-Unsubscribe. Parts are decoded from and re-encoded in their own
// Content-Transfer-Encoding (7bit/8bit bodies whose lines would pass 998 octets become
// quoted-printable); every byte outside the edited bodies and headers is kept. urls are the
// click-tracked URLs (a click token's Link indexes them).
func TransformMessage(raw []byte, o MessageOptions) (out []byte, urls []string, err error) {
	if !o.Links && !o.Opens && !o.Unsubscribe && !o.ListHeader && !o.Placeholders {
		return raw, nil, nil
	}
	if o.Signer == nil {
		return nil, nil, errors.New("tracking: transform: nil signer")
	}
	t := &transformer{o: o, raw: raw, nl: "\r\n"}
	if i := bytes.IndexByte(raw, '\n'); i >= 0 && (i == 0 || raw[i-1] != '\r') {
		t.nl = "\n"
	}
	if o.Unsubscribe || o.ListHeader || o.Placeholders {
		t.unsubURL = UnsubscribeURL(o.linkBase(), o.Signer, o.RecipientID)
	}
	fields, bodyStart := t.fields(0, len(raw))
	if bodyStart < 0 {
		return nil, nil, errors.New("tracking: transform: no header/body separator")
	}
	if err := t.part(fields, 0, bodyStart, len(raw), 0); err != nil {
		return nil, nil, err
	}
	var b bytes.Buffer
	b.Grow(len(raw) + 1024)
	if (o.Unsubscribe || o.ListHeader) && !hasField(fields, "List-Unsubscribe") {
		v := "<" + t.unsubURL + ">"
		if o.UnsubscribeMailto != "" {
			v += "," + t.nl + " <mailto:" + o.UnsubscribeMailto + "?subject=unsubscribe>"
		}
		b.WriteString("List-Unsubscribe: " + v + t.nl)
		b.WriteString("List-Unsubscribe-Post: List-Unsubscribe=One-Click" + t.nl)
	}
	sort.Slice(t.edits, func(i, j int) bool { return t.edits[i].start < t.edits[j].start })
	pos := 0
	for _, e := range t.edits {
		if e.start < pos {
			return nil, nil, errors.New("tracking: transform: overlapping edits")
		}
		b.Write(raw[pos:e.start])
		b.WriteString(e.text)
		pos = e.end
	}
	b.Write(raw[pos:])
	return b.Bytes(), t.urls, nil
}

type transformer struct {
	o         MessageOptions
	raw       []byte
	nl        string
	unsubURL  string
	edits     []edit
	urls      []string
	doneHTML  bool
	donePlain bool
	bodies    *bodies // Bodies: collect the texts instead of transforming them
}

// edit replaces raw[start:end] with text.
type edit struct {
	start, end int
	text       string
}

// field is one header field: its name and the byte range of its lines (newline included).
type field struct {
	name       string
	start, end int
}

// fields reads the header block starting at start; bodyStart is the offset after the blank
// line (-1 when there is none before end).
func (t *transformer) fields(start, end int) (fs []field, bodyStart int) {
	pos := start
	for pos < end {
		nlAt := bytes.IndexByte(t.raw[pos:end], '\n')
		lineEnd := end
		if nlAt >= 0 {
			lineEnd = pos + nlAt + 1
		}
		line := t.raw[pos:lineEnd]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return fs, lineEnd
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fs) > 0 {
			fs[len(fs)-1].end = lineEnd
		} else {
			name := line
			if c := bytes.IndexByte(line, ':'); c >= 0 {
				name = line[:c]
			}
			fs = append(fs, field{name: strings.TrimSpace(string(name)), start: pos, end: lineEnd})
		}
		if nlAt < 0 {
			break
		}
		pos = lineEnd
	}
	// No blank line: a header block without a body.
	return fs, -1
}

func hasField(fs []field, name string) bool {
	for _, f := range fs {
		if strings.EqualFold(f.name, name) {
			return true
		}
	}
	return false
}

// value is a field's unfolded value.
func (t *transformer) value(fs []field, name string) string {
	for _, f := range fs {
		if strings.EqualFold(f.name, name) {
			v := string(t.raw[f.start:f.end])
			v = v[strings.IndexByte(v, ':')+1:]
			v = strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(v)
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// part handles one entity whose header fields are fs and body raw[bodyStart:end].
func (t *transformer) part(fs []field, start, bodyStart, end, depth int) error {
	if depth > maxDepth {
		return nil
	}
	ct := t.value(fs, "Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" {
		mt, err = "text/plain", nil
	}
	if err != nil {
		mt, _, _ = strings.Cut(strings.ToLower(ct), ";")
		mt = strings.TrimSpace(mt)
	}
	if disp, _, _ := mime.ParseMediaType(t.value(fs, "Content-Disposition")); disp == "attachment" {
		return nil
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		b := params["boundary"]
		if b == "" {
			return nil
		}
		for _, p := range t.split(bodyStart, end, b) {
			pfs, pbody := t.fields(p[0], p[1])
			if pbody < 0 {
				continue
			}
			if err := t.part(pfs, p[0], pbody, p[1], depth+1); err != nil {
				return err
			}
		}
	case mt == "text/html" && !t.doneHTML && (t.o.Links || t.o.Opens || t.o.Unsubscribe || t.o.Placeholders):
		t.doneHTML = true
		if t.bodies != nil {
			return t.leaf(fs, start, bodyStart, end, params["charset"], func(s string) (string, error) { t.bodies.html = s; return s, nil })
		}
		return t.leaf(fs, start, bodyStart, end, params["charset"], t.html)
	case mt == "text/plain" && !t.donePlain && (t.o.Unsubscribe || t.o.Placeholders):
		t.donePlain = true
		if t.bodies != nil {
			return t.leaf(fs, start, bodyStart, end, params["charset"], func(s string) (string, error) { t.bodies.text = s; return s, nil })
		}
		return t.leaf(fs, start, bodyStart, end, params["charset"], t.plain)
	}
	return nil
}

// split returns the [start, end) ranges of the body parts of a multipart body.
func (t *transformer) split(start, end int, boundary string) [][2]int {
	delim := []byte("--" + boundary)
	var parts [][2]int
	partStart := -1
	pos := start
	for pos < end {
		nlAt := bytes.IndexByte(t.raw[pos:end], '\n')
		lineEnd := end
		if nlAt >= 0 {
			lineEnd = pos + nlAt + 1
		}
		line := bytes.TrimRight(t.raw[pos:lineEnd], " \t\r\n")
		if bytes.HasPrefix(line, delim) {
			rest := line[len(delim):]
			closing := bytes.Equal(rest, []byte("--"))
			if len(rest) == 0 || closing {
				if partStart >= 0 {
					// The newline before the delimiter belongs to the delimiter.
					pe := pos
					if pe > partStart && t.raw[pe-1] == '\n' {
						pe--
						if pe > partStart && t.raw[pe-1] == '\r' {
							pe--
						}
					}
					parts = append(parts, [2]int{partStart, pe})
				}
				if closing {
					return parts
				}
				partStart = lineEnd
			}
		}
		if nlAt < 0 {
			break
		}
		pos = lineEnd
	}
	return parts
}

// leaf decodes a text body, transforms it with fn, and re-encodes it.
func (t *transformer) leaf(fs []field, start, bodyStart, end int, charset string, fn func(string) (string, error)) error {
	cs := strings.ToLower(charset)
	if strings.HasPrefix(cs, "utf-16") || strings.HasPrefix(cs, "utf-32") {
		return nil // not ASCII-compatible: leave it alone
	}
	cte := strings.ToLower(t.value(fs, "Content-Transfer-Encoding"))
	body := t.raw[bodyStart:end]
	var text []byte
	switch cte {
	case "quoted-printable":
		b, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil {
			return nil
		}
		text = b
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, body)
		b, err := base64.StdEncoding.DecodeString(string(clean))
		if err != nil {
			if b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(string(clean), "=")); err != nil {
				return nil
			}
		}
		text = b
	case "", "7bit", "8bit", "binary":
		text = body
	default:
		return nil
	}
	out, err := fn(string(text))
	if err != nil {
		return err
	}
	switch cte {
	case "quoted-printable":
		t.edits = append(t.edits, edit{bodyStart, end, t.qp(out)})
	case "base64":
		t.edits = append(t.edits, edit{bodyStart, end, t.b64(out)})
	default:
		if maxLine(out) <= 998 {
			t.edits = append(t.edits, edit{bodyStart, end, out})
			return nil
		}
		// Too long for 7bit/8bit: switch the part to quoted-printable.
		hdr := ""
		for _, f := range fs {
			if !strings.EqualFold(f.name, "Content-Transfer-Encoding") {
				hdr += string(t.raw[f.start:f.end])
			}
		}
		if hdr != "" && !strings.HasSuffix(hdr, "\n") {
			hdr += t.nl
		}
		hdr += "Content-Transfer-Encoding: quoted-printable" + t.nl + t.nl
		t.edits = append(t.edits, edit{start, bodyStart, hdr}, edit{bodyStart, end, t.qp(out)})
	}
	return nil
}

func maxLine(s string) int {
	m := 0
	for _, l := range strings.Split(s, "\n") {
		m = max(m, len(l))
	}
	return m
}

func (t *transformer) qp(s string) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	out := b.String()
	if t.nl == "\n" {
		out = strings.ReplaceAll(out, "\r\n", "\n")
	}
	return out
}

func (t *transformer) b64(s string) string {
	enc := base64.StdEncoding.EncodeToString([]byte(s))
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString(t.nl)
		enc = enc[76:]
	}
	b.WriteString(enc)
	return b.String()
}

// html applies the footer, the link rewriting and the pixel to an HTML body.
func (t *transformer) html(s string) (string, error) {
	own := false
	if t.o.Placeholders {
		s, own = t.fill(s)
	}
	if t.o.Unsubscribe && !own {
		footer := `<p style="font-size:12px;color:#777777;text-align:center;margin:24px 0 0 0"><a href="` +
			html.EscapeString(t.unsubURL) + `" style="color:#777777">Unsubscribe</a></p>`
		s = insertBeforeBodyEnd(s, footer)
	}
	out, urls, err := Rewrite(s, t.o.linkBase(), t.o.Signer, t.o.RecipientID, t.o.Links, t.o.Opens)
	if err != nil {
		return "", fmt.Errorf("tracking: transform html: %w", err)
	}
	t.urls = urls
	return out, nil
}

// plain appends the unsubscribe line to a plain-text body.
func (t *transformer) plain(s string) (string, error) {
	own := false
	if t.o.Placeholders {
		s, own = t.fill(s)
	}
	if !t.o.Unsubscribe || own {
		return s, nil
	}
	nl := "\n"
	if strings.Contains(s, "\r\n") || (s == "" && t.nl == "\r\n") {
		nl = "\r\n"
	}
	s = strings.TrimRight(s, "\r\n")
	return s + nl + nl + "Unsubscribe: " + t.unsubURL + nl, nil
}

// fill replaces the placeholders with the recipient's URLs; own reports that the body had
// the unsubscribe one (it then needs no footer link of its own).
func (t *transformer) fill(s string) (string, bool) {
	return FillPlaceholders(s, t.o.Base, t.o.linkBase(), t.o.Signer, t.o.RecipientID)
}

// insertBeforeBodyEnd puts s before the last </body> (any case), or at the end.
func insertBeforeBodyEnd(doc, s string) string {
	i := strings.LastIndex(strings.ToLower(doc), "</body")
	if i < 0 {
		return doc + s
	}
	return doc[:i] + s + doc[i:]
}
