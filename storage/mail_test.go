package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"gatewayd/storage"
	"gatewayd/storage/storagetest"
)

func seedDomain(t *testing.T, db *storage.DB) (*storage.User, *storage.SenderDomain) {
	t.Helper()
	ctx := context.Background()
	u := &storage.User{GroupID: 1, Username: "u", Email: "u@x.test", PasswordHash: "x"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	d := &storage.SenderDomain{UserID: u.ID, Name: "example.com", Status: storage.DomainEnabled}
	if err := db.CreateDomain(ctx, d, 0); err != nil {
		t.Fatal(err)
	}
	return u, d
}

func envelope(u *storage.User, d *storage.SenderDomain, uuid string, tags string, rcpts ...string) *storage.Envelope {
	env := &storage.Envelope{Message: &storage.Message{UUID: uuid, DomainID: d.ID, UserID: u.ID, Source: "api",
		MailFrom: "a@example.com", Subject: "s", Tags: tags, Raw: []byte("Subject: s\r\n\r\nhi\r\n")}}
	for _, r := range rcpts {
		env.Recipients = append(env.Recipients, &storage.Recipient{Email: r})
	}
	return env
}

func TestEnqueueWritesRowsEventsAndRollups(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	u, d := seedDomain(t, db)
	env := envelope(u, d, "11111111-1111-1111-1111-111111111111", `["welcome"]`, "a@r.test", "b@r.test")
	errs, err := db.Enqueue(ctx, []*storage.Envelope{env})
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	rs, err := db.RecipientsOf(ctx, env.Message.ID)
	if err != nil || len(rs) != 2 || rs[0].State != storage.StateQueued {
		t.Fatalf("recipients: %+v %v", rs, err)
	}
	m, err := db.MessageByUUID(ctx, env.Message.UUID, u.ID)
	if err != nil || string(m.Raw) != "Subject: s\r\n\r\nhi\r\n" {
		t.Fatalf("message: %+v %v", m, err)
	}
	n, _ := db.MonthlyUsage(ctx, u.ID)
	if n != 2 {
		t.Fatalf("usage %d, want 2", n)
	}
	// The limit counts what is already used: 2 used + 1 > 2.
	env2 := envelope(u, d, "22222222-2222-2222-2222-222222222222", `[]`, "c@r.test")
	env2.MonthlyLimit = 2
	errs, err = db.Enqueue(ctx, []*storage.Envelope{env2})
	if err != nil || !errors.Is(errs[0], storage.ErrLimit) {
		t.Fatalf("limit: %v %v", err, errs)
	}
	if _, err := db.MessageByUUID(ctx, env2.Message.UUID, 0); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("refused envelope was stored: %v", err)
	}
}

func TestCommitterCommitsConcurrentEnvelopes(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	u, d := seedDomain(t, db)
	c := storage.NewCommitter(db, 16)
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- c.Enqueue(ctx, envelope(u, d, fmt.Sprintf("00000000-0000-0000-0000-%012d", i), `[]`, "x@r.test"))
		}(i)
	}
	wg.Wait()
	// A duplicate UUID fails alone, without failing the batch it rode in.
	dup := c.Enqueue(ctx, envelope(u, d, "00000000-0000-0000-0000-000000000001", `[]`, "x@r.test"))
	c.Close()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if dup == nil {
		t.Fatal("duplicate uuid accepted")
	}
	if got, _ := db.MonthlyUsage(ctx, u.ID); got != n {
		t.Fatalf("usage %d, want %d", got, n)
	}
}

// Within one batch, earlier envelopes count toward a later one's monthly limit.
func TestEnqueueBatchCountsTowardLimit(t *testing.T) {
	db := storagetest.Open(t)
	u, d := seedDomain(t, db)
	a := envelope(u, d, "33333333-3333-3333-3333-333333333333", `[]`, "a@r.test", "b@r.test")
	b := envelope(u, d, "44444444-4444-4444-4444-444444444444", `[]`, "c@r.test", "d@r.test")
	a.MonthlyLimit, b.MonthlyLimit = 3, 3
	errs, err := db.Enqueue(context.Background(), []*storage.Envelope{a, b})
	if err != nil || errs[0] != nil || !errors.Is(errs[1], storage.ErrLimit) {
		t.Fatalf("err %v, per envelope %v", err, errs)
	}
	if got, _ := db.MonthlyUsage(context.Background(), u.ID); got != 2 {
		t.Fatalf("usage %d, want 2", got)
	}
}
