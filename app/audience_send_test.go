package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
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

var (
	trackView  = regexp.MustCompile(`http://track\.gateway\.test(/t/v/[A-Za-z0-9_-]+)`)
	headerURL  = regexp.MustCompile(`(?m)^List-Unsubscribe: <http://track\.gateway\.test(/t/u/[A-Za-z0-9_-]+)>`)
	trackAnyID = regexp.MustCompile(`/t/[ouvc]/[A-Za-z0-9_-]+`)
)

// The "Done when", through the API: a list with custom fields, subscribers imported
// (CSV), a template, a send with TemplateID + TargetListID to /api/v1/email; each message at
// the SMTP sink carries its subscriber's own fields, its own web view link (the recipient's
// rendered copy, sandboxed; a forged or mismatched token is 404) and its own unsubscribe
// link in the body and List-Unsubscribe; opens and clicks show in subscriber.get.activity;
// the one-click unsubscribe unsubscribes that subscriber from that list only, and the next
// list send leaves it out.
func TestListMailAtSink(t *testing.T) {
	d, s := listDelivery(t, nil)
	d.Server.Tracker.Window = 0 // the test opens and clicks right after delivery
	sess := s.user.SessionID
	api := func(params map[string]any) map[string]any {
		params["SessionID"] = sess
		return d.MustAPI(params)
	}
	num := func(v any) int64 { n, _ := strconv.ParseInt(fmt.Sprint(v), 10, 64); return n }
	list := num(api(map[string]any{"Command": "list.create", "SubscriberListName": "News"})["ListID"])
	other := num(api(map[string]any{"Command": "list.create", "SubscriberListName": "Offers"})["ListID"])
	first := num(api(map[string]any{"Command": "customfield.create", "SubscriberListID": list, "FieldName": "First name",
		"FieldType": "Single line", "MergeTagAlias": "FirstName"})["CustomFieldID"])
	city := num(api(map[string]any{"Command": "customfield.create", "SubscriberListID": list, "FieldName": "City",
		"FieldType": "Single line", "MergeTagAlias": "City"})["CustomFieldID"])
	imp := d.Do("POST", "/api/v1/subscribers.import", http.Header{"Content-Type": {"application/json"}}, []byte(fmt.Sprintf(
		`{"Command":"subscribers.import.post","SessionID":%q,"ListID":%d,"AddToGlobalSuppressionList":false,"AddToSuppressionList":false,"UpdateDuplicates":false,"TriggerActions":false,"Tags":[],"ImportFrom":{"CSV":{"Data":"email,first,city\nann@dest.test,Ann,Paris\nbob@dest.test,Bob,Oslo\ncy@dest.test,Cy,<Rome>","FieldTerminator":",","FieldEncloser":"\"","EscapedBy":"\\","MappedFields":{"FIELD1":"EmailAddress","FIELD2":"%d","FIELD3":"%d"}}}}`,
		sess, list, first, city)))
	if imp.Status != 200 || !strings.Contains(string(imp.Body), `"ImportType":"sync"`) {
		t.Fatalf("import: %d %s", imp.Status, imp.Body)
	}
	api(map[string]any{"Command": "subscriber.subscribe", "ListID": other, "EmailAddress": "ann@dest.test", "IPAddress": "10.0.0.1"})
	tpl := num(api(map[string]any{"Command": "useremailtemplate.create", "EmailName": "Spring", "ContentType": "Both",
		"Subject":      "Spring for %Subscriber:FirstName%",
		"HTMLContent":  `<p>Hi {{ Subscriber:FirstName }} in %Subscriber:City|somewhere%</p><a href="https://example.com/offer">offer</a> <a href="%Link:WebBrowser%">view online</a> <a href="%Link:Unsubscribe%">unsubscribe</a>`,
		"PlainContent": "Hi %Subscriber:FirstName%, view online: %Link:WebBrowser% unsubscribe: %Link:Unsubscribe%"})["EmailID"])
	send := func() []string {
		r := s.v1(map[string]any{"From": map[string]any{"name": "Shop", "email": "news@shop.test"}, "TemplateID": tpl,
			"TargetListID": list, "TrackLinks": "true", "TrackOpens": "true"})
		var ok struct{ MessageID []string }
		if r.Status != 200 || json.Unmarshal(r.Body, &ok) != nil {
			t.Fatalf("list send: %d %s", r.Status, r.Body)
		}
		return ok.MessageID
	}
	if ids := send(); len(ids) != 3 {
		t.Fatalf("list send: %v", ids)
	}

	type mailOf struct{ raw, html, text, view, unsub string }
	byRcpt := map[string]mailOf{}
	for _, m := range d.sink.WaitMessages(t, 3, 30*time.Second) {
		p := parseMail(t, m.Data)
		mo := mailOf{raw: string(m.Data), html: string(p.leaf(t, "text/html").body), text: string(p.leaf(t, "text/plain").body)}
		v, u := trackView.FindStringSubmatch(mo.html), headerURL.FindStringSubmatch(mo.raw)
		if v == nil || u == nil || !strings.Contains(mo.html, `href="http://track.gateway.test`+u[1]+`"`) ||
			!strings.Contains(mo.text, "unsubscribe: http://track.gateway.test"+u[1]) || !strings.Contains(mo.text, "view online: http://track.gateway.test"+v[1]) {
			t.Fatalf("message to %v: no web view or unsubscribe link of its own:\n%s", m.To, m.Data)
		}
		mo.view, mo.unsub = v[1], u[1]
		byRcpt[m.To[0]] = mo
	}
	want := map[string][3]string{"ann@dest.test": {"Ann", "Paris", "Paris"}, "bob@dest.test": {"Bob", "Oslo", "Oslo"},
		"cy@dest.test": {"Cy", "&lt;Rome&gt;", "<Rome>"}}
	seen := map[string]bool{}
	for rcpt, w := range want {
		mo, ok := byRcpt[rcpt]
		if !ok || !strings.Contains(mo.raw, "Subject: Spring for "+w[0]+"\r\n") || !strings.Contains(mo.html, "<p>Hi "+w[0]+" in "+w[1]+"</p>") ||
			!strings.Contains(mo.text, "Hi "+w[0]+",") {
			t.Fatalf("message to %s does not carry its own fields:\n%s", rcpt, mo.raw)
		}
		mine := map[string]bool{}
		for _, tok := range trackAnyID.FindAllString(mo.raw, -1) {
			if seen[tok] {
				t.Fatalf("%s: token %s is in another recipient's message too", rcpt, tok)
			}
			mine[tok] = true
		}
		for tok := range mine {
			seen[tok] = true
		}
		// The web view: the subscriber's own rendered HTML, links untracked, sandboxed.
		r := d.Do("GET", mo.view, nil, nil)
		page := string(r.Body)
		if r.Status != 200 || r.Header.Get("Content-Type") != "text/html; charset=utf-8" ||
			!strings.HasPrefix(r.Header.Get("Content-Security-Policy"), "sandbox ") ||
			!strings.Contains(page, "<p>Hi "+w[0]+" in "+w[1]+"</p>") || !strings.Contains(page, `<a href="https://example.com/offer">offer</a>`) ||
			!strings.Contains(page, `href="http://track.gateway.test`+mo.unsub+`"`) || !strings.Contains(page, `href="http://track.gateway.test`+mo.view+`"`) {
			t.Fatalf("web view of %s: %d %v\n%s", rcpt, r.Status, r.Header, page)
		}
		for other, ow := range want {
			if other != rcpt && strings.Contains(page, "Hi "+ow[0]+" ") {
				t.Fatalf("web view of %s shows %s's message", rcpt, other)
			}
		}
	}
	// Forged, truncated or another kind's tokens are 404: the unsubscribe token at /t/v/, a
	// web view token with its last character changed.
	ann, bob := byRcpt["ann@dest.test"], byRcpt["bob@dest.test"]
	last := ann.view[len(ann.view)-1]
	forged := ann.view[:len(ann.view)-1] + map[bool]string{true: "B", false: "A"}[last == 'A']
	for _, path := range []string{"/t/v/" + strings.TrimPrefix(ann.unsub, "/t/u/"), forged, ann.view[:len(ann.view)-2], "/t/v/1"} {
		if r := d.Do("GET", path, nil, nil); r.Status != 404 {
			t.Fatalf("GET %s: %d, want 404", path, r.Status)
		}
	}

	// Bob opens and clicks: both show on his subscriber record.
	browser := http.Header{"User-Agent": {"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15"}}
	open, click := trackOpen.FindStringSubmatch(bob.html), trackClick.FindStringSubmatch(bob.html)
	if open == nil || click == nil {
		t.Fatalf("bob's message is not tracked:\n%s", bob.html)
	}
	d.Do("GET", open[1], browser, nil)
	if r := get(t, d.Env, click[1], browser); r.Status != 302 || r.Header.Get("Location") != "https://example.com/offer" {
		t.Fatalf("click: %d %v", r.Status, r.Header)
	}
	subID := func(email string, listID int64) any {
		g := api(map[string]any{"Command": "subscriber.get", "ListID": listID, "EmailAddress": email})
		return g["SubscriberInformation"].(map[string]any)["SubscriberID"]
	}
	act := api(map[string]any{"Command": "subscriber.get.activity", "SubscriberListID": list, "SubscriberID": subID("bob@dest.test", list)})
	var kinds []string
	for _, a := range act["Activity"].([]any) {
		kinds = append(kinds, a.(map[string]any)["ActivityType"].(string))
	}
	if k := strings.Join(kinds, ","); !strings.Contains(k, "EmailClick") || !strings.Contains(k, "EmailOpen") || !strings.Contains(k, "EmailSent") {
		t.Fatalf("bob's activity: %v", act)
	}

	// Ann's mail client uses List-Unsubscribe one-click (RFC 8058): the POST of the header URL.
	r := d.Do("POST", ann.unsub, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte("List-Unsubscribe=One-Click"))
	if r.Status != 200 {
		t.Fatalf("one-click unsubscribe: %d %s", r.Status, r.Body)
	}
	status := func(email string, listID int64) string {
		g := api(map[string]any{"Command": "subscriber.get", "ListID": listID, "EmailAddress": email})
		return g["SubscriberInformation"].(map[string]any)["SubscriptionStatus"].(string)
	}
	for _, c := range []struct {
		email string
		list  int64
		want  string
	}{{"ann@dest.test", list, "Unsubscribed"}, {"bob@dest.test", list, "Subscribed"}, {"cy@dest.test", list, "Subscribed"},
		{"ann@dest.test", other, "Subscribed"}} {
		if got := status(c.email, c.list); got != c.want {
			t.Fatalf("%s in list %d: %s, want %s", c.email, c.list, got, c.want)
		}
	}
	act = api(map[string]any{"Command": "subscriber.get.activity", "SubscriberListID": list, "SubscriberID": subID("ann@dest.test", list)})
	if !strings.Contains(fmt.Sprint(act["Activity"]), "Unsubscription") {
		t.Fatalf("ann's activity: %v", act)
	}
	// Only the list: a plain send to Ann is still accepted.
	messageID(t, s.v1(map[string]any{"From": map[string]any{"email": "news@shop.test"}, "To": []any{map[string]any{"email": "ann@dest.test"}},
		"Subject": "Receipt", "ContentType": "plain", "PlainContent": "thanks"}))
	// Cy follows the body link: the page, then its button.
	cy := byRcpt["cy@dest.test"]
	if r := d.Do("GET", cy.unsub, nil, nil); r.Status != 200 || status("cy@dest.test", list) != "Subscribed" {
		t.Fatalf("GET of the unsubscribe page changed the status: %d", r.Status)
	}
	d.Do("POST", cy.unsub, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte("List-Unsubscribe=One-Click"))
	if st := status("cy@dest.test", list); st != "Unsubscribed" {
		t.Fatalf("cy after the page's button: %s", st)
	}
	// The next list send reaches Bob only.
	ids := send()
	if len(ids) != 1 {
		t.Fatalf("list send after two unsubscriptions: %v", ids)
	}
	if m, err := d.Server.DB.MessageByUUID(context.Background(), ids[0], 0); err != nil || !strings.Contains(string(m.Raw), "bob@dest.test") {
		t.Fatalf("second list send went to %v %v", m, err)
	}
}

// A template edited (and then deleted) after a scheduled list send does not change the
// queued messages: what reaches the sink at SendAt is the template as it was at the send.
func TestListSendScheduledKeepsTemplate(t *testing.T) {
	d, s := listDelivery(t, nil)
	list, tpl := listFixture(t, d.Env, s, 3)
	at := time.Now().Unix() + 3
	r := s.v1(map[string]any{"From": map[string]any{"email": "news@shop.test"}, "TemplateID": tpl, "TargetListID": list, "SendAt": at})
	var ok struct{ MessageID []string }
	if r.Status != 200 || json.Unmarshal(r.Body, &ok) != nil || len(ok.MessageID) != 3 {
		t.Fatalf("scheduled list send: %d %s", r.Status, r.Body)
	}
	for _, id := range ok.MessageID {
		m, err := d.Server.DB.MessageByUUID(context.Background(), id, 0)
		if err != nil || m.SendAt != at {
			t.Fatalf("message %s: %v, SendAt %d, want %d", id, err, m.SendAt, at)
		}
		rs, err := d.Server.DB.RecipientsOf(context.Background(), m.ID)
		if err != nil || len(rs) != 1 || rs[0].State != storage.StateScheduled {
			t.Fatalf("message %s before SendAt: %v %+v", id, err, rs)
		}
	}
	d.MustAPI(map[string]any{"Command": "useremailtemplate.update", "SessionID": s.user.SessionID, "EmailID": tpl,
		"Subject": "Changed %Subscriber:EmailAddress%", "HTMLContent": "<p>changed</p>", "PlainContent": "changed"})
	d.MustAPI(map[string]any{"Command": "useremailtemplate.delete", "SessionID": s.user.SessionID, "EmailID": fmt.Sprint(tpl)})
	if n := len(d.sink.Messages()); n != 0 {
		t.Fatalf("%d messages sent before SendAt", n)
	}
	got := map[string]bool{}
	for _, m := range d.sink.WaitMessages(t, 3, 30*time.Second) {
		raw := string(m.Data)
		if !strings.Contains(raw, "Subject: Hi "+m.To[0]+"\r\n") || strings.Contains(raw, "hanged") || !strings.Contains(raw, "City&lt;") {
			t.Fatalf("delivered after the template was edited:\n%s", raw)
		}
		got[m.To[0]] = true
	}
	if len(got) != 3 {
		t.Fatalf("delivered to %v", got)
	}
}
