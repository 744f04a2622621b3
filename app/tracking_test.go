package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"gatewayd/app/apptest"
	"gatewayd/commands"
	"gatewayd/storage"
	"gatewayd/tracking"
)

const trackingRaw = "From: News <news@example.com>\r\nTo: jane@example.net\r\nSubject: Spring\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee https://example.com/sale\r\n" +
	"--b\r\nContent-Type: text/html\r\n\r\n<html><body><a href=\"https://example.com/sale?x=1&amp;y=2\">Sale</a> " +
	"<a href=\"https://example.com/about\">About</a></body></html>\r\n--b--\r\n"

var (
	trackClick = regexp.MustCompile(`http://track\.gateway\.test(/t/c/[A-Za-z0-9_-]+)`)
	trackOpen  = regexp.MustCompile(`http://track\.gateway\.test(/t/o/[A-Za-z0-9_-]+)`)
	trackUnsub = regexp.MustCompile(`http://track\.gateway\.test(/t/u/[A-Za-z0-9_-]+)`)
)

// trackedMessage stores a message for jane (delivered a minute ago) and tom (delivered just
// now), and returns the transformed copies the delivery engine would send each.
func trackedMessage(t *testing.T, env *apptest.Env, d int64) (m *storage.Message, jane, tom *storage.Recipient, janeRaw, tomRaw string) {
	t.Helper()
	ctx := context.Background()
	dom, _ := env.Server.DB.DomainByID(ctx, d, 0)
	now := time.Now().Unix()
	m = &storage.Message{UUID: uuid.NewString(), DomainID: d, UserID: dom.UserID, Source: "smtp", MailFrom: "news@example.com",
		Subject: "Spring", Tags: `["spring"]`, Raw: []byte(trackingRaw), CreatedAt: now - 120}
	jane = &storage.Recipient{Email: "jane@example.net", State: storage.StateDelivered}
	tom = &storage.Recipient{Email: "tom@example.net", State: storage.StateDelivered}
	if err := env.Server.DB.ImportMessage(ctx, m, []*storage.Recipient{jane, tom}); err != nil {
		t.Fatal(err)
	}
	evs := []*storage.Event{
		{DomainID: d, UserID: dom.UserID, MessageID: m.ID, RecipientID: jane.ID, Type: storage.EventAccepted, Email: jane.Email, CreatedAt: now - 120},
		{DomainID: d, UserID: dom.UserID, MessageID: m.ID, RecipientID: tom.ID, Type: storage.EventAccepted, Email: tom.Email, CreatedAt: now - 120},
		{DomainID: d, UserID: dom.UserID, MessageID: m.ID, RecipientID: jane.ID, Type: storage.EventDelivered, Email: jane.Email, Code: 250, CreatedAt: now - 60},
		{DomainID: d, UserID: dom.UserID, MessageID: m.ID, RecipientID: tom.ID, Type: storage.EventDelivered, Email: tom.Email, Code: 250, CreatedAt: now},
	}
	if err := env.Server.DB.ImportEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*storage.Recipient{jane, tom} {
		out, err := env.Server.Tracker.Transform(ctx, dom, m, r, m.Raw)
		if err != nil {
			t.Fatal(err)
		}
		if r == jane {
			janeRaw = string(out)
		} else {
			tomRaw = string(out)
		}
	}
	return m, jane, tom, janeRaw, tomRaw
}

func eventsOf(t *testing.T, env *apptest.Env, d int64, typ string) []storage.EventRow {
	t.Helper()
	rows, _, err := env.Server.DB.Events(context.Background(), storage.EventFilter{DomainIDs: []int64{d}, Types: []string{typ}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestTrackingEndToEnd(t *testing.T) {
	env := apptest.Start(t, nil)
	u, d := webhookSetup(t, env)
	env.MustAPI(map[string]any{"Command": "emailgateway.updatedomain", "SessionID": u.SessionID, "DomainID": d,
		"LinkTracking": 1, "OpenTracking": 1, "UnsubscribeLink": 1})
	hooks := newReceiver(t, nil)
	addWebhook(t, env, u, d, "click", hooks.URL+"/click")
	addWebhook(t, env, u, d, "unsubscribe", hooks.URL+"/unsubscribe")
	env.Server.StartWebhooks()
	m, jane, tom, janeRaw, tomRaw := trackedMessage(t, env, d)

	// The transform: links, pixel, List-Unsubscribe; the tracked URLs stored with the message.
	stored, _ := env.Server.DB.MessageByID(context.Background(), m.ID)
	if stored.Links != `["https://example.com/sale?x=1&y=2","https://example.com/about"]` {
		t.Fatalf("stored links %s", stored.Links)
	}
	if !strings.Contains(janeRaw, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n") || !strings.HasPrefix(janeRaw, "List-Unsubscribe: <http://track.gateway.test/t/u/") {
		t.Fatalf("headers:\n%s", janeRaw)
	}
	clicks := trackClick.FindAllStringSubmatch(janeRaw, -1)
	opens := trackOpen.FindAllStringSubmatch(janeRaw, -1)
	unsub := trackUnsub.FindStringSubmatch(janeRaw)
	if len(clicks) != 2 || len(opens) != 1 || unsub == nil || strings.Contains(janeRaw, `href="https://example.com/about"`) {
		t.Fatalf("transformed message:\n%s", janeRaw)
	}
	browser := http.Header{"User-Agent": {"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15"}}

	// Open: the GIF and an opened event.
	res := env.Do("GET", opens[0][1], browser, nil)
	if res.Status != 200 || res.Header.Get("Content-Type") != "image/gif" || len(res.Body) != 43 || string(res.Body) != string(tracking.Pixel()) {
		t.Fatalf("pixel: %d %q %d bytes", res.Status, res.Header.Get("Content-Type"), len(res.Body))
	}
	if evs := eventsOf(t, env, d, storage.EventOpened); len(evs) != 1 || evs[0].Bot || evs[0].RecipientID != jane.ID ||
		evs[0].IP != "127.0.0.1" || !strings.HasPrefix(evs[0].UserAgent, "Mozilla/5.0") {
		t.Fatalf("opened events %+v", evs)
	}
	// A scanner's fetch and a fetch seconds after delivery are bots: listed, not counted.
	env.Do("GET", opens[0][1], http.Header{"User-Agent": {"Mozilla/5.0 (compatible; Barracuda Sentinel)"}}, nil)
	tomOpen := trackOpen.FindStringSubmatch(tomRaw)
	env.Do("GET", tomOpen[1], browser, nil)
	evs := eventsOf(t, env, d, storage.EventOpened)
	if len(evs) != 3 || !evs[0].Bot || !evs[1].Bot || evs[2].Bot {
		t.Fatalf("opened events %+v, want the two newest flagged as bots", evs)
	}
	stats := env.MustAPI(map[string]any{"Command": "emailgateway.domainstats", "SessionID": u.SessionID, "DomainID": d})
	if s := stats["Stats"].(map[string]any); s["Opened"].(json.Number).String() != "1" || s["Sent"].(json.Number).String() != "2" {
		t.Fatalf("stats %v, want Opened 1 (bots excluded), Sent 2", s)
	}

	// Click: 302 to the stored URL, never one from the request, and a clicked event.
	res = get(t, env, clicks[0][1], browser)
	if res.Status != 302 || res.Header.Get("Location") != "https://example.com/sale?x=1&y=2" {
		t.Fatalf("click: %d %q", res.Status, res.Header.Get("Location"))
	}
	res = get(t, env, clicks[1][1]+"?url=https://evil.example/", browser)
	if res.Status != 302 || res.Header.Get("Location") != "https://example.com/about" {
		t.Fatalf("click with a URL in the query: %d %q", res.Status, res.Header.Get("Location"))
	}
	if evs := eventsOf(t, env, d, storage.EventClicked); len(evs) != 2 || evs[1].URL != "https://example.com/sale?x=1&y=2" || evs[0].URL != "https://example.com/about" {
		t.Fatalf("clicked events %+v", evs)
	}

	// Tampered tokens, and a token of the wrong kind, are 404 on every endpoint.
	flip := func(p string) string {
		b := []byte(p)
		i := len(b) - 5
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for _, p := range []string{flip(opens[0][1]), flip(clicks[0][1]), flip(unsub[1]), "/t/c/" + strings.TrimPrefix(opens[0][1], "/t/o/"),
		"/t/u/" + strings.TrimPrefix(clicks[0][1], "/t/c/"), clicks[0][1] + "x", "/t/c/", "/t/o/!!"} {
		if res := get(t, env, p, browser); res.Status != 404 {
			t.Fatalf("GET %s: %d, want 404", p, res.Status)
		}
		if res := env.Do("POST", p, browser, nil); res.Status != 404 {
			t.Fatalf("POST %s: %d, want 404", p, res.Status)
		}
	}
	// A click token whose link index the message does not have.
	bogus := env.Server.Tracker.Signer.Token(tracking.Claim{Kind: tracking.Click, RecipientID: jane.ID, Link: 7})
	if res := get(t, env, "/t/c/"+bogus, browser); res.Status != 404 {
		t.Fatalf("unknown link index: %d", res.Status)
	}

	// Unsubscribe: GET shows a page and changes nothing; POST (one-click) suppresses.
	res = env.Do("GET", unsub[1], browser, nil)
	if res.Status != 200 || !strings.Contains(string(res.Body), "jane@example.net") || !strings.Contains(string(res.Body), `<form method="post">`) {
		t.Fatalf("unsubscribe page: %d %s", res.Status, res.Body)
	}
	if sup, _ := env.Server.DB.Suppressed(context.Background(), d, []string{"jane@example.net"}); len(sup) != 0 {
		t.Fatal("GET unsubscribed")
	}
	for i := 0; i < 2; i++ {
		res = env.Do("POST", unsub[1], http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte("List-Unsubscribe=One-Click"))
		if res.Status != 200 || !strings.Contains(string(res.Body), "You are unsubscribed") {
			t.Fatalf("one-click: %d %s", res.Status, res.Body)
		}
	}
	if sup, _ := env.Server.DB.Suppressed(context.Background(), d, []string{"jane@example.net"}); sup["jane@example.net"] != storage.SuppressUnsubscribe {
		t.Fatalf("suppressions %v", sup)
	}
	if evs := eventsOf(t, env, d, storage.EventUnsubscribed); len(evs) != 1 || evs[0].RecipientID != jane.ID {
		t.Fatalf("unsubscribed events %+v, want one", evs)
	}

	// The click and unsubscribe webhooks fired (bots never do).
	wait(t, 15*time.Second, "three webhooks", func() bool { return len(hooks.requests()) >= 3 })
	time.Sleep(700 * time.Millisecond)
	kinds := map[string]int{}
	for _, r := range hooks.requests() {
		kinds[r.Path]++
	}
	if kinds["/click"] != 2 || kinds["/unsubscribe"] != 1 {
		t.Fatalf("webhooks %v", kinds)
	}
	_ = tom

	// The one acceptance path now refuses the address (each surface's suppression error:
	// code 14 on /api/v1/email, see TestMessageLifecycle).
	user, _ := env.Server.DB.UserByID(context.Background(), u.ID)
	dom, _ := env.Server.DB.DomainByID(context.Background(), d, 0)
	_, err := env.Server.App.Accept(context.Background(), &commands.Submission{User: user, Domain: dom, Source: "api",
		MailFrom: "news@example.com", Subject: "Again", Raw: []byte("Subject: Again\r\n\r\nhi\r\n"),
		Recipients: []commands.Rcpt{{Email: "Jane@Example.net", Kind: "to"}}})
	var sup *commands.SuppressedError
	if !errors.As(err, &sup) || sup.Reason != storage.SuppressUnsubscribe {
		t.Fatalf("accept for an unsubscribed address: %v", err)
	}
}

// get requests path without following redirects.
func get(t *testing.T, env *apptest.Env, path string, h http.Header) *apptest.Response {
	t.Helper()
	req, err := http.NewRequest("GET", env.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h.Clone()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return &apptest.Response{Status: res.StatusCode, Header: res.Header, Body: b}
}
