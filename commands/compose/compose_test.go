package compose

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

func TestBuildStructures(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	pdf := []byte("%PDF-1.4\n\x00\x01\x02 binary \xff\xfe")
	csv := []byte("a,b\r\n1,2\r\n")
	inline := Attachment{Filename: "logo.png", ContentType: "image/png", Disposition: "inline", ContentID: "logo@example.com", Content: png}
	doc := Attachment{Filename: "report.pdf", ContentType: "application/pdf", Content: pdf}
	sheet := Attachment{Filename: "data.csv", ContentType: "text/csv", Disposition: "attachment", Content: csv}
	html := `<p>Hi <img src="cid:logo@example.com"></p>`

	tests := []struct {
		name        string
		text, html  string
		attachments []Attachment
		shape       string
		leaves      []string // decoded bodies, in order
	}{
		{"text only", "Plain body", "", nil, "text/plain", []string{crlf("Plain body")}},
		{"html only", "", "<b>HTML</b>", nil, "text/html", []string{crlf("<b>HTML</b>")}},
		{"alternative", "Plain", "<b>HTML</b>", nil,
			"multipart/alternative(text/plain,text/html)", []string{crlf("Plain"), crlf("<b>HTML</b>")}},
		{"related", "", html, []Attachment{inline},
			"multipart/related(text/html,image/png)", []string{crlf(html), string(png)}},
		{"related inside alternative", "Plain", html, []Attachment{inline},
			"multipart/alternative(text/plain,multipart/related(text/html,image/png))",
			[]string{crlf("Plain"), crlf(html), string(png)}},
		{"mixed with two attachments", "Plain", "<b>HTML</b>", []Attachment{doc, sheet},
			"multipart/mixed(multipart/alternative(text/plain,text/html),application/pdf,text/csv)",
			[]string{crlf("Plain"), crlf("<b>HTML</b>"), string(pdf), string(csv)}},
		{"mixed and related", "", html, []Attachment{doc, inline},
			"multipart/mixed(multipart/related(text/html,image/png),application/pdf)",
			[]string{crlf(html), string(png), string(pdf)}},
		{"inline image without html goes to mixed", "Plain", "", []Attachment{inline},
			"multipart/mixed(text/plain,image/png)", []string{crlf("Plain"), string(png)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := baseMessage()
			m.Text, m.HTML, m.Attachments = tc.text, tc.html, tc.attachments
			raw := mustBuild(t, m)
			if err := checkLines(raw); err != nil {
				t.Fatal(err)
			}
			p := mustParse(t, raw)
			if p.shape != tc.shape {
				t.Fatalf("shape = %s, want %s", p.shape, tc.shape)
			}
			if len(p.leaves) != len(tc.leaves) {
				t.Fatalf("%d leaves, want %d", len(p.leaves), len(tc.leaves))
			}
			for i, l := range p.leaves {
				if !bytes.Equal(l.body, []byte(tc.leaves[i])) {
					t.Errorf("leaf %d (%s) body = %q, want %q", i, l.mediaType, l.body, tc.leaves[i])
				}
			}
		})
	}
}

func TestInlineImageIsReferencedByCID(t *testing.T) {
	m := baseMessage()
	m.Text = ""
	m.HTML = `<img src="cid:logo">`
	m.Attachments = []Attachment{{Filename: "logo.png", Disposition: "inline", ContentID: "<logo>", Content: []byte{1, 2, 3}}}
	raw := mustBuild(t, m)
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, _ := e.Header.ContentType()
	if mt != "multipart/related" || params["type"] != "text/html" {
		t.Fatalf("top Content-Type = %s %v, want multipart/related type=text/html", mt, params)
	}
	p := mustParse(t, raw)
	img := p.leaves[1]
	if got := img.header.Get("Content-Id"); got != "<logo>" {
		t.Errorf("Content-ID = %q, want <logo>", got)
	}
	disp, _, _ := img.header.ContentDisposition()
	if disp != "inline" {
		t.Errorf("disposition = %q, want inline", disp)
	}
	if !strings.Contains(string(p.leaves[0].body), "cid:logo") {
		t.Errorf("html does not reference cid:logo: %q", p.leaves[0].body)
	}
}

func TestAttachmentsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 100_000)
	for i := range big {
		big[i] = byte(rng.UintN(256))
	}
	atts := []Attachment{
		{Filename: "Grüße 👋 résumé.bin", ContentType: "application/octet-stream", Content: big},
		{Filename: "photo.png", Content: []byte("not really a png")},
		{Filename: "unknown.gatewayd-unknown-ext", Content: []byte{}},
		{Filename: "=?utf-8?q?looks_encoded?=.txt", ContentType: "text/plain; charset=utf-8", Content: []byte("x")},
		{Filename: "", ContentType: "application/json", Content: []byte(`{"a":1}`)},
	}
	m := baseMessage()
	m.Attachments = atts
	raw := mustBuild(t, m)
	if err := checkLines(raw); err != nil {
		t.Fatal(err)
	}
	p := mustParse(t, raw)
	if len(p.leaves) != 1+len(atts) {
		t.Fatalf("shape %s", p.shape)
	}
	wantTypes := []string{"application/octet-stream", "image/png", "application/octet-stream", "text/plain", "application/json"}
	for i, a := range atts {
		l := p.leaves[i+1]
		if !bytes.Equal(l.body, a.Content) {
			t.Errorf("attachment %d: content differs after decoding (%d bytes vs %d)", i, len(l.body), len(a.Content))
		}
		if l.mediaType != wantTypes[i] {
			t.Errorf("attachment %d: type %q, want %q", i, l.mediaType, wantTypes[i])
		}
		if got := l.header.Get("Content-Transfer-Encoding"); got != "base64" {
			t.Errorf("attachment %d: Content-Transfer-Encoding %q, want base64", i, got)
		}
		ah := mail.AttachmentHeader{Header: l.header}
		name, err := ah.Filename()
		if err != nil || name != a.Filename {
			t.Errorf("attachment %d: filename %q (%v), want %q", i, name, err, a.Filename)
		}
		disp, _, _ := l.header.ContentDisposition()
		if disp != "attachment" {
			t.Errorf("attachment %d: disposition %q", i, disp)
		}
	}
}

func TestSubjectAndNamesRoundTrip(t *testing.T) {
	texts := []string{
		"Grüße 👋",
		"Plain ASCII subject",
		"  leading and trailing  ",
		"=?utf-8?q?not_an_encoded_word?=",
		"tab\there",
		"control \x07 bell",
		"quotes \" and \\ backslash",
		"Jane, Smith (ACME) <boss>",
		"Ünïcödé and =?x?= mixed",
		strings.Repeat("日本語のテキスト ", 30),
		"",
	}
	for _, s := range texts {
		t.Run(fmt.Sprintf("%.20q", s), func(t *testing.T) {
			m := baseMessage()
			m.Subject = s
			name := s
			if name == "" {
				name = "x"
			}
			m.From.Name = name
			m.To = []Address{{Name: name, Email: "a@example.org"}, {Name: "Second", Email: "b@example.org"}}
			m.CC = []Address{{Name: name, Email: "c@example.org"}}
			m.ReplyTo = []Address{{Name: name, Email: "r@example.org"}}
			raw := mustBuild(t, m)
			if err := checkLines(raw); err != nil {
				t.Fatal(err)
			}
			p := mustParse(t, raw)
			got, err := p.header.Subject()
			if err != nil || got != s {
				t.Errorf("Subject = %q (%v), want %q", got, err, s)
			}
			for _, f := range []struct {
				key  string
				want []string
			}{
				{"From", []string{name}},
				{"To", []string{name, "Second"}},
				{"Cc", []string{name}},
				{"Reply-To", []string{name}},
			} {
				list, err := p.header.AddressList(f.key)
				if err != nil {
					t.Fatalf("%s: %v\n%s", f.key, err, raw)
				}
				if len(list) != len(f.want) {
					t.Fatalf("%s: %d addresses, want %d", f.key, len(list), len(f.want))
				}
				for i, a := range list {
					if a.Name != f.want[i] {
						t.Errorf("%s[%d] name = %q, want %q", f.key, i, a.Name, f.want[i])
					}
				}
			}
			for _, line := range headerBlock(raw) {
				if needsEncoding(strings.ReplaceAll(line, "\t", " ")) {
					t.Errorf("header line is not printable ASCII: %q", line)
				}
			}
		})
	}
}

func TestHeaderOrderAndCustomHeaders(t *testing.T) {
	m := baseMessage()
	m.CC = []Address{{Email: "cc@example.org"}}
	m.ReplyTo = []Address{{Email: "reply@example.com"}}
	m.Headers = [][2]string{{"X-Campaign", "spring-2025"}, {"X-Note", "  Grüße  "}, {"In-Reply-To", "<prev@example.com>"}}
	m.ExtraHeaders = [][2]string{
		{"List-Unsubscribe", "<https://gw.example.com/u/abc>, <mailto:unsub@gw.example.com>"},
		{"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
		{"X-Gatewayd-Message-ID", "0b5e7a3c"},
	}
	raw := mustBuild(t, m)
	var names []string
	for _, line := range headerBlock(raw) {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		names = append(names, line[:strings.IndexByte(line, ':')])
	}
	want := []string{"Date", "From", "To", "Cc", "Reply-To", "Subject", "Message-ID", "MIME-Version",
		"X-Campaign", "X-Note", "In-Reply-To", "List-Unsubscribe", "List-Unsubscribe-Post", "X-Gatewayd-Message-ID",
		"Content-Type", "Content-Transfer-Encoding"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("header order:\n got %v\nwant %v", names, want)
	}
	p := mustParse(t, raw)
	for k, v := range map[string]string{
		"X-Campaign":            "spring-2025",
		"X-Note":                "Grüße",
		"In-Reply-To":           "<prev@example.com>",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		"X-Gatewayd-Message-Id": "0b5e7a3c",
	} {
		if got, err := p.header.Text(k); err != nil || got != v {
			t.Errorf("%s = %q (%v), want %q", k, got, err, v)
		}
	}
	id, err := p.header.MessageID()
	if err != nil || id != m.MessageID {
		t.Errorf("Message-ID = %q (%v), want %q", id, err, m.MessageID)
	}
	d, err := p.header.Date()
	if err != nil || !d.Equal(m.Date) {
		t.Errorf("Date = %v (%v), want %v", d, err, m.Date)
	}
	if !bytes.Contains(raw, []byte("\r\nX-Campaign: spring-2025\r\n")) {
		t.Errorf("custom header not written verbatim:\n%s", raw)
	}
}

func TestNoBccHeader(t *testing.T) {
	m := baseMessage()
	raw := mustBuild(t, m)
	for _, line := range headerBlock(raw) {
		if strings.HasPrefix(strings.ToLower(line), "bcc") {
			t.Fatalf("Bcc header written: %q", line)
		}
	}
	m.Headers = [][2]string{{"BCC", "hidden@example.org"}}
	if _, err := Build(m); err == nil {
		t.Fatal("a custom Bcc header was accepted")
	}
}

func TestHeaderInjectionRejected(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(m *Message)
		field string
	}{
		{"CRLF in subject", func(m *Message) { m.Subject = "Hi\r\nBcc: victim@example.org" }, "Subject"},
		{"LF in subject", func(m *Message) { m.Subject = "Hi\nX: y" }, "Subject"},
		{"NUL in subject", func(m *Message) { m.Subject = "Hi\x00" }, "Subject"},
		{"CRLF in from name", func(m *Message) { m.From.Name = "Eve\r\nBcc: v@example.org" }, "From"},
		{"CRLF in from email", func(m *Message) { m.From.Email = "eve@example.com\r\nBcc: v@example.org" }, "From"},
		{"CR in to name", func(m *Message) { m.To[0].Name = "A\rB" }, "To"},
		{"LF in to email", func(m *Message) { m.To[0].Email = "a@example.org\nBcc: v@example.org" }, "To"},
		{"CRLF in cc name", func(m *Message) { m.CC = []Address{{Name: "C\r\n", Email: "c@example.org"}} }, "CC"},
		{"CRLF in reply-to email", func(m *Message) { m.ReplyTo = []Address{{Email: "r@example.org\r\n"}} }, "ReplyTo"},
		{"CRLF in custom header value", func(m *Message) { m.Headers = [][2]string{{"X-A", "v\r\nBcc: v@example.org"}} }, "Headers"},
		{"LF in custom header value", func(m *Message) { m.Headers = [][2]string{{"X-A", "v\nBcc: v@example.org"}} }, "Headers"},
		{"CRLF in custom header name", func(m *Message) { m.Headers = [][2]string{{"X-A\r\nBcc", "v@example.org"}} }, "Headers"},
		{"colon in custom header name", func(m *Message) { m.Headers = [][2]string{{"Bcc: v@example.org\r\nX-A", "x"}} }, "Headers"},
		{"space in custom header name", func(m *Message) { m.Headers = [][2]string{{"X A", "x"}} }, "Headers"},
		{"empty custom header name", func(m *Message) { m.Headers = [][2]string{{"", "x"}} }, "Headers"},
		{"non-ASCII custom header name", func(m *Message) { m.Headers = [][2]string{{"X-Grüße", "x"}} }, "Headers"},
		{"CRLF in extra header value", func(m *Message) { m.ExtraHeaders = [][2]string{{"List-Unsubscribe", "<x>\r\nBcc: v"}} }, "Headers"},
		{"CRLF in filename", func(m *Message) {
			m.Attachments = []Attachment{{Filename: "a.txt\r\nContent-Type: text/html", Content: []byte("x")}}
		}, "Attachments"},
		{"NUL in filename", func(m *Message) { m.Attachments = []Attachment{{Filename: "a\x00.txt"}} }, "Attachments"},
		{"CRLF in content id", func(m *Message) {
			m.Attachments = []Attachment{{Filename: "a.png", Disposition: "inline", ContentID: "a\r\nX: y"}}
		}, "Attachments"},
		{"CRLF in content type", func(m *Message) {
			m.Attachments = []Attachment{{Filename: "a.png", ContentType: "image/png\r\nX: y"}}
		}, "Attachments"},
		{"invalid UTF-8 in subject", func(m *Message) { m.Subject = "bad \xff" }, "Subject"},
		{"invalid UTF-8 in html", func(m *Message) { m.HTML = "bad \xff" }, "HTML"},
		{"invalid UTF-8 in text", func(m *Message) { m.Text = "bad \xc3" }, "Text"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := baseMessage()
			tc.edit(m)
			out, err := Build(m)
			if err == nil {
				t.Fatalf("accepted; output:\n%s", out)
			}
			if out != nil {
				t.Errorf("output returned with error")
			}
			ce := asComposeError(t, err)
			if ce.Field != tc.field {
				t.Errorf("Field = %q, want %q (%v)", ce.Field, tc.field, err)
			}
		})
	}
}

func TestReservedCustomHeadersRejected(t *testing.T) {
	for _, name := range []string{"From", "to", "CC", "bcc", "SUBJECT", "Date", "Message-Id", "mime-version",
		"Content-Type", "content-transfer-encoding", "Return-Path", "Sender", "DKIM-Signature", "Received",
		"List-Unsubscribe", "list-unsubscribe-post", "X-Gatewayd-Message-ID"} {
		t.Run(name, func(t *testing.T) {
			m := baseMessage()
			m.Headers = [][2]string{{"X-Fine", "ok"}, {name, "value"}}
			_, err := Build(m)
			if err == nil {
				t.Fatalf("custom header %q accepted", name)
			}
			if ce := asComposeError(t, err); ce.Field != "Headers" {
				t.Errorf("Field = %q, want Headers", ce.Field)
			}
		})
	}
	// The same names are fine as system headers.
	m := baseMessage()
	m.ExtraHeaders = [][2]string{{"List-Unsubscribe", "<https://example.com/u>"}, {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"}}
	mustBuild(t, m)
}

func TestSingleInstanceCustomHeaders(t *testing.T) {
	m := baseMessage()
	m.ReplyTo = []Address{{Email: "r@example.com"}}
	m.Headers = [][2]string{{"Reply-To", "other@example.com"}}
	if _, err := Build(m); err == nil {
		t.Error("custom Reply-To accepted next to ReplyTo")
	}
	m = baseMessage()
	m.Headers = [][2]string{{"References", "<a@x>"}, {"references", "<b@x>"}}
	if _, err := Build(m); err == nil {
		t.Error("two References headers accepted")
	}
	m = baseMessage()
	m.Headers = [][2]string{{"Reply-To", "other@example.com"}}
	p := mustParse(t, mustBuild(t, m))
	if l, err := p.header.AddressList("Reply-To"); err != nil || len(l) != 1 || l[0].Address != "other@example.com" {
		t.Errorf("custom Reply-To = %v (%v)", l, err)
	}
}

// TestBuildNeverRepeatsSingleFields: a system header (ExtraHeaders) that would give a
// message a second field RFC 5322 section 3.6 allows once is refused, not written; and
// RepeatedField, the check every acceptance path shares, finds each such field.
func TestBuildNeverRepeatsSingleFields(t *testing.T) {
	for _, name := range []string{"Subject", "From", "Message-ID", "Date", "To"} {
		m := baseMessage()
		m.ExtraHeaders = [][2]string{{name, "x@example.com"}}
		_, err := Build(m)
		if err == nil {
			t.Fatalf("second %s written", name)
		}
		if ce := asComposeError(t, err); ce.Field != "Headers" {
			t.Errorf("Field = %q, want Headers", ce.Field)
		}
	}
	m := baseMessage()
	m.Headers = [][2]string{{"In-Reply-To", "<a@x>"}, {"References", "<a@x>"}}
	if p := mustParse(t, mustBuild(t, m)); RepeatedField(p.header.Header) != "" {
		t.Errorf("built message has a repeated field: %s", RepeatedField(p.header.Header))
	}
	for _, name := range []string{"Date", "From", "Sender", "Reply-To", "To", "Cc", "Bcc",
		"Message-ID", "In-Reply-To", "References", "Subject"} {
		var h message.Header
		h.Add(name, "a@example.com")
		h.Add("Received", "one")
		h.Add("Received", "two")
		if f := RepeatedField(h); f != "" {
			t.Errorf("%s once: RepeatedField = %q", name, f)
		}
		h.Add(strings.ToLower(name), "b@example.com")
		if f := RepeatedField(h); f != name {
			t.Errorf("%s twice: RepeatedField = %q", name, f)
		}
	}
}

func TestLongSubjectIsFolded(t *testing.T) {
	words := make([]string, 200)
	for i := range words {
		words[i] = fmt.Sprintf("word%d", i)
	}
	subjects := []string{
		strings.Join(words, " "),                         // ASCII, folds at spaces
		strings.Join(words, "  "),                        // only double spaces: no safe fold point, > 998 octets
		strings.Repeat("x", 1500),                        // one word longer than a line
		"Grüße " + strings.Repeat("ünïcödé ", 100) + "!", // encoded words
	}
	for i, s := range subjects {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			m := baseMessage()
			m.Subject = s
			raw := mustBuild(t, m)
			if err := checkLines(raw); err != nil {
				t.Fatal(err)
			}
			var subjectLines []string
			in := false
			for _, line := range headerBlock(raw) {
				switch {
				case strings.HasPrefix(line, "Subject:"):
					in = true
				case in && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")):
				default:
					in = false
				}
				if in {
					subjectLines = append(subjectLines, line)
				}
			}
			if len(subjectLines) < 2 {
				t.Errorf("subject of %d octets written on %d line(s)", len(s), len(subjectLines))
			}
			for _, l := range subjectLines {
				if len(l) > 100 {
					t.Errorf("subject line of %d octets: %.40q...", len(l), l)
				}
			}
			got, err := mustParse(t, raw).header.Subject()
			if err != nil || got != s {
				t.Errorf("Subject read back differs (%v):\n got %q\nwant %q", err, got, s)
			}
		})
	}
}

func TestLongCustomHeaderValue(t *testing.T) {
	m := baseMessage()
	m.Headers = [][2]string{{"X-Long", strings.Repeat("v", 1200)}}
	_, err := Build(m)
	if err == nil {
		t.Fatal("unfoldable 1200-octet header value accepted")
	}
	if ce := asComposeError(t, err); ce.Field != "Headers" {
		t.Errorf("Field = %q", ce.Field)
	}

	m.Headers = [][2]string{{"X-Long", strings.Repeat("token ", 300)}}
	raw := mustBuild(t, m)
	if err := checkLines(raw); err != nil {
		t.Fatal(err)
	}
	got := mustParse(t, raw).header.Get("X-Long")
	if got != strings.TrimSpace(strings.Repeat("token ", 300)) {
		t.Errorf("X-Long read back differs: %q", got)
	}
}

func TestTextTransferEncoding(t *testing.T) {
	tests := []struct {
		name, text, cte string
	}{
		{"short ASCII", "Hello,\nworld.\n", "7bit"},
		{"non-ASCII", "Grüße 👋\n", "quoted-printable"},
		{"long line", strings.Repeat("a", 200), "quoted-printable"},
		{"trailing space", "line with space \nnext", "quoted-printable"},
		{"boundary-like text", "--=_ABC\n", "quoted-printable"},
		{"bare CR and mixed endings", "a\rb\r\nc\nd", "7bit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, html := range []bool{false, true} {
				m := baseMessage()
				m.Text, m.HTML = tc.text, ""
				if html {
					m.Text, m.HTML = "", tc.text
				}
				raw := mustBuild(t, m)
				if err := checkLines(raw); err != nil {
					t.Fatal(err)
				}
				p := mustParse(t, raw)
				l := p.leaves[0]
				if got := l.header.Get("Content-Transfer-Encoding"); got != tc.cte {
					t.Errorf("html=%v: Content-Transfer-Encoding = %q, want %q", html, got, tc.cte)
				}
				_, params, _ := l.header.ContentType()
				if params["charset"] != "utf-8" {
					t.Errorf("charset = %q", params["charset"])
				}
				want := crlf(strings.ReplaceAll(tc.text, "\r\n", "\n"))
				want = strings.ReplaceAll(want, "\r\r\n", "\r\n")
				if tc.name == "bare CR and mixed endings" {
					want = "a\r\nb\r\nc\r\nd\r\n"
				}
				if string(l.body) != want {
					t.Errorf("html=%v: body = %q, want %q", html, l.body, want)
				}
			}
		})
	}
}

func TestAddressesInHeaders(t *testing.T) {
	m := baseMessage()
	m.From = Address{Name: "Bücher", Email: "info@bücher.de"}
	m.To = []Address{{Email: "plain@example.org"}, {Name: "Jane Smith", Email: "jane@example.org"}}
	raw := mustBuild(t, m)
	p := mustParse(t, raw)
	from, err := p.header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "info@xn--bcher-kva.de" || from[0].Name != "Bücher" {
		t.Errorf("From = %v (%v), want Bücher <info@xn--bcher-kva.de>", from, err)
	}
	to, err := p.header.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Address != "plain@example.org" || to[1].Name != "Jane Smith" {
		t.Errorf("To = %v (%v)", to, err)
	}
	if _, err := p.header.AddressList("Cc"); err != nil || p.header.Has("Cc") || p.header.Has("Reply-To") {
		t.Error("empty Cc/Reply-To written")
	}

	m = baseMessage()
	m.To = nil
	p = mustParse(t, mustBuild(t, m))
	if p.header.Has("To") {
		t.Error("To written without recipients")
	}
}

func TestInvalidInputRejected(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(m *Message)
		field string
	}{
		{"missing from", func(m *Message) { m.From = Address{Name: "x"} }, "From"},
		{"invalid from", func(m *Message) { m.From.Email = "not-an-address" }, "From"},
		{"invalid to", func(m *Message) { m.To = append(m.To, Address{Email: "a b@example.org"}) }, "To"},
		{"empty to email", func(m *Message) { m.To = []Address{{Name: "x"}} }, "To"},
		{"invalid cc", func(m *Message) { m.CC = []Address{{Email: "c@localhost"}} }, "CC"},
		{"invalid reply-to", func(m *Message) { m.ReplyTo = []Address{{Email: "<r@example.org>"}} }, "ReplyTo"},
		{"missing message id", func(m *Message) { m.MessageID = "" }, "MessageID"},
		{"message id with brackets", func(m *Message) { m.MessageID = "<a@b>" }, "MessageID"},
		{"message id without at", func(m *Message) { m.MessageID = "abc" }, "MessageID"},
		{"multipart attachment", func(m *Message) {
			m.Attachments = []Attachment{{Filename: "x", ContentType: "multipart/mixed; boundary=x"}}
		}, "Attachments"},
		{"bad content type", func(m *Message) { m.Attachments = []Attachment{{Filename: "x", ContentType: "not a type"}} }, "Attachments"},
		{"bad disposition", func(m *Message) { m.Attachments = []Attachment{{Filename: "x", Disposition: "form-data"}} }, "Attachments"},
		{"long filename", func(m *Message) { m.Attachments = []Attachment{{Filename: strings.Repeat("a", 300)}} }, "Attachments"},
		{"content id with space", func(m *Message) { m.Attachments = []Attachment{{Filename: "x", ContentID: "a b"}} }, "Attachments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := baseMessage()
			tc.edit(m)
			_, err := Build(m)
			if err == nil {
				t.Fatal("accepted")
			}
			if ce := asComposeError(t, err); ce.Field != tc.field {
				t.Errorf("Field = %q, want %q (%v)", ce.Field, tc.field, err)
			}
		})
	}
}

func TestBoundariesDifferPerBuild(t *testing.T) {
	m := baseMessage()
	m.HTML = "<b>x</b>"
	a, b := mustBuild(t, m), mustBuild(t, m)
	if bytes.Equal(a, b) {
		t.Error("two builds of a multipart message have the same boundary")
	}
}

// TestGolden compares one full message byte for byte with
// testdata/full.eml. Set GATEWAYD_UPDATE_GOLDEN=1 to rewrite it.
func TestGolden(t *testing.T) {
	m := &Message{
		From:    Address{Name: "Grüße Team", Email: "news@bücher.example"},
		To:      []Address{{Name: "Jane Smith", Email: "jane@example.org"}, {Email: "bob@example.net"}},
		CC:      []Address{{Name: "O'Brien, Pat", Email: "pat@example.org"}},
		ReplyTo: []Address{{Name: "Support", Email: "support@example.com"}},
		Subject: "Grüße 👋 — your March report is ready",
		Text:    "Hello Jane,\n\nYour report is attached.\n",
		HTML:    "<html><body><p>Hello Jane,</p><p>Your report is attached.</p><img src=\"cid:logo@example.com\" alt=\"logo\"></body></html>\n",
		Headers: [][2]string{{"X-Campaign-ID", "march-2025"}, {"X-Mailer-Note", "Grüße"}},
		Attachments: []Attachment{
			{Filename: "logo.png", ContentType: "image/png", Disposition: "inline", ContentID: "logo@example.com", Content: []byte("\x89PNG\r\n\x1a\n fake")},
			{Filename: "report.pdf", ContentType: "application/pdf", Content: []byte("%PDF-1.4 fake report")},
			{Filename: "Übersicht.csv", ContentType: "text/csv", Content: []byte("a,b\n1,2\n")},
		},
		MessageID: "0b5e7a3c-1d2f-4e8a-9c6b-7f1e2d3c4b5a@mail.example.com",
		Date:      time.Date(2025, 3, 14, 15, 9, 26, 0, time.FixedZone("CET", 3600)),
		ExtraHeaders: [][2]string{
			{"List-Unsubscribe", "<https://gateway.example.com/u/0b5e7a3c>, <mailto:unsubscribe@gateway.example.com?subject=0b5e7a3c>"},
			{"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
		},
	}
	n := 0
	b := builder{boundary: func() string { n++; return fmt.Sprintf("=_gatewayd-test-%d", n) }}
	got, err := b.build(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkLines(got); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "full.eml")
	if os.Getenv("GATEWAYD_UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
	p := mustParse(t, got)
	if want := "multipart/mixed(multipart/alternative(text/plain,multipart/related(text/html,image/png)),application/pdf,text/csv)"; p.shape != want {
		t.Errorf("shape = %s, want %s", p.shape, want)
	}
}
