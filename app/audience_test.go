package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gatewayd/app/apptest"
	"gatewayd/storage"
	"gatewayd/storage/storagetest"
)

// A Double opt-in list keeps a subscriber pending until subscriber.optin brings its own
// confirmation code; a wrong code changes nothing.
func TestOptInConfirmation(t *testing.T) {
	e := apptest.Start(t, nil)
	u := e.CreateUser("alice")
	l := e.MustAPI(map[string]any{"Command": "list.create", "SessionID": u.SessionID, "SubscriberListName": "News", "OptInMode": "Double"})
	list := l["ListID"]
	s := e.MustAPI(map[string]any{"Command": "subscriber.subscribe", "ListID": list, "EmailAddress": "jane@example.net", "IPAddress": "10.1.2.3"})
	sub := s["Subscriber"].(map[string]any)
	if sub["SubscriptionStatus"] != "Opt-In Pending" {
		t.Fatalf("subscribe on a Double list: %v", s)
	}
	var code string
	if err := storagetest.Raw(t, e.Cfg.DB).QueryRow("SELECT confirmation_code FROM subscribers WHERE id = ?", s["SubscriberID"]).Scan(&code); err != nil || len(code) < 16 {
		t.Fatalf("confirmation code %q %v", code, err)
	}
	bad := e.API(map[string]any{"Command": "subscriber.optin", "ListID": list, "SubscriberID": s["SubscriberID"], "ConfirmationCode": "x" + code})
	if bad["Success"] != false || fmt.Sprint(bad["ErrorCode"]) != "4" {
		t.Fatalf("wrong code: %v", bad)
	}
	status := func() string {
		g := e.MustAPI(map[string]any{"Command": "subscriber.get", "SessionID": u.SessionID, "ListID": list, "SubscriberID": s["SubscriberID"]})
		return g["SubscriberInformation"].(map[string]any)["SubscriptionStatus"].(string)
	}
	if st := status(); st != "Opt-In Pending" {
		t.Fatalf("after a wrong code: %s", st)
	}
	// The confirmation link is a GET of api.php.
	r := e.Do("GET", fmt.Sprintf("/api.php?Command=subscriber.optin&ListID=%v&SubscriberID=%v&ConfirmationCode=%s", list, s["SubscriberID"], code), nil, nil)
	if m := r.JSON(t); m["Success"] != true {
		t.Fatalf("confirm: %v", m)
	}
	if st := status(); st != "Subscribed" {
		t.Fatalf("after confirming: %s", st)
	}
}

// subscriber.get.activity and lists.stats read the events of mail sent to the list's
// subscribers; another tenant sees neither.
func TestSubscriberActivityFromEvents(t *testing.T) {
	e := apptest.Start(t, nil)
	u := e.CreateUser("alice")
	bob := e.CreateUser("bob")
	d := e.AddDomain(u, "example.com")
	l := e.MustAPI(map[string]any{"Command": "list.create", "SessionID": u.SessionID, "SubscriberListName": "News"})
	list := l["ListID"]
	s := e.MustAPI(map[string]any{"Command": "subscriber.subscribe", "ListID": list, "EmailAddress": "jane@example.net", "IPAddress": "10.1.2.3"})
	now := time.Now().Unix()
	m, rs, _ := e.Message(d, now-60, "news@example.com", []string{"jane@example.net"}, nil, "Hello")
	if _, err := storagetest.Raw(t, e.Cfg.DB).Exec("UPDATE messages SET list_id = ?, subscriber_id = ? WHERE id = ?", list, s["SubscriberID"], m.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.Server.DB.ImportEvents(context.Background(), []*storage.Event{
		{DomainID: d, UserID: m.UserID, MessageID: m.ID, RecipientID: rs[0].ID, Type: storage.EventOpened, Email: rs[0].Email, CreatedAt: now - 30},
		{DomainID: d, UserID: m.UserID, MessageID: m.ID, RecipientID: rs[0].ID, Type: storage.EventClicked, Email: rs[0].Email, URL: "https://example.com/x", CreatedAt: now - 20},
	}); err != nil {
		t.Fatal(err)
	}
	a := e.MustAPI(map[string]any{"Command": "subscriber.get.activity", "SessionID": u.SessionID, "SubscriberListID": list, "SubscriberID": s["SubscriberID"]})
	act := a["Activity"].([]any)
	if len(act) != 3 || act[0].(map[string]any)["ActivityType"] != "EmailClick" || act[1].(map[string]any)["ActivityType"] != "EmailOpen" || act[2].(map[string]any)["ActivityType"] != "EmailSent" {
		t.Fatalf("activity: %v", a)
	}
	st := e.MustAPI(map[string]any{"Command": "lists.stats", "SessionID": u.SessionID})
	row := st["Lists"].([]any)[0].(map[string]any)
	if fmt.Sprintf("%v %v %v %v %v", row["TotalSent"], row["UniqueOpens"], row["UniqueClicks"], row["OpenRate"], row["CTOR"]) != "1 1 1 1 1" {
		t.Fatalf("lists.stats: %v", row)
	}
	other := e.API(map[string]any{"Command": "subscriber.get.activity", "SessionID": bob.SessionID, "SubscriberListID": list, "SubscriberID": s["SubscriberID"]})
	if other["Success"] != false || fmt.Sprint(other["ErrorCode"]) != "3" {
		t.Fatalf("another tenant's activity: %v", other)
	}
}
