package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"gatewayd/app/apptest"
	"gatewayd/storage"
)

// TestQueueByDomainCommands: queue.domains counts every domain's waiting rows by state, most
// waiting first; queue.retry makes one domain's deferred rows due now; queue.purge cancels
// one domain's undelivered rows; only the operator may call them; a bad DomainID answers its
// code.
func TestQueueByDomainCommands(t *testing.T) {
	e := apptest.Start(t, nil)
	alice := e.CreateUser("alice")
	bob := e.CreateUser("bob")
	ad := e.AddDomain(alice, "alice.example")
	bd := e.AddDomain(bob, "bob.example")
	ar := e.QueueRows(ad, storage.StateDeferred, storage.StateDeferred, storage.StateQueued, storage.StateDelivered)
	e.QueueRows(bd, storage.StateDeferred)

	m := e.MustAPI(map[string]any{"Command": "queue.domains", "AdminAPIKey": apptest.AdminKey})
	got, _ := json.Marshal(m["Domains"])
	want := `[{"DomainID":` + strconv.FormatInt(ad, 10) + `,"SenderDomain":"alice.example","States":{"deferred":2,"queued":1,"scheduled":0,"sending":0},"UserID":` + strconv.FormatInt(alice.ID, 10) + `,"Waiting":3},` +
		`{"DomainID":` + strconv.FormatInt(bd, 10) + `,"SenderDomain":"bob.example","States":{"deferred":1,"queued":0,"scheduled":0,"sending":0},"UserID":` + strconv.FormatInt(bob.ID, 10) + `,"Waiting":1}]`
	if string(got) != want {
		t.Fatalf("queue.domains:\n got %s\nwant %s", got, want)
	}

	for _, c := range []string{"queue.domains", "queue.retry", "queue.purge"} {
		if m := e.API(map[string]any{"Command": c, "SessionID": alice.SessionID, "DomainID": ad}); m["ErrorCode"] != json.Number("99998") {
			t.Fatalf("%s as a tenant: %v", c, m)
		}
	}
	for _, c := range []string{"queue.retry", "queue.purge"} {
		if m := e.API(map[string]any{"Command": c, "AdminAPIKey": apptest.AdminKey}); fmt.Sprint(m["ErrorCode"]) != "[1]" {
			t.Fatalf("%s without DomainID: %v", c, m)
		}
		if m := e.API(map[string]any{"Command": c, "AdminAPIKey": apptest.AdminKey, "DomainID": 999999}); m["ErrorCode"] != json.Number("2") {
			t.Fatalf("%s of no domain: %v", c, m)
		}
	}

	ctx := context.Background()
	m = e.MustAPI(map[string]any{"Command": "queue.retry", "AdminAPIKey": apptest.AdminKey, "DomainID": ad})
	if m["Retried"] != json.Number("2") {
		t.Fatalf("queue.retry: %v", m)
	}
	for _, r := range ar[:2] {
		if got, _ := e.Server.DB.RecipientByID(ctx, r.ID); got.State != storage.StateDeferred || got.NextAttemptAt > time.Now().Unix() {
			t.Fatalf("retried row: %+v", got)
		}
	}
	m = e.MustAPI(map[string]any{"Command": "queue.purge", "AdminAPIKey": apptest.AdminKey, "DomainID": ad})
	if m["Cancelled"] != json.Number("3") {
		t.Fatalf("queue.purge: %v", m)
	}
	if got, _ := e.Server.DB.RecipientByID(ctx, ar[3].ID); got.State != storage.StateDelivered {
		t.Fatalf("a delivered row after purge: %s", got.State)
	}
	m = e.MustAPI(map[string]any{"Command": "queue.domains", "AdminAPIKey": apptest.AdminKey})
	if got, _ := json.Marshal(m["Domains"]); string(got) != `[{"DomainID":`+strconv.FormatInt(bd, 10)+`,"SenderDomain":"bob.example","States":{"deferred":1,"queued":0,"scheduled":0,"sending":0},"UserID":`+strconv.FormatInt(bob.ID, 10)+`,"Waiting":1}]` {
		t.Fatalf("after purge: %s", got)
	}
}

// TestAdminHealth: admin.health answers the database's state, the queue and every domain's
// daily counts (days without mail included), for the operator only.
func TestAdminHealth(t *testing.T) {
	e := apptest.Start(t, nil)
	alice := e.CreateUser("alice")
	d := e.AddDomain(alice, "health.example")
	e.EnableDomain(d)
	e.MustAPI(map[string]any{"Command": "emailgateway.sendtest", "SessionID": alice.SessionID, "DomainID": d, "To": "a@example.net"})
	m := e.MustAPI(map[string]any{"Command": "admin.health", "AdminAPIKey": apptest.AdminKey, "Days": 7})
	db := m["Database"].(map[string]any)
	if db["OK"] != true || db["Error"] != "" || (db["Dialect"] != "sqlite" && db["Dialect"] != "mysql") {
		t.Fatalf("Database: %v", db)
	}
	if q, _ := json.Marshal(m["Queue"]); string(q) != `{"States":{"deferred":0,"queued":1,"scheduled":0,"sending":0},"Waiting":1}` {
		t.Fatalf("Queue: %s", q)
	}
	days := m["Days"].([]any)
	last, _ := json.Marshal(days[len(days)-1])
	if len(days) != 7 || string(last) != `{"Bounced":0,"Complained":0,"Date":"`+time.Now().UTC().Format("2006-01-02")+`","Deferred":0,"Delivered":0,"Failed":0,"Sent":1}` {
		t.Fatalf("Days: %d, last %s", len(days), last)
	}
	if m := e.API(map[string]any{"Command": "admin.health", "AdminAPIKey": apptest.AdminKey, "Days": 91}); fmt.Sprint(m["ErrorCode"]) != "[3]" {
		t.Fatalf("Days 91: %v", m)
	}
	if m := e.API(map[string]any{"Command": "admin.health", "SessionID": alice.SessionID}); m["ErrorCode"] != json.Number("99998") {
		t.Fatalf("as a tenant: %v", m)
	}
}
