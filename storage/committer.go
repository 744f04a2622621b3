package storage

import (
	"context"
	"errors"
	"sync"
)

// Committer batches concurrent Enqueue calls into shared transactions (group commit), so
// many senders pay for one fsync instead of one each. A caller's Enqueue returns only after
// its envelope is committed (or refused).
type Committer struct {
	db       *DB
	maxBatch int
	jobs     chan *commitJob
	wg       sync.WaitGroup
	stop     chan struct{}
	once     sync.Once
}

type commitJob struct {
	env  *Envelope
	done chan error
}

// ErrCommitterClosed is returned for envelopes submitted after Close.
var ErrCommitterClosed = errors.New("committer closed")

// NewCommitter starts the batching loops: one for SQLite (it has one writer), several for
// MySQL, where a batch's time is mostly round trips rather than the commit, so batches in
// flight together do better (their rollup updates take row locks in one order, so they wait
// on each other but do not deadlock).
func NewCommitter(db *DB, maxBatch int) *Committer {
	if maxBatch <= 0 {
		maxBatch = 256
	}
	c := &Committer{db: db, maxBatch: maxBatch, jobs: make(chan *commitJob, 4*maxBatch), stop: make(chan struct{})}
	loops := 1
	if db.Dialect == MySQL {
		loops = 8
	}
	for i := 0; i < loops; i++ {
		c.wg.Add(1)
		go c.loop()
	}
	return c
}

// Enqueue commits env, batched with whatever else is waiting.
func (c *Committer) Enqueue(ctx context.Context, env *Envelope) error {
	j := &commitJob{env: env, done: make(chan error, 1)}
	select {
	case c.jobs <- j:
	case <-c.stop:
		return ErrCommitterClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once submitted, the outcome is waited for even if the caller gives up: the caller must
	// not answer "failed" for a message that is then committed.
	return <-j.done
}

// Close stops accepting, commits what was submitted, and waits for the loops.
func (c *Committer) Close() {
	c.once.Do(func() { close(c.stop) })
	c.wg.Wait()
}

func (c *Committer) loop() {
	defer c.wg.Done()
	batch := make([]*commitJob, 0, c.maxBatch)
	for {
		batch = batch[:0]
		select {
		case j := <-c.jobs:
			batch = append(batch, j)
		case <-c.stop:
			// Drain what was submitted before the stop.
			for {
				select {
				case j := <-c.jobs:
					c.commit([]*commitJob{j})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < c.maxBatch {
			select {
			case j := <-c.jobs:
				batch = append(batch, j)
			default:
				break fill
			}
		}
		c.commit(batch)
	}
}

func (c *Committer) commit(batch []*commitJob) {
	envs := make([]*Envelope, len(batch))
	for i, j := range batch {
		envs[i] = j.env
	}
	// Commits are not cancelled by any one caller's context.
	ctx := context.Background()
	errs, err := c.db.enqueueRetrying(ctx, envs)
	if err != nil && len(batch) > 1 {
		// One bad envelope must not fail the others: retry each alone.
		for _, j := range batch {
			e, err := c.db.enqueueRetrying(ctx, []*Envelope{j.env})
			if err == nil {
				err = e[0]
			}
			j.done <- err
		}
		return
	}
	for i, j := range batch {
		if err != nil {
			j.done <- err
		} else {
			j.done <- errs[i]
		}
	}
}

// enqueueRetrying runs Enqueue through the retry policy (retry in cluster.go): a deadlock
// victim, a Galera certification failure or a connection lost before commit committed
// nothing, so running it again is safe.
func (db *DB) enqueueRetrying(ctx context.Context, envs []*Envelope) ([]error, error) {
	var errs []error
	err := db.retry(ctx, func() error {
		var err error
		errs, err = db.Enqueue(ctx, envs)
		return err
	})
	return errs, err
}
