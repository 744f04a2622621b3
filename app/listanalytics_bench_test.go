package app_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatewayd/app/apptest"
	"gatewayd/internal/testkit"
	"gatewayd/storage/storagetest"
)

// BenchmarkListReports measures the list analytics on a list of BENCH_REPORT_ROWS (default
// 100,000) subscribers at 50 domains, subscribed over two years, each sent one list message
// (an accepted event), a third of them with an open and a tenth with a click over the last
// 180 days. The rows are written with SQL (the import and send paths have their own
// benchmarks). It reports the milliseconds of each report command through api.php and the
// process's peak RSS (the server runs in the test process); run it with -benchtime 1x.
func BenchmarkListReports(b *testing.B) {
	n := testkit.EnvInt("BENCH_REPORT_ROWS", 100000)
	env := apptest.Start(b, nil)
	u := env.CreateUser("bench")
	l := env.MustAPI(map[string]any{"Command": "list.create", "SessionID": u.SessionID, "SubscriberListName": "Bench"})
	listID := l["ListID"]
	raw := storagetest.Raw(b, env.Cfg.DB)
	now := time.Now().Unix()
	const batch = 500
	for i := 0; i < n; i += batch {
		var sb strings.Builder
		var args []any
		sb.WriteString("INSERT INTO subscribers (list_id, user_id, email, status, bounce_type, subscription_date, source, fields, created_at, updated_at) VALUES ")
		for j := i; j < i+batch && j < n; j++ {
			if j > i {
				sb.WriteString(",")
			}
			sb.WriteString("(?, ?, ?, 'Subscribed', 'Not Bounced', ?, 'API', '{}', ?, ?)")
			joined := now - int64(j%730)*86400
			args = append(args, listID, u.ID, fmt.Sprintf("user%07d@d%02d.test", j, j%50), joined, joined, joined)
		}
		if _, err := raw.Exec(sb.String(), args...); err != nil {
			b.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO messages (uuid, domain_id, user_id, source, mail_from, subject, tags, raw, links, callback_url, created_at, list_id, subscriber_id)
			SELECT email, 1, user_id, 'api', 'news@bench.test', '', '', '', '', '', ?, list_id, id FROM subscribers WHERE list_id = ?`,
		`INSERT INTO events (domain_id, user_id, message_id, recipient_id, type, details, url, created_at)
			SELECT 1, user_id, id, id, 'accepted', '', '', created_at FROM messages WHERE list_id = ?`,
		`INSERT INTO events (domain_id, user_id, message_id, recipient_id, type, details, url, created_at)
			SELECT 1, user_id, id, id, 'opened', '', '', created_at - (id % 180) * 86400 - (id % 24) * 3600 FROM messages WHERE list_id = ? AND id % 3 = 0`,
		`INSERT INTO events (domain_id, user_id, message_id, recipient_id, type, details, url, created_at)
			SELECT 1, user_id, id, id, 'clicked', '', '', created_at - (id % 180) * 86400 - (id % 24) * 3600 FROM messages WHERE list_id = ? AND id % 10 = 0`,
	} {
		args := []any{listID}
		if strings.Contains(q, "INSERT INTO messages") {
			args = []any{now, listID}
		}
		if _, err := raw.Exec(q, args...); err != nil {
			b.Fatal(err)
		}
	}
	reports := []map[string]any{
		{"Command": "lists.stats"},
		{"Command": "list.getactivityseries", "Days": 365},
		{"Command": "list.getbouncetrend", "Weeks": 26},
		{"Command": "list.getengagementtiers"},
		{"Command": "list.getsendtimeheatmap", "Days": 365},
		{"Command": "list.getespbreakdown", "Event": "opens"},
		{"Command": "list.getsourcebreakdown"},
		{"Command": "list.gettenuredistribution"},
		{"Command": "list.getsubscriberstatusbreakdown"},
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, r := range reports {
			r["SessionID"], r["ListID"] = u.SessionID, listID
			start := time.Now()
			res := env.MustAPI(r)
			el := time.Since(start)
			if i == 0 && r["Command"] == "list.getengagementtiers" && fmt.Sprint(res["Total"]) == "0" {
				b.Fatalf("no tiers: %v", res)
			}
			b.ReportMetric(float64(el.Microseconds())/1000, strings.TrimPrefix(strings.TrimPrefix(r["Command"].(string), "list."), "lists.")+"-ms")
		}
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
}
