package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
)

// Webhook is a URL registered for one event type of one sender domain. Event is the canonical
// event name (delivered, bounced, opened, clicked, unsubscribed, complained); the surfaces
// render it in their own vocabulary.
type Webhook struct {
	ID        int64  `db:"id"`
	DomainID  int64  `db:"domain_id"`
	UserID    int64  `db:"user_id"`
	Event     string `db:"event"`
	URL       string `db:"url"`
	URLHash   string `db:"url_hash"`
	CreatedAt int64  `db:"created_at"`
}

const webhookCols = "id, domain_id, user_id, event, url, url_hash, created_at"

func init() {
	domainChildren = append(domainChildren, "DELETE FROM domain_webhooks WHERE domain_id = ?")
}

func urlHash(u string) string {
	sum := sha256.Sum256([]byte(u))
	return hex.EncodeToString(sum[:])
}

// CreateWebhook stores w and sets w.ID. Registering the same URL for the same event of the same
// domain again is not an error: w takes the existing row's ID and created is false.
func (db *DB) CreateWebhook(ctx context.Context, w *Webhook) (created bool, err error) {
	w.URLHash = urlHash(w.URL)
	w.CreatedAt = now()
	err = db.Tx(ctx, func(tx *sqlxTx) error {
		var id int64
		err := tx.GetContext(ctx, &id, "SELECT id FROM domain_webhooks WHERE domain_id = ? AND event = ? AND url_hash = ?",
			w.DomainID, w.Event, w.URLHash)
		if err == nil {
			w.ID = id
			return nil
		}
		if err = notFound(err); err != ErrNotFound {
			return err
		}
		res, err := tx.NamedExecContext(ctx, `INSERT INTO domain_webhooks (domain_id, user_id, event, url, url_hash, created_at)
			VALUES (:domain_id, :user_id, :event, :url, :url_hash, :created_at)`, w)
		if isDuplicate(err) {
			return ErrDuplicate
		}
		if err != nil {
			return err
		}
		created = true
		w.ID, err = res.LastInsertId()
		return err
	})
	return created, err
}

// Webhooks lists a domain's webhooks, oldest first.
func (db *DB) Webhooks(ctx context.Context, domainID int64) ([]Webhook, error) {
	var ws []Webhook
	err := db.r.SelectContext(ctx, &ws, "SELECT "+webhookCols+" FROM domain_webhooks WHERE domain_id = ? ORDER BY id", domainID)
	return ws, err
}

// WebhooksForEvent lists the webhooks of a domain registered for one canonical event type
// (what the event writer fans out to).
func (db *DB) WebhooksForEvent(ctx context.Context, domainID int64, event string) ([]Webhook, error) {
	var ws []Webhook
	err := db.r.SelectContext(ctx, &ws, "SELECT "+webhookCols+" FROM domain_webhooks WHERE domain_id = ? AND event = ? ORDER BY id", domainID, event)
	return ws, err
}

// DeleteWebhook removes a webhook of the domain; a webhook of another domain is ErrNotFound.
func (db *DB) DeleteWebhook(ctx context.Context, domainID, id int64) error {
	return affected(db.w.ExecContext(ctx, "DELETE FROM domain_webhooks WHERE id = ? AND domain_id = ?", id, domainID))
}

// CredentialCounts is how many API keys, SMTP credentials and webhooks a domain has.
type CredentialCounts struct {
	APIKeys  int
	SMTP     int
	Webhooks int
}

// CredentialCountsByUser returns the counts of every domain of the user that has any.
func (db *DB) CredentialCountsByUser(ctx context.Context, userID int64) (map[int64]CredentialCounts, error) {
	out := map[int64]CredentialCounts{}
	type row struct {
		DomainID int64 `db:"domain_id"`
		N        int   `db:"n"`
	}
	for _, q := range []struct {
		table string
		set   func(c *CredentialCounts, n int)
	}{
		{"domain_api_keys", func(c *CredentialCounts, n int) { c.APIKeys = n }},
		{"smtp_credentials", func(c *CredentialCounts, n int) { c.SMTP = n }},
		{"domain_webhooks", func(c *CredentialCounts, n int) { c.Webhooks = n }},
	} {
		var rows []row
		if err := db.r.SelectContext(ctx, &rows, "SELECT domain_id, COUNT(*) AS n FROM "+q.table+" WHERE user_id = ? GROUP BY domain_id", userID); err != nil {
			return nil, err
		}
		for _, r := range rows {
			c := out[r.DomainID]
			q.set(&c, r.N)
			out[r.DomainID] = c
		}
	}
	return out, nil
}

// WebhookByID is one webhook of the domain; a webhook of another domain is ErrNotFound.
func (db *DB) WebhookByID(ctx context.Context, domainID, id int64) (*Webhook, error) {
	var w Webhook
	err := db.r.GetContext(ctx, &w, "SELECT "+webhookCols+" FROM domain_webhooks WHERE id = ? AND domain_id = ?", id, domainID)
	if err != nil {
		return nil, notFound(err)
	}
	return &w, nil
}

// EnqueueWebhookTest queues one test delivery to w: a payload of w's event type marked
// "test": true, with no message behind it (event 0), signed and retried like any other.
func (db *DB) EnqueueWebhookTest(ctx context.Context, w *Webhook) error {
	t := now()
	body, err := jsonBytes(WebhookPayload{Event: w.Event, LegacyEvent: LegacyEventName(w.Event), Timestamp: t,
		MessageID: "test", Recipient: "recipient@example.com", Tags: []string{"test"}, Test: true,
		Message: PayloadMessage{Headers: PayloadHeaders{From: "sender@example.com", To: "recipient@example.com",
			Subject: "Test event from the gatewayd console"}}})
	if err != nil {
		return err
	}
	return db.Tx(ctx, func(tx *sqlxTx) error {
		return insertOutbox(ctx, tx, &OutboxRow{Kind: OutboxWebhook, DomainID: w.DomainID, WebhookID: w.ID, URL: w.URL,
			Payload: string(body)})
	})
}
