package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"gatewayd/app/apptest"
	"gatewayd/config"
	"gatewayd/relay/smtptest"
	"gatewayd/storage"
)

// TestListAnalyticsFromListMail sends a template to a list of ten subscribers through the
// list-send path to an SMTP sink (one address refused with 550: a hard bounce), records
// opens, clicks, a soft bounce and a complaint of that mail, and checks what the list
// reports answer; another tenant gets the documents' not-found code from every one of them.
func TestListAnalyticsFromListMail(t *testing.T) {
	sink := smtptest.Start(t, smtptest.Options{})
	e := apptest.Start(t, func(cfg *config.Config) {
		cfg.DefaultRelay = "smtp://" + sink.Addr
		cfg.Workers = 2
		cfg.RetryMin, cfg.RetryMax = time.Second, 2*time.Second
	})
	s := newSender(t, e, "alice", "shop.test")
	ctx := context.Background()
	dom, err := e.Server.DB.DomainByID(ctx, s.domain, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range e.Server.App.DomainRecords(dom) {
		if strings.Contains(r.Name, "._domainkey.") {
			e.DNS.AddTXT(r.Name, r.Value)
		}
	}
	if err := e.Server.StartDelivery(); err != nil {
		t.Fatal(err)
	}
	sink.Fail(smtptest.StageRcpt, "hard@bounce.test", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}, -1)

	m := e.MustAPI(map[string]any{"Command": "list.create", "SessionID": s.user.SessionID, "SubscriberListName": "News"})
	listID, _ := m["ListID"].(json.Number).Int64()
	now := time.Now().UTC()
	joined := now.Truncate(24*time.Hour).AddDate(0, 0, -40).Add(12 * time.Hour) // 40 days ago
	subs := map[string]int64{}                                                  // address -> subscriber id
	for _, addr := range []string{"champ@gmail.com", "engaged@gmail.com", "passive@outlook.com", "lapsed@yahoo.com",
		"dormant@yahoo.com", "never@gmail.com", "recent@gmail.com", "hard@bounce.test", "soft@gmail.com", "complain@aol.com"} {
		sub := &storage.Subscriber{ListID: listID, UserID: s.user.ID, Email: addr, Source: "API", SubscriptionDate: joined.Unix()}
		if addr == "recent@gmail.com" {
			sub.SubscriptionDate = now.Unix()
		}
		if err := e.Server.DB.CreateSubscriber(ctx, sub); err != nil {
			t.Fatal(err)
		}
		subs[addr] = sub.ID
	}
	m = e.MustAPI(map[string]any{"Command": "useremailtemplate.create", "SessionID": s.user.SessionID, "EmailName": "T",
		"Subject": "News for %Subscriber:EmailAddress%", "ContentType": "Plain", "PlainContent": "Hello"})
	r := s.v1(map[string]any{"From": map[string]any{"email": "news@shop.test"}, "TemplateID": m["EmailID"], "TargetListID": listID})
	var sent struct{ MessageID []string }
	if r.Status != 200 || json.Unmarshal(r.Body, &sent) != nil || len(sent.MessageID) != 10 {
		t.Fatalf("list send: %d %s", r.Status, r.Body)
	}
	msgs := map[int64]*storage.Message{} // subscriber id -> its message
	for _, id := range sent.MessageID {
		msg, err := e.Server.DB.MessageByUUID(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		msgs[msg.SubscriberID] = msg
	}
	// Every message reaches a final state at the sink.
	deadline := time.Now().Add(30 * time.Second)
	for _, msg := range msgs {
		for {
			rs, err := e.Server.DB.RecipientsOf(ctx, msg.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) == 1 && (rs[0].State == storage.StateDelivered || rs[0].State == storage.StateBounced) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("message %d not delivered: %+v", msg.ID, rs)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if n := len(sink.Messages()); n != 9 {
		t.Fatalf("sink has %d messages, want 9", n)
	}

	// Opens, clicks, a soft bounce and a complaint of the list mail.
	clickAt := now.Add(-2 * time.Hour).Truncate(time.Hour).Add(7 * time.Minute)
	var opens []int64 // times of the counted opens
	event := func(addr, typ string, at time.Time, code int, bot bool) {
		t.Helper()
		msg := msgs[subs[addr]]
		rs, err := e.Server.DB.RecipientsOf(ctx, msg.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Server.DB.ImportEvents(ctx, []*storage.Event{{DomainID: msg.DomainID, UserID: msg.UserID, MessageID: msg.ID,
			RecipientID: rs[0].ID, Type: typ, Email: rs[0].Email, Code: code, Bot: bot, CreatedAt: at.Unix()}}); err != nil {
			t.Fatal(err)
		}
		if typ == storage.EventOpened && !bot {
			opens = append(opens, at.Unix())
		}
	}
	daysAgo := func(d int) time.Time { return now.Add(-time.Duration(d) * 24 * time.Hour) }
	event("champ@gmail.com", storage.EventOpened, clickAt.Add(-time.Minute), 0, false)
	event("champ@gmail.com", storage.EventClicked, clickAt, 0, false)
	event("engaged@gmail.com", storage.EventClicked, clickAt, 0, true) // a bot's click counts for nothing
	event("engaged@gmail.com", storage.EventOpened, daysAgo(20), 0, false)
	event("passive@outlook.com", storage.EventOpened, daysAgo(45), 0, false)
	event("lapsed@yahoo.com", storage.EventOpened, daysAgo(90), 0, false)
	event("dormant@yahoo.com", storage.EventOpened, daysAgo(200), 0, false)
	event("soft@gmail.com", storage.EventOpened, daysAgo(1), 0, false)
	event("soft@gmail.com", storage.EventBounced, now, 421, false)
	event("complain@aol.com", storage.EventOpened, daysAgo(1), 0, false)
	event("complain@aol.com", storage.EventComplained, now, 0, false)

	alice := func(params map[string]any) map[string]any {
		t.Helper()
		params["SessionID"] = s.user.SessionID
		params["ListID"] = listID
		return e.MustAPI(params)
	}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }

	// Engagement tiers: one subscriber in each; the recent never-opener, the bounced and the
	// unsubscribed are in none.
	tiers := alice(map[string]any{"Command": "list.getengagementtiers"})
	if got := js(tiers["Tiers"]); got != `{"Champions":1,"Dormant":1,"Engaged":1,"Lapsed":1,"NeverEngaged":1,"Passive":1}` || js(tiers["Total"]) != "6" {
		t.Errorf("engagement tiers: %s total %v", got, tiers["Total"])
	}
	// EngagedDays 50 moves the subscriber who last opened 45 days ago from Passive to Engaged.
	tiers = alice(map[string]any{"Command": "list.getengagementtiers", "EngagedDays": 50})
	if got := js(tiers["Tiers"]); got != `{"Champions":1,"Dormant":1,"Engaged":2,"Lapsed":1,"NeverEngaged":1,"Passive":0}` {
		t.Errorf("engagement tiers, EngagedDays 50: %s", got)
	}

	// Bounce trend: this week, 10 sent, one hard and one soft bounce, one complaint.
	trend := alice(map[string]any{"Command": "list.getbouncetrend", "Weeks": 1})
	if got := js(trend["Series"]); !strings.Contains(got, `"ComplaintPct":10,"Complaints":1,"HardBouncePct":10,"HardBounces":1,"SoftBouncePct":10,"SoftBounces":1,"TotalSent":10`) {
		t.Errorf("bounce trend: %s", got)
	}

	// Activity series: nine joined 40 days ago, one today; today also one unsubscription (the
	// complaint) and the two bounces.
	series := alice(map[string]any{"Command": "list.getactivityseries", "Days": 60})["Series"].([]any)
	if len(series) != 60 {
		t.Fatalf("activity series: %d days", len(series))
	}
	if got := js(series[59]); got != fmt.Sprintf(`{"Date":%q,"HardBounces":1,"Imports":0,"NetGrowth":-1,"SoftBounces":1,"Subscriptions":1,"Unsubscriptions":1}`, now.Format(time.DateOnly)) {
		t.Errorf("today: %s", got)
	}
	if got := js(series[19]); got != fmt.Sprintf(`{"Date":%q,"HardBounces":0,"Imports":0,"NetGrowth":9,"SoftBounces":0,"Subscriptions":9,"Unsubscriptions":0}`, joined.Format(time.DateOnly)) {
		t.Errorf("40 days ago: %s", got)
	}

	// ESP breakdown: deliverable openers by domain (ties by name), the tail in Other.
	esp := alice(map[string]any{"Command": "list.getespbreakdown", "Event": "opens", "Top": 2})
	if got := js(esp["Domains"]); got != `[{"Count":2,"Domain":"gmail.com","Pct":40},{"Count":2,"Domain":"yahoo.com","Pct":40},{"Count":1,"Domain":"Other","Pct":20}]` || js(esp["Total"]) != "5" {
		t.Errorf("ESP opens: %s total %v", got, esp["Total"])
	}
	esp = alice(map[string]any{"Command": "list.getespbreakdown", "Event": "clicks"})
	if got := js(esp["Domains"]); got != `[{"Count":1,"Domain":"gmail.com","Pct":100}]` {
		t.Errorf("ESP clicks: %s", got)
	}
	esp = alice(map[string]any{"Command": "list.getespbreakdown", "Event": "unsubscriptions"})
	if got := js(esp["Domains"]); got != `[{"Count":1,"Domain":"aol.com","Pct":100}]` {
		t.Errorf("ESP unsubscriptions: %s", got)
	}
	esp = alice(map[string]any{"Command": "list.getespbreakdown", "Event": "subscribers"})
	if got := js(esp["Domains"]); got != `[{"Count":4,"Domain":"gmail.com","Pct":57.14},{"Count":2,"Domain":"yahoo.com","Pct":28.57},{"Count":1,"Domain":"outlook.com","Pct":14.29}]` {
		t.Errorf("ESP subscribers: %s", got)
	}

	// Send-time heatmap: the one human click at its weekday (Monday first) and hour; every open
	// of the last year at its own.
	grid := func(times ...int64) [7][24]int64 {
		var g [7][24]int64
		for _, ts := range times {
			tm := time.Unix(ts, 0).UTC()
			g[(int(tm.Weekday())+6)%7][tm.Hour()]++
		}
		return g
	}
	hm := alice(map[string]any{"Command": "list.getsendtimeheatmap", "Event": "click", "Days": 30})
	if got, want := js(hm["Grid"]), js(grid(clickAt.Unix())); got != want {
		t.Errorf("click heatmap:\n%s\nwant\n%s", got, want)
	}
	hm = alice(map[string]any{"Command": "list.getsendtimeheatmap", "Days": 365})
	if got, want := js(hm["Grid"]), js(grid(opens...)); got != want {
		t.Errorf("open heatmap:\n%s\nwant\n%s", got, want)
	}

	// Another tenant: every list report is "not found".
	bob := e.CreateUser("bob")
	for _, c := range []struct {
		cmd  string
		code string
	}{
		{"list.getactivityseries", "99997"}, {"list.getbouncetrend", "99997"}, {"list.getengagementtiers", "99997"},
		{"list.getsendtimeheatmap", "99997"}, {"list.getespbreakdown", "99997"}, {"list.getsourcebreakdown", "99997"},
		{"list.getctrretentionmatrix", "99997"}, {"list.getsubscriberstatusbreakdown", "99997"},
		{"list.gettenuredistribution", "99997"}, {"list.assets", "[2]"},
	} {
		ev := "opens" // a valid Event for list.getespbreakdown, and for list.getsendtimeheatmap below
		if c.cmd == "list.getsendtimeheatmap" {
			ev = "open"
		}
		got := e.API(map[string]any{"Command": c.cmd, "SessionID": bob.SessionID, "ListID": listID, "Event": ev})
		if got["Success"] != false || js(got["ErrorCode"]) != c.code {
			t.Errorf("%s for another tenant's list: %v", c.cmd, got)
		}
	}
	ov := e.MustAPI(map[string]any{"Command": "lists.overview", "SessionID": bob.SessionID, "IncludeCustomFields": true})
	if js(ov["Lists"]) != "[]" {
		t.Errorf("lists.overview for another tenant: %v", ov)
	}
}
