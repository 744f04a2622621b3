package storage

// Audience storage, part 1: subscriber lists, their confirmation emails, custom fields and
// per-list suppression. Subscribers, tags and import/export jobs are in subscribers.go.
// docs/audience.md describes the API for callers (the send path, personalization).
//
// Isolation: every lookup takes the owner's user id and answers ErrNotFound for another
// tenant's row, so "not found" and "not yours" are one answer.

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
)

// Opt-in modes of a list.
const (
	OptInSingle = "Single"
	OptInDouble = "Double"
)

// List is a tenant's subscriber list.
type List struct {
	ID                           int64  `db:"id"`
	UserID                       int64  `db:"user_id"`
	Name                         string `db:"name"`
	Description                  string `db:"description"`
	OptInMode                    string `db:"opt_in_mode"` // Single | Double
	SenderName                   string `db:"sender_name"`
	SenderEmail                  string `db:"sender_email"`
	SenderCompany                string `db:"sender_company"`
	SenderAddress                string `db:"sender_address"`
	ConfirmationEmailID          int64  `db:"confirmation_email_id"` // 0: none
	OptOutAddToSuppression       bool   `db:"opt_out_add_to_suppression"`
	OptOutAddToGlobalSuppression bool   `db:"opt_out_add_to_global_suppression"`
	// Settings is a JSON object of the list.update settings gatewayd stores and shows but
	// does not act on (redirect URLs, sync settings ...), keyed by their document names.
	Settings string `db:"settings"`
	// Options is the JSON object of list-level options (list.get's Options).
	Options        string `db:"options"`
	CreatedAt      int64  `db:"created_at"`
	ArchivedAt     int64  `db:"archived_at"`      // 0: active
	LastActivityAt int64  `db:"last_activity_at"` // 0: none yet
}

// ListEmail is an email owned by a list, such as its opt-in confirmation email.
type ListEmail struct {
	ID           int64  `db:"id"`
	UserID       int64  `db:"user_id"`
	ListID       int64  `db:"list_id"`
	Name         string `db:"name"`
	Subject      string `db:"subject"`
	FromName     string `db:"from_name"`
	FromEmail    string `db:"from_email"`
	ReplyToName  string `db:"reply_to_name"`
	ReplyToEmail string `db:"reply_to_email"`
	ContentType  string `db:"content_type"` // HTML | Plain | Both
	HTMLContent  string `db:"html_content"`
	PlainContent string `db:"plain_content"`
	Preheader    string `db:"preheader"`
	Mode         string `db:"mode"`
	TemplateID   int64  `db:"template_id"`
	CreatedAt    int64  `db:"created_at"`
}

const listCols = `id, user_id, name, description, opt_in_mode, sender_name, sender_email, sender_company,
	sender_address, confirmation_email_id, opt_out_add_to_suppression, opt_out_add_to_global_suppression,
	settings, options, created_at, archived_at, last_activity_at`

const listInsert = `INSERT INTO subscriber_lists (user_id, name, description, opt_in_mode, sender_name,
	sender_email, sender_company, sender_address, confirmation_email_id, opt_out_add_to_suppression,
	opt_out_add_to_global_suppression, settings, options, created_at, archived_at, last_activity_at)
	VALUES (:user_id, :name, :description, :opt_in_mode, :sender_name, :sender_email, :sender_company,
	:sender_address, :confirmation_email_id, :opt_out_add_to_suppression, :opt_out_add_to_global_suppression,
	:settings, :options, :created_at, :archived_at, :last_activity_at)`

func (l *List) defaults() {
	if l.OptInMode == "" {
		l.OptInMode = OptInSingle
	}
	if l.Settings == "" {
		l.Settings = "{}"
	}
	if l.Options == "" {
		l.Options = "{}"
	}
	if l.CreatedAt == 0 {
		l.CreatedAt = now()
	}
}

// CreateList inserts l and sets l.ID. When confirm is not nil it is created in the same
// transaction, linked to the list (l.ConfirmationEmailID, confirm.ListID) and given an ID;
// a failure leaves neither row.
func (db *DB) CreateList(ctx context.Context, l *List, confirm *ListEmail) error {
	l.defaults()
	return db.Tx(ctx, func(tx *sqlxTx) error {
		res, err := tx.NamedExecContext(ctx, listInsert, l)
		if err != nil {
			return err
		}
		if l.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		if confirm == nil {
			return nil
		}
		confirm.UserID, confirm.ListID = l.UserID, l.ID
		if confirm.Name == "" {
			confirm.Name = "Confirmation email: " + strconv.FormatInt(l.ID, 10)
		}
		if err := insertListEmail(ctx, tx, confirm); err != nil {
			return err
		}
		l.ConfirmationEmailID = confirm.ID
		_, err = tx.ExecContext(ctx, "UPDATE subscriber_lists SET confirmation_email_id = ? WHERE id = ?", confirm.ID, l.ID)
		return err
	})
}

func insertListEmail(ctx context.Context, tx *sqlxTx, e *ListEmail) error {
	if e.CreatedAt == 0 {
		e.CreatedAt = now()
	}
	res, err := tx.NamedExecContext(ctx, `INSERT INTO list_emails (user_id, list_id, name, subject, from_name,
		from_email, reply_to_name, reply_to_email, content_type, html_content, plain_content, preheader, mode,
		template_id, created_at) VALUES (:user_id, :list_id, :name, :subject, :from_name, :from_email,
		:reply_to_name, :reply_to_email, :content_type, :html_content, :plain_content, :preheader, :mode,
		:template_id, :created_at)`, e)
	if err != nil {
		return err
	}
	e.ID, err = res.LastInsertId()
	return err
}

// ListEmailByID returns one of the user's list emails.
func (db *DB) ListEmailByID(ctx context.Context, userID, id int64) (*ListEmail, error) {
	var e ListEmail
	err := db.r.GetContext(ctx, &e, `SELECT id, user_id, list_id, name, subject, from_name, from_email,
		reply_to_name, reply_to_email, content_type, html_content, plain_content, preheader, mode, template_id,
		created_at FROM list_emails WHERE id = ? AND user_id = ?`, id, userID)
	return &e, notFound(err)
}

// ListByID returns the user's list (ErrNotFound for another user's).
func (db *DB) ListByID(ctx context.Context, userID, listID int64) (*List, error) {
	var l List
	err := db.r.GetContext(ctx, &l, "SELECT "+listCols+" FROM subscriber_lists WHERE id = ? AND user_id = ?", listID, userID)
	return &l, notFound(err)
}

// UpdateList writes every settable column of l (name, description, sender, opt-in/out
// settings, settings, options) for its owner.
func (db *DB) UpdateList(ctx context.Context, l *List) error {
	_, err := db.w.NamedExecContext(ctx, `UPDATE subscriber_lists SET name = :name, description = :description,
		opt_in_mode = :opt_in_mode, sender_name = :sender_name, sender_email = :sender_email,
		sender_company = :sender_company, sender_address = :sender_address,
		confirmation_email_id = :confirmation_email_id, opt_out_add_to_suppression = :opt_out_add_to_suppression,
		opt_out_add_to_global_suppression = :opt_out_add_to_global_suppression, settings = :settings,
		options = :options WHERE id = :id AND user_id = :user_id`, l)
	return err
}

// SetListArchived archives (at > 0) or unarchives (at = 0) the user's list.
func (db *DB) SetListArchived(ctx context.Context, userID, listID, at int64) error {
	_, err := db.w.ExecContext(ctx, "UPDATE subscriber_lists SET archived_at = ? WHERE id = ? AND user_id = ?", at, listID, userID)
	return err
}

// TouchList records list activity (a subscription, unsubscription, import, bounce or send).
func (db *DB) TouchList(ctx context.Context, listID int64) error {
	_, err := db.w.ExecContext(ctx, "UPDATE subscriber_lists SET last_activity_at = ? WHERE id = ?", now(), listID)
	return err
}

// ListQuery selects a user's lists for lists.get.
type ListQuery struct {
	UserID   int64
	Search   string // substring of name or description, case-insensitive
	Archived string // "false" (active only, default), "true" (archived only), "all"
	IDs      []int64
	Order    string // a column: id, name, created_at, archived_at, last_activity_at, active_count
	Desc     bool
	Offset   int
	Limit    int // 0: all
}

// ListSummary is a list with its active subscriber count (Subscribed, not hard-bounced).
type ListSummary struct {
	List
	ActiveCount int64 `db:"active_count"`
}

// Lists returns the user's lists matching q and the filtered total.
func (db *DB) Lists(ctx context.Context, q ListQuery) ([]ListSummary, int, error) {
	where := []string{"l.user_id = ?"}
	args := []any{q.UserID}
	switch q.Archived {
	case "true":
		where = append(where, "l.archived_at > 0")
	case "all":
	default:
		where = append(where, "l.archived_at = 0")
	}
	if s := strings.TrimSpace(q.Search); s != "" {
		where = append(where, "(LOWER(l.name) LIKE ? ESCAPE '!' OR LOWER(l.description) LIKE ? ESCAPE '!')")
		pat := "%" + likeEscape(strings.ToLower(s)) + "%"
		args = append(args, pat, pat)
	}
	if len(q.IDs) > 0 {
		in, ids := inList(q.IDs)
		where = append(where, "l.id IN ("+in+")")
		args = append(args, ids...)
	}
	cond := strings.Join(where, " AND ")
	var total int
	if err := db.r.GetContext(ctx, &total, "SELECT COUNT(*) FROM subscriber_lists l WHERE "+cond, args...); err != nil {
		return nil, 0, err
	}
	order := map[string]string{"id": "l.id", "name": "l.name", "created_at": "l.created_at", "archived_at": "l.archived_at",
		"last_activity_at": "l.last_activity_at", "active_count": "active_count"}[q.Order]
	if order == "" {
		order = "l.id"
	}
	dir := " ASC"
	if q.Desc {
		dir = " DESC"
	}
	stmt := `SELECT ` + prefixCols("l.", listCols) + `, (SELECT COUNT(*) FROM subscribers s WHERE s.list_id = l.id
		AND s.status = 'Subscribed' AND s.bounce_type <> 'Hard') AS active_count
		FROM subscriber_lists l WHERE ` + cond + " ORDER BY " + order + dir + ", l.id" + dir
	if q.Limit > 0 {
		stmt += " LIMIT ? OFFSET ?"
		args = append(args, q.Limit, q.Offset)
	}
	var out []ListSummary
	err := db.r.SelectContext(ctx, &out, stmt, args...)
	return out, total, err
}

// CountLists returns how many lists the user has (archived ones included).
func (db *DB) CountLists(ctx context.Context, userID int64) (int, error) {
	var n int
	err := db.r.GetContext(ctx, &n, "SELECT COUNT(*) FROM subscriber_lists WHERE user_id = ?", userID)
	return n, err
}

// DeleteLists deletes the user's lists among ids with everything in them (subscribers,
// custom fields, tags, suppressions, import and export jobs, list emails) and returns how
// many lists went. Ids that are not the user's are ignored.
func (db *DB) DeleteLists(ctx context.Context, userID int64, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int
	err := db.Tx(ctx, func(tx *sqlxTx) error {
		in, args := inList(ids)
		var own []int64
		if err := tx.SelectContext(ctx, &own, "SELECT id FROM subscriber_lists WHERE user_id = ? AND id IN ("+in+")", append([]any{userID}, args...)...); err != nil {
			return err
		}
		n = len(own)
		for _, id := range own {
			for _, stmt := range []string{
				"DELETE FROM subscriber_tag_members WHERE tag_id IN (SELECT id FROM subscriber_tags WHERE list_id = ?)",
				"DELETE FROM subscriber_tags WHERE list_id = ?",
				"DELETE FROM subscribers WHERE list_id = ?",
				"DELETE FROM custom_fields WHERE list_id = ?",
				"DELETE FROM suppressions WHERE list_id = ?",
				"DELETE FROM subscriber_import_data WHERE import_id IN (SELECT id FROM subscriber_imports WHERE list_id = ?)",
				"DELETE FROM subscriber_imports WHERE list_id = ?",
				"DELETE FROM subscriber_exports WHERE list_id = ?",
				"DELETE FROM list_emails WHERE list_id = ?",
				"DELETE FROM subscriber_lists WHERE id = ?",
			} {
				if _, err := tx.ExecContext(ctx, stmt, id); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return n, err
}

// CloneList creates a copy of src's settings named name for the same owner (no subscribers,
// no confirmation email) and, when withFields, copies its list custom fields; it returns the
// new list and how many fields were copied. All or nothing.
func (db *DB) CloneList(ctx context.Context, src *List, name string, withFields bool) (*List, int, error) {
	l := *src
	l.ID, l.Name, l.ConfirmationEmailID, l.CreatedAt, l.ArchivedAt, l.LastActivityAt = 0, name, 0, now(), 0, 0
	copied := 0
	err := db.Tx(ctx, func(tx *sqlxTx) error {
		res, err := tx.NamedExecContext(ctx, listInsert, &l)
		if err != nil {
			return err
		}
		if l.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		if withFields {
			copied, err = copyFields(ctx, tx, src.UserID, src.ID, l.ID)
		}
		return err
	})
	return &l, copied, err
}

// CopyCustomFields copies the list fields of one of the user's lists onto another.
func (db *DB) CopyCustomFields(ctx context.Context, userID, fromList, toList int64) (int, error) {
	var n int
	err := db.Tx(ctx, func(tx *sqlxTx) (err error) {
		n, err = copyFields(ctx, tx, userID, fromList, toList)
		return err
	})
	return n, err
}

func copyFields(ctx context.Context, tx *sqlxTx, userID, fromList, toList int64) (int, error) {
	var fs []CustomField
	if err := tx.SelectContext(ctx, &fs, "SELECT "+fieldCols+" FROM custom_fields WHERE user_id = ? AND list_id = ? ORDER BY id", userID, fromList); err != nil {
		return 0, err
	}
	for i := range fs {
		f := fs[i]
		f.ListID, f.CreatedAt = toList, now()
		if err := insertField(ctx, tx, &f); err != nil {
			return 0, err
		}
	}
	return len(fs), nil
}

// Custom field types, validation methods and visibilities, as the documents spell them.
var (
	FieldTypes        = []string{"Single line", "Paragraph text", "Multiple choice", "Drop down", "Checkboxes", "Hidden field", "Date field", "Time field"}
	ValidationMethods = []string{"Disabled", "Numbers", "Letters", "Numbers and letters", "Email address", "URL", "Date", "Time", "Custom"}
	Visibilities      = []string{"Public", "User Only", "Hidden"}
)

// FieldOption is one choice of a Multiple choice, Drop down or Checkboxes field.
type FieldOption struct {
	Label    string
	Value    string
	Selected bool
}

// CustomField is a subscriber field. ListID 0 is a global field of its owner (every list of
// the user); UserID 0 is a platform-wide global field managed by the administrator.
type CustomField struct {
	ID               int64  `db:"id"`
	UserID           int64  `db:"user_id"`
	ListID           int64  `db:"list_id"`
	Name             string `db:"name"`
	FieldType        string `db:"field_type"`
	DataType         string `db:"data_type"`
	DefaultValue     string `db:"default_value"`
	ValidationMethod string `db:"validation_method"`
	ValidationRule   string `db:"validation_rule"`
	MergeTagAlias    string `db:"merge_tag_alias"`
	OptionsJSON      string `db:"options"` // JSON array of FieldOption
	IsRequired       bool   `db:"is_required"`
	IsUnique         bool   `db:"is_unique"`
	Visibility       string `db:"visibility"`
	IsGlobal         bool   `db:"is_global"`
	Years            string `db:"years"`
	Meta             string `db:"meta"` // JSON object
	UniqueIdentifier bool   `db:"unique_identifier"`
	CreatedAt        int64  `db:"created_at"`
}

// Options decodes the field's choices.
func (f *CustomField) Options() []FieldOption {
	var out []FieldOption
	_ = json.Unmarshal([]byte(f.OptionsJSON), &out)
	return out
}

// SetOptions encodes the field's choices.
func (f *CustomField) SetOptions(opts []FieldOption) {
	if opts == nil {
		opts = []FieldOption{}
	}
	b, _ := json.Marshal(opts)
	f.OptionsJSON = string(b)
}

// Key is the name of the field's value in a subscriber's Fields map: its id in decimal.
func (f *CustomField) Key() string { return strconv.FormatInt(f.ID, 10) }

const fieldCols = `id, user_id, list_id, name, field_type, data_type, default_value, validation_method,
	validation_rule, merge_tag_alias, options, is_required, is_unique, visibility, is_global, years, meta,
	unique_identifier, created_at`

func insertField(ctx context.Context, tx *sqlxTx, f *CustomField) error {
	if f.OptionsJSON == "" {
		f.OptionsJSON = "[]"
	}
	if f.Meta == "" {
		f.Meta = "{}"
	}
	if f.CreatedAt == 0 {
		f.CreatedAt = now()
	}
	res, err := tx.NamedExecContext(ctx, `INSERT INTO custom_fields (user_id, list_id, name, field_type, data_type,
		default_value, validation_method, validation_rule, merge_tag_alias, options, is_required, is_unique,
		visibility, is_global, years, meta, unique_identifier, created_at) VALUES (:user_id, :list_id, :name,
		:field_type, :data_type, :default_value, :validation_method, :validation_rule, :merge_tag_alias, :options,
		:is_required, :is_unique, :visibility, :is_global, :years, :meta, :unique_identifier, :created_at)`, f)
	if err != nil {
		return err
	}
	f.ID, err = res.LastInsertId()
	return err
}

// CreateCustomField inserts f and sets f.ID.
func (db *DB) CreateCustomField(ctx context.Context, f *CustomField) error {
	return db.Tx(ctx, func(tx *sqlxTx) error { return insertField(ctx, tx, f) })
}

// UpdateCustomField writes f's definition (not its owner or list).
func (db *DB) UpdateCustomField(ctx context.Context, f *CustomField) error {
	_, err := db.w.NamedExecContext(ctx, `UPDATE custom_fields SET name = :name, field_type = :field_type,
		data_type = :data_type, default_value = :default_value, validation_method = :validation_method,
		validation_rule = :validation_rule, merge_tag_alias = :merge_tag_alias, options = :options,
		is_required = :is_required, is_unique = :is_unique, visibility = :visibility, is_global = :is_global,
		years = :years, meta = :meta, unique_identifier = :unique_identifier WHERE id = :id AND user_id = :user_id`, f)
	return err
}

// CustomFieldByID returns one field owned by userID (userID 0: a platform global field).
func (db *DB) CustomFieldByID(ctx context.Context, userID, id int64) (*CustomField, error) {
	var f CustomField
	err := db.r.GetContext(ctx, &f, "SELECT "+fieldCols+" FROM custom_fields WHERE id = ? AND user_id = ?", id, userID)
	return &f, notFound(err)
}

// FieldsForList returns the fields that apply to one of the user's lists: the list's own
// fields and, when withGlobal, the user's global fields and the platform's global fields.
// Order: "name" (default), "id", "type", "required", "unique", "visibility", "global".
func (db *DB) FieldsForList(ctx context.Context, userID, listID int64, withGlobal bool, order string, desc bool) ([]CustomField, error) {
	where := "(user_id = ? AND list_id = ?)"
	args := []any{userID, listID}
	if withGlobal {
		where += " OR (user_id = ? AND list_id = 0) OR user_id = 0"
		args = append(args, userID)
	}
	var out []CustomField
	err := db.r.SelectContext(ctx, &out, "SELECT "+fieldCols+" FROM custom_fields WHERE "+where+" ORDER BY "+fieldOrder(order, desc), args...)
	return out, err
}

// GlobalFields returns the platform's global fields (user 0).
func (db *DB) GlobalFields(ctx context.Context, order string, desc bool) ([]CustomField, error) {
	var out []CustomField
	err := db.r.SelectContext(ctx, &out, "SELECT "+fieldCols+" FROM custom_fields WHERE user_id = 0 ORDER BY "+fieldOrder(order, desc))
	return out, err
}

func fieldOrder(order string, desc bool) string {
	col := map[string]string{"id": "id", "type": "field_type", "required": "is_required", "unique": "is_unique",
		"visibility": "visibility", "global": "is_global"}[order]
	if col == "" {
		col = "name"
	}
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	return col + dir + ", id" + dir
}

// DeleteCustomFields deletes the fields among ids owned by userID (0: platform global
// fields) and returns how many went. Subscribers' stored values for them are dropped from
// view (readers only show values of existing fields).
func (db *DB) DeleteCustomFields(ctx context.Context, userID int64, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	in, args := inList(ids)
	res, err := db.w.ExecContext(ctx, "DELETE FROM custom_fields WHERE user_id = ? AND id IN ("+in+")", append([]any{userID}, args...)...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// MergeTagAliasTaken reports whether another field visible to userID (the user's own or a
// platform global field) already uses alias, case-insensitively.
func (db *DB) MergeTagAliasTaken(ctx context.Context, userID int64, alias string, exceptID int64) (bool, error) {
	var n int
	err := db.r.GetContext(ctx, &n, "SELECT COUNT(*) FROM custom_fields WHERE (user_id = ? OR user_id = 0) AND LOWER(merge_tag_alias) = ? AND id <> ?",
		userID, strings.ToLower(alias), exceptID)
	return n > 0, err
}

// ListSuppression is one address on a list's own suppression list: the per-list rows of the
// one suppression table (storage/suppressions.go), sources storage.Suppress*.
type ListSuppression struct {
	ListID    int64  `db:"list_id"`
	UserID    int64  `db:"user_id"`
	Email     string `db:"email"`
	Source    string `db:"source"`
	Reason    string `db:"reason"`
	CreatedAt int64  `db:"created_at"`
}

// SuppressInList puts email on the list's suppression list (idempotent: the first entry stays).
func (db *DB) SuppressInList(ctx context.Context, userID, listID int64, email, source, reason string) error {
	_, err := db.AddSuppressions(ctx, []Suppression{{UserID: userID, ListID: listID, Email: email, Source: source, Reason: reason}})
	return err
}

// UnsuppressInList takes addresses off the list's suppression list and returns how many went.
func (db *DB) UnsuppressInList(ctx context.Context, listID int64, emails []string) (int, error) {
	if len(emails) == 0 || listID == 0 {
		return 0, nil
	}
	in := emailArgs(emails)
	res, err := db.w.ExecContext(ctx, "DELETE FROM suppressions WHERE list_id = ? AND email IN ("+placeholders(len(in))+")", append([]any{listID}, in...)...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// ListSuppressions returns the entries of a list's suppression list among emails (all of
// them when emails is nil), keyed by lower-cased address.
func (db *DB) ListSuppressions(ctx context.Context, listID int64, emails []string) (map[string]ListSuppression, error) {
	out := map[string]ListSuppression{}
	q := "SELECT list_id, user_id, email, source, reason, created_at FROM suppressions WHERE list_id = ?"
	args := []any{listID}
	if emails != nil {
		if len(emails) == 0 {
			return out, nil
		}
		in := emailArgs(emails)
		q += " AND email IN (" + placeholders(len(in)) + ")"
		args = append(args, in...)
	}
	var rows []ListSuppression
	if err := db.r.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[strings.ToLower(r.Email)] = r
	}
	return out, nil
}

func prefixCols(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}
