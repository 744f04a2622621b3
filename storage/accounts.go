package storage

import (
	"context"
	"strings"
)

// User is a tenant account (a Navixy dealer is one too).
type User struct {
	ID               int64  `db:"id"`
	GroupID          int64  `db:"group_id"`
	Username         string `db:"username"`
	Email            string `db:"email"`
	PasswordHash     string `db:"password_hash"`
	FirstName        string `db:"first_name"`
	LastName         string `db:"last_name"`
	CompanyName      string `db:"company_name"`
	TimeZone         string `db:"time_zone"`
	Language         string `db:"language"`
	AccountStatus    string `db:"account_status"`   // Enabled | Disabled
	ReputationLevel  string `db:"reputation_level"` // Trusted | Untrusted
	Verified         bool   `db:"verified"`
	MaxSenderDomains int    `db:"max_sender_domains"` // 0: no limit
	MonthlySendLimit int64  `db:"monthly_send_limit"` // 0: no limit
	// Profile is a JSON object of the profile fields users.md names beyond the columns above
	// (Website, Street, City, Phone ...).
	Profile   string `db:"profile"`
	CreatedAt int64  `db:"created_at"`
}

// UserGroup carries the permissions of its users: "*" or a comma list.
type UserGroup struct {
	ID          int64  `db:"id"`
	Name        string `db:"name"`
	Permissions string `db:"permissions"`
	// Settings is a JSON object of the group's other users.md fields (Limit*, Force*,
	// Options, DefaultRateLimits ...).
	Settings  string `db:"settings"`
	CreatedAt int64  `db:"created_at"`
}

// Admin is a platform administrator who logs in with admin.login.
type Admin struct {
	ID           int64  `db:"id"`
	Username     string `db:"username"`
	Email        string `db:"email"`
	PasswordHash string `db:"password_hash"`
	CreatedAt    int64  `db:"created_at"`
}

// Session is a login: kind "user" or "admin", subject the user or admin id.
type Session struct {
	TokenHash string `db:"token_hash"`
	Kind      string `db:"kind"`
	SubjectID int64  `db:"subject_id"`
	CreatedAt int64  `db:"created_at"`
	ExpiresAt int64  `db:"expires_at"`
}

// UserAPIKey is a user's API key: the hash finds it, the sealed copy lists it back.
type UserAPIKey struct {
	ID          int64  `db:"id"`
	UserID      int64  `db:"user_id"`
	KeyHash     string `db:"key_hash"`
	KeyEnc      string `db:"key_enc"`
	Description string `db:"description"`
	CreatedAt   int64  `db:"created_at"`
}

const userCols = `id, group_id, username, email, password_hash, first_name, last_name, company_name,
	time_zone, language, account_status, reputation_level, verified, max_sender_domains, monthly_send_limit,
	COALESCE(profile, '{}') AS profile, created_at`

// CreateUser inserts u (username and email are stored lower-cased) and sets u.ID.
// ErrDuplicate names which one clashed through DuplicateField.
func (db *DB) CreateUser(ctx context.Context, u *User) error {
	u.Username = strings.ToLower(u.Username)
	u.Email = strings.ToLower(u.Email)
	u.CreatedAt = now()
	if u.Profile == "" {
		u.Profile = "{}"
	}
	res, err := db.w.NamedExecContext(ctx, `INSERT INTO users (group_id, username, email, password_hash, first_name,
		last_name, company_name, time_zone, language, account_status, reputation_level, verified, max_sender_domains,
		monthly_send_limit, profile, created_at) VALUES (:group_id, :username, :email, :password_hash, :first_name, :last_name,
		:company_name, :time_zone, :language, :account_status, :reputation_level, :verified, :max_sender_domains,
		:monthly_send_limit, :profile, :created_at)`, u)
	if isDuplicate(err) {
		if _, e := db.UserByUsername(ctx, u.Username); e == nil {
			return &DuplicateError{Field: "username"}
		}
		return &DuplicateError{Field: "email"}
	}
	if err != nil {
		return err
	}
	u.ID, err = res.LastInsertId()
	return err
}

// DuplicateError is an ErrDuplicate that names the clashing field.
type DuplicateError struct{ Field string }

func (e *DuplicateError) Error() string        { return "duplicate " + e.Field }
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicate }

// CountUsers counts every user account.
func (db *DB) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	err := db.r.GetContext(ctx, &n, "SELECT COUNT(*) FROM users")
	return n, err
}

// UserByID returns one user.
func (db *DB) UserByID(ctx context.Context, id int64) (*User, error) {
	var u User
	err := db.r.GetContext(ctx, &u, "SELECT "+userCols+" FROM users WHERE id = ?", id)
	return &u, notFound(err)
}

// UserByUsername finds a user by username, case-insensitively.
func (db *DB) UserByUsername(ctx context.Context, username string) (*User, error) {
	var u User
	err := db.r.GetContext(ctx, &u, "SELECT "+userCols+" FROM users WHERE username = ?", strings.ToLower(username))
	return &u, notFound(err)
}

// UserByEmail finds a user by email address, case-insensitively.
func (db *DB) UserByEmail(ctx context.Context, email string) (*User, error) {
	var u User
	err := db.r.GetContext(ctx, &u, "SELECT "+userCols+" FROM users WHERE email = ?", strings.ToLower(email))
	return &u, notFound(err)
}

// UpdateUserFlags changes the account flags the send path checks.
func (db *DB) UpdateUserFlags(ctx context.Context, u *User) error {
	defer db.senderChanges.Add(1)
	_, err := db.w.NamedExecContext(ctx, `UPDATE users SET account_status = :account_status,
		reputation_level = :reputation_level, verified = :verified, max_sender_domains = :max_sender_domains,
		monthly_send_limit = :monthly_send_limit, group_id = :group_id WHERE id = :id`, u)
	return err
}

// CreateGroup inserts a user group and sets g.ID.
func (db *DB) CreateGroup(ctx context.Context, g *UserGroup) error {
	g.CreatedAt = now()
	if g.Settings == "" {
		g.Settings = "{}"
	}
	res, err := db.w.ExecContext(ctx, "INSERT INTO user_groups (name, permissions, settings, created_at) VALUES (?, ?, ?, ?)",
		g.Name, g.Permissions, g.Settings, g.CreatedAt)
	if err != nil {
		return err
	}
	g.ID, err = res.LastInsertId()
	return err
}

// GroupByID returns one user group.
func (db *DB) GroupByID(ctx context.Context, id int64) (*UserGroup, error) {
	var g UserGroup
	err := db.r.GetContext(ctx, &g, "SELECT "+groupCols+" FROM user_groups WHERE id = ?", id)
	return &g, notFound(err)
}

// CreateAdmin inserts an administrator.
func (db *DB) CreateAdmin(ctx context.Context, a *Admin) error {
	a.Username = strings.ToLower(a.Username)
	a.CreatedAt = now()
	res, err := db.w.ExecContext(ctx, "INSERT INTO admins (username, email, password_hash, created_at) VALUES (?, ?, ?, ?)",
		a.Username, a.Email, a.PasswordHash, a.CreatedAt)
	if isDuplicate(err) {
		return &DuplicateError{Field: "username"}
	}
	if err != nil {
		return err
	}
	a.ID, err = res.LastInsertId()
	return err
}

// AdminByUsername finds an administrator.
func (db *DB) AdminByUsername(ctx context.Context, username string) (*Admin, error) {
	var a Admin
	err := db.r.GetContext(ctx, &a, "SELECT id, username, email, password_hash, created_at FROM admins WHERE username = ?",
		strings.ToLower(username))
	return &a, notFound(err)
}

// CreateSession stores a session by the hash of its token.
func (db *DB) CreateSession(ctx context.Context, s *Session) error {
	s.CreatedAt = now()
	_, err := db.w.ExecContext(ctx, "INSERT INTO sessions (token_hash, kind, subject_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
		s.TokenHash, s.Kind, s.SubjectID, s.CreatedAt, s.ExpiresAt)
	return err
}

// SessionByHash returns a session that has not expired.
func (db *DB) SessionByHash(ctx context.Context, hash string) (*Session, error) {
	var s Session
	err := db.r.GetContext(ctx, &s, "SELECT token_hash, kind, subject_id, created_at, expires_at FROM sessions WHERE token_hash = ? AND expires_at > ?",
		hash, now())
	return &s, notFound(err)
}

// DeleteSession ends a session.
func (db *DB) DeleteSession(ctx context.Context, hash string) error {
	return affected(db.w.ExecContext(ctx, "DELETE FROM sessions WHERE token_hash = ?", hash))
}

// DeleteExpiredSessions removes sessions past their expiry.
func (db *DB) DeleteExpiredSessions(ctx context.Context) (int64, error) {
	res, err := db.w.ExecContext(ctx, "DELETE FROM sessions WHERE expires_at <= ?", now())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// CreateUserAPIKey stores a user API key and sets k.ID.
func (db *DB) CreateUserAPIKey(ctx context.Context, k *UserAPIKey) error {
	k.CreatedAt = now()
	res, err := db.w.ExecContext(ctx, "INSERT INTO user_api_keys (user_id, key_hash, key_enc, description, created_at) VALUES (?, ?, ?, ?, ?)",
		k.UserID, k.KeyHash, k.KeyEnc, k.Description, k.CreatedAt)
	if err != nil {
		return err
	}
	k.ID, err = res.LastInsertId()
	return err
}

// UserAPIKeyByHash finds a key by the hash of its value.
func (db *DB) UserAPIKeyByHash(ctx context.Context, hash string) (*UserAPIKey, error) {
	var k UserAPIKey
	err := db.r.GetContext(ctx, &k, "SELECT id, user_id, key_hash, key_enc, description, created_at FROM user_api_keys WHERE key_hash = ?", hash)
	return &k, notFound(err)
}

// UserAPIKeys lists a user's keys, oldest first.
func (db *DB) UserAPIKeys(ctx context.Context, userID int64) ([]UserAPIKey, error) {
	var ks []UserAPIKey
	err := db.r.SelectContext(ctx, &ks, "SELECT id, user_id, key_hash, key_enc, description, created_at FROM user_api_keys WHERE user_id = ? ORDER BY id", userID)
	return ks, err
}

// DeleteUserAPIKey removes one of a user's keys; another user's key is ErrNotFound.
func (db *DB) DeleteUserAPIKey(ctx context.Context, userID, id int64) error {
	return affected(db.w.ExecContext(ctx, "DELETE FROM user_api_keys WHERE id = ? AND user_id = ?", id, userID))
}
