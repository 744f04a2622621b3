package storage_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

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

// TestRollupCountersSumTheirShards sends from many transactions at once: the counters are
// spread over several shard rows (so concurrent writers, on one server or on several Galera
// nodes, rarely touch the same row), and every read gives the exact total of all of them.
func TestRollupCountersSumTheirShards(t *testing.T) {
	dsn := storagetest.DSN(t)
	ctx := context.Background()
	db := storagetest.OpenDSN(t, dsn)
	u, d := seedDomain(t, db)
	const workers, each = 8, 8
	var wg sync.WaitGroup
	errc := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				env := envelope(u, d, fmt.Sprintf("55555555-0000-0000-%04d-%012d", w, i), `["t1"]`, fmt.Sprintf("r%d-%d@r.test", w, i))
				errs, err := db.Enqueue(ctx, []*storage.Envelope{env})
				if err == nil {
					err = errs[0]
				}
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	const n = workers * each
	// Their outcomes, recorded in batches from two writers at once, count once each.
	claimed, err := db.ClaimDue(ctx, "node-a", n, time.Minute, 0)
	if err != nil || len(claimed) != n {
		t.Fatalf("claimed %d rows, %v; want %d", len(claimed), err, n)
	}
	var outs []storage.Outcome
	for i := range claimed {
		outs = append(outs, storage.Outcome{Recipient: &claimed[i], Tags: []string{"t1"}, State: storage.StateDelivered, Code: 250, Reply: "250 ok"})
	}
	var rec sync.WaitGroup
	for _, half := range [][]storage.Outcome{outs[:n/2], outs[n/2:]} {
		rec.Add(1)
		go func() {
			defer rec.Done()
			if applied, err := db.RecordOutcomes(ctx, half); err != nil || slices.Contains(applied, false) {
				t.Errorf("record outcomes: %v %v", applied, err)
			}
		}()
	}
	rec.Wait()
	now := time.Now().UTC()
	day := storage.DayOf(now.Unix())
	raw := storagetest.Raw(t, dsn)
	var shards, usageShards int
	if err := raw.QueryRow("SELECT COUNT(*) FROM stats_daily WHERE domain_id = ? AND day = ? AND tag = ''", d.ID, day).Scan(&shards); err != nil {
		t.Fatal(err)
	}
	if err := raw.QueryRow("SELECT COUNT(*) FROM user_usage WHERE user_id = ?", u.ID).Scan(&usageShards); err != nil {
		t.Fatal(err)
	}
	// An acceptance adds to both tables in one shard; the outcome batches add to stats_daily
	// only, in shards of their own, so stats_daily may hold more rows than user_usage.
	if usageShards < 2 || shards > 16 || shards < usageShards {
		t.Errorf("%d transactions wrote %d stats_daily rows and %d user_usage rows for one counter, want 2-16 each, no fewer stats rows than usage rows", n, shards, usageShards)
	}
	// Rows imported from elsewhere (shard 0 of another day) count too.
	if err := db.ImportRollups(ctx, []storage.DailyRollup{{DomainID: d.ID, Day: day - 1, Counts: storage.Counts{Sent: 10, Delivered: 7}}}); err != nil {
		t.Fatal(err)
	}
	if c, err := db.StatsTotals(ctx, []int64{d.ID}, day-1, day, ""); err != nil || c.Sent != n+10 || c.Delivered != n+7 {
		t.Errorf("StatsTotals = %+v, %v; want sent %d, delivered %d", c, err, n+10, n+7)
	}
	if c, err := db.StatsTotals(ctx, []int64{d.ID}, day, day, "t1"); err != nil || c.Sent != n || c.Delivered != n {
		t.Errorf("StatsTotals(t1) = %+v, %v; want sent and delivered %d", c, err, n)
	}
	if m, err := db.StatsByDomain(ctx, []int64{d.ID}, day, day); err != nil || m[d.ID].Sent != n {
		t.Errorf("StatsByDomain = %+v, %v; want sent %d", m, err, n)
	}
	if m, err := db.StatsByTag(ctx, []int64{d.ID}, day, day); err != nil || len(m) != 1 || m["t1"].Sent != n {
		t.Errorf("StatsByTag = %+v, %v; want t1 sent %d", m, err, n)
	}
	if m, err := db.StatsByDay(ctx, []int64{d.ID}, day-1, day, ""); err != nil || len(m) != 2 || m[day].Sent != n || m[day-1].Sent != 10 {
		t.Errorf("StatsByDay = %+v, %v; want %d on %d and 10 the day before", m, err, n, day)
	}
	if got, err := db.MonthlyUsage(ctx, u.ID); err != nil || got != n {
		t.Errorf("MonthlyUsage = %d, %v; want %d", got, err, n)
	}
	if got, err := db.UsageInMonth(ctx, u.ID, now.Year()*100+int(now.Month())); err != nil || got != n {
		t.Errorf("UsageInMonth = %d, %v; want %d", got, err, n)
	}
	// The monthly limit counts every shard: n used + 1 > n.
	over := envelope(u, d, "66666666-6666-6666-6666-666666666666", `[]`, "over@r.test")
	over.MonthlyLimit = n
	if errs, err := db.Enqueue(ctx, []*storage.Envelope{over}); err != nil || !errors.Is(errs[0], storage.ErrLimit) {
		t.Errorf("limit %d after %d sent: %v %v, want ErrLimit", n, n, err, errs)
	}
}

// TestEnqueueBatchStatements: a batch of envelopes is written with a few statements per
// batch (the usage read once per user, one multi-row insert each of messages, recipients and
// accepted events, the rollups), not several per message; every recipient still has its
// queued row and its accepted event with the ids the rows were given, counted in the
// rollups. The same holds, at a statement per row, where the rows go in one by one.
func TestEnqueueBatchStatements(t *testing.T) {
	for _, rowByRow := range []bool{false, true} {
		t.Run(fmt.Sprintf("rowByRow=%v", rowByRow), func(t *testing.T) { testEnqueueBatch(t, rowByRow) })
	}
}

func testEnqueueBatch(t *testing.T, rowByRow bool) {
	db := storagetest.Open(t)
	if rowByRow {
		storage.InsertRowByRow(db)
	}
	ctx := context.Background()
	u, d := seedDomain(t, db)
	const n = 20
	var envs []*storage.Envelope
	for i := 0; i < n; i++ {
		env := envelope(u, d, fmt.Sprintf("33333333-3333-3333-3333-%012d", i), `["batch"]`, fmt.Sprintf("r%d@r.test", i))
		env.MonthlyLimit = 1000
		envs = append(envs, env)
	}
	envs[3].Recipients = append(envs[3].Recipients, &storage.Recipient{Email: "second@r.test", Kind: "cc"})
	before := db.Statements()
	errs, err := db.Enqueue(ctx, envs)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		if e != nil {
			t.Fatal(e)
		}
	}
	stmts := db.Statements() - before
	t.Logf("%d statements for %d messages", stmts, n)
	max := int64(8) // begin, usage, messages, recipients, events, 2 rollups, commit
	if rowByRow {
		max = 3*n + 2 + 5
	}
	if stmts > max {
		t.Errorf("%d statements for a batch of %d messages, want at most %d", stmts, n, max)
	}
	for i, env := range envs {
		rs, err := db.RecipientsOf(ctx, env.Message.ID)
		if err != nil || len(rs) != len(env.Recipients) {
			t.Fatalf("message %d: recipients %+v %v", i, rs, err)
		}
		evs, err := db.MessageEvents(ctx, env.Message.ID)
		if err != nil || len(evs) != len(rs) {
			t.Fatalf("message %d: events %+v %v", i, evs, err)
		}
		for j, r := range rs {
			if r.State != storage.StateQueued || r.Email != env.Recipients[j].Email || r.Kind != env.Recipients[j].Kind {
				t.Errorf("message %d: row %+v", i, r)
			}
			if r.ID != env.Recipients[j].ID {
				t.Errorf("message %d: row id %d, Enqueue said %d", i, r.ID, env.Recipients[j].ID)
			}
			ev := evs[j]
			if ev.Type != storage.EventAccepted || ev.RecipientID != r.ID || ev.Email != r.Email || ev.DomainID != d.ID ||
				ev.UserID != u.ID || ev.CreatedAt != r.CreatedAt {
				t.Errorf("message %d: event %+v for row %+v", i, ev, r)
			}
		}
	}
	day := storage.DayOf(envs[0].Message.CreatedAt)
	for _, tag := range []string{"", "batch"} {
		c, err := db.StatsTotals(ctx, []int64{d.ID}, day, day, tag)
		if err != nil || c.Sent != n+1 {
			t.Errorf("rollup of tag %q: %+v %v, want %d sent", tag, c, err, n+1)
		}
	}
	if used, _ := db.MonthlyUsage(ctx, u.ID); used != n+1 {
		t.Errorf("monthly usage %d, want %d", used, n+1)
	}
}

// TestRecordOutcomesBatch: one batch of outcomes, written with a few statements whatever its
// size, applies each outcome to its own row as the row stands: delivered and deferred (due
// again at its Next) on rows still leased; a bounce on a row cancelled in flight is recorded
// and the row keeps its due time, a deferral of one is not; an outcome of a row another
// owner took over is not, nor a second outcome of the same row. Every applied outcome has
// its event, with its reply, and a webhook subscribed to it gets an outbox row.
func TestRecordOutcomesBatch(t *testing.T) {
	for _, rowByRow := range []bool{false, true} {
		t.Run(fmt.Sprintf("rowByRow=%v", rowByRow), func(t *testing.T) {
			dsn := storagetest.DSN(t)
			db := storagetest.OpenDSN(t, dsn)
			if rowByRow {
				storage.InsertRowByRow(db)
			}
			ctx := context.Background()
			u, d := seedDomain(t, db)
			if _, err := db.CreateWebhook(ctx, &storage.Webhook{DomainID: d.ID, UserID: u.ID, Event: storage.EventDelivered, URL: "http://127.0.0.1:9/hook"}); err != nil {
				t.Fatal(err)
			}
			var envs []*storage.Envelope
			for i := 0; i < 30; i++ {
				envs = append(envs, envelope(u, d, fmt.Sprintf("44444444-4444-4444-4444-%012d", i), `["b"]`, fmt.Sprintf("r%d@r.test", i)))
			}
			if _, err := db.Enqueue(ctx, envs); err != nil {
				t.Fatal(err)
			}
			rows, err := db.ClaimDue(ctx, "node-a", 30, time.Minute, 0)
			if err != nil || len(rows) != 30 {
				t.Fatalf("claimed %d, %v", len(rows), err)
			}
			byEmail := map[string]*storage.Recipient{}
			for i := range rows {
				byEmail[rows[i].Email] = &rows[i]
			}
			// r0 is cancelled in flight and bounces; r1 is cancelled and defers; r2 was taken
			// over by node-b.
			raw := storagetest.Raw(t, dsn)
			for _, e := range []string{"r0@r.test", "r1@r.test"} {
				if _, err := raw.Exec("UPDATE recipients SET state = 'cancelled' WHERE id = ?", byEmail[e].ID); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := raw.Exec("UPDATE recipients SET lease_owner = 'node-b' WHERE id = ?", byEmail["r2@r.test"].ID); err != nil {
				t.Fatal(err)
			}
			due := byEmail["r0@r.test"].NextAttemptAt
			later := time.Now().Unix() + 600
			var outs []storage.Outcome
			for i := 0; i < 30; i++ {
				r := byEmail[fmt.Sprintf("r%d@r.test", i)]
				o := storage.Outcome{Recipient: r, Tags: []string{"b"}, State: storage.StateDelivered, Code: 250, Reply: fmt.Sprintf("2.0.0 queued as Q%d", i)}
				switch i {
				case 0:
					o.State, o.Code, o.Reply = storage.StateBounced, 550, "5.1.1 no such user"
				case 1, 3:
					o.State, o.Code, o.Reply, o.Next = storage.StateDeferred, 451, "4.7.1 try later", later
				}
				outs = append(outs, o)
			}
			outs = append(outs, storage.Outcome{Recipient: byEmail["r4@r.test"], State: storage.StateBounced, Code: 550, Reply: "second"})
			before := db.Statements()
			applied, err := db.RecordOutcomes(ctx, outs)
			if err != nil {
				t.Fatal(err)
			}
			stmts := db.Statements() - before
			t.Logf("%d statements for %d outcomes", stmts, len(outs))
			// Begin, the rows read, their update, the events, the webhooks, the messages, the
			// outbox rows, six counters (three types, two tags), commit.
			if want := int64(14); !rowByRow && stmts > want {
				t.Errorf("%d statements for %d outcomes, want at most %d", stmts, len(outs), want)
			}
			for i, ok := range applied {
				if want := i != 1 && i != 2 && i != 30; ok != want {
					t.Errorf("outcome %d applied=%v, want %v", i, ok, want)
				}
			}
			check := func(email, state string, code int, reply string, next int64, attempts int) {
				t.Helper()
				r, err := db.RecipientByID(ctx, byEmail[email].ID)
				if err != nil {
					t.Fatal(err)
				}
				if r.State != state || r.LastCode != code || r.LastReply != reply || (next >= 0 && r.NextAttemptAt != next) ||
					r.Attempts != attempts || (attempts > 0 && r.LeaseOwner != "") {
					t.Errorf("%s: %+v, want %s %d %q next %d attempts %d", email, r, state, code, reply, next, attempts)
				}
			}
			check("r0@r.test", storage.StateBounced, 550, "5.1.1 no such user", due, 1)
			check("r1@r.test", storage.StateCancelled, 0, "", -1, 0)
			check("r2@r.test", storage.StateSending, 0, "", -1, 0)
			check("r3@r.test", storage.StateDeferred, 451, "4.7.1 try later", later, 1)
			check("r4@r.test", storage.StateDelivered, 250, "2.0.0 queued as Q4", 0, 1)
			check("r29@r.test", storage.StateDelivered, 250, "2.0.0 queued as Q29", 0, 1)
			var delivered int
			for i, env := range envs {
				evs, err := db.MessageEvents(ctx, env.Message.ID)
				if err != nil {
					t.Fatal(err)
				}
				want := 2
				if i == 1 || i == 2 {
					want = 1
				}
				if len(evs) != want {
					t.Fatalf("message %d: events %+v", i, evs)
				}
				if want == 2 {
					ev := evs[1]
					if ev.Type != outs[i].State || ev.Code != outs[i].Code || ev.Details != outs[i].Reply || ev.RecipientID != outs[i].Recipient.ID {
						t.Errorf("message %d: event %+v for outcome %+v", i, ev, outs[i])
					}
					if ev.Type == storage.EventDelivered {
						delivered++
					}
				}
			}
			var outbox int
			if err := raw.QueryRow("SELECT COUNT(*) FROM outbox o JOIN events e ON e.id = o.event_id AND e.type = 'delivered'").Scan(&outbox); err != nil {
				t.Fatal(err)
			}
			if outbox != delivered || delivered != 26 {
				t.Errorf("%d outbox rows for %d delivered events, want 26 each", outbox, delivered)
			}
		})
	}
}
