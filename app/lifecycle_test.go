package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"strings"
	"testing"
	"time"

	"gatewayd/app/apptest"
	"gatewayd/config"
	"gatewayd/relay/smtptest"
)

// htmlOf returns the decoded text/html part of a message.
func htmlOf(t *testing.T, raw []byte) (*mail.Message, string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var find func(ct, cte string, body io.Reader) string
	find = func(ct, cte string, body io.Reader) string {
		mt, params, _ := mime.ParseMediaType(ct)
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err != nil {
					return ""
				}
				if s := find(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); s != "" {
					return s
				}
			}
		}
		if mt != "text/html" {
			return ""
		}
		if strings.EqualFold(cte, "quoted-printable") {
			body = quotedprintable.NewReader(body)
		}
		b, _ := io.ReadAll(body)
		return string(b)
	}
	return m, find(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body)
}

// A message's whole life through the real surfaces: sent over /api/v1/email, delivered to
// an SMTP sink with its links and pixel rewritten, opened, clicked and unsubscribed from;
// each step a signed webhook, an event in /api/v1/events and getevents, and a count in
// domainstats; the address then refused. And a GatewayAPI message with a callback_url gets
// PROCESSED and DELIVERED callbacks.
func TestMessageLifecycle(t *testing.T) {
	sink := smtptest.Start(t, smtptest.Options{})
	env := apptest.Start(t, func(cfg *config.Config) {
		cfg.DefaultRelay = "smtp://" + sink.Addr
		cfg.Workers = 2
	})
	u := env.CreateUser("alice")
	d := env.AddDomain(u, "shop.test")
	env.EnableDomain(d)
	env.MustAPI(map[string]any{"Command": "emailgateway.updatedomain", "SessionID": u.SessionID, "DomainID": d,
		"LinkTracking": 1, "OpenTracking": 1, "UnsubscribeLink": 1})
	hooks := newReceiver(t, nil)
	var secret string
	for _, ev := range []string{"delivery", "open", "click", "unsubscribe"} {
		_, secret = addWebhook(t, env, u, d, ev, hooks.URL+"/"+ev)
	}
	k := env.MustAPI(map[string]any{"Command": "emailgateway.addapi", "SessionID": u.SessionID, "Description": "life", "DomainID": d})
	key := k["APIKey"].(map[string]any)["APIKey"].(string)
	if err := env.Server.StartDelivery(); err != nil {
		t.Fatal(err)
	}
	env.Server.StartWebhooks()
	env.Server.Tracker.Window = 0 // the test opens the message within seconds of its delivery
	auth := http.Header{"Authorization": {"Bearer " + key}, "Content-Type": {"application/json"}}

	body, _ := json.Marshal(map[string]any{"Subject": "Launch", "ContentType": "html",
		"HTMLContent": `<html><body><h1>We launched</h1><p><a href="https://shop.test/launch?utm=mail">See it</a></p></body></html>`,
		"From":        map[string]any{"name": "Shop", "email": "news@shop.test"}, "To": []any{map[string]any{"email": "jane@example.net"}},
		"Tags": []any{"launch"}})
	res := env.Do("POST", "/api/v1/email", auth, body)
	var sent struct{ MessageID string }
	if json.Unmarshal(res.Body, &sent); sent.MessageID == "" {
		t.Fatalf("send: %d %s", res.Status, res.Body)
	}

	// Delivered to the sink, transformed for the recipient.
	msgs := sink.WaitMessages(t, 1, 30*time.Second)
	m, html := htmlOf(t, msgs[0].Data)
	if !strings.HasPrefix(m.Header.Get("List-Unsubscribe"), "<http://track.gateway.test/t/u/") ||
		m.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Fatalf("headers at the sink: %v", m.Header)
	}
	click, open, unsub := trackClick.FindStringSubmatch(html), trackOpen.FindStringSubmatch(html), trackUnsub.FindStringSubmatch(html)
	if click == nil || open == nil || unsub == nil || strings.Contains(html, "https://shop.test/launch") {
		t.Fatalf("html at the sink:\n%s", html)
	}

	browser := http.Header{"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}}
	wait(t, 20*time.Second, "the delivery webhook", func() bool { return len(hooks.requests()) >= 1 })
	if r := get(t, env, open[1], browser); r.Status != 200 {
		t.Fatalf("open: %d", r.Status)
	}
	if r := get(t, env, click[1], browser); r.Status != 302 || r.Header.Get("Location") != "https://shop.test/launch?utm=mail" {
		t.Fatalf("click: %d %s", r.Status, r.Header.Get("Location"))
	}
	if r := env.Do("POST", unsub[1], http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte("List-Unsubscribe=One-Click")); r.Status != 200 {
		t.Fatalf("unsubscribe: %d", r.Status)
	}

	// Signed webhooks for each step, carrying the MessageID.
	wait(t, 20*time.Second, "four webhooks", func() bool { return len(hooks.requests()) >= 4 })
	got := map[string]string{}
	for _, r := range hooks.requests() {
		if !verifySignature(secret, r.Header, r.Body) {
			t.Fatalf("%s: signature does not verify", r.Path)
		}
		var p struct {
			Event, MessageID, Recipient string
		}
		json.Unmarshal(r.Body, &p)
		if p.MessageID != sent.MessageID || p.Recipient != "jane@example.net" {
			t.Fatalf("%s: %s", r.Path, r.Body)
		}
		got[r.Path] = p.Event
	}
	if got["/delivery"] != "delivered" || got["/open"] != "opened" || got["/click"] != "clicked" || got["/unsubscribe"] != "unsubscribed" {
		t.Fatalf("webhooks %v", got)
	}

	// The events, in both lists.
	res = env.Do("GET", "/api/v1/events?MessageID="+sent.MessageID+"&RetrieveCount=10", http.Header{"Authorization": {"Bearer " + key}}, nil)
	var list struct {
		TotalRecords int
		Events       []struct{ Event string }
	}
	json.Unmarshal(res.Body, &list)
	var names []string
	for _, e := range list.Events {
		names = append(names, e.Event)
	}
	if strings.Join(names, ",") != "unsubscribe,click,open,delivery,accepted" {
		t.Fatalf("/api/v1/events: %s", res.Body)
	}
	ge := env.MustAPI(map[string]any{"Command": "emailgateway.getevents", "SessionID": u.SessionID, "DomainID": d,
		"StartFrom": 0, "RetrieveCount": 10, "Query": sent.MessageID})
	if n := ge["TotalRecords"].(json.Number).String(); n != "5" {
		t.Fatalf("getevents: %v", ge)
	}

	// And the counts.
	st := env.MustAPI(map[string]any{"Command": "emailgateway.domainstats", "SessionID": u.SessionID, "DomainID": d})
	want := `{"Bounced":0,"Clicked":1,"Complained":0,"Deferred":0,"Delivered":1,"Failed":0,"Opened":1,"Sent":1,"Unsubscribed":1}`
	if s := mustJSON(st["Stats"]); s != want {
		t.Fatalf("Stats %s, want %s", s, want)
	}
	if s := mustJSON(st["TagStats"].(map[string]any)["launch"]); s != want {
		t.Fatalf("TagStats.launch %s, want %s", s, want)
	}

	// The address is now suppressed for the domain.
	res = env.Do("POST", "/api/v1/email", auth, body)
	if !strings.Contains(string(res.Body), `"Code":14`) {
		t.Fatalf("send to the unsubscribed address: %s", res.Body)
	}

	// GatewayAPI with a callback_url: PROCESSED, then DELIVERED, with GatewayAPI's id.
	cbs := newReceiver(t, nil)
	gw, _ := json.Marshal(map[string]any{"subject": "Order", "plaintext": "Thanks", "from": "Shop <orders@shop.test>",
		"recipients": []any{map[string]any{"address": "tom@example.net"}}, "callback_url": cbs.URL + "/cb", "userref": "order-7"})
	res = env.Do("POST", "/rest/email", http.Header{"Authorization": {"Token " + key}, "Content-Type": {"application/json"}}, gw)
	var ids struct{ IDs []int64 }
	if json.Unmarshal(res.Body, &ids); len(ids.IDs) != 1 {
		t.Fatalf("/rest/email: %d %s", res.Status, res.Body)
	}
	wait(t, 30*time.Second, "two callbacks", func() bool { return len(cbs.requests()) >= 2 })
	statuses := map[string]bool{}
	for _, r := range cbs.requests() {
		var cb struct {
			ID           int64  `json:"id"`
			Status       string `json:"status"`
			EmailAddress string `json:"email_address"`
			UserRef      string `json:"userref"`
			CallbackURL  string `json:"callback_url"`
		}
		json.Unmarshal(r.Body, &cb)
		if cb.ID != ids.IDs[0] || cb.EmailAddress != "tom@example.net" || cb.UserRef != "order-7" || cb.CallbackURL != cbs.URL+"/cb" {
			t.Fatalf("callback %s", r.Body)
		}
		statuses[cb.Status] = true
	}
	if !statuses["PROCESSED"] || !statuses["DELIVERED"] {
		t.Fatalf("callback statuses %v", statuses)
	}
}
