package delivery_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"gatewayd/internal/testkit"
	"gatewayd/relay/delivery/deliverytest"
	"gatewayd/storage"
	"gatewayd/storage/storagetest"
)

// BenchmarkQueueDrain measures the real gatewayd binary (built from cmd/gatewayd) starting on
// a database that already holds BENCH_QUEUE_MESSAGES (default 100,000) queued one-recipient
// messages and delivering them to a counting SMTP sink through GATEWAY_DEFAULT_RELAY: its
// peak resident memory (VmHWM) and the drain rate. The run stops when every message has
// arrived or after BENCH_QUEUE_SECONDS (default 120), whichever comes first; then gatewayd
// gets SIGTERM and must stop cleanly. Run with -benchtime 1x (make bench does).
func BenchmarkQueueDrain(b *testing.B) {
	n := testkit.EnvInt("BENCH_QUEUE_MESSAGES", 100000)
	window := time.Duration(testkit.EnvInt("BENCH_QUEUE_SECONDS", 120)) * time.Second
	workers := testkit.EnvInt("BENCH_DELIVERY_WORKERS", 16)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		bin := testkit.BuildGatewayd(b)
		dsn := storagetest.DSN(b)
		ctx := context.Background()
		db, err := storage.Open(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		f := deliverytest.New(b, db, deliverytest.Keys(b), "drain", "drain.test")
		seedStart := time.Now()
		for done := 0; done < n; {
			batch := make([]*storage.Envelope, 0, 1000)
			for ; done < n && len(batch) < cap(batch); done++ {
				batch = append(batch, f.Envelope(fmt.Sprintf("r%d@dest.test", done)))
			}
			f.Enqueue(b, batch...)
		}
		seed := time.Since(seedStart)
		db.Close()

		sink := startCountingSink(b)
		dir := b.TempDir()
		httpAddr := testkit.FreeAddr(b)
		cmd := exec.Command(bin, "serve")
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
			"GATEWAY_DB=" + dsn, "GATEWAY_HTTP_ADDR=" + httpAddr, "GATEWAY_SMTP_ADDR=127.0.0.1:0",
			"GATEWAY_SECRET_KEY=" + deliverytest.SecretHex, "GATEWAY_SECRET_KEY_FILE=" + filepath.Join(dir, "secret.key"),
			"GATEWAY_ADMIN_API_KEY=bench-admin", "GATEWAY_DEFAULT_RELAY=smtp://" + sink.addr,
			"GATEWAY_DNS_SERVER=127.0.0.1:9", "GATEWAY_WORKERS=" + strconv.Itoa(workers),
			"GATEWAY_HOSTNAME=bench.gateway.test", "GATEWAY_LOG_LEVEL=error",
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b.StartTimer()
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		pid := cmd.Process.Pid
		var peakRSS int64
		deadline := start.Add(window)
		for sink.count() < n && time.Now().Before(deadline) {
			select {
			case <-exited:
				b.Fatalf("gatewayd exited: %s", stderr.String())
			case <-time.After(100 * time.Millisecond):
			}
			if rss := procStatus(pid, "VmRSS"); rss > peakRSS {
				peakRSS = rss
			}
		}
		elapsed := time.Since(start)
		delivered := sink.count()
		hwm := procStatus(pid, "VmHWM")
		b.StopTimer()
		ready := httpReady(httpAddr)
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			b.Fatalf("gatewayd did not stop within 60 s of SIGTERM")
		}
		if dups := sink.duplicates(); dups > 0 {
			b.Fatalf("%d messages delivered twice", dups)
		}
		if !ready {
			b.Logf("note: /healthz did not answer during the run")
		}
		db2, err := storage.Open(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		counts, _ := db2.QueueCounts(ctx, false, nil)
		db2.Close()
		if counts[storage.StateSending] != 0 {
			b.Fatalf("leases left after a graceful stop: %v", counts)
		}
		b.ReportMetric(float64(n), "queued")
		b.ReportMetric(float64(delivered), "delivered")
		b.ReportMetric(float64(delivered)/elapsed.Seconds(), "msgs/s")
		b.ReportMetric(float64(max(hwm, peakRSS))/1024, "peak-rss-MiB")
		b.ReportMetric(seed.Seconds(), "seed-s")
	}
}

// procStatus reads a kB field of /proc/<pid>/status (0 when unavailable).
func procStatus(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func httpReady(addr string) bool {
	c := http.Client{Timeout: 5 * time.Second}
	r, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		return false
	}
	r.Body.Close()
	return r.StatusCode == 200
}

// countingSink is an SMTP server that keeps only how often each recipient arrived.
type countingSink struct {
	addr string
	mu   sync.Mutex
	seen map[string]int
	n    int
}

func startCountingSink(t testing.TB) *countingSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &countingSink{addr: ln.Addr().String(), seen: map[string]int{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &countingSession{s: s}, nil }))
	srv.Domain = "sink.test"
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *countingSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *countingSink) duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := 0
	for _, c := range s.seen {
		d += c - 1
	}
	return d
}

type countingSession struct {
	s  *countingSink
	to []string
}

func (c *countingSession) Reset()                               { c.to = nil }
func (c *countingSession) Logout() error                        { return nil }
func (c *countingSession) Mail(string, *smtp.MailOptions) error { return nil }
func (c *countingSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	c.to = append(c.to, to)
	return nil
}
func (c *countingSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	c.s.mu.Lock()
	for _, to := range c.to {
		c.s.seen[to]++
		c.s.n++
	}
	c.s.mu.Unlock()
	return nil
}
