package commands

import (
	"context"
	"math"
	"strings"
	"time"

	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// Recipient-domain statistics (octeth-5.9.4 emailgateway.md): recipientdomainstats for one
// recipient domain, listrecipientdomains for the leaderboard of them. Both read the
// recipients table; the status mapping is in storage/recipientdomains.go and docs/api.md.

const (
	recipientStatsDefaultDays = 28 // recipientdomainstats: "default: 28 days ago"
	recipientListDefaultDays  = 30 // listrecipientdomains: "Defaults to 30 days ago"
	recipientListDefaultLimit = 50
	recipientListMaxLimit     = 1000
)

func (a *App) registerRecipientDomains(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{
		Name: "emailgateway.recipientdomainstats", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params: []dispatcher.Param{
			{Name: "DomainID", Type: dispatcher.Int, Required: true, Code: 1},
			{Name: "RecipientToDomain", Type: dispatcher.String, Required: true, Code: 1},
			{Name: "StartDate", Type: dispatcher.String, Code: codeBadDate},
			{Name: "EndDate", Type: dispatcher.String, Code: codeBadDate},
		},
		Handler: a.recipientDomainStats,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.listrecipientdomains", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params:  []dispatcher.Param{{Name: "DomainID", Type: dispatcher.Int, Required: true, Code: 1}},
		Handler: a.listRecipientDomains,
	})
}

// round2 rounds to two decimals, as the reference's figures are.
func round2(f float64) float64 { return math.Round(f*100) / 100 }

type summaryStat struct {
	Status             string  `json:"Status"`
	TotalEmails        int64   `json:"TotalEmails"`
	AvgDeliverySeconds float64 `json:"AvgDeliverySeconds"`
	MinDeliverySeconds int64   `json:"MinDeliverySeconds"`
	MaxDeliverySeconds int64   `json:"MaxDeliverySeconds"`
}

type speedBucket struct {
	DeliveryBucket string  `json:"DeliveryBucket"`
	EmailCount     int64   `json:"EmailCount"`
	Percentage     float64 `json:"Percentage"`
}

// recipientDomainStats answers one recipient domain's counts and delivery times by status
// (SummaryStats: Sent, Failed, Sending, those that have emails) and the histogram of
// delivery times of the Sent and Failed ones (empty buckets left out).
func (a *App) recipientDomainStats(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	today := timeNow().UTC().Truncate(24 * time.Hour)
	start, end, is := dateRange(p, today.AddDate(0, 0, -recipientStatsDefaultDays), today)
	if is != nil {
		return nil, dispatcher.Invalid(*is)
	}
	d, err := a.ownDomain(ctx, req, p.Int("DomainID"), 2)
	if err != nil {
		return nil, err
	}
	rcpt := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(p.String("RecipientToDomain")), "@"))
	rows, err := a.DB.RecipientDomainStats(ctx, d.ID, rcpt, start.Unix(), end.Add(24*time.Hour).Unix()-1)
	if err != nil {
		return nil, err
	}
	summary := []summaryStat{}
	hist := map[string][]speedBucket{}
	for _, status := range []string{storage.RDSent, storage.RDFailed, storage.RDSending} {
		s := summaryStat{Status: status, MinDeliverySeconds: math.MaxInt64}
		var sum int64
		var buckets []speedBucket
		for _, r := range rows {
			if r.Status != status {
				continue
			}
			s.TotalEmails += r.Count
			sum += r.Sum
			s.MinDeliverySeconds = min(s.MinDeliverySeconds, r.Min)
			s.MaxDeliverySeconds = max(s.MaxDeliverySeconds, r.Max)
			buckets = append(buckets, speedBucket{DeliveryBucket: storage.DeliveryBuckets[r.Bucket].Name, EmailCount: r.Count})
		}
		if s.TotalEmails == 0 {
			continue
		}
		s.AvgDeliverySeconds = round2(float64(sum) / float64(s.TotalEmails))
		summary = append(summary, s)
		if status == storage.RDSending {
			continue
		}
		for i := range buckets {
			buckets[i].Percentage = round2(float64(buckets[i].EmailCount) * 100 / float64(s.TotalEmails))
		}
		hist[status] = buckets
	}
	return map[string]any{"SummaryStats": summary, "DeliverySpeedHistogram": hist}, nil
}

type recipientDomainView struct {
	Domain         string   `json:"Domain"`
	Sent           int64    `json:"Sent"`
	Failed         int64    `json:"Failed"`
	Sending        int64    `json:"Sending"`
	AvgDeliverySec *float64 `json:"AvgDeliverySec"`
	MinDeliverySec *float64 `json:"MinDeliverySec"`
	MaxDeliverySec *float64 `json:"MaxDeliverySec"`
}

// listRecipientDomains answers the leaderboard of recipient domains of one sender domain.
// Dates that do not parse fall back to the defaults (30 days ago, today) and EndDate is
// clamped to StartDate or later; Limit defaults to 50 and is clamped to 1..1000, as the
// reference says.
func (a *App) listRecipientDomains(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	today := timeNow().UTC().Truncate(24 * time.Hour)
	start, end := today.AddDate(0, 0, -recipientListDefaultDays), today
	if t, ok := parseDay(p.String("StartDate")); ok {
		start = t
	}
	if t, ok := parseDay(p.String("EndDate")); ok {
		end = t
	}
	if end.Before(start) {
		end = start
	}
	limit := int64(recipientListDefaultLimit)
	if n, ok := p.IntOK("Limit"); ok && p.Has("Limit") {
		limit = min(max(n, 1), recipientListMaxLimit)
	}
	d, err := a.ownDomain(ctx, req, p.Int("DomainID"), 2)
	if err != nil {
		return nil, err
	}
	rows, err := a.DB.RecipientDomains(ctx, d.ID, start.Unix(), end.Add(24*time.Hour).Unix()-1, int(limit))
	if err != nil {
		return nil, err
	}
	out := make([]recipientDomainView, 0, len(rows))
	for _, r := range rows {
		v := recipientDomainView{Domain: r.Domain, Sent: r.Sent, Failed: r.Failed, Sending: r.Sending}
		if r.Sent > 0 && r.SentSum.Valid {
			avg, lo, hi := round2(float64(r.SentSum.Int64)/float64(r.Sent)), float64(r.Min.Int64), float64(r.Max.Int64)
			v.AvgDeliverySec, v.MinDeliverySec, v.MaxDeliverySec = &avg, &lo, &hi
		}
		out = append(out, v)
	}
	return map[string]any{
		"StartDate":        start.Format(ymd) + " 00:00:00",
		"EndDate":          end.Format(ymd) + " 23:59:59",
		"Limit":            limit,
		"RecipientDomains": out,
	}, nil
}
