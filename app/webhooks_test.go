package app_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gatewayd/app/apptest"
	"gatewayd/config"
	"gatewayd/storage"
)

// receiver is a webhook endpoint for tests: it records every request and answers with what
// respond says for the n-th one (1-based).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []received
	respond func(n int, w http.ResponseWriter)
}

type received struct {
	Path   string
	Header http.Header
	Body   []byte
	At     time.Time
}

func newReceiver(t testing.TB, respond func(n int, w http.ResponseWriter)) *receiver {
	rc := &receiver{respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, received{Path: r.URL.Path, Header: r.Header.Clone(), Body: b, At: time.Now()})
		n := len(rc.reqs)
		rc.mu.Unlock()
		if rc.respond != nil {
			rc.respond(n, w)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

// wait polls until cond holds or the time is up.
func wait(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// verifySignature checks a Standard Webhooks signature the way a receiver written from the
// specification would, without the webhooks package: HMAC-SHA256 keyed with the base64
// secret after "whsec_", over "<webhook-id>.<webhook-timestamp>.<body>", compared with each
// "v1,<base64>" value of webhook-signature.
func verifySignature(secret string, h http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(key) == 0 {
		return false
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	if id == "" || ts == "" {
		return false
	}
	if n, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(n, 0)).Abs() > 5*time.Minute {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

// webhookSetup makes a user with an enabled domain.
func webhookSetup(t *testing.T, env *apptest.Env) (*apptest.User, int64) {
	u := env.CreateUser("alice")
	d := env.AddDomain(u, "example.com")
	env.EnableDomain(d)
	return u, d
}

func addWebhook(t *testing.T, env *apptest.Env, u *apptest.User, domainID int64, event, url string) (id int64, secret string) {
	t.Helper()
	m := env.MustAPI(map[string]any{"Command": "emailgateway.addwebhook", "SessionID": u.SessionID, "DomainID": domainID,
		"Event": event, "WebhookURL": url})
	id, _ = m["NewWebhookID"].(json.Number).Int64()
	g := env.MustAPI(map[string]any{"Command": "emailgateway.getwebhooks", "SessionID": u.SessionID, "DomainID": domainID})
	return id, g["SigningKey"].(string)
}

// event writes one event for recipient i of m now.
func event(t *testing.T, env *apptest.Env, m *storage.Message, r *storage.Recipient, typ string, code int, details string) *storage.Event {
	t.Helper()
	ev := &storage.Event{DomainID: m.DomainID, UserID: m.UserID, MessageID: m.ID, RecipientID: r.ID, Type: typ,
		Email: r.Email, Code: code, Details: details, CreatedAt: time.Now().Unix()}
	if err := env.Server.DB.ImportEvents(context.Background(), []*storage.Event{ev}); err != nil {
		t.Fatal(err)
	}
	return ev
}

func outboxOf(t *testing.T, env *apptest.Env, domainID int64) []storage.OutboxRow {
	t.Helper()
	rows, err := env.Server.DB.OutboxByDomain(context.Background(), domainID, 100)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// A delivered event reaches a subscribed webhook signed with the domain's key; a failing
// receiver sees retries with the same webhook-id, each freshly signed, until it answers 2xx.
func TestWebhookDeliveryAndRetries(t *testing.T) {
	env := apptest.Start(t, nil)
	u, d := webhookSetup(t, env)
	rc := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	_, secret := addWebhook(t, env, u, d, "delivery", rc.URL+"/hooks/email")
	// An opened webhook must not fire for a delivery.
	other := newReceiver(t, nil)
	addWebhook(t, env, u, d, "open", other.URL+"/opens")

	m, rs, _ := env.Message(d, time.Now().Unix(), "news@example.com", []string{"jane@example.net"}, []string{"spring"}, "Spring sale")
	ev := event(t, env, m, rs[0], storage.EventDelivered, 250, "2.0.0 OK: queued as 8B1C")
	if rows := outboxOf(t, env, d); len(rows) != 1 || rows[0].EventID != ev.ID || rows[0].Kind != storage.OutboxWebhook {
		t.Fatalf("outbox after the event: %+v, want one webhook row for event %d", rows, ev.ID)
	}

	env.Server.StartWebhooks()
	wait(t, 30*time.Second, "three attempts", func() bool { return len(rc.requests()) >= 3 })
	reqs := rc.requests()
	id := reqs[0].Header.Get("webhook-id")
	for i, r := range reqs {
		if r.Path != "/hooks/email" || r.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("attempt %d: %s %q", i+1, r.Path, r.Header.Get("Content-Type"))
		}
		if got := r.Header.Get("webhook-id"); got != id || got == "" {
			t.Fatalf("attempt %d: webhook-id %q, want %q on every attempt", i+1, got, id)
		}
		if !verifySignature(secret, r.Header, r.Body) {
			t.Fatalf("attempt %d: signature does not verify: %v", i+1, r.Header)
		}
		if !bytes.Equal(r.Body, reqs[0].Body) {
			t.Fatalf("attempt %d: body changed", i+1)
		}
		if verifySignature("whsec_"+base64.StdEncoding.EncodeToString([]byte("another key, 32 bytes long......")), r.Header, r.Body) {
			t.Fatal("a signature verifies with another key")
		}
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 500*time.Millisecond {
		t.Fatalf("retried after %v, want the backoff (GATEWAY_WEBHOOK_RETRY_MIN 1s)", gap)
	}
	var body map[string]any
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"event": "delivered", "legacy_event": "delivery", "event_id": float64(ev.ID), "timestamp": float64(ev.CreatedAt),
		"MessageID": m.UUID, "recipient": "jane@example.net", "tags": []any{"spring"},
		"message":    map[string]any{"headers": map[string]any{"from": "news@example.com", "to": "jane@example.net", "subject": "Spring sale"}},
		"smtp_reply": "250 2.0.0 OK: queued as 8B1C",
	}
	if a, b := mustJSON(body), mustJSON(want); a != b {
		t.Fatalf("payload\n got %s\nwant %s", a, b)
	}
	wait(t, 10*time.Second, "the outbox row to be delivered", func() bool {
		rows := outboxOf(t, env, d)
		return len(rows) == 1 && rows[0].State == storage.OutboxDelivered
	})
	row := outboxOf(t, env, d)[0]
	if row.Attempts != 3 || row.LastStatus != 200 {
		t.Fatalf("outbox row %+v, want 3 attempts, last status 200", row)
	}
	if n := len(other.requests()); n != 0 {
		t.Fatalf("the open webhook got %d requests for a delivery", n)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// A receiver answering 410 Gone has its webhook removed: no more deliveries to it.
func TestWebhookGoneRemovesIt(t *testing.T) {
	env := apptest.Start(t, nil)
	u, d := webhookSetup(t, env)
	rc := newReceiver(t, func(n int, w http.ResponseWriter) { w.WriteHeader(http.StatusGone) })
	addWebhook(t, env, u, d, "bounce", rc.URL+"/gone")
	m, rs, _ := env.Message(d, time.Now().Unix(), "news@example.com", []string{"a@example.net", "b@example.net"}, nil, "Hi")
	event(t, env, m, rs[0], storage.EventBounced, 550, "5.1.1 no such user")
	event(t, env, m, rs[1], storage.EventBounced, 550, "5.1.1 no such user")
	env.Server.StartWebhooks()
	wait(t, 20*time.Second, "the webhook to be removed", func() bool {
		g := env.MustAPI(map[string]any{"Command": "emailgateway.getwebhooks", "SessionID": u.SessionID, "DomainID": d})
		return len(g["Webhooks"].([]any)) == 0
	})
	wait(t, 10*time.Second, "both rows dropped", func() bool {
		for _, r := range outboxOf(t, env, d) {
			if r.State != storage.OutboxDropped {
				return false
			}
		}
		return true
	})
	// Both rows may have been in flight together; none is tried again.
	time.Sleep(1500 * time.Millisecond)
	if n := len(rc.requests()); n < 1 || n > 2 {
		t.Fatalf("receiver got %d requests, want 1 or 2 (no retries after 410)", n)
	}
	before := len(outboxOf(t, env, d))
	m2, rs2, _ := env.Message(d, time.Now().Unix(), "news@example.com", []string{"c@example.net"}, nil, "Hi")
	event(t, env, m2, rs2[0], storage.EventBounced, 550, "5.1.1 no such user")
	if after := len(outboxOf(t, env, d)); after != before {
		t.Fatalf("a new bounce made %d outbox rows for the removed webhook", after-before)
	}
}

// With GATEWAY_WEBHOOK_ALLOW_PRIVATE off, a webhook whose name resolves to 127.0.0.1 is
// refused when the connection is made (DNS rebinding after registration), and the refusal
// is recorded on the outbox row; the receiver on 127.0.0.1 never sees a request.
func TestWebhookSSRFAtConnectTime(t *testing.T) {
	env := apptest.Start(t, func(c *config.Config) { c.WebhookAllowPrivate = false })
	u, d := webhookSetup(t, env)
	rc := newReceiver(t, nil)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(rc.URL, "http://"))
	env.DNS.AddA("hooks.customer.test", "127.0.0.1")
	url := "http://hooks.customer.test:" + port + "/hook"
	// Registration refuses it...
	if m := env.API(map[string]any{"Command": "emailgateway.addwebhook", "SessionID": u.SessionID, "DomainID": d,
		"Event": "delivery", "WebhookURL": url}); m["Success"] != false {
		t.Fatalf("addwebhook with a loopback name: %v", m)
	}
	// ...so the name must have changed after it was registered.
	w := &storage.Webhook{DomainID: d, UserID: u.ID, Event: storage.EventDelivered, URL: url}
	if _, err := env.Server.DB.CreateWebhook(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	m, rs, _ := env.Message(d, time.Now().Unix(), "news@example.com", []string{"jane@example.net"}, nil, "Hi")
	event(t, env, m, rs[0], storage.EventDelivered, 250, "OK")
	env.Server.StartWebhooks()
	var row storage.OutboxRow
	wait(t, 20*time.Second, "a refused attempt", func() bool {
		rows := outboxOf(t, env, d)
		if len(rows) == 1 && rows[0].Attempts >= 1 {
			row = rows[0]
			return true
		}
		return false
	})
	if row.State != storage.OutboxPending || row.LastStatus != 0 || !strings.Contains(row.LastError, "destination refused") ||
		!strings.Contains(row.LastError, "127.0.0.1") {
		t.Fatalf("outbox row %+v, want a pending row whose last error says the destination was refused", row)
	}
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("the loopback receiver got %d requests", n)
	}
	// The row waits in the outbox: /metrics reports it.
	if res := env.Metrics(); !strings.Contains(string(res.Body), "\ngatewayd_webhook_backlog 1\n") {
		t.Fatalf("/metrics does not report a backlog of 1:\n%s", res.Body)
	}
}

// GatewayAPI callbacks: PROCESSED on acceptance, then DELIVERED, BOUNCED, or BLOCKED for a
// 5.7.x policy bounce, with GatewayAPI's fields; a 5xx answer is retried on the (scaled)
// schedule.
func TestCallbacks(t *testing.T) {
	env := apptest.Start(t, nil)
	_, d := webhookSetup(t, env)
	failed := false
	var mu sync.Mutex
	rc := newReceiver(t, func(n int, w http.ResponseWriter) {
		mu.Lock()
		defer mu.Unlock()
		if n == 1 && !failed {
			failed = true
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	ctx := context.Background()
	dom, _ := env.Server.DB.DomainByID(ctx, d, 0)
	send := func(to, ref string) (*storage.Message, *storage.Recipient) {
		m := &storage.Message{UUID: strconv.FormatInt(time.Now().UnixNano(), 36) + to, DomainID: d, UserID: dom.UserID,
			Source: "gatewayapi", MailFrom: "news@example.com", Subject: "Hi", Tags: "[]", CallbackURL: rc.URL + "/cb",
			UserRef: ref, CreatedAt: time.Now().Unix()}
		r := &storage.Recipient{Email: to}
		if err := env.Server.DB.ImportMessage(ctx, m, []*storage.Recipient{r}); err != nil {
			t.Fatal(err)
		}
		event(t, env, m, r, storage.EventAccepted, 0, "")
		return m, r
	}
	m1, r1 := send("ok@example.net", "ref-1")
	event(t, env, m1, r1, storage.EventDelivered, 250, "2.0.0 OK")
	m2, r2 := send("blocked@example.net", "ref-2")
	event(t, env, m2, r2, storage.EventBounced, 550, "5.7.1 Message rejected by policy")
	m3, r3 := send("gone@example.net", "")
	event(t, env, m3, r3, storage.EventBounced, 550, "5.1.1 <gone@example.net>: user unknown")
	env.Server.StartWebhooks()
	wait(t, 30*time.Second, "seven callbacks", func() bool { return len(rc.requests()) >= 7 })
	got := map[string]map[string]any{}
	for _, r := range rc.requests() {
		var b map[string]any
		if err := json.Unmarshal(r.Body, &b); err != nil {
			t.Fatal(err)
		}
		got[b["email_address"].(string)+" "+b["status"].(string)] = b
	}
	cases := []struct {
		key     string
		m       *storage.Message
		ref     string
		details string
	}{
		{"ok@example.net PROCESSED", m1, "ref-1", ""},
		{"ok@example.net DELIVERED", m1, "ref-1", "250 2.0.0 OK"},
		{"blocked@example.net PROCESSED", m2, "ref-2", ""},
		{"blocked@example.net BLOCKED", m2, "ref-2", "550 5.7.1 Message rejected by policy"},
		{"gone@example.net PROCESSED", m3, "", ""},
		{"gone@example.net BOUNCED", m3, "", "550 5.1.1 <gone@example.net>: user unknown"},
	}
	for _, c := range cases {
		b, ok := got[c.key]
		if !ok {
			t.Fatalf("no callback %s; got %v", c.key, got)
		}
		email, status, _ := strings.Cut(c.key, " ")
		want := map[string]any{"id": float64(c.m.ID), "time": b["time"], "email_address": email, "status": status,
			"userref": c.ref, "details": c.details, "callback_url": rc.URL + "/cb"}
		if mustJSON(b) != mustJSON(want) {
			t.Fatalf("callback %s\n got %s\nwant %s", c.key, mustJSON(b), mustJSON(want))
		}
	}
	reqs := rc.requests()
	first := reqs[0]
	var retry *received
	for i := 1; i < len(reqs); i++ {
		if bytes.Equal(reqs[i].Body, first.Body) {
			retry = &reqs[i]
		}
	}
	if retry == nil {
		t.Fatal("the callback answered 502 was not retried")
	}
	if gap := retry.At.Sub(first.At); gap < 1500*time.Millisecond {
		t.Fatalf("callback retried after %v, want the first step of the schedule (60 s scaled to 2 s)", gap)
	}
}

// Outbox rows survive a crash: rows leased by a node that died are delivered once its lease
// expires.
func TestOutboxLeaseExpiry(t *testing.T) {
	env := apptest.Start(t, nil)
	u, d := webhookSetup(t, env)
	rc := newReceiver(t, nil)
	addWebhook(t, env, u, d, "delivery", rc.URL+"/h")
	m, rs, _ := env.Message(d, time.Now().Unix(), "news@example.com", []string{"jane@example.net"}, nil, "Hi")
	event(t, env, m, rs[0], storage.EventDelivered, 250, "OK")
	claimed, err := env.Server.DB.ClaimOutbox(context.Background(), "crashed-node", 10, 3*time.Second, nil)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %d", err, len(claimed))
	}
	env.Server.StartWebhooks()
	time.Sleep(time.Second)
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("a leased row was delivered while its lease held (%d requests)", n)
	}
	wait(t, 15*time.Second, "delivery after the lease expired", func() bool { return len(rc.requests()) == 1 })
	if err := env.Server.DB.FinishOutbox(context.Background(), "crashed-node",
		storage.OutboxResult{ID: claimed[0].ID, State: storage.OutboxDelivered}); err == nil {
		t.Fatal("the crashed node could still record its attempt after losing the lease")
	}
}
