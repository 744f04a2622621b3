package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatewayd/relay/delivery/deliverytest"
	"gatewayd/storage"
	"gatewayd/storage/storagetest"
)

func TestQueueCommands(t *testing.T) {
	dsn := storagetest.DSN(t)
	vars := map[string]string{
		"GATEWAY_DB":              dsn,
		"GATEWAY_SECRET_KEY_FILE": filepath.Join(t.TempDir(), "secret.key"),
	}
	run1 := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb, env(vars))
		return code, out.String(), errb.String()
	}
	runOK := func(args ...string) string {
		t.Helper()
		code, out, errs := run1(args...)
		if code != 0 {
			t.Fatalf("gatewayd %v: exit %d\n%s%s", args, code, out, errs)
		}
		return out
	}
	has := func(out, pattern string) {
		t.Helper()
		if !regexp.MustCompile(pattern).MatchString(out) {
			t.Fatalf("output lacks %q:\n%s", pattern, out)
		}
	}
	runOK("migrate")

	ctx := context.Background()
	db, err := storage.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := deliverytest.New(t, db, deliverytest.Keys(t), "ops", "ops.example")
	other := deliverytest.New(t, db, deliverytest.Keys(t), "else", "else.example")
	f.Send(t, "a@dest.example", "b@dest.example")
	f.Send(t, "c@dest.example")
	other.Send(t, "x@dest.example")
	// One row tried and deferred for an hour, one delivered.
	rows, err := db.ClaimDue(ctx, "test", 2, time.Minute, 0)
	if err != nil || len(rows) != 2 {
		t.Fatalf("claim: %d %v", len(rows), err)
	}
	deferred := rows[0]
	if _, err := db.RecordOutcomes(ctx, []storage.Outcome{
		{Recipient: &rows[0], State: storage.StateDeferred, Next: time.Now().Add(time.Hour).Unix(), Code: 451, Reply: "451 4.3.0 try later"},
		{Recipient: &rows[1], State: storage.StateDelivered, Code: 250, Reply: "250 ok"},
	}); err != nil {
		t.Fatal(err)
	}

	out := runOK("queue", "stats")
	has(out, `queued\s+2\n`)
	has(out, `deferred\s+1\n`)
	has(out, `total\s+3\n`)
	if strings.Contains(out, "delivered") {
		t.Fatalf("stats without --all shows finished states:\n%s", out)
	}
	out = runOK("queue", "stats", "--all", "--domain", "ops.example")
	has(out, `queued\s+1\n`)
	has(out, `delivered\s+1\n`)
	has(out, `total\s+3\n`)

	out = runOK("queue", "list", "--state", "deferred")
	has(out, fmt.Sprintf(`(?m)^%d\s+\S+\s+ops\.example\s+%s\s+deferred\s+1\s+\S+\s+451 4\.3\.0 try later`, deferred.ID, regexp.QuoteMeta(deferred.Email)))
	has(out, `1 rows\n`)
	out = runOK("queue", "list", "--limit", "2")
	has(out, `2 rows\n`)
	out = runOK("queue", "list", "--domain", fmt.Sprint(other.Domain.ID))
	has(out, `x@dest\.example\s+queued`)
	has(out, `1 rows\n`)

	out = runOK("queue", "retry")
	has(out, `1 recipients are due now`)
	if r, _ := db.RecipientByID(ctx, deferred.ID); r.NextAttemptAt > time.Now().Unix() || r.State != storage.StateDeferred {
		t.Fatalf("deferred row after retry: %+v", r)
	}

	out = runOK("queue", "purge", "--state", "queued", "--domain", "ops.example")
	has(out, `would cancel 1 recipients; run again with --yes`)
	out = runOK("queue", "purge", "--state", "queued,deferred", "--domain", "ops.example", "--yes")
	has(out, `cancelled 2 recipients`)
	counts, _ := db.QueueCounts(ctx, false, []int64{f.Domain.ID})
	if counts[storage.StateCancelled] != 2 || counts[storage.StateDelivered] != 1 {
		t.Fatalf("after purge: %v", counts)
	}
	if counts, _ := db.QueueCounts(ctx, false, []int64{other.Domain.ID}); counts[storage.StateQueued] != 1 {
		t.Fatalf("the other domain after purge: %v", counts)
	}
	if code, _, errs := run1("queue", "purge", "--state", "delivered", "--yes"); code != 1 || !strings.Contains(errs, "--delete") {
		t.Fatalf("cancelling delivered rows: exit %d %s", code, errs)
	}
	out = runOK("queue", "purge", "--state", "cancelled", "--delete", "--yes")
	has(out, `deleted 2 recipients`)

	for _, c := range [][]string{{"queue"}, {"queue", "bogus"}} {
		if code, _, _ := run1(c...); code != 2 {
			t.Fatalf("%v: exit %d, want 2", c, code)
		}
	}
	for _, c := range [][]string{{"queue", "list", "--state", "nope"}, {"queue", "stats", "--domain", "nosuch.example"}, {"queue", "retry", "--id", "x"}} {
		if code, _, _ := run1(c...); code != 1 {
			t.Fatalf("%v: exit %d, want 1", c, code)
		}
	}
	for _, c := range []string{"stats", "list", "retry", "purge"} {
		if code, out, errs := run1("queue", c, "--help"); code != 0 || out+errs == "" {
			t.Fatalf("queue %s --help: exit %d", c, code)
		}
	}
}
