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

	"gatewayd/internal/netpolicy"
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

// Store is the outbox: the dispatcher claims rows with a lease, reports attempts, and gives
// back rows it will not try. Implementations keep the rows in the database so deliveries
// survive restarts and several nodes share the work.
type Store interface {
	// Due reports cheaply whether any row outside busy endpoints may be claimed now.
	Due(ctx context.Context, busy []string) (bool, error)
	// Claim leases up to n due rows to owner, skipping rows of busy endpoints.
	Claim(ctx context.Context, owner string, n int, lease time.Duration, busy []string) ([]Delivery, error)
	// Finish records attempts (in one transaction where it can) and releases their leases.
	Finish(ctx context.Context, owner string, done []Outcome) error
	// Gone removes the webhook of d (its receiver answered 410) and drops its pending rows.
	Gone(ctx context.Context, owner string, d Delivery, r Result) error
	// Release gives leased rows back untried.
	Release(ctx context.Context, owner string, ids []int64) error
	// Prune deletes finished rows older than before.
	Prune(ctx context.Context, before time.Time) error
}

// Outcome is a delivery and the result of its attempt.
type Outcome struct {
	Delivery Delivery
	Result   Result
}

// DefaultCallbackSchedule is GatewayAPI's callback retry schedule: after the first attempt,
// 60 s, 120 s, 360 s, 24 min, 2 h and 12 h.
var DefaultCallbackSchedule = []time.Duration{time.Minute, 2 * time.Minute, 6 * time.Minute, 24 * time.Minute,
	2 * time.Hour, 12 * time.Hour}

// Options configure a Dispatcher. Zero values take the defaults noted.
type Options struct {
	Store  Store
	Client *http.Client // netpolicy.Policy.HTTPClient for production
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
//
// Rows of a receiver already at its limit wait in a short local queue (at most twice the
// limit, well within their lease) or are not claimed at all, so a slow receiver neither
// stalls the others nor starves them of workers. Attempts are recorded in batches.
type Dispatcher struct {
	o       Options
	mu      sync.Mutex
	running int                  // requests in flight
	queued  int                  // claimed rows waiting for their receiver
	eps     map[string]*endpoint // by Endpoint
	wake    chan struct{}
	results chan Outcome
	wg      sync.WaitGroup
}

type endpoint struct {
	running int
	queue   []Delivery
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
		o.Client = netpolicy.Policy{}.HTTPClient(netpolicy.DefaultTimeout)
	}
	return &Dispatcher{o: o, eps: map[string]*endpoint{}, wake: make(chan struct{}, 1)}
}

// Notify wakes the dispatcher to look for work now (after an event was committed).
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then cancels the requests in flight, gives their rows (and
// the locally queued ones) back, records what finished, and returns.
func (d *Dispatcher) Run(ctx context.Context) {
	d.results = make(chan Outcome, 4*d.o.Workers)
	recorded := make(chan struct{})
	go d.record(recorded)
	t := time.NewTimer(0)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		select {
		case <-ctx.Done():
			d.wg.Wait()
			d.mu.Lock()
			var back []int64
			for _, ep := range d.eps {
				for _, j := range ep.queue {
					back = append(back, j.ID)
				}
				ep.queue = nil
			}
			d.queued = 0
			d.mu.Unlock()
			if err := d.o.Store.Release(context.WithoutCancel(ctx), d.o.Owner, back); err != nil {
				d.o.Log.Warn("webhooks: release deliveries", "err", err)
			}
			close(d.results)
			<-recorded
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

// record writes outcomes in batches: whatever has arrived while the previous batch was
// being written goes in the next one.
func (d *Dispatcher) record(done chan<- struct{}) {
	defer close(done)
	ctx := context.Background()
	for o := range d.results {
		batch := []Outcome{o}
	more:
		for len(batch) < 256 {
			select {
			case o, ok := <-d.results:
				if !ok {
					break more
				}
				batch = append(batch, o)
			default:
				break more
			}
		}
		if err := d.o.Store.Finish(ctx, d.o.Owner, batch); err != nil {
			d.o.Log.Warn("webhooks: record deliveries", "n", len(batch), "err", err)
		}
		for _, o := range batch {
			if o.Result.State == Failed {
				d.o.Log.Warn("webhooks: delivery failed for good", "id", o.Delivery.ID, "kind", o.Delivery.Kind,
					"url", o.Delivery.URL, "attempts", o.Delivery.Attempts+1, "status", o.Result.Status, "err", o.Result.Error)
			}
			if d.o.OnResult != nil {
				d.o.OnResult(o.Delivery, o.Result)
			}
		}
		d.Notify()
	}
}

// capacity is how many more rows may be claimed (free workers: rows waiting in a
// receiver's queue do not take one, so they cannot starve other receivers), and the
// endpoints not to claim for (their requests and local queue are full).
func (d *Dispatcher) capacity() (free int, busy []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for e, ep := range d.eps {
		if ep.running >= d.o.PerEndpoint && len(ep.queue) >= 2*d.o.PerEndpoint {
			busy = append(busy, e)
		}
	}
	return d.o.Workers - d.running, busy
}

// fill claims as many due rows as there is room for and starts or queues them.
func (d *Dispatcher) fill(ctx context.Context) {
	for ctx.Err() == nil {
		free, busy := d.capacity()
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
			ep := d.eps[j.Endpoint]
			if ep == nil {
				ep = &endpoint{}
				d.eps[j.Endpoint] = ep
			}
			switch {
			case ep.running < d.o.PerEndpoint:
				ep.running++
				d.running++
				d.wg.Add(1)
				go d.run(ctx, j)
			case len(ep.queue) < 2*d.o.PerEndpoint:
				ep.queue = append(ep.queue, j)
				d.queued++
			default:
				back = append(back, j.ID)
			}
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

// run attempts j, then the rows queued behind it for the same receiver.
func (d *Dispatcher) run(ctx context.Context, j Delivery) {
	defer d.wg.Done()
	for {
		d.attemptAndReport(ctx, j)
		d.mu.Lock()
		ep := d.eps[j.Endpoint]
		if len(ep.queue) > 0 && ctx.Err() == nil {
			j = ep.queue[0]
			ep.queue = ep.queue[1:]
			d.queued--
			d.mu.Unlock()
			continue
		}
		ep.running--
		d.running--
		if ep.running == 0 && len(ep.queue) == 0 {
			delete(d.eps, j.Endpoint)
		}
		d.mu.Unlock()
		d.Notify()
		return
	}
}

func (d *Dispatcher) attemptAndReport(ctx context.Context, j Delivery) {
	r := d.Attempt(ctx, j)
	bg := context.WithoutCancel(ctx)
	if ctx.Err() != nil && r.State != Delivered {
		// Shutting down: the attempt was cut short; give the row back for the next node.
		if err := d.o.Store.Release(bg, d.o.Owner, []int64{j.ID}); err != nil {
			d.o.Log.Warn("webhooks: release delivery", "id", j.ID, "err", err)
		}
		return
	}
	if r.State == Dropped && j.Live && j.Kind == KindWebhook {
		d.o.Log.Warn("webhooks: receiver answered 410 Gone; webhook removed", "webhook", j.WebhookID, "url", j.URL)
		if err := d.o.Store.Gone(bg, d.o.Owner, j, r); err != nil {
			d.o.Log.Warn("webhooks: remove webhook", "id", j.WebhookID, "err", err)
		}
		if d.o.OnResult != nil {
			d.o.OnResult(j, r)
		}
		return
	}
	d.results <- Outcome{Delivery: j, Result: r}
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
		if errors.Is(err, netpolicy.ErrRefused) {
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
