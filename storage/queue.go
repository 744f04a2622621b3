package storage

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The delivery queue: workers claim due recipient rows under a lease, record one outcome per
// attempt (state change + event in the same transaction), and give their leases back on a
// graceful stop. Operators inspect and steer it through the queue functions at the end.
//
// A claimed row is in state "sending" with lease_owner set and next_attempt_at equal to its
// lease expiry, so one index (state, next_attempt_at) finds every due row: queued, deferred
// and scheduled rows whose time has come, and sending rows whose lease has run out (a node
// that crashed mid-attempt).

func init() {
	// Deleting a sender domain cancels what it still has in the queue. Messages, events and
	// finished rows stay for the statistics.
	domainChildren = append(domainChildren, "UPDATE recipients SET state = 'cancelled' WHERE domain_id = ? AND state IN ('scheduled', 'queued', 'deferred', 'sending')")
}

// claimStates are the states a claim looks at, each with its own index range.
var claimStates = [...]string{StateQueued, StateDeferred, StateScheduled, StateSending}

// ClaimDue leases up to limit due recipient rows to owner until now+lease and returns them
// (state sending). start rotates which state is looked at first so that a steady stream of
// new mail cannot starve retries.
//
// The claim is an UPDATE that only takes rows still due and unleased (state and
// next_attempt_at as the candidates were read), and the rows returned are those this UPDATE
// leased (read back by owner and lease expiry), so a row is never handed to two claimers
// whatever the database: on MySQL the candidates are read FOR UPDATE SKIP LOCKED, so
// claimers on one server pass over each other's rows instead of waiting; on a Galera cluster
// those locks are local to one node, and two nodes leasing the same row collide at commit,
// where certification fails the second (a deadlock error) and the claim runs again. There
// the candidates are drawn at random from a window twice the batch, so nodes claiming at the
// same moment rarely pick the same rows. On SQLite the transaction holds the single write
// lock.
func (db *DB) ClaimDue(ctx context.Context, owner string, limit int, lease time.Duration, start int) ([]Recipient, error) {
	if owner == "" || limit <= 0 {
		return nil, errors.New("claim: owner and a positive limit are required")
	}
	lock, spread, pk := "", 1, "+"
	if db.Dialect == MySQL {
		lock, pk = " FOR UPDATE SKIP LOCKED", ""
	}
	if db.galera {
		spread = 2
	}
	var out []Recipient
	err := db.retryTx(ctx, func(tx *sqlxTx) error {
		out = out[:0]
		ts := now()
		expires := ts + int64((lease+time.Second-1)/time.Second)
		for i := range claimStates {
			state := claimStates[(start+i)%len(claimStates)]
			n := limit - len(out)
			if n <= 0 {
				break
			}
			var rows []Recipient
			err := tx.SelectContext(ctx, &rows, "SELECT "+recipientCols+` FROM recipients
				WHERE state = ? AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`+lock, state, ts, n*spread)
			if err != nil {
				return fmt.Errorf("claim select: %w", err)
			}
			if len(rows) == 0 {
				continue
			}
			if len(rows) > n {
				rand.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
				rows = rows[:n]
				slices.SortFunc(rows, func(a, b Recipient) int {
					return cmp.Or(cmp.Compare(a.NextAttemptAt, b.NextAttemptAt), cmp.Compare(a.ID, b.ID))
				})
			}
			ids := make([]any, 0, len(rows))
			for _, r := range rows {
				ids = append(ids, r.ID)
			}
			// On SQLite, "+" keeps the planner on the primary key: without it, it walks
			// recipients_due for every row due (a million, in a deep queue) to find these.
			q := "UPDATE recipients SET state = 'sending', lease_owner = ?, lease_expires_at = ?, next_attempt_at = ?, updated_at = ? WHERE id IN (" +
				queueIn(len(rows)) + ") AND " + pk + "state = ? AND " + pk + "next_attempt_at <= ?"
			res, err := tx.ExecContext(ctx, q, append(append([]any{owner, expires, expires, ts}, ids...), state, ts)...)
			took, err := queueAffected(res, err)
			if err != nil {
				return fmt.Errorf("claim update: %w", err)
			}
			if took < int64(len(rows)) {
				// Some candidates changed under the claim: keep those this UPDATE leased.
				var mine []int64
				if err := tx.SelectContext(ctx, &mine, "SELECT id FROM recipients WHERE id IN ("+queueIn(len(rows))+
					") AND "+pk+"state = 'sending' AND lease_owner = ? AND lease_expires_at = ? AND updated_at = ?",
					append(ids, owner, expires, ts)...); err != nil {
					return fmt.Errorf("claim read back: %w", err)
				}
				rows = slices.DeleteFunc(rows, func(r Recipient) bool { return !slices.Contains(mine, r.ID) })
			}
			for i := range rows {
				if rows[i].State == StateSending {
					rows[i].TakenFrom = rows[i].LeaseOwner
				}
				rows[i].State, rows[i].LeaseOwner, rows[i].LeaseExpiresAt, rows[i].NextAttemptAt, rows[i].UpdatedAt =
					StateSending, owner, expires, expires, ts
			}
			out = append(out, rows...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Outcome is the result of one delivery attempt of one leased recipient row.
type Outcome struct {
	Recipient *Recipient // the leased row (ID, MessageID, DomainID, UserID, Email, LeaseOwner)
	Tags      []string   // the message's tags, for the rollups
	State     string     // delivered, deferred, bounced or failed
	Next      int64      // deferred: when to try again (unix seconds)
	Code      int        // the SMTP reply code (0 when no server answered)
	Reply     string     // the reply text, with its enhanced code
	Suppress  string     // a suppression source to add for the address on the domain's list ("" for none)
	// Message is the recipient's message when the caller has it loaded (nil: the event
	// hooks read what they need of it).
	Message *Message
}

// RecordOutcomes writes attempt outcomes in one transaction: for each, the row's new state
// and an event of the same type (through insertEvents), plus a suppression when asked. An
// outcome only applies while its row is still leased to the same owner in state sending, so
// a row whose lease expired and was taken over is never reported twice. A row cancelled
// while its attempt was in flight stays cancelled, unless the attempt was final (delivered or
// bounced): what really happened to the mail is recorded. applied tells which outcomes took.
// A batch costs a few statements whatever its size: the rows read (locked, on MySQL) at
// once, their new states written by one UPDATE, the events by one multi-row insert.
func (db *DB) RecordOutcomes(ctx context.Context, outs []Outcome) (applied []bool, err error) {
	applied = make([]bool, len(outs))
	err = db.retryTx(ctx, func(tx *sqlxTx) error {
		clear(applied)
		ts := now()
		// The state changes first, then the events, then the rollups of all of them at once:
		// the rollup rows are shared with the acceptance path and other nodes, so they are
		// written once per batch and locked for as short a part of the transaction as
		// possible.
		for chunk := 0; chunk < len(outs); chunk += outcomeChunk {
			part := outs[chunk:min(len(outs), chunk+outcomeChunk)]
			if err := applyOutcomes(ctx, tx, part, applied[chunk:], ts); err != nil {
				return err
			}
		}
		acc := rollups{} // the batch's counters, each written once at the end
		var evs []*Event
		var tags [][]string
		for i, o := range outs {
			if !applied[i] {
				continue
			}
			r := o.Recipient
			ev := &Event{DomainID: r.DomainID, UserID: r.UserID, MessageID: r.MessageID, RecipientID: r.ID,
				Type: o.State, Email: r.Email, Code: o.Code, Details: queueClip(o.Reply, 2000), CreatedAt: ts}
			if o.Message != nil && o.Message.ID == r.MessageID {
				ev.message = o.Message
			}
			evs = append(evs, ev)
			tags = append(tags, o.Tags)
		}
		if err := insertEvents(ctx, tx, db.ids, evs, tags, acc); err != nil {
			return err
		}
		for i, o := range outs {
			if applied[i] && o.Suppress != "" {
				r := o.Recipient
				if _, err := Suppress(ctx, tx, domainSuppression(r.UserID, r.DomainID, r.Email, o.Suppress, o.Reply)); err != nil {
					return err
				}
			}
		}
		return acc.apply(ctx, tx)
	})
	return applied, err
}

// outcomeChunk bounds the rows one outcome UPDATE writes (9 parameters a row).
const outcomeChunk = 256

// applyOutcomes writes the new states of outs' rows, those still leased to the outcome's
// owner: one read of the rows (FOR UPDATE on MySQL; SQLite's transaction holds the write
// lock), one UPDATE of those that apply. It sets applied[i] for each outs[i] written.
func applyOutcomes(ctx context.Context, tx *sqlxTx, outs []Outcome, applied []bool, ts int64) error {
	ids := make([]int64, len(outs))
	for i, o := range outs {
		ids[i] = o.Recipient.ID
	}
	in, args := inList(ids)
	lock := ""
	if tx.DriverName() == "mysql" {
		lock = " FOR UPDATE"
	}
	type row struct {
		ID         int64  `db:"id"`
		State      string `db:"state"`
		LeaseOwner string `db:"lease_owner"`
	}
	var cur []row
	if err := tx.SelectContext(ctx, &cur, "SELECT id, state, lease_owner FROM recipients WHERE id IN ("+in+") ORDER BY id"+lock, args...); err != nil {
		return fmt.Errorf("record outcome: %w", err)
	}
	rows := make(map[int64]row, len(cur))
	for _, c := range cur {
		rows[c.ID] = c
	}
	var set, next, code, reply, where strings.Builder
	var setArgs, nextArgs, codeArgs, replyArgs, whereArgs []any
	for i, o := range outs {
		r := o.Recipient
		was, ok := rows[r.ID]
		final := o.State == StateDelivered || o.State == StateBounced
		switch {
		case !ok || was.LeaseOwner != r.LeaseOwner:
			continue
		case was.State == StateSending:
			n := int64(0)
			if o.State == StateDeferred {
				n = o.Next
			}
			next.WriteString(" WHEN ? THEN ?")
			nextArgs = append(nextArgs, r.ID, n)
		case final && was.State == StateCancelled:
			// stays where it was due: only the outcome is recorded
		default:
			continue
		}
		delete(rows, r.ID) // one outcome per row
		applied[i] = true
		set.WriteString(" WHEN ? THEN ?")
		setArgs = append(setArgs, r.ID, o.State)
		code.WriteString(" WHEN ? THEN ?")
		codeArgs = append(codeArgs, r.ID, o.Code)
		reply.WriteString(" WHEN ? THEN ?")
		replyArgs = append(replyArgs, r.ID, queueClip(o.Reply, 2000))
		if len(whereArgs) > 0 {
			where.WriteString(", ")
		}
		where.WriteString("?")
		whereArgs = append(whereArgs, r.ID)
	}
	if len(whereArgs) == 0 {
		return nil
	}
	nextCase := "next_attempt_at"
	if len(nextArgs) > 0 {
		nextCase = "CASE id" + next.String() + " ELSE next_attempt_at END"
	}
	q := "UPDATE recipients SET state = CASE id" + set.String() + " END, attempts = attempts + 1, next_attempt_at = " + nextCase +
		", lease_owner = '', lease_expires_at = 0, last_code = CASE id" + code.String() + " END, last_reply = CASE id" +
		reply.String() + " END, updated_at = ? WHERE id IN (" + where.String() + ")"
	qArgs := slices.Concat(setArgs, nextArgs, codeArgs, replyArgs, []any{ts}, whereArgs)
	if _, err := tx.ExecContext(ctx, q, qArgs...); err != nil {
		return fmt.Errorf("record outcome: %w", err)
	}
	return nil
}

// ReleaseLeases gives back every row owner still holds (a graceful stop): each goes back to
// queued, or deferred when it had been tried before, due now, lease cleared.
func (db *DB) ReleaseLeases(ctx context.Context, owner string) (int64, error) {
	return db.execRetry(ctx, `UPDATE recipients SET state = CASE WHEN attempts > 0 THEN 'deferred' ELSE 'queued' END,
		lease_owner = '', lease_expires_at = 0, next_attempt_at = ?, updated_at = ? WHERE lease_owner = ? AND state = 'sending'`,
		now(), now(), owner)
}

// InboundReport is what a returned message (DSN, complaint, or an unparseable bounce) says
// about one recipient row, found through its VERP address.
type InboundReport struct {
	RecipientID int64
	Type        string // bounced, deferred (a remote MTA's delay notice) or complained
	Code        int
	Details     string
	Suppress    string // suppression source for the domain's list ("" for none)
}

// RecordInbound writes an inbound report as an event of the recipient, in one transaction
// with its effects: a bounce turns a delivered row bounced (a bounce for a row already
// bounced is a duplicate and ignored), a complaint is recorded once per recipient, and the
// suppression is added when asked. It returns ErrNotFound for an unknown recipient and
// whether anything was recorded.
func (db *DB) RecordInbound(ctx context.Context, rep InboundReport) (recorded bool, err error) {
	err = db.retryTx(ctx, func(tx *sqlxTx) error {
		recorded = false
		var r Recipient
		q := "SELECT " + recipientCols + " FROM recipients WHERE id = ?"
		if tx.DriverName() == "mysql" {
			q += " FOR UPDATE"
		}
		if err := tx.GetContext(ctx, &r, q, rep.RecipientID); err != nil {
			return notFound(err)
		}
		var tags string
		if err := tx.GetContext(ctx, &tags, "SELECT tags FROM messages WHERE id = ?", r.MessageID); err != nil && notFound(err) != ErrNotFound {
			return err
		}
		ts := now()
		switch rep.Type {
		case EventBounced:
			if r.State == StateBounced {
				return nil
			}
			if r.State == StateDelivered {
				if _, err := tx.ExecContext(ctx, `UPDATE recipients SET state = 'bounced', last_code = ?, last_reply = ?,
					updated_at = ? WHERE id = ?`, rep.Code, queueClip(rep.Details, 2000), ts, r.ID); err != nil {
					return err
				}
			}
		case EventComplained:
			var n int
			if err := tx.GetContext(ctx, &n, "SELECT COUNT(*) FROM events WHERE recipient_id = ? AND type = 'complained'", r.ID); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
		case EventDeferred:
		default:
			return fmt.Errorf("inbound report: unknown type %q", rep.Type)
		}
		m := Message{Tags: tags}
		ev := &Event{DomainID: r.DomainID, UserID: r.UserID, MessageID: r.MessageID, RecipientID: r.ID, Type: rep.Type,
			Email: r.Email, Code: rep.Code, Details: queueClip(rep.Details, 2000), CreatedAt: ts}
		if err := InsertEvent(ctx, tx, ev, m.TagList()); err != nil {
			return err
		}
		if rep.Suppress != "" {
			if _, err := Suppress(ctx, tx, domainSuppression(r.UserID, r.DomainID, r.Email, rep.Suppress, rep.Details)); err != nil {
				return err
			}
		}
		recorded = true
		return nil
	})
	return recorded, err
}

// CancelDomainQueue cancels every undelivered recipient of a domain: scheduled, queued and
// deferred rows, and rows being sent right now (their worker's outcome then only applies if
// the mail was delivered or bounced during that attempt). Cancelling writes no event.
func (db *DB) CancelDomainQueue(ctx context.Context, domainID int64) (int64, error) {
	res, err := db.w.ExecContext(ctx, `UPDATE recipients SET state = 'cancelled', updated_at = ?
		WHERE domain_id = ? AND state IN ('scheduled', 'queued', 'deferred', 'sending')`, now(), domainID)
	return queueAffected(res, err)
}

// QueueFilter selects rows for the queue CLI.
type QueueFilter struct {
	States    []string // empty: the undelivered states
	DomainIDs []int64  // empty: every domain
	IDs       []int64  // empty: every row
	Limit     int      // 0: no limit (list uses its own default)
}

// UndeliveredStates are the states still in the queue.
var UndeliveredStates = []string{StateScheduled, StateQueued, StateSending, StateDeferred}

// where renders f as SQL conditions on columns prefixed with p ("r." or "").
func (f QueueFilter) where(p string) (string, []any) {
	states := f.States
	if len(states) == 0 {
		states = UndeliveredStates
	}
	var conds []string
	var args []any
	conds = append(conds, p+"state IN ("+queueIn(len(states))+")")
	for _, s := range states {
		args = append(args, s)
	}
	if len(f.DomainIDs) > 0 {
		conds = append(conds, p+"domain_id IN ("+queueIn(len(f.DomainIDs))+")")
		for _, id := range f.DomainIDs {
			args = append(args, id)
		}
	}
	if len(f.IDs) > 0 {
		conds = append(conds, p+"id IN ("+queueIn(len(f.IDs))+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	return strings.Join(conds, " AND "), args
}

// QueueCounts counts recipient rows by state. With undeliveredOnly, only the states still in
// the queue are counted (an index range, cheap enough for every metrics scrape).
func (db *DB) QueueCounts(ctx context.Context, undeliveredOnly bool, domainIDs []int64) (map[string]int64, error) {
	q := "SELECT r.state, COUNT(*) FROM recipients r"
	var conds []string
	var args []any
	if undeliveredOnly {
		conds = append(conds, "r.state IN ("+queueIn(len(UndeliveredStates))+")")
		for _, s := range UndeliveredStates {
			args = append(args, s)
		}
	}
	if len(domainIDs) > 0 {
		conds = append(conds, "r.domain_id IN ("+queueIn(len(domainIDs))+")")
		for _, id := range domainIDs {
			args = append(args, id)
		}
	}
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " GROUP BY r.state"
	rows, err := db.r.QueryxContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

// DomainQueue is one sender domain's rows still in the queue, by state.
type DomainQueue struct {
	DomainID int64
	Domain   string
	UserID   int64
	States   map[string]int64
}

// QueueByDomain counts the rows still in the queue (scheduled, queued, sending, deferred) of
// every domain that has any, by state, the domain with most waiting first.
func (db *DB) QueueByDomain(ctx context.Context) ([]DomainQueue, error) {
	rows, err := db.r.QueryxContext(ctx, `SELECT r.domain_id, COALESCE(d.name, ''), COALESCE(d.user_id, 0), r.state, COUNT(*)
		FROM recipients r LEFT JOIN sender_domains d ON d.id = r.domain_id
		WHERE r.state IN (`+queueIn(len(UndeliveredStates))+`)
		GROUP BY r.domain_id, d.name, d.user_id, r.state`, queueArgs(UndeliveredStates)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byID := map[int64]*DomainQueue{}
	var out []DomainQueue
	var order []int64
	for rows.Next() {
		var dq DomainQueue
		var state string
		var n int64
		if err := rows.Scan(&dq.DomainID, &dq.Domain, &dq.UserID, &state, &n); err != nil {
			return nil, err
		}
		cur, ok := byID[dq.DomainID]
		if !ok {
			dq.States = map[string]int64{}
			cur = &dq
			byID[dq.DomainID] = cur
			order = append(order, dq.DomainID)
		}
		cur.States[state] += n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, id := range order {
		out = append(out, *byID[id])
	}
	waiting := func(q DomainQueue) (n int64) {
		for _, v := range q.States {
			n += v
		}
		return n
	}
	slices.SortStableFunc(out, func(a, b DomainQueue) int {
		return cmp.Or(cmp.Compare(waiting(b), waiting(a)), cmp.Compare(a.DomainID, b.DomainID))
	})
	return out, nil
}

func queueArgs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// QueueRow is a recipient row as the queue CLI lists it.
type QueueRow struct {
	Recipient
	MessageUUID string `db:"uuid"`
	Domain      string `db:"domain"`
}

// QueueList lists rows matching f, soonest due first.
func (db *DB) QueueList(ctx context.Context, f QueueFilter) ([]QueueRow, error) {
	where, args := f.where("r.")
	cols := "r." + strings.ReplaceAll(strings.Join(strings.Fields(recipientCols), " "), ", ", ", r.")
	q := "SELECT " + cols + `, COALESCE(m.uuid, '') AS uuid, COALESCE(d.name, '') AS domain FROM recipients r
		LEFT JOIN messages m ON m.id = r.message_id LEFT JOIN sender_domains d ON d.id = r.domain_id
		WHERE ` + where + " ORDER BY r.next_attempt_at, r.id"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	var out []QueueRow
	err := db.r.SelectContext(ctx, &out, q, args...)
	return out, err
}

// QueueRetry makes matching deferred rows (or, with IDs, any matching undelivered row that is
// not being sent) due now. It returns how many rows changed.
func (db *DB) QueueRetry(ctx context.Context, f QueueFilter) (int64, error) {
	if len(f.States) == 0 {
		f.States = []string{StateDeferred}
		if len(f.IDs) > 0 {
			f.States = []string{StateDeferred, StateQueued, StateScheduled}
		}
	}
	for _, s := range f.States {
		if s != StateDeferred && s != StateQueued && s != StateScheduled {
			return 0, fmt.Errorf("retry: state %q cannot be retried (deferred, queued or scheduled)", s)
		}
	}
	where, args := f.where("")
	res, err := db.w.ExecContext(ctx, "UPDATE recipients SET next_attempt_at = ?, updated_at = ? WHERE "+where,
		append([]any{now(), now()}, args...)...)
	return queueAffected(res, err)
}

// QueuePurge cancels matching undelivered rows; with remove, it deletes the matching rows
// instead (any state; events and messages stay). It returns how many rows changed.
func (db *DB) QueuePurge(ctx context.Context, f QueueFilter, remove bool) (int64, error) {
	where, args := f.where("")
	if remove {
		res, err := db.w.ExecContext(ctx, "DELETE FROM recipients WHERE "+where, args...)
		return queueAffected(res, err)
	}
	for _, s := range f.States {
		if !isUndelivered(s) {
			return 0, fmt.Errorf("purge: %s rows are finished; cancel applies to %s (use delete to remove rows)", s, strings.Join(UndeliveredStates, ", "))
		}
	}
	res, err := db.w.ExecContext(ctx, "UPDATE recipients SET state = 'cancelled', updated_at = ? WHERE "+where, append([]any{now()}, args...)...)
	return queueAffected(res, err)
}

func isUndelivered(s string) bool {
	for _, u := range UndeliveredStates {
		if s == u {
			return true
		}
	}
	return false
}

// AllStates lists every recipient state, in queue order.
var AllStates = []string{StateScheduled, StateQueued, StateSending, StateDeferred, StateDelivered, StateBounced, StateFailed, StateCancelled}

// retryTx runs fn in a queue transaction through the retry policy (retry in cluster.go):
// concurrent upserts of the same rollup row on several nodes can deadlock, claims on two
// Galera nodes can fail certification, and the loser must simply run again.
//
// On MySQL the transaction is READ COMMITTED: its locking reads and updates take no gap
// locks, and an UPDATE passes over rows other transactions are inserting (semi-consistent
// reads) instead of waiting for them, so claims never block or deadlock the acceptance
// path's inserts into the same index ranges.
func (db *DB) retryTx(ctx context.Context, fn func(tx *sqlxTx) error) error {
	return db.retry(ctx, func() error { return db.queueTx(ctx, fn) })
}

func (db *DB) queueTx(ctx context.Context, fn func(tx *sqlxTx) error) error {
	var opts *sql.TxOptions
	if db.Dialect == MySQL {
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	return db.txWith(ctx, opts, fn)
}

func queueAffected(res interface{ RowsAffected() (int64, error) }, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func queueIn(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// queueClip shortens s to at most n bytes without splitting a UTF-8 sequence.
func queueClip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// QueueCount counts the rows matching f.
func (db *DB) QueueCount(ctx context.Context, f QueueFilter) (int64, error) {
	where, args := f.where("")
	var n int64
	err := db.r.GetContext(ctx, &n, "SELECT COUNT(*) FROM recipients WHERE "+where, args...)
	return n, err
}

// MessageEvents lists a message's events in the order they were written (oldest first).
func (db *DB) MessageEvents(ctx context.Context, messageID int64) ([]Event, error) {
	var out []Event
	err := db.r.SelectContext(ctx, &out, `SELECT id, domain_id, user_id, message_id, recipient_id, type, email, code, details,
		url, user_agent, ip, bot, created_at FROM events WHERE message_id = ? ORDER BY id`, messageID)
	return out, err
}

// CountEventsOfType counts events of one type, of one message (messageID > 0) or of all.
func (db *DB) CountEventsOfType(ctx context.Context, messageID int64, typ string) (int, error) {
	q, args := "SELECT COUNT(*) FROM events WHERE type = ?", []any{typ}
	if messageID > 0 {
		q += " AND message_id = ?"
		args = append(args, messageID)
	}
	var n int
	err := db.r.GetContext(ctx, &n, q, args...)
	return n, err
}
