package storage

// Audience storage, part 2: subscribers (one row per list and address, custom field values
// as one JSON object keyed by field id), subscriber tags, and import/export jobs.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Subscription statuses and bounce types, as Octeth spells them.
const (
	StatusSubscribed    = "Subscribed"
	StatusUnsubscribed  = "Unsubscribed"
	StatusOptInPending  = "Opt-In Pending"
	StatusOptOutPending = "Opt-Out Pending"

	BounceNone = "Not Bounced"
	BounceSoft = "Soft"
	BounceHard = "Hard"
)

// Subscriber is one address on one list. Fields holds custom field values keyed by the
// field's id in decimal (CustomField.Key); multi-value fields (Checkboxes) store their values
// joined with "||", as Octeth does.
type Subscriber struct {
	ID                 int64  `db:"id"`
	ListID             int64  `db:"list_id"`
	UserID             int64  `db:"user_id"`
	Email              string `db:"email"`
	Status             string `db:"status"`
	BounceType         string `db:"bounce_type"`
	SubscriptionDate   int64  `db:"subscription_date"`
	SubscriptionIP     string `db:"subscription_ip"`
	UnsubscriptionDate int64  `db:"unsubscription_date"`
	UnsubscriptionIP   string `db:"unsubscription_ip"`
	OptInDate          int64  `db:"opt_in_date"`
	ConfirmationCode   string `db:"confirmation_code"`
	Source             string `db:"source"`
	SourceRef          string `db:"source_ref"`
	FieldsJSON         string `db:"fields"`
	CreatedAt          int64  `db:"created_at"`
	UpdatedAt          int64  `db:"updated_at"`
}

// Fields decodes the subscriber's custom field values.
func (s *Subscriber) Fields() map[string]string {
	out := map[string]string{}
	_ = json.Unmarshal([]byte(s.FieldsJSON), &out)
	return out
}

// SetFields encodes the subscriber's custom field values.
func (s *Subscriber) SetFields(m map[string]string) {
	if m == nil {
		m = map[string]string{}
	}
	b, _ := json.Marshal(m)
	s.FieldsJSON = string(b)
}

func (s *Subscriber) defaults() {
	t := now()
	if s.Status == "" {
		s.Status = StatusSubscribed
	}
	if s.BounceType == "" {
		s.BounceType = BounceNone
	}
	if s.Source == "" {
		s.Source = "Unknown"
	}
	if s.FieldsJSON == "" {
		s.FieldsJSON = "{}"
	}
	if s.CreatedAt == 0 {
		s.CreatedAt = t
	}
	s.UpdatedAt = t
}

const subscriberCols = `id, list_id, user_id, email, status, bounce_type, subscription_date, subscription_ip,
	unsubscription_date, unsubscription_ip, opt_in_date, confirmation_code, source, source_ref, fields,
	created_at, updated_at`

const subscriberInsertCols = `list_id, user_id, email, status, bounce_type, subscription_date, subscription_ip,
	unsubscription_date, unsubscription_ip, opt_in_date, confirmation_code, source, source_ref, fields,
	created_at, updated_at`

func (s *Subscriber) insertArgs() []any {
	return []any{s.ListID, s.UserID, s.Email, s.Status, s.BounceType, s.SubscriptionDate, s.SubscriptionIP,
		s.UnsubscriptionDate, s.UnsubscriptionIP, s.OptInDate, s.ConfirmationCode, s.Source, s.SourceRef,
		s.FieldsJSON, s.CreatedAt, s.UpdatedAt}
}

// CreateSubscriber inserts s and sets s.ID; ErrDuplicate when the address is on the list.
func (db *DB) CreateSubscriber(ctx context.Context, s *Subscriber) error {
	s.Email = strings.TrimSpace(s.Email)
	s.defaults()
	res, err := db.w.ExecContext(ctx, "INSERT INTO subscribers ("+subscriberInsertCols+") VALUES ("+placeholders(16)+")", s.insertArgs()...)
	if isDuplicate(err) {
		return ErrDuplicate
	}
	if err != nil {
		return err
	}
	s.ID, err = res.LastInsertId()
	return err
}

// UpdateSubscriber writes every column of s but its list, owner and creation time;
// ErrDuplicate when a changed address is already on the list.
func (db *DB) UpdateSubscriber(ctx context.Context, s *Subscriber) error {
	s.UpdatedAt = now()
	_, err := db.w.NamedExecContext(ctx, `UPDATE subscribers SET email = :email, status = :status,
		bounce_type = :bounce_type, subscription_date = :subscription_date, subscription_ip = :subscription_ip,
		unsubscription_date = :unsubscription_date, unsubscription_ip = :unsubscription_ip,
		opt_in_date = :opt_in_date, confirmation_code = :confirmation_code, source = :source,
		source_ref = :source_ref, fields = :fields, updated_at = :updated_at WHERE id = :id AND list_id = :list_id`, s)
	if isDuplicate(err) {
		return ErrDuplicate
	}
	return err
}

// SubscriberByID returns a subscriber of the user's list (ErrNotFound when the list or the
// subscriber is someone else's).
func (db *DB) SubscriberByID(ctx context.Context, userID, listID, id int64) (*Subscriber, error) {
	var s Subscriber
	err := db.r.GetContext(ctx, &s, "SELECT "+subscriberCols+" FROM subscribers WHERE id = ? AND list_id = ? AND user_id = ?", id, listID, userID)
	return &s, notFound(err)
}

// SubscriberByEmail finds an address on the user's list, case-insensitively.
func (db *DB) SubscriberByEmail(ctx context.Context, userID, listID int64, email string) (*Subscriber, error) {
	var s Subscriber
	err := db.r.GetContext(ctx, &s, "SELECT "+subscriberCols+" FROM subscribers WHERE list_id = ? AND email = ? AND user_id = ?", listID, strings.TrimSpace(email), userID)
	return &s, notFound(err)
}

// SetSubscriberStatus changes a subscriber's status in its list; bounceType "" leaves the
// bounce type alone. Unsubscribed records the time and ip; Subscribed records the
// subscription time when none was set and clears the unsubscription. ErrNotFound when the
// subscriber is not on that list.
func (db *DB) SetSubscriberStatus(ctx context.Context, listID, subscriberID int64, status, bounceType, ip string) error {
	t := now()
	set := "status = ?, updated_at = ?"
	args := []any{status, t}
	switch status {
	case StatusUnsubscribed:
		set += ", unsubscription_date = ?, unsubscription_ip = ?"
		args = append(args, t, ip)
	case StatusSubscribed:
		set += ", subscription_date = CASE WHEN subscription_date = 0 THEN ? ELSE subscription_date END, opt_in_date = CASE WHEN opt_in_date = 0 THEN ? ELSE opt_in_date END, unsubscription_date = 0, unsubscription_ip = ''"
		args = append(args, t, t)
	}
	if bounceType != "" {
		set += ", bounce_type = ?"
		args = append(args, bounceType)
	}
	args = append(args, subscriberID, listID)
	if err := affected(db.w.ExecContext(ctx, "UPDATE subscribers SET "+set+" WHERE id = ? AND list_id = ?", args...)); err != nil {
		return err
	}
	return db.TouchList(ctx, listID)
}

// SubscribedPage returns up to limit subscribers of the list after subscriber id afterID, in
// id order, that a list send may address: Subscribed, not hard-bounced, and not on the
// list's own suppression list. Account-wide and domain suppression is the caller's check.
func (db *DB) SubscribedPage(ctx context.Context, listID, afterID int64, limit int) ([]Subscriber, error) {
	var out []Subscriber
	err := db.r.SelectContext(ctx, &out, "SELECT "+prefixCols("s.", subscriberCols)+` FROM subscribers s
		WHERE s.list_id = ? AND s.status = 'Subscribed' AND s.bounce_type <> 'Hard' AND s.id > ?
		AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.list_id = s.list_id AND x.email = s.email)
		ORDER BY s.id LIMIT ?`, listID, afterID, limit)
	return out, err
}

// Segments of subscribers.get.
const (
	SegmentActive       = "Active"
	SegmentSuppressed   = "Suppressed"
	SegmentUnsubscribed = "Unsubscribed"
	SegmentSoftBounced  = "Soft bounced"
	SegmentHardBounced  = "Hard bounced"
	SegmentOptInPending = "Opt-in pending"
)

// Rule is one condition of a subscriber filter. Field is a subscriber column name as the
// documents spell it (EmailAddress, SubscriberID, SubscriptionStatus, SubscriptionDate,
// SubscriptionIP, OptInDate, BounceType) or a custom field id in decimal; Tag rules match tag
// membership (Op "is"/"is not", Value the tag id).
type Rule struct {
	Tag   bool
	Field string
	Op    string // equals, not equals, contains, not contains, begins with, ends with, is set, is not set, greater than, less than
	Value string
}

// SubscriberFilter selects subscribers of one list.
type SubscriberFilter struct {
	ListID      int64
	Segment     string // "" for all
	SearchField string // as Rule.Field; with Keyword: substring search
	Keyword     string
	Rules       []Rule
	Any         bool // rules joined with OR (default AND)
	IDs         []int64
}

// Columns a filter or an order may name, by their document names.
var subscriberColumns = map[string]string{
	"emailaddress": "s.email", "subscriberid": "s.id", "subscriptionstatus": "s.status",
	"subscriptiondate": "s.subscription_date", "subscriptionip": "s.subscription_ip", "optindate": "s.opt_in_date",
	"bouncetype": "s.bounce_type", "unsubscriptiondate": "s.unsubscription_date", "unsubscriptionip": "s.unsubscription_ip",
	"source": "s.source",
}

// SubscriberColumn reports whether name is a subscriber column a filter may use.
func SubscriberColumn(name string) bool {
	_, ok := subscriberColumns[strings.ToLower(name)]
	return ok
}

func (db *DB) fieldExpr(field string) (string, bool) {
	if c, ok := subscriberColumns[strings.ToLower(field)]; ok {
		return c, true
	}
	if _, err := strconv.ParseUint(field, 10, 63); err != nil || field == "" {
		return "", false
	}
	if db.Dialect == MySQL {
		return `COALESCE(JSON_UNQUOTE(JSON_EXTRACT(s.fields, '$."` + field + `"')), '')`, true
	}
	return `COALESCE(json_extract(s.fields, '$."` + field + `"'), '')`, true
}

func (db *DB) filterWhere(f SubscriberFilter) (string, []any, error) {
	conds := []string{"s.list_id = ?"}
	args := []any{f.ListID}
	suppressed := "EXISTS (SELECT 1 FROM suppressions x WHERE x.list_id = s.list_id AND x.email = s.email)"
	switch f.Segment {
	case "":
	case SegmentActive:
		conds = append(conds, "s.status = 'Subscribed' AND s.bounce_type <> 'Hard' AND NOT "+suppressed)
	case SegmentSuppressed:
		conds = append(conds, suppressed)
	case SegmentUnsubscribed:
		conds = append(conds, "s.status = 'Unsubscribed'")
	case SegmentSoftBounced:
		conds = append(conds, "s.bounce_type = 'Soft'")
	case SegmentHardBounced:
		conds = append(conds, "s.bounce_type = 'Hard'")
	case SegmentOptInPending:
		conds = append(conds, "s.status = 'Opt-In Pending'")
	default:
		return "", nil, fmt.Errorf("unknown segment %q", f.Segment)
	}
	if f.Keyword != "" {
		e, ok := db.fieldExpr(f.SearchField)
		if !ok {
			return "", nil, fmt.Errorf("unknown search field %q", f.SearchField)
		}
		conds = append(conds, "LOWER("+e+") LIKE ? ESCAPE '!'")
		args = append(args, "%"+likeEscape(strings.ToLower(f.Keyword))+"%")
	}
	if len(f.IDs) > 0 {
		in, ids := inList(f.IDs)
		conds = append(conds, "s.id IN ("+in+")")
		args = append(args, ids...)
	}
	var rules []string
	for _, r := range f.Rules {
		c, a, err := db.ruleSQL(r)
		if err != nil {
			return "", nil, err
		}
		rules = append(rules, c)
		args = append(args, a...)
	}
	if len(rules) > 0 {
		join := " AND "
		if f.Any {
			join = " OR "
		}
		conds = append(conds, "("+strings.Join(rules, join)+")")
	}
	return strings.Join(conds, " AND "), args, nil
}

func (db *DB) ruleSQL(r Rule) (string, []any, error) {
	op := strings.ToLower(strings.TrimSpace(r.Op))
	if r.Tag {
		q := "EXISTS (SELECT 1 FROM subscriber_tag_members m WHERE m.subscriber_id = s.id AND m.tag_id = ?)"
		switch op {
		case "is", "equals", "has", "=", "":
			return q, []any{r.Value}, nil
		case "is not", "not equals", "has not", "does not have", "!=":
			return "NOT " + q, []any{r.Value}, nil
		}
		return "", nil, fmt.Errorf("unknown tag operator %q", r.Op)
	}
	e, ok := db.fieldExpr(r.Field)
	if !ok {
		return "", nil, fmt.Errorf("unknown field %q", r.Field)
	}
	v := strings.ToLower(r.Value)
	low := "LOWER(" + e + ")"
	switch op {
	case "equals", "is", "=", "equal to":
		return low + " = ?", []any{v}, nil
	case "not equals", "is not", "!=", "not equal to":
		return low + " <> ?", []any{v}, nil
	case "contains", "like":
		return low + " LIKE ? ESCAPE '!'", []any{"%" + likeEscape(v) + "%"}, nil
	case "not contains", "does not contain", "not like":
		return low + " NOT LIKE ? ESCAPE '!'", []any{"%" + likeEscape(v) + "%"}, nil
	case "begins with", "starts with":
		return low + " LIKE ? ESCAPE '!'", []any{likeEscape(v) + "%"}, nil
	case "ends with":
		return low + " LIKE ? ESCAPE '!'", []any{"%" + likeEscape(v)}, nil
	case "is set", "is not empty", "not empty":
		return e + " <> ''", nil, nil
	case "is not set", "is empty", "empty":
		return e + " = ''", nil, nil
	case "greater than", ">":
		return e + " > ?", []any{r.Value}, nil
	case "less than", "<":
		return e + " < ?", []any{r.Value}, nil
	}
	return "", nil, fmt.Errorf("unknown operator %q", r.Op)
}

// SubscriberPage is a page request: Order is a subscriber column by its document name
// (EmailAddress default) or a custom field id.
type SubscriberPage struct {
	Order  string
	Desc   bool
	Offset int
	Limit  int
}

// Subscribers returns the subscribers matching f, one page of them, and the total.
func (db *DB) Subscribers(ctx context.Context, f SubscriberFilter, p SubscriberPage) ([]Subscriber, int, error) {
	where, args, err := db.filterWhere(f)
	if err != nil {
		return nil, 0, err
	}
	var total int
	if err := db.r.GetContext(ctx, &total, "SELECT COUNT(*) FROM subscribers s WHERE "+where, args...); err != nil {
		return nil, 0, err
	}
	if p.Limit <= 0 {
		return nil, total, nil
	}
	order, ok := db.fieldExpr(p.Order)
	if !ok {
		order = "s.email"
	}
	dir := " ASC"
	if p.Desc {
		dir = " DESC"
	}
	var out []Subscriber
	err = db.r.SelectContext(ctx, &out, "SELECT "+prefixCols("s.", subscriberCols)+" FROM subscribers s WHERE "+where+
		" ORDER BY "+order+dir+", s.id"+dir+" LIMIT ? OFFSET ?", append(args, p.Limit, p.Offset)...)
	return out, total, err
}

// EachSubscriber calls fn for every subscriber matching f in id order, a page at a time
// (exports), so memory stays flat on any list size.
func (db *DB) EachSubscriber(ctx context.Context, f SubscriberFilter, fn func(*Subscriber) error) error {
	where, args, err := db.filterWhere(f)
	if err != nil {
		return err
	}
	var after int64
	for {
		var page []Subscriber
		if err := db.r.SelectContext(ctx, &page, "SELECT "+prefixCols("s.", subscriberCols)+" FROM subscribers s WHERE "+where+
			" AND s.id > ? ORDER BY s.id LIMIT 1000", append(append([]any{}, args...), after)...); err != nil {
			return err
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		if len(page) < 1000 {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// SubscriberIDs returns the ids of the subscribers matching f.
func (db *DB) SubscriberIDs(ctx context.Context, f SubscriberFilter) ([]int64, error) {
	where, args, err := db.filterWhere(f)
	if err != nil {
		return nil, err
	}
	var out []int64
	err = db.r.SelectContext(ctx, &out, "SELECT s.id FROM subscribers s WHERE "+where+" ORDER BY s.id", args...)
	return out, err
}

// CheckFilter validates f without running it.
func (db *DB) CheckFilter(f SubscriberFilter) error {
	_, _, err := db.filterWhere(f)
	return err
}

// DeleteSubscribers deletes the list's subscribers among ids (with their tag memberships)
// and returns how many went.
func (db *DB) DeleteSubscribers(ctx context.Context, listID int64, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int64
	err := db.Tx(ctx, func(tx *sqlxTx) error {
		in, args := inList(ids)
		if _, err := tx.ExecContext(ctx, "DELETE FROM subscriber_tag_members WHERE subscriber_id IN (SELECT id FROM subscribers WHERE list_id = ? AND id IN ("+in+"))", append([]any{listID}, args...)...); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM subscribers WHERE list_id = ? AND id IN ("+in+")", append([]any{listID}, args...)...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// DeleteAllSubscribers empties a list: every subscriber and tag membership and, when
// withTags, the list's tags themselves.
func (db *DB) DeleteAllSubscribers(ctx context.Context, listID int64, withTags bool) error {
	return db.Tx(ctx, func(tx *sqlxTx) error {
		stmts := []string{
			"DELETE FROM subscriber_tag_members WHERE tag_id IN (SELECT id FROM subscriber_tags WHERE list_id = ?)",
			"DELETE FROM subscribers WHERE list_id = ?",
		}
		if withTags {
			stmts = append(stmts, "DELETE FROM subscriber_tags WHERE list_id = ?")
		}
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q, listID); err != nil {
				return err
			}
		}
		return nil
	})
}

// StatusCounts returns, per list, how many subscribers have each status, plus the keys
// "Active", "Soft", "Hard" and "Suppressed" (the segments).
func (db *DB) StatusCounts(ctx context.Context, listIDs []int64) (map[int64]map[string]int64, error) {
	out := map[int64]map[string]int64{}
	if len(listIDs) == 0 {
		return out, nil
	}
	in, args := inList(listIDs)
	var rows []struct {
		ListID int64  `db:"list_id"`
		Status string `db:"status"`
		Bounce string `db:"bounce_type"`
		N      int64  `db:"n"`
	}
	if err := db.r.SelectContext(ctx, &rows, "SELECT list_id, status, bounce_type, COUNT(*) AS n FROM subscribers WHERE list_id IN ("+in+") GROUP BY list_id, status, bounce_type", args...); err != nil {
		return nil, err
	}
	for _, id := range listIDs {
		out[id] = map[string]int64{}
	}
	for _, r := range rows {
		m := out[r.ListID]
		m[r.Status] += r.N
		if r.Bounce == BounceSoft || r.Bounce == BounceHard {
			m[r.Bounce] += r.N
		}
		if r.Status == StatusSubscribed && r.Bounce != BounceHard {
			m["Active"] += r.N
		}
	}
	var sup []struct {
		ListID int64 `db:"list_id"`
		N      int64 `db:"n"`
	}
	if err := db.r.SelectContext(ctx, &sup, "SELECT list_id, COUNT(*) AS n FROM suppressions WHERE list_id IN ("+in+") GROUP BY list_id", args...); err != nil {
		return nil, err
	}
	for _, r := range sup {
		out[r.ListID]["Suppressed"] = r.N
	}
	return out, nil
}

// FieldValueTaken reports whether another subscriber of the list holds value in field key.
func (db *DB) FieldValueTaken(ctx context.Context, listID int64, key, value string, exceptID int64) (bool, error) {
	e, ok := db.fieldExpr(key)
	if !ok {
		return false, fmt.Errorf("bad field key %q", key)
	}
	var n int
	err := db.r.GetContext(ctx, &n, "SELECT COUNT(*) FROM subscribers s WHERE s.list_id = ? AND s.id <> ? AND "+e+" = ?", listID, exceptID, value)
	return n > 0, err
}

// Tag is a list's subscriber tag.
type Tag struct {
	ID          int64  `db:"id"`
	UserID      int64  `db:"user_id"`
	ListID      int64  `db:"list_id"`
	Name        string `db:"name"`
	Description string `db:"description"`
	CreatedAt   int64  `db:"created_at"`
	Subscribers int64  `db:"subscribers"` // filled by Tags
}

// CreateTag inserts t and sets t.ID; ErrDuplicate when the list has a tag of that name.
func (db *DB) CreateTag(ctx context.Context, t *Tag) error {
	t.CreatedAt = now()
	res, err := db.w.ExecContext(ctx, "INSERT INTO subscriber_tags (user_id, list_id, name, description, created_at) VALUES (?, ?, ?, ?, ?)",
		t.UserID, t.ListID, t.Name, t.Description, t.CreatedAt)
	if isDuplicate(err) {
		return ErrDuplicate
	}
	if err != nil {
		return err
	}
	t.ID, err = res.LastInsertId()
	return err
}

// UpdateTag writes t's name and description; ErrDuplicate on a name clash.
func (db *DB) UpdateTag(ctx context.Context, t *Tag) error {
	_, err := db.w.ExecContext(ctx, "UPDATE subscriber_tags SET name = ?, description = ? WHERE id = ? AND list_id = ?", t.Name, t.Description, t.ID, t.ListID)
	if isDuplicate(err) {
		return ErrDuplicate
	}
	return err
}

// TagByID returns a tag of the user's list.
func (db *DB) TagByID(ctx context.Context, userID, listID, id int64) (*Tag, error) {
	var t Tag
	err := db.r.GetContext(ctx, &t, "SELECT id, user_id, list_id, name, description, created_at, 0 AS subscribers FROM subscriber_tags WHERE id = ? AND list_id = ? AND user_id = ?", id, listID, userID)
	return &t, notFound(err)
}

// TagByName returns a tag of a list by name, case-insensitively.
func (db *DB) TagByName(ctx context.Context, listID int64, name string) (*Tag, error) {
	var t Tag
	err := db.r.GetContext(ctx, &t, "SELECT id, user_id, list_id, name, description, created_at, 0 AS subscribers FROM subscriber_tags WHERE list_id = ? AND LOWER(name) = ?", listID, strings.ToLower(name))
	return &t, notFound(err)
}

// Tags returns a list's tags with their subscriber counts, by id.
func (db *DB) Tags(ctx context.Context, listID int64) ([]Tag, error) {
	var out []Tag
	err := db.r.SelectContext(ctx, &out, `SELECT t.id, t.user_id, t.list_id, t.name, t.description, t.created_at,
		(SELECT COUNT(*) FROM subscriber_tag_members m WHERE m.tag_id = t.id) AS subscribers
		FROM subscriber_tags t WHERE t.list_id = ? ORDER BY t.id`, listID)
	return out, err
}

// DeleteTags deletes the list's tags among ids with their memberships.
func (db *DB) DeleteTags(ctx context.Context, listID int64, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int64
	err := db.Tx(ctx, func(tx *sqlxTx) error {
		in, args := inList(ids)
		a := append([]any{listID}, args...)
		if _, err := tx.ExecContext(ctx, "DELETE FROM subscriber_tag_members WHERE tag_id IN (SELECT id FROM subscriber_tags WHERE list_id = ? AND id IN ("+in+"))", a...); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM subscriber_tags WHERE list_id = ? AND id IN ("+in+")", a...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// TagSubscribers gives every subscriber of subIDs (which the caller has checked belong to the
// tags' list) every tag of tagIDs; untag removes them instead.
func (db *DB) TagSubscribers(ctx context.Context, tagIDs, subIDs []int64, untag bool) error {
	return db.Tx(ctx, func(tx *sqlxTx) error { return tagMembers(ctx, tx, tagIDs, subIDs, untag) })
}

func tagMembers(ctx context.Context, tx *sqlxTx, tagIDs, subIDs []int64, untag bool) error {
	if len(tagIDs) == 0 || len(subIDs) == 0 {
		return nil
	}
	if untag {
		tin, targs := inList(tagIDs)
		sin, sargs := inList(subIDs)
		_, err := tx.ExecContext(ctx, "DELETE FROM subscriber_tag_members WHERE tag_id IN ("+tin+") AND subscriber_id IN ("+sin+")", append(targs, sargs...)...)
		return err
	}
	t := now()
	ins := "INSERT INTO subscriber_tag_members (tag_id, subscriber_id, created_at) VALUES "
	if tx.DriverName() == "mysql" {
		ins = "INSERT IGNORE INTO subscriber_tag_members (tag_id, subscriber_id, created_at) VALUES "
	}
	for start := 0; start < len(subIDs); start += 500 {
		end := min(start+500, len(subIDs))
		for _, tag := range tagIDs {
			var vals []string
			var args []any
			for _, sid := range subIDs[start:end] {
				vals = append(vals, "(?, ?, ?)")
				args = append(args, tag, sid, t)
			}
			q := ins + strings.Join(vals, ",")
			if tx.DriverName() != "mysql" {
				q += " ON CONFLICT DO NOTHING"
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
		}
	}
	return nil
}

// SubscriberTags returns the tags of each subscriber among ids.
func (db *DB) SubscriberTags(ctx context.Context, ids []int64) (map[int64][]Tag, error) {
	out := map[int64][]Tag{}
	if len(ids) == 0 {
		return out, nil
	}
	in, args := inList(ids)
	var rows []struct {
		Tag
		SubscriberID int64 `db:"subscriber_id"`
	}
	err := db.r.SelectContext(ctx, &rows, `SELECT t.id, t.user_id, t.list_id, t.name, t.description, t.created_at, 0 AS subscribers,
		m.subscriber_id FROM subscriber_tag_members m JOIN subscriber_tags t ON t.id = m.tag_id
		WHERE m.subscriber_id IN (`+in+") ORDER BY t.id", args...)
	for _, r := range rows {
		out[r.SubscriberID] = append(out[r.SubscriberID], r.Tag)
	}
	return out, err
}

// Import job statuses.
const (
	JobPending    = "Pending"
	JobProcessing = "Processing"
	JobCompleted  = "Completed"
	JobFailed     = "Failed"
)

// Import is a subscriber import job. Data is the source payload, kept so that a job survives
// a restart: RowsDone counts the source rows already committed, so a resumed job continues
// where it stopped.
type Import struct {
	ID         int64  `db:"id"`
	UserID     int64  `db:"user_id"`
	ListID     int64  `db:"list_id"`
	Status     string `db:"status"`
	Options    string `db:"options"` // JSON, the caller's
	Data       []byte `db:"data"`
	RowsDone   int64  `db:"rows_done"`
	Total      int64  `db:"total"`
	Imported   int64  `db:"imported"`
	Duplicates int64  `db:"duplicates"`
	Failed     int64  `db:"failed"`
	FailedData string `db:"failed_data"`
	CreatedAt  int64  `db:"created_at"`
	FinishedAt int64  `db:"finished_at"`
}

// CreateImport stores a pending import job and sets j.ID; its payload goes to a table of
// its own (subscriber_import_data), so the job's row that every batch updates stays small.
func (db *DB) CreateImport(ctx context.Context, j *Import) error {
	j.CreatedAt, j.Status = now(), JobPending
	return db.Tx(ctx, func(tx *sqlxTx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO subscriber_imports (user_id, list_id, status, options, rows_done,
			total, imported, duplicates, failed, failed_data, created_at, finished_at) VALUES (?, ?, ?, ?, 0, 0, 0, 0, 0, '', ?, 0)`,
			j.UserID, j.ListID, j.Status, j.Options, j.CreatedAt)
		if err != nil {
			return err
		}
		if j.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO subscriber_import_data (import_id, data) VALUES (?, ?)", j.ID, j.Data)
		return err
	})
}

const importCols = `id, user_id, list_id, status, options, rows_done, total, imported, duplicates, failed,
	failed_data, created_at, finished_at`

// ImportByID returns an import job of the user's list, without its payload.
func (db *DB) ImportByID(ctx context.Context, userID, listID, id int64) (*Import, error) {
	var j Import
	err := db.r.GetContext(ctx, &j, "SELECT "+importCols+" FROM subscriber_imports WHERE id = ? AND list_id = ? AND user_id = ?", id, listID, userID)
	return &j, notFound(err)
}

// UnfinishedImports returns the jobs still Pending or Processing, with their payloads, oldest first.
func (db *DB) UnfinishedImports(ctx context.Context) ([]Import, error) {
	var out []Import
	err := db.r.SelectContext(ctx, &out, "SELECT "+importCols+`, COALESCE(d.data, '') AS data FROM subscriber_imports
		LEFT JOIN subscriber_import_data d ON d.import_id = subscriber_imports.id WHERE status IN ('Pending', 'Processing') ORDER BY id`)
	return out, err
}

// FinishImport records a job's end state and drops its payload.
func (db *DB) FinishImport(ctx context.Context, id int64, status, failedData string) error {
	return db.Tx(ctx, func(tx *sqlxTx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE subscriber_imports SET status = ?, failed_data = ?, finished_at = ? WHERE id = ?",
			status, failedData, now(), id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM subscriber_import_data WHERE import_id = ?", id)
		return err
	})
}

// ImportBatch is one committed step of an import: the subscribers parsed from the next rows
// of the source and the job's new counters.
type ImportBatch struct {
	JobID    int64
	ListID   int64
	UserID   int64
	Subs     []Subscriber // each with Email and Fields set; other columns are defaulted
	Update   bool         // overwrite fields of addresses already on the list
	TagIDs   []int64
	RowsDone int64 // source rows consumed including this batch
	Failed   int64 // rows of this batch that could not be imported
}

// ApplyImportBatch inserts (or, with Update, updates) a batch of subscribers with multi-row
// statements, tags them, and advances the job's counters, all in one transaction, so a crash
// never imports a row twice or loses one. It returns how many were new and how many were
// already on the list. Addresses repeated within the batch count as duplicates.
func (db *DB) ApplyImportBatch(ctx context.Context, b ImportBatch) (imported, dups int, err error) {
	err = db.Tx(ctx, func(tx *sqlxTx) error {
		imported, dups = 0, 0
		existing := map[string]Subscriber{}
		const chunk = 500
		for start := 0; start < len(b.Subs); start += chunk {
			end := min(start+chunk, len(b.Subs))
			args := []any{b.ListID}
			for _, s := range b.Subs[start:end] {
				args = append(args, s.Email)
			}
			var rows []Subscriber
			if err := tx.SelectContext(ctx, &rows, "SELECT id, email, fields FROM subscribers WHERE list_id = ? AND email IN ("+placeholders(end-start)+")", args...); err != nil {
				return err
			}
			for _, r := range rows {
				existing[strings.ToLower(r.Email)] = r
			}
		}
		var fresh []*Subscriber
		seen := map[string]bool{}
		var touched []int64
		for i := range b.Subs {
			s := &b.Subs[i]
			key := strings.ToLower(s.Email)
			if seen[key] {
				dups++
				continue
			}
			seen[key] = true
			if old, ok := existing[key]; ok {
				dups++
				if b.Update {
					merged := old.Fields()
					for k, v := range s.Fields() {
						merged[k] = v
					}
					old.SetFields(merged)
					if _, err := tx.ExecContext(ctx, "UPDATE subscribers SET fields = ?, updated_at = ? WHERE id = ?", old.FieldsJSON, now(), old.ID); err != nil {
						return err
					}
				}
				touched = append(touched, old.ID)
				continue
			}
			s.ListID, s.UserID = b.ListID, b.UserID
			s.defaults()
			fresh = append(fresh, s)
		}
		const perStmt = 1000
		for start := 0; start < len(fresh); start += perStmt {
			end := min(start+perStmt, len(fresh))
			vals := make([]string, 0, end-start)
			args := make([]any, 0, (end-start)*16)
			for _, s := range fresh[start:end] {
				vals = append(vals, "("+placeholders(16)+")")
				args = append(args, s.insertArgs()...)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO subscribers ("+subscriberInsertCols+") VALUES "+strings.Join(vals, ","), args...); err != nil {
				return err
			}
		}
		imported = len(fresh)
		if len(b.TagIDs) > 0 && len(fresh) > 0 {
			for start := 0; start < len(fresh); start += chunk {
				end := min(start+chunk, len(fresh))
				args := []any{b.ListID}
				for _, s := range fresh[start:end] {
					args = append(args, s.Email)
				}
				var ids []int64
				if err := tx.SelectContext(ctx, &ids, "SELECT id FROM subscribers WHERE list_id = ? AND email IN ("+placeholders(end-start)+")", args...); err != nil {
					return err
				}
				touched = append(touched, ids...)
			}
		}
		if len(b.TagIDs) > 0 {
			if err := tagMembers(ctx, tx, b.TagIDs, touched, false); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE subscriber_imports SET status = 'Processing', rows_done = ?,
			total = total + ?, imported = imported + ?, duplicates = duplicates + ?, failed = failed + ? WHERE id = ?`,
			b.RowsDone, int64(len(b.Subs))+b.Failed, imported, dups, b.Failed, b.JobID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE subscriber_lists SET last_activity_at = ? WHERE id = ?", now(), b.ListID)
		return err
	})
	return imported, dups, err
}

// Export is a subscriber export job; Result holds the finished file.
type Export struct {
	ID         int64  `db:"id"`
	UserID     int64  `db:"user_id"`
	ListID     int64  `db:"list_id"`
	Status     string `db:"status"`
	Options    string `db:"options"`
	Result     []byte `db:"result"`
	Size       int64  `db:"size"`
	CreatedAt  int64  `db:"created_at"`
	FinishedAt int64  `db:"finished_at"`
}

const exportCols = "id, user_id, list_id, status, options, LENGTH(result) AS size, created_at, finished_at"

// CreateExport stores a pending export job and sets e.ID.
func (db *DB) CreateExport(ctx context.Context, e *Export) error {
	e.CreatedAt, e.Status = now(), JobPending
	res, err := db.w.ExecContext(ctx, "INSERT INTO subscriber_exports (user_id, list_id, status, options, result, created_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, 0)",
		e.UserID, e.ListID, e.Status, e.Options, []byte{}, e.CreatedAt)
	if err != nil {
		return err
	}
	e.ID, err = res.LastInsertId()
	return err
}

// ExportByID returns an export job of the user's list; withResult loads the file too.
func (db *DB) ExportByID(ctx context.Context, userID, listID, id int64, withResult bool) (*Export, error) {
	cols := exportCols
	if withResult {
		cols += ", result"
	}
	var e Export
	err := db.r.GetContext(ctx, &e, "SELECT "+cols+" FROM subscriber_exports WHERE id = ? AND list_id = ? AND user_id = ?", id, listID, userID)
	return &e, notFound(err)
}

// Exports returns the export jobs of the user's list, newest first, without their files.
func (db *DB) Exports(ctx context.Context, userID, listID int64) ([]Export, error) {
	var out []Export
	err := db.r.SelectContext(ctx, &out, "SELECT "+exportCols+" FROM subscriber_exports WHERE list_id = ? AND user_id = ? ORDER BY id DESC", listID, userID)
	return out, err
}

// UnfinishedExports returns the export jobs still Pending or Processing, oldest first.
func (db *DB) UnfinishedExports(ctx context.Context) ([]Export, error) {
	var out []Export
	err := db.r.SelectContext(ctx, &out, "SELECT "+exportCols+" FROM subscriber_exports WHERE status IN ('Pending', 'Processing') ORDER BY id")
	return out, err
}

// FinishExport stores an export's file and end state.
func (db *DB) FinishExport(ctx context.Context, id int64, status string, result []byte) error {
	if result == nil {
		result = []byte{}
	}
	_, err := db.w.ExecContext(ctx, "UPDATE subscriber_exports SET status = ?, result = ?, finished_at = ? WHERE id = ?", status, result, now(), id)
	return err
}
