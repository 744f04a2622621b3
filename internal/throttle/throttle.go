// Package throttle counts failed password attempts over a sliding window, per key (a username,
// a client address), for every password login: api.php's user.login and admin.login, Navixy's
// account/auth and SMTP AUTH.
package throttle

import (
	"sync"
	"time"
)

// maxKeys bounds the memory of a Failures under a flood of distinct keys: past it, keys whose
// last failure is out of the window are dropped.
const maxKeys = 100000

// Failures remembers failures per key. A nil *Failures, or one with Max <= 0, never blocks.
type Failures struct {
	Max    int
	Window time.Duration

	mu sync.Mutex
	m  map[string][]time.Time
}

// New returns a Failures that blocks a key after max failures within window.
func New(max int, window time.Duration) *Failures {
	return &Failures{Max: max, Window: window, m: map[string][]time.Time{}}
}

// Blocked reports whether any of keys has reached Max failures within the window, and how long
// until its oldest failure leaves the window.
func (f *Failures) Blocked(keys ...string) (time.Duration, bool) {
	if f == nil || f.Max <= 0 {
		return 0, false
	}
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	var wait time.Duration
	blocked := false
	for _, k := range keys {
		ts := f.prune(k, now)
		if len(ts) >= f.Max {
			blocked = true
			if w := f.Window - now.Sub(ts[len(ts)-f.Max]); w > wait {
				wait = w
			}
		}
	}
	return wait, blocked
}

// Fail records a failure of each of keys.
func (f *Failures) Fail(keys ...string) {
	if f == nil || f.Max <= 0 {
		return
	}
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.m) > maxKeys {
		for k, ts := range f.m {
			if len(ts) == 0 || now.Sub(ts[len(ts)-1]) > f.Window {
				delete(f.m, k)
			}
		}
	}
	for _, k := range keys {
		ts := f.prune(k, now)
		if len(ts) >= f.Max {
			ts = ts[1:] // keep at most Max entries per key
		}
		f.m[k] = append(ts, now)
	}
}

// Clear forgets key's failures (a successful login clears its username, not its address).
func (f *Failures) Clear(key string) {
	if f == nil || f.Max <= 0 {
		return
	}
	f.mu.Lock()
	delete(f.m, key)
	f.mu.Unlock()
}

// prune drops key's failures that left the window; f.mu is held.
func (f *Failures) prune(key string, now time.Time) []time.Time {
	ts := f.m[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) > f.Window {
		i++
	}
	if i == len(ts) {
		delete(f.m, key)
		return nil
	}
	return ts[i:]
}
