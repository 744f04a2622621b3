package storage

import (
	"context"
	"strconv"
)

// Template is a user email template (octeth-5.9.4/user-email-templates.md): a subject and
// content a send can name by TemplateID.
type Template struct {
	ID             int64  `db:"id"`
	UserID         int64  `db:"user_id"`
	Name           string `db:"name"`
	Subject        string `db:"subject"`
	Preheader      string `db:"preheader"`
	ContentType    string `db:"content_type"` // HTML | Plain | Both
	HTMLContent    string `db:"html_content"`
	PlainContent   string `db:"plain_content"`
	ExtraContent1  string `db:"extra_content1"`
	ExtraContent2  string `db:"extra_content2"`
	Mode           string `db:"mode"`            // Editor | Stripo
	ImageEmbedding string `db:"image_embedding"` // Enabled | Disabled
	CreatedAt      int64  `db:"created_at"`
	UpdatedAt      int64  `db:"updated_at"`
}

const templateCols = `id, user_id, name, subject, preheader, content_type, html_content, plain_content,
	extra_content1, extra_content2, mode, image_embedding, created_at, updated_at`

// CreateTemplate inserts t and sets its id and times.
func (db *DB) CreateTemplate(ctx context.Context, t *Template) error {
	t.CreatedAt = now()
	t.UpdatedAt = t.CreatedAt
	res, err := db.w.NamedExecContext(ctx, `INSERT INTO email_templates (user_id, name, subject, preheader,
		content_type, html_content, plain_content, extra_content1, extra_content2, mode, image_embedding, created_at,
		updated_at) VALUES (:user_id, :name, :subject, :preheader, :content_type, :html_content, :plain_content,
		:extra_content1, :extra_content2, :mode, :image_embedding, :created_at, :updated_at)`, t)
	if err != nil {
		return err
	}
	t.ID, err = res.LastInsertId()
	return err
}

// UpdateTemplate writes t's content (not its owner or creation time).
func (db *DB) UpdateTemplate(ctx context.Context, t *Template) error {
	t.UpdatedAt = now()
	return affected(db.w.NamedExecContext(ctx, `UPDATE email_templates SET name = :name, subject = :subject,
		preheader = :preheader, content_type = :content_type, html_content = :html_content,
		plain_content = :plain_content, extra_content1 = :extra_content1, extra_content2 = :extra_content2,
		mode = :mode, image_embedding = :image_embedding, updated_at = :updated_at
		WHERE id = :id AND user_id = :user_id`, t))
}

// TemplateByID returns one of the user's templates (ErrNotFound for another user's).
func (db *DB) TemplateByID(ctx context.Context, userID, id int64) (*Template, error) {
	var t Template
	err := db.r.GetContext(ctx, &t, "SELECT "+templateCols+" FROM email_templates WHERE id = ? AND user_id = ?", id, userID)
	return &t, notFound(err)
}

// Templates returns one page of the user's templates, ordered by "name" or creation (the
// default), and how many the user has in all.
func (db *DB) Templates(ctx context.Context, userID int64, order string, desc bool, offset, limit int) ([]Template, int, error) {
	var total int
	if err := db.r.GetContext(ctx, &total, "SELECT COUNT(*) FROM email_templates WHERE user_id = ?", userID); err != nil {
		return nil, 0, err
	}
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	by := "created_at" + dir + ", id" + dir
	if order == "name" {
		by = "name" + dir + ", id" + dir
	}
	out := []Template{}
	err := db.r.SelectContext(ctx, &out, "SELECT "+templateCols+" FROM email_templates WHERE user_id = ? ORDER BY "+by+
		" LIMIT "+strconv.Itoa(limit)+" OFFSET "+strconv.Itoa(offset), userID)
	return out, total, err
}

// DeleteTemplates deletes those of ids the user owns and returns how many went.
func (db *DB) DeleteTemplates(ctx context.Context, userID int64, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	in, args := inList(ids)
	res, err := db.w.ExecContext(ctx, "DELETE FROM email_templates WHERE user_id = ? AND id IN ("+in+")",
		append([]any{userID}, args...)...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// CopyName is the name of a copy: "Copy of <name>", cut to the column's 255 characters.
func CopyName(name string) string {
	r := []rune("Copy of " + name)
	if len(r) > 255 {
		r = r[:255]
	}
	return string(r)
}
