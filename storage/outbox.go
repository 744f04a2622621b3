package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Outbox kinds: a signed webhook of a domain, or a GatewayAPI status callback of a message.
const (
	OutboxWebhook  = "webhook"
	OutboxCallback = "callback"
)

// Outbox states.
const (
	OutboxPending   = "pending"
	OutboxDelivered = "delivered"
	OutboxFailed    = "failed"  // retries exhausted
	OutboxDropped   = "dropped" // the webhook was removed (deleted, or its receiver answered 410)
)

// OutboxRow is one webhook or callback delivery, with what the dispatcher needs to send it.
type OutboxRow struct {
	ID             int64  `db:"id"`
	Kind           string `db:"kind"`
	DomainID       int64  `db:"domain_id"`
	EventID        int64  `db:"event_id"`
	WebhookID      int64  `db:"webhook_id"`
	URL            string `db:"url"`
	Endpoint       string `db:"endpoint"` // scheme://host:port of URL: the unit of per-receiver concurrency
	Payload        string `db:"payload"`
	State          string `db:"state"`
	Attempts       int    `db:"attempts"`
	NextAttemptAt  int64  `db:"next_attempt_at"`
	LeaseOwner     string `db:"lease_owner"`
	LeaseExpiresAt int64  `db:"lease_expires_at"`
	LastStatus     int    `db:"last_status"`
	LastError      string `db:"last_error"`
	CreatedAt      int64  `db:"created_at"`
	UpdatedAt      int64  `db:"updated_at"`
	// Filled by ClaimOutbox: the domain's sealed whsec_ key, and whether the webhook still
	// exists (always true for callbacks).
	SigningKeyEnc string `db:"signing_key_enc"`
	Live          bool   `db:"live"`
}

const outboxCols = `o.id, o.kind, o.domain_id, o.event_id, o.webhook_id, o.url, o.endpoint, o.payload, o.state,
	o.attempts, o.next_attempt_at, o.lease_owner, o.lease_expires_at, o.last_status, o.last_error, o.created_at, o.updated_at`

func init() {
	eventHooks = append(eventHooks, outboxHook)
	domainChildren = append(domainChildren, "DELETE FROM outbox WHERE domain_id = ?")
}

// WebhookEvents are the event types a domain webhook can subscribe to.
var WebhookEvents = map[string]bool{
	EventDelivered: true, EventBounced: true, EventOpened: true, EventClicked: true,
	EventUnsubscribed: true, EventComplained: true,
}

// LegacyEventNames are the api.php names of event types that have one (delivered -> delivery).
var LegacyEventNames = map[string]string{
	EventDelivered: "delivery", EventBounced: "bounce", EventOpened: "open", EventClicked: "click",
	EventUnsubscribed: "unsubscribe", EventComplained: "complaint",
}

// LegacyEventName renders a canonical event type in the api.php vocabulary.
func LegacyEventName(t string) string {
	if l, ok := LegacyEventNames[t]; ok {
		return l
	}
	return t
}

// CallbackStatus is the GatewayAPI status of an event ("" when callbacks do not report it):
// accepted PROCESSED, delivered DELIVERED, deferred DEFERRED, bounced and failed BOUNCED, or
// BLOCKED when the reply carries a 5.7.x (policy) enhanced status code.
func CallbackStatus(ev *Event) string {
	switch ev.Type {
	case EventAccepted:
		return "PROCESSED"
	case EventDelivered:
		return "DELIVERED"
	case EventDeferred:
		return "DEFERRED"
	case EventBounced, EventFailed:
		if policyCode.MatchString(ev.Details) {
			return "BLOCKED"
		}
		return "BOUNCED"
	}
	return ""
}

var policyCode = regexp.MustCompile(`(^|[^0-9.])5\.7\.[0-9]{1,3}([^0-9]|$)`)

// SMTPReply renders an event's reply as the receiving server sent it: "250 2.0.0 Ok".
func SMTPReply(code int, details string) string {
	details = strings.TrimSpace(details)
	if code == 0 {
		return details
	}
	c := strconv.Itoa(code)
	if details == "" || strings.HasPrefix(details, c) {
		if details == "" {
			return c
		}
		return details
	}
	return c + " " + details
}

// outboxMessage is the part of a message the payloads carry.
type outboxMessage struct {
	ID          int64  `db:"id"`
	UUID        string `db:"uuid"`
	MailFrom    string `db:"mail_from"`
	Subject     string `db:"subject"`
	Tags        string `db:"tags"`
	CallbackURL string `db:"callback_url"`
	UserRef     string `db:"userref"`
	RequestID   int64  `db:"request_id"`
	JourneyID   int64  `db:"journey_id"`
	ActionID    int64  `db:"action_id"`
}

// callbackID is the id a GatewayAPI callback carries: the id its request answered, shared by
// every recipient's message of that request.
func (m *outboxMessage) callbackID() int64 {
	if m.RequestID > 0 {
		return m.RequestID
	}
	return m.ID
}

// WebhookPayload is the JSON body of a domain webhook delivery.
type WebhookPayload struct {
	Event       string `json:"event"`
	LegacyEvent string `json:"legacy_event"`
	EventID     int64  `json:"event_id"`
	Timestamp   int64  `json:"timestamp"`
	MessageID   string `json:"MessageID"`
	// JourneyID and ActionID are the send's own (octeth-5.9.4 sendemail), present when set.
	JourneyID int64          `json:"JourneyID,omitempty"`
	ActionID  int64          `json:"ActionID,omitempty"`
	Recipient string         `json:"recipient"`
	Message   PayloadMessage `json:"message"`
	Tags      []string       `json:"tags"`
	SMTPReply string         `json:"smtp_reply,omitempty"`
	URL       string         `json:"url,omitempty"`
	UserAgent string         `json:"user_agent,omitempty"`
	IP        string         `json:"ip,omitempty"`
	// Test marks a test event sent from the console (no message produced it).
	Test bool `json:"test,omitempty"`
}

// PayloadMessage carries the message headers, as getevents shows them.
type PayloadMessage struct {
	Headers PayloadHeaders `json:"headers"`
}

// PayloadHeaders are the From, To and Subject of a message for one recipient.
type PayloadHeaders struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Subject string `json:"subject"`
}

// CallbackPayload is the JSON body of a GatewayAPI status callback.
type CallbackPayload struct {
	ID           int64  `json:"id"`
	Time         int64  `json:"time"`
	EmailAddress string `json:"email_address"`
	Status       string `json:"status"`
	UserRef      string `json:"userref"`
	Details      string `json:"details"`
	CallbackURL  string `json:"callback_url"`
}

// jsonBytes encodes v without HTML escaping.
func jsonBytes(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// Endpoint is the scheme://host:port a URL connects to (the per-receiver concurrency key).
func Endpoint(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		if len(raw) > 255 {
			raw = raw[:255]
		}
		return raw
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if strings.EqualFold(u.Scheme, "https") {
			port = "443"
		}
	}
	e := strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Hostname()) + ":" + port
	if len(e) > 255 {
		e = e[:255]
	}
	return e
}

// outboxHook runs inside the transaction of every insert of (non-bot) events: for each, it
// writes one outbox row per webhook of the event's domain subscribed to its type, and one
// callback row when the message has a callback_url and the event has a GatewayAPI status.
// Whatever the number of events, the webhooks of their domains are read in one statement,
// the messages the writer did not have at hand in another, and the rows written in one
// multi-row insert.
func outboxHook(ctx context.Context, tx *sqlxTx, evs []*Event) error {
	type hookKey struct {
		domain int64
		event  string
	}
	var domains []int64
	for _, ev := range evs {
		if WebhookEvents[ev.Type] && !slices.Contains(domains, ev.DomainID) {
			domains = append(domains, ev.DomainID)
		}
	}
	hooks := map[hookKey][]webhookTarget{}
	if len(domains) > 0 {
		in, args := inList(domains)
		var all []webhookTarget
		if err := tx.SelectContext(ctx, &all, "SELECT domain_id, event, id, url FROM domain_webhooks WHERE domain_id IN ("+in+") ORDER BY id",
			args...); err != nil {
			return fmt.Errorf("outbox: webhooks: %w", err)
		}
		for _, h := range all {
			k := hookKey{h.DomainID, h.Event}
			hooks[k] = append(hooks[k], h)
		}
	}
	hooksOf := func(ev *Event) []webhookTarget {
		if !WebhookEvents[ev.Type] {
			return nil
		}
		return hooks[hookKey{ev.DomainID, ev.Type}]
	}
	msgs := map[int64]*outboxMessage{}
	var read []int64
	for _, ev := range evs {
		if len(hooksOf(ev)) == 0 && CallbackStatus(ev) == "" {
			continue
		}
		if msg := ev.message; msg != nil {
			msgs[msg.ID] = &outboxMessage{ID: msg.ID, UUID: msg.UUID, MailFrom: msg.MailFrom, Subject: msg.Subject, Tags: msg.Tags,
				CallbackURL: msg.CallbackURL, UserRef: msg.UserRef, RequestID: msg.RequestID, JourneyID: msg.JourneyID,
				ActionID: msg.ActionID}
		} else if ev.MessageID > 0 && !slices.Contains(read, ev.MessageID) {
			read = append(read, ev.MessageID)
		}
	}
	if len(read) > 0 {
		in, args := inList(read)
		var ms []outboxMessage
		if err := tx.SelectContext(ctx, &ms, `SELECT id, uuid, mail_from, subject, tags, callback_url, userref, request_id,
			journey_id, action_id FROM messages WHERE id IN (`+in+`)`, args...); err != nil {
			return fmt.Errorf("outbox: message: %w", err)
		}
		for i := range ms {
			msgs[ms[i].ID] = &ms[i]
		}
	}
	var rows []*OutboxRow
	for _, ev := range evs {
		m := msgs[ev.MessageID]
		if m == nil {
			m = &outboxMessage{} // an event of no message, or of one since removed
		}
		add, err := outboxRows(ev, hooksOf(ev), m)
		if err != nil {
			return err
		}
		rows = append(rows, add...)
	}
	return insertOutbox(ctx, tx, rows...)
}

// webhookTarget is a domain webhook an event is written to the outbox for.
type webhookTarget struct {
	DomainID int64  `db:"domain_id"`
	Event    string `db:"event"`
	ID       int64  `db:"id"`
	URL      string `db:"url"`
}

// outboxRows are the outbox rows of one event of message m: one for each of its webhooks,
// and its callback.
func outboxRows(ev *Event, hooks []webhookTarget, m *outboxMessage) ([]*OutboxRow, error) {
	var rows []*OutboxRow
	if len(hooks) > 0 {
		var tags []string
		if m.Tags != "" {
			json.Unmarshal([]byte(m.Tags), &tags)
		}
		if tags == nil {
			tags = []string{}
		}
		p := WebhookPayload{
			Event: ev.Type, LegacyEvent: LegacyEventName(ev.Type), EventID: ev.ID, Timestamp: ev.CreatedAt,
			MessageID: m.UUID, JourneyID: m.JourneyID, ActionID: m.ActionID, Recipient: ev.Email, Tags: tags,
			Message:   PayloadMessage{Headers: PayloadHeaders{From: m.MailFrom, To: ev.Email, Subject: m.Subject}},
			SMTPReply: SMTPReply(ev.Code, ev.Details), URL: ev.URL,
		}
		if ev.Type == EventOpened || ev.Type == EventClicked || ev.Type == EventUnsubscribed {
			p.UserAgent, p.IP = ev.UserAgent, ev.IP
		}
		body, err := jsonBytes(p)
		if err != nil {
			return nil, err
		}
		for _, h := range hooks {
			rows = append(rows, &OutboxRow{Kind: OutboxWebhook, DomainID: ev.DomainID, EventID: ev.ID, WebhookID: h.ID,
				URL: h.URL, Payload: string(body)})
		}
	}
	if status := CallbackStatus(ev); status != "" && m.CallbackURL != "" {
		details := ""
		if ev.Type != EventAccepted {
			details = SMTPReply(ev.Code, ev.Details)
		}
		body, err := jsonBytes(CallbackPayload{ID: m.callbackID(), Time: ev.CreatedAt, EmailAddress: ev.Email, Status: status,
			UserRef: m.UserRef, Details: details, CallbackURL: m.CallbackURL})
		if err != nil {
			return nil, err
		}
		rows = append(rows, &OutboxRow{Kind: OutboxCallback, DomainID: ev.DomainID, EventID: ev.ID, URL: m.CallbackURL,
			Payload: string(body)})
	}
	return rows, nil
}

var outboxInsertCols = []string{"kind", "domain_id", "event_id", "webhook_id", "url", "endpoint", "payload", "state",
	"attempts", "next_attempt_at", "lease_owner", "lease_expires_at", "last_status", "last_error", "created_at", "updated_at"}

// insertOutbox writes pending outbox rows, due now, with multi-row inserts (their ids are not
// needed).
func insertOutbox(ctx context.Context, tx *sqlxTx, add ...*OutboxRow) error {
	t := now()
	rows := make([][]any, len(add))
	for i, o := range add {
		o.Endpoint = Endpoint(o.URL)
		o.State, o.NextAttemptAt, o.CreatedAt, o.UpdatedAt = OutboxPending, t, t, t
		rows[i] = []any{o.Kind, o.DomainID, o.EventID, o.WebhookID, o.URL, o.Endpoint, o.Payload, o.State, 0, o.NextAttemptAt,
			"", 0, 0, "", o.CreatedAt, o.UpdatedAt}
	}
	if _, err := insertRows(ctx, tx, idMode{}, "outbox", outboxInsertCols, rows); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// OutboxDue reports whether any outbox row may be claimed now (a cheap read, so an idle
// dispatcher does not take the write lock to find nothing).
func (db *DB) OutboxDue(ctx context.Context, busy []string) (bool, error) {
	t := now()
	q, args := outboxDueWhere(t, busy)
	var ids []int64
	err := db.r.SelectContext(ctx, &ids, "SELECT o.id FROM outbox o WHERE "+q+" LIMIT 1", args...)
	return len(ids) > 0, err
}

func outboxDueWhere(t int64, busy []string) (string, []any) {
	q := "o.state = ? AND o.next_attempt_at <= ? AND o.lease_expires_at <= ?"
	args := []any{OutboxPending, t, t}
	if len(busy) > 0 {
		q += " AND o.endpoint NOT IN (" + strings.TrimSuffix(strings.Repeat("?,", len(busy)), ",") + ")"
		for _, b := range busy {
			args = append(args, b)
		}
	}
	return q, args
}

// ClaimOutbox leases up to n due rows to owner for lease, skipping rows whose endpoint is in
// busy. On MySQL concurrent claimers skip each other's locked rows (FOR UPDATE SKIP LOCKED);
// on SQLite the single writer serialises them. An expired lease (a crashed node) makes a row
// due again.
func (db *DB) ClaimOutbox(ctx context.Context, owner string, n int, lease time.Duration, busy []string) ([]OutboxRow, error) {
	if n <= 0 {
		return nil, nil
	}
	var rows []OutboxRow
	err := db.txRetry(ctx, func(tx *sqlxTx) error {
		rows = nil
		t := now()
		where, args := outboxDueWhere(t, busy)
		q := "SELECT o.id FROM outbox o WHERE " + where + " ORDER BY o.next_attempt_at, o.id LIMIT " + strconv.Itoa(n)
		if db.Dialect == MySQL {
			q += " FOR UPDATE SKIP LOCKED"
		}
		var ids []int64
		if err := tx.SelectContext(ctx, &ids, q, args...); err != nil {
			return fmt.Errorf("outbox: claim: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		in, idArgs := inList(ids)
		until := t + int64((lease+time.Second-1)/time.Second)
		// Only rows still due and unleased are taken, and those read back by owner and expiry:
		// on a Galera cluster the locks above are local to one node, and two nodes leasing the
		// same row collide at commit (certification), where the second runs again.
		if _, err := tx.ExecContext(ctx, "UPDATE outbox SET lease_owner = ?, lease_expires_at = ? WHERE id IN ("+in+
			") AND state = ? AND lease_expires_at <= ?", append(append([]any{owner, until}, idArgs...), OutboxPending, t)...); err != nil {
			return fmt.Errorf("outbox: lease: %w", err)
		}
		return tx.SelectContext(ctx, &rows, "SELECT "+outboxCols+`, COALESCE(d.signing_key_enc, '') AS signing_key_enc,
			CASE WHEN o.webhook_id = 0 THEN 1 WHEN w.id IS NULL THEN 0 ELSE 1 END AS live
			FROM outbox o LEFT JOIN sender_domains d ON d.id = o.domain_id LEFT JOIN domain_webhooks w ON w.id = o.webhook_id
			WHERE o.id IN (`+in+") AND o.lease_owner = ? AND o.lease_expires_at = ? ORDER BY o.next_attempt_at, o.id",
			append(idArgs, owner, until)...)
	})
	return rows, err
}

func inList(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return strings.TrimSuffix(strings.Repeat("?,", len(ids)), ","), args
}

// OutboxResult is the outcome of one delivery attempt of row ID.
type OutboxResult struct {
	ID     int64
	State  string // OutboxDelivered, OutboxPending (retry at Next), OutboxFailed, OutboxDropped
	Status int    // HTTP status, 0 when no answer
	Error  string // what went wrong, for operators
	Next   time.Time
}

// FinishOutbox records attempts of rows leased by owner, in one transaction: the attempt
// count, the answer and the new state; the leases are released. A row whose lease owner
// changed (the lease expired and another node took it) is left alone; when that happens to
// every row, ErrNotFound is returned.
func (db *DB) FinishOutbox(ctx context.Context, owner string, rs ...OutboxResult) error {
	if len(rs) == 0 {
		return nil
	}
	var n int64
	err := db.txRetry(ctx, func(tx *sqlxTx) error {
		n = 0
		t := now()
		// The common case, delivered on the first answer with one status, in one statement
		// per status.
		delivered := map[int][]int64{}
		var rest []OutboxResult
		for _, r := range rs {
			if r.State == OutboxDelivered && r.Error == "" {
				delivered[r.Status] = append(delivered[r.Status], r.ID)
			} else {
				rest = append(rest, r)
			}
		}
		for status, ids := range delivered {
			in, args := inList(ids)
			res, err := tx.ExecContext(ctx, `UPDATE outbox SET state = ?, attempts = attempts + 1, next_attempt_at = 0,
				lease_owner = '', lease_expires_at = 0, last_status = ?, last_error = '', updated_at = ?
				WHERE lease_owner = ? AND id IN (`+in+")", append([]any{OutboxDelivered, status, t, owner}, args...)...)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += k
		}
		for _, r := range rest {
			next := int64(0)
			if r.State == OutboxPending {
				next = r.Next.Unix()
				if r.Next.After(time.Unix(next, 0)) {
					next++
				}
			}
			res, err := tx.ExecContext(ctx, `UPDATE outbox SET state = ?, attempts = attempts + 1, next_attempt_at = ?,
				lease_owner = '', lease_expires_at = 0, last_status = ?, last_error = ?, updated_at = ?
				WHERE id = ? AND lease_owner = ?`, r.State, next, r.Status, clipError(r.Error), t, r.ID, owner)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += k
		}
		return nil
	})
	if err == nil && n == 0 {
		return ErrNotFound
	}
	return err
}

// ReleaseOutbox gives leased rows back untried (shutdown, or a receiver already at its limit).
func (db *DB) ReleaseOutbox(ctx context.Context, owner string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	in, args := inList(ids)
	_, err := db.execRetry(ctx, "UPDATE outbox SET lease_owner = '', lease_expires_at = 0 WHERE lease_owner = ? AND id IN ("+in+")",
		append([]any{owner}, args...)...)
	return err
}

// DropWebhook removes a webhook whose receiver answered 410 Gone, and drops its undelivered
// rows, in one transaction.
func (db *DB) DropWebhook(ctx context.Context, webhookID int64, status int, reason string) error {
	return db.txRetry(ctx, func(tx *sqlxTx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET state = ?, lease_owner = '', lease_expires_at = 0, last_status = ?,
			last_error = ?, updated_at = ? WHERE webhook_id = ? AND state = ?`,
			OutboxDropped, status, clipError(reason), now(), webhookID, OutboxPending); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM domain_webhooks WHERE id = ?", webhookID)
		return err
	})
}

// PruneOutbox deletes finished rows (delivered, failed, dropped) last touched before cutoff.
func (db *DB) PruneOutbox(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, "DELETE FROM outbox WHERE state IN (?, ?, ?) AND updated_at < ?",
		OutboxDelivered, OutboxFailed, OutboxDropped, before.Unix())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// OutboxBacklog counts undelivered rows (the webhook backlog metric).
func (db *DB) OutboxBacklog(ctx context.Context) (int64, error) {
	var n int64
	err := db.r.GetContext(ctx, &n, "SELECT COUNT(*) FROM outbox WHERE state = ?", OutboxPending)
	return n, err
}

// OutboxByEvent lists the outbox rows of an event (tests and operators).
func (db *DB) OutboxByEvent(ctx context.Context, eventID int64) ([]OutboxRow, error) {
	var rows []OutboxRow
	err := db.r.SelectContext(ctx, &rows, "SELECT "+outboxCols+", '' AS signing_key_enc, 1 AS live FROM outbox o WHERE o.event_id = ? ORDER BY o.id", eventID)
	return rows, err
}

// OutboxByDomain lists a domain's outbox rows, newest first (tests and operators).
func (db *DB) OutboxByDomain(ctx context.Context, domainID int64, limit int) ([]OutboxRow, error) {
	var rows []OutboxRow
	err := db.r.SelectContext(ctx, &rows, "SELECT "+outboxCols+", '' AS signing_key_enc, 1 AS live FROM outbox o WHERE o.domain_id = ? ORDER BY o.id DESC LIMIT "+
		strconv.Itoa(limit), domainID)
	return rows, err
}

func clipError(s string) string {
	const max = 500
	if len(s) <= max {
		return s
	}
	s = s[:max]
	// Do not cut a UTF-8 sequence in half.
	for i := 0; i < 3 && len(s) > 0 && s[len(s)-1]&0xC0 == 0x80; i++ {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] >= 0xC0 {
		s = s[:len(s)-1]
	}
	return s
}
