package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"sort"
	"strings"
	"time"
)

// Recipient states: the delivery queue.
const (
	StateScheduled = "scheduled" // SendAt in the future
	StateQueued    = "queued"
	StateSending   = "sending" // leased by a worker
	StateDeferred  = "deferred"
	StateDelivered = "delivered"
	StateBounced   = "bounced"
	StateFailed    = "failed"
	StateCancelled = "cancelled"
)

// Event types. The API vocabularies (legacy delivery/bounce/..., v1 delivered/bounced/...,
// GatewayAPI statuses) map onto these.
const (
	EventAccepted     = "accepted"
	EventDelivered    = "delivered"
	EventDeferred     = "deferred"
	EventBounced      = "bounced"
	EventFailed       = "failed"
	EventOpened       = "opened"
	EventClicked      = "clicked"
	EventUnsubscribed = "unsubscribed"
	EventComplained   = "complained"
)

// Message is one accepted message: its MIME bytes (unsigned; DKIM is added at delivery) and
// what the APIs report about it.
type Message struct {
	ID              int64  `db:"id"`
	UUID            string `db:"uuid"` // the API MessageID
	DomainID        int64  `db:"domain_id"`
	UserID          int64  `db:"user_id"`
	APIKeyID        int64  `db:"api_key_id"`
	Source          string `db:"source"` // api | smtp | gatewayapi
	MailFrom        string `db:"mail_from"`
	Subject         string `db:"subject"`
	Tags            string `db:"tags"` // JSON array of strings
	HeaderMessageID string `db:"header_message_id"`
	Raw             []byte `db:"raw"`
	TrackLinks      bool   `db:"track_links"`
	TrackOpens      bool   `db:"track_opens"`
	Links           string `db:"links"` // JSON array of tracked URLs (index = click token's link)
	CallbackURL     string `db:"callback_url"`
	UserRef         string `db:"userref"`
	// RequestID is the GatewayAPI id of the request when it is not this message's own: the
	// id of the request's first message, on each later message of the request (0 otherwise).
	RequestID int64 `db:"request_id"`
	SendAt    int64 `db:"send_at"`
	CreatedAt int64 `db:"created_at"`
	// The audience send that made the message (0: none): the subscriber list and subscriber
	// it was personalized for, and the journey and action it was sent for.
	ListID       int64 `db:"list_id"`
	SubscriberID int64 `db:"subscriber_id"`
	JourneyID    int64 `db:"journey_id"`
	ActionID     int64 `db:"action_id"`
	// Placeholders marks bodies carrying per-recipient link placeholders that delivery fills.
	Placeholders bool `db:"placeholders"`
}

// TagList decodes Tags.
func (m *Message) TagList() []string {
	var t []string
	if m.Tags != "" {
		json.Unmarshal([]byte(m.Tags), &t)
	}
	return t
}

// Recipient is one address of a message and its place in the delivery queue.
type Recipient struct {
	ID             int64  `db:"id"`
	MessageID      int64  `db:"message_id"`
	DomainID       int64  `db:"domain_id"`
	UserID         int64  `db:"user_id"`
	Email          string `db:"email"`
	Kind           string `db:"kind"` // to | cc | bcc
	State          string `db:"state"`
	Attempts       int    `db:"attempts"`
	NextAttemptAt  int64  `db:"next_attempt_at"`
	LeaseOwner     string `db:"lease_owner"`
	LeaseExpiresAt int64  `db:"lease_expires_at"`
	LastCode       int    `db:"last_code"`
	LastReply      string `db:"last_reply"`
	CreatedAt      int64  `db:"created_at"`
	UpdatedAt      int64  `db:"updated_at"`
	// TakenFrom is set by ClaimDue on a row it took over from another lease that had run
	// out (a node that died or stalled with the row): that lease's owner. Its mail may
	// have been sent already.
	TakenFrom string `db:"-"`
}

// Event is one thing that happened to a message or recipient.
type Event struct {
	ID          int64  `db:"id"`
	DomainID    int64  `db:"domain_id"`
	UserID      int64  `db:"user_id"`
	MessageID   int64  `db:"message_id"`
	RecipientID int64  `db:"recipient_id"`
	Type        string `db:"type"`
	Email       string `db:"email"`
	Code        int    `db:"code"`
	Details     string `db:"details"`
	URL         string `db:"url"`
	UserAgent   string `db:"user_agent"`
	IP          string `db:"ip"`
	Bot         bool   `db:"bot"`
	CreatedAt   int64  `db:"created_at"`
	// message, when the writer has the event's message row at hand (acceptance), spares
	// the event hooks from reading it back.
	message *Message
}

// Envelope is a message with its recipients, as accepted: the unit of Enqueue.
type Envelope struct {
	Message    *Message
	Recipients []*Recipient
	// MonthlyLimit, when > 0, refuses the envelope (ErrLimit) if the user's recipients this
	// month would pass it; checked and counted in the same transaction as the insert.
	MonthlyLimit int64
}

// Enqueue commits accepted envelopes in one transaction: messages, recipients (queued, or
// scheduled when SendAt is in the future), one accepted event per recipient, the daily
// rollups and the monthly usage. It returns one error per envelope (nil for stored); a
// database failure fails them all and rolls everything back. Message.ID and every
// Recipient.ID are set. The messages, the recipients and the events are each written with
// multi-row inserts (rows.go): a few statements per batch, whatever its size.
func (db *DB) Enqueue(ctx context.Context, envs []*Envelope) ([]error, error) {
	errs := make([]error, len(envs))
	err := db.Tx(ctx, func(tx *sqlxTx) error {
		clear(errs)
		acc := rollups{}
		usage := map[int64]int64{} // user -> sent this month, read once per batch
		var take []*Envelope
		for i, env := range envs {
			if err := countUsage(ctx, tx, env, acc, usage); err != nil {
				if errors.Is(err, ErrLimit) {
					errs[i] = err
					continue
				}
				return err
			}
			take = append(take, env)
		}
		if err := insertEnvelopes(ctx, tx, db.ids, take, acc); err != nil {
			return err
		}
		return acc.apply(ctx, tx)
	})
	return errs, err
}

func monthOf(t time.Time) int { return t.UTC().Year()*100 + int(t.UTC().Month()) }

// DayOf is the rollup key of a unix time: YYYYMMDD in UTC.
func DayOf(unix int64) int {
	t := time.Unix(unix, 0).UTC()
	return t.Year()*10000 + int(t.Month())*100 + t.Day()
}

// countUsage checks env's monthly limit (ErrLimit when its recipients would pass it) and
// counts its recipients in this month's usage.
func countUsage(ctx context.Context, tx *sqlxTx, env *Envelope, acc rollups, usage map[int64]int64) error {
	m := env.Message
	n := int64(len(env.Recipients))
	key := rollupKey{table: "user_usage", id: m.UserID, period: monthOf(time.Now()), col: "sent"}
	if env.MonthlyLimit > 0 {
		sent, ok := usage[m.UserID]
		if !ok {
			err := tx.GetContext(ctx, &sent, "SELECT COALESCE(SUM(sent), 0) FROM user_usage WHERE user_id = ? AND month = ?", m.UserID, key.period)
			if err != nil {
				return err
			}
			usage[m.UserID] = sent
		}
		// Envelopes earlier in this batch count too: their usage is applied at commit.
		if sent+acc[key]+n > env.MonthlyLimit {
			return ErrLimit
		}
	}
	if n > 0 {
		acc[key] += n
	}
	return nil
}

var (
	// The columns an insert writes: every column but the id.
	messageInsertCols   = splitCols(messageCols)[1:]
	recipientInsertCols = splitCols(recipientCols)[1:]
	eventInsertCols     = []string{"domain_id", "user_id", "message_id", "recipient_id", "type", "email", "code", "details", "url",
		"user_agent", "ip", "bot", "created_at"}
)

// insertEnvelopes writes the message rows of envs, their recipient rows and their accepted
// events, and sets the ids.
func insertEnvelopes(ctx context.Context, tx *sqlxTx, ids idMode, envs []*Envelope, acc rollups) error {
	if len(envs) == 0 {
		return nil
	}
	ts := now()
	rows := make([][]any, len(envs))
	for i, env := range envs {
		m := env.Message
		m.CreatedAt = ts
		rows[i] = []any{m.UUID, m.DomainID, m.UserID, m.APIKeyID, m.Source, m.MailFrom, m.Subject, m.Tags,
			m.HeaderMessageID, m.Raw, m.TrackLinks, m.TrackOpens, m.Links, m.CallbackURL, m.UserRef, m.RequestID, m.SendAt,
			m.CreatedAt, m.ListID, m.SubscriberID, m.JourneyID, m.ActionID, m.Placeholders}
	}
	msgIDs, err := insertRows(ctx, tx, ids, "messages", messageInsertCols, rows)
	if err != nil {
		return err
	}
	rows = rows[:0]
	var rcpts []*Recipient
	var evTags [][]string
	for i, env := range envs {
		m := env.Message
		m.ID = msgIDs[i]
		state, due := StateQueued, ts
		if m.SendAt > ts {
			state, due = StateScheduled, m.SendAt
		}
		tags := m.TagList()
		for _, r := range env.Recipients {
			r.MessageID, r.DomainID, r.UserID = m.ID, m.DomainID, m.UserID
			r.State, r.NextAttemptAt, r.CreatedAt, r.UpdatedAt = state, due, ts, ts
			r.Attempts, r.LeaseOwner, r.LeaseExpiresAt, r.LastCode, r.LastReply = 0, "", 0, 0, ""
			if r.Kind == "" {
				r.Kind = "to"
			}
			rows = append(rows, []any{r.MessageID, r.DomainID, r.UserID, r.Email, r.Kind, r.State, r.Attempts,
				r.NextAttemptAt, r.LeaseOwner, r.LeaseExpiresAt, r.LastCode, r.LastReply, r.CreatedAt, r.UpdatedAt})
			rcpts = append(rcpts, r)
			evTags = append(evTags, tags)
		}
	}
	rcptIDs, err := insertRows(ctx, tx, ids, "recipients", recipientInsertCols, rows)
	if err != nil {
		return err
	}
	evs := make([]*Event, len(rcpts))
	msgOf := map[int64]*Message{}
	for _, env := range envs {
		msgOf[env.Message.ID] = env.Message
	}
	for i, r := range rcpts {
		r.ID = rcptIDs[i]
		evs[i] = &Event{DomainID: r.DomainID, UserID: r.UserID, MessageID: r.MessageID, RecipientID: r.ID, Type: EventAccepted,
			Email: r.Email, CreatedAt: ts, message: msgOf[r.MessageID]}
	}
	return insertEvents(ctx, tx, ids, evs, evTags, acc)
}

// InsertEvent writes ev inside tx and counts it in the daily rollups (for the domain and for
// each of the message's tags) unless it is flagged as a bot. Every event goes through here or
// insertEvents, so rollups and anything hooked to events (webhook outbox) stay in the same
// transaction.
func InsertEvent(ctx context.Context, tx *sqlxTx, ev *Event, tags []string) error {
	acc := rollups{}
	if err := insertEvents(ctx, tx, idMode{}, []*Event{ev}, [][]string{tags}, acc); err != nil {
		return err
	}
	return acc.apply(ctx, tx)
}

// insertEvents writes evs (tags[i] are the tags of evs[i]'s message) with multi-row inserts,
// sets their ids, adds their rollup counts to acc and runs the event hooks on those that
// count.
func insertEvents(ctx context.Context, tx *sqlxTx, ids idMode, evs []*Event, tags [][]string, acc rollups) error {
	if len(evs) == 0 {
		return nil
	}
	rows := make([][]any, len(evs))
	for i, ev := range evs {
		if ev.CreatedAt == 0 {
			ev.CreatedAt = now()
		}
		rows[i] = []any{ev.DomainID, ev.UserID, ev.MessageID, ev.RecipientID, ev.Type, ev.Email, ev.Code, ev.Details, ev.URL,
			ev.UserAgent, ev.IP, ev.Bot, ev.CreatedAt}
	}
	evIDs, err := insertRows(ctx, tx, ids, "events", eventInsertCols, rows)
	if err != nil {
		return err
	}
	counted := make([]*Event, 0, len(evs))
	for i, ev := range evs {
		ev.ID = evIDs[i]
		if eventColumn[ev.Type] == "" || ev.Bot {
			continue
		}
		countEvent(acc, ev.Type, ev.DomainID, ev.CreatedAt, tags[i])
		counted = append(counted, ev)
	}
	if len(counted) == 0 {
		return nil
	}
	for _, hook := range eventHooks {
		if err := hook(ctx, tx, counted); err != nil {
			return err
		}
	}
	return nil
}

// eventColumn is the rollup column an event type counts in ("" for none).
var eventColumn = map[string]string{
	EventAccepted: "sent", EventDelivered: "delivered", EventDeferred: "deferred", EventBounced: "bounced",
	EventFailed: "failed", EventOpened: "opened", EventClicked: "clicked", EventUnsubscribed: "unsubscribed",
	EventComplained: "complained",
}

// countEvent adds an event of type typ (one that counts: eventColumn) to the daily rollups
// of its domain and of each tag.
func countEvent(acc rollups, typ string, domainID, createdAt int64, tags []string) {
	col, day := eventColumn[typ], DayOf(createdAt)
	for _, tag := range append([]string{""}, tags...) {
		if len(tag) > 191 {
			tag = tag[:191]
		}
		acc[rollupKey{table: "stats_daily", id: domainID, period: day, tag: tag, col: col}]++
	}
}

// eventHooks run inside the transaction of every event insert, on the events of one insert
// that count (not bots, not types without a rollup column) with their ids set (the webhook
// outbox and list feedback add theirs from their own files).
var eventHooks []func(ctx context.Context, tx *sqlxTx, evs []*Event) error

// rollupKey names one counter: a stats_daily cell (domain, day, tag, column) or a
// user_usage cell (user, month).
type rollupKey struct {
	table  string
	id     int64
	period int
	tag    string
	col    string
}

// rollups accumulates counter increments within a transaction so each cell is written once,
// and always in the same order, whatever the batch: concurrent batches then wait on each
// other's row locks instead of deadlocking.
//
// Each counter is kept in counterShards rows (the shard column, migration 0055) and read as
// their sum. A transaction adds to one shard, the same for all its counters (so two
// transactions still take their rows in one order), picked from the transaction's identity:
// concurrent writers of one counter mostly touch different rows, so on Galera nodes rarely
// fail certification on each other's rollups and on one server rarely queue on one row lock.
type rollups map[rollupKey]int64

// counterShards is how many rows each rollup counter is spread over.
const counterShards = 16

var shardSeed = maphash.MakeSeed()

// shardOf is the counter shard tx writes to.
func shardOf(tx *sqlxTx) int {
	return int(maphash.Comparable(shardSeed, tx) % counterShards)
}

func (r rollups) apply(ctx context.Context, tx *sqlxTx) error {
	keys := make([]rollupKey, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		switch {
		case a.table != b.table:
			return a.table < b.table
		case a.id != b.id:
			return a.id < b.id
		case a.period != b.period:
			return a.period < b.period
		case a.tag != b.tag:
			return a.tag < b.tag
		}
		return a.col < b.col
	})
	shard := shardOf(tx)
	for _, k := range keys {
		var err error
		if k.table == "user_usage" {
			err = upsertAdd(ctx, tx, k.table, []string{"user_id", "month", "shard"}, []any{k.id, k.period, shard}, k.col, r[k])
		} else {
			err = upsertAdd(ctx, tx, k.table, []string{"domain_id", "day", "tag", "shard"}, []any{k.id, k.period, k.tag, shard}, k.col, r[k])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// upsertAdd adds n to column col of the row keyed by keys, creating it at n.
func upsertAdd(ctx context.Context, tx *sqlxTx, table string, keys []string, vals []any, col string, n int64) error {
	ph := strings.TrimSuffix(strings.Repeat("?, ", len(keys)+1), ", ")
	cols := strings.Join(keys, ", ") + ", " + col
	var q string
	if tx.DriverName() == "mysql" {
		q = fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON DUPLICATE KEY UPDATE %s = %s + VALUES(%s)", table, cols, ph, col, col, col)
	} else {
		q = fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO UPDATE SET %s = %s + excluded.%s",
			table, cols, ph, strings.Join(keys, ", "), col, col, col)
	}
	_, err := tx.ExecContext(ctx, q, append(vals, n)...)
	return err
}

const messageCols = `id, uuid, domain_id, user_id, api_key_id, source, mail_from, subject, tags, header_message_id, raw,
	track_links, track_opens, links, callback_url, userref, request_id, send_at, created_at, list_id, subscriber_id,
	journey_id, action_id, placeholders`

const recipientCols = `id, message_id, domain_id, user_id, email, kind, state, attempts, next_attempt_at, lease_owner,
	lease_expires_at, last_code, last_reply, created_at, updated_at`

// MessageByUUID returns a message by its API MessageID; ownerID > 0 restricts it to a user.
func (db *DB) MessageByUUID(ctx context.Context, uuid string, ownerID int64) (*Message, error) {
	var m Message
	q := "SELECT " + messageCols + " FROM messages WHERE uuid = ?"
	args := []any{uuid}
	if ownerID > 0 {
		q += " AND user_id = ?"
		args = append(args, ownerID)
	}
	err := db.r.GetContext(ctx, &m, q, args...)
	return &m, notFound(err)
}

// MessageByID returns a message.
func (db *DB) MessageByID(ctx context.Context, id int64) (*Message, error) {
	var m Message
	err := db.r.GetContext(ctx, &m, "SELECT "+messageCols+" FROM messages WHERE id = ?", id)
	return &m, notFound(err)
}

// MessageForDelivery returns a message and its sender domain in one statement (what delivery
// reads for each message it sends). ErrNotFound: the message is gone, or its domain.
func (db *DB) MessageForDelivery(ctx context.Context, id int64) (*Message, *SenderDomain, error) {
	var row struct {
		Message
		Domain SenderDomain `db:"dom"`
	}
	err := db.r.GetContext(ctx, &row, "SELECT "+messageDomainCols+" FROM messages m JOIN sender_domains d ON d.id = m.domain_id WHERE m.id = ?", id)
	if err != nil {
		return nil, nil, notFound(err)
	}
	return &row.Message, &row.Domain, nil
}

// messageDomainCols are the message columns (m) and the domain's (d, named dom.<column>).
var messageDomainCols = func() string {
	var cols []string
	for _, c := range splitCols(messageCols) {
		cols = append(cols, "m."+c)
	}
	for _, c := range splitCols(domainCols) {
		cols = append(cols, "d."+c+" AS `dom."+c+"`")
	}
	return strings.Join(cols, ", ")
}()

// RequestMessages lists the messages of the GatewayAPI request whose id is requestID (its
// first message's id), in the order of the request's recipients.
func (db *DB) RequestMessages(ctx context.Context, requestID int64) ([]Message, error) {
	var ms []Message
	err := db.r.SelectContext(ctx, &ms, "SELECT "+messageCols+" FROM messages WHERE id = ? OR request_id = ? ORDER BY id",
		requestID, requestID)
	return ms, err
}

// RecipientsOf lists a message's recipients in insertion order.
func (db *DB) RecipientsOf(ctx context.Context, messageID int64) ([]Recipient, error) {
	var rs []Recipient
	err := db.r.SelectContext(ctx, &rs, "SELECT "+recipientCols+" FROM recipients WHERE message_id = ? ORDER BY id", messageID)
	return rs, err
}

// RecipientByID returns one recipient row.
func (db *DB) RecipientByID(ctx context.Context, id int64) (*Recipient, error) {
	var r Recipient
	err := db.r.GetContext(ctx, &r, "SELECT "+recipientCols+" FROM recipients WHERE id = ?", id)
	return &r, notFound(err)
}

// MonthlyUsage is how many recipients the user has had accepted this month.
func (db *DB) MonthlyUsage(ctx context.Context, userID int64) (int64, error) {
	var n int64
	err := db.r.GetContext(ctx, &n, "SELECT COALESCE(SUM(sent), 0) FROM user_usage WHERE user_id = ? AND month = ?", userID, monthOf(time.Now()))
	return n, err
}
