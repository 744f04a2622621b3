package commands

import (
	"sync"
	"time"
)

// memo keeps values read from the database for a short time, for the paths that would
// otherwise read the same rows for every message: an entry serves while it is younger than
// its time to live and, where the caller passes one, while a change counter of storage
// (GatewayChanges, SenderChanges) still has the value it had before the read, so a change
// made on this node is seen at once and one made on another node within the time to live.
// It holds at most memoMax entries (then it starts over rather than grow without end).
type memo[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]memoEntry[V]
}

type memoEntry[V any] struct {
	v     V
	gen   int64
	until time.Time
}

const memoMax = 100000

// get returns the value kept for key if it was read at generation gen and is not too old.
func (c *memo[K, V]) get(key K, gen int64) (v V, ok bool) {
	c.mu.Lock()
	e, found := c.m[key]
	c.mu.Unlock()
	if !found || e.gen != gen || !timeNow().Before(e.until) {
		return v, false
	}
	return e.v, true
}

// put keeps v for key, read at generation gen, for ttl.
func (c *memo[K, V]) put(key K, gen int64, v V, ttl time.Duration) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= memoMax {
		c.m = map[K]memoEntry[V]{}
	}
	c.m[key] = memoEntry[V]{v: v, gen: gen, until: timeNow().Add(ttl)}
	c.mu.Unlock()
}

// forget drops what is kept for key.
func (c *memo[K, V]) forget(key K) {
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}
