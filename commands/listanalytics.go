package commands

import (
	"context"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// List analytics (octeth-5.9.4/lists.md): list.getactivityseries, list.getbouncetrend,
// list.getengagementtiers, list.getsendtimeheatmap, list.getespbreakdown,
// list.getsourcebreakdown, list.getctrretentionmatrix, and the account reads lists.overview
// and list.assets. Figures come from the list's subscriber rows and the events of the mail
// sent to it (messages.list_id); they are computed live (AsOf is now). docs/audience.md says
// what each counts.

func (a *App) registerListAnalytics(r *dispatcher.Registry) {
	for name, h := range map[string]dispatcher.Handler{
		"list.getactivityseries":     a.listActivitySeries,
		"list.getbouncetrend":        a.listBounceTrend,
		"list.getengagementtiers":    a.listEngagementTiers,
		"list.getsendtimeheatmap":    a.listHeatmap,
		"list.getespbreakdown":       a.listESPBreakdown,
		"list.getsourcebreakdown":    a.listSourceBreakdown,
		"list.getctrretentionmatrix": a.listCTRRetention,
		"list.assets":                a.listAssets,
	} {
		r.Register(&dispatcher.Command{Name: name, Auth: dispatcher.AuthUser, Permission: "List.Get", Handler: h})
	}
	r.Register(&dispatcher.Command{Name: "lists.overview", Auth: dispatcher.AuthUser, Permission: "Lists.Get", Handler: a.listsOverview})
}

const oneDay = 24 * time.Hour

// asOf renders a report's computation time as the documents show it.
func asOf(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05+00:00") }

// today is the first second of the current UTC day.
func today() time.Time { return timeNow().UTC().Truncate(oneDay) }

// inRangeOr reads an integer parameter: def when absent, not a number or outside [min, max].
func inRangeOr(p dispatcher.Params, name string, def, min, max int64) int64 {
	n, ok := p.IntOK(name)
	if !ok || n < min || n > max {
		return def
	}
	return n
}

// requiredReportList is reportList for the reports whose documents give ListID its own
// "missing" code: [1] when absent, then 99997.
func (a *App) requiredReportList(ctx context.Context, req *dispatcher.Request) (*storage.List, error) {
	if !req.Params.Has("ListID") {
		return nil, listIssue(dispatcher.KindInvalid, 1, "ListID is missing")
	}
	return a.reportList(ctx, req)
}

// pct is num*100/den rounded to 2 places, or nil when den is 0.
func pct(num, den int64) any {
	if den == 0 {
		return nil
	}
	return math.Round(float64(num)*100/float64(den)*100) / 100
}

func (a *App) listActivitySeries(ctx context.Context, req *dispatcher.Request) (any, error) {
	l, err := a.reportList(ctx, req)
	if err != nil {
		return nil, err
	}
	days := clampDays(req.Params, "Days", 30, 365)
	first := today().Add(-time.Duration(days-1) * oneDay)
	act, err := a.DB.ListDailyActivity(ctx, l.UserID, l.ID, first.Unix())
	if err != nil {
		return nil, err
	}
	series := make([]map[string]any, 0, days)
	for d := first; len(series) < int(days); d = d.Add(oneDay) {
		x := act[d.Unix()]
		if x == nil {
			x = &storage.DayActivity{}
		}
		series = append(series, map[string]any{
			"Date": d.Format(time.DateOnly), "Subscriptions": x.Subscriptions, "Unsubscriptions": x.Unsubscriptions,
			"Imports": x.Imports, "SoftBounces": x.SoftBounces, "HardBounces": x.HardBounces,
			"NetGrowth": x.Subscriptions + x.Imports - x.Unsubscriptions - x.HardBounces,
		})
	}
	return map[string]any{"ErrorText": "", "ListID": l.ID, "Days": days, "Series": series}, nil
}

func (a *App) listBounceTrend(ctx context.Context, req *dispatcher.Request) (any, error) {
	l, err := a.reportList(ctx, req)
	if err != nil {
		return nil, err
	}
	weeks := clampDays(req.Params, "Weeks", 6, 26)
	t := today()
	monday := t.Add(-time.Duration((int(t.Weekday())+6)%7) * oneDay)
	first := monday.Add(-time.Duration(weeks-1) * 7 * oneDay)
	act, err := a.DB.ListDailyActivity(ctx, l.UserID, l.ID, first.Unix())
	if err != nil {
		return nil, err
	}
	series := make([]map[string]any, 0, weeks)
	for w := first; len(series) < int(weeks); w = w.Add(7 * oneDay) {
		var sum storage.DayActivity
		for d := w; d.Before(w.Add(7 * oneDay)); d = d.Add(oneDay) {
			if x := act[d.Unix()]; x != nil {
				sum.Sent += x.Sent
				sum.HardBounces += x.HardBounces
				sum.SoftBounces += x.SoftBounces
				sum.Complaints += x.Complaints
			}
		}
		series = append(series, map[string]any{
			"WeekStart": w.Format(time.DateOnly), "TotalSent": sum.Sent, "HardBounces": sum.HardBounces,
			"SoftBounces": sum.SoftBounces, "Complaints": sum.Complaints, "HardBouncePct": pct(sum.HardBounces, sum.Sent),
			"SoftBouncePct": pct(sum.SoftBounces, sum.Sent), "ComplaintPct": pct(sum.Complaints, sum.Sent),
		})
	}
	return map[string]any{"ErrorText": "", "ListID": l.ID, "Weeks": weeks, "Series": series}, nil
}

// tierParams are list.getengagementtiers' cutoffs: name, default, range.
var tierParams = []struct {
	name          string
	def, min, max int64
}{
	{"ChampionDays", 14, 1, 365}, {"EngagedDays", 30, 1, 365}, {"PassiveEndDays", 60, 1, 730},
	{"LapsedEndDays", 120, 1, 1825}, {"NeverEngagedJoinedDays", 30, 1, 365},
}

func (a *App) listEngagementTiers(ctx context.Context, req *dispatcher.Request) (any, error) {
	l, err := a.reportList(ctx, req)
	if err != nil {
		return nil, err
	}
	v := make([]int64, len(tierParams))
	for i, tp := range tierParams {
		v[i] = inRangeOr(req.Params, tp.name, tp.def, tp.min, tp.max)
	}
	if !(v[0] <= v[1] && v[1] <= v[2] && v[2] <= v[3]) {
		for i, tp := range tierParams {
			v[i] = tp.def
		}
	}
	now := timeNow().UTC()
	ago := func(d int64) int64 { return now.Add(-time.Duration(d) * oneDay).Unix() }
	tiers, err := a.DB.EngagementTiers(ctx, l.ID, storage.TierCutoffs{
		Champion: ago(v[0]), Engaged: ago(v[1]), Passive: ago(v[2]), Lapsed: ago(v[3]), Joined: ago(v[4])})
	if err != nil {
		return nil, err
	}
	overrides := map[string]int64{}
	for i, tp := range tierParams {
		overrides[tp.name] = v[i]
	}
	var total int64
	for _, n := range tiers {
		total += n
	}
	return map[string]any{"ErrorText": "", "ListID": l.ID, "AsOf": asOf(now), "Overrides": overrides, "Tiers": tiers, "Total": total}, nil
}

func (a *App) listHeatmap(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	if !p.Has("ListID") {
		return nil, listIssue(dispatcher.KindInvalid, 1, "ListID is missing")
	}
	event := strings.ToLower(strings.TrimSpace(p.String("Event")))
	if event == "" {
		event = "open"
	}
	typ := map[string]string{"open": storage.EventOpened, "click": storage.EventClicked}[event]
	if typ == "" {
		return nil, listIssue(dispatcher.KindInvalid, 2, "Unsupported Event value. Allowed: open, click")
	}
	l, err := a.reportList(ctx, req)
	if err != nil {
		return nil, err
	}
	days := inRangeOr(p, "Days", 90, 1, 365)
	now := timeNow().UTC()
	hours, err := a.DB.ListEventHours(ctx, l.UserID, l.ID, typ, now.Add(-time.Duration(days)*oneDay).Unix())
	if err != nil {
		return nil, err
	}
	grid := make([][]int64, 7)
	for d := range grid {
		grid[d] = make([]int64, 24)
	}
	for h, n := range hours {
		t := time.Unix(h, 0).UTC()
		grid[(int(t.Weekday())+6)%7][t.Hour()] += n
	}
	return map[string]any{"ErrorText": "", "ListID": l.ID, "Days": days, "Event": event, "AsOf": asOf(now), "Grid": grid}, nil
}

var espEvents = []string{storage.DomainSubscribers, storage.DomainOpens, storage.DomainClicks, storage.DomainUnsubscriptions}

func (a *App) listESPBreakdown(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	if !p.Has("ListID") {
		return nil, listIssue(dispatcher.KindInvalid, 1, "ListID is missing")
	}
	event := strings.ToLower(strings.TrimSpace(p.String("Event")))
	if !slices.Contains(espEvents, event) {
		return nil, listIssue(dispatcher.KindInvalid, 2, "Unsupported Event value. Allowed: "+strings.Join(espEvents, ", "))
	}
	l, err := a.reportList(ctx, req)
	if err != nil {
		return nil, err
	}
	top := clampDays(p, "Top", 30, 1000)
	now := timeNow().UTC()
	rows, total, err := a.DB.DomainCounts(ctx, l.ID, event, int(top))
	if err != nil {
		return nil, err
	}
	domains := make([]map[string]any, 0, len(rows)+1)
	rest := total
	for _, r := range rows {
		domains = append(domains, map[string]any{"Domain": r.Domain, "Count": r.N, "Pct": pct(r.N, total)})
		rest -= r.N
	}
	if rest > 0 {
		domains = append(domains, map[string]any{"Domain": "Other", "Count": rest, "Pct": pct(rest, total)})
	}
	return map[string]any{"ErrorText": "", "ListID": l.ID, "Event": event, "Top": top, "AsOf": asOf(now), "Total": total, "Domains": domains}, nil
}

func (a *App) listSourceBreakdown(ctx context.Context, req *dispatcher.Request) (any, error) {
	l, err := a.requiredReportList(ctx, req)
	if err != nil {
		return nil, err
	}
	now := timeNow().UTC()
	counts, err := a.DB.SourceCounts(ctx, l.ID)
	if err != nil {
		return nil, err
	}
	source := func(s string) string {
		if slices.Contains(subscriberSources, s) {
			return s
		}
		return "Unknown"
	}
	buckets := map[string]int64{}
	var total int64
	for _, s := range subscriberSources {
		buckets[s] = 0
	}
	for s, n := range counts {
		buckets[source(s)] += n
		total += n
	}
	firstMonth := time.Date(now.Year(), now.Month()-11, 1, 0, 0, 0, 0, time.UTC)
	days, err := a.DB.SourceDays(ctx, l.ID, firstMonth.Unix())
	if err != nil {
		return nil, err
	}
	type key struct{ month, source string }
	byMonth := map[key]int64{}
	for _, d := range days {
		byMonth[key{time.Unix(d.Day, 0).UTC().Format("2006-01"), source(d.Source)}] += d.N
	}
	keys := make([]key, 0, len(byMonth))
	for k := range byMonth {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].month != keys[j].month {
			return keys[i].month < keys[j].month
		}
		return keys[i].source < keys[j].source
	})
	series := make([]map[string]any, 0, len(keys))
	for _, k := range keys {
		series = append(series, map[string]any{"Month": k.month, "SubscriptionSource": k.source, "Count": byMonth[k]})
	}
	refs := []map[string]any{}
	if buckets["Other"] > 0 {
		top, err := a.DB.TopSourceRefs(ctx, l.ID, "Other", 10)
		if err != nil {
			return nil, err
		}
		for _, r := range top {
			refs = append(refs, map[string]any{"Ref": r.Ref, "Count": r.N})
		}
	}
	return map[string]any{"ErrorText": "", "ListID": l.ID, "AsOf": asOf(now), "Buckets": buckets, "Total": total,
		"Series": series, "OtherRefs": refs}, nil
}

// listCTRRetention: the matrix is per campaign and gatewayd sends no campaigns, so a list
// has none: Campaigns is always empty, as the document answers for a list without sent
// campaigns.
func (a *App) listCTRRetention(ctx context.Context, req *dispatcher.Request) (any, error) {
	l, err := a.requiredReportList(ctx, req)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ErrorText": "", "ListID": l.ID, "LastNCampaigns": clampDays(req.Params, "LastNCampaigns", 10, 50),
		"CohortDepth": clampDays(req.Params, "CohortDepth", 7, 50), "AsOf": asOf(timeNow()), "Campaigns": []any{}}, nil
}

// listAssets: the list (as list.get shows it), its custom fields with the global ones (as
// customfields.get shows them) and its tags (as subscriber.tags.get shows them); gatewayd
// keeps no saved segments or autoresponders, so those are empty. Code 1 for a missing ListID,
// 2 for one that is not the caller's (list.get's code).
func (a *App) listAssets(ctx context.Context, req *dispatcher.Request) (any, error) {
	if !req.Params.Has("ListID") {
		return nil, listIssue(dispatcher.KindInvalid, 1, "Missing list ID")
	}
	l, err := a.ownList(ctx, req, req.Params.Int("ListID"), 2, "Invalid list ID")
	if err != nil {
		return nil, err
	}
	n, err := a.activeCount(ctx, l.ID)
	if err != nil {
		return nil, err
	}
	fs, err := a.DB.FieldsForList(ctx, l.UserID, l.ID, true, "id", false)
	if err != nil {
		return nil, err
	}
	tags, err := a.DB.Tags(ctx, l.ID)
	if err != nil {
		return nil, err
	}
	fields := make([]map[string]any, 0, len(fs))
	for i := range fs {
		fields = append(fields, fieldView(&fs[i]))
	}
	return map[string]any{
		"List":           a.listView(l, n),
		"Segments":       map[string]any{"Success": true, "Segments": []any{}},
		"CustomFields":   map[string]any{"Success": true, "CustomFields": fields},
		"SubscriberTags": map[string]any{"Success": true, "Tags": tagListViews(tags)},
		"AutoResponders": map[string]any{"Success": true, "AutoResponders": []any{}},
	}, nil
}

// overviewField renders a custom field as lists.overview shows it: parsed options, and the
// SQL type a choice field would have (enum for one choice, set for checkboxes).
func overviewField(f *storage.CustomField) map[string]any {
	opts := []map[string]any{}
	var labels []string
	for _, o := range f.Options() {
		opts = append(opts, map[string]any{"label": o.Label, "value": o.Value, "is_selected": boolString(o.Selected)})
		labels = append(labels, o.Label)
	}
	var sqlType, sqlValues any
	if isChoice(f.FieldType) {
		sqlType = "enum"
		if f.FieldType == "Checkboxes" {
			sqlType = "set"
		}
		if labels == nil {
			labels = []string{}
		}
		sqlValues = labels
	}
	return map[string]any{
		"CustomFieldID": f.ID, "RelListID": f.ListID, "FieldName": f.Name, "FieldType": f.FieldType,
		"ValidationMethod": f.ValidationMethod, "MergeTagAlias": f.MergeTagAlias, "Options": opts,
		"SQLDataType": sqlType, "SQLDataTypeValues": sqlValues,
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// listsOverview: the caller's lists (ListID, Name), each with its custom fields (its own,
// then the global ones, by id), segments (none: gatewayd keeps no saved segments) and tags
// (by name) when asked; four queries whatever the number of lists.
func (a *App) listsOverview(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	q := storage.ListQuery{UserID: req.Principal.UserID, Search: p.String("Search"), Order: "name"}
	q.Archived = map[string]string{"archived": "true", "all": "all"}[strings.ToLower(strings.TrimSpace(p.String("Archived")))]
	if o := map[string]string{"listid": "id", "name": "name", "createdon": "created_at"}[strings.ToLower(p.String("OrderField"))]; o != "" {
		q.Order = o
	}
	q.Desc = strings.EqualFold(p.String("OrderType"), "DESC")
	rows, _, err := a.DB.Lists(ctx, q)
	if err != nil {
		return nil, err
	}
	withFields, withSegments, withTags := p.Bool("IncludeCustomFields"), p.Bool("IncludeSegments"), p.Bool("IncludeSubscriberTags")
	fields := map[int64][]map[string]any{}
	var global []map[string]any
	if withFields {
		fs, err := a.DB.FieldsOfUser(ctx, req.Principal.UserID)
		if err != nil {
			return nil, err
		}
		for i := range fs {
			if fs[i].ListID == 0 {
				global = append(global, overviewField(&fs[i]))
			} else {
				fields[fs[i].ListID] = append(fields[fs[i].ListID], overviewField(&fs[i]))
			}
		}
	}
	tags := map[int64][]map[string]any{}
	if withTags {
		ts, err := a.DB.TagsOfUser(ctx, req.Principal.UserID)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			tags[t.ListID] = append(tags[t.ListID], map[string]any{"TagID": t.ID, "Tag": t.Name})
		}
	}
	lists := make([]map[string]any, 0, len(rows))
	for _, r := range rows {
		row := map[string]any{"ListID": r.ID, "Name": r.Name}
		if withFields {
			row["CustomFields"] = append(append([]map[string]any{}, fields[r.ID]...), global...)
		}
		if withSegments {
			row["Segments"] = []any{}
		}
		if withTags {
			row["SubscriberTags"] = append([]map[string]any{}, tags[r.ID]...)
		}
		lists = append(lists, row)
	}
	return map[string]any{"ErrorText": "", "TotalListCount": len(lists), "Lists": lists}, nil
}
