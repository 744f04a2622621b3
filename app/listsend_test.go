package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"gatewayd/app/apptest"
	"gatewayd/config"
	"gatewayd/storage"
)

// listFixture makes a list of n subscribers with a City custom field (alias City) and a
// template that uses both, through the API, and returns their ids.
func listFixture(t *testing.T, e *apptest.Env, s *sender, n int) (listID, templateID int64) {
	t.Helper()
	ctx := context.Background()
	m := e.MustAPI(map[string]any{"Command": "list.create", "SessionID": s.user.SessionID, "SubscriberListName": "News"})
	listID, _ = m["ListID"].(json.Number).Int64()
	m = e.MustAPI(map[string]any{"Command": "customfield.create", "SessionID": s.user.SessionID, "SubscriberListID": listID,
		"FieldName": "City", "FieldType": "Single line", "MergeTagAlias": "City"})
	fieldID, _ := m["CustomFieldID"].(json.Number).Int64()
	for i := 0; i < n; i++ {
		sub := &storage.Subscriber{ListID: listID, UserID: s.user.ID, Email: fmt.Sprintf("sub%04d@rcpt.test", i)}
		sub.SetFields(map[string]string{strconv.FormatInt(fieldID, 10): fmt.Sprintf("City<%d>", i)})
		if err := e.Server.DB.CreateSubscriber(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	m = e.MustAPI(map[string]any{"Command": "useremailtemplate.create", "SessionID": s.user.SessionID, "EmailName": "T",
		"Subject": "Hi %Subscriber:EmailAddress%", "ContentType": "Both",
		"HTMLContent":  `<p>{{ Subscriber:City | nowhere }}</p><a href="%Link:Unsubscribe%">unsubscribe</a>`,
		"PlainContent": "From %Subscriber:City%"})
	templateID, _ = m["EmailID"].(json.Number).Int64()
	return listID, templateID
}

// listMessages returns the messages of the answer, checking each went to a different
// subscriber of the list, with that subscriber's own fields in it.
func listMessages(t *testing.T, e *apptest.Env, r *apptest.Response, want int) []*storage.Message {
	t.Helper()
	var ok struct{ MessageID []string }
	if r.Status != 200 || json.Unmarshal(r.Body, &ok) != nil {
		t.Fatalf("list send: %d %s", r.Status, r.Body)
	}
	if len(ok.MessageID) != want {
		t.Fatalf("list send: %d MessageIDs, want %d", len(ok.MessageID), want)
	}
	seen := map[int64]bool{}
	var out []*storage.Message
	for _, id := range ok.MessageID {
		m, err := e.Server.DB.MessageByUUID(context.Background(), id, 0)
		if err != nil {
			t.Fatal(err)
		}
		if m.SubscriberID == 0 || seen[m.SubscriberID] {
			t.Fatalf("message %s: subscriber %d missing or doubled", id, m.SubscriberID)
		}
		seen[m.SubscriberID] = true
		sub, err := e.Server.DB.SubscriberByID(context.Background(), m.UserID, m.ListID, m.SubscriberID)
		if err != nil {
			t.Fatal(err)
		}
		n := strings.TrimSuffix(strings.TrimPrefix(sub.Email, "sub"), "@rcpt.test")
		i, _ := strconv.Atoi(n)
		raw := string(m.Raw)
		if !strings.Contains(raw, "Subject: Hi "+sub.Email) || !strings.Contains(raw, fmt.Sprintf("City&lt;%d&gt;", i)) ||
			!strings.Contains(raw, fmt.Sprintf("From City<%d>", i)) || !m.Placeholders {
			t.Fatalf("message for %s does not carry its own fields:\n%s", sub.Email, raw)
		}
		out = append(out, m)
	}
	return out
}

// TestListSend: TemplateID + TargetListID reach the first 250 subscribers (each their own
// message and fields); a template edited afterwards leaves queued messages alone; another
// tenant's list and template are "not found".
func TestListSend(t *testing.T) {
	e := apptest.Start(t, nil)
	s := newSender(t, e, "alice", "alice.test")
	listID, tplID := listFixture(t, e, s, 1000)
	r := s.v1(map[string]any{"From": map[string]any{"email": "news@alice.test"}, "TemplateID": tplID, "TargetListID": listID})
	msgs := listMessages(t, e, r, 250)

	e.MustAPI(map[string]any{"Command": "useremailtemplate.update", "SessionID": s.user.SessionID, "EmailID": tplID, "Subject": "Changed"})
	m, err := e.Server.DB.MessageByID(context.Background(), msgs[0].ID)
	if err != nil || !strings.Contains(string(m.Raw), "Subject: Hi sub") || strings.Contains(string(m.Raw), "Changed") {
		t.Fatalf("queued message changed with its template: %v\n%s", err, m.Raw)
	}

	// ListID + SubscriberID personalize a single send; JourneyID and ActionID are kept.
	r = s.v1(map[string]any{"From": map[string]any{"email": "news@alice.test"}, "To": []any{map[string]any{"email": "sub0007@rcpt.test"}},
		"Subject": "For %Subscriber:City|x%", "ContentType": "plain", "PlainContent": "hello", "ListID": listID,
		"SubscriberID": msgs[7].SubscriberID, "JourneyID": 12, "ActionID": 34})
	one, err := e.Server.DB.MessageByUUID(context.Background(), messageID(t, r), 0)
	if err != nil || one.JourneyID != 12 || one.ActionID != 34 || one.SubscriberID != msgs[7].SubscriberID || !strings.Contains(string(one.Raw), "Subject: For City<") {
		t.Fatalf("single send with context: %v %+v\n%s", err, one, one.Raw)
	}

	b := newSender(t, e, "bob", "bob.test")
	for _, c := range []struct {
		body map[string]any
		code int
	}{
		{map[string]any{"TemplateID": tplID, "To": []any{"x@rcpt.test"}}, 15},
		{map[string]any{"Subject": "s", "ContentType": "plain", "PlainContent": "p", "TargetListID": listID}, 16},
		{map[string]any{"Subject": "s", "ContentType": "plain", "PlainContent": "p", "To": []any{"x@rcpt.test"}, "ListID": listID}, 35},
		{map[string]any{"Subject": "s", "ContentType": "plain", "PlainContent": "p", "To": []any{"x@rcpt.test"}, "ListID": 0, "SubscriberID": msgs[0].SubscriberID}, 35},
		{map[string]any{"Subject": "s", "ContentType": "plain", "PlainContent": "p", "To": []any{"x@rcpt.test"}, "JourneyID": "x"}, 37},
	} {
		c.body["From"] = map[string]any{"email": "news@bob.test"}
		if got := errorCodes(t, b.v1(c.body)); len(got) != 1 || got[0] != c.code {
			t.Errorf("%v: codes %v, want %d", c.body, got, c.code)
		}
	}
	// A subscriber of another list of the same user is not that list's.
	r = s.v1(map[string]any{"From": map[string]any{"email": "news@alice.test"}, "To": []any{"x@rcpt.test"}, "Subject": "s",
		"ContentType": "plain", "PlainContent": "p", "ListID": listID, "SubscriberID": 99999999})
	if got := errorCodes(t, r); len(got) != 1 || got[0] != 36 {
		t.Errorf("unknown subscriber: %v", got)
	}
}

// TestListSendFullList: with GATEWAY_SENDEMAIL_FULL_LIST every one of 1,000 subscribers gets
// exactly one message, except the unsubscribed and the suppressed.
func TestListSendFullList(t *testing.T) {
	e := apptest.Start(t, func(c *config.Config) { c.SendEmailFullList = true })
	s := newSender(t, e, "alice", "alice.test")
	listID, tplID := listFixture(t, e, s, 1000)
	ctx := context.Background()
	gone, err := e.Server.DB.SubscriberByEmail(ctx, s.user.ID, listID, "sub0500@rcpt.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Server.DB.SetSubscriberStatus(ctx, listID, gone.ID, storage.StatusUnsubscribed, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := e.Server.DB.SuppressInList(ctx, s.user.ID, listID, "sub0999@rcpt.test", storage.SuppressManual, ""); err != nil {
		t.Fatal(err)
	}
	r := s.v1(map[string]any{"From": map[string]any{"email": "news@alice.test"}, "TemplateID": tplID, "TargetListID": listID})
	listMessages(t, e, r, 998)
}
