package delivery_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gatewayd/relay/delivery"
	"gatewayd/relay/delivery/deliverytest"
	"gatewayd/relay/outbound"
	"gatewayd/relay/smtptest"
	"gatewayd/storage"
	"gatewayd/storage/storagetest"
)

func testLog() *slog.Logger {
	if os.Getenv("GATEWAY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func relayTo(t testing.TB, sink *smtptest.Server) *outbound.Route {
	host, port, _ := net.SplitHostPort(sink.Addr)
	p, _ := strconv.Atoi(port)
	return &outbound.Route{Host: host, Port: p, Encryption: outbound.EncryptionNone}
}

// engine makes an engine on db that relays to sink, stopped when the test ends.
func engine(t testing.TB, db *storage.DB, f *deliverytest.Fixture, sink *smtptest.Server, owner string, cfg delivery.Config) *delivery.Engine {
	cfg.Owner = owner
	if cfg.Poll == 0 {
		cfg.Poll = 100 * time.Millisecond
	}
	if cfg.RetryMin == 0 {
		cfg.RetryMin, cfg.RetryMax = time.Second, 2*time.Second
	}
	client := outbound.New(outbound.Config{HeloName: owner, DialTimeout: 5 * time.Second, CommandTimeout: 10 * time.Second, DataTimeout: 20 * time.Second})
	e := delivery.New(db, f.Keys, client, cfg, testLog())
	e.DefaultRelay = relayTo(t, sink)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.Stop(ctx)
	})
	return e
}

func messageID(t testing.TB, data []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("sink message does not parse: %v", err)
	}
	return m.Header.Get("Message-ID")
}

// A node that claimed rows and died keeps them only while its lease holds: then another
// node delivers them, once, and the dead node's late outcome no longer applies.
func TestLeaseExpiryAfterCrash(t *testing.T) {
	db := storagetest.Open(t)
	f := deliverytest.New(t, db, deliverytest.Keys(t), "lease", "lease.test")
	env := f.Send(t, "a@dest.test", "b@dest.test")
	ctx := context.Background()

	claimed, err := db.ClaimDue(ctx, "node-a", 10, 3*time.Second, 0)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claim by A: %d rows, %v", len(claimed), err)
	}
	for _, r := range claimed {
		if r.State != storage.StateSending || r.LeaseOwner != "node-a" {
			t.Fatalf("claimed row: %+v", r)
		}
	}
	// A second claim while the lease holds gets nothing.
	if again, err := db.ClaimDue(ctx, "node-c", 10, time.Minute, 0); err != nil || len(again) != 0 {
		t.Fatalf("claim during lease: %d rows, %v", len(again), err)
	}

	sink := smtptest.Start(t, smtptest.Options{})
	b := engine(t, db, f, sink, "node-b", delivery.Config{Workers: 2})
	b.Start()
	time.Sleep(time.Second)
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("node B delivered %d messages while A's lease held", n)
	}
	rows := deliverytest.WaitState(t, db, env, 10*time.Second, storage.StateDelivered)
	msgs := sink.WaitMessages(t, 2, 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	if n := len(sink.Messages()); n != 2 {
		t.Fatalf("sink has %d messages, want 2", n)
	}
	for _, m := range msgs {
		if m.Helo != "node-b" {
			t.Fatalf("delivered by %q, want node-b", m.Helo)
		}
	}
	for _, r := range rows {
		if r.LeaseOwner != "" || r.Attempts != 1 {
			t.Fatalf("delivered row: %+v", r)
		}
	}
	// A comes back and reports a deferral: it no longer holds the lease, nothing changes.
	late := []storage.Outcome{{Recipient: &claimed[0], State: storage.StateDeferred, Next: time.Now().Unix() + 60, Reply: "late"}}
	applied, err := db.RecordOutcomes(ctx, late)
	if err != nil || applied[0] {
		t.Fatalf("late outcome of the dead node applied=%v err=%v", applied, err)
	}
	r, _ := db.RecipientByID(ctx, claimed[0].ID)
	if r.State != storage.StateDelivered {
		t.Fatalf("row after late outcome: %s", r.State)
	}
	if n := countEvents(t, db, env.Message.ID, storage.EventDelivered); n != 2 {
		t.Fatalf("%d delivered events, want 2", n)
	}

	// While another node holds the row, the dead node's outcome does not apply either.
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b.Stop(sctx)
	env2 := f.Send(t, "c@dest.test")
	first, err := db.ClaimDue(ctx, "node-a", 10, time.Second, 0)
	if err != nil || len(first) != 1 {
		t.Fatalf("claim by A: %d rows, %v", len(first), err)
	}
	time.Sleep(2100 * time.Millisecond)
	second, err := db.ClaimDue(ctx, "node-c", 10, time.Minute, 0)
	if err != nil || len(second) != 1 || second[0].ID != first[0].ID {
		t.Fatalf("claim by C after A's lease expired: %d rows, %v", len(second), err)
	}
	applied, err = db.RecordOutcomes(ctx, []storage.Outcome{{Recipient: &first[0], State: storage.StateBounced, Code: 550, Reply: "late"}})
	if err != nil || applied[0] {
		t.Fatalf("A's outcome on C's row applied=%v err=%v", applied, err)
	}
	applied, err = db.RecordOutcomes(ctx, []storage.Outcome{{Recipient: &second[0], State: storage.StateDelivered, Code: 250, Reply: "ok"}})
	if err != nil || !applied[0] {
		t.Fatalf("C's outcome applied=%v err=%v", applied, err)
	}
	evs, _ := db.MessageEvents(ctx, env2.Message.ID)
	if len(evs) != 2 || evs[1].Type != storage.EventDelivered {
		t.Fatalf("events: %+v", evs)
	}
}

func countEvents(t testing.TB, db *storage.DB, messageID int64, typ string) int {
	t.Helper()
	n, err := db.CountEventsOfType(context.Background(), messageID, typ)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Two engines on two separate database handles (two nodes) share one queue: every
// recipient reaches the sink exactly once.
func TestTwoPoolsNoDuplicatesNoLosses(t *testing.T) {
	dsn := storagetest.DSN(t)
	open := func() *storage.DB {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := storage.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	db1, db2 := open(), open()
	if _, err := db1.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	f := deliverytest.New(t, db1, deliverytest.Keys(t), "pools", "pools.test")

	const messages = 2000
	var envs []*storage.Envelope
	want := map[string]bool{}
	for i := 0; i < messages; i++ {
		rcpts := []string{fmt.Sprintf("r%d@dest.test", i)}
		if i%10 == 0 {
			rcpts = append(rcpts, fmt.Sprintf("cc%d@other.test", i))
		}
		env := f.Envelope(rcpts...)
		for _, r := range rcpts {
			want["<"+env.Message.HeaderMessageID+"> "+r] = true
		}
		envs = append(envs, env)
	}
	f.Enqueue(t, envs...)

	sink := smtptest.Start(t, smtptest.Options{})
	a := engine(t, db1, f, sink, "node-a", delivery.Config{Workers: 8})
	b := engine(t, db2, f, sink, "node-b", delivery.Config{Workers: 8})
	start := time.Now()
	var wg sync.WaitGroup
	for _, e := range []*delivery.Engine{a, b} {
		wg.Go(e.Start)
	}
	wg.Wait()
	msgs := sink.WaitMessages(t, len(want), 3*time.Minute)
	elapsed := time.Since(start)
	time.Sleep(500 * time.Millisecond) // anything delivered twice would arrive by now

	got := map[string]int{}
	byNode := map[string]int{}
	for _, m := range sink.Messages() {
		if len(m.To) != 1 {
			t.Fatalf("a transaction carried %d recipients", len(m.To))
		}
		got[messageID(t, m.Data)+" "+m.To[0]]++
		byNode[m.Helo]++
	}
	for k, n := range got {
		if n != 1 {
			t.Errorf("%s delivered %d times", k, n)
		}
		if !want[k] {
			t.Errorf("unexpected delivery %s", k)
		}
	}
	for k := range want {
		if got[k] == 0 {
			t.Errorf("%s never delivered", k)
		}
	}
	if byNode["node-a"] == 0 || byNode["node-b"] == 0 {
		t.Errorf("one node did all the work: %v", byNode)
	}
	t.Logf("%s: %d recipients in %s (%.0f/s), by node %v", storagetest.Dialect(), len(msgs), elapsed.Round(time.Millisecond),
		float64(len(msgs))/elapsed.Seconds(), byNode)

	// The database agrees: every row delivered once, one delivered event each.
	deadline := time.Now().Add(30 * time.Second)
	for {
		counts, err := db1.QueueCounts(context.Background(), false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if counts[storage.StateDelivered] == int64(len(want)) && len(counts) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue after delivery: %v", counts)
		}
		time.Sleep(50 * time.Millisecond)
	}
	n, err := db1.CountEventsOfType(context.Background(), 0, storage.EventDelivered)
	if err != nil || n != len(want) {
		t.Fatalf("%d delivered events (%v), want %d", n, err, len(want))
	}
}

// Stop gives back what the node still holds: rows return to the queue, due, lease cleared.
func TestStopReleasesLeases(t *testing.T) {
	db := storagetest.Open(t)
	f := deliverytest.New(t, db, deliverytest.Keys(t), "stop", "stop.test")
	sink := smtptest.Start(t, smtptest.Options{Latency: 5 * time.Second})
	e := engine(t, db, f, sink, "node-stop", delivery.Config{Workers: 1, GroupSize: 10})
	env := f.Send(t, "a@dest.test", "b@dest.test", "c@dest.test")
	e.Start()
	deliverytest.WaitState(t, db, env, 5*time.Second, storage.StateSending)
	time.Sleep(200 * time.Millisecond) // the first DATA is in flight
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := db.RecipientsOf(context.Background(), env.Message.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.State != storage.StateQueued || r.LeaseOwner != "" || r.LeaseExpiresAt != 0 || r.NextAttemptAt > time.Now().Unix() {
			t.Fatalf("row after stop: %+v", r)
		}
	}
	if n := countEvents(t, db, env.Message.ID, storage.EventDeferred); n != 0 {
		t.Fatalf("an interrupted attempt recorded %d deferrals", n)
	}
}

// TestMessageOrDomainGone: a queued recipient whose sender domain row is gone bounces with
// 5.3.0 "sender domain no longer exists", one whose message is gone with "message is no
// longer stored"; neither reaches the sink, and another message still does.
func TestMessageOrDomainGone(t *testing.T) {
	dsn := storagetest.DSN(t)
	db := storagetest.OpenDSN(t, dsn)
	f := deliverytest.New(t, db, deliverytest.Keys(t), "gone", "gone.test")
	noDomain := f.Send(t, "a@dest.test")
	noMessage := f.Send(t, "b@dest.test")
	raw := storagetest.Raw(t, dsn)
	// The first message now names a domain that does not exist, and the second message's row
	// is gone (the API's removals take the queue along; a bare DELETE does not).
	other := deliverytest.New(t, db, f.Keys, "other", "other.test")
	if _, err := raw.Exec("UPDATE messages SET domain_id = ? WHERE id = ?", other.Domain.ID+1000, noDomain.Message.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("UPDATE recipients SET domain_id = ? WHERE message_id = ?", other.Domain.ID+1000, noDomain.Message.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("DELETE FROM messages WHERE id = ?", noMessage.Message.ID); err != nil {
		t.Fatal(err)
	}
	fine := other.Send(t, "c@dest.test")
	sink := smtptest.Start(t, smtptest.Options{})
	engine(t, db, f, sink, "node-a", delivery.Config{Workers: 2}).Start()
	deliverytest.WaitState(t, db, fine, 10*time.Second, storage.StateDelivered)
	for env, reply := range map[*storage.Envelope]string{noDomain: "sender domain no longer exists", noMessage: "message is no longer stored"} {
		rows := deliverytest.WaitState(t, db, env, 10*time.Second, storage.StateBounced)
		if r := rows[0]; r.LastCode != 0 || !strings.Contains(r.LastReply, "5.3.0 "+reply) {
			t.Errorf("%s: %+v, want bounced with 5.3.0 %q", r.Email, r, reply)
		}
	}
	if msgs := sink.Messages(); len(msgs) != 1 {
		t.Fatalf("sink has %d messages, want only c@dest.test's", len(msgs))
	}
}
