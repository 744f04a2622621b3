package storage

import (
	"context"
	"strings"
)

// Domain statuses, as the Octeth API spells them.
const (
	DomainPending  = "Approval Pending"
	DomainEnabled  = "Enabled"
	DomainDisabled = "Disabled"
)

// SenderDomain is a tenant's sending domain with its DKIM key and webhook signing key.
type SenderDomain struct {
	ID              int64  `db:"id"`
	UserID          int64  `db:"user_id"`
	Name            string `db:"name"`
	Status          string `db:"status"`
	LinkTracking    bool   `db:"link_tracking"`
	OpenTracking    bool   `db:"open_tracking"`
	UnsubscribeLink bool   `db:"unsubscribe_link"`
	HostingProvider string `db:"hosting_provider"`
	Subdomain       string `db:"subdomain"`
	// TrackPrefix, TrackMerge and TrackPrefixDisabled choose the host of the domain's
	// tracking URLs (commands.TrackingBase).
	TrackPrefix         string `db:"track_prefix"`
	TrackMerge          string `db:"track_merge"`
	TrackPrefixDisabled bool   `db:"track_prefix_disabled"`
	DKIMSelector        string `db:"dkim_selector"`
	DKIMPrivateEnc      string `db:"dkim_private_enc"`
	DKIMPublic          string `db:"dkim_public"`
	// The RFC 8463 Ed25519 key, when the domain signs with one too ("" selector: it does not).
	DKIMEd25519Selector   string `db:"dkim_ed25519_selector"`
	DKIMEd25519PrivateEnc string `db:"dkim_ed25519_private_enc"`
	DKIMEd25519Public     string `db:"dkim_ed25519_public"`
	SigningKeyEnc         string `db:"signing_key_enc"`
	CreatedAt             int64  `db:"created_at"`
	VerifiedAt            int64  `db:"verified_at"`
}

const domainCols = `id, user_id, name, status, link_tracking, open_tracking, unsubscribe_link, hosting_provider,
	subdomain, track_prefix, track_merge, track_prefix_disabled, dkim_selector, dkim_private_enc, dkim_public,
	dkim_ed25519_selector, dkim_ed25519_private_enc, dkim_ed25519_public, signing_key_enc, created_at, verified_at`

// CreateDomain inserts d unless the user is at maxDomains (0: no limit), in one transaction.
// It returns ErrLimit at the limit and ErrDuplicate when the user already has the name.
func (db *DB) CreateDomain(ctx context.Context, d *SenderDomain, maxDomains int) error {
	d.Name = strings.ToLower(d.Name)
	d.CreatedAt = now()
	return db.Tx(ctx, func(tx *sqlxTx) error {
		if maxDomains > 0 {
			var n int
			if err := tx.GetContext(ctx, &n, "SELECT COUNT(*) FROM sender_domains WHERE user_id = ?", d.UserID); err != nil {
				return err
			}
			if n >= maxDomains {
				return ErrLimit
			}
		}
		res, err := tx.NamedExecContext(ctx, `INSERT INTO sender_domains (user_id, name, status, link_tracking,
			open_tracking, unsubscribe_link, hosting_provider, subdomain, track_prefix, track_merge, track_prefix_disabled,
			dkim_selector, dkim_private_enc, dkim_public, signing_key_enc, created_at, verified_at) VALUES (:user_id, :name,
			:status, :link_tracking, :open_tracking, :unsubscribe_link, :hosting_provider, :subdomain, :track_prefix,
			:track_merge, :track_prefix_disabled, :dkim_selector, :dkim_private_enc, :dkim_public,
			:signing_key_enc, :created_at, :verified_at)`, d)
		if isDuplicate(err) {
			return ErrDuplicate
		}
		if err != nil {
			return err
		}
		d.ID, err = res.LastInsertId()
		return err
	})
}

// ErrLimit is returned when an account limit refuses a row.
var ErrLimit = errorString("limit reached")

type errorString string

func (e errorString) Error() string { return string(e) }

// DomainByID returns a domain; ownerID > 0 restricts it to that user (another user's domain
// is ErrNotFound, never a different answer).
func (db *DB) DomainByID(ctx context.Context, id, ownerID int64) (*SenderDomain, error) {
	var d SenderDomain
	q := "SELECT " + domainCols + " FROM sender_domains WHERE id = ?"
	args := []any{id}
	if ownerID > 0 {
		q += " AND user_id = ?"
		args = append(args, ownerID)
	}
	err := db.r.GetContext(ctx, &d, q, args...)
	return &d, notFound(err)
}

// DomainsByUser lists a user's domains in creation order.
func (db *DB) DomainsByUser(ctx context.Context, userID int64) ([]SenderDomain, error) {
	var ds []SenderDomain
	err := db.r.SelectContext(ctx, &ds, "SELECT "+domainCols+" FROM sender_domains WHERE user_id = ? ORDER BY id", userID)
	return ds, err
}

// DomainsByStatus lists every tenant's domains in one status, by name.
func (db *DB) DomainsByStatus(ctx context.Context, status string) ([]SenderDomain, error) {
	var ds []SenderDomain
	err := db.r.SelectContext(ctx, &ds, "SELECT "+domainCols+" FROM sender_domains WHERE status = ? ORDER BY name, id", status)
	return ds, err
}

// DomainsByName lists every registration of a domain name (several tenants may claim one;
// each proves it with its own DKIM selector).
func (db *DB) DomainsByName(ctx context.Context, name string) ([]SenderDomain, error) {
	var ds []SenderDomain
	err := db.r.SelectContext(ctx, &ds, "SELECT "+domainCols+" FROM sender_domains WHERE name = ? ORDER BY id", strings.ToLower(name))
	return ds, err
}

// UpdateDomainOptions saves the tracking options, hosting provider, subdomain and tracking host.
func (db *DB) UpdateDomainOptions(ctx context.Context, d *SenderDomain) error {
	defer db.senderChanges.Add(1)
	_, err := db.w.NamedExecContext(ctx, `UPDATE sender_domains SET link_tracking = :link_tracking,
		open_tracking = :open_tracking, unsubscribe_link = :unsubscribe_link, hosting_provider = :hosting_provider,
		subdomain = :subdomain, track_prefix = :track_prefix, track_merge = :track_merge,
		track_prefix_disabled = :track_prefix_disabled WHERE id = :id AND user_id = :user_id`, d)
	return err
}

// SetDomainStatus changes a domain's status; verifiedAt 0 leaves the verification time alone.
func (db *DB) SetDomainStatus(ctx context.Context, id int64, status string, verifiedAt int64) error {
	defer db.senderChanges.Add(1)
	if verifiedAt > 0 {
		return affected(db.w.ExecContext(ctx, "UPDATE sender_domains SET status = ?, verified_at = ? WHERE id = ?", status, verifiedAt, id))
	}
	return affected(db.w.ExecContext(ctx, "UPDATE sender_domains SET status = ? WHERE id = ?", status, id))
}

// SetDomainEd25519 sets the domain's Ed25519 DKIM selector, sealed key and public key (all
// "": the domain signs with its RSA key only).
func (db *DB) SetDomainEd25519(ctx context.Context, id int64, selector, privEnc, public string) error {
	defer db.senderChanges.Add(1)
	return affected(db.w.ExecContext(ctx, "UPDATE sender_domains SET dkim_ed25519_selector = ?, dkim_ed25519_private_enc = ?, dkim_ed25519_public = ? WHERE id = ?",
		selector, privEnc, public, id))
}

// SetDomainSigningKey replaces the sealed webhook signing key.
func (db *DB) SetDomainSigningKey(ctx context.Context, id int64, sealed string) error {
	return affected(db.w.ExecContext(ctx, "UPDATE sender_domains SET signing_key_enc = ? WHERE id = ?", sealed, id))
}

// DeleteDomain removes a user's domain and every row that hangs off it, through the
// cleanup hooks the other table groups register in domainChildren.
func (db *DB) DeleteDomain(ctx context.Context, id, ownerID int64) error {
	defer db.senderChanges.Add(1)
	return db.Tx(ctx, func(tx *sqlxTx) error {
		var uid int64
		if err := tx.GetContext(ctx, &uid, "SELECT user_id FROM sender_domains WHERE id = ?", id); err != nil {
			return notFound(err)
		}
		if ownerID > 0 && uid != ownerID {
			return ErrNotFound
		}
		for _, stmt := range domainChildren {
			if _, err := tx.ExecContext(ctx, stmt, id); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM sender_domains WHERE id = ?", id)
		return err
	})
}

// domainChildren are the statements (one ? for the domain id) that remove a domain's
// dependent rows. Each table group that hangs rows off a domain appends its statement from
// an init function in its own file, so the table's owner keeps its cleanup beside its SQL.
var domainChildren []string

// ReturnPathDomain is the domain of the VERP envelope sender, which the customer points at
// gatewayd with a CNAME so bounces come back here.
func (d *SenderDomain) ReturnPathDomain() string { return "bounces." + d.Name }
