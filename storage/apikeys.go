package storage

import "context"

// DomainAPIKey is a sender API key (eg_live_...): it authenticates sends, events and webhooks
// of one domain. The hash finds it; the sealed copy lets getapis list it back.
type DomainAPIKey struct {
	ID          int64  `db:"id"`
	DomainID    int64  `db:"domain_id"`
	UserID      int64  `db:"user_id"`
	KeyHash     string `db:"key_hash"`
	KeyEnc      string `db:"key_enc"`
	Description string `db:"description"`
	CreatedAt   int64  `db:"created_at"`
}

const apiKeyCols = "id, domain_id, user_id, key_hash, key_enc, description, created_at"

func init() {
	domainChildren = append(domainChildren, "DELETE FROM domain_api_keys WHERE domain_id = ?")
}

// CreateDomainAPIKey stores k and sets k.ID.
func (db *DB) CreateDomainAPIKey(ctx context.Context, k *DomainAPIKey) error {
	return db.Tx(ctx, func(tx *sqlxTx) error { return insertDomainAPIKey(ctx, tx, k) })
}

func insertDomainAPIKey(ctx context.Context, tx *sqlxTx, k *DomainAPIKey) error {
	k.CreatedAt = now()
	res, err := tx.ExecContext(ctx, "INSERT INTO domain_api_keys (domain_id, user_id, key_hash, key_enc, description, created_at) VALUES (?, ?, ?, ?, ?, ?)",
		k.DomainID, k.UserID, k.KeyHash, k.KeyEnc, k.Description, k.CreatedAt)
	if err != nil {
		return err
	}
	k.ID, err = res.LastInsertId()
	return err
}

// ReplaceDomainAPIKey deletes the key oldID of the user and stores k in its place, in one
// transaction. An unknown or foreign oldID is ErrNotFound and nothing changes.
func (db *DB) ReplaceDomainAPIKey(ctx context.Context, userID, oldID int64, k *DomainAPIKey) error {
	defer db.senderChanges.Add(1)
	return db.Tx(ctx, func(tx *sqlxTx) error {
		var domainID int64
		if err := tx.GetContext(ctx, &domainID, "SELECT domain_id FROM domain_api_keys WHERE id = ? AND user_id = ?", oldID, userID); err != nil {
			return notFound(err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM domain_api_keys WHERE id = ?", oldID); err != nil {
			return err
		}
		k.DomainID, k.UserID = domainID, userID
		return insertDomainAPIKey(ctx, tx, k)
	})
}

// ReplaceDomainAPIKeys deletes every key of k's domain and stores k, in one transaction
// (octeth-5.9.4's replaceapi).
func (db *DB) ReplaceDomainAPIKeys(ctx context.Context, k *DomainAPIKey) error {
	defer db.senderChanges.Add(1)
	return db.Tx(ctx, func(tx *sqlxTx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM domain_api_keys WHERE domain_id = ? AND user_id = ?", k.DomainID, k.UserID); err != nil {
			return err
		}
		return insertDomainAPIKey(ctx, tx, k)
	})
}

// DomainAPIKeyByHash finds a key by the hash of its value.
func (db *DB) DomainAPIKeyByHash(ctx context.Context, hash string) (*DomainAPIKey, error) {
	var k DomainAPIKey
	err := db.r.GetContext(ctx, &k, "SELECT "+apiKeyCols+" FROM domain_api_keys WHERE key_hash = ?", hash)
	return &k, notFound(err)
}

// DomainAPIKeys lists a domain's keys, oldest first.
func (db *DB) DomainAPIKeys(ctx context.Context, domainID int64) ([]DomainAPIKey, error) {
	var ks []DomainAPIKey
	err := db.r.SelectContext(ctx, &ks, "SELECT "+apiKeyCols+" FROM domain_api_keys WHERE domain_id = ? ORDER BY id", domainID)
	return ks, err
}

// DeleteDomainAPIKey removes one of the user's keys; another user's key is ErrNotFound.
func (db *DB) DeleteDomainAPIKey(ctx context.Context, userID, id int64) error {
	defer db.senderChanges.Add(1)
	return affected(db.w.ExecContext(ctx, "DELETE FROM domain_api_keys WHERE id = ? AND user_id = ?", id, userID))
}

// DomainAPIKeyByID returns one of the user's keys; another user's key is ErrNotFound.
func (db *DB) DomainAPIKeyByID(ctx context.Context, userID, id int64) (*DomainAPIKey, error) {
	var k DomainAPIKey
	err := db.r.GetContext(ctx, &k, "SELECT "+apiKeyCols+" FROM domain_api_keys WHERE id = ? AND user_id = ?", id, userID)
	return &k, notFound(err)
}
