package storage

import (
	"context"
	"net/netip"
	"strings"
)

// SMTPCredential is a username and password (stored as a SHA-256 hash: passwords are generated,
// high-entropy strings) that authenticates SMTP AUTH for one sender domain. AllowedNetworks, a
// comma-separated list of CIDR prefixes, lets clients in those networks relay for the domain
// without AUTH.
type SMTPCredential struct {
	ID              int64  `db:"id"`
	DomainID        int64  `db:"domain_id"`
	UserID          int64  `db:"user_id"`
	Username        string `db:"username"`
	PasswordHash    string `db:"password_hash"`
	AllowedNetworks string `db:"allowed_networks"`
	CreatedAt       int64  `db:"created_at"`
	UpdatedAt       int64  `db:"updated_at"`
}

// Networks parses AllowedNetworks; entries that do not parse are skipped (the commands store
// only valid, canonical prefixes).
func (c *SMTPCredential) Networks() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range strings.Split(c.AllowedNetworks, ",") {
		if p, err := netip.ParsePrefix(strings.TrimSpace(s)); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Allows reports whether ip is inside one of the credential's allowed networks.
func (c *SMTPCredential) Allows(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range c.Networks() {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

const smtpCols = "id, domain_id, user_id, username, password_hash, allowed_networks, created_at, updated_at"

func init() {
	domainChildren = append(domainChildren, "DELETE FROM smtp_credentials WHERE domain_id = ?")
}

// CreateSMTPCredential stores c and sets c.ID; a username already taken is ErrDuplicate.
func (db *DB) CreateSMTPCredential(ctx context.Context, c *SMTPCredential) error {
	defer db.senderChanges.Add(1) // a new credential may open relaying to an address at once
	c.CreatedAt = now()
	c.UpdatedAt = c.CreatedAt
	res, err := db.w.NamedExecContext(ctx, `INSERT INTO smtp_credentials (domain_id, user_id, username,
		password_hash, allowed_networks, created_at, updated_at) VALUES (:domain_id, :user_id, :username,
		:password_hash, :allowed_networks, :created_at, :updated_at)`, c)
	if isDuplicate(err) {
		return ErrDuplicate
	}
	if err != nil {
		return err
	}
	c.ID, err = res.LastInsertId()
	return err
}

// SMTPCredentialByID returns one of the user's credentials; another user's is ErrNotFound.
func (db *DB) SMTPCredentialByID(ctx context.Context, userID, id int64) (*SMTPCredential, error) {
	var c SMTPCredential
	err := db.r.GetContext(ctx, &c, "SELECT "+smtpCols+" FROM smtp_credentials WHERE id = ? AND user_id = ?", id, userID)
	return &c, notFound(err)
}

// SMTPCredentialByUsername finds a credential by its (lower-case) username.
func (db *DB) SMTPCredentialByUsername(ctx context.Context, username string) (*SMTPCredential, error) {
	var c SMTPCredential
	err := db.r.GetContext(ctx, &c, "SELECT "+smtpCols+" FROM smtp_credentials WHERE username = ?", strings.ToLower(username))
	return &c, notFound(err)
}

// SMTPCredentials lists a domain's credentials, oldest first.
func (db *DB) SMTPCredentials(ctx context.Context, domainID int64) ([]SMTPCredential, error) {
	var cs []SMTPCredential
	err := db.r.SelectContext(ctx, &cs, "SELECT "+smtpCols+" FROM smtp_credentials WHERE domain_id = ? ORDER BY id", domainID)
	return cs, err
}

// SMTPCredentialsWithNetworks lists every credential that has allowed networks (the relay
// matches a connecting address against them).
func (db *DB) SMTPCredentialsWithNetworks(ctx context.Context) ([]SMTPCredential, error) {
	var cs []SMTPCredential
	err := db.r.SelectContext(ctx, &cs, "SELECT "+smtpCols+" FROM smtp_credentials WHERE allowed_networks <> '' ORDER BY id")
	return cs, err
}

// SetSMTPPassword replaces the password hash of one of the user's credentials.
func (db *DB) SetSMTPPassword(ctx context.Context, userID, id int64, hash string) error {
	defer db.senderChanges.Add(1)
	return affected(db.w.ExecContext(ctx, "UPDATE smtp_credentials SET password_hash = ?, updated_at = ? WHERE id = ? AND user_id = ?",
		hash, now(), id, userID))
}

// DeleteSMTPCredential removes one of the user's credentials; another user's is ErrNotFound.
func (db *DB) DeleteSMTPCredential(ctx context.Context, userID, id int64) error {
	defer db.senderChanges.Add(1)
	return affected(db.w.ExecContext(ctx, "DELETE FROM smtp_credentials WHERE id = ? AND user_id = ?", id, userID))
}
