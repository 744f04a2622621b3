package compose

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// FuzzBuild checks that Build either refuses input with an *Error or writes
// a message that parses back with the same Subject, CRLF line endings, no
// line over 998 octets and no repeated RFC 5322 single field, also when the
// custom header is given again as a system header.
func FuzzBuild(f *testing.F) {
	f.Add("Grüße 👋", "Jane", "jane@example.org", "X-Tag", "value", "a.txt", "cid", "<b>x</b>", "text", []byte("data"))
	f.Add("Hi\r\nBcc: x@example.org", "Eve\n", "e@example.org", "X-A\r\n", "v\r\n", "a\r\n.txt", "c d", "", "", []byte{})
	f.Add("  =?utf-8?q?x?=  ", "=?x?=", "a@bücher.de", "Reply-To", "r@example.com", "=?q?=", "<x@y>", "", "", []byte{0, 1})
	f.Add(string(bytes.Repeat([]byte("word "), 300)), "", "a@example.com", "Subject", "x", "", "", "h", "", []byte(nil))
	f.Fuzz(func(t *testing.T, subject, name, email, hname, hvalue, filename, cid, html, text string, content []byte) {
		if !ValidAddress(email) {
			// Keep the run going past address checks most of the time.
			email = "rcpt@example.org"
		}
		m := &Message{
			From:      Address{Name: name, Email: "sender@example.com"},
			To:        []Address{{Name: name, Email: email}},
			Subject:   subject,
			HTML:      html,
			Text:      text,
			MessageID: "id@example.com",
			Date:      time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		}
		if hname != "" {
			m.Headers = [][2]string{{hname, hvalue}}
			if len(hvalue)%2 == 1 {
				m.ExtraHeaders = [][2]string{{hname, hvalue}}
			}
		}
		if filename != "" || cid != "" || len(content) > 0 {
			m.Attachments = []Attachment{{Filename: filename, ContentID: cid, Disposition: "inline", Content: content}}
		}
		out, err := Build(m)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error is not *Error: %v", err)
			}
			return
		}
		if err := checkLines(out); err != nil {
			t.Fatalf("%v\n%q", err, out)
		}
		p, err := readMessage(out)
		if err != nil {
			t.Fatalf("output does not parse: %v\n%q", err, out)
		}
		if f := RepeatedField(p.header.Header); f != "" {
			t.Fatalf("output repeats %s\n%q", f, out)
		}
		got, err := p.header.Subject()
		if err != nil || got != subject {
			t.Fatalf("Subject = %q (%v), want %q\n%q", got, err, subject, out)
		}
		to, err := p.header.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Name != name {
			t.Fatalf("To = %v (%v), want name %q\n%q", to, err, name, out)
		}
	})
}

// FuzzRepeatedField checks the single-field rule of every acceptance path on
// arbitrary headers: RepeatedField names a field exactly when that field of
// RFC 5322 section 3.6 occurs twice or more, whatever the case of its name.
func FuzzRepeatedField(f *testing.F) {
	f.Add([]byte("From: a@example.com\r\nFrom: ceo@other-tenant.test\r\n\r\nx"))
	f.Add([]byte("from: a@example.com\r\nTo: b@example.org\r\nFROM: c@example.net\r\n\r\n"))
	f.Add([]byte("Received: a\r\nReceived: b\r\nSubject: s\r\nMessage-Id: <x@y>\r\n\r\n"))
	f.Add([]byte("Subject: a\r\n b\r\nsubject: c\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return
		}
		count := map[string]int{}
		for fs := h.Fields(); fs.Next(); {
			count[strings.ToLower(fs.Key())]++
		}
		got := RepeatedField(message.Header{Header: h})
		for _, name := range singleOccurrence {
			if count[strings.ToLower(name)] > 1 {
				if got != name {
					t.Fatalf("%s occurs %d times; RepeatedField = %q\n%q", name, count[strings.ToLower(name)], got, raw)
				}
				return
			}
		}
		if got != "" {
			t.Fatalf("RepeatedField = %q for a header without repeats\n%q", got, raw)
		}
	})
}
