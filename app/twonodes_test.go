package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"gatewayd/internal/testkit"
	"gatewayd/relay/delivery/deliverytest"
	"gatewayd/secret"
	"gatewayd/storage"
	"gatewayd/storage/storagetest"
)

// TestTwoNodes runs two real `gatewayd serve` processes on one MariaDB/MySQL database under
// load: while both live, every message reaches the sink exactly once and both nodes deliver
// some of it (each EHLOs with its own name); then one node is SIGKILLed in the middle of the
// second batch, and the survivor delivers everything that is left once the dead node's
// leases (GATEWAY_DELIVERY_LEASE, 6 s here) run out. TWONODES_MESSAGES (default 300) sets the
// size; make soak runs it with 3000. SQLite is single-node by design, so it is skipped there.
func TestTwoNodes(t *testing.T) {
	if storagetest.Dialect() != "mysql" {
		t.Skip("two nodes share a MySQL/MariaDB database; SQLite is single-node by design (run with GATEWAY_TEST_DB=mysql://...)")
	}
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	total := 300
	if v, err := strconv.Atoi(os.Getenv("TWONODES_MESSAGES")); err == nil && v >= 30 {
		total = v
	}
	first := total * 2 / 3
	bin := testkit.BuildGatewayd(t)
	dsn := storagetest.DSN(t)
	ctx := context.Background()

	db, err := storage.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	f := deliverytest.New(t, db, deliverytest.Keys(t), "twonodes", "twonodes.example")
	key := secret.Token("eg_live_", 32)
	if err := db.CreateDomainAPIKey(ctx, &storage.DomainAPIKey{DomainID: f.Domain.ID, UserID: f.User.ID, KeyHash: secret.Hash(key)}); err != nil {
		t.Fatal(err)
	}

	sink := startNodeSink(t)
	a := startNode(t, bin, dsn, "node-a.gateway.test", sink.addr)
	b := startNode(t, bin, dsn, "node-b.gateway.test", sink.addr)
	nodes := []*gatewayNode{a, b}

	// Phase 1: both nodes live. Senders alternate between them, so both engines are woken.
	acked := sendMany(t, nodes, key, "one", 0, first)
	if acked != first {
		t.Fatalf("phase 1: %d of %d sends acknowledged", acked, first)
	}
	sink.wait(t, "one-", first, 2*time.Minute)
	dups, byNode := sink.report("one-")
	if dups > 0 {
		t.Errorf("phase 1, both nodes live: %d messages delivered more than once; want exactly once", dups)
	}
	if byNode[a.name] == 0 || byNode[b.name] == 0 {
		t.Errorf("phase 1: deliveries per node %v; want both nodes delivering", byNode)
	}
	t.Logf("twonodes: phase 1, %d messages, both nodes live: %d redelivered (want 0); %s delivered %d, %s %d",
		first, dups, a.name, byNode[a.name], b.name, byNode[b.name])

	// Phase 2: a slow next hop keeps attempts in flight; node A is killed when a tenth of the
	// batch has arrived, holding leases; node B must finish the batch.
	second := total - first
	sink.setDelay(100 * time.Millisecond)
	if got := sendMany(t, nodes, key, "two", 0, second); got != second {
		t.Fatalf("phase 2: %d of %d sends acknowledged", got, second)
	}
	sink.wait(t, "two-", max(second/10, 1), time.Minute)
	a.Kill()
	held, err := db.QueueCounts(ctx, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	sink.setDelay(0)
	sink.wait(t, "two-", second, 2*time.Minute)
	dups2, byNode2 := sink.report("two-")
	t.Logf("twonodes: phase 2, %d messages, %s SIGKILLed with %d rows sending: %s finished in %.1f s after the kill; %d redelivered (at-least-once), per node %v",
		second, a.name, held[storage.StateSending], b.name, time.Since(killedAt).Seconds(), dups2, byNode2)

	// Every row ends delivered (rows the dead node had sent but not yet recorded are sent
	// again once its leases run out), none is left leased, and the survivor stops cleanly.
	deadline := time.Now().Add(time.Minute)
	for {
		counts, err := db.QueueCounts(ctx, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if counts[storage.StateDelivered] == int64(total) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue a minute after the last message arrived: %v; want %d delivered", counts, total)
		}
		time.Sleep(100 * time.Millisecond)
	}
	dups2, _ = sink.report("two-")
	t.Logf("twonodes: every row delivered %.1f s after the kill; %d redeliveries in all", time.Since(killedAt).Seconds(), dups2)
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
}

// gatewayNode is one running gatewayd process.
type gatewayNode struct {
	name string // its EHLO name
	*testkit.Process
}

// startNode starts one node; env overrides its settings (later values win).
func startNode(t *testing.T, bin, dsn, name, sinkAddr string, env ...string) *gatewayNode {
	t.Helper()
	dir := t.TempDir()
	return &gatewayNode{name: name, Process: testkit.Serve(t, bin, append([]string{
		"GATEWAY_DB=" + dsn, "GATEWAY_SMTP_ADDR=127.0.0.1:0",
		"GATEWAY_SECRET_KEY=" + deliverytest.SecretHex, "GATEWAY_SECRET_KEY_FILE=" + filepath.Join(dir, "secret.key"),
		"GATEWAY_ADMIN_API_KEY=twonodes-admin", "GATEWAY_DEFAULT_RELAY=smtp://" + sinkAddr,
		"GATEWAY_DNS_SERVER=127.0.0.1:9", "GATEWAY_HOSTNAME=" + name, "GATEWAY_LOG_LEVEL=warn",
		"GATEWAY_RATE_LIMIT=off", "GATEWAY_WORKERS=4", "GATEWAY_DELIVERY_LEASE=6s",
		"GATEWAY_RETRY_MIN=1s", "GATEWAY_RETRY_MAX=2s"}, env...)...,
	)}
}

// sendMany sends count one-recipient messages (<prefix>-<i>@dest.test) from 8 clients over
// /api/v1/email, alternating between the nodes, and returns how many were acknowledged.
func sendMany(t *testing.T, nodes []*gatewayNode, key, prefix string, from, count int) int {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked int
		next  = from
	)
	client := &http.Client{Timeout: 30 * time.Second}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= from+count {
					return
				}
				body, _ := json.Marshal(map[string]any{
					"Subject": fmt.Sprintf("two nodes %s %d", prefix, i), "ContentType": "plain", "PlainContent": "Hello.",
					"From": map[string]any{"email": "app@twonodes.example"},
					"To":   []any{map[string]any{"email": fmt.Sprintf("%s-%d@dest.test", prefix, i)}},
				})
				req, _ := http.NewRequest("POST", nodes[i%len(nodes)].URL+"/api/v1/email", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				res, err := client.Do(req)
				if err != nil {
					t.Errorf("send %d: %v", i, err)
					return
				}
				var ok struct{ MessageID string }
				b, _ := io.ReadAll(res.Body)
				json.Unmarshal(b, &ok)
				res.Body.Close()
				if res.StatusCode != 200 || ok.MessageID == "" {
					t.Errorf("send %d answered %d without a MessageID: %.300s", i, res.StatusCode, b)
					return
				}
				mu.Lock()
				acked++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return acked
}

// nodeSink is an SMTP server that counts deliveries per recipient and per EHLO name.
type nodeSink struct {
	addr  string
	mu    sync.Mutex
	seen  map[string]int
	helo  map[string]string // recipient -> EHLO name of its first delivery
	delay time.Duration
}

func startNodeSink(t *testing.T) *nodeSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &nodeSink{addr: ln.Addr().String(), seen: map[string]int{}, helo: map[string]string{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &nodeSinkSession{s: s, c: c}, nil }))
	srv.Domain = "sink.test"
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	srv.ErrorLog = discardLog{}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Println(...any)        {}

func (s *nodeSink) setDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// wait waits until n distinct recipients starting with prefix have arrived.
func (s *nodeSink) wait(t *testing.T, prefix string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := 0
		s.mu.Lock()
		for r := range s.seen {
			if strings.HasPrefix(r, prefix) {
				got++
			}
		}
		s.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d %s* messages reached the sink within %s", got, n, prefix, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// report returns the redeliveries among recipients starting with prefix and the number of
// recipients each node delivered first.
func (s *nodeSink) report(prefix string) (dups int, byNode map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byNode = map[string]int{}
	for r, c := range s.seen {
		if strings.HasPrefix(r, prefix) {
			dups += c - 1
			byNode[s.helo[r]]++
		}
	}
	return dups, byNode
}

type nodeSinkSession struct {
	s  *nodeSink
	c  *smtp.Conn
	to []string
}

func (ss *nodeSinkSession) Reset()                               { ss.to = nil }
func (ss *nodeSinkSession) Logout() error                        { return nil }
func (ss *nodeSinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *nodeSinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, strings.ToLower(to))
	return nil
}

func (ss *nodeSinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	ss.s.mu.Lock()
	d := ss.s.delay
	ss.s.mu.Unlock()
	time.Sleep(d)
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	for _, to := range ss.to {
		if ss.s.seen[to] == 0 {
			ss.s.helo[to] = ss.c.Hostname()
		}
		ss.s.seen[to]++
	}
	return nil
}
