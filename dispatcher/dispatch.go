package dispatcher

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Dispatcher runs commands: lookup, authentication, permission, rate limit, parameters, handler.
type Dispatcher struct {
	Registry *Registry
	auth     Authenticator
	limiter  *Limiter
	log      *slog.Logger
}

// New returns a dispatcher. limiter may be nil (no rate limits).
func New(reg *Registry, auth Authenticator, limiter *Limiter, log *slog.Logger) *Dispatcher {
	if log == nil {
		log = slog.Default()
	}
	return &Dispatcher{Registry: reg, auth: auth, limiter: limiter, log: log}
}

// ErrUnknownCommand is returned by Call for a name nobody registered.
var ErrUnknownCommand = errors.New("unknown command")

// Call runs the named command. The error is ErrUnknownCommand or an *Error: anything else a
// handler returns is logged and becomes the generic internal error, so internal text never
// reaches a client.
func (d *Dispatcher) Call(ctx context.Context, name string, creds Credentials, params Params, meta Meta) (any, error) {
	cmd, ok := d.Registry.Lookup(name)
	if !ok {
		return nil, ErrUnknownCommand
	}
	if meta.Received.IsZero() {
		meta.Received = time.Now()
	}
	req := &Request{Command: cmd, Params: params, Meta: meta}

	p, err := d.authenticate(ctx, cmd, creds)
	if err != nil {
		return nil, err
	}
	req.Principal = p
	if cmd.Permission != "" && !p.Can(cmd.Permission) {
		return nil, errPermission
	}
	if cmd.RateLimited && d.limiter != nil {
		group := cmd.RateGroup
		if group == "" {
			group = cmd.Name
		}
		if wait, ok := d.limiter.Allow(group + "|" + p.RateKey); !ok {
			e := *errRateLimit
			if cmd.RateLimitMessage != "" {
				e.Issues = []Issue{{Code: 429, Message: cmd.RateLimitMessage}}
			}
			e.RetryAfter = wait
			return nil, &e
		}
	}
	if issues := params.check(cmd.Params); len(issues) > 0 || cmd.Check != nil {
		if cmd.Check != nil {
			issues = append(issues, cmd.Check(params)...)
			sort.SliceStable(issues, func(i, j int) bool { return issues[i].Code < issues[j].Code })
		}
		if len(issues) > 0 {
			return nil, Invalid(issues...)
		}
	}
	res, err := d.run(ctx, cmd, req)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		d.log.ErrorContext(ctx, "command failed", "command", cmd.Name, "surface", meta.Surface, "err", err)
		return nil, errInternal
	}
	return res, nil
}

// run calls the handler, turning a panic into an internal error.
func (d *Dispatcher) run(ctx context.Context, cmd *Command, req *Request) (res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			d.log.ErrorContext(ctx, "command panicked", "command", cmd.Name, "panic", r)
			res, err = nil, errors.New("panic")
		}
	}()
	return cmd.Handler(ctx, req)
}

// Preauthenticate checks credentials a surface found in headers against cmd exactly as Call
// will, so a request with wrong ones is refused before its body is read. The error is the
// one Call would return.
func (d *Dispatcher) Preauthenticate(ctx context.Context, cmd *Command, creds Credentials) error {
	_, err := d.authenticate(ctx, cmd, creds)
	return err
}

func (d *Dispatcher) authenticate(ctx context.Context, cmd *Command, creds Credentials) (*Principal, error) {
	if cmd.Auth&AuthPublic != 0 && creds.Empty() {
		return &Principal{Kind: PrincipalNone}, nil
	}
	p, err := d.auth.Authenticate(ctx, creds, cmd.Auth)
	switch {
	case err == nil:
		return p, nil
	case cmd.Auth&AuthPublic != 0:
		return &Principal{Kind: PrincipalNone}, nil
	case errors.Is(err, ErrNoCredentials):
		if cmd.AuthMissing != nil {
			return nil, cmd.AuthMissing
		}
		return nil, errAuthFailed
	case errors.Is(err, ErrBadCredentials):
		if cmd.AuthInvalid != nil {
			return nil, cmd.AuthInvalid
		}
		return nil, errAuthFailed
	}
	d.log.ErrorContext(ctx, "authentication failed", "command", cmd.Name, "err", err)
	return nil, errInternal
}

// Limiter is a token bucket per credential: N requests per period, refilled continuously.
type Limiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	buckets map[string]*bucket
	sweep   time.Time
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

// NewLimiter allows n requests per period per key.
func NewLimiter(n int, per time.Duration) *Limiter {
	return &Limiter{every: rate.Limit(float64(n) / per.Seconds()), burst: n, buckets: map[string]*bucket{}}
}

// Allow spends one token of key's bucket; when empty it returns how long until one is back.
func (l *Limiter) Allow(key string) (time.Duration, bool) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.sweep) > time.Minute {
		// Forget buckets that have been full for a while: they hold no state worth keeping.
		full := time.Duration(float64(l.burst)/float64(l.every)*float64(time.Second)) + time.Minute
		for k, b := range l.buckets {
			if now.Sub(b.seen) > full {
				delete(l.buckets, k)
			}
		}
		l.sweep = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{l: rate.NewLimiter(l.every, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return time.Duration(math.Ceil(d.Seconds())) * time.Second, false
	}
	return 0, true
}
