package storage

// Audience storage, part 3: what the public subscriber commands and the list reports read.

import (
	"context"
	"database/sql"
	"strings"
)

// ListByIDAnyOwner returns a list whoever owns it: for the public subscribe, unsubscribe and
// opt-in commands, whose callers are subscribers, not the list's owner.
func (db *DB) ListByIDAnyOwner(ctx context.Context, listID int64) (*List, error) {
	var l List
	err := db.r.GetContext(ctx, &l, "SELECT "+listCols+" FROM subscriber_lists WHERE id = ?", listID)
	return &l, notFound(err)
}

// SubscriberEvents returns the events of the mail sent to a subscriber for its list, newest
// first (at most limit).
func (db *DB) SubscriberEvents(ctx context.Context, listID, subscriberID int64, limit int) ([]EventRow, error) {
	rows := []EventRow{}
	err := db.r.SelectContext(ctx, &rows, "SELECT "+eventRowCols+` FROM messages m JOIN events e ON e.message_id = m.id
		WHERE m.list_id = ? AND m.subscriber_id = ? ORDER BY e.created_at DESC, e.id DESC LIMIT ?`, listID, subscriberID, limit)
	return rows, err
}

// ListActivity is what gatewayd's own events and subscriber rows say about a list over a
// window: recipients sent to, unique openers and clickers (bots left out), hard bounces (a
// 5xx code or none; a 4xx bounce is soft),
// and subscriptions, imports and unsubscriptions dated in the window.
type ListActivity struct {
	Sent, UniqueOpens, UniqueClicks, HardBounces int64
	Subscriptions, Imports, Unsubscriptions      int64
}

// ListActivities returns ListActivity per list since from (unix seconds).
func (db *DB) ListActivities(ctx context.Context, listIDs []int64, from int64) (map[int64]*ListActivity, error) {
	out := map[int64]*ListActivity{}
	if len(listIDs) == 0 {
		return out, nil
	}
	for _, id := range listIDs {
		out[id] = &ListActivity{}
	}
	in, args := inList(listIDs)
	var ev []struct {
		ListID int64  `db:"list_id"`
		Type   string `db:"type"`
		N      int64  `db:"n"`
	}
	q := `SELECT m.list_id, e.type, COUNT(DISTINCT e.recipient_id) AS n FROM messages m JOIN events e ON e.message_id = m.id
		WHERE m.list_id IN (` + in + `) AND e.created_at >= ? AND e.bot = 0 AND e.type IN (?, ?, ?, ?)
		AND (e.type <> 'bounced' OR e.code = 0 OR e.code >= 500)
		GROUP BY m.list_id, e.type`
	a := append(append([]any{}, args...), from, EventAccepted, EventOpened, EventClicked, EventBounced)
	if err := db.r.SelectContext(ctx, &ev, q, a...); err != nil {
		return nil, err
	}
	for _, r := range ev {
		la := out[r.ListID]
		switch r.Type {
		case EventAccepted:
			la.Sent = r.N
		case EventOpened:
			la.UniqueOpens = r.N
		case EventClicked:
			la.UniqueClicks = r.N
		case EventBounced:
			la.HardBounces = r.N
		}
	}
	var subs []struct {
		ListID int64 `db:"list_id"`
		Subs   int64 `db:"subs"`
		Imps   int64 `db:"imps"`
		Unsubs int64 `db:"unsubs"`
	}
	q = `SELECT list_id,
		SUM(CASE WHEN subscription_date >= ? AND source <> 'CSVImport' THEN 1 ELSE 0 END) AS subs,
		SUM(CASE WHEN created_at >= ? AND source = 'CSVImport' THEN 1 ELSE 0 END) AS imps,
		SUM(CASE WHEN unsubscription_date >= ? AND status = 'Unsubscribed' THEN 1 ELSE 0 END) AS unsubs
		FROM subscribers WHERE list_id IN (` + in + `) GROUP BY list_id`
	if err := db.r.SelectContext(ctx, &subs, q, append([]any{from, from, from}, args...)...); err != nil {
		return nil, err
	}
	for _, r := range subs {
		la := out[r.ListID]
		la.Subscriptions, la.Imports, la.Unsubscriptions = r.Subs, r.Imps, r.Unsubs
	}
	return out, nil
}

// SubscriberStates counts a list's subscribers by "status|bounce type".
func (db *DB) SubscriberStates(ctx context.Context, listID int64) (map[string]int64, error) {
	var rows []struct {
		Status string `db:"status"`
		Bounce string `db:"bounce_type"`
		N      int64  `db:"n"`
	}
	if err := db.r.SelectContext(ctx, &rows, "SELECT status, bounce_type, COUNT(*) AS n FROM subscribers WHERE list_id = ? GROUP BY status, bounce_type", listID); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Status+"|"+r.Bounce] += r.N
	}
	return out, nil
}

// TenureCounts counts a list's deliverable subscribers (Subscribed, Not Bounced) by
// subscription date against the caller's cutoffs (newest first): counts[i] is how many joined at or after cutoffs[i] and before cutoffs[i-1]; the last count is those older than every cutoff.
func (db *DB) TenureCounts(ctx context.Context, listID int64, cutoffs []int64) ([]int64, error) {
	cols := make([]string, 0, len(cutoffs)+1)
	var args []any
	prev := int64(1 << 62)
	for _, c := range cutoffs {
		cols = append(cols, "SUM(CASE WHEN subscription_date >= ? AND subscription_date < ? THEN 1 ELSE 0 END)")
		args = append(args, c, prev)
		prev = c
	}
	cols = append(cols, "SUM(CASE WHEN subscription_date < ? THEN 1 ELSE 0 END)")
	args = append(args, prev, listID)
	out := make([]sql.NullInt64, len(cols))
	dst := make([]any, len(cols))
	for i := range out {
		dst[i] = &out[i]
	}
	err := db.r.QueryRowContext(ctx, "SELECT "+strings.Join(cols, ", ")+
		" FROM subscribers WHERE list_id = ? AND status = 'Subscribed' AND bounce_type = 'Not Bounced'", args...).Scan(dst...)
	counts := make([]int64, len(out))
	for i, v := range out {
		counts[i] = v.Int64
	}
	return counts, err
}
