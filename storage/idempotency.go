package storage

import (
	"context"
	"time"
)

// IdempotentResponse is the first answer to a request made with an Idempotency-Key.
type IdempotentResponse struct {
	RequestHash string `db:"request_hash"`
	Status      int    `db:"status"`
	Response    []byte `db:"response"`
	CreatedAt   int64  `db:"created_at"`
}

// IdempotencyTTL is how long a key's answer is kept.
const IdempotencyTTL = 24 * time.Hour

// IdempotentLookup returns the stored answer for (scope, key) younger than the TTL.
func (db *DB) IdempotentLookup(ctx context.Context, scope, key string) (*IdempotentResponse, error) {
	var r IdempotentResponse
	err := db.r.GetContext(ctx, &r, "SELECT request_hash, status, response, created_at FROM idempotency_keys WHERE scope = ? AND idem_key = ? AND created_at > ?",
		scope, key, time.Now().Add(-IdempotencyTTL).Unix())
	return &r, notFound(err)
}

// IdempotentStore records the first answer; when another request stored one first it returns
// ErrDuplicate and the caller answers with IdempotentLookup's.
func (db *DB) IdempotentStore(ctx context.Context, scope, key string, r *IdempotentResponse) error {
	return db.txRetry(ctx, func(tx *sqlxTx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE scope = ? AND idem_key = ? AND created_at <= ?",
			scope, key, time.Now().Add(-IdempotencyTTL).Unix()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO idempotency_keys (scope, idem_key, request_hash, status, response, created_at) VALUES (?, ?, ?, ?, ?, ?)",
			scope, key, r.RequestHash, r.Status, r.Response, now())
		if isDuplicate(err) {
			return ErrDuplicate
		}
		return err
	})
}

// PurgeIdempotency removes answers older than the TTL.
func (db *DB) PurgeIdempotency(ctx context.Context) (int64, error) {
	res, err := db.w.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE created_at <= ?", time.Now().Add(-IdempotencyTTL).Unix())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// IdempotentComplete records the answer of a key reserved by IdempotentStore with Status 0
// (in progress) for the same request.
func (db *DB) IdempotentComplete(ctx context.Context, scope, key string, r *IdempotentResponse) error {
	_, err := db.execRetry(ctx, "UPDATE idempotency_keys SET status = ?, response = ? WHERE scope = ? AND idem_key = ? AND request_hash = ?",
		r.Status, r.Response, scope, key, r.RequestHash)
	return err
}

// IdempotentRelease forgets a reservation that was never answered (the request failed and
// sent nothing), so a retry with the same key runs again.
func (db *DB) IdempotentRelease(ctx context.Context, scope, key, requestHash string) error {
	_, err := db.execRetry(ctx, "DELETE FROM idempotency_keys WHERE scope = ? AND idem_key = ? AND request_hash = ? AND status = 0",
		scope, key, requestHash)
	return err
}
