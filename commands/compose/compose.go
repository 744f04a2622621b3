// Package compose builds the RFC 5322 MIME message of an API send (POST
// /api/v1/email, emailgateway.sendemail, GatewayAPI /rest/email): headers,
// the text/html alternative, inline images and attachments.
//
// It owns the message bytes and the rules that keep caller input from
// corrupting them (header injection, reserved headers, line lengths). It does
// no I/O and no SQL, and it does not decide who may send, to whom, or when:
// that belongs to the send command and the queue.
package compose

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/emersion/go-message"
)

// Address is a mailbox: an optional display name and an addr-spec.
type Address struct {
	Name, Email string
}

// Attachment is one file carried by a message.
type Attachment struct {
	Filename string
	// ContentType is a media type such as "image/png". When empty it is guessed
	// from the filename's extension, else application/octet-stream.
	ContentType string
	// Disposition is "attachment" (the default when empty) or "inline".
	Disposition string
	// ContentID names an inline part referenced from HTML as "cid:<ContentID>";
	// it is given without angle brackets.
	ContentID string
	// Content is the decoded file.
	Content []byte
}

// Message is what a send request asks for. Bcc recipients are not part of
// it: they never appear in the headers.
type Message struct {
	From        Address
	To, CC      []Address
	ReplyTo     []Address
	Subject     string
	HTML        string
	Text        string
	Headers     [][2]string // caller's custom headers, in order (name, value)
	Attachments []Attachment
	// MessageID is the id-left@id-right of the Message-ID header, without
	// angle brackets. Required.
	MessageID string
	// Date is the Date header; the current time when zero.
	Date time.Time
	// ExtraHeaders are headers added by the system (List-Unsubscribe,
	// List-Unsubscribe-Post, X-Gatewayd-...). They are checked for injection
	// but not against the reserved-header policy.
	ExtraHeaders [][2]string
}

// Error reports input that cannot become a message. Field names the part of
// the request at fault ("From", "To", "CC", "ReplyTo", "Subject", "Headers",
// "Attachments", "HTML", "Text", or "MessageID" for the system-assigned id) so
// the caller can map it to its surface's error code.
type Error struct {
	Field  string
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("compose: %s: %s", e.Field, e.Reason)
}

func fieldError(field, format string, args ...any) *Error {
	return &Error{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Build renders m as an RFC 5322 message with CRLF line endings.
//
// Structure: text only is text/plain, HTML only is text/html, both are
// multipart/alternative (text first). Inline attachments with a ContentID sit
// with the HTML part in multipart/related (inside the alternative when there
// is also text). Other attachments make the whole a multipart/mixed. Text
// parts are UTF-8, 7bit when pure ASCII with short lines, else
// quoted-printable; attachments are base64.
//
// Header order: Date, From, To, Cc, Reply-To, Subject, Message-ID,
// MIME-Version, custom headers, extra headers, then the Content-* fields.
// Invalid input yields an *Error; nothing is passed through unchecked.
func Build(m *Message) ([]byte, error) {
	b := builder{boundary: randomBoundary}
	return b.build(m)
}

// builder carries what must be replaceable in tests: the multipart boundary
// source.
type builder struct {
	boundary func() string
}

// randomBoundary returns a boundary that cannot occur in quoted-printable or
// base64 output ("=_" never does) and is unguessable for 7bit text, which is
// only used when it holds no "=_".
func randomBoundary() string {
	return "=_" + rand.Text()
}

func (b builder) build(m *Message) ([]byte, error) {
	if m == nil {
		return nil, errors.New("compose: nil message")
	}
	top, err := topHeader(m)
	if err != nil {
		return nil, err
	}
	root, err := b.body(m)
	if err != nil {
		return nil, err
	}

	var buf bytes.Buffer
	h := headerFromLines(append(top, root.lines...))
	if f := RepeatedField(h); f != "" {
		return nil, fieldError("Headers", "header %q is given more than once", f)
	}
	w, err := message.CreateWriter(&buf, h)
	if err != nil {
		return nil, fmt.Errorf("compose: write header: %w", err)
	}
	if err := writeBody(w, root); err != nil {
		return nil, fmt.Errorf("compose: write body: %w", err)
	}
	return buf.Bytes(), nil
}

// entity is one MIME entity: its Content-* header lines (already folded)
// and either a leaf body or child entities. A multipart entity also keeps
// its media type and parameters until its boundary is assigned.
type entity struct {
	lines     []string
	body      []byte
	children  []*entity
	mediaType string
	params    map[string]string
}

// headerFromLines makes a go-message header that writes lines verbatim and in
// order. go-message inserts each new field at the top, so lines are added
// last to first.
func headerFromLines(lines []string) message.Header {
	var h message.Header
	for i := len(lines) - 1; i >= 0; i-- {
		h.AddRaw([]byte(lines[i]))
	}
	return h
}

func writeBody(w *message.Writer, e *entity) error {
	if len(e.children) == 0 {
		if _, err := w.Write(e.body); err != nil {
			return err
		}
		return w.Close()
	}
	for _, c := range e.children {
		pw, err := w.CreatePart(headerFromLines(c.lines))
		if err != nil {
			return err
		}
		if err := writeBody(pw, c); err != nil {
			return err
		}
	}
	return w.Close()
}
