package app_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatewayd/app/apptest"
	"gatewayd/internal/testkit"
)

// BenchmarkImport measures subscribers.import.post: BENCH_IMPORT_ROWS (default 100,000)
// CSV rows with an address and three custom fields go to one list through the API, and the
// job is polled until Completed. It reports subscribers per second and the process's peak
// RSS (the server runs in the test process). Run it with -benchtime 1x; `make bench` prints
// the figures.
func BenchmarkImport(b *testing.B) {
	n := testkit.EnvInt("BENCH_IMPORT_ROWS", 100000)
	env := apptest.Start(b, nil)
	u := env.CreateUser("bench")
	l := env.MustAPI(map[string]any{"Command": "list.create", "SessionID": u.SessionID, "SubscriberListName": "Bench"})
	listID := l["ListID"]
	var fields []any
	for _, name := range []string{"First Name", "Last Name", "City"} {
		f := env.MustAPI(map[string]any{"Command": "customfield.create", "SessionID": u.SessionID, "SubscriberListID": listID,
			"FieldName": name, "FieldType": "Single line", "Visibility": "Public"})
		fields = append(fields, f["CustomFieldID"])
	}
	var sb strings.Builder
	sb.WriteString("email,first,last,city\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "user%07d@example.com,First%d,Last%d,City%d\n", i, i, i, i%100)
	}
	data := sb.String()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start, cpu0 := time.Now(), cpuTime()
		res := env.MustAPI(map[string]any{"Command": "subscribers.import.post", "SessionID": u.SessionID, "ListID": listID,
			"AddToGlobalSuppressionList": false, "AddToSuppressionList": false, "UpdateDuplicates": true, "TriggerActions": false,
			"Tags": []string{}, "ImportFrom": map[string]any{"CSV": map[string]any{"Data": data, "FieldTerminator": ",",
				"FieldEncloser": `"`, "EscapedBy": `\`, "MappedFields": map[string]any{"FIELD1": "EmailAddress",
					"FIELD2": fields[0], "FIELD3": fields[1], "FIELD4": fields[2]}}}})
		id := res["ImportID"]
		for {
			st := env.MustAPI(map[string]any{"Command": "subscribers.import.get", "SessionID": u.SessionID, "ListID": listID, "ImportID": id})
			job, _ := st["ImportJob"].(map[string]any)
			if s, _ := job["ImportStatus"].(string); s == "Completed" || s == "Failed" {
				if s == "Failed" {
					b.Fatalf("import failed: %v", job)
				}
				if i == 0 && fmt.Sprint(job["TotalImported"]) != fmt.Sprint(n) {
					b.Fatalf("imported %v of %d", job["TotalImported"], n)
				}
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		el := time.Since(start)
		b.ReportMetric(float64(n)/el.Seconds(), "subscribers/s")
		b.ReportMetric(float64(n)/(cpuTime()-cpu0).Seconds(), "subscribers/CPU-s")
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
}

// cpuTime is the CPU time (user and system) the process has used so far: on a loaded machine
// subscribers per CPU-second compare two runs better than per second of wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
