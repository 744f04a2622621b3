package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"gatewayd/app/apptest"
	"gatewayd/config"
	"gatewayd/relay/smtptest"
	"gatewayd/storage"
)

// listDelivery is startDelivery (gatewayd relaying to a test SMTP sink, tenant alice with
// the Enabled domain shop.test) with alice's session and the domain's sender key.
func listDelivery(t *testing.T, edit func(cfg *config.Config, sink *smtptest.Server)) (*deliveryEnv, *sender) {
	t.Helper()
	d := startDelivery(t, edit)
	login := d.MustAPI(map[string]any{"Command": "user.login", "Username": "alice", "Password": "password-alice"})
	u := &apptest.User{ID: d.user.ID, Username: "alice", Password: "password-alice", SessionID: login["SessionID"].(string)}
	return d, &sender{e: d.Env, user: u, domain: d.dom.ID, key: d.SenderKey(d.dom.ID)}
}

// JourneyID and ActionID of a send are on every event of its message: getevents
// (journey_id, action_id), /api/v1/events and getevents.public (JourneyID, ActionID), the
// exportevents CSV (last two columns) and the webhook body (JourneyID, ActionID next to
// MessageID); a message sent without them shows none.
func TestJourneyOnEventsExportsWebhooks(t *testing.T) {
	d, s := listDelivery(t, nil)
	rc := newReceiver(t, nil)
	_, secret := addWebhook(t, d.Env, s.user, s.domain, "delivery", rc.URL+"/hooks")
	d.Server.StartWebhooks()

	send := func(extra map[string]any) (string, *storage.Message) {
		body := map[string]any{"From": map[string]any{"email": "news@shop.test"}, "To": []any{map[string]any{"email": "jane@dest.test"}},
			"Subject": "Step 2", "ContentType": "plain", "PlainContent": "hello"}
		for k, v := range extra {
			body[k] = v
		}
		mid := messageID(t, s.v1(body))
		m, err := d.Server.DB.MessageByUUID(context.Background(), mid, 0)
		if err != nil {
			t.Fatal(err)
		}
		d.wait(m, 15*time.Second)
		return mid, m
	}
	mid, _ := send(map[string]any{"JourneyID": 12, "ActionID": 34})
	plain, _ := send(nil)

	post := func(params map[string]any) string {
		b, _ := json.Marshal(params)
		r := d.Do("POST", "/api.php", http.Header{"Content-Type": {"application/json"}}, b)
		if r.Status != 200 {
			t.Fatalf("%v: %d %s", params["Command"], r.Status, r.Body)
		}
		return string(r.Body)
	}
	// getevents: two events (accepted, delivery) of each message, newest first.
	ge := post(map[string]any{"Command": "emailgateway.getevents", "SessionID": s.user.SessionID, "DomainID": s.domain,
		"StartFrom": 0, "RetrieveCount": 10, "Query": mid})
	if strings.Count(ge, `"message_id":"`+mid+`","journey_id":12,"action_id":34,`) != 2 {
		t.Fatalf("getevents: %s", ge)
	}
	ge = post(map[string]any{"Command": "emailgateway.getevents", "SessionID": s.user.SessionID, "DomainID": s.domain,
		"StartFrom": 0, "RetrieveCount": 10, "Query": plain})
	if !strings.Contains(ge, `"message_id":"`+plain+`",`) || strings.Contains(ge, "journey_id") || strings.Contains(ge, "action_id") {
		t.Fatalf("getevents of a message without a journey: %s", ge)
	}
	// /api/v1/events and its api.php name.
	r := d.Do("GET", "/api/v1/events?MessageID="+mid, http.Header{"Authorization": {"Bearer " + s.key}}, nil)
	if r.Status != 200 || strings.Count(string(r.Body), `"MessageID":"`+mid+`","JourneyID":12,"ActionID":34,`) != 2 {
		t.Fatalf("/api/v1/events: %d %s", r.Status, r.Body)
	}
	pub := post(map[string]any{"Command": "emailgateway.getevents.public", "SenderAPIKey": s.key, "MessageID": mid})
	if strings.Count(pub, `"MessageID":"`+mid+`","JourneyID":12,"ActionID":34,`) != 2 {
		t.Fatalf("getevents.public: %s", pub)
	}
	r = d.Do("GET", "/api/v1/events?MessageID="+plain, http.Header{"Authorization": {"Bearer " + s.key}}, nil)
	if strings.Contains(string(r.Body), "JourneyID") || !strings.Contains(string(r.Body), plain) {
		t.Fatalf("/api/v1/events of a message without a journey: %s", r.Body)
	}
	// exportevents: journey_id and action_id are the last columns.
	csv := post(map[string]any{"Command": "emailgateway.exportevents", "SessionID": s.user.SessionID, "DomainID": s.domain})
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if !strings.HasSuffix(lines[0], ",bot,journey_id,action_id") || len(lines) != 5 {
		t.Fatalf("exportevents:\n%s", csv)
	}
	for _, l := range lines[1:] {
		want := ",0,0"
		if strings.Contains(l, ","+mid+",") {
			want = ",0,12,34"
		}
		if !strings.HasSuffix(l, want) {
			t.Fatalf("exportevents row %q, want it to end %q", l, want)
		}
	}
	// The delivery webhook of each message.
	wait(t, 30*time.Second, "two delivery webhooks", func() bool { return len(rc.requests()) >= 2 })
	var withJourney, without string
	for _, q := range rc.requests() {
		if !verifySignature(secret, q.Header, q.Body) {
			t.Fatalf("webhook signature does not verify: %s", q.Body)
		}
		switch {
		case strings.Contains(string(q.Body), mid):
			withJourney = string(q.Body)
		case strings.Contains(string(q.Body), plain):
			without = string(q.Body)
		}
	}
	if !strings.Contains(withJourney, `"MessageID":"`+mid+`","JourneyID":12,"ActionID":34,"recipient":"jane@dest.test"`) {
		t.Fatalf("webhook body: %s", withJourney)
	}
	if without == "" || strings.Contains(without, "JourneyID") {
		t.Fatalf("webhook body of a message without a journey: %s", without)
	}
}

// Code 39: when the recipients of TargetListID cannot be read (here the subscribers table
// is gone), /api/v1/email and api.php's emailgateway.sendemail answer HTTP 502 with code 39
// in their envelopes (api.php's Success/ErrorCode/ErrorText, the v1 Errors array), and
// nothing is queued.
func TestListSendUnresolvable(t *testing.T) {
	e := apptest.Start(t, nil)
	s := newSender(t, e, "alice", "alice.test")
	listID, tplID := listFixture(t, e, s, 3)
	if err := e.Server.DB.Exec(context.Background(), "ALTER TABLE subscribers RENAME TO subscribers_gone"); err != nil {
		t.Fatal(err)
	}
	r := s.v1(map[string]any{"From": map[string]any{"email": "news@alice.test"}, "TemplateID": tplID, "TargetListID": listID})
	if want := `{"Errors":[{"Code":39,"Message":"Failed to resolve list recipients"}]}`; r.Status != http.StatusBadGateway ||
		strings.TrimSpace(string(r.Body)) != want || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("/api/v1/email: %d %q %s, want 502 %s", r.Status, r.Header.Get("Content-Type"), r.Body, want)
	}
	b, _ := json.Marshal(map[string]any{"Command": "emailgateway.sendemail", "SenderAPIKey": s.key,
		"From": map[string]any{"email": "news@alice.test"}, "TemplateID": tplID, "TargetListID": listID})
	r = e.Do("POST", "/api.php", http.Header{"Content-Type": {"application/json"}}, b)
	if want := `{"Success":false,"ErrorCode":39,"ErrorText":"Failed to resolve list recipients"}`; r.Status != http.StatusBadGateway ||
		strings.TrimSpace(string(r.Body)) != want {
		t.Fatalf("api.php sendemail: %d %s, want 502 %s", r.Status, r.Body, want)
	}
	if n := s.usage(); n != 0 {
		t.Fatalf("%d messages counted after an unresolvable list send", n)
	}
}
