package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"gatewayd/app/apptest"
	"gatewayd/config"
	"gatewayd/storage"
)

// sender is a tenant with an enabled domain and a sender API key.
type sender struct {
	e      *apptest.Env
	user   *apptest.User
	domain int64
	key    string
}

func newSender(t *testing.T, e *apptest.Env, name, domain string) *sender {
	t.Helper()
	u := e.CreateUser(name)
	id := e.AddDomain(u, domain)
	e.EnableDomain(id)
	return &sender{e: e, user: u, domain: id, key: e.SenderKey(id)}
}

// v1 posts a JSON body to /api/v1/email with the sender key as Bearer token.
func (s *sender) v1(body any, header ...string) *apptest.Response {
	s.e.T.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		s.e.T.Fatal(err)
	}
	h := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + s.key}}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return s.e.Do("POST", "/api/v1/email", h, b)
}

// messageID returns the MessageID of a successful v1 answer.
func messageID(t *testing.T, r *apptest.Response) string {
	t.Helper()
	var ok struct{ MessageID string }
	if r.Status != 200 || json.Unmarshal(r.Body, &ok) != nil || ok.MessageID == "" {
		t.Fatalf("send failed: %d %s", r.Status, r.Body)
	}
	return ok.MessageID
}

// errorCodes returns the codes of a v1 error answer.
func errorCodes(t *testing.T, r *apptest.Response) []int {
	t.Helper()
	var e struct{ Errors []struct{ Code int } }
	if err := json.Unmarshal(r.Body, &e); err != nil || len(e.Errors) == 0 {
		t.Fatalf("not an error answer: %d %s", r.Status, r.Body)
	}
	var codes []int
	for _, x := range e.Errors {
		codes = append(codes, x.Code)
	}
	return codes
}

func (s *sender) usage() int64 {
	s.e.T.Helper()
	n, err := s.e.Server.DB.MonthlyUsage(context.Background(), s.user.ID)
	if err != nil {
		s.e.T.Fatal(err)
	}
	return n
}

// basic is a minimal valid request; edits change it.
func basic(edits ...func(m map[string]any)) map[string]any {
	m := map[string]any{
		"Subject": "Hello", "ContentType": "plain", "PlainContent": "Hi there",
		"From": map[string]any{"name": "Shop", "email": "shop@example.com"},
		"To":   []any{map[string]any{"name": "Jane", "email": "jane@example.net"}},
	}
	for _, e := range edits {
		e(m)
	}
	return m
}

func set(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
func del(k string) func(map[string]any)        { return func(m map[string]any) { delete(m, k) } }

func addrs(n int, domain string) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"email": fmt.Sprintf("r%d@%s", i, domain)}
	}
	return out
}

// Every documented code of POST /api/v1/email, and gatewayd's own, is reachable, and a
// refused request stores nothing.
func TestSendErrorCodes(t *testing.T) {
	e := apptest.Start(t, func(c *config.Config) {
		c.MaxRecipients, c.MaxCC, c.MaxBCC, c.MaxReplyTo = 3, 2, 2, 1
		c.MaxAttachmentBytes = 10
	})
	s := newSender(t, e, "alice", "example.com")
	ctx := context.Background()
	if err := e.Server.DB.AddSuppression(ctx, s.domain, "gone@example.net", storage.SuppressHardBounce); err != nil {
		t.Fatal(err)
	}
	att := func(a map[string]any) func(map[string]any) { return set("Attachments", []any{a}) }
	cases := []struct {
		name string
		code int
		req  map[string]any
	}{
		{"from missing", 3, basic(del("From"))},
		{"from foreign domain", 3, basic(set("From", map[string]any{"email": "x@example.org"}))},
		{"from name with a line break", 3, basic(set("From", map[string]any{"name": "A\nB", "email": "shop@example.com"}))},
		{"subject missing", 8, basic(del("Subject"))},
		{"to missing", 8, basic(del("To"))},
		{"content type missing", 9, basic(del("ContentType"))},
		{"content type unknown", 9, basic(set("ContentType", "rtf"))},
		{"html missing", 10, basic(set("ContentType", "html"))},
		{"plain missing", 11, basic(del("PlainContent"), set("HTMLContent", "<p>x</p>"))},
		{"template", 15, basic(set("TemplateID", 3))},
		{"target list", 16, basic(set("TargetListID", "9"))},
		{"template not a number", 15, basic(set("TemplateID", "three"))},
		{"to entry without email", 18, basic(set("To", []any{map[string]any{"name": "Jane"}}))},
		{"to entry not an object", 18, basic(set("To", []any{[]any{1}}))},
		{"to invalid", 19, basic(set("To", []any{map[string]any{"email": "jane@"}}))},
		{"to none", 20, basic(set("To", []any{}))},
		{"to too many", 20, basic(set("To", addrs(4, "example.net")))},
		{"cc invalid", 21, basic(set("CC", []any{map[string]any{"email": "nope"}}))},
		{"cc too many", 22, basic(set("CC", addrs(3, "example.net")))},
		{"from format", 23, basic(set("From", map[string]any{"email": "shop at example.com"}))},
		{"bcc not an object", 24, basic(set("BCC", []any{true}))},
		{"bcc without email", 25, basic(set("BCC", []any{map[string]any{"name": "X"}}))},
		{"bcc invalid", 26, basic(set("BCC", []any{map[string]any{"email": "x@y"}}))},
		{"bcc too many", 27, basic(set("BCC", addrs(3, "example.net")))},
		{"reply-to not an object", 28, basic(set("ReplyTo", []any{7}))},
		{"reply-to without email", 29, basic(set("ReplyTo", []any{map[string]any{"name": "S"}}))},
		{"reply-to invalid", 30, basic(set("ReplyTo", []any{map[string]any{"email": "s@"}}))},
		{"reply-to too many", 31, basic(set("ReplyTo", addrs(2, "example.com")))},
		{"list", 35, basic(set("ListID", 1))},
		{"subscriber without list", 35, basic(set("SubscriberID", 1))},
		{"subscriber", 36, basic(set("SubscriberID", "one"))},
		{"journey", 37, basic(set("JourneyID", "x"))},
		{"action", 38, basic(set("ActionID", -1))},
		{"subject line break", 48, basic(set("Subject", "a\rb"))},
		{"header reserved", 40, basic(set("Headers", map[string]any{"From": "x@example.org"}))},
		{"header not an object", 40, basic(set("Headers", "X-A: b"))},
		{"attachment bad base64", 41, basic(att(map[string]any{"filename": "a.txt", "content": "!!!"}))},
		{"attachment without filename", 41, basic(att(map[string]any{"content": "YQ=="}))},
		{"attachment bad disposition", 41, basic(att(map[string]any{"filename": "a", "content": "YQ==", "disposition": "x"}))},
		{"attachments too large", 42, basic(att(map[string]any{"filename": "a", "content": base64.StdEncoding.EncodeToString(make([]byte, 11))}))},
		{"send at not a time", 43, basic(set("SendAt", "tomorrow"))},
		{"send at too far", 43, basic(set("SendAt", time.Now().Add(40*24*time.Hour).Unix()))},
		{"track links", 44, basic(set("TrackLinks", "maybe"))},
		{"tags", 45, basic(set("Tags", []any{map[string]any{}}))},
		{"idempotency key", 47, basic()},
		{"another domain's id", 2, basic(set("DomainID", 999))},
		{"suppressed", 14, basic(set("CC", []any{map[string]any{"email": "GONE@example.net"}}))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var hdr []string
			if c.code == 47 {
				hdr = []string{"Idempotency-Key", strings.Repeat("k", 256)}
			}
			before := s.usage()
			r := s.v1(c.req, hdr...)
			if r.Status != 200 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			codes := errorCodes(t, r)
			if len(codes) != 1 || codes[0] != c.code {
				t.Fatalf("codes %v, want [%d]: %s", codes, c.code, r.Body)
			}
			if s.usage() != before {
				t.Fatalf("a refused request was stored")
			}
		})
	}

	// The account and domain states, each on a fresh account.
	states := []struct {
		name  string
		code  int
		setup func(s *sender)
	}{
		{"disabled", 12, func(s *sender) { flags(t, e, s.user.Username, func(u *storage.User) { u.AccountStatus = "Disabled" }) }},
		{"untrusted", 12, func(s *sender) {
			flags(t, e, s.user.Username, func(u *storage.User) { u.ReputationLevel = "Untrusted" })
		}},
		{"not verified", 34, func(s *sender) { flags(t, e, s.user.Username, func(u *storage.User) { u.Verified = false }) }},
		{"monthly limit", 17, func(s *sender) { flags(t, e, s.user.Username, func(u *storage.User) { u.MonthlySendLimit = 1 }) }},
		{"domain not enabled", 32, func(s *sender) {
			if err := e.Server.DB.SetDomainStatus(ctx, s.domain, storage.DomainPending, 0); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for i, c := range states {
		t.Run(c.name, func(t *testing.T) {
			o := newSender(t, e, fmt.Sprintf("state%d", i), "example.com")
			c.setup(o)
			r := o.v1(basic(set("CC", []any{map[string]any{"email": "cc@example.net"}})))
			if codes := errorCodes(t, r); len(codes) != 1 || codes[0] != c.code {
				t.Fatalf("codes %v, want [%d]: %s", codes, c.code, r.Body)
			}
			if o.usage() != 0 {
				t.Fatalf("a refused request was stored")
			}
		})
	}

	t.Run("missing and invalid key", func(t *testing.T) {
		b, _ := json.Marshal(basic())
		r := e.Do("POST", "/api/v1/email", http.Header{"Content-Type": {"application/json"}}, b)
		if c := errorCodes(t, r); c[0] != 1 {
			t.Fatalf("no key: %s", r.Body)
		}
		r = e.Do("POST", "/api/v1/email", http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer eg_live_x"}}, b)
		if c := errorCodes(t, r); c[0] != 13 {
			t.Fatalf("bad key: %s", r.Body)
		}
	})
}

func flags(t *testing.T, e *apptest.Env, username string, f func(u *storage.User)) {
	t.Helper()
	ctx := context.Background()
	u, err := e.Server.DB.UserByUsername(ctx, username)
	if err != nil {
		t.Fatal(err)
	}
	f(u)
	if err := e.Server.DB.UpdateUserFlags(ctx, u); err != nil {
		t.Fatal(err)
	}
}

// Code 429 with Retry-After once the sender key's send allowance is spent; each endpoint group
// (send, events, webhooks, /rest/email) has its own allowance, as each is documented with its
// own "100 requests per 60 seconds", so a client sending at its limit can still read its
// events and manage its webhooks.
func TestSendRateLimit(t *testing.T) {
	e := apptest.Start(t, func(c *config.Config) { c.RateLimit = config.RateLimit{N: 2, Per: time.Minute} })
	s := newSender(t, e, "alice", "example.com")
	messageID(t, s.v1(basic()))
	messageID(t, s.v1(basic()))
	r := s.v1(basic())
	if c := errorCodes(t, r); r.Status != 200 || c[0] != 429 || r.Header.Get("Retry-After") == "" ||
		!bytes.Contains(r.Body, []byte(`"Message":"Email send rate limit exceeded"`)) {
		t.Fatalf("third send: %d %v %s", r.Status, r.Header, r.Body)
	}
	// The same sends through api.php spend the same allowance.
	send := map[string]any{"Command": "emailgateway.sendemail", "SenderAPIKey": s.key}
	for k, v := range basic() {
		send[k] = v
	}
	if m := e.API(send); m["ErrorCode"] != json.Number("429") {
		t.Fatalf("api.php send after the limit: %v", m)
	}
	bearer := http.Header{"Authorization": {"Bearer " + s.key}}
	for group, call := range map[string]func() *apptest.Response{
		"events":   func() *apptest.Response { return e.Do("GET", "/api/v1/events", bearer, nil) },
		"webhooks": func() *apptest.Response { return e.Do("GET", "/api/v1/webhooks", bearer, nil) },
		"gatewayapi": func() *apptest.Response {
			return e.Do("POST", "/rest/email", http.Header{"Authorization": {"Token " + s.key}, "Content-Type": {"application/json"}},
				[]byte(`{"subject":"Hi","plaintext":"Hi","from":"shop@example.com","recipients":[{"address":"a@example.net"}]}`))
		},
	} {
		// The answer's own rate-limit code, not the digits 429 anywhere (a MessageID may hold them).
		limited := func(r *apptest.Response) bool {
			if group == "gatewayapi" {
				return r.Status == 429 && bytes.Contains(r.Body, []byte(`"code":"0x0429"`))
			}
			return bytes.Contains(r.Body, []byte(`"Code":429`))
		}
		for i := 1; i <= 2; i++ {
			if r := call(); r.Status != 200 || limited(r) || r.Header.Get("Retry-After") != "" {
				t.Fatalf("%s call %d while sends are limited: %d %s", group, i, r.Status, r.Body)
			}
		}
		r := call()
		if !limited(r) || r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s third call: %d %v %s", group, r.Status, r.Header, r.Body)
		}
	}
	if s.usage() != 4 {
		t.Fatalf("usage %d, want 4 (two v1 sends, two /rest/email sends)", s.usage())
	}
	// Another key of the same domain has allowances of its own.
	other := e.SenderKey(s.domain)
	if r := e.Do("GET", "/api/v1/events", http.Header{"Authorization": {"Bearer " + other}}, nil); r.Status != 200 || bytes.Contains(r.Body, []byte(`"Code":429`)) {
		t.Fatalf("second key: %d %s", r.Status, r.Body)
	}
}

// storedMessage reads a message back from the database and parses its MIME.
func storedMessage(t *testing.T, e *apptest.Env, uuid string) (*storage.Message, *parsedMail) {
	t.Helper()
	m, err := e.Server.DB.MessageByUUID(context.Background(), uuid, 0)
	if err != nil {
		t.Fatalf("message %s: %v", uuid, err)
	}
	return m, parseMail(t, m.Raw)
}

// parsedMail is a message read back with go-message: its header, MIME shape and leaves.
type parsedMail struct {
	header mail.Header
	shape  string
	leaves []mailLeaf
}

type mailLeaf struct {
	mediaType string
	header    message.Header
	body      []byte
}

func parseMail(t *testing.T, raw []byte) *parsedMail {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Fatalf("bare LF in the stored message")
	}
	ent, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse stored message: %v", err)
	}
	p := &parsedMail{header: mail.Header{Header: ent.Header}}
	var walk func(e *message.Entity) string
	walk = func(e *message.Entity) string {
		mt, _, err := e.Header.ContentType()
		if err != nil {
			t.Fatalf("content type: %v", err)
		}
		mr := e.MultipartReader()
		if mr == nil {
			b, err := io.ReadAll(e.Body)
			if err != nil {
				t.Fatalf("read %s: %v", mt, err)
			}
			p.leaves = append(p.leaves, mailLeaf{mediaType: mt, header: e.Header, body: b})
			return mt
		}
		var kids []string
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("next part of %s: %v", mt, err)
			}
			kids = append(kids, walk(part))
		}
		return mt + "(" + strings.Join(kids, ",") + ")"
	}
	p.shape = walk(ent)
	return p
}

func (p *parsedMail) leaf(t *testing.T, mediaType string) mailLeaf {
	t.Helper()
	for _, l := range p.leaves {
		if l.mediaType == mediaType {
			return l
		}
	}
	t.Fatalf("no %s part in %s", mediaType, p.shape)
	return mailLeaf{}
}

func addressList(t *testing.T, h mail.Header, key string) string {
	t.Helper()
	list, err := h.AddressList(key)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	var out []string
	for _, a := range list {
		if a.Name == "" {
			out = append(out, "<"+a.Address+">")
		} else {
			out = append(out, fmt.Sprintf("%q <%s>", a.Name, a.Address))
		}
	}
	return strings.Join(out, ", ")
}

// The stored message is the RFC 5322 document the request describes: headers (RFC 2047
// where needed), Message-ID <uuid@domain>, the alternative with related inline image inside
// a mixed with the attachment, attachments byte for byte, Bcc only in the envelope.
func TestSendMIME(t *testing.T) {
	e := apptest.Start(t, nil)
	s := newSender(t, e, "alice", "example.com")
	pdf := []byte("%PDF-1.4\x00\x01\x02\xff binary \r\n bytes")
	gif, _ := base64.StdEncoding.DecodeString("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
	before := time.Now().Add(-time.Second)
	id := messageID(t, s.v1(map[string]any{
		"Subject":      "Grüße 👋 and a long subject line that certainly needs folding across more than one header line",
		"ContentType":  "html",
		"HTMLContent":  "<p>Héllo <img src=\"cid:logo@example.com\"></p>",
		"PlainContent": "Héllo",
		"From":         map[string]any{"name": "Zoë Shop", "email": "shop@news.example.com"},
		"To":           []any{map[string]any{"name": "Jane Smith", "email": "jane@example.net"}, map[string]any{"email": "joe@example.net"}},
		"CC":           []any{map[string]any{"name": "Han", "email": "han@example.org"}},
		"BCC":          []any{map[string]any{"name": "Secret", "email": "audit@example.org"}},
		"ReplyTo":      []any{map[string]any{"name": "Support", "email": "support@example.com"}},
		"Tags":         []any{"invoice", "2024"},
		"Headers":      map[string]any{"X-Campaign": "spring", "List-Id": "<news.example.com>"},
		"TrackLinks":   false,
		"TrackOpens":   "1",
		"Attachments": []any{
			map[string]any{"filename": "invoice.pdf", "content": base64.StdEncoding.EncodeToString(pdf), "type": "application/pdf"},
			map[string]any{"filename": "logo.gif", "content": base64.StdEncoding.EncodeToString(gif), "type": "image/gif",
				"disposition": "inline", "contentid": "logo@example.com"},
		},
	}))
	m, p := storedMessage(t, e, id)
	if want := "multipart/mixed(multipart/alternative(text/plain,multipart/related(text/html,image/gif)),application/pdf)"; p.shape != want {
		t.Fatalf("shape %s, want %s", p.shape, want)
	}
	subj, err := p.header.Subject()
	if err != nil || subj != "Grüße 👋 and a long subject line that certainly needs folding across more than one header line" {
		t.Fatalf("subject %q %v", subj, err)
	}
	for key, want := range map[string]string{
		"From":     `"Zoë Shop" <shop@news.example.com>`,
		"To":       `"Jane Smith" <jane@example.net>, <joe@example.net>`,
		"Cc":       `"Han" <han@example.org>`,
		"Reply-To": `"Support" <support@example.com>`,
	} {
		if got := addressList(t, p.header, key); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	if got := p.header.Get("Message-Id"); got != "<"+id+"@example.com>" || m.HeaderMessageID != got {
		t.Errorf("Message-ID %q (stored %q), want <%s@example.com>", got, m.HeaderMessageID, id)
	}
	if d, err := p.header.Date(); err != nil || d.Before(before) || d.After(time.Now().Add(time.Second)) {
		t.Errorf("Date %v %v", d, err)
	}
	if p.header.Has("Bcc") || bytes.Contains(m.Raw, []byte("audit@example.org")) {
		t.Errorf("the Bcc address is in the message")
	}
	if p.header.Get("X-Campaign") != "spring" || p.header.Get("List-Id") != "<news.example.com>" {
		t.Errorf("custom headers missing: %v", p.header.Header)
	}
	if got := string(p.leaf(t, "text/plain").body); got != "Héllo\r\n" {
		t.Errorf("text %q", got)
	}
	if got := string(p.leaf(t, "text/html").body); got != "<p>Héllo <img src=\"cid:logo@example.com\"></p>\r\n" {
		t.Errorf("html %q", got)
	}
	pdfPart := p.leaf(t, "application/pdf")
	if !bytes.Equal(pdfPart.body, pdf) {
		t.Errorf("pdf differs: %q", pdfPart.body)
	}
	if disp, params, _ := pdfPart.header.ContentDisposition(); disp != "attachment" || params["filename"] != "invoice.pdf" {
		t.Errorf("pdf disposition %s %v", disp, params)
	}
	gifPart := p.leaf(t, "image/gif")
	if !bytes.Equal(gifPart.body, gif) || gifPart.header.Get("Content-Id") != "<logo@example.com>" {
		t.Errorf("inline image: id %q, %d bytes", gifPart.header.Get("Content-Id"), len(gifPart.body))
	}

	// The stored row: sender, tags, tracking flags, and one recipient row per address.
	if m.MailFrom != "shop@news.example.com" || m.Source != "api" || m.TrackLinks || !m.TrackOpens ||
		strings.Join(m.TagList(), ",") != "invoice,2024" || m.Subject != subj {
		t.Errorf("message row %+v", m)
	}
	rs, err := e.Server.DB.RecipientsOf(context.Background(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.Kind+":"+r.Email+":"+r.State)
	}
	want := []string{"to:jane@example.net:queued", "to:joe@example.net:queued", "cc:han@example.org:queued", "bcc:audit@example.org:queued"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("recipients %v, want %v", got, want)
	}
}

// Plain only, HTML only, and a scheduled send.
func TestSendStructures(t *testing.T) {
	e := apptest.Start(t, nil)
	s := newSender(t, e, "alice", "example.com")
	_, p := storedMessage(t, e, messageID(t, s.v1(basic())))
	if p.shape != "text/plain" {
		t.Errorf("plain: %s", p.shape)
	}
	_, p = storedMessage(t, e, messageID(t, s.v1(basic(set("ContentType", "HTML"), del("PlainContent"), set("HTMLContent", "<b>x</b>")))))
	if p.shape != "text/html" {
		t.Errorf("html: %s", p.shape)
	}
	at := time.Now().Add(time.Hour).Unix()
	m, p := storedMessage(t, e, messageID(t, s.v1(basic(set("HTMLContent", "<b>x</b>"), set("SendAt", at)))))
	if p.shape != "multipart/alternative(text/plain,text/html)" || m.SendAt != at {
		t.Errorf("alternative %s, send_at %d", p.shape, m.SendAt)
	}
	rs, _ := e.Server.DB.RecipientsOf(context.Background(), m.ID)
	if len(rs) != 1 || rs[0].State != storage.StateScheduled || rs[0].NextAttemptAt != at {
		t.Errorf("scheduled recipient %+v", rs)
	}
	// To and CC naming the same address: one envelope recipient.
	m, _ = storedMessage(t, e, messageID(t, s.v1(basic(set("CC", []any{map[string]any{"email": "JANE@example.net"}})))))
	if rs, _ := e.Server.DB.RecipientsOf(context.Background(), m.ID); len(rs) != 1 {
		t.Errorf("duplicate address queued %d times", len(rs))
	}
}

// CR, LF or NUL in any header-bound value is refused with its code and nothing is stored.
func TestSendHeaderInjection(t *testing.T) {
	e := apptest.Start(t, nil)
	s := newSender(t, e, "alice", "example.com")
	inj := "x\r\nBcc: victim@example.org"
	cases := []struct {
		name string
		code int
		req  map[string]any
	}{
		{"subject CRLF", 48, basic(set("Subject", "Hi"+inj))},
		{"subject LF", 48, basic(set("Subject", "Hi\nBcc: victim@example.org"))},
		{"subject NUL", 48, basic(set("Subject", "Hi\x00"))},
		{"from name", 3, basic(set("From", map[string]any{"name": "Shop" + inj, "email": "shop@example.com"}))},
		{"from email", 23, basic(set("From", map[string]any{"email": "shop@example.com\r\nBcc: victim@example.org"}))},
		{"to name", 19, basic(set("To", []any{map[string]any{"name": "Jane" + inj, "email": "jane@example.net"}}))},
		{"to email", 19, basic(set("To", []any{map[string]any{"email": "jane@example.net\r\nBcc: victim@example.org"}}))},
		{"cc name", 21, basic(set("CC", []any{map[string]any{"name": inj, "email": "cc@example.net"}}))},
		{"cc email", 21, basic(set("CC", []any{map[string]any{"email": "cc@example.net\nX: y"}}))},
		{"reply-to name", 30, basic(set("ReplyTo", []any{map[string]any{"name": inj, "email": "r@example.com"}}))},
		{"header value", 40, basic(set("Headers", map[string]any{"X-Note": inj}))},
		{"header name", 40, basic(set("Headers", map[string]any{"X-Note\r\nBcc": "victim@example.org"}))},
		{"header name with colon", 40, basic(set("Headers", map[string]any{"Bcc: victim@example.org\r\nX": "y"}))},
		{"attachment filename", 41, basic(set("Attachments", []any{map[string]any{"filename": "a.txt" + inj, "content": "YQ=="}}))},
		{"attachment type", 41, basic(set("Attachments", []any{map[string]any{"filename": "a.txt", "content": "YQ==", "type": "text/plain\r\nBcc: v@example.org"}}))},
		{"attachment content id", 41, basic(set("Attachments", []any{map[string]any{"filename": "a.gif", "content": "YQ==", "disposition": "inline", "contentid": "a" + inj}}))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.v1(c.req)
			if codes := errorCodes(t, r); len(codes) != 1 || codes[0] != c.code {
				t.Fatalf("codes %v, want [%d]: %s", codes, c.code, r.Body)
			}
		})
	}
	if s.usage() != 0 {
		t.Fatalf("an injected request was stored")
	}
	// GatewayAPI: a tag value carrying a line break into the subject.
	r := e.Do("POST", "/rest/email", http.Header{"Authorization": {"Token " + s.key}, "Content-Type": {"application/json"}},
		[]byte(`{"subject":"Hi %n","plaintext":"Hi","from":"shop@example.com","tags":["%n"],"recipients":[{"address":"a@example.net","tagvalues":["x\r\nBcc: victim@example.org"]}]}`))
	if r.Status != 400 || s.usage() != 0 {
		t.Fatalf("gatewayapi injection: %d %s", r.Status, r.Body)
	}
}

// Idempotency-Key: the repeat answers the first answer and sends nothing; a different body
// is 409; concurrent repeats send once; keys are per sender key.
func TestSendIdempotency(t *testing.T) {
	e := apptest.Start(t, nil)
	s := newSender(t, e, "alice", "example.com")
	first := s.v1(basic(), "Idempotency-Key", "k-1")
	id := messageID(t, first)
	again := s.v1(basic(), "Idempotency-Key", "k-1")
	if again.Status != first.Status || !bytes.Equal(again.Body, first.Body) {
		t.Fatalf("repeat: %d %s, first %d %s", again.Status, again.Body, first.Status, first.Body)
	}
	// The same request through api.php with the parameter form of the key.
	viaAPI := e.API(map[string]any{"Command": "emailgateway.sendemail", "SenderAPIKey": s.key, "IdempotencyKey": "k-1",
		"Subject": "Hello", "ContentType": "plain", "PlainContent": "Hi there",
		"From": map[string]any{"name": "Shop", "email": "shop@example.com"},
		"To":   []any{map[string]any{"name": "Jane", "email": "jane@example.net"}}})
	if viaAPI["MessageID"] != id {
		t.Fatalf("api.php repeat: %v", viaAPI)
	}
	if s.usage() != 1 {
		t.Fatalf("usage %d after repeats, want 1", s.usage())
	}
	diff := s.v1(basic(set("Subject", "Other")), "Idempotency-Key", "k-1")
	if diff.Status != 409 || errorCodes(t, diff)[0] != 409 || s.usage() != 1 {
		t.Fatalf("different body: %d %s", diff.Status, diff.Body)
	}
	// A refused request does not hold its key: the corrected request runs.
	bad := s.v1(basic(del("Subject")), "Idempotency-Key", "k-2")
	if errorCodes(t, bad)[0] != 8 {
		t.Fatalf("bad request: %s", bad.Body)
	}
	if id2 := messageID(t, s.v1(basic(), "Idempotency-Key", "k-2")); id2 == id {
		t.Fatalf("k-2 answered k-1's message")
	}
	// Another sender key with the same key value is another scope.
	other := newSender(t, e, "bob", "example.org")
	if id3 := messageID(t, other.v1(basic(set("From", map[string]any{"email": "x@example.org"})), "Idempotency-Key", "k-1")); id3 == id {
		t.Fatalf("keys leak across sender keys")
	}

	// Concurrent identical requests: one message, every answer the same.
	const n = 16
	var wg sync.WaitGroup
	bodies := make([]string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			bodies[i] = string(s.v1(basic(set("Subject", "Parallel")), "Idempotency-Key", "par").Body)
		}(i)
	}
	wg.Wait()
	sort.Strings(bodies)
	if bodies[0] != bodies[n-1] || !strings.Contains(bodies[0], "MessageID") {
		t.Fatalf("parallel answers differ: %q .. %q", bodies[0], bodies[n-1])
	}
	if s.usage() != 3 {
		t.Fatalf("usage %d after parallel repeats, want 3", s.usage())
	}

	// Concurrent different requests with one key: exactly one is sent, the others are 409.
	results := make([]*apptest.Response, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = s.v1(basic(set("Subject", fmt.Sprintf("Race %d", i))), "Idempotency-Key", "race")
		}(i)
	}
	wg.Wait()
	sent := 0
	for _, r := range results {
		switch r.Status {
		case 200:
			sent++
		case 409:
		default:
			t.Fatalf("race answer %d %s", r.Status, r.Body)
		}
	}
	if sent != 1 || s.usage() != 4 {
		t.Fatalf("%d race requests answered 200, usage %d; want 1 and 4", sent, s.usage())
	}

	// A repeat is answered even after the account can no longer send: it sends nothing.
	flags(t, e, "alice", func(u *storage.User) { u.AccountStatus = "Disabled" })
	late := s.v1(basic(), "Idempotency-Key", "k-1")
	if late.Status != 200 || !bytes.Equal(late.Body, first.Body) {
		t.Fatalf("repeat after disabling: %d %s", late.Status, late.Body)
	}
	if codes := errorCodes(t, s.v1(basic(), "Idempotency-Key", "k-new")); codes[0] != 12 {
		t.Fatalf("new key on a disabled account: %v", codes)
	}
}

// TestSenderReadOncePerSecond: a sender key, its domain and its owner are read by the first
// of a burst of sends and serve the next ones (a send then costs the suppression check and
// its share of the group commit), but never past a change made on this node: a domain
// disabled, an account disabled and a key deleted each refuse the very next send.
func TestSenderReadOncePerSecond(t *testing.T) {
	e := apptest.Start(t, nil)
	s := newSender(t, e, "alice", "example.com")
	messageID(t, s.v1(basic())) // the first send reads them
	db := e.Server.DB
	before := db.Statements()
	const n = 10
	for i := 0; i < n; i++ {
		messageID(t, s.v1(basic()))
	}
	per := float64(db.Statements()-before) / n
	t.Logf("%.1f statements per HTTP send", per)
	if per > 6 {
		t.Errorf("%.1f statements per HTTP send, want at most 6 (the key, domain and owner not read again)", per)
	}

	ctx := context.Background()
	if err := db.SetDomainStatus(ctx, s.domain, "Disabled", 0); err != nil {
		t.Fatal(err)
	}
	if r := s.v1(basic()); r.Status == 200 && bytes.Contains(r.Body, []byte(`"MessageID"`)) {
		t.Fatalf("send right after the domain was disabled: %s", r.Body)
	}
	if err := db.SetDomainStatus(ctx, s.domain, "Enabled", 0); err != nil {
		t.Fatal(err)
	}
	messageID(t, s.v1(basic()))
	flags(t, e, "alice", func(u *storage.User) { u.AccountStatus = "Disabled" })
	if r := s.v1(basic()); r.Status == 200 && bytes.Contains(r.Body, []byte(`"MessageID"`)) {
		t.Fatalf("send right after the account was disabled: %s", r.Body)
	}
	flags(t, e, "alice", func(u *storage.User) { u.AccountStatus = "Enabled" })
	messageID(t, s.v1(basic()))
	keys := e.MustAPI(map[string]any{"Command": "emailgateway.getapis", "SessionID": s.user.SessionID, "DomainID": s.domain})
	b, _ := json.Marshal(keys)
	var listed struct {
		APIKeys []struct {
			APIKeyID json.Number
			APIKey   string
		}
	}
	if err := json.Unmarshal(b, &listed); err != nil || len(listed.APIKeys) == 0 {
		t.Fatalf("getapis: %s", b)
	}
	for _, k := range listed.APIKeys {
		if k.APIKey == s.key {
			e.MustAPI(map[string]any{"Command": "emailgateway.deleteapi", "SessionID": s.user.SessionID, "APIKeyID": k.APIKeyID})
		}
	}
	if r := s.v1(basic()); r.Status == 200 && bytes.Contains(r.Body, []byte(`"MessageID"`)) {
		t.Fatalf("send right after the key was deleted: %s", r.Body)
	}
}
