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
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"gatewayd/app/apptest"
	"gatewayd/config"
	"gatewayd/internal/testkit"
)

// BenchmarkListSend measures a full-list send (GATEWAY_SENDEMAIL_FULL_LIST=true) of a
// personalized template (subject, HTML and text filled with two custom fields, the address
// and the unsubscribe and web view links) to BENCH_LIST_SUBSCRIBERS (default 100,000)
// subscribers imported through subscribers.import.post, with one POST /api/v1/email
// (TemplateID + TargetListID): accepted recipients per second. The reference, in the same
// run on the same server: BENCH_SINGLE_SENDS (default 2,000) single-recipient sends through
// POST /api/v1/email from one client and from eight, as recipients per second; the ratios
// are list recipients/s divided by each. Then the delivery workers start and drain the
// queue to a counting SMTP sink (at most BENCH_DRAIN_SECONDS, default 600), with the
// process's resident set (VmRSS; the server runs in the test process) sampled every second.
// Run it with -benchtime 1x; `make bench` prints the figures.
func BenchmarkListSend(b *testing.B) {
	n := testkit.EnvInt("BENCH_LIST_SUBSCRIBERS", 100000)
	singles := testkit.EnvInt("BENCH_SINGLE_SENDS", 2000)
	drainFor := time.Duration(testkit.EnvInt("BENCH_DRAIN_SECONDS", 600)) * time.Second
	sink := startCountSink(b)
	env := apptest.Start(b, func(c *config.Config) {
		c.SendEmailFullList = true
		c.DefaultRelay = "smtp://" + sink.addr
		c.Workers = testkit.EnvInt("BENCH_DELIVERY_WORKERS", 16)
	})
	s := newBenchSender(b, env)
	list, tpl := benchAudience(b, env, s.user.SessionID, n)

	post := func(c *http.Client, body []byte) ([]byte, error) {
		req, _ := http.NewRequest("POST", env.URL+"/api/v1/email", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+s.key)
		req.Header.Set("Content-Type", "application/json")
		res, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !bytes.HasPrefix(out, []byte(`{"MessageID":`)) {
			return nil, fmt.Errorf("send: %d %.300s", res.StatusCode, out)
		}
		return out, nil
	}
	single, _ := json.Marshal(map[string]any{"From": map[string]any{"name": "Shop", "email": "news@bench.test"},
		"To": []any{map[string]any{"email": "jane@dest.test"}}, "Subject": "Hello %Subscriber:EmailAddress%",
		"ContentType": "html", "HTMLContent": "<p>Hi, your order is on its way.</p>", "PlainContent": "Hi, your order is on its way."})
	rate := func(clients int) float64 {
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients + 2}}
		defer c.CloseIdleConnections()
		var next atomic.Int64
		var failed atomic.Value
		done := make(chan struct{}, clients)
		start := time.Now()
		for i := 0; i < clients; i++ {
			go func() {
				defer func() { done <- struct{}{} }()
				for next.Add(1) <= int64(singles) {
					if _, err := post(c, single); err != nil {
						failed.Store(err)
						return
					}
				}
			}()
		}
		for i := 0; i < clients; i++ {
			<-done
		}
		if err, _ := failed.Load().(error); err != nil {
			b.Fatal(err)
		}
		return float64(singles) / time.Since(start).Seconds()
	}

	for i := 0; i < b.N; i++ {
		one, eight := rate(1), rate(8)
		rss0 := selfStatus(b, "VmRSS")
		start := time.Now()
		out, err := post(&http.Client{}, []byte(fmt.Sprintf(`{"From":{"name":"Shop","email":"news@bench.test"},"TemplateID":%d,"TargetListID":%d}`, tpl, list)))
		if err != nil {
			b.Fatal(err)
		}
		listTime := time.Since(start)
		var ok struct{ MessageID []string }
		if err := json.Unmarshal(out, &ok); err != nil || len(ok.MessageID) != n {
			b.Fatalf("list send: %d MessageIDs, want %d (%v)", len(ok.MessageID), n, err)
		}
		perSec := float64(n) / listTime.Seconds()
		rssAfterSend := selfStatus(b, "VmRSS")

		// Drain: every queued message (the singles too) to the sink, RSS sampled each second.
		want := n + 2*singles
		drainStart := time.Now()
		if err := env.Server.StartDelivery(); err != nil {
			b.Fatal(err)
		}
		var samples []int64
		for sink.n.Load() < int64(want) && time.Since(drainStart) < drainFor {
			time.Sleep(time.Second)
			samples = append(samples, selfStatus(b, "VmRSS"))
		}
		drained := sink.n.Load()
		drainTime := time.Since(drainStart)
		if drained < int64(want) {
			b.Logf("drain stopped after %s with %d of %d delivered", drainFor, drained, want)
		}
		lo, hi := samples[0], samples[0]
		var sum int64
		for _, v := range samples {
			lo, hi, sum = min(lo, v), max(hi, v), sum+v
		}
		// The second half of the drain against the first: flat means no growth with time.
		half := len(samples) / 2
		var first, second int64
		for k, v := range samples {
			if k < half {
				first += v
			} else {
				second += v
			}
		}
		mib := func(v int64) float64 { return float64(v) / (1 << 20) }
		var trace []string
		for k := 0; k < len(samples); k += max(1, len(samples)/12) {
			trace = append(trace, fmt.Sprintf("%.0f", mib(samples[k])))
		}
		b.Logf("RSS MiB every %ds of the drain: %s", max(1, len(samples)/12), strings.Join(trace, " "))
		b.ReportMetric(float64(n), "recipients")
		b.ReportMetric(perSec, "list-rcpt/s")
		b.ReportMetric(one, "single-1c-rcpt/s")
		b.ReportMetric(eight, "single-8c-rcpt/s")
		b.ReportMetric(perSec/one, "ratio-1c")
		b.ReportMetric(perSec/eight, "ratio-8c")
		b.ReportMetric(float64(drained)/drainTime.Seconds(), "drain-msgs/s")
		b.ReportMetric(float64(drained), "drained")
		b.ReportMetric(mib(rss0), "rss-before-MiB")
		b.ReportMetric(mib(rssAfterSend), "rss-after-send-MiB")
		b.ReportMetric(mib(lo), "drain-rss-min-MiB")
		b.ReportMetric(mib(hi), "drain-rss-max-MiB")
		if half > 0 {
			b.ReportMetric(mib(first/int64(half)), "drain-rss-avg1-MiB")
			b.ReportMetric(mib(second/int64(len(samples)-half)), "drain-rss-avg2-MiB")
		}
	}
}

// newBenchSender is a tenant with the Enabled domain bench.test and a sender key.
func newBenchSender(b *testing.B, env *apptest.Env) *sender {
	u := env.CreateUser("bench")
	id := env.AddDomain(u, "bench.test")
	env.EnableDomain(id)
	dom, err := env.Server.DB.DomainByID(context.Background(), id, 0)
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range env.Server.App.DomainRecords(dom) {
		if strings.Contains(r.Name, "._domainkey.") {
			env.DNS.AddTXT(r.Name, r.Value)
		}
	}
	return &sender{e: env, user: u, domain: id, key: env.SenderKey(id)}
}

// benchAudience imports n subscribers (address, first name, city) into a new list and
// makes a template that uses them; it returns the list and template ids.
func benchAudience(b *testing.B, env *apptest.Env, session string, n int) (list, tpl int64) {
	num := func(v any) int64 { x, _ := strconv.ParseInt(fmt.Sprint(v), 10, 64); return x }
	list = num(env.MustAPI(map[string]any{"Command": "list.create", "SessionID": session, "SubscriberListName": "Bench"})["ListID"])
	var fields []int64
	for _, f := range []string{"FirstName", "City"} {
		fields = append(fields, num(env.MustAPI(map[string]any{"Command": "customfield.create", "SessionID": session,
			"SubscriberListID": list, "FieldName": f, "FieldType": "Single line", "MergeTagAlias": f})["CustomFieldID"]))
	}
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "user%07d@dest.test,First%d,City%d\n", i, i, i%100)
	}
	res := env.MustAPI(map[string]any{"Command": "subscribers.import.post", "SessionID": session, "ListID": list,
		"AddToGlobalSuppressionList": false, "AddToSuppressionList": false, "UpdateDuplicates": false, "TriggerActions": false,
		"Tags": []string{}, "ImportFrom": map[string]any{"CSV": map[string]any{"Data": sb.String(), "FieldTerminator": ",",
			"FieldEncloser": `"`, "EscapedBy": `\`, "MappedFields": map[string]any{"FIELD1": "EmailAddress",
				"FIELD2": fields[0], "FIELD3": fields[1]}}}})
	for {
		st := env.MustAPI(map[string]any{"Command": "subscribers.import.get", "SessionID": session, "ListID": list, "ImportID": res["ImportID"]})
		job, _ := st["ImportJob"].(map[string]any)
		if s, _ := job["ImportStatus"].(string); s == "Completed" {
			if fmt.Sprint(job["TotalImported"]) != fmt.Sprint(n) {
				b.Fatalf("imported %v of %d", job["TotalImported"], n)
			}
			break
		} else if s == "Failed" {
			b.Fatalf("import failed: %v", job)
		}
		time.Sleep(100 * time.Millisecond)
	}
	tpl = num(env.MustAPI(map[string]any{"Command": "useremailtemplate.create", "SessionID": session, "EmailName": "Bench",
		"ContentType": "Both", "Subject": "Spring offers for %Subscriber:FirstName%",
		"HTMLContent": `<html><body><h1>Hi {{ Subscriber:FirstName | there }}</h1><p>News for %Subscriber:City% and %Subscriber:EmailAddress%.</p>` +
			`<p><a href="https://example.com/offers">See the offers</a></p><p><a href="%Link:WebBrowser%">View online</a> · <a href="%Link:Unsubscribe%">Unsubscribe</a></p></body></html>`,
		"PlainContent": "Hi %Subscriber:FirstName%, news for %Subscriber:City%.\nhttps://example.com/offers\nUnsubscribe: %Link:Unsubscribe%"})["EmailID"])
	return list, tpl
}

// countSink is an SMTP server that only counts the recipients of the messages it takes.
type countSink struct {
	addr string
	n    atomic.Int64
}

func startCountSink(b *testing.B) *countSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &countSink{addr: ln.Addr().String()}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &countSession{s: s}, nil }))
	srv.Domain = "sink.test"
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return s
}

type countSession struct {
	s     *countSink
	rcpts int64
}

func (c *countSession) Reset()                               { c.rcpts = 0 }
func (c *countSession) Logout() error                        { return nil }
func (c *countSession) Mail(string, *smtp.MailOptions) error { return nil }
func (c *countSession) Rcpt(string, *smtp.RcptOptions) error { c.rcpts++; return nil }
func (c *countSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	if err == nil {
		c.s.n.Add(c.rcpts)
	}
	return err
}

// selfStatus reads a size field (VmRSS, VmHWM) of /proc/self/status in bytes.
func selfStatus(b *testing.B, field string) int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}
