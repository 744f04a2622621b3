package storage_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gatewayd/storage"
	"gatewayd/storage/storagetest"
)

// TestMigrateFromSeveralNodesAtOnce starts four handles on one fresh database and migrates
// from all of them at once: every migration is applied exactly once, by one of them (on
// SQLite: several processes on one file, as two `gatewayd serve` started together).
func TestMigrateFromSeveralNodesAtOnce(t *testing.T) {
	dsn := storagetest.DSN(t)
	ctx := context.Background()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied []string
	)
	for i := 0; i < 4; i++ {
		db, err := storage.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := db.Migrate(ctx)
			if err != nil {
				t.Errorf("migrate: %v", err)
			}
			mu.Lock()
			applied = append(applied, got...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	raw := storagetest.Raw(t, dsn)
	var rows, distinct int
	if err := raw.QueryRow("SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations").Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, a := range applied {
		seen[a]++
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("migration %s applied %d times", name, n)
		}
	}
	if len(applied) != rows || rows != distinct || rows == 0 {
		t.Fatalf("applied %d migrations in all, schema_migrations has %d rows (%d versions)", len(applied), rows, distinct)
	}
	if storagetest.Dialect() == "mysql" { // SQLite serialises on its write lock; MySQL on a lock row
		var owner string
		if err := raw.QueryRow("SELECT owner FROM schema_lock WHERE name = 'migrate'").Scan(&owner); err != nil || owner != "" {
			t.Fatalf("migration lock after the migrations: owner %q, %v; want released", owner, err)
		}
	}
}

// TestClaimsFromSeveralHandlesNeverOverlap has six handles claim the same 600 due rows in
// small batches at once: every row is leased exactly once, to one owner.
func TestClaimsFromSeveralHandlesNeverOverlap(t *testing.T) {
	dsn := storagetest.DSN(t)
	ctx := context.Background()
	open := func() *storage.DB {
		h, err := storage.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	db := open()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, d := seedDomain(t, db)
	var envs []*storage.Envelope
	for i := 0; i < 600; i++ {
		envs = append(envs, envelope(u, d, fmt.Sprintf("00000000-0000-0000-0000-%012d", i), `[]`, fmt.Sprintf("r%d@x.test", i)))
	}
	for i := 0; i < len(envs); i += 100 {
		if _, err := db.Enqueue(ctx, envs[i:i+100]); err != nil {
			t.Fatal(err)
		}
	}
	// On MySQL each claimer has its own pool, as gatewayd nodes do; SQLite is one process.
	handles := []*storage.DB{db}
	if storagetest.Dialect() == "mysql" {
		for len(handles) < 6 {
			handles = append(handles, open())
		}
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		owner = map[int64]string{}
		dups  []string
	)
	for i := 0; i < 6; i++ {
		h := handles[i%len(handles)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("node-%d", i)
			for empty := 0; empty < 3; {
				rows, err := h.ClaimDue(ctx, name, 20, time.Minute, i)
				if err != nil {
					t.Errorf("%s: claim: %v", name, err)
					return
				}
				if len(rows) == 0 {
					empty++
					continue
				}
				mu.Lock()
				for _, r := range rows {
					if prev, ok := owner[r.ID]; ok {
						dups = append(dups, fmt.Sprintf("row %d to %s and %s", r.ID, prev, name))
					}
					owner[r.ID] = name
					if r.LeaseOwner != name || r.State != storage.StateSending {
						dups = append(dups, fmt.Sprintf("row %d returned as %s/%s", r.ID, r.LeaseOwner, r.State))
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(dups) > 0 {
		t.Fatalf("%d rows claimed twice: %s", len(dups), strings.Join(dups[:min(5, len(dups))], "; "))
	}
	if len(owner) != 600 {
		t.Fatalf("%d of 600 rows claimed", len(owner))
	}
	counts, err := db.QueueCounts(ctx, false, nil)
	if err != nil || counts[storage.StateSending] != 600 {
		t.Fatalf("queue after the claims: %v %v; want 600 sending", counts, err)
	}
}

// TestFailoverToTheNextListedHost lists a host that refuses connections before the real one:
// gatewayd connects, migrates and reports healthy through the second.
func TestFailoverToTheNextListedHost(t *testing.T) {
	dsn := storagetest.MySQLDSN(t) // a host list is a MySQL/MariaDB DSN

	scheme, rest, _ := strings.Cut(dsn, "://")
	at := strings.LastIndex(rest[:strings.Index(rest, "/")], "@")
	listed := scheme + "://" + rest[:at+1] + "127.0.0.1:1," + rest[at+1:]
	ctx := context.Background()
	db, err := storage.Open(ctx, listed)
	if err != nil {
		t.Fatalf("open %s: %v", listed, err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Health(ctx); err != nil {
		t.Fatalf("health through the second host: %v", err)
	}
	u, d := seedDomain(t, db)
	if errs, err := db.Enqueue(ctx, []*storage.Envelope{envelope(u, d, "33333333-3333-3333-3333-333333333333", `[]`, "a@r.test")}); err != nil || errs[0] != nil {
		t.Fatalf("enqueue through the second host: %v %v", err, errs)
	}
}

// TestClaimNamesTheLeaseItTookOver: a row whose lease ran out is claimed again, and the claim
// says whose lease it took over (its mail may have gone out already); a fresh row, or one
// given back, is not a takeover.
func TestClaimNamesTheLeaseItTookOver(t *testing.T) {
	dsn := storagetest.DSN(t)
	ctx := context.Background()
	db := storagetest.OpenDSN(t, dsn)
	u, d := seedDomain(t, db)
	if _, err := db.Enqueue(ctx, []*storage.Envelope{envelope(u, d, "77777777-7777-7777-7777-777777777777", `[]`, "a@r.test", "b@r.test")}); err != nil {
		t.Fatal(err)
	}
	first, err := db.ClaimDue(ctx, "node-a", 10, time.Minute, 0)
	if err != nil || len(first) != 2 || first[0].TakenFrom != "" || first[1].TakenFrom != "" {
		t.Fatalf("first claim: %+v %v; want 2 rows, none taken over", first, err)
	}
	// node-a gives b back (a stop) and its lease on a runs out.
	raw := storagetest.Raw(t, dsn)
	past := time.Now().Unix() - 1
	if _, err := raw.Exec("UPDATE recipients SET lease_expires_at = ?, next_attempt_at = ? WHERE id = ?", past, past, first[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("UPDATE recipients SET state = 'queued', lease_owner = '', lease_expires_at = 0, next_attempt_at = ? WHERE id = ?", past, first[1].ID); err != nil {
		t.Fatal(err)
	}
	again, err := db.ClaimDue(ctx, "node-b", 10, time.Minute, 0)
	if err != nil || len(again) != 2 {
		t.Fatalf("second claim: %+v %v; want both rows", again, err)
	}
	for _, r := range again {
		want := ""
		if r.ID == first[0].ID {
			want = "node-a"
		}
		if r.TakenFrom != want || r.LeaseOwner != "node-b" {
			t.Errorf("row %s claimed by node-b: taken from %q, owner %q; want taken from %q", r.Email, r.TakenFrom, r.LeaseOwner, want)
		}
	}
}
