package app_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"gatewayd/app/apptest"
	"gatewayd/internal/testkit"
	"gatewayd/storage"
)

// BenchmarkWebhookDispatch measures how many events per second the webhook dispatcher
// delivers to one local receiver: BENCH_WEBHOOK_EVENTS (default 5000) delivered events are
// written (each makes an outbox row), then the dispatcher is started and timed until the
// receiver has them all. Run it with -benchtime 1x; `make bench` prints the figure.
func BenchmarkWebhookDispatch(b *testing.B) {
	n := testkit.EnvInt("BENCH_WEBHOOK_EVENTS", 5000)
	env := apptest.Start(b, nil)
	u := env.CreateUser("bench")
	d := env.AddDomain(u, "example.com")
	env.EnableDomain(d)
	var got atomic.Int64
	done := make(chan struct{})
	rc := newReceiver(&testing.T{}, nil)
	rc.respond = func(k int, w http.ResponseWriter) {
		if got.Add(1) == int64(n) {
			close(done)
		}
	}
	b.Cleanup(rc.Close)
	env.MustAPI(map[string]any{"Command": "emailgateway.addwebhook", "SessionID": u.SessionID, "DomainID": d,
		"Event": "delivery", "WebhookURL": rc.URL + "/hook"})
	m, rs, _ := env.Message(d, time.Now().Unix(), "news@example.com", []string{"jane@example.net"}, []string{"bench"}, "Bench")
	ctx := context.Background()
	for i := 0; i < n; i += 500 {
		var evs []*storage.Event
		for j := i; j < min(i+500, n); j++ {
			evs = append(evs, &storage.Event{DomainID: d, UserID: u.ID, MessageID: m.ID, RecipientID: rs[0].ID,
				Type: storage.EventDelivered, Email: rs[0].Email, Code: 250, Details: "2.0.0 OK", CreatedAt: time.Now().Unix()})
		}
		if err := env.Server.DB.ImportEvents(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	env.Server.StartWebhooks()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d webhooks delivered in 5 minutes", got.Load(), n)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(n), "events")
}

// BenchmarkDomainStats measures emailgateway.domainstats over HTTP on a domain whose rollups
// hold 1,000,000 events (a year of days, ten tags, written directly as rollups), for the
// default 28 days and for a whole year. It reports the median and 95th percentile.
func BenchmarkDomainStats(b *testing.B) {
	env := apptest.Start(b, nil)
	u := env.CreateUser("bench")
	d := env.AddDomain(u, "example.com")
	const events, days, tags = 1000000, 365, 10
	today := time.Now().UTC().Truncate(24 * time.Hour)
	var rows []storage.DailyRollup
	perDay := events / days
	var total int64
	for i := 0; i < days; i++ {
		t := today.AddDate(0, 0, -i)
		day := t.Year()*10000 + int(t.Month())*100 + t.Day()
		n := int64(perDay)
		if i == 0 {
			n += events - int64(perDay*days)
		}
		c := storage.Counts{Sent: n * 40 / 100, Delivered: n * 38 / 100, Bounced: n * 2 / 100, Opened: n * 12 / 100,
			Clicked: n * 5 / 100, Deferred: n * 2 / 100}
		c.Complained = n - c.Total()
		total += c.Total()
		rows = append(rows, storage.DailyRollup{DomainID: d, Day: day, Counts: c})
		for g := 0; g < tags; g++ {
			tc := storage.Counts{Sent: c.Sent / tags, Delivered: c.Delivered / tags, Bounced: c.Bounced / tags,
				Opened: c.Opened / tags, Clicked: c.Clicked / tags}
			rows = append(rows, storage.DailyRollup{DomainID: d, Day: day, Tag: fmt.Sprintf("tag%02d", g), Counts: tc})
		}
	}
	if total != events {
		b.Fatalf("rollups hold %d events", total)
	}
	if err := env.Server.DB.ImportRollups(context.Background(), rows); err != nil {
		b.Fatal(err)
	}
	for _, period := range []struct {
		name  string
		start string
	}{{"28d", ""}, {"365d", today.AddDate(0, 0, -(days - 1)).Format("2006-01-02")}} {
		b.Run(period.name, func(b *testing.B) {
			req := map[string]any{"Command": "emailgateway.domainstats", "SessionID": u.SessionID, "DomainID": d}
			if period.start != "" {
				req["StartDate"] = period.start
			}
			env.MustAPI(req) // warm up
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				env.MustAPI(req)
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
		})
	}
}
