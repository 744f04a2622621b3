package storage

// Audience storage, part 4: the per-list analytics of lists.md (activity series, bounce
// trend, engagement tiers, send-time heatmap, ESP and source breakdowns) and the
// account-wide reads of lists.overview. Every query aggregates in the database and returns
// a bounded number of rows (days, hours, domains up to a limit), whatever the list's size;
// times are unix seconds and bucketing by day or hour is `t - t % 86400` / `t - t % 3600`,
// which both dialects compute alike.

import "context"

// DayActivity is what happened to a list on one UTC day: subscriptions (not imported),
// imports, unsubscriptions, and of the mail sent to the list: recipients accepted, soft
// bounces (a 4xx code), hard bounces (5xx or no code) and complaints.
type DayActivity struct {
	Subscriptions, Imports, Unsubscriptions int64
	Sent, SoftBounces, HardBounces          int64
	Complaints                              int64
}

// ListDailyActivity returns a list's DayActivity by day (the day's first second, UTC) since
// from; days without activity are absent.
func (db *DB) ListDailyActivity(ctx context.Context, userID, listID, from int64) (map[int64]*DayActivity, error) {
	out := map[int64]*DayActivity{}
	day := func(d int64) *DayActivity {
		if out[d] == nil {
			out[d] = &DayActivity{}
		}
		return out[d]
	}
	var rows []struct {
		Day int64 `db:"day"`
		N   int64 `db:"n"`
	}
	for _, q := range []struct {
		sql string
		set func(*DayActivity, int64)
	}{
		{`SELECT subscription_date - subscription_date % 86400 AS day, COUNT(*) AS n FROM subscribers
			WHERE list_id = ? AND subscription_date >= ? AND source <> 'CSVImport' GROUP BY subscription_date - subscription_date % 86400`,
			func(a *DayActivity, n int64) { a.Subscriptions = n }},
		{`SELECT created_at - created_at % 86400 AS day, COUNT(*) AS n FROM subscribers
			WHERE list_id = ? AND created_at >= ? AND source = 'CSVImport' GROUP BY created_at - created_at % 86400`,
			func(a *DayActivity, n int64) { a.Imports = n }},
		{`SELECT unsubscription_date - unsubscription_date % 86400 AS day, COUNT(*) AS n FROM subscribers
			WHERE list_id = ? AND unsubscription_date >= ? AND status = 'Unsubscribed' GROUP BY unsubscription_date - unsubscription_date % 86400`,
			func(a *DayActivity, n int64) { a.Unsubscriptions = n }},
	} {
		rows = rows[:0]
		if err := db.r.SelectContext(ctx, &rows, q.sql, listID, from); err != nil {
			return nil, err
		}
		for _, r := range rows {
			q.set(day(r.Day), r.N)
		}
	}
	var ev []struct {
		Day        int64 `db:"day"`
		Sent       int64 `db:"sent"`
		Soft       int64 `db:"soft"`
		Hard       int64 `db:"hard"`
		Complaints int64 `db:"complaints"`
	}
	err := db.r.SelectContext(ctx, &ev, `SELECT e.created_at - e.created_at % 86400 AS day,
		SUM(CASE WHEN e.type = ? THEN 1 ELSE 0 END) AS sent,
		SUM(CASE WHEN e.type = ? AND e.code > 0 AND e.code < 500 THEN 1 ELSE 0 END) AS soft,
		SUM(CASE WHEN e.type = ? AND (e.code = 0 OR e.code >= 500) THEN 1 ELSE 0 END) AS hard,
		SUM(CASE WHEN e.type = ? THEN 1 ELSE 0 END) AS complaints
		FROM messages m JOIN events e ON e.message_id = m.id
		WHERE m.list_id = ? AND m.user_id = ? AND e.created_at >= ? AND e.type IN (?, ?, ?)
		GROUP BY e.created_at - e.created_at % 86400`,
		EventAccepted, EventBounced, EventBounced, EventComplained, listID, userID, from, EventAccepted, EventBounced, EventComplained)
	if err != nil {
		return nil, err
	}
	for _, r := range ev {
		a := day(r.Day)
		a.Sent, a.SoftBounces, a.HardBounces, a.Complaints = r.Sent, r.Soft, r.Hard, r.Complaints
	}
	return out, nil
}

// ListEventHours counts the non-bot events of one type (EventOpened, EventClicked) of the
// mail sent to a list since from, by hour (the hour's first second, UTC).
func (db *DB) ListEventHours(ctx context.Context, userID, listID int64, typ string, from int64) (map[int64]int64, error) {
	var rows []struct {
		Hour int64 `db:"hour"`
		N    int64 `db:"n"`
	}
	err := db.r.SelectContext(ctx, &rows, `SELECT e.created_at - e.created_at % 3600 AS hour, COUNT(*) AS n
		FROM messages m JOIN events e ON e.message_id = m.id
		WHERE m.list_id = ? AND m.user_id = ? AND e.type = ? AND e.bot = 0 AND e.created_at >= ?
		GROUP BY e.created_at - e.created_at % 3600`, listID, userID, typ, from)
	out := map[int64]int64{}
	for _, r := range rows {
		out[r.Hour] = r.N
	}
	return out, err
}

// TierCutoffs are the times (unix seconds) separating list.getengagementtiers' tiers:
// Champion >= Engaged >= Passive >= Lapsed, and Joined for NeverEngaged.
type TierCutoffs struct {
	Champion, Engaged, Passive, Lapsed, Joined int64
}

// EngagementTiers counts a list's deliverable subscribers (Subscribed, Not Bounced) by their
// last open and last click of the list's mail (bot events left out; a click counts as an
// open too): Champions (opened and clicked since Champion), Engaged (opened since Engaged,
// not a champion), Passive, Lapsed (last open since Passive / Lapsed), Dormant (older open),
// NeverEngaged (no open, subscribed before Joined). A time on a cutoff is in the newer tier.
func (db *DB) EngagementTiers(ctx context.Context, listID int64, c TierCutoffs) (map[string]int64, error) {
	var r struct {
		Champions, Engaged, Passive, Lapsed, Dormant, Never *int64
	}
	err := db.r.QueryRowContext(ctx, `SELECT
		SUM(CASE WHEN lo >= ? AND lc >= ? THEN 1 ELSE 0 END),
		SUM(CASE WHEN lo >= ? AND NOT (lo >= ? AND lc >= ?) THEN 1 ELSE 0 END),
		SUM(CASE WHEN lo >= ? AND lo < ? THEN 1 ELSE 0 END),
		SUM(CASE WHEN lo >= ? AND lo < ? THEN 1 ELSE 0 END),
		SUM(CASE WHEN lo > 0 AND lo < ? THEN 1 ELSE 0 END),
		SUM(CASE WHEN lo = 0 AND joined < ? THEN 1 ELSE 0 END)
		FROM (SELECT s.id, s.subscription_date AS joined,
			COALESCE(MAX(e.created_at), 0) AS lo,
			COALESCE(MAX(CASE WHEN e.type = ? THEN e.created_at END), 0) AS lc
			FROM subscribers s
			LEFT JOIN messages m ON m.list_id = s.list_id AND m.subscriber_id = s.id
			LEFT JOIN events e ON e.message_id = m.id AND e.type IN (?, ?) AND e.bot = 0
			WHERE s.list_id = ? AND s.status = 'Subscribed' AND s.bounce_type = 'Not Bounced'
			GROUP BY s.id, s.subscription_date) t`,
		c.Champion, c.Champion,
		c.Engaged, c.Champion, c.Champion,
		c.Passive, c.Engaged,
		c.Lapsed, c.Passive,
		c.Lapsed,
		c.Joined,
		EventClicked, EventOpened, EventClicked, listID,
	).Scan(&r.Champions, &r.Engaged, &r.Passive, &r.Lapsed, &r.Dormant, &r.Never)
	if err != nil {
		return nil, err
	}
	v := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	return map[string]int64{"Champions": v(r.Champions), "Engaged": v(r.Engaged), "Passive": v(r.Passive),
		"Lapsed": v(r.Lapsed), "Dormant": v(r.Dormant), "NeverEngaged": v(r.Never)}, nil
}

// Domain events of DomainCounts.
const (
	DomainSubscribers     = "subscribers"     // deliverable subscribers
	DomainOpens           = "opens"           // deliverable subscribers who opened list mail
	DomainClicks          = "clicks"          // deliverable subscribers who clicked list mail
	DomainUnsubscriptions = "unsubscriptions" // unsubscribed subscribers
)

// DomainCount is a number of subscribers at one email domain.
type DomainCount struct {
	Domain string `db:"domain"`
	N      int64  `db:"n"`
}

// DomainCounts counts a list's subscribers (each once) by the domain of their address, for
// one of the Domain* events: the top domains by count (ties by domain), at most top of
// them, and the total over every domain.
func (db *DB) DomainCounts(ctx context.Context, listID int64, event string, top int) ([]DomainCount, int64, error) {
	where := "s.list_id = ? AND s.status = 'Subscribed' AND s.bounce_type = 'Not Bounced'"
	args := []any{listID}
	switch event {
	case DomainOpens, DomainClicks:
		typ := EventOpened
		if event == DomainClicks {
			typ = EventClicked
		}
		where += ` AND EXISTS (SELECT 1 FROM messages m JOIN events e ON e.message_id = m.id
			WHERE m.list_id = s.list_id AND m.subscriber_id = s.id AND e.type = ? AND e.bot = 0)`
		args = append(args, typ)
	case DomainUnsubscriptions:
		where = "s.list_id = ? AND s.status = 'Unsubscribed'"
	}
	domain := "LOWER(SUBSTR(s.email, INSTR(s.email, '@') + 1))"
	var rows []DomainCount
	err := db.r.SelectContext(ctx, &rows, "SELECT "+domain+" AS domain, COUNT(*) AS n FROM subscribers s WHERE "+where+
		" GROUP BY "+domain+" ORDER BY COUNT(*) DESC, "+domain+" ASC LIMIT ?", append(args, top)...)
	if err != nil {
		return nil, 0, err
	}
	var total int64
	err = db.r.GetContext(ctx, &total, "SELECT COUNT(*) FROM subscribers s WHERE "+where, args...)
	return rows, total, err
}

// SourceCounts counts a list's subscribers (every status) by SubscriptionSource.
func (db *DB) SourceCounts(ctx context.Context, listID int64) (map[string]int64, error) {
	var rows []struct {
		Source string `db:"source"`
		N      int64  `db:"n"`
	}
	err := db.r.SelectContext(ctx, &rows, "SELECT source, COUNT(*) AS n FROM subscribers WHERE list_id = ? GROUP BY source", listID)
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Source] += r.N
	}
	return out, err
}

// SourceDay is a number of subscribers of one source subscribed on one day.
type SourceDay struct {
	Day    int64  `db:"day"`
	Source string `db:"source"`
	N      int64  `db:"n"`
}

// SourceDays counts a list's subscribers subscribed since from by day and source.
func (db *DB) SourceDays(ctx context.Context, listID, from int64) ([]SourceDay, error) {
	var rows []SourceDay
	err := db.r.SelectContext(ctx, &rows, `SELECT subscription_date - subscription_date % 86400 AS day, source, COUNT(*) AS n
		FROM subscribers WHERE list_id = ? AND subscription_date >= ?
		GROUP BY subscription_date - subscription_date % 86400, source`, listID, from)
	return rows, err
}

// SourceRefCount is a number of subscribers with one SubscriptionSourceRef.
type SourceRefCount struct {
	Ref string `db:"ref"`
	N   int64  `db:"n"`
}

// TopSourceRefs returns the most frequent source refs of a list's subscribers of one source
// (by count, ties by ref), at most limit.
func (db *DB) TopSourceRefs(ctx context.Context, listID int64, source string, limit int) ([]SourceRefCount, error) {
	rows := []SourceRefCount{}
	err := db.r.SelectContext(ctx, &rows, `SELECT source_ref AS ref, COUNT(*) AS n FROM subscribers
		WHERE list_id = ? AND source = ? GROUP BY source_ref ORDER BY COUNT(*) DESC, source_ref ASC LIMIT ?`, listID, source, limit)
	return rows, err
}

// FieldsOfUser returns every custom field that applies to a user's lists: the user's own
// (list and global) and the platform's global fields, by id.
func (db *DB) FieldsOfUser(ctx context.Context, userID int64) ([]CustomField, error) {
	var out []CustomField
	err := db.r.SelectContext(ctx, &out, "SELECT "+fieldCols+" FROM custom_fields WHERE user_id = ? OR user_id = 0 ORDER BY id", userID)
	return out, err
}

// TagsOfUser returns the tags of a user's lists, by name (case-insensitively) then id,
// without subscriber counts.
func (db *DB) TagsOfUser(ctx context.Context, userID int64) ([]Tag, error) {
	var out []Tag
	err := db.r.SelectContext(ctx, &out, `SELECT id, user_id, list_id, name, description, created_at, 0 AS subscribers
		FROM subscriber_tags WHERE user_id = ? ORDER BY LOWER(name), id`, userID)
	return out, err
}
