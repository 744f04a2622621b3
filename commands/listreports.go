package commands

import (
	"context"
	"math"
	"strings"
	"time"

	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// List reports (octeth-5.9.4/lists.md): lists.stats and list.getsubscriberstatusbreakdown,
// answered from gatewayd's own subscriber rows, suppression lists and the events of the mail
// sent to each list (messages.list_id). docs/audience.md says what each figure counts and
// which reports are left out.

func (a *App) registerListReports(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{Name: "lists.stats", Auth: dispatcher.AuthUser, Permission: "Lists.Get", Handler: a.listsStats})
	r.Register(&dispatcher.Command{Name: "list.getsubscriberstatusbreakdown", Auth: dispatcher.AuthUser, Permission: "List.Get", Handler: a.listStatusBreakdown})
	r.Register(&dispatcher.Command{Name: "list.gettenuredistribution", Auth: dispatcher.AuthUser, Permission: "List.Get", Handler: a.listTenure})
}

// rate is num/den rounded to 4 places, or nil when den is 0.
func rate(num, den int64) any {
	if den == 0 {
		return nil
	}
	return math.Round(float64(num)/float64(den)*1e4) / 1e4
}

// clampDays reads a Days-like parameter: default def, out of [1, max] or not a number: def
// when <= 0, else clamped.
func clampDays(p dispatcher.Params, name string, def, max int64) int64 {
	n, ok := p.IntOK(name)
	switch {
	case !ok || n <= 0:
		return def
	case n > max:
		return max
	}
	return n
}

func (a *App) listsStats(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	days := clampDays(p, "Days", 30, 365)
	q := storage.ListQuery{UserID: req.Principal.UserID, Order: "id"}
	if p.Has("ListIDs") {
		ids, _ := idList(p.Value("ListIDs"))
		if len(ids) == 0 {
			ids = []int64{0}
		}
		q.IDs = ids
	}
	rows, _, err := a.DB.Lists(ctx, q)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	from := timeNow().Add(-time.Duration(days) * 24 * time.Hour).Unix()
	act, err := a.DB.ListActivities(ctx, ids, from)
	if err != nil {
		return nil, err
	}
	var wOpenN, wClickN, wSentD, wCTORN, wCTORD float64
	lists := make([]map[string]any, 0, len(rows))
	for _, r := range rows {
		la := act[r.ID]
		lists = append(lists, map[string]any{
			"ListID": r.ID, "Name": r.Name, "ActiveSubscriberCount": r.ActiveCount, "SegmentCount": 0,
			"LastActivityAt": octethTime(r.LastActivityAt), "UniqueOpens": la.UniqueOpens, "UniqueClicks": la.UniqueClicks,
			"UniqueForwards": 0, "UniqueBrowserViews": 0, "TotalSent": la.Sent,
			"NetGrowth": la.Subscriptions + la.Imports - la.Unsubscriptions - la.HardBounces,
			"OpenRate":  rate(la.UniqueOpens, la.Sent), "ClickRate": rate(la.UniqueClicks, la.Sent),
			"ForwardRate": rate(0, la.Sent), "BrowserViewRate": rate(0, la.Sent), "CTOR": rate(la.UniqueClicks, la.UniqueOpens),
		})
		if la.Sent > 0 {
			w := float64(r.ActiveCount) * float64(la.Sent)
			wOpenN += w * float64(la.UniqueOpens) / float64(la.Sent)
			wClickN += w * float64(la.UniqueClicks) / float64(la.Sent)
			wSentD += w
		}
		if la.UniqueOpens > 0 {
			w := float64(r.ActiveCount) * float64(la.UniqueOpens)
			wCTORN += w * float64(la.UniqueClicks) / float64(la.UniqueOpens)
			wCTORD += w
		}
	}
	weighted := func(n, d float64) any {
		if d == 0 {
			return nil
		}
		return math.Round(n/d*1e4) / 1e4
	}
	zero := weighted(0, wSentD)
	return map[string]any{
		"ErrorText": "", "Days": days, "TotalListCount": len(lists),
		"WeightedAvgOpenRate": weighted(wOpenN, wSentD), "WeightedAvgClickRate": weighted(wClickN, wSentD),
		"WeightedAvgCTOR": weighted(wCTORN, wCTORD), "WeightedAvgForwardRate": zero, "WeightedAvgBrowserViewRate": zero,
		"Lists": lists,
	}, nil
}

// reportList is the list a report is about: 99997 for a missing, malformed or someone
// else's ListID, as the report documents say.
func (a *App) reportList(ctx context.Context, req *dispatcher.Request) (*storage.List, error) {
	const msg = "Subscriber list does not exist or is not owned by the authenticated user"
	l, err := a.ownList(ctx, req, req.Params.Int("ListID"), 99997, msg)
	if err != nil {
		return nil, scalar(err)
	}
	return l, nil
}

func (a *App) listStatusBreakdown(ctx context.Context, req *dispatcher.Request) (any, error) {
	l, err := a.reportList(ctx, req)
	if err != nil {
		return nil, err
	}
	counts, err := a.DB.StatusCounts(ctx, []int64{l.ID})
	if err != nil {
		return nil, err
	}
	sup, err := a.DB.ListSuppressions(ctx, l.ID, nil)
	if err != nil {
		return nil, err
	}
	var complained int64
	for _, s := range sup {
		if strings.EqualFold(s.Source, storage.SuppressComplaint) {
			complained++
		}
	}
	byState, err := a.DB.SubscriberStates(ctx, l.ID)
	if err != nil {
		return nil, err
	}
	c := map[string]int64{
		"Active":       byState[storage.StatusSubscribed+"|"+storage.BounceNone],
		"OptInPending": counts[l.ID][storage.StatusOptInPending],
		"SoftBounced":  byState[storage.StatusSubscribed+"|"+storage.BounceSoft],
		"HardBounced":  byState[storage.StatusSubscribed+"|"+storage.BounceHard],
		"Unsubscribed": counts[l.ID][storage.StatusUnsubscribed],
		"Complained":   complained,
		"Suppressed":   int64(len(sup)),
	}
	var total int64
	for _, v := range c {
		total += v
	}
	return map[string]any{"ErrorText": "", "ListID": l.ID, "Counts": c, "Total": total}, nil
}

// tenureBuckets are list.gettenuredistribution's buckets and their lower bounds in days.
var tenureBuckets = []struct {
	name string
	days int64
}{{"0_30d", 30}, {"1_3mo", 90}, {"3_6mo", 180}, {"6_12mo", 365}, {"1_2y", 730}}

// listTenure: deliverable subscribers by subscription date, right-open buckets (a date
// exactly on a cutoff is in the older bucket).
func (a *App) listTenure(ctx context.Context, req *dispatcher.Request) (any, error) {
	if !req.Params.Has("ListID") {
		return nil, subIssue(dispatcher.KindInvalid, 1, "Missing subscriber list ID")
	}
	l, err := a.reportList(ctx, req)
	if err != nil {
		return nil, err
	}
	now := timeNow().UTC()
	cutoffs := make([]int64, len(tenureBuckets))
	for i, b := range tenureBuckets {
		// A date exactly on the cutoff is older: the bucket is (cutoff, now].
		cutoffs[i] = now.Add(-time.Duration(b.days)*24*time.Hour).Unix() + 1
	}
	counts, err := a.DB.TenureCounts(ctx, l.ID, cutoffs)
	if err != nil {
		return nil, err
	}
	buckets := map[string]int64{}
	var total int64
	for i, b := range tenureBuckets {
		buckets[b.name] = counts[i]
		total += counts[i]
	}
	buckets["2y_plus"] = counts[len(counts)-1]
	total += counts[len(counts)-1]
	return map[string]any{"ErrorText": "", "ListID": l.ID, "AsOf": now.Format("2006-01-02T15:04:05+00:00"), "Buckets": buckets, "Total": total}, nil
}
