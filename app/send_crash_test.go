package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatewayd/internal/testkit"
	"gatewayd/relay/resolve/dnstest"
	"gatewayd/secret"
	"gatewayd/storage"
	"gatewayd/storage/storagetest"
)

// Nothing acknowledged is lost by a crash: the real gatewayd serve takes sends from several
// clients and is killed with SIGKILL right after the 25th 200; every acknowledged MessageID
// is then in the database with all its recipients. (SQLite file, and MariaDB when that is the
// dialect under test.)
func TestSendSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := testkit.BuildGatewayd(t)
	dsn := storagetest.DSN(t)
	secretHex := strings.Repeat("5a", 32)
	ctx := context.Background()

	// A user with an enabled domain and a sender key, written straight to the database.
	db, err := storage.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u := &storage.User{GroupID: 1, Username: "crash", Email: "crash@users.test", AccountStatus: "Enabled",
		ReputationLevel: "Trusted", Verified: true, TimeZone: "UTC", Language: "en"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	d := &storage.SenderDomain{UserID: u.ID, Name: "example.com", Status: storage.DomainEnabled}
	if err := db.CreateDomain(ctx, d, 0); err != nil {
		t.Fatal(err)
	}
	key := secret.Token("eg_live_", 32)
	if err := db.CreateDomainAPIKey(ctx, &storage.DomainAPIKey{DomainID: d.ID, UserID: u.ID, KeyHash: secret.Hash(key)}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	dns := dnstest.Start(t) // delivery lookups stay on loopback
	dir := t.TempDir()
	proc := testkit.Serve(t, bin,
		"GATEWAY_DB="+dsn, "GATEWAY_SMTP_ADDR=127.0.0.1:0",
		"GATEWAY_SECRET_KEY="+secretHex, "GATEWAY_SECRET_KEY_FILE="+filepath.Join(dir, "secret.key"),
		"GATEWAY_ADMIN_API_KEY=crash-admin", "GATEWAY_DNS_SERVER="+dns.Addr, "GATEWAY_MX_PORT=1",
		"GATEWAY_RATE_LIMIT=off", "GATEWAY_HOSTNAME=mx.gateway.test", "GATEWAY_LOG_LEVEL=error",
	)
	base := proc.URL

	const killAfter = 25
	var (
		mu    sync.Mutex
		acked []string
		once  sync.Once
		wg    sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				body, _ := json.Marshal(map[string]any{
					"Subject": fmt.Sprintf("crash %d/%d", w, i), "ContentType": "plain", "PlainContent": "Hi",
					"From": map[string]any{"email": "shop@example.com"},
					"To":   []any{map[string]any{"email": "a@example.net"}, map[string]any{"email": "b@example.net"}},
					"CC":   []any{map[string]any{"email": "c@example.org"}},
				})
				req, _ := http.NewRequest("POST", base+"/api/v1/email", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				res, err := client.Do(req)
				if err != nil {
					return // the server is gone: this request's fate is unknown, and not asserted
				}
				var ok struct{ MessageID string }
				json.NewDecoder(res.Body).Decode(&ok)
				res.Body.Close()
				if res.StatusCode != 200 || ok.MessageID == "" {
					t.Errorf("send answered %d", res.StatusCode)
					return
				}
				mu.Lock()
				acked = append(acked, ok.MessageID)
				n := len(acked)
				mu.Unlock()
				if n >= killAfter {
					once.Do(proc.Kill)
				}
			}
		}(w)
	}
	wg.Wait()
	once.Do(proc.Kill) // when every client stopped early
	if len(acked) < killAfter {
		t.Fatalf("only %d sends acknowledged before the kill", len(acked))
	}

	db, err = storage.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, id := range acked {
		m, err := db.MessageByUUID(ctx, id, u.ID)
		if err != nil {
			t.Fatalf("acknowledged message %s: %v", id, err)
		}
		rs, err := db.RecipientsOf(ctx, m.ID)
		if err != nil || len(rs) != 3 {
			t.Fatalf("acknowledged message %s has %d recipients (%v)", id, len(rs), err)
		}
		if !bytes.Contains(m.Raw, []byte("Subject: crash ")) {
			t.Fatalf("message %s raw is not the message", id)
		}
	}
	t.Logf("%d acknowledged sends, all committed (%s)", len(acked), storagetest.Dialect())
}
