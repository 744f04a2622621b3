package storage

// Suppression list: one row per address and scope (octeth-5.9.4 suppression.md's scope
// matrix, with gatewayd's sender-domain scope added):
//
//	system-wide   user_id 0, list_id 0, domain_id 0   the operator's (admin imports)
//	account-wide  user_id U, list_id 0, domain_id 0   a tenant's own list (suppression.import)
//	sender domain user_id U, list_id 0, domain_id D   what delivery writes for mail from D:
//	                                                  hard bounces, complaints, unsubscribes
//	per list      user_id U, list_id L, domain_id 0   a subscriber list's own opt-outs
//
// A send from domain D of user U for list L (0: none) is refused for an address on any of
// the four that applies: system-wide, U's account-wide, D's, and L's. Addresses are stored
// lower-cased, so matching ignores case.

import (
	"context"
	"sort"
	"strings"
)

// Suppression sources: suppression.md's SuppressionSource enumeration.
const (
	SuppressAdministrator = "Administrator"
	SuppressManual        = "User"
	SuppressComplaint     = "SPAM complaint"
	SuppressHardBounce    = "Hard Bounced"
	SuppressUnsubscribe   = "Unsubscribe"
)

// SuppressionSources lists every source, in the document's order.
var SuppressionSources = []string{SuppressAdministrator, SuppressManual, SuppressComplaint, SuppressHardBounce, SuppressUnsubscribe}

// maxSuppressionReason is the longest reason kept (the column is VARCHAR(255)).
const maxSuppressionReason = 250

func init() {
	domainChildren = append(domainChildren, "DELETE FROM suppressions WHERE domain_id = ?")
}

// Suppression is one address on one scope's list.
type Suppression struct {
	ID        int64  `db:"id"`
	UserID    int64  `db:"user_id"`   // 0: system-wide
	ListID    int64  `db:"list_id"`   // 0: not a list's
	DomainID  int64  `db:"domain_id"` // 0: not a sender domain's
	Email     string `db:"email"`
	Source    string `db:"source"`
	Reason    string `db:"reason"`
	CreatedAt int64  `db:"created_at"`
}

const suppressionCols = "id, user_id, list_id, domain_id, email, source, reason, created_at"

// Suppression scopes as suppression.check names them, narrowest first.
const (
	ScopePerList     = "PerList"
	ScopeDomain      = "SenderDomain"
	ScopeAccountWide = "AccountWide"
	ScopeSystemWide  = "SystemWide"
)

// Scope names the row's scope.
func (s *Suppression) Scope() string {
	switch {
	case s.ListID != 0:
		return ScopePerList
	case s.DomainID != 0:
		return ScopeDomain
	case s.UserID != 0:
		return ScopeAccountWide
	}
	return ScopeSystemWide
}

func scopeRank(s *Suppression) int {
	switch s.Scope() {
	case ScopePerList:
		return 0
	case ScopeDomain:
		return 1
	case ScopeAccountWide:
		return 2
	}
	return 3
}

// Suppress adds an address to one scope's list inside tx. It is idempotent: an address
// already on that list keeps its first source and reason. inserted reports a new row.
func Suppress(ctx context.Context, tx *sqlxTx, s Suppression) (inserted bool, err error) {
	q := "INSERT INTO suppressions (user_id, list_id, domain_id, email, source, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
	if tx.DriverName() == "mysql" {
		q = strings.Replace(q, "INSERT", "INSERT IGNORE", 1)
	} else {
		q += " ON CONFLICT DO NOTHING"
	}
	if s.CreatedAt == 0 {
		s.CreatedAt = now()
	}
	res, err := tx.ExecContext(ctx, q, s.UserID, s.ListID, s.DomainID, strings.ToLower(strings.TrimSpace(s.Email)),
		s.Source, queueClip(s.Reason, maxSuppressionReason), s.CreatedAt)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// AddSuppressions puts every row on its list in one transaction and returns how many were
// new (an address already on the row's list is skipped).
func (db *DB) AddSuppressions(ctx context.Context, rows []Suppression) (inserted int, err error) {
	err = db.Tx(ctx, func(tx *sqlxTx) error {
		inserted = 0
		ts := now()
		for _, s := range rows {
			if s.CreatedAt == 0 {
				s.CreatedAt = ts
			}
			ok, err := Suppress(ctx, tx, s)
			if err != nil {
				return err
			}
			if ok {
				inserted++
			}
		}
		return nil
	})
	return inserted, err
}

// SuppressionScope is what a send (or suppression.check) is checked against: the user's
// system-wide, account-wide and per-list (ListID, when not 0) entries, and sender-domain
// entries of DomainID, or of every domain of the user when DomainID is 0.
type SuppressionScope struct {
	UserID   int64
	DomainID int64
	ListID   int64
}

// emailArgs is emails lower-cased, trimmed and without repeats, as query arguments.
func emailArgs(emails []string) []any {
	var args []any
	seen := map[string]bool{}
	for _, e := range emails {
		e = strings.ToLower(strings.TrimSpace(e))
		if !seen[e] {
			seen[e] = true
			args = append(args, e)
		}
	}
	return args
}

// SuppressionMatches returns, per lower-cased address, every entry that applies to sc,
// narrowest scope first.
func (db *DB) SuppressionMatches(ctx context.Context, sc SuppressionScope, emails []string) (map[string][]Suppression, error) {
	out := map[string][]Suppression{}
	args := emailArgs(emails)
	if len(args) == 0 {
		return out, nil
	}
	q := "SELECT " + suppressionCols + " FROM suppressions WHERE email IN (" + placeholders(len(args)) + ") AND (" +
		"(list_id = 0 AND domain_id = 0 AND (user_id = 0 OR user_id = ?))"
	args = append(args, sc.UserID)
	if sc.DomainID != 0 {
		q += " OR (list_id = 0 AND domain_id = ?)"
		args = append(args, sc.DomainID)
	} else if sc.UserID != 0 {
		q += " OR (list_id = 0 AND domain_id <> 0 AND user_id = ?)"
		args = append(args, sc.UserID)
	}
	if sc.ListID != 0 {
		q += " OR (list_id = ? AND user_id = ?)"
		args = append(args, sc.ListID, sc.UserID)
	}
	q += ") ORDER BY id"
	var rows []Suppression
	if err := db.r.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, err
	}
	sort.SliceStable(rows, func(i, j int) bool { return scopeRank(&rows[i]) < scopeRank(&rows[j]) })
	for _, r := range rows {
		out[r.Email] = append(out[r.Email], r)
	}
	return out, nil
}

// Suppressed returns which of emails a send from the domain is refused for, with the source
// of the narrowest entry that applies, keyed by lower-cased address.
func (db *DB) Suppressed(ctx context.Context, domainID int64, emails []string) (map[string]string, error) {
	var userID int64
	if err := db.r.GetContext(ctx, &userID, "SELECT user_id FROM sender_domains WHERE id = ?", domainID); err != nil {
		return nil, notFound(err)
	}
	m, err := db.SuppressionMatches(ctx, SuppressionScope{UserID: userID, DomainID: domainID}, emails)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m))
	for e, rows := range m {
		out[e] = rows[0].Source
	}
	return out, nil
}

// SuppressionFilter selects the rows of one list for browse, stats and delete: the user's
// (0: the system-wide list) rows of ListID (0: not a list's). With ListID 0 these are the
// account-wide rows and every sender-domain row of the user, or only DomainID's when it is
// set. Pattern is a LIKE pattern ("" for all); Sources restricts the sources.
type SuppressionFilter struct {
	UserID   int64
	ListID   int64
	DomainID int64
	Pattern  string
	Sources  []string
}

func (f SuppressionFilter) where() (string, []any) {
	q := "user_id = ? AND list_id = ?"
	args := []any{f.UserID, f.ListID}
	if f.DomainID != 0 {
		q += " AND domain_id = ?"
		args = append(args, f.DomainID)
	}
	if f.Pattern != "" {
		q += " AND email LIKE ? ESCAPE '!'"
		args = append(args, strings.ToLower(f.Pattern))
	}
	if len(f.Sources) > 0 {
		q += " AND source IN (" + placeholders(len(f.Sources)) + ")"
		for _, s := range f.Sources {
			args = append(args, s)
		}
	}
	return q, args
}

// LikePattern turns a search pattern with * wildcards into a LIKE pattern (escape '!'); a
// pattern without * matches addresses containing it.
func LikePattern(p string) string {
	p = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(p)
	if !strings.Contains(p, "*") {
		return "%" + p + "%"
	}
	return strings.ReplaceAll(p, "*", "%")
}

// BrowseSuppressions returns one page of the addresses f selects, in address order, with
// how many addresses it selects in all. An address on several of the selected rows (an
// account-wide entry and a sender domain's) is one address, shown with its first row.
func (db *DB) BrowseSuppressions(ctx context.Context, f SuppressionFilter, start, count int) (total int, rows []Suppression, err error) {
	where, args := f.where()
	if err := db.r.GetContext(ctx, &total, "SELECT COUNT(DISTINCT email) FROM suppressions WHERE "+where, args...); err != nil {
		return 0, nil, err
	}
	var ids []int64
	if err := db.r.SelectContext(ctx, &ids, "SELECT MIN(id) FROM suppressions WHERE "+where+
		" GROUP BY email ORDER BY email LIMIT ? OFFSET ?", append(args, count, start)...); err != nil {
		return 0, nil, err
	}
	if len(ids) == 0 {
		return total, nil, nil
	}
	idArgs := make([]any, len(ids))
	for i, id := range ids {
		idArgs[i] = id
	}
	err = db.r.SelectContext(ctx, &rows, "SELECT "+suppressionCols+" FROM suppressions WHERE id IN ("+
		placeholders(len(ids))+") ORDER BY email", idArgs...)
	return total, rows, err
}

// SuppressionStats counts the addresses f selects, in all and per source (every source is
// present, zero when absent).
func (db *DB) SuppressionStats(ctx context.Context, f SuppressionFilter) (total int, bySource map[string]int, err error) {
	where, args := f.where()
	if err := db.r.GetContext(ctx, &total, "SELECT COUNT(DISTINCT email) FROM suppressions WHERE "+where, args...); err != nil {
		return 0, nil, err
	}
	var per []struct {
		Source string `db:"source"`
		N      int    `db:"n"`
	}
	if err := db.r.SelectContext(ctx, &per, "SELECT source, COUNT(DISTINCT email) AS n FROM suppressions WHERE "+where+
		" GROUP BY source", args...); err != nil {
		return 0, nil, err
	}
	bySource = make(map[string]int, len(SuppressionSources))
	for _, s := range SuppressionSources {
		bySource[s] = 0
	}
	for _, p := range per {
		bySource[p.Source] += p.N
	}
	return total, bySource, nil
}

// DeleteSuppressions takes emails off the rows f selects (Pattern and Sources are ignored)
// and returns the lower-cased addresses that were on them.
func (db *DB) DeleteSuppressions(ctx context.Context, f SuppressionFilter, emails []string) (deleted []string, err error) {
	f.Pattern, f.Sources = "", nil
	in := emailArgs(emails)
	if len(in) == 0 {
		return nil, nil
	}
	where, args := f.where()
	where += " AND email IN (" + placeholders(len(in)) + ")"
	args = append(args, in...)
	err = db.Tx(ctx, func(tx *sqlxTx) error {
		deleted = nil
		if err := tx.SelectContext(ctx, &deleted, "SELECT DISTINCT email FROM suppressions WHERE "+where+" ORDER BY email", args...); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM suppressions WHERE "+where, args...)
		return err
	})
	return deleted, err
}

// domainSuppression is the sender-domain entry delivery, bounce intake and tracking write:
// a hard bounce's reason is "Bounce: " and the server's reply, as Octeth words it.
func domainSuppression(userID, domainID int64, email, source, details string) Suppression {
	reason := details
	switch {
	case source == SuppressHardBounce && details != "":
		reason = "Bounce: " + details
	case source == SuppressUnsubscribe && details == "":
		reason = "Unsubscribed through the message's unsubscribe link"
	}
	return Suppression{UserID: userID, DomainID: domainID, Email: email, Source: source, Reason: reason}
}

// AddSuppression puts an address on a sender domain's list (source as Suppress takes it).
func (db *DB) AddSuppression(ctx context.Context, domainID int64, email, source string) error {
	var userID int64
	if err := db.r.GetContext(ctx, &userID, "SELECT user_id FROM sender_domains WHERE id = ?", domainID); err != nil {
		return notFound(err)
	}
	_, err := db.AddSuppressions(ctx, []Suppression{domainSuppression(userID, domainID, email, source, "")})
	return err
}
