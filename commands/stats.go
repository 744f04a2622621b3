package commands

import (
	"context"
	"sort"
	"strings"
	"time"

	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// Codes of the statistics commands beyond the documented ones (docs/events.md).
const (
	codeBadAggField = 7 // aggrevents: AggregatedField is not event, recipient_domain or tag
	codeBadAggSize  = 8 // aggrevents: AggregateSize outside 1..100
)

const (
	statsDefaultDays = 28
	maxSeriesDays    = 366
	defaultAggSize   = 10
	maxAggSize       = 100
)

func (a *App) registerStats(r *dispatcher.Registry) {
	dates := []dispatcher.Param{
		{Name: "StartDate", Type: dispatcher.String, Code: codeBadDate},
		{Name: "EndDate", Type: dispatcher.String, Code: codeBadDate},
	}
	withDomain := func(extra ...dispatcher.Param) []dispatcher.Param {
		ps := []dispatcher.Param{{Name: "DomainID", Type: dispatcher.Int, Required: true, Code: 1}}
		ps = append(ps, dates...)
		return append(ps, extra...)
	}
	r.Register(&dispatcher.Command{
		Name: "emailgateway.domainstats", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params: withDomain(), Handler: a.domainStats,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.accountstats", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params: dates, Handler: a.accountStats,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.dailyseries", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params: append([]dispatcher.Param{{Name: "DomainID", Type: dispatcher.Int, Code: 2, Message: "Domain not found or access denied"}},
			append(dates, dispatcher.Param{Name: "Tag", Type: dispatcher.String, Code: 9})...),
		Handler: a.dailySeries,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.aggrevents", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params: withDomain(
			dispatcher.Param{Name: "AggregatedField", Type: dispatcher.String, Code: codeBadAggField},
			dispatcher.Param{Name: "AggregateSize", Type: dispatcher.Int, Code: codeBadAggSize},
			dispatcher.Param{Name: "Event", Type: dispatcher.String, Code: codeBadEvent},
		),
		Handler: a.aggrEvents,
	})
}

// statsView renders rollup counts: the documented Sent, Delivered, Bounced, Opened and
// Clicked, then the other event types.
type statsView struct {
	Sent         int64 `json:"Sent"`
	Delivered    int64 `json:"Delivered"`
	Bounced      int64 `json:"Bounced"`
	Opened       int64 `json:"Opened"`
	Clicked      int64 `json:"Clicked"`
	Deferred     int64 `json:"Deferred"`
	Failed       int64 `json:"Failed"`
	Unsubscribed int64 `json:"Unsubscribed"`
	Complained   int64 `json:"Complained"`
}

func viewOf(c storage.Counts) statsView {
	return statsView{Sent: c.Sent, Delivered: c.Delivered, Bounced: c.Bounced, Opened: c.Opened, Clicked: c.Clicked,
		Deferred: c.Deferred, Failed: c.Failed, Unsubscribed: c.Unsubscribed, Complained: c.Complained}
}

// statsPeriod reads StartDate/EndDate with the default of the 28 days ending today (UTC), and
// the previous period of the same length just before it.
func statsPeriod(p dispatcher.Params) (start, end, prevStart, prevEnd time.Time, err *dispatcher.Error) {
	today := timeNow().UTC().Truncate(24 * time.Hour)
	start, end, is := dateRange(p, time.Time{}, time.Time{})
	if is != nil {
		return start, end, prevStart, prevEnd, dispatcher.Invalid(*is)
	}
	switch {
	case start.IsZero() && end.IsZero():
		end = today
		start = end.AddDate(0, 0, -(statsDefaultDays - 1))
	case start.IsZero():
		start = end.AddDate(0, 0, -(statsDefaultDays - 1))
	case end.IsZero():
		end = today
		if end.Before(start) {
			end = start.AddDate(0, 0, statsDefaultDays-1)
		}
	}
	days := int(end.Sub(start).Hours()/24) + 1
	prevEnd = start.AddDate(0, 0, -1)
	prevStart = prevEnd.AddDate(0, 0, -(days - 1))
	return start, end, prevStart, prevEnd, nil
}

const ymd = "2006-01-02"

// periodStats is the body of domainstats and accountstats.
func (a *App) periodStats(ctx context.Context, p dispatcher.Params, domainIDs []int64) (map[string]any, error) {
	start, end, prevStart, prevEnd, bad := statsPeriod(p)
	if bad != nil {
		return nil, bad
	}
	cur, err := a.DB.StatsTotals(ctx, domainIDs, dayKey(start), dayKey(end), "")
	if err != nil {
		return nil, err
	}
	prev, err := a.DB.StatsTotals(ctx, domainIDs, dayKey(prevStart), dayKey(prevEnd), "")
	if err != nil {
		return nil, err
	}
	byTag, err := a.DB.StatsByTag(ctx, domainIDs, dayKey(start), dayKey(end))
	if err != nil {
		return nil, err
	}
	tags := make(map[string]statsView, len(byTag))
	for t, c := range byTag {
		tags[t] = viewOf(c)
	}
	return map[string]any{
		"StartDate": start.Format(ymd),
		"EndDate":   end.Format(ymd),
		"Stats":     viewOf(cur),
		"ComparisonStats": map[string]any{
			"PreviousPeriod":    viewOf(prev),
			"PreviousStartDate": prevStart.Format(ymd),
			"PreviousEndDate":   prevEnd.Format(ymd),
		},
		"TagStats": tags,
	}, nil
}

func (a *App) domainStats(ctx context.Context, req *dispatcher.Request) (any, error) {
	if _, _, _, _, bad := statsPeriod(req.Params); bad != nil {
		return nil, bad
	}
	d, err := a.ownDomain(ctx, req, req.Params.Int("DomainID"), 2)
	if err != nil {
		return nil, err
	}
	return a.periodStats(ctx, req.Params, []int64{d.ID})
}

// accountStats is domainstats over every domain of the user, with each domain's own Stats.
func (a *App) accountStats(ctx context.Context, req *dispatcher.Request) (any, error) {
	start, end, _, _, bad := statsPeriod(req.Params)
	if bad != nil {
		return nil, bad
	}
	ds, err := a.DB.DomainsByUser(ctx, req.Principal.UserID)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	out, err := a.periodStats(ctx, req.Params, ids)
	if err != nil {
		return nil, err
	}
	per := make([]map[string]any, 0, len(ds))
	for _, d := range ds {
		c, err := a.DB.StatsTotals(ctx, []int64{d.ID}, dayKey(start), dayKey(end), "")
		if err != nil {
			return nil, err
		}
		per = append(per, map[string]any{"DomainID": d.ID, "SenderDomain": d.Name, "Stats": viewOf(c)})
	}
	out["Domains"] = per
	return out, nil
}

// dailySeries answers the period's days that had activity, keyed by date (octeth-5.9.4:
// "days with no activity are omitted"), for one domain or, without DomainID, all the
// caller's domains.
func (a *App) dailySeries(ctx context.Context, req *dispatcher.Request) (any, error) {
	start, end, _, _, bad := statsPeriod(req.Params)
	if bad != nil {
		return nil, bad
	}
	if days := int(end.Sub(start).Hours()/24) + 1; days > maxSeriesDays {
		return nil, dispatcher.Invalid(dispatcher.Field("StartDate", codeBadDate, "The period is longer than 366 days"))
	}
	ids, err := a.scopeDomains(ctx, req, 2)
	if err != nil {
		return nil, err
	}
	tag := req.Params.String("Tag")
	byDay, err := a.DB.StatsByDay(ctx, ids, dayKey(start), dayKey(end), tag)
	if err != nil {
		return nil, err
	}
	series := map[string]statsView{}
	for t := start; !t.After(end); t = t.AddDate(0, 0, 1) {
		if c, ok := byDay[dayKey(t)]; ok && c.Total() > 0 {
			series[t.Format(ymd)] = viewOf(c)
		}
	}
	out := map[string]any{"StartDate": start.Format(ymd), "EndDate": end.Format(ymd), "Series": series}
	if tag != "" {
		out["Tag"] = tag
	}
	return out, nil
}

// aggregation fields of aggrevents, by every accepted spelling.
var aggFields = map[string]string{
	"event": "event", "events": "event", "type": "event", "event_type": "event", "eventtype": "event",
	"recipient_domain": "recipient_domain", "recipientdomain": "recipient_domain", "recipient-domain": "recipient_domain",
	"domain": "recipient_domain",
	"tag":    "tag", "tags": "tag",
}

// aggrEvents counts events into buckets by event type (the default), recipient domain or
// tag, largest first. Bots are not counted. Event restricts the recipient-domain and tag
// aggregations to some event types.
func (a *App) aggrEvents(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	var issues []dispatcher.Issue
	start, end, is := dateRange(p, time.Time{}, time.Time{})
	if is != nil {
		issues = append(issues, *is)
	}
	field := "event"
	if p.Has("AggregatedField") {
		f, ok := aggFields[strings.ToLower(strings.TrimSpace(p.String("AggregatedField")))]
		if !ok {
			issues = append(issues, dispatcher.Field("AggregatedField", codeBadAggField, "Invalid AggregatedField (event, recipient_domain or tag)"))
		}
		field = f
	}
	size := int64(defaultAggSize)
	if p.Has("AggregateSize") {
		if size = p.Int("AggregateSize"); size < 1 || size > maxAggSize {
			issues = append(issues, dispatcher.Field("AggregateSize", codeBadAggSize, "Invalid AggregateSize (1-100)"))
		}
	}
	var types []string
	if p.Has("Event") {
		var ok bool
		if types, ok = parseEvents(p.String("Event")); !ok {
			issues = append(issues, dispatcher.Field("Event", codeBadEvent, "Invalid event type"))
		}
	}
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	d, err := a.ownDomain(ctx, req, p.Int("DomainID"), 2)
	if err != nil {
		return nil, err
	}
	fromDay, toDay := 0, 99991231
	if !start.IsZero() {
		fromDay = dayKey(start)
	}
	if !end.IsZero() {
		toDay = dayKey(end)
	}
	wanted := func(c storage.Counts) int64 {
		if len(types) == 0 {
			return c.Total()
		}
		var n int64
		for _, t := range types {
			n += c.Of(t)
		}
		return n
	}
	buckets := []storage.Bucket{}
	switch field {
	case "event":
		c, err := a.DB.StatsTotals(ctx, []int64{d.ID}, fromDay, toDay, "")
		if err != nil {
			return nil, err
		}
		for _, t := range storage.EventTypes {
			if n := c.Of(t); n > 0 && (len(types) == 0 || containsType(types, t)) {
				buckets = append(buckets, storage.Bucket{Key: LegacyEventName(t), Count: n})
			}
		}
	case "tag":
		byTag, err := a.DB.StatsByTag(ctx, []int64{d.ID}, fromDay, toDay)
		if err != nil {
			return nil, err
		}
		for t, c := range byTag {
			if n := wanted(c); n > 0 {
				buckets = append(buckets, storage.Bucket{Key: t, Count: n})
			}
		}
	case "recipient_domain":
		f := storage.EventFilter{DomainIDs: []int64{d.ID}, Types: types}
		if !start.IsZero() {
			f.From = start.Unix()
		}
		if !end.IsZero() {
			f.To = end.Add(24*time.Hour).Unix() - 1
		}
		if buckets, err = a.DB.EventsByRecipientDomain(ctx, f, int(size)); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(buckets, func(i, j int) bool {
		if buckets[i].Count != buckets[j].Count {
			return buckets[i].Count > buckets[j].Count
		}
		return buckets[i].Key < buckets[j].Key
	})
	if len(buckets) > int(size) {
		buckets = buckets[:size]
	}
	return map[string]any{"AggregatedField": field, "AggBuckets": buckets}, nil
}

func containsType(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
