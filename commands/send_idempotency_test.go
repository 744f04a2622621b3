package commands

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gatewayd/config"
	"gatewayd/dispatcher"
	"gatewayd/secret"
	"gatewayd/storage"
	"gatewayd/storage/storagetest"
)

// idemEnv is an App on a fresh database with one enabled domain and its sender key.
type idemEnv struct {
	a      *App
	reg    *dispatcher.Registry
	user   *storage.User
	domain *storage.SenderDomain
	key    *storage.DomainAPIKey
}

func newIdemEnv(t *testing.T) *idemEnv {
	t.Helper()
	ctx := context.Background()
	db := storagetest.Open(t)
	keys, err := secret.FromHex(strings.Repeat("cd", 32))
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	a := NewApp(db, keys, cfg, slog.New(slog.DiscardHandler))
	t.Cleanup(a.Close)
	u := &storage.User{GroupID: 1, Username: "alice", Email: "alice@users.test", AccountStatus: StatusEnabled,
		ReputationLevel: ReputationTrust, Verified: true, TimeZone: "UTC", Language: "en"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	d := &storage.SenderDomain{UserID: u.ID, Name: "example.com", Status: storage.DomainEnabled}
	if err := db.CreateDomain(ctx, d, 0); err != nil {
		t.Fatal(err)
	}
	k := &storage.DomainAPIKey{DomainID: d.ID, UserID: u.ID, KeyHash: secret.Hash("eg_live_test")}
	if err := db.CreateDomainAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	reg := dispatcher.NewRegistry()
	a.registerSend(reg)
	return &idemEnv{a: a, reg: reg, user: u, domain: d, key: k}
}

// call runs a command as the sender key with an Idempotency-Key.
func (e *idemEnv) call(t *testing.T, command, idemKey, body string) (json.RawMessage, error) {
	t.Helper()
	var tree map[string]any
	if err := json.Unmarshal([]byte(body), &tree); err != nil {
		t.Fatal(err)
	}
	cmd, _ := e.reg.Lookup(command)
	req := &dispatcher.Request{Command: cmd, Params: dispatcher.NewParams(tree),
		Principal: &dispatcher.Principal{Kind: dispatcher.PrincipalSender, UserID: e.user.ID, DomainID: e.domain.ID, KeyID: e.key.ID},
		Meta:      dispatcher.Meta{Header: map[string][]string{}}}
	if idemKey != "" {
		req.Meta.Header["Idempotency-Key"] = []string{idemKey}
	}
	res, err := cmd.Handler(context.Background(), req)
	if err != nil {
		return nil, err
	}
	return res.(json.RawMessage), nil
}

func (e *idemEnv) usage(t *testing.T) int64 {
	n, err := e.a.DB.MonthlyUsage(context.Background(), e.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A request that committed its message but never stored its answer (the process died in
// between) is answered, on retry with the same key, with that message: the retry waits for
// the first run, takes over, and finds the message by its derived UUID instead of sending it
// again.
func TestIdempotencyTakeoverAfterCrash(t *testing.T) {
	old := idemWait
	idemWait = 100 * time.Millisecond
	t.Cleanup(func() { idemWait = old })
	e := newIdemEnv(t)
	body := `{"Subject":"Hi","ContentType":"plain","PlainContent":"Hi","From":{"email":"a@example.com"},"To":[{"email":"b@example.net"}]}`
	first, err := e.call(t, "emailgateway.sendemail", "crash-1", body)
	if err != nil {
		t.Fatal(err)
	}
	// Back to "in progress", as if the answer had never been stored.
	if err := e.a.DB.Exec(context.Background(), "UPDATE idempotency_keys SET status = 0, response = ?", []byte{}); err != nil {
		t.Fatal(err)
	}
	again, err := e.call(t, "emailgateway.sendemail", "crash-1", body)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(first) || e.usage(t) != 1 {
		t.Fatalf("retry answered %s (first %s), usage %d", again, first, e.usage(t))
	}
	// The retry stored the answer: the next repeat is a plain replay.
	r, err := e.a.DB.IdempotentLookup(context.Background(), "send:"+itoa(e.key.ID), "crash-1")
	if err != nil || r.Status != idemAnswered || string(r.Response) != string(first) {
		t.Fatalf("stored answer %+v %v", r, err)
	}
}

// A GatewayAPI request that failed after some of its messages were committed is completed by
// a retry with the same key: the committed messages are found, only the rest are accepted.
func TestIdempotencyRetryAfterPartialFailure(t *testing.T) {
	e := newIdemEnv(t)
	body := `{"subject":"Hi %n","plaintext":"Hi %n","from":"a@example.com","tags":["%n"],
		"recipients":[{"address":"x@example.net","tagvalues":["X"]},{"address":"y@example.net","tagvalues":["Y"]}]}`
	first, err := e.call(t, "gatewayapi.email", "batch", body)
	if err != nil {
		t.Fatal(err)
	}
	var ans gatewayAPIAnswer
	json.Unmarshal(first, &ans)
	ctx := context.Background()
	ms, err := e.a.DB.RequestMessages(ctx, ans.IDs[0])
	if err != nil || len(ans.IDs) != 1 || len(ms) != 2 {
		t.Fatalf("answer %s, messages %+v %v", first, ms, err)
	}
	// Undo the second message and the stored answer: the state a failure of the second
	// acceptance leaves behind (the key is released on failure).
	for _, q := range []string{"DELETE FROM recipients WHERE message_id = ?", "DELETE FROM messages WHERE id = ?"} {
		if err := e.a.DB.Exec(ctx, q, ms[1].ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.a.DB.Exec(ctx, "DELETE FROM idempotency_keys"); err != nil {
		t.Fatal(err)
	}
	again, err := e.call(t, "gatewayapi.email", "batch", body)
	if err != nil {
		t.Fatal(err)
	}
	var ans2 gatewayAPIAnswer
	json.Unmarshal(again, &ans2)
	ms2, err := e.a.DB.RequestMessages(ctx, ans2.IDs[0])
	if err != nil || len(ans2.IDs) != 1 || ans2.IDs[0] != ans.IDs[0] || len(ms2) != 2 || ms2[0].ID != ms[0].ID || ms2[1].ID == ms[1].ID {
		t.Fatalf("retry ids %v (messages %+v), first %v: want the first kept and the second made again", ans2.IDs, ms2, ans.IDs)
	}
	if m := ms2[1]; !strings.Contains(string(m.Raw), "Hi Y") {
		t.Fatalf("second message %s", m.Raw)
	}
	// Three recipients were ever accepted (x, y, y again): x was not sent twice.
	if n := e.usage(t); n != 3 {
		t.Fatalf("usage %d, want 3", n)
	}
}

// Derived UUIDs differ by key, request and index, and look like UUIDs.
func TestMessageUUID(t *testing.T) {
	seed := []byte("seed")
	a := &idemCall{scope: "send:1", key: "k", hash: "h", seed: seed}
	b := &idemCall{scope: "send:1", key: "k", hash: "h2", seed: seed}
	c := &idemCall{scope: "send:2", key: "k", hash: "h", seed: seed}
	seen := map[string]bool{}
	for _, ic := range []*idemCall{a, b, c} {
		for i := 0; i < 3; i++ {
			u := ic.messageUUID(i)
			if len(u) != 36 || u[14] != '8' || seen[u] {
				t.Fatalf("uuid %s", u)
			}
			seen[u] = true
		}
	}
	if a.messageUUID(1) != a.messageUUID(1) {
		t.Fatal("not deterministic")
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// A storage failure while committing is retried with the same UUID: a trigger refuses every
// message insert until the test opens the gate, 40 ms into the send.
func TestAcceptRetriesStorageFailure(t *testing.T) {
	e := newIdemEnv(t)
	ctx := context.Background()
	stmts := []string{"CREATE TABLE gate (closed INTEGER NOT NULL)", "INSERT INTO gate (closed) VALUES (1)"}
	if e.a.DB.Dialect == storage.MySQL {
		stmts = append(stmts, `CREATE TRIGGER poison BEFORE INSERT ON messages FOR EACH ROW BEGIN
			IF (SELECT closed FROM gate) = 1 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'; END IF; END`)
	} else {
		stmts = append(stmts, `CREATE TRIGGER poison BEFORE INSERT ON messages WHEN (SELECT closed FROM gate) = 1
			BEGIN SELECT RAISE(ABORT, 'injected failure'); END`)
	}
	for _, q := range stmts {
		if err := e.a.DB.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	body := `{"Subject":"Hi","ContentType":"plain","PlainContent":"Hi","From":{"email":"a@example.com"},"To":[{"email":"b@example.net"}]}`
	go func() {
		time.Sleep(40 * time.Millisecond)
		e.a.DB.Exec(ctx, "UPDATE gate SET closed = 0")
	}()
	res, err := e.call(t, "emailgateway.sendemail", "", body)
	if err != nil {
		t.Fatalf("send failed although the failure was transient: %v", err)
	}
	var ans struct{ MessageID string }
	json.Unmarshal(res, &ans)
	if _, err := e.a.DB.MessageByUUID(ctx, ans.MessageID, e.user.ID); err != nil || e.usage(t) != 1 {
		t.Fatalf("message %s: %v, usage %d", ans.MessageID, err, e.usage(t))
	}
	// A failure that lasts gives up after the retries with an error (the internal error).
	if err := e.a.DB.Exec(ctx, "UPDATE gate SET closed = 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.call(t, "emailgateway.sendemail", "", body); err == nil || e.usage(t) != 1 {
		t.Fatalf("a lasting failure: %v, usage %d", err, e.usage(t))
	}
}
