package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"gatewayd/app/apptest"
	"gatewayd/config"
	"gatewayd/relay/smtptest"
	"gatewayd/storage"
)

// gatewayAPI posts body to /rest/email with the token as HTTP Basic user name.
func (s *sender) gatewayAPI(body string, header ...string) *apptest.Response {
	s.e.T.Helper()
	h := http.Header{"Content-Type": {"application/json"},
		"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(s.key+":"))}}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return s.e.Do("POST", "/rest/email", h, []byte(body))
}

type gatewayAPIAnswer struct {
	IDs   []int64 `json:"ids"`
	Usage struct {
		Amount    int     `json:"amount"`
		Currency  string  `json:"currency"`
		TotalCost float64 `json:"total_cost"`
	} `json:"usage"`
}

// Each recipient gets its own message: tags replaced by its values in subject, html and
// plaintext (longest tag first), its cc in the Cc header, its bcc only in the envelope; the
// attachment rides on every message; the one id is the request's (its first message's row);
// usage counts every address.
func TestGatewayAPISubstitution(t *testing.T) {
	e := apptest.Start(t, func(c *config.Config) { c.PricePerEmail = 0.25; c.Currency = "DKK" })
	s := newSender(t, e, "vader", "example.com")
	jpeg := []byte{0xff, 0xd8, 0xff, 0xdb, 0, 1, 2, 3, 0xff, 0xd9}
	body := `{
		"html": "<b>Hello %name %names</b> %target",
		"plaintext": "Hello %name %names, %target",
		"subject": "Annihilation: %target",
		"from": "Darth Vader <darth@example.com>",
		"reply": "bounce@example.com",
		"callback_url": "https://hooks.example.com/cb",
		"userref": "ref-1",
		"tags": ["%name", "%names", "%target"],
		"recipients": [
			{"address": "l.organa@example.com", "name": "Leia Organa", "tagvalues": ["Leia", "the Organas", "Alderaan"],
			 "cc": [{"address": "h.solo@example.com", "name": "Han Solo"}],
			 "bcc": [{"address": "chewie@example.com", "name": "Chewbacca"}]},
			{"address": "l.skywalker@example.com", "name": "Luke Skywalker", "tagvalues": ["Luke", "the Skywalkers", 1977]}
		],
		"attachments": [{"data": "` + base64.StdEncoding.EncodeToString(jpeg) + `", "filename": "kyber.jpeg", "mimetype": "image/jpeg"}]
	}`
	r := s.gatewayAPI(body)
	var ans gatewayAPIAnswer
	if r.Status != 200 || json.Unmarshal(r.Body, &ans) != nil {
		t.Fatalf("send: %d %s", r.Status, r.Body)
	}
	if len(ans.IDs) != 1 || ans.Usage.Amount != 4 || ans.Usage.Currency != "DKK" || ans.Usage.TotalCost != 1 {
		t.Fatalf("answer %s", r.Body)
	}
	want := []struct {
		to, cc, subject, text, html string
		rcpts                       string
	}{
		{`"Leia Organa" <l.organa@example.com>`, `"Han Solo" <h.solo@example.com>`, "Annihilation: Alderaan",
			"Hello Leia the Organas, Alderaan\r\n", "<b>Hello Leia the Organas</b> Alderaan\r\n",
			"to:l.organa@example.com cc:h.solo@example.com bcc:chewie@example.com"},
		{`"Luke Skywalker" <l.skywalker@example.com>`, "", "Annihilation: 1977",
			"Hello Luke the Skywalkers, 1977\r\n", "<b>Hello Luke the Skywalkers</b> 1977\r\n",
			"to:l.skywalker@example.com"},
	}
	ctx := context.Background()
	ms, err := e.Server.DB.RequestMessages(ctx, ans.IDs[0])
	if err != nil || len(ms) != 2 || ms[0].ID != ans.IDs[0] || ms[1].RequestID != ans.IDs[0] {
		t.Fatalf("messages of request %d: %+v %v", ans.IDs[0], ms, err)
	}
	for i := range ms {
		m := &ms[i]
		p := parseMail(t, m.Raw)
		w := want[i]
		if p.shape != "multipart/mixed(multipart/alternative(text/plain,text/html),image/jpeg)" {
			t.Errorf("%d: shape %s", i, p.shape)
		}
		if got := addressList(t, p.header, "To"); got != w.to {
			t.Errorf("%d: To %s, want %s", i, got, w.to)
		}
		if got := addressList(t, p.header, "Cc"); got != w.cc {
			t.Errorf("%d: Cc %s, want %s", i, got, w.cc)
		}
		if got := addressList(t, p.header, "From") + " / " + addressList(t, p.header, "Reply-To"); got != `"Darth Vader" <darth@example.com> / <bounce@example.com>` {
			t.Errorf("%d: From / Reply-To %s", i, got)
		}
		if subj, _ := p.header.Subject(); subj != w.subject || m.Subject != w.subject {
			t.Errorf("%d: subject %q (row %q), want %q", i, subj, m.Subject, w.subject)
		}
		if got := string(p.leaf(t, "text/plain").body); got != w.text {
			t.Errorf("%d: text %q, want %q", i, got, w.text)
		}
		if got := string(p.leaf(t, "text/html").body); got != w.html {
			t.Errorf("%d: html %q, want %q", i, got, w.html)
		}
		if got := p.leaf(t, "image/jpeg").body; string(got) != string(jpeg) {
			t.Errorf("%d: attachment differs", i)
		}
		if strings.Contains(string(m.Raw), "chewie") {
			t.Errorf("%d: the bcc address is in the message", i)
		}
		if m.Source != "gatewayapi" || m.CallbackURL != "https://hooks.example.com/cb" || m.UserRef != "ref-1" ||
			p.header.Get("Message-Id") != "<"+m.UUID+"@example.com>" {
			t.Errorf("%d: row %+v", i, m)
		}
		rs, err := e.Server.DB.RecipientsOf(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rs {
			got = append(got, r.Kind+":"+r.Email)
		}
		if strings.Join(got, " ") != w.rcpts {
			t.Errorf("%d: recipients %v, want %s", i, got, w.rcpts)
		}
	}
}

// The GatewayAPI error statuses and shapes.
func TestGatewayAPIErrors(t *testing.T) {
	e := apptest.Start(t, func(c *config.Config) { c.BodyLimit = 4096; c.MaxAttachmentBytes = 3 })
	s := newSender(t, e, "vader", "example.com")
	ok := `{"subject":"Hi","plaintext":"Hi","from":"darth@example.com","recipients":[{"address":"a@example.net"}]}`
	cases := []struct {
		name   string
		status int
		code   string
		req    func() *apptest.Response
	}{
		{"not json", 422, "0x0200", func() *apptest.Response { return s.gatewayAPI(`{"subject":`) }},
		{"json array", 422, "0x0200", func() *apptest.Response { return s.gatewayAPI(`[1,2]`) }},
		{"too large", 413, "0x0201", func() *apptest.Response { return s.gatewayAPI(`{"subject":"` + strings.Repeat("x", 5000) + `"}`) }},
		{"no subject", 400, "0x0222", func() *apptest.Response {
			return s.gatewayAPI(`{"plaintext":"Hi","from":"darth@example.com","recipients":[{"address":"a@example.net"}]}`)
		}},
		{"no content", 400, "0x0222", func() *apptest.Response {
			return s.gatewayAPI(`{"subject":"Hi","from":"darth@example.com","recipients":[{"address":"a@example.net"}]}`)
		}},
		{"no recipients", 400, "0x0222", func() *apptest.Response {
			return s.gatewayAPI(`{"subject":"Hi","plaintext":"x","from":"darth@example.com"}`)
		}},
		{"bad recipient", 400, "0x0222", func() *apptest.Response { return s.gatewayAPI(strings.Replace(ok, "a@example.net", "a@", 1)) }},
		{"bad from", 400, "0x0222", func() *apptest.Response {
			return s.gatewayAPI(strings.Replace(ok, "darth@example.com", "Darth <darth@", 1))
		}},
		{"missing tagvalues", 400, "0x0222", func() *apptest.Response {
			return s.gatewayAPI(`{"subject":"Hi %a","plaintext":"Hi","from":"darth@example.com","tags":["%a"],"recipients":[{"address":"a@example.net"}]}`)
		}},
		{"bad base64", 400, "0x0222", func() *apptest.Response {
			return s.gatewayAPI(strings.Replace(ok, `"recipients"`, `"attachments":[{"data":"***","filename":"a.bin"}],"recipients"`, 1))
		}},
		{"attachments too large", 400, "0x0222", func() *apptest.Response {
			return s.gatewayAPI(strings.Replace(ok, `"recipients"`, `"attachments":[{"data":"AAAAAA==","filename":"a.bin"}],"recipients"`, 1))
		}},
		{"bad token", 401, "0x0101", func() *apptest.Response {
			return e.Do("POST", "/rest/email", http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("nope:"))}}, []byte(ok))
		}},
		{"no token", 401, "0x0100", func() *apptest.Response { return e.Do("POST", "/rest/email", nil, []byte(ok)) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.req()
			var body struct {
				Code      string   `json:"code"`
				Incident  string   `json:"incident_uuid"`
				Message   string   `json:"message"`
				Variables []string `json:"variables"`
			}
			if err := json.Unmarshal(r.Body, &body); err != nil || r.Status != c.status || body.Code != c.code ||
				len(body.Incident) != 36 || body.Message == "" || body.Variables == nil {
				t.Fatalf("%d %s, want %d %s", r.Status, r.Body, c.status, c.code)
			}
		})
	}
	if s.usage() != 0 {
		t.Fatalf("a refused request was stored")
	}
	flags(t, e, "vader", func(u *storage.User) { u.AccountStatus = "Disabled" })
	if r := s.gatewayAPI(ok); r.Status != 403 || !strings.Contains(string(r.Body), `"0x0300"`) {
		t.Fatalf("disabled account: %d %s", r.Status, r.Body)
	}
}

// The document's two-recipient request answers one id, and every callback of every address
// of it (to, cc and bcc, PROCESSED then DELIVERED) carries that id and the address's own
// email_address, so a client that keeps ids[0] hears about every recipient.
func TestGatewayAPIOneIDForEveryCallback(t *testing.T) {
	sink := smtptest.Start(t, smtptest.Options{})
	e := apptest.Start(t, func(c *config.Config) { c.DefaultRelay = "smtp://" + sink.Addr; c.Workers = 2 })
	s := newSender(t, e, "vader", "example.com")
	cbs := newReceiver(t, nil)
	if err := e.Server.StartDelivery(); err != nil {
		t.Fatal(err)
	}
	e.Server.StartWebhooks()
	r := s.gatewayAPI(`{
		"html": "<b>Hello %firstname %surname %target is about to be removed.",
		"plaintext": "Hello %firstname %surname %target is about to be removed.",
		"subject": "Annihilation: %target",
		"from": "Darth Vader <darth@example.com>",
		"reply": "bounce@example.com",
		"callback_url": "` + cbs.URL + `/example/callback",
		"userref": "foobar",
		"tags": ["%firstname", "%surname", "%target"],
		"recipients": [
			{"address": "l.organa@example.com", "name": "Leia Organa", "tagvalues": ["Leia", "Organa", "Alderaan"],
			 "cc": [{"address": "h.solo@example.com", "name": "Han Solo"}],
			 "bcc": [{"address": "chewie@example.com", "name": "Chewbacca"}]},
			{"address": "l.skywalker@example.com", "name": "Luke Skywalker", "tagvalues": ["Luke", "Skywalker", "Alderaan"]}
		]}`)
	var ans gatewayAPIAnswer
	if r.Status != 200 || json.Unmarshal(r.Body, &ans) != nil || len(ans.IDs) != 1 || ans.IDs[0] <= 0 || ans.Usage.Amount != 4 {
		t.Fatalf("send: %d %s", r.Status, r.Body)
	}
	sink.WaitMessages(t, 2, 30*time.Second)
	addresses := []string{"chewie@example.com", "h.solo@example.com", "l.organa@example.com", "l.skywalker@example.com"}
	wait(t, 30*time.Second, "PROCESSED and DELIVERED for every address", func() bool { return len(cbs.requests()) >= 2*len(addresses) })
	got := map[string][]string{}
	for _, req := range cbs.requests() {
		var cb struct {
			ID           int64  `json:"id"`
			Status       string `json:"status"`
			EmailAddress string `json:"email_address"`
			UserRef      string `json:"userref"`
			CallbackURL  string `json:"callback_url"`
		}
		if err := json.Unmarshal(req.Body, &cb); err != nil || cb.ID != ans.IDs[0] || cb.UserRef != "foobar" ||
			cb.CallbackURL != cbs.URL+"/example/callback" {
			t.Fatalf("callback %s, want id %d", req.Body, ans.IDs[0])
		}
		got[cb.Status] = append(got[cb.Status], cb.EmailAddress)
	}
	for _, status := range []string{"PROCESSED", "DELIVERED"} {
		sort.Strings(got[status])
		if strings.Join(got[status], " ") != strings.Join(addresses, " ") {
			t.Errorf("%s callbacks for %v, want %v", status, got[status], addresses)
		}
	}
}
