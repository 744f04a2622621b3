package storage

// Audience storage, part 3: what the public subscriber commands and the list reports read.

import (
	"context"
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
