package tracking

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"testing"
)

const base = "https://t.example.test"

func transformSigner() *Signer { return NewSigner([]byte("0123456789abcdef0123456789abcdef")) }

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

var alternative = crlf(`From: News <news@example.com>
To: jane@example.net
Subject: Spring
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

This is a multi-part message.
--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 7bit

Hello Jane,
see https://example.com/sale
--inner
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<html><body><p>Hello Jane, see <a href=3D"https://example.com/sale?a=3D1&amp;b=
=3D2">the sale</a> or <a href=3D"mailto:news@example.com">write</a>.</p></body>=
</html>
--inner--
--outer
Content-Type: text/html; name="terms.html"
Content-Disposition: attachment; filename="terms.html"
Content-Transfer-Encoding: base64

PGEgaHJlZj0iaHR0cHM6Ly9leGFtcGxlLmNvbS90ZXJtcyI+dGVybXM8L2E+
--outer--
`)

// parts reads every leaf part of a message: content type -> decoded body.
func parts(t *testing.T, raw []byte) (*mail.Message, map[string][]string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("output is not a message: %v\n%s", err, raw)
	}
	out := map[string][]string{}
	var walk func(h map[string][]string, body io.Reader)
	walk = func(h map[string][]string, body io.Reader) {
		get := func(k string) string {
			if v := h[k]; len(v) > 0 {
				return v[0]
			}
			return ""
		}
		mt, params, err := mime.ParseMediaType(get("Content-Type"))
		if err != nil {
			t.Fatalf("content type %q: %v", get("Content-Type"), err)
		}
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatalf("multipart: %v", err)
				}
				walk(p.Header, p)
			}
		}
		var r io.Reader = body
		switch strings.ToLower(get("Content-Transfer-Encoding")) {
		case "quoted-printable":
			r = quotedprintable.NewReader(body)
		case "base64":
			r = base64.NewDecoder(base64.StdEncoding, body)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("%s body: %v", mt, err)
		}
		key := mt
		if strings.HasPrefix(get("Content-Disposition"), "attachment") {
			key += " attachment"
		}
		out[key] = append(out[key], string(b))
	}
	walk(m.Header, m.Body)
	return m, out
}

var (
	clickRE = regexp.MustCompile(`https://t\.example\.test/t/c/([A-Za-z0-9_-]+)`)
	openRE  = regexp.MustCompile(`<img src="https://t\.example\.test/t/o/([A-Za-z0-9_-]+)"`)
	unsubRE = regexp.MustCompile(`https://t\.example\.test/t/u/([A-Za-z0-9_-]+)`)
)

func TestTransformMultipart(t *testing.T) {
	s := transformSigner()
	out, urls, err := TransformMessage([]byte(alternative), MessageOptions{Base: base, Signer: s, RecipientID: 4242,
		Links: true, Opens: true, Unsubscribe: true, UnsubscribeMailto: "unsubscribe+x@bounces.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(urls) != 1 || urls[0] != "https://example.com/sale?a=1&b=2" {
		t.Fatalf("urls %q", urls)
	}
	m, ps := parts(t, out)
	lu := m.Header.Get("List-Unsubscribe")
	if !unsubRE.MatchString(lu) || !strings.Contains(lu, "<mailto:unsubscribe+x@bounces.example.com?subject=unsubscribe>") {
		t.Fatalf("List-Unsubscribe %q", lu)
	}
	if got := m.Header.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Fatalf("List-Unsubscribe-Post %q", got)
	}
	c, err := s.ParseKind(unsubRE.FindStringSubmatch(lu)[1], Unsubscribe)
	if err != nil || c.RecipientID != 4242 {
		t.Fatalf("unsubscribe token: %+v %v", c, err)
	}
	html := ps["text/html"]
	if len(html) != 1 {
		t.Fatalf("html parts %q", ps)
	}
	h := html[0]
	links := clickRE.FindAllStringSubmatch(h, -1)
	if len(links) != 1 {
		t.Fatalf("html has %d tracked links: %s", len(links), h)
	}
	if c, err := s.ParseKind(links[0][1], Click); err != nil || c.RecipientID != 4242 || c.Link != 0 {
		t.Fatalf("click token %+v %v", c, err)
	}
	if !strings.Contains(h, `href="mailto:news@example.com"`) {
		t.Fatalf("mailto link changed: %s", h)
	}
	if om := openRE.FindStringSubmatch(h); om == nil {
		t.Fatalf("no pixel: %s", h)
	} else if c, err := s.ParseKind(om[1], Open); err != nil || c.RecipientID != 4242 {
		t.Fatalf("open token %+v %v", c, err)
	}
	// The footer's unsubscribe link is not click-tracked, and comes before the pixel and </body>.
	iu, ip, ib := strings.Index(h, "/t/u/"), strings.Index(h, "/t/o/"), strings.Index(h, "</body>")
	if iu < 0 || !(iu < ip && ip < ib) {
		t.Fatalf("footer, pixel and </body> out of order: %s", h)
	}
	plain := ps["text/plain"]
	if len(plain) != 1 || !strings.HasPrefix(plain[0], "Hello Jane,\r\nsee https://example.com/sale\r\n\r\nUnsubscribe: https://t.example.test/t/u/") {
		t.Fatalf("plain part %q", plain)
	}
	att := ps["text/html attachment"]
	if len(att) != 1 || att[0] != `<a href="https://example.com/terms">terms</a>` {
		t.Fatalf("attachment changed: %q", att)
	}
	// Every byte outside the edited bodies is kept.
	for _, keep := range []string{"This is a multi-part message.\r\n--outer\r\n", "PGEgaHJlZj0iaHR0cHM6Ly9leGFtcGxlLmNvbS90ZXJtcyI+dGVybXM8L2E+\r\n--outer--\r\n",
		"From: News <news@example.com>\r\nTo: jane@example.net\r\nSubject: Spring\r\n"} {
		if !bytes.Contains(out, []byte(keep)) {
			t.Fatalf("output lost %q:\n%s", keep, out)
		}
	}
}

func TestTransformBase64AndLongLines(t *testing.T) {
	s := transformSigner()
	body := base64.StdEncoding.EncodeToString([]byte(`<p><a href="https://example.com/x">x</a></p>`))
	raw := crlf("Subject: b64\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n\n" + body + "\n")
	out, urls, err := TransformMessage([]byte(raw), MessageOptions{Base: base, Signer: s, RecipientID: 1, Links: true})
	if err != nil || len(urls) != 1 {
		t.Fatalf("%v %q", err, urls)
	}
	_, ps := parts(t, out)
	if !clickRE.MatchString(ps["text/html"][0]) || strings.Contains(ps["text/html"][0], "example.com/x") {
		t.Fatalf("base64 html: %q", ps["text/html"])
	}
	for _, l := range strings.Split(string(out), "\r\n") {
		if len(l) > 76 && !strings.HasPrefix(l, "Subject") {
			t.Fatalf("base64 line of %d octets", len(l))
		}
	}

	// A 7bit body whose only line grows past 998 octets becomes quoted-printable.
	long := "<p>" + strings.Repeat(`<a href="https://example.com/`+strings.Repeat("p", 5)+`">l</a>`, 20) + "</p>"
	if len(long) > 998 {
		t.Fatalf("the input line is already %d octets", len(long))
	}
	raw = crlf("Subject: long\nContent-Type: text/html; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n") + long
	out, urls, err = TransformMessage([]byte(raw), MessageOptions{Base: base, Signer: s, RecipientID: 99999999, Links: true, Opens: true})
	if err != nil || len(urls) != 1 {
		t.Fatalf("%v %q", err, urls)
	}
	m, ps := parts(t, out)
	if m.Header.Get("Content-Transfer-Encoding") != "quoted-printable" || len(m.Header["Content-Transfer-Encoding"]) != 1 {
		t.Fatalf("Content-Transfer-Encoding %q", m.Header["Content-Transfer-Encoding"])
	}
	for _, l := range strings.Split(string(out), "\r\n") {
		if len(l) > 998 {
			t.Fatalf("a line of %d octets", len(l))
		}
	}
	if n := len(clickRE.FindAllString(ps["text/html"][0], -1)); n != 20 {
		t.Fatalf("%d tracked links, want 20", n)
	}
}

func TestTransformKeepsOwnListUnsubscribe(t *testing.T) {
	raw := crlf("List-Unsubscribe: <https://example.com/u>\nSubject: x\nContent-Type: text/plain\n\nhi\n")
	out, _, err := TransformMessage([]byte(raw), MessageOptions{Base: base, Signer: transformSigner(), RecipientID: 1, Unsubscribe: true})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := parts(t, out)
	if got := m.Header["List-Unsubscribe"]; len(got) != 1 || got[0] != "<https://example.com/u>" {
		t.Fatalf("List-Unsubscribe %q", got)
	}
}

func TestTransformNothingToDo(t *testing.T) {
	out, urls, err := TransformMessage([]byte(alternative), MessageOptions{Base: base, Signer: transformSigner(), RecipientID: 1})
	if err != nil || urls != nil || string(out) != alternative {
		t.Fatalf("no options changed the message: %v %q", err, urls)
	}
	// Opens only: links untouched, one pixel; LF line endings are kept.
	raw := "Subject: lf\nContent-Type: text/html\n\n<a href=\"https://example.com/\">x</a>\n"
	out, urls, err = TransformMessage([]byte(raw), MessageOptions{Base: base, Signer: transformSigner(), RecipientID: 1, Opens: true})
	if err != nil || len(urls) != 0 || !openRE.Match(out) || !bytes.Contains(out, []byte(`href="https://example.com/"`)) ||
		bytes.Contains(out, []byte("\r\n")) {
		t.Fatalf("%v %q\n%s", err, urls, out)
	}
}

func FuzzTransformMessage(f *testing.F) {
	f.Add([]byte(alternative))
	f.Add([]byte("Subject: x\r\n\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--b--"))
	s := transformSigner()
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, _, err := TransformMessage(raw, MessageOptions{Base: base, Signer: s, RecipientID: 7, Links: true, Opens: true, Unsubscribe: true})
		if err == nil && len(out) < len(raw) {
			t.Fatalf("output shorter than input")
		}
	})
}

// An HTML attachment is never rewritten, even when it comes before the body.
func TestTransformSkipsAttachments(t *testing.T) {
	raw := crlf(`Subject: att
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/html
Content-Disposition: attachment; filename=a.html

<a href="https://example.com/attached">a</a>
--b
Content-Type: text/html

<a href="https://example.com/body">b</a>
--b--
`)
	out, urls, err := TransformMessage([]byte(raw), MessageOptions{Base: base, Signer: transformSigner(), RecipientID: 3, Links: true})
	if err != nil || len(urls) != 1 || urls[0] != "https://example.com/body" {
		t.Fatalf("%v %q", err, urls)
	}
	_, ps := parts(t, out)
	if att := ps["text/html attachment"]; len(att) != 1 || att[0] != `<a href="https://example.com/attached">a</a>` {
		t.Fatalf("attachment %q", att)
	}
	if body := ps["text/html"]; len(body) != 1 || !clickRE.MatchString(body[0]) {
		t.Fatalf("body %q", body)
	}
}
