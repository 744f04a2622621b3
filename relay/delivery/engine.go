// Package delivery is the delivery engine: workers that claim due recipients from the queue
// under a lease, pick each message's route (the owner's bound gateway, else the platform
// default relay, else the recipients' MX hosts), DKIM-sign it with the sender domain's key,
// send it with a per-recipient VERP envelope sender through relay/outbound, and record the
// outcome (delivered, deferred with backoff, bounced with suppression of hard bounces,
// failed when expired) as a state change and an event in one transaction.
//
// It reads and writes the queue only through storage; it does not accept mail, parse bounces
// (relay/inbound does) or speak SMTP itself (relay/outbound does).
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"gatewayd/internal/metrics"
	"gatewayd/relay/bounce"
	"gatewayd/relay/dkim"
	"gatewayd/relay/outbound"
	"gatewayd/secret"
	"gatewayd/storage"
)

// Config tunes the engine. Zero values take the defaults noted.
type Config struct {
	Workers       int           // concurrent deliveries (GATEWAY_WORKERS; default 8)
	Batch         int           // rows claimed at once (default 2 x Workers, at least 16, at most 500)
	GroupSize     int           // most recipients of one message one worker takes at a time (default 50)
	Lease         time.Duration // how long a claim holds its rows (default 15m)
	Poll          time.Duration // how often an idle engine looks for due rows (default 1s)
	RetryMin      time.Duration // first retry delay (GATEWAY_RETRY_MIN; default 1m)
	RetryMax      time.Duration // longest retry delay (GATEWAY_RETRY_MAX; default 4h)
	QueueLifetime time.Duration // when a deferred recipient fails (GATEWAY_QUEUE_LIFETIME; default 120h)
	Owner         string        // lease owner name of this node (default host-pid-random)
}

func (c Config) withDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.Batch <= 0 {
		c.Batch = min(max(2*c.Workers, 16), 500)
	}
	if c.GroupSize <= 0 {
		c.GroupSize = 50
	}
	if c.Lease <= 0 {
		c.Lease = 15 * time.Minute
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.RetryMin <= 0 {
		c.RetryMin = time.Minute
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(4*time.Hour, c.RetryMin)
	}
	if c.QueueLifetime <= 0 {
		c.QueueLifetime = 120 * time.Hour
	}
	if c.Owner == "" {
		c.Owner = NodeName()
	}
	if len(c.Owner) > 64 {
		c.Owner = c.Owner[len(c.Owner)-64:]
	}
	return c
}

// NodeName is a lease owner name unique to this process: host, pid and a random suffix.
func NodeName() string {
	host, _ := os.Hostname()
	if len(host) > 40 {
		host = host[:40]
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), secret.HexToken(3))
}

// Route kinds, as the attempt latency metric labels them.
const (
	RouteGateway = "gateway"
	RouteRelay   = "relay"
	RouteMX      = "mx"
)

// Engine runs the delivery workers of one node.
type Engine struct {
	DB     *storage.DB
	Keys   *secret.Keyring  // opens the domains' DKIM keys
	Client *outbound.Client // the engine closes it on Stop
	// DefaultRelay is the platform default route (GATEWAY_DEFAULT_RELAY), nil for none.
	DefaultRelay *outbound.Route
	// GatewayRoute returns the route of the user's bound gateway (ok false: none bound).
	GatewayRoute func(ctx context.Context, userID int64) (*outbound.Route, bool, error)
	// Transform, when set, rewrites a message for one recipient before it is signed
	// (tracking: link rewriting, open pixel, List-Unsubscribe headers). dom is the message's
	// sender domain, already loaded for signing.
	Transform func(ctx context.Context, dom *storage.SenderDomain, msg *storage.Message, rcpt *storage.Recipient, raw []byte) ([]byte, error)
	Metrics   *metrics.Metrics // nil: not reported
	Log       *slog.Logger

	cfg     Config
	verpKey []byte
	wake    chan struct{}

	signerMu sync.Mutex
	signers  map[int64]signerEntry

	mu        sync.Mutex
	started   bool
	stopped   bool
	stop      chan struct{}
	runCtx    context.Context
	cancelRun context.CancelFunc
	workers   sync.WaitGroup
	claimDone chan struct{}
	outcomes  chan storage.Outcome
	recDone   chan struct{}
}

type signerEntry struct {
	key    string // selectors + sealed keys: a changed key makes a new signer
	signer *domainSigner
}

// domainSigner signs with a domain's RSA key and, when the domain has one, its Ed25519 key
// as well (RFC 8463 recommends both: receivers that do not know ed25519-sha256 ignore it).
type domainSigner struct {
	rsa, ed25519 *dkim.Signer
}

func (s *domainSigner) Sign(msg []byte) ([]byte, error) {
	signed, err := s.rsa.Sign(msg)
	if err != nil || s.ed25519 == nil {
		return signed, err
	}
	return s.ed25519.Sign(signed)
}

// New returns an engine; set the optional fields before Start.
func New(db *storage.DB, keys *secret.Keyring, client *outbound.Client, cfg Config, log *slog.Logger) *Engine {
	if log == nil {
		log = slog.Default()
	}
	return &Engine{
		DB: db, Keys: keys, Client: client, Log: log,
		cfg:     cfg.withDefaults(),
		verpKey: keys.Subkey("verp"),
		wake:    make(chan struct{}, 1),
		signers: map[int64]signerEntry{},
	}
}

// Owner is the lease owner name of this engine.
func (e *Engine) Owner() string { return e.cfg.Owner }

// VERPKey is the key VERP addresses are made with (the MX listener checks them with it).
func (e *Engine) VERPKey() []byte { return e.verpKey }

// Wake tells the engine new mail is queued (App.Enqueued); it never blocks.
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Start runs the claimer, the workers and the outcome recorder until Stop.
func (e *Engine) Start() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started || e.stopped {
		return
	}
	e.started = true
	e.stop = make(chan struct{})
	e.runCtx, e.cancelRun = context.WithCancel(context.Background())
	e.outcomes = make(chan storage.Outcome, 4*e.cfg.Batch)
	e.recDone = make(chan struct{})
	e.claimDone = make(chan struct{})
	jobs := make(chan *group)
	go e.recorder()
	for i := 0; i < e.cfg.Workers; i++ {
		e.workers.Add(1)
		go e.worker(jobs)
	}
	go e.claimer(jobs)
	e.Log.Info("delivery started", "owner", e.cfg.Owner, "workers", e.cfg.Workers)
}

// Stop (also when the engine never started: it then only closes the client) stops claiming, lets the attempts in flight finish until ctx ends (then interrupts
// them), records their outcomes, gives back every lease this node still holds (rows return
// to queued or deferred, due now) and closes the SMTP client.
func (e *Engine) Stop(ctx context.Context) error {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return nil
	}
	e.stopped = true
	started := e.started
	if started {
		close(e.stop)
	}
	e.mu.Unlock()
	if !started {
		return e.Client.Close()
	}

	done := make(chan struct{})
	go func() {
		<-e.claimDone
		e.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		e.cancelRun()
		<-done
	}
	e.cancelRun()
	close(e.outcomes)
	<-e.recDone
	rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := e.DB.ReleaseLeases(rctx, e.cfg.Owner)
	if err != nil {
		err = fmt.Errorf("release leases: %w", err)
		e.Log.Error("delivery stop", "err", err)
	}
	e.Client.Close()
	e.Log.Info("delivery stopped", "owner", e.cfg.Owner, "released", n)
	return err
}

func (e *Engine) stopping() bool {
	select {
	case <-e.stop:
		return true
	default:
		return false
	}
}

// group is the recipients of one message one worker delivers.
type group struct {
	messageID int64
	rcpts     []*storage.Recipient
}

// claimer claims due rows in batches and hands them, grouped by message, to the workers.
// An idle claimer sleeps until Wake or the poll interval (other nodes' mail, scheduled rows,
// retries and expired leases become due without anyone waking it).
func (e *Engine) claimer(jobs chan<- *group) {
	defer close(e.claimDone)
	defer close(jobs)
	ticker := time.NewTicker(e.cfg.Poll)
	defer ticker.Stop()
	start := 0
	for {
		if e.stopping() {
			return
		}
		ctx, cancel := context.WithTimeout(e.runCtx, 30*time.Second)
		t0 := time.Now()
		rows, err := e.DB.ClaimDue(ctx, e.cfg.Owner, e.cfg.Batch, e.cfg.Lease, start)
		cancel()
		if len(rows) > 0 {
			e.Log.Debug("delivery: claimed", "rows", len(rows), "took", time.Since(t0))
		}
		start++
		if err != nil {
			if !e.stopping() {
				e.Log.Error("delivery: claim", "err", err)
			}
			rows = nil
		}
		e.logTakeovers(rows)
		for _, g := range groupRows(rows, e.cfg.GroupSize) {
			select {
			case jobs <- g:
			case <-e.stop:
				return // undispatched rows are released by Stop
			}
		}
		if len(rows) == e.cfg.Batch {
			continue // probably more due
		}
		select {
		case <-e.stop:
			return
		case <-e.wake:
		case <-ticker.C:
		}
	}
}

// logTakeovers warns about claimed rows whose previous lease ran out: their node died or
// stalled after claiming them, and may have sent them already, so they may arrive twice.
func (e *Engine) logTakeovers(rows []storage.Recipient) {
	var ids []int64
	var rcpts, from []string
	for _, r := range rows {
		if r.TakenFrom == "" {
			continue
		}
		ids, rcpts = append(ids, r.ID), append(rcpts, r.Email)
		if !slices.Contains(from, r.TakenFrom) {
			from = append(from, r.TakenFrom)
		}
	}
	if len(ids) > 0 {
		e.Log.Warn("delivery: lease ran out, sending again", "owner", e.cfg.Owner, "from", from, "ids", ids, "recipients", rcpts)
	}
}

// groupRows groups claimed rows by message (in order of first appearance), splitting groups
// larger than size.
func groupRows(rows []storage.Recipient, size int) []*group {
	byMsg := map[int64]*group{}
	var out []*group
	for i := range rows {
		r := &rows[i]
		g := byMsg[r.MessageID]
		if g == nil || len(g.rcpts) >= size {
			g = &group{messageID: r.MessageID}
			byMsg[r.MessageID] = g
			out = append(out, g)
		}
		g.rcpts = append(g.rcpts, r)
	}
	return out
}

func (e *Engine) worker(jobs <-chan *group) {
	defer e.workers.Done()
	for g := range jobs {
		if e.stopping() {
			continue // drained; Stop releases the rows
		}
		e.deliverGroup(g)
	}
}

// record hands an outcome to the recorder.
func (e *Engine) record(o storage.Outcome) { e.outcomes <- o }

// recorder writes outcomes in batches: one transaction carries every outcome waiting, so a
// busy engine pays for one commit per batch instead of one per recipient.
func (e *Engine) recorder() {
	defer close(e.recDone)
	batch := make([]storage.Outcome, 0, 256)
	for o := range e.outcomes {
		batch = append(batch[:0], o)
	fill:
		for len(batch) < cap(batch) {
			select {
			case o, ok := <-e.outcomes:
				if !ok {
					break fill
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		e.flush(batch)
	}
}

// flush records a batch of outcomes. Giving up makes every row of the batch certain to be
// sent again when its lease runs out, so a retryable failure (a deadlock, a Galera
// certification conflict with another node, a node leaving the cluster) is retried until the
// earliest lease of the batch is about to expire; any other failure, or any failure while
// the engine stops, three times.
func (e *Engine) flush(batch []storage.Outcome) {
	var applied []bool
	var err error
	t0 := time.Now()
	defer func() { e.Log.Debug("delivery: recorded", "outcomes", len(batch), "took", time.Since(t0)) }()
	deadline := int64(math.MaxInt64)
	for _, o := range batch {
		deadline = min(deadline, o.Recipient.LeaseExpiresAt-leaseMargin(e.cfg.Lease))
	}
	pause := 100 * time.Millisecond
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		applied, err = e.DB.RecordOutcomes(ctx, batch)
		cancel()
		if err == nil || (try >= 3 && (!storage.IsRetryable(err) || e.stopping())) {
			break
		}
		wait := pause/2 + rand.N(pause) // apart from the other nodes that collided with this one
		if time.Now().Add(wait).Unix() >= deadline {
			break
		}
		time.Sleep(wait)
		pause = min(2*pause, 2*time.Second)
	}
	if err != nil {
		// The rows stay leased; when the lease runs out they are tried again.
		e.Log.Error("delivery: record outcomes", "n", len(batch), "err", err)
		return
	}
	if e.Metrics == nil {
		return
	}
	for i, ok := range applied {
		if ok {
			e.Metrics.Outcomes.WithLabelValues(batch[i].State).Inc()
		}
	}
}

// deliverGroup delivers one message to the group's recipients, one SMTP transaction each
// (the VERP envelope sender differs per recipient), over the route's pooled connections.
func (e *Engine) deliverGroup(g *group) {
	ctx := e.runCtx
	msg, dom, err := e.DB.MessageForDelivery(ctx, g.messageID)
	if errors.Is(err, storage.ErrNotFound) {
		// The message is gone, or its sender domain (then the message is read alone, for
		// the outcome's events).
		msg, err = e.DB.MessageByID(ctx, g.messageID)
		if errors.Is(err, storage.ErrNotFound) {
			e.finishAll(g, nil, fail("5.3.0", "message is no longer stored"))
			return
		}
		if err == nil {
			e.finishAll(g, msg, fail("5.3.0", "sender domain no longer exists"))
			return
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return // stopping hard: Stop releases the rows
		}
		e.Log.Error("delivery: load message", "message", g.messageID, "err", err)
		e.finishAll(g, nil, temp("4.3.0", "temporary local problem loading the message"))
		return
	}
	signer, err := e.signer(dom)
	if err != nil {
		e.Log.Error("delivery: DKIM key", "domain", dom.Name, "err", err)
		e.finishAll(g, msg, temp("4.7.0", "the sender domain's DKIM key cannot be used"))
		return
	}
	kind, rt, err := e.route(ctx, msg.UserID)
	if err != nil {
		if ctx.Err() != nil {
			return // stopping hard: Stop releases the rows
		}
		e.Log.Error("delivery: route", "user", msg.UserID, "err", err)
		e.finishAll(g, msg, temp("4.3.0", "temporary local problem choosing the route"))
		return
	}
	var signedOnce []byte
	for _, r := range g.rcpts {
		if e.stopping() || time.Now().Unix() >= r.LeaseExpiresAt-leaseMargin(e.cfg.Lease) {
			return // left leased: released on stop, or due again when the lease runs out
		}
		data := msg.Raw
		var signed []byte
		if e.Transform != nil {
			if data, err = e.Transform(ctx, dom, msg, r, data); err != nil {
				e.Log.Error("delivery: transform", "message", msg.UUID, "err", err)
				e.finish(r, msg, temp("4.3.0", "temporary local problem preparing the message"))
				continue
			}
			signed, err = signer.Sign(data)
		} else {
			if signedOnce == nil {
				signedOnce, err = signer.Sign(data)
			}
			signed = signedOnce
		}
		if err != nil {
			e.Log.Error("delivery: sign", "message", msg.UUID, "err", err)
			e.finish(r, msg, fail("5.6.0", "the message cannot be signed: "+err.Error()))
			continue
		}
		if r.Email == "" || strings.ContainsAny(r.Email, "\r\n<> ") || domainOf(r.Email) == "" {
			e.finish(r, msg, fail("5.1.3", "invalid recipient address"))
			continue
		}
		env := outbound.Envelope{
			From: bounce.VERPAddress(e.verpKey, r.ID, dom.ReturnPathDomain()),
			To:   []string{r.Email},
			Data: signed,
		}
		res, ok := e.attempt(ctx, kind, rt, r, env)
		if !ok {
			return
		}
		e.finish(r, msg, res)
	}
}

// leaseMargin is how long before its lease expires a row is no longer started: an attempt
// must end (or be cut) before another node may take the row over.
func leaseMargin(lease time.Duration) int64 {
	return int64(min(max(lease/10, time.Second), time.Minute) / time.Second)
}

// attempt sends env once and returns the recipient's result. ok is false when the engine is
// stopping hard (the row is left for Stop to release).
func (e *Engine) attempt(ctx context.Context, kind string, rt *outbound.Route, r *storage.Recipient, env outbound.Envelope) (outbound.Result, bool) {
	deadline := time.Unix(r.LeaseExpiresAt-leaseMargin(e.cfg.Lease), 0)
	actx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	start := time.Now()
	var res []outbound.Result
	var err error
	if kind == RouteMX {
		res, err = e.Client.SendMX(actx, domainOf(r.Email), env)
	} else {
		res, err = e.Client.Send(actx, *rt, env)
	}
	if e.Metrics != nil {
		e.Metrics.Attempts.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	}
	if ctx.Err() != nil || errors.Is(err, outbound.ErrClosed) {
		return outbound.Result{}, false
	}
	switch {
	case err != nil && kind == RouteMX:
		// SendMX only refuses the envelope itself: a malformed address.
		return fail("5.1.3", "invalid recipient address: "+err.Error()), true
	case err != nil:
		e.Log.Error("delivery: route refused", "route", kind, "err", err)
		return temp("4.3.5", "the route is misconfigured: "+err.Error()), true
	case len(res) != 1:
		return temp("4.3.0", "no result from the delivery attempt"), true
	}
	return res[0], true
}

func (e *Engine) finishAll(g *group, msg *storage.Message, res outbound.Result) {
	for _, r := range g.rcpts {
		e.finish(r, msg, res)
	}
}

// finish turns a result into the row's outcome and hands it to the recorder. The queue
// lifetime runs from acceptance, or from SendAt for a scheduled message.
func (e *Engine) finish(r *storage.Recipient, msg *storage.Message, res outbound.Result) {
	queuedAt, tags := r.CreatedAt, []string(nil)
	if msg != nil {
		queuedAt, tags = max(r.CreatedAt, msg.SendAt), msg.TagList()
	}
	o := Decide(r, queuedAt, tags, res, time.Now(), e.cfg)
	o.Message = msg
	e.record(o)
}

// Decide maps one attempt's result onto the recipient's next state: 2xx delivered; 5xx
// bounced (hard bounces suppress the address); anything else deferred with exponential
// backoff (or the server's own "try again in" hint), or failed once the recipient has been
// queued (since queuedAt, unix seconds) for longer than the queue lifetime.
func Decide(r *storage.Recipient, queuedAt int64, tags []string, res outbound.Result, now time.Time, cfg Config) storage.Outcome {
	cfg = cfg.withDefaults()
	o := storage.Outcome{Recipient: r, Tags: tags, Code: res.Code, Reply: ReplyText(res)}
	switch res.Class {
	case outbound.Delivered:
		o.State = storage.StateDelivered
	case outbound.Bounced:
		o.State = storage.StateBounced
		if HardBounce(res) {
			o.Suppress = storage.SuppressHardBounce
		}
	default:
		expiry := time.Unix(queuedAt, 0).Add(cfg.QueueLifetime)
		if !now.Before(expiry) {
			o.State = storage.StateFailed
			o.Reply = "gave up after " + cfg.QueueLifetime.String() + ": " + o.Reply
			break
		}
		o.State = storage.StateDeferred
		delay := Backoff(r.Attempts+1, cfg.RetryMin, cfg.RetryMax)
		if hint, ok := outbound.RetryAfter(res.Message); ok {
			delay = min(max(hint, time.Second), cfg.RetryMax)
		}
		next := now.Add(delay)
		if next.After(expiry) {
			next = expiry // one last try when the lifetime ends
		}
		o.Next = (next.UnixNano() + int64(time.Second) - 1) / int64(time.Second)
	}
	return o
}

// Backoff is the delay before attempt n+1 after n failed attempts: min doubled n-1 times,
// at most max, less up to 20% random jitter so retries of a burst spread out.
func Backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d - time.Duration(rand.Float64()*0.2*float64(d))
}

// hardCodes are the enhanced status codes of a permanent failure of the address itself
// (the same list relay/bounce uses for DSNs).
var hardCodes = map[string]bool{"5.1.1": true, "5.1.2": true, "5.1.3": true, "5.1.6": true, "5.1.10": true, "5.2.1": true}

// noSuchUser finds "no such user" style reply texts of servers that send no (or only a
// generic) enhanced code.
var noSuchUser = []string{"no such user", "no such mailbox", "no such recipient", "user unknown", "unknown user",
	"unknown recipient", "recipient unknown", "mailbox not found", "mailbox does not exist", "user does not exist",
	"address does not exist", "invalid recipient", "invalid mailbox", "recipient not found", "user not found"}

// HardBounce reports whether a 5xx reply says the address itself does not work.
func HardBounce(res outbound.Result) bool {
	if res.Class != outbound.Bounced {
		return false
	}
	if hardCodes[res.Enhanced] {
		return true
	}
	if res.Enhanced != "" && res.Enhanced != "5.0.0" {
		return false
	}
	msg := strings.ToLower(res.Message)
	for _, s := range noSuchUser {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// ReplyText renders a result as event details: "550 5.1.1 text" (code omitted when no
// server answered).
func ReplyText(res outbound.Result) string {
	var parts []string
	if res.Code > 0 {
		parts = append(parts, fmt.Sprint(res.Code))
	}
	if res.Enhanced != "" {
		parts = append(parts, res.Enhanced)
	}
	if res.Message != "" {
		parts = append(parts, res.Message)
	}
	return strings.Join(parts, " ")
}

func temp(enhanced, msg string) outbound.Result {
	return outbound.Result{Enhanced: enhanced, Message: msg, Class: outbound.Deferred}
}

func fail(enhanced, msg string) outbound.Result {
	return outbound.Result{Enhanced: enhanced, Message: msg, Class: outbound.Bounced}
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

// route picks where a user's mail goes: the bound gateway, else the default relay, else MX.
func (e *Engine) route(ctx context.Context, userID int64) (string, *outbound.Route, error) {
	if e.GatewayRoute != nil {
		rt, ok, err := e.GatewayRoute(ctx, userID)
		if err != nil {
			return "", nil, err
		}
		if ok && rt != nil {
			return RouteGateway, rt, nil
		}
	}
	if e.DefaultRelay != nil {
		return RouteRelay, e.DefaultRelay, nil
	}
	return RouteMX, nil, nil
}

// signer returns the DKIM signer of a domain, cached until its key or selector changes.
func (e *Engine) signer(d *storage.SenderDomain) (*domainSigner, error) {
	key := d.DKIMSelector + "\x00" + d.DKIMPrivateEnc + "\x00" + d.DKIMEd25519Selector + "\x00" + d.DKIMEd25519PrivateEnc
	e.signerMu.Lock()
	ent, ok := e.signers[d.ID]
	e.signerMu.Unlock()
	if ok && ent.key == key {
		return ent.signer, nil
	}
	pem, err := e.Keys.Decrypt(d.DKIMPrivateEnc)
	if err != nil {
		return nil, fmt.Errorf("open DKIM key: %w", err)
	}
	rs, err := dkim.NewSigner(d.Name, d.DKIMSelector, pem)
	if err != nil {
		return nil, err
	}
	s := &domainSigner{rsa: rs}
	if d.DKIMEd25519Selector != "" {
		pem, err := e.Keys.Decrypt(d.DKIMEd25519PrivateEnc)
		if err != nil {
			return nil, fmt.Errorf("open Ed25519 DKIM key: %w", err)
		}
		if s.ed25519, err = dkim.NewSigner(d.Name, d.DKIMEd25519Selector, pem); err != nil {
			return nil, err
		}
	}
	e.signerMu.Lock()
	e.signers[d.ID] = signerEntry{key: key, signer: s}
	e.signerMu.Unlock()
	return s, nil
}
