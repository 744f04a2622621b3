package compose

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// leaf is one non-multipart entity of a parsed message, body decoded.
type leaf struct {
	mediaType string
	header    message.Header
	body      []byte
}

// parsed is a message read back with go-message.
type parsed struct {
	header mail.Header
	// shape is the MIME tree, e.g. "multipart/mixed(text/plain,image/png)".
	shape  string
	leaves []leaf
}

func readMessage(raw []byte) (*parsed, error) {
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	p := &parsed{header: mail.Header{Header: e.Header}}
	shape, err := walkEntity(e, p)
	if err != nil {
		return nil, err
	}
	p.shape = shape
	return p, nil
}

func walkEntity(e *message.Entity, p *parsed) (string, error) {
	mt, _, err := e.Header.ContentType()
	if err != nil {
		return "", fmt.Errorf("content type: %w", err)
	}
	mr := e.MultipartReader()
	if mr == nil {
		body, err := io.ReadAll(e.Body)
		if err != nil {
			return "", fmt.Errorf("read %s body: %w", mt, err)
		}
		p.leaves = append(p.leaves, leaf{mediaType: mt, header: e.Header, body: body})
		return mt, nil
	}
	var kids []string
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("next part of %s: %w", mt, err)
		}
		s, err := walkEntity(part, p)
		if err != nil {
			return "", err
		}
		kids = append(kids, s)
	}
	return mt + "(" + strings.Join(kids, ",") + ")", nil
}

func mustParse(t *testing.T, raw []byte) *parsed {
	t.Helper()
	p, err := readMessage(raw)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	return p
}

func mustBuild(t *testing.T, m *Message) []byte {
	t.Helper()
	out, err := Build(m)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return out
}

// baseMessage is a minimal valid message for tests to modify.
func baseMessage() *Message {
	return &Message{
		From:      Address{Name: "Sender", Email: "sender@example.com"},
		To:        []Address{{Name: "Rcpt", Email: "rcpt@example.org"}},
		Subject:   "Hello",
		Text:      "Hello there.",
		MessageID: "0b5e7a3c-1d2f-4e8a-9c6b-7f1e2d3c4b5a@example.com",
		Date:      time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC),
	}
}

// crlf is how a text body reads back: CRLF line endings, one at the end.
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\n", "\r\n")
	if s != "" && !strings.HasSuffix(s, "\r\n") {
		s += "\r\n"
	}
	return s
}

// headerBlock returns the raw top-level header lines of a message.
func headerBlock(raw []byte) []string {
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(raw)
	}
	return strings.Split(string(raw[:end]), "\r\n")
}

// checkLines reports a bare LF/CR or a line longer than 998 octets.
func checkLines(raw []byte) error {
	for i, line := range bytes.Split(raw, []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") {
			return fmt.Errorf("line %d has a bare CR or LF: %q", i+1, line)
		}
		if len(line) > maxLineLen {
			return fmt.Errorf("line %d is %d octets long", i+1, len(line))
		}
	}
	if len(raw) > 0 && !bytes.HasSuffix(raw, []byte("\r\n")) {
		return errors.New("message does not end with CRLF")
	}
	return nil
}

func asComposeError(t *testing.T, err error) *Error {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *compose.Error", err, err)
	}
	return ce
}
