package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Delivery kinds.
const (
	KindWebhook  = "webhook"  // a domain webhook: 410 Gone removes it
	KindCallback = "callback" // a GatewayAPI status callback: fixed retry schedule
)

// Delivery is one outbox row as the dispatcher sees it.
type Delivery struct {
	ID        int64
	Kind      string
	WebhookID int64
	URL       string
	Endpoint  string // the receiver (scheme://host:port): the unit of the per-receiver limit
	Body      []byte
	Secret    string // whsec_ key; empty sends the request unsigned
	Attempts  int    // attempts made before this one
	CreatedAt time.Time
	// Live is false when the webhook was deleted after the row was written: the row is
	// dropped without a request.
	Live bool
}

// MessageID is the webhook-id header of a delivery: stable across its retries.
func (d Delivery) MessageID() string { return "msg_" + strconv.FormatInt(d.ID, 10) }

// State is where a delivery stands after an attempt.
type State uint8

const (
	Delivered State = iota + 1 // a 2xx answer
	Retry                      // try again at Result.Next
	Failed                     // retries exhausted
	Dropped                    // the webhook is gone (410, or deleted)
)

// Result is the outcome of one attempt.
type Result struct {
	State  State
	Status int    // HTTP status; 0 when there was no answer
	Error  string // what went wrong, for operators
	Next   time.Time
}

// Store is the outbox: the dispatcher claims rows with a lease, reports each attempt, and
// gives back rows it will not try. Implementations keep the rows in the database so
// deliveries survive restarts and several nodes share the work.
type Store interface {
	// Due reports cheaply whether any row outside busy endpoints may be claimed now.
	Due(ctx context.Context, busy []string) (bool, error)
	// Claim leases up to n due rows to owner, skipping rows of busy endpoints.
	Claim(ctx context.Context, owner string, n int, lease time.Duration, busy []string) ([]Delivery, error)
	// Finish records an attempt and releases the lease.
	Finish(ctx context.Context, owner string, d Delivery, r Result) error
	// Gone removes the webhook of d (its receiver answered 410) and drops its pending rows.
	Gone(ctx context.Context, owner string, d Delivery, r Result) error
	// Release gives leased rows back untried.
	Release(ctx context.Context, owner string, ids []int64) error
	// Prune deletes finished rows older than before.
	Prune(ctx context.Context, before time.Time) error
}

// DefaultCallbackSchedule is GatewayAPI's callback retry schedule: after the first attempt,
// 60 s, 120 s, 360 s, 24 min, 2 h and 12 h.
var DefaultCallbackSchedule = []time.Duration{time.Minute, 2 * time.Minute, 6 * time.Minute, 24 * time.Minute,
	2 * time.Hour, 12 * time.Hour}

// Options configure a Dispatcher. Zero values take the defaults noted.
type Options struct {
	Store  Store
	Client *http.Client // Policy.Client(DefaultTimeout) for production
	Owner  string       // lease owner: unique per process
	Log    *slog.Logger
	// Workers is how many deliveries run at once (32); PerEndpoint how many of them may go to
	// one receiver (4), so a slow receiver does not stall the others.
	Workers, PerEndpoint int
	Lease                time.Duration // 2 min: longer than a request may take
	Poll                 time.Duration // 500 ms: how often an idle dispatcher looks for work
	// RetryMin and RetryMax bound the webhook backoff: RetryMin doubling per attempt up to
	// RetryMax, with ±20% jitter. WebhookAttempts (17) ends it: with 30 s and 12 h that is
	// about three days.
	RetryMin, RetryMax time.Duration
	WebhookAttempts    int
	// CallbackSchedule is the delay before each callback retry (DefaultCallbackSchedule);
	// after the last, the callback fails.
	CallbackSchedule []time.Duration
	// MaxRetryAfter caps a receiver's Retry-After (24 h).
	MaxRetryAfter time.Duration
	UserAgent     string
	// OnResult, when set, sees every attempt (metrics).
	OnResult func(Delivery, Result)
	Now      func() time.Time
}

// Dispatcher delivers outbox rows: a claim loop, a bounded pool of in-flight requests with a
// per-receiver limit, Standard Webhooks signing, backoff, Retry-After, and 410 handling.
type Dispatcher struct {
	o        Options
	mu       sync.Mutex
	inflight int
	per      map[string]int
	wake     chan struct{}
	wg       sync.WaitGroup
}

// NewDispatcher fills the defaults of o.
func NewDispatcher(o Options) *Dispatcher {
	if o.Workers <= 0 {
		o.Workers = 32
	}
	if o.PerEndpoint <= 0 {
		o.PerEndpoint = 4
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 30 * time.Second
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = 12 * time.Hour
		if o.RetryMax < o.RetryMin {
			o.RetryMax = o.RetryMin
		}
	}
	if o.WebhookAttempts <= 0 {
		o.WebhookAttempts = 17
	}
	if o.CallbackSchedule == nil {
		o.CallbackSchedule = DefaultCallbackSchedule
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 24 * time.Hour
	}
	if o.UserAgent == "" {
		o.UserAgent = "gatewayd-webhooks/1"
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil {
		o.Client = Policy{}.Client(DefaultTimeout)
	}
	return &Dispatcher{o: o, per: map[string]int{}, wake: make(chan struct{}, 1)}
}

// Notify wakes the dispatcher to look for work now (after an event was committed).
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then cancels the requests in flight, gives their rows back
// and returns.
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		select {
		case <-ctx.Done():
			d.wg.Wait()
			return
		case <-d.wake:
		case <-t.C:
		}
		if now := d.o.Now(); now.Sub(lastPrune) > time.Hour {
			lastPrune = now
			if err := d.o.Store.Prune(ctx, now.Add(-7*24*time.Hour)); err != nil && ctx.Err() == nil {
				d.o.Log.Warn("webhooks: prune outbox", "err", err)
			}
		}
		d.fill(ctx)
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(d.o.Poll)
	}
}

// busy lists the endpoints at their limit.
func (d *Dispatcher) busy() (free int, busy []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for e, n := range d.per {
		if n >= d.o.PerEndpoint {
			busy = append(busy, e)
		}
	}
	return d.o.Workers - d.inflight, busy
}

// fill claims as many due rows as there are free workers and starts them.
func (d *Dispatcher) fill(ctx context.Context) {
	for ctx.Err() == nil {
		free, busy := d.busy()
		if free <= 0 {
			return
		}
		due, err := d.o.Store.Due(ctx, busy)
		if err != nil {
			if ctx.Err() == nil {
				d.o.Log.Warn("webhooks: look for due deliveries", "err", err)
			}
			return
		}
		if !due {
			return
		}
		jobs, err := d.o.Store.Claim(ctx, d.o.Owner, free, d.o.Lease, busy)
		if err != nil {
			if ctx.Err() == nil {
				d.o.Log.Warn("webhooks: claim deliveries", "err", err)
			}
			return
		}
		var back []int64
		d.mu.Lock()
		for _, j := range jobs {
			if d.per[j.Endpoint] >= d.o.PerEndpoint || d.inflight >= d.o.Workers {
				back = append(back, j.ID)
				continue
			}
			d.per[j.Endpoint]++
			d.inflight++
			d.wg.Add(1)
			go d.run(ctx, j)
		}
		d.mu.Unlock()
		if len(back) > 0 {
			if err := d.o.Store.Release(context.WithoutCancel(ctx), d.o.Owner, back); err != nil {
				d.o.Log.Warn("webhooks: release deliveries", "err", err)
			}
			return
		}
		if len(jobs) < free {
			return
		}
	}
}

func (d *Dispatcher) run(ctx context.Context, j Delivery) {
	defer func() {
		d.mu.Lock()
		d.inflight--
		if d.per[j.Endpoint]--; d.per[j.Endpoint] <= 0 {
			delete(d.per, j.Endpoint)
		}
		d.mu.Unlock()
		d.wg.Done()
		d.Notify()
	}()
	r := d.Attempt(ctx, j)
	bg := context.WithoutCancel(ctx)
	if ctx.Err() != nil && r.State != Delivered {
		// Shutting down: the attempt was cut short; give the row back for the next node.
		if err := d.o.Store.Release(bg, d.o.Owner, []int64{j.ID}); err != nil {
			d.o.Log.Warn("webhooks: release delivery", "id", j.ID, "err", err)
		}
		return
	}
	var err error
	if r.State == Dropped && j.Live && j.Kind == KindWebhook {
		err = d.o.Store.Gone(bg, d.o.Owner, j, r)
		d.o.Log.Warn("webhooks: receiver answered 410 Gone; webhook removed", "webhook", j.WebhookID, "url", j.URL)
	} else {
		err = d.o.Store.Finish(bg, d.o.Owner, j, r)
	}
	if err != nil {
		d.o.Log.Warn("webhooks: record delivery", "id", j.ID, "err", err)
	}
	if r.State == Failed {
		d.o.Log.Warn("webhooks: delivery failed for good", "id", j.ID, "kind", j.Kind, "url", j.URL,
			"attempts", j.Attempts+1, "status", r.Status, "err", r.Error)
	}
	if d.o.OnResult != nil {
		d.o.OnResult(j, r)
	}
}

// Attempt sends one delivery and decides what comes next. It does not touch the store.
func (d *Dispatcher) Attempt(ctx context.Context, j Delivery) Result {
	if !j.Live {
		return Result{State: Dropped, Error: "webhook deleted"}
	}
	now := d.o.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.URL, bytes.NewReader(j.Body))
	if err != nil {
		return Result{State: Failed, Error: "bad URL: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.o.UserAgent)
	if j.Secret != "" {
		h, err := Headers(j.Secret, j.MessageID(), now, j.Body)
		if err != nil {
			return d.retry(j, 0, "signing: "+err.Error(), 0)
		}
		for k, v := range h {
			req.Header[k] = v
		}
	}
	res, err := d.o.Client.Do(req)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, ErrRefused) {
			msg = "destination refused: " + msg
		}
		return d.retry(j, 0, msg, 0)
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return Result{State: Delivered, Status: res.StatusCode}
	case res.StatusCode == http.StatusGone && j.Kind == KindWebhook:
		return Result{State: Dropped, Status: res.StatusCode, Error: "410 Gone: webhook removed"}
	}
	return d.retry(j, res.StatusCode, "HTTP "+strconv.Itoa(res.StatusCode), retryAfter(res.Header.Get("Retry-After"), now))
}

// retry schedules the next attempt, or gives up.
func (d *Dispatcher) retry(j Delivery, status int, msg string, after time.Duration) Result {
	n := j.Attempts + 1 // attempts made, this one included
	var delay time.Duration
	if j.Kind == KindCallback {
		if n > len(d.o.CallbackSchedule) {
			return Result{State: Failed, Status: status, Error: msg}
		}
		delay = d.o.CallbackSchedule[n-1]
	} else {
		if n >= d.o.WebhookAttempts {
			return Result{State: Failed, Status: status, Error: msg}
		}
		delay = Backoff(d.o.RetryMin, d.o.RetryMax, n)
	}
	if after > delay {
		delay = min(after, d.o.MaxRetryAfter)
	}
	return Result{State: Retry, Status: status, Error: msg, Next: d.o.Now().Add(delay)}
}

// Backoff is the delay after the n-th failed attempt (n >= 1): min doubling per attempt up
// to max, with ±20% jitter, never above max.
func Backoff(minDelay, maxDelay time.Duration, n int) time.Duration {
	d := minDelay
	for i := 1; i < n && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	j := time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return min(j, maxDelay)
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// String names a state for logs.
func (s State) String() string {
	switch s {
	case Delivered:
		return "delivered"
	case Retry:
		return "retry"
	case Failed:
		return "failed"
	case Dropped:
		return "dropped"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}
