package dispatcher

import (
	"context"
	"errors"
	"sync"
)

// ErrBusy is returned when the in-flight budget stayed full for as long as a request may wait.
var ErrBusy = errors.New("too many request bodies in flight")

// Inflight is the server-wide budget of bytes that request bodies and their decoded
// parameters may hold at once. Requests reserve before they read and wait, first come first
// served, while the budget is spent; a reservation larger than the whole budget waits until
// nothing else is reserved and then runs alone.
type Inflight struct {
	mu      sync.Mutex
	total   int64
	used    int64
	waiters []*inflightWaiter
}

type inflightWaiter struct {
	n     int64
	ready chan struct{}
}

// NewInflight returns a budget of total bytes.
func NewInflight(total int64) *Inflight { return &Inflight{total: total} }

// Acquire reserves n bytes, waiting until they are free or ctx ends (then ErrBusy).
func (b *Inflight) Acquire(ctx context.Context, n int64) error {
	b.mu.Lock()
	if len(b.waiters) == 0 && b.fits(n) {
		b.used += n
		b.mu.Unlock()
		return nil
	}
	w := &inflightWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		select {
		case <-w.ready:
			// Granted while giving up: hand the bytes back.
			b.used -= n
		default:
			for i, x := range b.waiters {
				if x == w {
					b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
					break
				}
			}
		}
		b.wake()
		b.mu.Unlock()
		return ErrBusy
	}
}

// Release returns n bytes taken by Acquire.
func (b *Inflight) Release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.wake()
	b.mu.Unlock()
}

// InUse reports the bytes reserved now.
func (b *Inflight) InUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// wake grants waiting requests in order while the budget allows. Called with mu held.
func (b *Inflight) wake() {
	for len(b.waiters) > 0 {
		w := b.waiters[0]
		if !b.fits(w.n) {
			return
		}
		b.used += w.n
		b.waiters = b.waiters[1:]
		close(w.ready)
	}
}

// fits reports whether n more bytes may be reserved now. Called with mu held.
func (b *Inflight) fits(n int64) bool { return b.used == 0 || b.used+n <= b.total }
