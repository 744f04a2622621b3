package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatewayd/app/apptest"
	"gatewayd/internal/testkit"
)

// benchClients are the concurrencies BenchmarkSend and BenchmarkHealthz measure.
var benchClients = []int{1, 8, 64}

// runClients sends b.N requests from n concurrent clients over keep-alive connections and
// reports the rate as unit ("sends/s", "req/s").
func runClients(b *testing.B, n int, unit string, do func(c *http.Client) error) {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: n + 4, MaxIdleConnsPerHost: n + 4, IdleConnTimeout: time.Minute,
	}}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	start, cpu0 := time.Now(), testkit.CPUTime()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := do(client); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), unit)
	b.ReportMetric(float64((testkit.CPUTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// BenchmarkSend measures accepted sends per second through POST /api/v1/email (validation,
// MIME, group commit) at 1, 8 and 64 concurrent clients, on the dialect under test
// (GATEWAY_TEST_DB). `make bench` prints the figures as a table.
func BenchmarkSend(b *testing.B) {
	e := apptest.Start(b, nil)
	u := e.CreateUser("bench")
	id := e.AddDomain(u, "example.com")
	e.EnableDomain(id)
	key := e.SenderKey(id)
	body, _ := json.Marshal(map[string]any{
		"Subject": "Your receipt", "ContentType": "html",
		"HTMLContent":  "<h1>Thanks</h1><p>Your order is on its way.</p>",
		"PlainContent": "Thanks. Your order is on its way.",
		"From":         map[string]any{"name": "Shop", "email": "shop@example.com"},
		"To":           []any{map[string]any{"name": "Jane", "email": "jane@example.net"}},
		"Tags":         []any{"receipt"},
	})
	for _, n := range benchClients {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			runClients(b, n, "sends/s", func(c *http.Client) error {
				req, _ := http.NewRequest("POST", e.URL+"/api/v1/email", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				res, err := c.Do(req)
				if err != nil {
					return err
				}
				out, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || !bytes.HasPrefix(out, []byte(`{"MessageID":`)) {
					return fmt.Errorf("send: %d %s", res.StatusCode, out)
				}
				return nil
			})
		})
	}
}

// BenchmarkHealthz is the reference for BenchmarkSend: GET /healthz (one database ping) on the
// same server stack and clients.
func BenchmarkHealthz(b *testing.B) {
	e := apptest.Start(b, nil)
	for _, n := range benchClients {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			runClients(b, n, "req/s", func(c *http.Client) error {
				res, err := c.Get(e.URL + "/healthz")
				if err != nil {
					return err
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					return fmt.Errorf("healthz: %d", res.StatusCode)
				}
				return nil
			})
		})
	}
}
