package storage

import (
	"context"
	"fmt"
	"strings"
)

// The account administration of users.md: updating, listing and deleting users, user
// groups, and the one-time password reset tokens.

const groupCols = "id, name, permissions, COALESCE(settings, '{}') AS settings, created_at"

// userSessionKinds lists, for IN, the session kinds that act as a user (user.login, Navixy's
// panel/account/auth, user.switch).
const userSessionKinds = "('user', 'navixy', 'switch', 'switch-full')"

// UpdateUser writes every field of u except its id and creation time. A username or email
// taken by another user is a *DuplicateError naming it.
func (db *DB) UpdateUser(ctx context.Context, u *User) error {
	defer db.senderChanges.Add(1)
	u.Username = strings.ToLower(u.Username)
	u.Email = strings.ToLower(u.Email)
	if u.Profile == "" {
		u.Profile = "{}"
	}
	_, err := db.w.NamedExecContext(ctx, `UPDATE users SET group_id = :group_id, username = :username,
		email = :email, password_hash = :password_hash, first_name = :first_name, last_name = :last_name,
		company_name = :company_name, time_zone = :time_zone, language = :language,
		account_status = :account_status, reputation_level = :reputation_level, verified = :verified,
		max_sender_domains = :max_sender_domains, monthly_send_limit = :monthly_send_limit, profile = :profile
		WHERE id = :id`, u)
	if isDuplicate(err) {
		if o, e := db.UserByUsername(ctx, u.Username); e == nil && o.ID != u.ID {
			return &DuplicateError{Field: "username"}
		}
		return &DuplicateError{Field: "email"}
	}
	return err
}

// userColumns maps users.md's column names (case-insensitively) to the users table's, for
// sorting and searching users.get.
var userColumns = map[string]string{
	"userid": "id", "relusergroupid": "group_id", "emailaddress": "email", "username": "username",
	"firstname": "first_name", "lastname": "last_name", "companyname": "company_name",
	"timezone": "time_zone", "language": "language", "accountstatus": "account_status",
	"reputationlevel": "reputation_level", "usersince": "created_at",
}

// UserColumn returns the column behind a users.md column name, and whether there is one.
func UserColumn(name string) (string, bool) {
	c, ok := userColumns[strings.ToLower(name)]
	return c, ok
}

// UserOrder is one sort key of a user listing: a users.md column name.
type UserOrder struct {
	Field string
	Desc  bool
}

// UserQuery selects users for users.get.
type UserQuery struct {
	Offset, Limit int
	Order         []UserOrder // users.md names; unknown ones are refused
	GroupIDs      []int64     // any of these groups (none: every group)
	Status        string      // AccountStatus, "" any
	Reputation    string      // ReputationLevel, "" any
	Online        bool        // only users with a live session
	SearchFields  []string    // users.md names searched for Keyword (any of them)
	Keyword       string
	None          bool // matches nothing (a filter no user can meet)
}

// Users lists the users a query selects and how many there are in all.
func (db *DB) Users(ctx context.Context, q UserQuery) ([]User, int, error) {
	var where []string
	var args []any
	if q.None {
		where = append(where, "1 = 0")
	}
	if len(q.GroupIDs) > 0 {
		in, a := inList(q.GroupIDs)
		where = append(where, "group_id IN ("+in+")")
		args = append(args, a...)
	}
	if q.Status != "" {
		where = append(where, "account_status = ?")
		args = append(args, q.Status)
	}
	if q.Reputation != "" {
		where = append(where, "reputation_level = ?")
		args = append(args, q.Reputation)
	}
	if q.Online {
		where = append(where, "EXISTS (SELECT 1 FROM sessions s WHERE s.subject_id = users.id AND s.kind IN "+userSessionKinds+" AND s.expires_at > ?)")
		args = append(args, now())
	}
	if q.Keyword != "" && len(q.SearchFields) > 0 {
		var ors []string
		for _, f := range q.SearchFields {
			col, ok := UserColumn(f)
			if !ok {
				return nil, 0, fmt.Errorf("users: unknown search field %q", f)
			}
			ors = append(ors, "LOWER("+castText(db.Dialect, col)+") LIKE ? ESCAPE '!'")
			args = append(args, "%"+likeEscape(strings.ToLower(q.Keyword))+"%")
		}
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := db.r.GetContext(ctx, &total, "SELECT COUNT(*) FROM users"+cond, args...); err != nil {
		return nil, 0, err
	}
	var order []string
	for _, o := range q.Order {
		col, ok := UserColumn(o.Field)
		if !ok {
			return nil, 0, fmt.Errorf("users: unknown order field %q", o.Field)
		}
		dir := " ASC"
		if o.Desc {
			dir = " DESC"
		}
		order = append(order, col+dir)
	}
	order = append(order, "id ASC")
	var us []User
	err := db.r.SelectContext(ctx, &us, "SELECT "+userCols+" FROM users"+cond+" ORDER BY "+strings.Join(order, ", ")+
		" LIMIT ? OFFSET ?", append(args, q.Limit, q.Offset)...)
	return us, total, err
}

// castText renders a column as text for LIKE (ids and times are numbers).
func castText(d Dialect, col string) string {
	if d == MySQL {
		return "CAST(" + col + " AS CHAR)"
	}
	return "CAST(" + col + " AS TEXT)"
}

// userChildren are the statements (one ? for the user id) that remove what a user owns
// besides sender domains (DeleteDomain's cleanup) and the users row itself, in an order the
// foreign keys accept.
var userChildren = []string{
	"DELETE FROM subscriber_tag_members WHERE tag_id IN (SELECT id FROM subscriber_tags WHERE user_id = ?)",
	"DELETE FROM subscriber_tags WHERE user_id = ?",
	"DELETE FROM subscribers WHERE user_id = ?",
	"DELETE FROM custom_fields WHERE user_id = ?",
	"DELETE FROM subscriber_import_data WHERE import_id IN (SELECT id FROM subscriber_imports WHERE user_id = ?)",
	"DELETE FROM subscriber_imports WHERE user_id = ?",
	"DELETE FROM subscriber_exports WHERE user_id = ?",
	"DELETE FROM list_emails WHERE user_id = ?",
	"DELETE FROM subscriber_lists WHERE user_id = ?",
	"DELETE FROM suppressions WHERE user_id = ?",
	"DELETE FROM events WHERE user_id = ?",
	"DELETE FROM recipients WHERE user_id = ?",
	"DELETE FROM messages WHERE user_id = ?",
	"DELETE FROM user_usage WHERE user_id = ?",
	"DELETE FROM user_api_keys WHERE user_id = ?",
	"DELETE FROM password_resets WHERE user_id = ?",
	"DELETE FROM gateway_bindings WHERE user_id = ?",
	"DELETE FROM gateway_bindings WHERE gateway_id IN (SELECT id FROM gateways WHERE owner_id = ?)",
	"DELETE FROM gateway_methods WHERE gateway_id IN (SELECT id FROM gateways WHERE owner_id = ?)",
	"DELETE FROM gateways WHERE owner_id = ?",
	"DELETE FROM sessions WHERE subject_id = ? AND kind IN " + userSessionKinds,
}

// DeleteUsers deletes the users among ids with everything they own: sender domains (with
// their keys, credentials, webhooks and queued mail), lists and subscribers, messages and
// events, API keys, sessions and gateways. It returns the ids that existed.
func (db *DB) DeleteUsers(ctx context.Context, ids []int64) ([]int64, error) {
	defer db.senderChanges.Add(1)
	if len(ids) == 0 {
		return nil, nil
	}
	defer db.gatewayChanges.Add(1) // their gateways and bindings go too
	var gone []int64
	err := db.Tx(ctx, func(tx *sqlxTx) error {
		in, args := inList(ids)
		if err := tx.SelectContext(ctx, &gone, "SELECT id FROM users WHERE id IN ("+in+") ORDER BY id", args...); err != nil {
			return err
		}
		for _, uid := range gone {
			var domains []int64
			if err := tx.SelectContext(ctx, &domains, "SELECT id FROM sender_domains WHERE user_id = ?", uid); err != nil {
				return err
			}
			for _, d := range domains {
				for _, stmt := range append(domainChildren, "DELETE FROM stats_daily WHERE domain_id = ?", "DELETE FROM sender_domains WHERE id = ?") {
					if _, err := tx.ExecContext(ctx, stmt, d); err != nil {
						return err
					}
				}
			}
			for _, stmt := range append(userChildren, "DELETE FROM users WHERE id = ?") {
				if _, err := tx.ExecContext(ctx, stmt, uid); err != nil {
					return fmt.Errorf("delete user %d: %w", uid, err)
				}
			}
		}
		return nil
	})
	return gone, err
}

// DeleteUserSessions ends every session that acts as the user.
func (db *DB) DeleteUserSessions(ctx context.Context, userID int64) error {
	_, err := db.w.ExecContext(ctx, "DELETE FROM sessions WHERE subject_id = ? AND kind IN "+userSessionKinds, userID)
	return err
}

// CountUsersInGroups counts the users of each group among ids.
func (db *DB) CountUsersInGroups(ctx context.Context, ids []int64) (map[int64]int, error) {
	out := map[int64]int{}
	if len(ids) == 0 {
		return out, nil
	}
	in, args := inList(ids)
	var rows []struct {
		GroupID int64 `db:"group_id"`
		N       int   `db:"n"`
	}
	err := db.r.SelectContext(ctx, &rows, "SELECT group_id, COUNT(*) AS n FROM users WHERE group_id IN ("+in+") GROUP BY group_id", args...)
	for _, r := range rows {
		out[r.GroupID] = r.N
	}
	return out, err
}

// Groups lists every user group by id.
func (db *DB) Groups(ctx context.Context) ([]UserGroup, error) {
	var gs []UserGroup
	err := db.r.SelectContext(ctx, &gs, "SELECT "+groupCols+" FROM user_groups ORDER BY id")
	return gs, err
}

// UpdateGroup writes a group's name, permissions and settings.
func (db *DB) UpdateGroup(ctx context.Context, g *UserGroup) error {
	if g.Settings == "" {
		g.Settings = "{}"
	}
	_, err := db.w.ExecContext(ctx, "UPDATE user_groups SET name = ?, permissions = ?, settings = ? WHERE id = ?",
		g.Name, g.Permissions, g.Settings, g.ID)
	return err
}

// DeleteGroups deletes the groups among ids that no user belongs to and returns the ids that
// went. ErrLastGroup when that would leave no group at all.
func (db *DB) DeleteGroups(ctx context.Context, ids []int64) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var gone []int64
	err := db.Tx(ctx, func(tx *sqlxTx) error {
		in, args := inList(ids)
		if err := tx.SelectContext(ctx, &gone, "SELECT id FROM user_groups WHERE id IN ("+in+
			") AND NOT EXISTS (SELECT 1 FROM users WHERE users.group_id = user_groups.id) ORDER BY id", args...); err != nil {
			return err
		}
		var n int
		if err := tx.GetContext(ctx, &n, "SELECT COUNT(*) FROM user_groups"); err != nil {
			return err
		}
		if len(gone) > 0 && len(gone) >= n {
			return ErrLastGroup
		}
		if len(gone) == 0 {
			return nil
		}
		in, args = inList(gone)
		_, err := tx.ExecContext(ctx, "DELETE FROM user_groups WHERE id IN ("+in+")", args...)
		return err
	})
	return gone, err
}

// ErrLastGroup refuses to delete the last user group.
var ErrLastGroup = fmt.Errorf("the last user group cannot be deleted")

// CreatePasswordReset stores a reset token (by its hash) for the user, replacing the user's
// earlier ones.
func (db *DB) CreatePasswordReset(ctx context.Context, userID int64, hash string, expiresAt int64) error {
	return db.Tx(ctx, func(tx *sqlxTx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM password_resets WHERE user_id = ? OR expires_at <= ?", userID, now()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
			hash, userID, now(), expiresAt)
		return err
	})
}

// UsePasswordReset spends a token and sets the user's password hash in one transaction; it
// returns the user. A token that is unknown, used or expired is ErrNotFound.
func (db *DB) UsePasswordReset(ctx context.Context, hash, passwordHash string) (*User, error) {
	var uid int64
	err := db.Tx(ctx, func(tx *sqlxTx) error {
		res, err := tx.ExecContext(ctx, "UPDATE password_resets SET used_at = ? WHERE token_hash = ? AND used_at = 0 AND expires_at > ?",
			now(), hash, now())
		if err := affected(res, err); err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &uid, "SELECT user_id FROM password_resets WHERE token_hash = ?", hash); err != nil {
			return notFound(err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE users SET password_hash = ? WHERE id = ?", passwordHash, uid); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM sessions WHERE subject_id = ? AND kind IN "+userSessionKinds, uid)
		return err
	})
	if err != nil {
		return nil, err
	}
	return db.UserByID(ctx, uid)
}

// Utilization is what an account uses of the things its limits count.
type Utilization struct {
	Subscribers   int
	Lists         int
	SenderDomains int
	SentThisMonth int64
}

// UserUtilization counts a user's subscribers, lists and sender domains, and the
// recipients accepted this month.
func (db *DB) UserUtilization(ctx context.Context, userID int64) (Utilization, error) {
	var u Utilization
	for _, c := range []struct {
		dst   *int
		query string
	}{
		{&u.Subscribers, "SELECT COUNT(*) FROM subscribers WHERE user_id = ?"},
		{&u.Lists, "SELECT COUNT(*) FROM subscriber_lists WHERE user_id = ?"},
		{&u.SenderDomains, "SELECT COUNT(*) FROM sender_domains WHERE user_id = ?"},
	} {
		if err := db.r.GetContext(ctx, c.dst, c.query, userID); err != nil {
			return u, err
		}
	}
	var err error
	u.SentThisMonth, err = db.MonthlyUsage(ctx, userID)
	return u, err
}

// LastPasswordReset returns when the user's newest unexpired reset token was made (0: none).
func (db *DB) LastPasswordReset(ctx context.Context, userID int64) (int64, error) {
	var t int64
	err := db.r.GetContext(ctx, &t, "SELECT COALESCE(MAX(created_at), 0) FROM password_resets WHERE user_id = ? AND expires_at > ?", userID, now())
	return t, err
}

// UsageInMonth is how many recipients the user had accepted in a month (YYYYMM, UTC).
func (db *DB) UsageInMonth(ctx context.Context, userID int64, month int) (int64, error) {
	var n int64
	err := db.r.GetContext(ctx, &n, "SELECT COALESCE(SUM(sent), 0) FROM user_usage WHERE user_id = ? AND month = ?", userID, month)
	return n, err
}
