package storage

import (
	"context"
	"strings"
)

// Suppression reasons.
const (
	SuppressHardBounce  = "hard_bounce"
	SuppressComplaint   = "complaint"
	SuppressUnsubscribe = "unsubscribe"
	SuppressManual      = "manual"
)

func init() {
	domainChildren = append(domainChildren, "DELETE FROM suppressions WHERE domain_id = ?")
}

// Suppressed returns which of emails are on the domain's suppression list (lower-cased).
func (db *DB) Suppressed(ctx context.Context, domainID int64, emails []string) (map[string]string, error) {
	out := map[string]string{}
	if len(emails) == 0 {
		return out, nil
	}
	args := []any{domainID}
	for _, e := range emails {
		args = append(args, strings.ToLower(e))
	}
	q := "SELECT email, reason FROM suppressions WHERE domain_id = ? AND email IN (" +
		strings.TrimSuffix(strings.Repeat("?,", len(emails)), ",") + ")"
	rows, err := db.r.QueryxContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var e, r string
		if err := rows.Scan(&e, &r); err != nil {
			return nil, err
		}
		out[e] = r
	}
	return out, rows.Err()
}

// Suppress adds an address to a domain's suppression list inside tx (idempotent: the first
// reason stays).
func Suppress(ctx context.Context, tx *sqlxTx, domainID int64, email, reason string) error {
	email = strings.ToLower(email)
	var q string
	if tx.DriverName() == "mysql" {
		q = "INSERT IGNORE INTO suppressions (domain_id, email, reason, created_at) VALUES (?, ?, ?, ?)"
	} else {
		q = "INSERT INTO suppressions (domain_id, email, reason, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
	}
	_, err := tx.ExecContext(ctx, q, domainID, email, reason, now())
	return err
}

// AddSuppression is Suppress in its own transaction.
func (db *DB) AddSuppression(ctx context.Context, domainID int64, email, reason string) error {
	return db.Tx(ctx, func(tx *sqlxTx) error { return Suppress(ctx, tx, domainID, email, reason) })
}

// RemoveSuppression takes an address off a domain's list.
func (db *DB) RemoveSuppression(ctx context.Context, domainID int64, email string) error {
	return affected(db.w.ExecContext(ctx, "DELETE FROM suppressions WHERE domain_id = ? AND email = ?", domainID, strings.ToLower(email)))
}
