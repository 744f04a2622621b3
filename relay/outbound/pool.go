package outbound

import (
	"context"
	"time"
)

// pool holds one route's connections: a slot semaphore that caps how many
// exist at once, and the idle ones (most recently used last).
type pool struct {
	slots chan struct{}
	idle  []*conn
	refs  int // callers holding or waiting for a slot; the pool is kept while > 0
}

// acquire takes a connection slot for rt, waiting while all are busy.
func (c *Client) acquire(ctx context.Context, rt Route) (*pool, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	p := c.pools[rt]
	if p == nil {
		p = &pool{slots: make(chan struct{}, c.cfg.MaxConnsPerRoute)}
		c.pools[rt] = p
	}
	p.refs++
	c.mu.Unlock()

	select {
	case p.slots <- struct{}{}:
		return p, nil
	case <-ctx.Done():
		c.mu.Lock()
		p.refs--
		c.mu.Unlock()
		return nil, ctx.Err()
	}
}

// release gives the slot back; cn (if any) goes back to the idle list when
// reusable, else it is closed.
func (c *Client) release(p *pool, cn *conn, reusable bool) {
	var drop *conn
	c.mu.Lock()
	if cn != nil {
		if reusable && !c.closed {
			cn.lastUsed = time.Now()
			p.idle = append(p.idle, cn)
		} else {
			drop = cn
		}
	}
	<-p.slots
	p.refs--
	c.mu.Unlock()
	if drop != nil {
		c.closeLater(drop, reusable)
	}
}

// checkout returns a ready connection for rt: an idle one that still
// answers RSET and EHLO, or a new one. The caller holds a slot of p.
func (c *Client) checkout(ctx context.Context, p *pool, rt Route) (*conn, *CheckError) {
	for {
		c.mu.Lock()
		var cn *conn
		if n := len(p.idle); n > 0 {
			cn = p.idle[n-1]
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
		}
		c.mu.Unlock()
		if cn == nil {
			break
		}
		if time.Since(cn.lastUsed) >= c.cfg.IdleTimeout {
			c.closeLater(cn, true)
			continue
		}
		stop := context.AfterFunc(ctx, func() { cn.raw.Close() })
		err := cn.sc.Reset()
		if err == nil {
			err = cn.sc.Hello(c.cfg.HeloName)
		}
		if !stop() || err != nil {
			cn.close(false, 0)
			if ctx.Err() != nil {
				return nil, &CheckError{Stage: StageConnect, Enhanced: "4.4.2", Message: ctx.Err().Error(), Err: ctx.Err()}
			}
			continue
		}
		return cn, nil
	}
	return c.open(ctx, rt)
}

// closeLater closes cn in the background, which Close waits for; once the
// client is closed it closes cn right away.
func (c *Client) closeLater(cn *conn, polite bool) {
	timeout := min(c.cfg.CommandTimeout, 5*time.Second)
	c.mu.Lock()
	closed := c.closed
	if !closed {
		c.closing.Add(1)
	}
	c.mu.Unlock()
	if closed {
		cn.close(polite, timeout)
		return
	}
	go func() {
		defer c.closing.Done()
		cn.close(polite, timeout)
	}()
}

// janitor closes connections idle for IdleTimeout and forgets unused pools.
func (c *Client) janitor() {
	defer close(c.stopped)
	t := time.NewTicker(max(c.cfg.IdleTimeout/2, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.reap(time.Now())
		}
	}
}

func (c *Client) reap(now time.Time) {
	var expired []*conn
	c.mu.Lock()
	for rt, p := range c.pools {
		keep := p.idle[:0]
		for _, cn := range p.idle {
			if now.Sub(cn.lastUsed) >= c.cfg.IdleTimeout {
				expired = append(expired, cn)
			} else {
				keep = append(keep, cn)
			}
		}
		clear(p.idle[len(keep):])
		p.idle = keep
		if len(p.idle) == 0 && p.refs == 0 {
			delete(c.pools, rt)
		}
	}
	c.mu.Unlock()
	for _, cn := range expired {
		c.closeLater(cn, true)
	}
}
