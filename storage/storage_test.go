package storage_test

import (
	"context"
	"errors"
	"testing"

	"gatewayd/storage"
	"gatewayd/storage/storagetest"
)

func TestMigrateIsIdempotent(t *testing.T) {
	db := storagetest.Open(t)
	applied, err := db.Migrate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Fatalf("second migrate applied %v", applied)
	}
	g, err := db.GroupByID(context.Background(), 1)
	if err != nil || g.Permissions != "*" {
		t.Fatalf("default group: %+v %v", g, err)
	}
}

func TestUsersAreUniqueCaseInsensitively(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	u := &storage.User{GroupID: 1, Username: "Alice", Email: "Alice@Example.com", PasswordHash: "x", AccountStatus: "Enabled", ReputationLevel: "Trusted", Verified: true}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	var dup *storage.DuplicateError
	err := db.CreateUser(ctx, &storage.User{GroupID: 1, Username: "ALICE", Email: "other@example.com", PasswordHash: "x"})
	if !errors.As(err, &dup) || dup.Field != "username" {
		t.Fatalf("duplicate username: %v", err)
	}
	err = db.CreateUser(ctx, &storage.User{GroupID: 1, Username: "bob", Email: "alice@EXAMPLE.com", PasswordHash: "x"})
	if !errors.As(err, &dup) || dup.Field != "email" || !errors.Is(err, storage.ErrDuplicate) {
		t.Fatalf("duplicate email: %v", err)
	}
	got, err := db.UserByUsername(ctx, "aLiCe")
	if err != nil || got.ID != u.ID {
		t.Fatalf("lookup: %+v %v", got, err)
	}
}

func TestDomainLimitAndOwnership(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	a := &storage.User{GroupID: 1, Username: "a", Email: "a@x.test", PasswordHash: "x"}
	b := &storage.User{GroupID: 1, Username: "b", Email: "b@x.test", PasswordHash: "x"}
	for _, u := range []*storage.User{a, b} {
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	d := &storage.SenderDomain{UserID: a.ID, Name: "Example.COM", Status: storage.DomainPending, DKIMSelector: "s", DKIMPrivateEnc: "p", DKIMPublic: "k", SigningKeyEnc: "w"}
	if err := db.CreateDomain(ctx, d, 1); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateDomain(ctx, &storage.SenderDomain{UserID: a.ID, Name: "two.test", Status: storage.DomainPending}, 1); !errors.Is(err, storage.ErrLimit) {
		t.Fatalf("limit: %v", err)
	}
	if _, err := db.DomainByID(ctx, d.ID, b.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("other owner: %v", err)
	}
	if err := db.DeleteDomain(ctx, d.ID, b.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("other owner delete: %v", err)
	}
	got, err := db.DomainByID(ctx, d.ID, a.ID)
	if err != nil || got.Name != "example.com" {
		t.Fatalf("owner: %+v %v", got, err)
	}
	if err := db.DeleteDomain(ctx, d.ID, a.ID); err != nil {
		t.Fatal(err)
	}
}
