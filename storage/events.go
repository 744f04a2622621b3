package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// EventFilter selects events of one or more domains.
type EventFilter struct {
	DomainIDs   []int64
	From, To    int64    // unix seconds, inclusive; 0 leaves that end open
	Types       []string // canonical types; empty: all
	MessageUUID string   // the API MessageID
	// Query matches a substring of the recipient address, the subject or the From address,
	// or the exact MessageID.
	Query string
	// Tag keeps the events of messages that carry this tag (exactly, case included).
	Tag           string
	Offset, Limit int
	// HumanOnly leaves out events flagged as bots.
	HumanOnly bool
}

// EventRow is an event with the message fields the APIs show.
type EventRow struct {
	Event
	MessageUUID string `db:"message_uuid"`
	MailFrom    string `db:"mail_from"`
	Subject     string `db:"subject"`
	Tags        string `db:"tags"`
	JourneyID   int64  `db:"journey_id"`
	ActionID    int64  `db:"action_id"`
}

// TagList decodes Tags.
func (r *EventRow) TagList() []string {
	m := Message{Tags: r.Tags}
	return m.TagList()
}

const eventRowCols = `e.id, e.domain_id, e.user_id, e.message_id, e.recipient_id, e.type, e.email, e.code, e.details, e.url,
	e.user_agent, e.ip, e.bot, e.created_at, COALESCE(m.uuid, '') AS message_uuid, COALESCE(m.mail_from, '') AS mail_from,
	COALESCE(m.subject, '') AS subject, COALESCE(m.tags, '') AS tags,
	COALESCE(m.journey_id, 0) AS journey_id, COALESCE(m.action_id, 0) AS action_id`

// likeEscape escapes LIKE wildcards for an ESCAPE '!' clause.
func likeEscape(s string) string {
	r := strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")
	return r.Replace(s)
}

func (f *EventFilter) where() (string, []any, bool) {
	var conds []string
	var args []any
	join := false
	if len(f.DomainIDs) == 1 {
		conds = append(conds, "e.domain_id = ?")
		args = append(args, f.DomainIDs[0])
	} else {
		in, a := inList(f.DomainIDs)
		if len(f.DomainIDs) == 0 {
			in, a = "0", nil
		}
		conds = append(conds, "e.domain_id IN ("+in+")")
		args = append(args, a...)
	}
	if f.From > 0 {
		conds = append(conds, "e.created_at >= ?")
		args = append(args, f.From)
	}
	if f.To > 0 {
		conds = append(conds, "e.created_at <= ?")
		args = append(args, f.To)
	}
	if len(f.Types) == 1 {
		conds = append(conds, "e.type = ?")
		args = append(args, f.Types[0])
	} else if len(f.Types) > 1 {
		conds = append(conds, "e.type IN ("+strings.TrimSuffix(strings.Repeat("?,", len(f.Types)), ",")+")")
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	if f.HumanOnly {
		conds = append(conds, "e.bot = 0")
	}
	if f.MessageUUID != "" {
		conds = append(conds, "e.message_id IN (SELECT id FROM messages WHERE uuid = ?)")
		args = append(args, f.MessageUUID)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		join = true
		like := "%" + likeEscape(q) + "%"
		conds = append(conds, "(e.email LIKE ? ESCAPE '!' OR m.subject LIKE ? ESCAPE '!' OR m.mail_from LIKE ? ESCAPE '!' OR m.uuid = ?)")
		args = append(args, like, like, like, q)
	}
	if f.Tag != "" {
		join = true
		b, _ := json.Marshal(f.Tag) // as the message's tags are stored: a JSON array of strings
		conds = append(conds, "m.tags LIKE ? ESCAPE '!'")
		args = append(args, "%"+likeEscape(string(b))+"%")
	}
	return strings.Join(conds, " AND "), args, join
}

// Events returns one page of events, newest first, and how many match in all.
func (db *DB) Events(ctx context.Context, f EventFilter) ([]EventRow, int64, error) {
	where, args, join := f.where()
	from := "events e"
	if join {
		from += " LEFT JOIN messages m ON m.id = e.message_id"
	}
	var total int64
	if err := db.r.GetContext(ctx, &total, "SELECT COUNT(*) FROM "+from+" WHERE "+where, args...); err != nil {
		return nil, 0, fmt.Errorf("count events: %w", err)
	}
	rows := []EventRow{}
	if total == 0 || f.Limit <= 0 || int64(f.Offset) >= total {
		return rows, total, nil
	}
	q := "SELECT " + eventRowCols + " FROM events e LEFT JOIN messages m ON m.id = e.message_id WHERE " + where +
		" ORDER BY e.created_at DESC, e.id DESC LIMIT " + strconv.Itoa(f.Limit) + " OFFSET " + strconv.Itoa(f.Offset)
	if err := db.r.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, 0, fmt.Errorf("select events: %w", err)
	}
	return rows, total, nil
}

// EachEvent calls fn for every event matching f (Offset and Limit apply when Limit > 0),
// newest first, reading rows as they come (exports).
func (db *DB) EachEvent(ctx context.Context, f EventFilter, fn func(*EventRow) error) error {
	where, args, _ := f.where()
	q := "SELECT " + eventRowCols + " FROM events e LEFT JOIN messages m ON m.id = e.message_id WHERE " + where +
		" ORDER BY e.created_at DESC, e.id DESC"
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit) + " OFFSET " + strconv.Itoa(f.Offset)
	}
	rows, err := db.r.QueryxContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("select events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r EventRow
		if err := rows.StructScan(&r); err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Counts are the rollup columns of stats_daily.
type Counts struct {
	Sent         int64 `db:"sent"`
	Delivered    int64 `db:"delivered"`
	Deferred     int64 `db:"deferred"`
	Bounced      int64 `db:"bounced"`
	Failed       int64 `db:"failed"`
	Opened       int64 `db:"opened"`
	Clicked      int64 `db:"clicked"`
	Unsubscribed int64 `db:"unsubscribed"`
	Complained   int64 `db:"complained"`
}

// Of returns the count of a canonical event type.
func (c Counts) Of(eventType string) int64 {
	switch eventType {
	case EventAccepted:
		return c.Sent
	case EventDelivered:
		return c.Delivered
	case EventDeferred:
		return c.Deferred
	case EventBounced:
		return c.Bounced
	case EventFailed:
		return c.Failed
	case EventOpened:
		return c.Opened
	case EventClicked:
		return c.Clicked
	case EventUnsubscribed:
		return c.Unsubscribed
	case EventComplained:
		return c.Complained
	}
	return 0
}

// Total is the sum of every column.
func (c Counts) Total() int64 {
	return c.Sent + c.Delivered + c.Deferred + c.Bounced + c.Failed + c.Opened + c.Clicked + c.Unsubscribed + c.Complained
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Sent += o.Sent
	c.Delivered += o.Delivered
	c.Deferred += o.Deferred
	c.Bounced += o.Bounced
	c.Failed += o.Failed
	c.Opened += o.Opened
	c.Clicked += o.Clicked
	c.Unsubscribed += o.Unsubscribed
	c.Complained += o.Complained
}

// EventTypes lists the canonical event types in rollup order.
var EventTypes = []string{EventAccepted, EventDelivered, EventDeferred, EventBounced, EventFailed, EventOpened,
	EventClicked, EventUnsubscribed, EventComplained}

const sumCols = `COALESCE(SUM(sent), 0) AS sent, COALESCE(SUM(delivered), 0) AS delivered,
	COALESCE(SUM(deferred), 0) AS deferred, COALESCE(SUM(bounced), 0) AS bounced, COALESCE(SUM(failed), 0) AS failed,
	COALESCE(SUM(opened), 0) AS opened, COALESCE(SUM(clicked), 0) AS clicked,
	COALESCE(SUM(unsubscribed), 0) AS unsubscribed, COALESCE(SUM(complained), 0) AS complained`

// sumStatsBy sums the stats_daily rows matching where per value of the column key; values
// without rows are absent.
func sumStatsBy[K comparable](ctx context.Context, db *DB, key, where string, args ...any) (map[K]Counts, error) {
	var rows []struct {
		Key K `db:"k"`
		Counts
	}
	err := db.r.SelectContext(ctx, &rows, "SELECT "+key+" AS k, "+sumCols+" FROM stats_daily WHERE "+where+" GROUP BY "+key, args...)
	if err != nil {
		return nil, err
	}
	out := make(map[K]Counts, len(rows))
	for _, r := range rows {
		out[r.Key] = r.Counts
	}
	return out, nil
}

func statsWhere(domainIDs []int64, fromDay, toDay int) (string, []any) {
	if len(domainIDs) == 0 {
		return "1 = 0", nil
	}
	in, args := inList(domainIDs)
	q := "domain_id IN (" + in + ") AND day BETWEEN ? AND ?"
	if len(domainIDs) == 1 {
		q = "domain_id = ? AND day BETWEEN ? AND ?"
	}
	return q, append(args, fromDay, toDay)
}

// StatsTotals sums the daily rollups of the domains over fromDay..toDay (YYYYMMDD, inclusive)
// for one tag ("" is every message). Bots are not in the rollups.
func (db *DB) StatsTotals(ctx context.Context, domainIDs []int64, fromDay, toDay int, tag string) (Counts, error) {
	where, args := statsWhere(domainIDs, fromDay, toDay)
	var c Counts
	err := db.r.GetContext(ctx, &c, "SELECT "+sumCols+" FROM stats_daily WHERE "+where+" AND tag = ?", append(args, tag)...)
	return c, err
}

// StatsByDomain sums the rollups per domain over fromDay..toDay for every message (tag "");
// domains without activity are absent.
func (db *DB) StatsByDomain(ctx context.Context, domainIDs []int64, fromDay, toDay int) (map[int64]Counts, error) {
	where, args := statsWhere(domainIDs, fromDay, toDay)
	return sumStatsBy[int64](ctx, db, "domain_id", where+" AND tag = ''", args...)
}

// LastActivity returns, per domain of the user, the time of its newest event at or after
// since (unix seconds); domains without one are absent. Each is one index lookup.
func (db *DB) LastActivity(ctx context.Context, userID, since int64) (map[int64]int64, error) {
	var rows []struct {
		DomainID int64 `db:"domain_id"`
		At       int64 `db:"at"`
	}
	err := db.r.SelectContext(ctx, &rows, `SELECT d.id AS domain_id,
		COALESCE((SELECT MAX(e.created_at) FROM events e WHERE e.domain_id = d.id), 0) AS at
		FROM sender_domains d WHERE d.user_id = ?`, userID)
	if err != nil {
		return nil, err
	}
	out := map[int64]int64{}
	for _, r := range rows {
		if r.At >= since && r.At > 0 {
			out[r.DomainID] = r.At
		}
	}
	return out, nil
}

// StatsByTag sums the rollups per tag (messages without tags are not in it).
func (db *DB) StatsByTag(ctx context.Context, domainIDs []int64, fromDay, toDay int) (map[string]Counts, error) {
	where, args := statsWhere(domainIDs, fromDay, toDay)
	return sumStatsBy[string](ctx, db, "tag", where+" AND tag <> ''", args...)
}

// StatsByDay sums the rollups per day (YYYYMMDD) for one tag; days without activity are absent.
func (db *DB) StatsByDay(ctx context.Context, domainIDs []int64, fromDay, toDay int, tag string) (map[int]Counts, error) {
	where, args := statsWhere(domainIDs, fromDay, toDay)
	return sumStatsBy[int](ctx, db, "day", where+" AND tag = ?", append(args, tag)...)
}

// StatsAllDomainsByDay sums every domain's daily rollups (all messages, tag "") per day over
// fromDay..toDay: the operator's view of the platform.
func (db *DB) StatsAllDomainsByDay(ctx context.Context, fromDay, toDay int) (map[int]Counts, error) {
	return sumStatsBy[int](ctx, db, "day", "day BETWEEN ? AND ? AND tag = ''", fromDay, toDay)
}

// Bucket is one aggregation key and its count.
type Bucket struct {
	Key   string `db:"k" json:"key"`
	Count int64  `db:"n" json:"doc_count"`
}

// EventsByRecipientDomain counts a domain's human events per recipient domain, largest first.
func (db *DB) EventsByRecipientDomain(ctx context.Context, f EventFilter, size int) ([]Bucket, error) {
	f.HumanOnly = true
	where, args, _ := f.where()
	q := "SELECT LOWER(SUBSTR(e.email, INSTR(e.email, '@') + 1)) AS k, COUNT(*) AS n FROM events e WHERE " + where +
		" GROUP BY LOWER(SUBSTR(e.email, INSTR(e.email, '@') + 1)) ORDER BY n DESC, k LIMIT " + strconv.Itoa(size)
	out := []Bucket{}
	err := db.r.SelectContext(ctx, &out, q, args...)
	return out, err
}

// TrackedRecipient is what the tracking endpoints need to know about a recipient.
type TrackedRecipient struct {
	Recipient
	MessageUUID string `db:"message_uuid"`
	Tags        string `db:"tags"`
	Links       string `db:"links"`
	DomainName  string `db:"domain_name"`
	// DeliveredAt is the time of the recipient's first delivered event (0: none).
	DeliveredAt int64 `db:"delivered_at"`
}

// TrackedRecipientByID loads a recipient with its message's tags and links.
func (db *DB) TrackedRecipientByID(ctx context.Context, id int64) (*TrackedRecipient, error) {
	var r TrackedRecipient
	err := db.r.GetContext(ctx, &r, `SELECT r.id, r.message_id, r.domain_id, r.user_id, r.email, r.kind, r.state, r.attempts,
		r.next_attempt_at, r.lease_owner, r.lease_expires_at, r.last_code, r.last_reply, r.created_at, r.updated_at,
		m.uuid AS message_uuid, m.tags, m.links, COALESCE(d.name, '') AS domain_name,
		COALESCE((SELECT MIN(x.created_at) FROM events x WHERE x.recipient_id = r.id AND x.type = ?), 0) AS delivered_at
		FROM recipients r JOIN messages m ON m.id = r.message_id LEFT JOIN sender_domains d ON d.id = r.domain_id
		WHERE r.id = ?`, EventDelivered, id)
	return &r, notFound(err)
}

// RecordEvent writes one event (through InsertEvent, so rollups and the outbox follow) in its
// own transaction.
func (db *DB) RecordEvent(ctx context.Context, ev *Event, tags []string) error {
	return db.txRetry(ctx, func(tx *sqlxTx) error { return InsertEvent(ctx, tx, ev, tags) })
}

// RecordUnsubscribe suppresses the recipient's address for the domain and writes the
// unsubscribed event, in one transaction; for a message sent to a list's subscriber it
// unsubscribes the subscriber from that list instead (and adds the list's own suppression
// entry when the list asks for it). An address already unsubscribed from the domain
// gets no second event; first reports whether this call did it.
func (db *DB) RecordUnsubscribe(ctx context.Context, ev *Event, tags []string) (first bool, err error) {
	err = db.txRetry(ctx, func(tx *sqlxTx) error {
		first = false
		// List mail unsubscribes from its list, not from the sender domain.
		if listID, subID, err := messageAudience(ctx, tx, ev); err != nil {
			return err
		} else if listID > 0 && subID > 0 {
			changed, err := unsubscribeSubscriber(ctx, tx, ev, listID, subID, SuppressUnsubscribe, false)
			if err != nil || !changed {
				return err
			}
			first = true
			return InsertEvent(ctx, tx, ev, tags)
		}
		var source string
		err := tx.GetContext(ctx, &source, "SELECT source FROM suppressions WHERE list_id = 0 AND domain_id = ? AND email = ?",
			ev.DomainID, strings.ToLower(ev.Email))
		switch {
		case err == nil && source == SuppressUnsubscribe:
			return nil
		case err != nil && err != sql.ErrNoRows:
			return err
		}
		if _, err := Suppress(ctx, tx, domainSuppression(ev.UserID, ev.DomainID, ev.Email, SuppressUnsubscribe, "")); err != nil {
			return err
		}
		first = true
		return InsertEvent(ctx, tx, ev, tags)
	})
	return first, err
}

// SetMessageLinks stores the tracked URLs of a message once (the first delivery that
// rewrites it); later calls leave the stored list alone.
func (db *DB) SetMessageLinks(ctx context.Context, messageID int64, links string) error {
	_, err := db.execRetry(ctx, "UPDATE messages SET links = ? WHERE id = ? AND links = ''", links, messageID)
	return err
}

// ImportMessage stores a message and its recipients as they were at m.CreatedAt, without
// events (the caller imports those with ImportEvents). For imports, tests and benchmarks;
// mail accepted through the APIs goes through Enqueue.
func (db *DB) ImportMessage(ctx context.Context, m *Message, rcpts []*Recipient) error {
	if m.CreatedAt == 0 {
		m.CreatedAt = now()
	}
	if m.Raw == nil {
		m.Raw = []byte{}
	}
	return db.Tx(ctx, func(tx *sqlxTx) error {
		res, err := tx.NamedExecContext(ctx, `INSERT INTO messages (uuid, domain_id, user_id, api_key_id, source, mail_from,
			subject, tags, header_message_id, raw, track_links, track_opens, links, callback_url, userref, send_at, created_at)
			VALUES (:uuid, :domain_id, :user_id, :api_key_id, :source, :mail_from, :subject, :tags, :header_message_id, :raw,
			:track_links, :track_opens, :links, :callback_url, :userref, :send_at, :created_at)`, m)
		if err != nil {
			return fmt.Errorf("import message: %w", err)
		}
		if m.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		for _, r := range rcpts {
			r.MessageID, r.DomainID, r.UserID = m.ID, m.DomainID, m.UserID
			if r.Kind == "" {
				r.Kind = "to"
			}
			if r.State == "" {
				r.State = StateQueued
			}
			if r.CreatedAt == 0 {
				r.CreatedAt = m.CreatedAt
			}
			if r.UpdatedAt == 0 {
				r.UpdatedAt = r.CreatedAt
			}
			res, err := tx.NamedExecContext(ctx, `INSERT INTO recipients (message_id, domain_id, user_id, email, kind, state,
				attempts, next_attempt_at, lease_owner, lease_expires_at, last_code, last_reply, created_at, updated_at)
				VALUES (:message_id, :domain_id, :user_id, :email, :kind, :state, :attempts, :next_attempt_at, '', 0,
				:last_code, :last_reply, :created_at, :updated_at)`, r)
			if err != nil {
				return fmt.Errorf("import recipient: %w", err)
			}
			if r.ID, err = res.LastInsertId(); err != nil {
				return err
			}
		}
		return nil
	})
}

// ImportEvents writes events with their own CreatedAt in one transaction, through
// InsertEvent (rollups, outbox), each counted under its message's tags.
func (db *DB) ImportEvents(ctx context.Context, evs []*Event) error {
	return db.Tx(ctx, func(tx *sqlxTx) error {
		tags := map[int64][]string{}
		for _, ev := range evs {
			t, ok := tags[ev.MessageID]
			if !ok && ev.MessageID > 0 {
				var s string
				err := tx.GetContext(ctx, &s, "SELECT tags FROM messages WHERE id = ?", ev.MessageID)
				if err != nil && notFound(err) != ErrNotFound {
					return err
				}
				t = (&Message{Tags: s}).TagList()
				tags[ev.MessageID] = t
			}
			if err := InsertEvent(ctx, tx, ev, t); err != nil {
				return err
			}
		}
		return nil
	})
}

// DailyRollup is one stats_daily row.
type DailyRollup struct {
	DomainID int64  `db:"domain_id"`
	Day      int    `db:"day"`
	Tag      string `db:"tag"`
	Counts
}

// ImportRollups adds rollup rows directly, without events (benchmarks and imports of
// history kept elsewhere).
func (db *DB) ImportRollups(ctx context.Context, rows []DailyRollup) error {
	return db.Tx(ctx, func(tx *sqlxTx) error {
		for i := 0; i < len(rows); i += 200 {
			batch := rows[i:min(i+200, len(rows))]
			q := `INSERT INTO stats_daily (domain_id, day, tag, sent, delivered, deferred, bounced, failed, opened, clicked,
				unsubscribed, complained) VALUES ` + strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?,?,?,?,?,?),", len(batch)), ",")
			args := make([]any, 0, 12*len(batch))
			for _, r := range batch {
				args = append(args, r.DomainID, r.Day, r.Tag, r.Sent, r.Delivered, r.Deferred, r.Bounced, r.Failed, r.Opened,
					r.Clicked, r.Unsubscribed, r.Complained)
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("import rollups: %w", err)
			}
		}
		return nil
	})
}
