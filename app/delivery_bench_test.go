package app_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatewayd/app/apptest"
	"gatewayd/commands"
	"gatewayd/config"
	"gatewayd/internal/testkit"
	"gatewayd/relay/smtptest"
	"gatewayd/storage"
)

// BenchmarkDeliveryEndToEnd measures messages per second from acceptance to a local SMTP
// sink: 16 clients submit BENCH_DELIVERY_MESSAGES (default 5000) one-recipient messages
// through the acceptance path (the one every surface uses: checks, group commit) while the
// delivery workers (GATEWAY_WORKERS, default here 16) sign them and relay them to an
// smtptest server (GATEWAY_DEFAULT_RELAY); the clock runs from the first submission until
// the sink holds every message. Run with -benchtime 1x (make bench does).
func BenchmarkDeliveryEndToEnd(b *testing.B) {
	n := testkit.EnvInt("BENCH_DELIVERY_MESSAGES", 5000)
	workers := testkit.EnvInt("BENCH_DELIVERY_WORKERS", 16)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		sink := smtptest.Start(b, smtptest.Options{})
		env := apptest.Start(b, func(cfg *config.Config) {
			cfg.DefaultRelay = "smtp://" + sink.Addr
			cfg.Workers = workers
		})
		ctx := context.Background()
		u := env.CreateUser(fmt.Sprintf("bench%d", i))
		id := env.AddDomain(u, "bench.test")
		env.EnableDomain(id)
		dom, _ := env.Server.DB.DomainByID(ctx, id, 0)
		user, _ := env.Server.DB.UserByID(ctx, u.ID)
		if err := env.Server.StartDelivery(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start, cpu0, stmts0 := time.Now(), testkit.CPUTime(), env.Server.DB.Statements()
		var next atomic.Int64
		var wg sync.WaitGroup
		var acceptErr atomic.Value
		for c := 0; c < 16; c++ {
			wg.Go(func() {
				for {
					k := next.Add(1)
					if k > int64(n) {
						return
					}
					mid := fmt.Sprintf("%d.%d@bench.test", i, k)
					to := fmt.Sprintf("r%d@dest.test", k)
					raw := "From: Bench <news@bench.test>\r\nTo: " + to + "\r\nSubject: Order " + strconv.FormatInt(k, 10) +
						"\r\nDate: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\nMessage-ID: <" + mid + ">\r\nMIME-Version: 1.0\r\n" +
						"Content-Type: text/plain; charset=utf-8\r\n\r\n" + benchBody
					_, err := env.Server.App.Accept(ctx, &commands.Submission{User: user, Domain: dom, Source: "api",
						MailFrom: "news@bench.test", Subject: "Order", Raw: []byte(raw), HeaderMessageID: mid,
						Recipients: []commands.Rcpt{{Email: to, Kind: "to"}}})
					if err != nil {
						acceptErr.Store(err)
						return
					}
				}
			})
		}
		wg.Wait()
		accepted := time.Since(start)
		if err := acceptErr.Load(); err != nil {
			b.Fatalf("accept: %v", err)
		}
		sink.WaitMessages(b, n, 10*time.Minute)
		elapsed := time.Since(start)
		b.StopTimer()
		cpu := testkit.CPUTime() - cpu0
		// Statements until every outcome is recorded (the polling's own are left out).
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			before := env.Server.DB.Statements()
			left, err := env.Server.DB.QueueCounts(ctx, true, nil)
			stmts0 += env.Server.DB.Statements() - before
			if err == nil && left[storage.StateSending]+left[storage.StateQueued] == 0 {
				break
			}
		}
		b.ReportMetric(float64(n), "messages")
		b.ReportMetric(float64(n)/accepted.Seconds(), "accepted/s")
		b.ReportMetric(float64(n)/elapsed.Seconds(), "delivered/s")
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(n), "cpu-ms/msg")
		b.ReportMetric(float64(env.Server.DB.Statements()-stmts0)/float64(n), "stmts/msg")
	}
}

// benchBody is about 1 kB of text.
var benchBody = func() string {
	s := ""
	for len(s) < 1000 {
		s += "Thank you for your order. It will be on its way shortly.\r\n"
	}
	return s
}()
