package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// HTTPResult is what `loadgen http` prints, as one JSON line.
type HTTPResult struct {
	Requests int     `json:"requests"`
	OK       int     `json:"ok"`
	Errors   int     `json:"errors"`
	Seconds  float64 `json:"seconds"`
	Rate     float64 `json:"rate"` // ok answers per second
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	FirstErr string  `json:"first_error,omitempty"`
}

// cmdHTTP sends -n requests (stopping early after -d) or, without -n, sends for -d, from -c
// clients over keep-alive connections. A request is ok when it answers 200 and, with
// -expect, its body contains that text. {n} in the body is replaced by the request's sequence
// number (unique recipients, subjects). With -rate, requests are due at that many per second
// (open loop: request i is due at i/rate after the start, whatever the answers before it) and
// a latency runs from when the request was due, so time spent waiting for a free client
// counts too; without it each client sends its next request as soon as it has an answer.
func cmdHTTP(args []string) error {
	fs := flag.NewFlagSet("http", flag.ContinueOnError)
	url := fs.String("url", "", "target URL (loopback)")
	method := fs.String("method", "GET", "method")
	clients := fs.Int("c", 64, "concurrent clients")
	n := fs.Int("n", 0, "requests in all (0: run for -d)")
	dur := fs.Duration("d", 10*time.Second, "how long to run (with -n: at most)")
	body := fs.String("body", "", "request body; {n} is replaced by the request number")
	expect := fs.String("expect", "", "text an ok answer's body must contain")
	start := fs.Int("start", 0, "first request number")
	rate := fs.Float64("rate", 0, "requests due per second (0: each client as fast as it gets answers)")
	var headers headerFlags
	fs.Var(&headers, "H", "header 'Name: value' (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" {
		return errors.New("http: -url is required")
	}
	res := runHTTP(*url, *method, *body, *expect, headers, *clients, *n, *dur, *start, *rate)
	return json.NewEncoder(os.Stdout).Encode(res)
}

func runHTTP(url, method, body, expect string, headers []string, clients, n int, dur time.Duration, start int, rate float64) HTTPResult {
	tr := &http.Transport{MaxIdleConns: clients * 2, MaxIdleConnsPerHost: clients * 2, MaxConnsPerHost: clients * 2,
		DisableCompression: true, IdleConnTimeout: time.Minute}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	var (
		next     atomic.Int64
		ok, bad  atomic.Int64
		mu       sync.Mutex
		lat      = make([]time.Duration, 0, 1<<16)
		firstErr string
		wg       sync.WaitGroup
	)
	next.Store(int64(start))
	t0 := time.Now()
	deadline := t0.Add(dur)
	tmpl := strings.Contains(body, "{n}")
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 1024)
			defer func() { mu.Lock(); lat = append(lat, mine...); mu.Unlock() }()
			for {
				i := next.Add(1) - 1
				if n > 0 && i >= int64(start+n) || time.Now().After(deadline) {
					return
				}
				t := time.Now()
				if rate > 0 {
					t = t0.Add(time.Duration(float64(i-int64(start)) / rate * float64(time.Second)))
					if t.After(deadline) {
						return
					}
					time.Sleep(time.Until(t))
				}
				b := body
				if tmpl {
					b = strings.ReplaceAll(body, "{n}", strconv.FormatInt(i, 10))
				}
				req, err := http.NewRequest(method, url, bytes.NewReader([]byte(b)))
				if err != nil {
					panic(err)
				}
				for _, h := range headers {
					k, v, _ := strings.Cut(h, ":")
					req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
				}
				r, err := client.Do(req)
				var rb []byte
				if err == nil {
					rb, err = io.ReadAll(r.Body)
					r.Body.Close()
					if err == nil && (r.StatusCode != 200 || expect != "" && !bytes.Contains(rb, []byte(expect))) {
						err = fmt.Errorf("HTTP %d: %.200s", r.StatusCode, rb)
					}
				}
				if err != nil {
					bad.Add(1)
					mu.Lock()
					if firstErr == "" {
						firstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				mine = append(mine, time.Since(t))
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(t0).Seconds()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e6
	}
	return HTTPResult{Requests: int(ok.Load() + bad.Load()), OK: int(ok.Load()), Errors: int(bad.Load()), Seconds: el,
		Rate: float64(ok.Load()) / el, P50ms: pct(0.50), P99ms: pct(0.99), FirstErr: firstErr}
}
