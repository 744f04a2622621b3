package storage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"gatewayd/storage"
	"gatewayd/storage/storagetest"
)

func audienceUsers(t *testing.T, db *storage.DB) (a, b *storage.User) {
	t.Helper()
	a = &storage.User{GroupID: 1, Username: "a", Email: "a@x.test", PasswordHash: "x"}
	b = &storage.User{GroupID: 1, Username: "b", Email: "b@x.test", PasswordHash: "x"}
	for _, u := range []*storage.User{a, b} {
		if err := db.CreateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

// A list, its fields and subscribers belong to their owner: another user's id is not found.
func TestAudienceIsolationAndStatuses(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	a, b := audienceUsers(t, db)
	l := &storage.List{UserID: a.ID, Name: "News"}
	confirm := &storage.ListEmail{Subject: "Confirm", FromEmail: "n@x.test", ContentType: "Plain", PlainContent: "%Link:Confirm%"}
	if err := db.CreateList(ctx, l, confirm); err != nil {
		t.Fatal(err)
	}
	if l.ConfirmationEmailID == 0 || l.ConfirmationEmailID != confirm.ID {
		t.Fatalf("confirmation email not linked: %+v", l)
	}
	if _, err := db.ListByID(ctx, b.ID, l.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("other user's list: %v", err)
	}
	got, err := db.ListByID(ctx, a.ID, l.ID)
	if err != nil || got.ConfirmationEmailID != confirm.ID || got.OptInMode != storage.OptInSingle {
		t.Fatalf("list: %+v %v", got, err)
	}
	f := &storage.CustomField{UserID: a.ID, ListID: l.ID, Name: "First", FieldType: "Single line", Visibility: "Public"}
	if err := db.CreateCustomField(ctx, f); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CustomFieldByID(ctx, b.ID, f.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("other user's field: %v", err)
	}
	var ids []int64
	for i := 0; i < 5; i++ {
		s := &storage.Subscriber{ListID: l.ID, UserID: a.ID, Email: fmt.Sprintf("S%d@Example.com", i)}
		s.SetFields(map[string]string{f.Key(): fmt.Sprint("name", i)})
		if err := db.CreateSubscriber(ctx, s); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	if err := db.CreateSubscriber(ctx, &storage.Subscriber{ListID: l.ID, UserID: a.ID, Email: "s0@example.COM"}); !errors.Is(err, storage.ErrDuplicate) {
		t.Fatalf("duplicate address, other case: %v", err)
	}
	if _, err := db.SubscriberByID(ctx, b.ID, l.ID, ids[0]); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("other user's subscriber: %v", err)
	}
	s, err := db.SubscriberByEmail(ctx, a.ID, l.ID, "s1@EXAMPLE.com")
	if err != nil || s.ID != ids[1] || s.Fields()[f.Key()] != "name1" {
		t.Fatalf("by email: %+v %v", s, err)
	}
	// Unsubscribe one, hard-bounce one, suppress one: a list send pages the other two.
	if err := db.SetSubscriberStatus(ctx, l.ID, ids[1], storage.StatusUnsubscribed, "", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetSubscriberStatus(ctx, l.ID, ids[2], storage.StatusSubscribed, storage.BounceHard, ""); err != nil {
		t.Fatal(err)
	}
	if err := db.SuppressInList(ctx, a.ID, l.ID, "S3@example.com", storage.SuppressManual, ""); err != nil {
		t.Fatal(err)
	}
	if err := db.SetSubscriberStatus(ctx, l.ID+1000, ids[0], storage.StatusUnsubscribed, "", ""); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("status on a wrong list: %v", err)
	}
	var got2 []int64
	for after := int64(0); ; {
		page, err := db.SubscribedPage(ctx, l.ID, after, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got2 = append(got2, page[0].ID)
		after = page[0].ID
	}
	if fmt.Sprint(got2) != fmt.Sprint([]int64{ids[0], ids[4]}) {
		t.Fatalf("subscribed page: %v want %v", got2, []int64{ids[0], ids[4]})
	}
	u, _ := db.SubscriberByID(ctx, a.ID, l.ID, ids[1])
	if u.Status != storage.StatusUnsubscribed || u.UnsubscriptionIP != "192.0.2.1" || u.UnsubscriptionDate == 0 {
		t.Fatalf("unsubscribed row: %+v", u)
	}
	counts, err := db.StatusCounts(ctx, []int64{l.ID})
	if err != nil || counts[l.ID]["Active"] != 3 || counts[l.ID]["Hard"] != 1 || counts[l.ID]["Suppressed"] != 1 {
		t.Fatalf("counts: %v %v", counts, err)
	}
	// Filters on a custom field and on the address.
	subs, total, err := db.Subscribers(ctx, storage.SubscriberFilter{ListID: l.ID, Rules: []storage.Rule{{Field: f.Key(), Op: "equals", Value: "NAME4"}}}, storage.SubscriberPage{Limit: 10})
	if err != nil || total != 1 || subs[0].ID != ids[4] {
		t.Fatalf("custom field filter: %v %d %v", subs, total, err)
	}
	if n, err := db.DeleteLists(ctx, b.ID, []int64{l.ID}); err != nil || n != 0 {
		t.Fatalf("other user deleted the list: %d %v", n, err)
	}
	if n, err := db.DeleteLists(ctx, a.ID, []int64{l.ID}); err != nil || n != 1 {
		t.Fatalf("delete: %d %v", n, err)
	}
	if _, err := db.SubscriberByID(ctx, a.ID, l.ID, ids[0]); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("subscriber outlived its list: %v", err)
	}
}

// An import batch commits subscribers, duplicates, tags and the job's counters together.
func TestImportBatch(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	a, _ := audienceUsers(t, db)
	l := &storage.List{UserID: a.ID, Name: "Imp"}
	if err := db.CreateList(ctx, l, nil); err != nil {
		t.Fatal(err)
	}
	tag := &storage.Tag{UserID: a.ID, ListID: l.ID, Name: "vip"}
	if err := db.CreateTag(ctx, tag); err != nil {
		t.Fatal(err)
	}
	j := &storage.Import{UserID: a.ID, ListID: l.ID, Options: "{}", Data: []byte("x")}
	if err := db.CreateImport(ctx, j); err != nil {
		t.Fatal(err)
	}
	batch := func(emails ...string) []storage.Subscriber {
		var out []storage.Subscriber
		for _, e := range emails {
			s := storage.Subscriber{Email: e, Source: "CSVImport"}
			s.SetFields(map[string]string{"1": e})
			out = append(out, s)
		}
		return out
	}
	n, d, err := db.ApplyImportBatch(ctx, storage.ImportBatch{JobID: j.ID, ListID: l.ID, UserID: a.ID, Subs: batch("a@x.test", "b@x.test", "A@x.test"), TagIDs: []int64{tag.ID}, RowsDone: 3})
	if err != nil || n != 2 || d != 1 {
		t.Fatalf("first batch: %d %d %v", n, d, err)
	}
	n, d, err = db.ApplyImportBatch(ctx, storage.ImportBatch{JobID: j.ID, ListID: l.ID, UserID: a.ID, Subs: batch("b@x.test", "c@x.test"), TagIDs: []int64{tag.ID}, RowsDone: 5, Failed: 1})
	if err != nil || n != 1 || d != 1 {
		t.Fatalf("second batch: %d %d %v", n, d, err)
	}
	got, err := db.ImportByID(ctx, a.ID, l.ID, j.ID)
	if err != nil || got.RowsDone != 5 || got.Imported != 3 || got.Duplicates != 2 || got.Failed != 1 || got.Total != 6 {
		t.Fatalf("job: %+v %v", got, err)
	}
	tags, err := db.Tags(ctx, l.ID)
	if err != nil || len(tags) != 1 || tags[0].Subscribers != 3 {
		t.Fatalf("tags: %+v %v", tags, err)
	}
}
