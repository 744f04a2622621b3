package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"gatewayd/commands"
	"gatewayd/relay/smtptest"
	"gatewayd/storage"
)

// The suppression round trip, as a client sees it: a real hard bounce (the sink answers
// 550 5.1.1) -> suppression.browse shows it -> suppression.check names the scope ->
// suppression.delete -> a send to the address is delivered again -> suppression.import ->
// the send is refused with code 14.
func TestSuppressionRoundTrip(t *testing.T) {
	d := startDelivery(t, nil)
	login := d.MustAPI(map[string]any{"Command": "user.login", "Username": "alice", "Password": "password-alice"})
	session := login["SessionID"].(string)
	key := d.SenderKey(d.dom.ID)
	send := func() map[string]any {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"Subject": "Your order", "ContentType": "plain", "PlainContent": "Thanks.",
			"From": map[string]any{"email": "orders@shop.test"}, "To": []any{map[string]any{"email": "nobody@dest.test"}}})
		return d.Do("POST", "/api/v1/email", http.Header{"Authorization": {"Bearer " + key}, "Content-Type": {"application/json"}}, b).JSON(t)
	}
	browse := func() map[string]any {
		t.Helper()
		m := d.MustAPI(map[string]any{"Command": "suppression.browse", "SessionID": session, "SearchPattern": "nobody@*"})
		return m["SuppressedEmails"].(map[string]any)
	}

	// One 550 5.1.1 at RCPT, then the sink accepts the address again.
	d.sink.Fail(smtptest.StageRcpt, "nobody@dest.test", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}, 1)
	if m := send(); m["MessageID"] == nil {
		t.Fatalf("first send: %v", m)
	}
	deadline := time.Now().Add(15 * time.Second)
	var entry map[string]any
	for entry == nil {
		if e, ok := browse()["nobody@dest.test"].(map[string]any); ok {
			entry = e
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the hard bounce never reached suppression.browse")
		}
		time.Sleep(100 * time.Millisecond)
	}
	want := map[string]any{"RelListID": "0", "RelOwnerUserID": fmt.Sprint(d.user.ID), "RelSenderDomainID": fmt.Sprint(d.dom.ID),
		"EmailAddress": "nobody@dest.test", "SuppressionSource": "Hard Bounced", "Reason": "Bounce: 550 5.1.1 No such user"}
	for k, v := range want {
		if entry[k] != v {
			t.Fatalf("browse entry %s = %v, want %v (%v)", k, entry[k], v, entry)
		}
	}

	chk := d.MustAPI(map[string]any{"Command": "suppression.check", "SessionID": session, "EmailAddresses": []string{"nobody@dest.test"}})
	res := chk["Results"].(map[string]any)["nobody@dest.test"].(map[string]any)
	scopes := res["MatchedScopes"].([]any)
	if res["IsSuppressed"] != true || len(scopes) != 1 || scopes[0].(map[string]any)["Scope"] != "SenderDomain" {
		t.Fatalf("check: %v", chk)
	}

	if m := send(); !hasCode(m, 14) {
		t.Fatalf("send to a hard-bounced address: %v", m)
	}

	d.MustAPI(map[string]any{"Command": "suppression.delete", "SessionID": session, "EmailAddress": "nobody@dest.test"})
	if len(browse()) != 0 {
		t.Fatal("still listed after suppression.delete")
	}
	if m := send(); m["MessageID"] == nil {
		t.Fatalf("send after suppression.delete: %v", m)
	}
	msgs := d.sink.WaitMessages(t, 1, 15*time.Second)
	if len(msgs) != 1 || strings.Join(msgs[0].To, ",") != "nobody@dest.test" {
		t.Fatalf("sink: %+v", msgs)
	}

	imp := d.MustAPI(map[string]any{"Command": "suppression.import", "SessionID": session, "EmailAddressesBulk": "Nobody@dest.test\n"})
	if imp["TotalImported"] != json.Number("1") {
		t.Fatalf("import: %v", imp)
	}
	if m := send(); !hasCode(m, 14) {
		t.Fatalf("send to an imported address: %v", m)
	}
}

// hasCode reports a v1 error body carrying code.
func hasCode(m map[string]any, code int) bool {
	errs, _ := m["Errors"].([]any)
	for _, e := range errs {
		if c, _ := e.(map[string]any)["Code"].(json.Number); c.String() == fmt.Sprint(code) {
			return true
		}
	}
	return false
}

// suppression.check refuses more than 500 addresses rather than truncating, and says how
// many it was given.
func TestSuppressionCheckCap(t *testing.T) {
	d := startDelivery(t, nil)
	login := d.MustAPI(map[string]any{"Command": "user.login", "Username": "alice", "Password": "password-alice"})
	var bulk strings.Builder
	for i := 0; i < 640; i++ {
		fmt.Fprintf(&bulk, "a%d@example.com\n", i)
	}
	m := d.API(map[string]any{"Command": "suppression.check", "SessionID": login["SessionID"], "EmailAddressesBulk": bulk.String()})
	if m["Success"] != false || fmt.Sprint(m["ErrorCode"]) != "[5]" || m["MaxEmailAddresses"] != json.Number("500") || m["TotalSubmitted"] != json.Number("640") {
		t.Fatalf("over the cap: %v", m)
	}
}

// A list's own suppression entries: suppression.import with ListID writes them, browse and
// check with that ListID show them (PerList), a send for that list is refused and a send
// for no list is not; another tenant's ListID is code 4.
func TestSuppressionPerList(t *testing.T) {
	d := startDelivery(t, nil)
	ctx := context.Background()
	session := d.MustAPI(map[string]any{"Command": "user.login", "Username": "alice", "Password": "password-alice"})["SessionID"]
	bob := d.CreateUser("bob")
	l := &storage.List{UserID: d.user.ID, Name: "Newsletter"}
	if err := d.Server.DB.CreateList(ctx, l, nil); err != nil {
		t.Fatal(err)
	}
	imp := d.MustAPI(map[string]any{"Command": "suppression.import", "SessionID": session, "ListID": l.ID,
		"EmailAddresses": `["optout@dest.test"]`, "SuppressionSource": "Unsubscribe"})
	if imp["TotalImported"] != json.Number("1") {
		t.Fatalf("import: %v", imp)
	}
	b := d.MustAPI(map[string]any{"Command": "suppression.browse", "SessionID": session, "ListID": l.ID})
	if e, _ := b["SuppressedEmails"].(map[string]any)["optout@dest.test"].(map[string]any); e == nil || e["RelListID"] != fmt.Sprint(l.ID) {
		t.Fatalf("browse ListID: %v", b)
	}
	if b := d.MustAPI(map[string]any{"Command": "suppression.browse", "SessionID": session}); b["TotalRecords"] != json.Number("0") {
		t.Fatalf("the account-wide list shows a list's entry: %v", b)
	}
	chk := d.MustAPI(map[string]any{"Command": "suppression.check", "SessionID": session, "ListID": l.ID, "EmailAddresses": []string{"optout@dest.test"}})
	res := chk["Results"].(map[string]any)["optout@dest.test"].(map[string]any)
	if sc := res["MatchedScopes"].([]any); len(sc) != 1 || sc[0].(map[string]any)["Scope"] != "PerList" || chk["ListID"] != json.Number(fmt.Sprint(l.ID)) {
		t.Fatalf("check ListID: %v", chk)
	}
	if m := d.API(map[string]any{"Command": "suppression.browse", "SessionID": bob.SessionID, "ListID": l.ID}); fmt.Sprint(m["ErrorCode"]) != "[4]" {
		t.Fatalf("another tenant's list: %v", m)
	}

	raw := "From: <orders@shop.test>\r\nTo: <optout@dest.test>\r\nSubject: News\r\nDate: " + time.Now().UTC().Format(time.RFC1123Z) +
		"\r\nMessage-ID: <list.1@shop.test>\r\n\r\nNews.\r\n"
	sub := &commands.Submission{User: d.user, Domain: d.dom, Source: "api", MailFrom: "orders@shop.test", Subject: "News",
		Raw: []byte(raw), Recipients: []commands.Rcpt{{Email: "optout@dest.test", Kind: "to"}}, ListID: l.ID}
	var se *commands.SuppressedError
	if _, err := d.Server.App.Accept(ctx, sub); !errors.As(err, &se) || se.Reason != storage.SuppressUnsubscribe {
		t.Fatalf("send for the list: %v", err)
	}
	sub.ListID = 0
	if _, err := d.Server.App.Accept(ctx, sub); err != nil {
		t.Fatalf("send for no list: %v", err)
	}
}
