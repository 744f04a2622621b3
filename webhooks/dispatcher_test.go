package webhooks

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatewayd/internal/netpolicy"
)

// memStore is an in-memory outbox.
type memStore struct {
	mu       sync.Mutex
	rows     map[int64]*memRow
	finished chan Result
	gone     []int64
}

type memRow struct {
	d      Delivery
	next   time.Time
	leased bool
	state  State
	last   Result
}

func newMemStore(ds ...Delivery) *memStore {
	s := &memStore{rows: map[int64]*memRow{}, finished: make(chan Result, 1000)}
	for _, d := range ds {
		d.Live = true
		s.rows[d.ID] = &memRow{d: d}
	}
	return s
}

func (s *memStore) due(now time.Time, busy []string) []*memRow {
	skip := map[string]bool{}
	for _, b := range busy {
		skip[b] = true
	}
	var out []*memRow
	for _, r := range s.rows {
		if r.state == 0 && !r.leased && !r.next.After(now) && !skip[r.d.Endpoint] {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].d.ID < out[j].d.ID })
	return out
}

func (s *memStore) Due(ctx context.Context, busy []string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.due(time.Now(), busy)) > 0, nil
}

func (s *memStore) Claim(ctx context.Context, owner string, n int, lease time.Duration, busy []string) ([]Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Delivery
	for _, r := range s.due(time.Now(), busy) {
		if len(out) == n {
			break
		}
		r.leased = true
		out = append(out, r.d)
	}
	return out, nil
}

func (s *memStore) Finish(ctx context.Context, owner string, done []Outcome) error {
	for _, o := range done {
		s.finish(o.Delivery, o.Result)
	}
	return nil
}

func (s *memStore) finish(d Delivery, r Result) {
	s.mu.Lock()
	row := s.rows[d.ID]
	row.leased = false
	row.d.Attempts++
	row.last = r
	if r.State == Retry {
		row.next = r.Next
	} else {
		row.state = r.State
	}
	s.mu.Unlock()
	s.finished <- r
}

func (s *memStore) Gone(ctx context.Context, owner string, d Delivery, r Result) error {
	s.mu.Lock()
	s.gone = append(s.gone, d.WebhookID)
	s.mu.Unlock()
	s.finish(d, r)
	return nil
}

func (s *memStore) Release(ctx context.Context, owner string, ids []int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		s.rows[id].leased = false
	}
	return nil
}

func (s *memStore) Prune(ctx context.Context, before time.Time) error { return nil }

func waitResults(t *testing.T, s *memStore, n int, within time.Duration) []Result {
	t.Helper()
	var out []Result
	deadline := time.After(within)
	for len(out) < n {
		select {
		case r := <-s.finished:
			out = append(out, r)
		case <-deadline:
			t.Fatalf("%d results after %v, want %d", len(out), within, n)
		}
	}
	return out
}

func start(t *testing.T, o Options) *Dispatcher {
	t.Helper()
	o.Client = netpolicy.Policy{AllowPrivate: true}.HTTPClient(5 * time.Second)
	o.Poll = 20 * time.Millisecond
	d := NewDispatcher(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

// A receiver that hangs does not hold up another: at most PerEndpoint requests go to it.
func TestPerEndpointLimit(t *testing.T) {
	release := make(chan struct{})
	var slowIn, slowMax atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := slowIn.Add(1)
		for {
			m := slowMax.Load()
			if n <= m || slowMax.CompareAndSwap(m, n) {
				break
			}
		}
		<-release
		slowIn.Add(-1)
	}))
	defer slow.Close()
	defer close(release)
	var fastHits atomic.Int32
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fastHits.Add(1) }))
	defer fast.Close()

	var ds []Delivery
	for i := 1; i <= 20; i++ {
		u := slow.URL
		if i > 10 {
			u = fast.URL
		}
		ds = append(ds, Delivery{ID: int64(i), Kind: KindWebhook, URL: u, Endpoint: u, Body: []byte(`{}`)})
	}
	s := newMemStore(ds...)
	start(t, Options{Store: s, Workers: 8, PerEndpoint: 4})
	res := waitResults(t, s, 10, 10*time.Second)
	for _, r := range res {
		if r.State != Delivered {
			t.Fatalf("fast receiver: %+v", r)
		}
	}
	if fastHits.Load() != 10 {
		t.Fatalf("fast receiver got %d requests, want 10", fastHits.Load())
	}
	// The slow receiver fills up to its limit and never beyond.
	deadline := time.Now().Add(5 * time.Second)
	for slowIn.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if got := slowMax.Load(); got != 4 {
		t.Fatalf("slow receiver had %d requests in flight at most, want 4", got)
	}
}

// A failing receiver is retried with the backoff, the same webhook-id each time, until it
// answers 2xx; Retry-After stretches the wait.
func TestRetryAndRetryAfter(t *testing.T) {
	var mu sync.Mutex
	var ids []string
	var at []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, r.Header.Get("webhook-id"))
		at = append(at, time.Now())
		switch len(ids) {
		case 1:
			w.WriteHeader(500)
		case 2:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	s := newMemStore(Delivery{ID: 7, Kind: KindWebhook, URL: srv.URL, Endpoint: srv.URL, Body: []byte(`{"a":1}`),
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
	start(t, Options{Store: s, RetryMin: 100 * time.Millisecond, RetryMax: 200 * time.Millisecond})
	res := waitResults(t, s, 3, 10*time.Second)
	if res[0].State != Retry || res[0].Status != 500 || res[1].State != Retry || res[1].Status != 503 || res[2].State != Delivered {
		t.Fatalf("results %+v", res)
	}
	for _, id := range ids {
		if id != "msg_7" {
			t.Fatalf("webhook-id %q, want msg_7 on every attempt", id)
		}
	}
	if gap := at[1].Sub(at[0]); gap < 80*time.Millisecond || gap > 2*time.Second {
		t.Fatalf("first retry after %v, want about 100 ms", gap)
	}
	if gap := at[2].Sub(at[1]); gap < 950*time.Millisecond {
		t.Fatalf("second retry after %v, want at least the 1 s of Retry-After", gap)
	}
}

// 410 Gone on a webhook removes it; a callback treats it as any other failure.
func TestGone(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(410) }))
	defer srv.Close()
	s := newMemStore(
		Delivery{ID: 1, Kind: KindWebhook, WebhookID: 42, URL: srv.URL, Endpoint: srv.URL},
		Delivery{ID: 2, Kind: KindCallback, URL: srv.URL, Endpoint: srv.URL},
	)
	start(t, Options{Store: s, CallbackSchedule: []time.Duration{time.Hour}})
	res := waitResults(t, s, 2, 10*time.Second)
	states := map[State]bool{res[0].State: true, res[1].State: true}
	if !states[Dropped] || !states[Retry] {
		t.Fatalf("results %+v, want one dropped webhook and one retried callback", res)
	}
	if len(s.gone) != 1 || s.gone[0] != 42 {
		t.Fatalf("gone webhooks %v, want [42]", s.gone)
	}
}

// Callbacks follow their fixed schedule and give up after the last step; webhooks give up
// after WebhookAttempts.
func TestScheduleEnds(t *testing.T) {
	d := NewDispatcher(Options{Store: newMemStore(), CallbackSchedule: []time.Duration{time.Minute, time.Hour},
		RetryMin: time.Second, RetryMax: 8 * time.Second, WebhookAttempts: 5})
	now := time.Now()
	cb := Delivery{Kind: KindCallback}
	for n, want := range []time.Duration{time.Minute, time.Hour} {
		cb.Attempts = n
		r := d.retry(cb, 500, "x", 0)
		if r.State != Retry || r.Next.Sub(now) < want || r.Next.Sub(now) > want+time.Second {
			t.Fatalf("callback attempt %d: %+v, want retry after %v", n+1, r, want)
		}
	}
	cb.Attempts = 2
	if r := d.retry(cb, 500, "x", 0); r.State != Failed {
		t.Fatalf("callback after the schedule: %+v", r)
	}
	wh := Delivery{Kind: KindWebhook, Attempts: 3}
	if r := d.retry(wh, 500, "x", 0); r.State != Retry {
		t.Fatalf("webhook attempt 4: %+v", r)
	}
	wh.Attempts = 4
	if r := d.retry(wh, 500, "x", 0); r.State != Failed {
		t.Fatalf("webhook attempt 5 of 5: %+v", r)
	}
}

func TestBackoff(t *testing.T) {
	for n := 1; n <= 20; n++ {
		want := 30 * time.Second << (n - 1)
		if n > 11 || want > 12*time.Hour {
			want = 12 * time.Hour
		}
		for i := 0; i < 50; i++ {
			got := Backoff(30*time.Second, 12*time.Hour, n)
			if got > 12*time.Hour || float64(got) < 0.8*float64(want)-1 || float64(got) > 1.2*float64(want)+1 {
				t.Fatalf("Backoff(%d) = %v, want %v ±20%% (at most 12h)", n, got, want)
			}
		}
	}
	// With the defaults, 17 attempts span about three days.
	var total time.Duration
	for n := 1; n < 17; n++ {
		total += min(30*time.Second<<(n-1), 12*time.Hour)
	}
	if total < 60*time.Hour || total > 84*time.Hour {
		t.Fatalf("17 attempts span %v, want about 72h", total)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		"-3":                            0,
		"soon":                          0,
		"Mon, 01 Jan 2024 00:01:00 GMT": time.Minute,
		"Sun, 31 Dec 2023 00:00:00 GMT": 0,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}
