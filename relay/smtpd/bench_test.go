package smtpd_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"gatewayd/internal/testkit"
	"gatewayd/relay/smtpd"
)

// BenchmarkSubmission measures messages accepted (committed to the queue) per second over
// SMTP with 16 concurrent authenticated sessions, each sending one-recipient messages of
// about 1 kB through the real acceptance path and database of the dialect under test.
// It is the Go load generator of `make bench` (scripts/bench.sh) when smtp-source is missing.
func BenchmarkSubmission(b *testing.B) {
	const sessions = 16
	f := start(b, setup{opts: func(o *smtpd.Options) { o.MaxConns = 100 }})
	clients := make([]*client, sessions)
	for i := range clients {
		clients[i] = f.login(b)
	}
	body := message("bench@example.com", "rcpt@dest.test", "bench") + string(make1k())
	b.ResetTimer()
	start, cpu0, stmts0 := time.Now(), testkit.CPUTime(), f.env.Server.DB.Statements()
	var wg sync.WaitGroup
	work := make(chan int, b.N)
	for i := 0; i < b.N; i++ {
		work <- i
	}
	close(work)
	for _, c := range clients {
		wg.Add(1)
		go func(c *client) {
			defer wg.Done()
			for i := range work {
				c.send("MAIL FROM:<bench@example.com>")
				c.send("RCPT TO:<rcpt%d@dest.test>", i)
				c.send("DATA")
				for _, want := range []int{250, 250, 354} {
					if code, msg := c.read(); code != want {
						panic(fmt.Sprintf("reply %d %s, want %d", code, msg, want))
					}
				}
				c.write(body + ".\r\n")
				if code, msg := c.read(); code != 250 {
					panic(fmt.Sprintf("DATA: %d %s", code, msg))
				}
			}
		}(c)
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.ReportMetric(float64((testkit.CPUTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/msg")
	b.ReportMetric(float64(f.env.Server.DB.Statements()-stmts0)/float64(b.N), "stmts/msg")
}

func make1k() []byte {
	line := []byte("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n")
	var out []byte
	for len(out) < 1024 {
		out = append(out, line...)
	}
	return out
}
