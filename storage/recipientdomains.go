package storage

import (
	"context"
	"database/sql"
	"strconv"
)

// Recipient-domain statistics (emailgateway.recipientdomainstats, listrecipientdomains)
// read the recipients table: each recipient row is one email, its state says where it is,
// and updated_at - created_at is its delivery time (acceptance to the last state change).
//
// Status mapping (docs/api.md): delivered is Sent; bounced and failed are Failed; scheduled,
// queued, sending and deferred are Sending; cancelled rows are not counted.

// Recipient-domain status names.
const (
	RDSent    = "Sent"
	RDFailed  = "Failed"
	RDSending = "Sending"
)

const rdStatusCase = `CASE r.state WHEN 'delivered' THEN 'Sent' WHEN 'bounced' THEN 'Failed' WHEN 'failed' THEN 'Failed'
	WHEN 'cancelled' THEN '' ELSE 'Sending' END`

// rcptDomainExpr is the lower-case domain part of the recipient's address.
const rcptDomainExpr = `LOWER(SUBSTR(r.email, INSTR(r.email, '@') + 1))`

// DeliveryBuckets are the delivery-time buckets of recipientdomainstats' histogram: each
// holds times from its bound (inclusive) to the next one's.
var DeliveryBuckets = []struct {
	Name string
	From int64 // seconds
}{
	{"< 1s", 0}, {"1-5s", 1}, {"5-10s", 5}, {"10-30s", 10}, {"30-60s", 30}, {"1-5m", 60}, {"5-10m", 300}, {"> 10m", 600},
}

func deliveryBucketCase() string {
	q := "CASE"
	for i := len(DeliveryBuckets) - 1; i > 0; i-- {
		q += " WHEN r.updated_at - r.created_at >= " + strconv.FormatInt(DeliveryBuckets[i].From, 10) + " THEN " + strconv.Itoa(i)
	}
	return q + " ELSE 0 END"
}

// RecipientDomainRow is one (status, delivery-time bucket) group of a recipient domain.
type RecipientDomainRow struct {
	Status string `db:"status"`
	Bucket int    `db:"bucket"`
	Count  int64  `db:"n"`
	Sum    int64  `db:"total"`
	Min    int64  `db:"min_s"`
	Max    int64  `db:"max_s"`
}

// RecipientDomainStats groups the recipients of domainID at rcptDomain (lower case) accepted
// in [from, to] (unix seconds, inclusive) by status and delivery-time bucket.
func (db *DB) RecipientDomainStats(ctx context.Context, domainID int64, rcptDomain string, from, to int64) ([]RecipientDomainRow, error) {
	q := `SELECT status, bucket, COUNT(*) AS n, SUM(secs) AS total, MIN(secs) AS min_s, MAX(secs) AS max_s FROM (
		SELECT ` + rdStatusCase + ` AS status, ` + deliveryBucketCase() + ` AS bucket, r.updated_at - r.created_at AS secs
		FROM recipients r WHERE r.domain_id = ? AND r.created_at >= ? AND r.created_at <= ? AND ` + rcptDomainExpr + ` = ?
		) x WHERE status <> '' GROUP BY status, bucket ORDER BY status, bucket`
	out := []RecipientDomainRow{}
	err := db.r.SelectContext(ctx, &out, q, domainID, from, to, rcptDomain)
	return out, err
}

// RecipientDomainCount is one row of listrecipientdomains: a recipient domain's counts and
// the delivery times (seconds) of its Sent recipients (NULL when none).
type RecipientDomainCount struct {
	Domain  string        `db:"k"`
	Sent    int64         `db:"sent"`
	Failed  int64         `db:"failed"`
	Sending int64         `db:"sending"`
	SentSum sql.NullInt64 `db:"sent_sum"`
	Min     sql.NullInt64 `db:"min_s"`
	Max     sql.NullInt64 `db:"max_s"`
}

// RecipientDomains lists the recipient domains of domainID's recipients accepted in
// [from, to], most Sent first (then by name), at most limit rows.
func (db *DB) RecipientDomains(ctx context.Context, domainID int64, from, to int64, limit int) ([]RecipientDomainCount, error) {
	q := `SELECT k, SUM(CASE WHEN status = 'Sent' THEN 1 ELSE 0 END) AS sent,
		SUM(CASE WHEN status = 'Failed' THEN 1 ELSE 0 END) AS failed,
		SUM(CASE WHEN status = 'Sending' THEN 1 ELSE 0 END) AS sending,
		SUM(CASE WHEN status = 'Sent' THEN secs END) AS sent_sum,
		MIN(CASE WHEN status = 'Sent' THEN secs END) AS min_s,
		MAX(CASE WHEN status = 'Sent' THEN secs END) AS max_s FROM (
		SELECT ` + rcptDomainExpr + ` AS k, ` + rdStatusCase + ` AS status, r.updated_at - r.created_at AS secs
		FROM recipients r WHERE r.domain_id = ? AND r.created_at >= ? AND r.created_at <= ?
		) x WHERE status <> '' GROUP BY k ORDER BY sent DESC, k LIMIT ` + strconv.Itoa(limit)
	out := []RecipientDomainCount{}
	err := db.r.SelectContext(ctx, &out, q, domainID, from, to)
	return out, err
}
