package commands

import (
	"context"
	"strings"
	"time"

	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// The commands below are gatewayd's own (docs/console.md): what the web console does that no
// legacy document has a command for. They are ordinary registry entries, reachable on api.php
// too, so the console can do nothing the API cannot.

// Codes of these commands.
const (
	codeConsoleMissing  = 1 // a required parameter is missing
	codeConsoleNotFound = 2 // not found or access denied
	codeConsoleInvalid  = 3 // a parameter's value is unusable
)

func (a *App) registerConsole(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{
		Name: "admin.session.create", Auth: dispatcher.AuthAdmin,
		Handler: a.adminSessionCreate,
	})
	r.Register(&dispatcher.Command{
		Name: "admin.senderdomains.list", Auth: dispatcher.AuthAdmin,
		Params:  []dispatcher.Param{{Name: "Status", Type: dispatcher.String, Code: codeConsoleInvalid}},
		Handler: a.adminDomainsList,
	})
	r.Register(&dispatcher.Command{
		Name: "admin.senderdomain.approve", Auth: dispatcher.AuthAdmin,
		Params:  []dispatcher.Param{{Name: "DomainID", Type: dispatcher.Int, Required: true, Code: codeConsoleMissing}},
		Handler: a.adminDomainApprove,
	})
	r.Register(&dispatcher.Command{
		Name: "queue.stats", Auth: dispatcher.AuthUser | dispatcher.AuthAdmin, Permission: PermManageDomain,
		Handler: a.queueStats,
	})
	r.Register(&dispatcher.Command{
		Name: "admin.health", Auth: dispatcher.AuthAdmin,
		Params:  []dispatcher.Param{{Name: "Days", Type: dispatcher.Int, Code: codeConsoleInvalid}},
		Handler: a.adminHealth,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.getdnsrecords", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params:  []dispatcher.Param{{Name: "DomainID", Type: dispatcher.Int, Required: true, Code: codeConsoleMissing}},
		Handler: a.getDNSRecords,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.sendtest", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		RateLimited: true, RateGroup: "send", RateLimitMessage: "Email send rate limit exceeded",
		Params: []dispatcher.Param{
			{Name: "DomainID", Type: dispatcher.Int, Required: true, Code: codeConsoleMissing, Message: "Missing DomainID"},
			{Name: "To", Type: dispatcher.String, Required: true, Code: codeConsoleMissing, Message: "Missing To"},
		},
		Handler: a.sendTest,
	})
}

// adminSessionCreate trades the admin key (or an admin session) for a new admin session, so a
// browser holds a session that expires and can be revoked, never the key itself.
func (a *App) adminSessionCreate(ctx context.Context, req *dispatcher.Request) (any, error) {
	id, err := a.newSession(ctx, sessionAdmin, 0)
	if err != nil {
		return nil, err
	}
	return map[string]any{"SessionID": id}, nil
}

// adminDomainView is a domain as the operator sees it, with its owner.
func (a *App) adminDomainView(ctx context.Context, d *storage.SenderDomain, users map[int64]string) (map[string]any, error) {
	name, ok := users[d.UserID]
	if !ok {
		u, err := a.DB.UserByID(ctx, d.UserID)
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		if err == nil {
			name = u.Username
		}
		users[d.UserID] = name
	}
	return map[string]any{"DomainID": d.ID, "SenderDomain": d.Name, "Status": d.Status, "UserID": d.UserID,
		"Username": name, "CreatedAt": d.CreatedAt}, nil
}

// adminDomainsList lists every tenant's domains in one status (Pending by default).
// Codes: 3 Status is not Pending, Enabled or Disabled.
func (a *App) adminDomainsList(ctx context.Context, req *dispatcher.Request) (any, error) {
	status := storage.DomainPending
	if s := strings.TrimSpace(req.Params.String("Status")); s != "" {
		switch {
		case strings.EqualFold(s, storage.DomainPending), strings.EqualFold(s, "Pending"):
		case strings.EqualFold(s, storage.DomainEnabled):
			status = storage.DomainEnabled
		case strings.EqualFold(s, storage.DomainDisabled):
			status = storage.DomainDisabled
		default:
			return nil, dispatcher.Invalid(dispatcher.Field("Status", codeConsoleInvalid, "Invalid Status (Pending, Enabled or Disabled)"))
		}
	}
	ds, err := a.DB.DomainsByStatus(ctx, status)
	if err != nil {
		return nil, err
	}
	users := map[int64]string{}
	out := make([]map[string]any, 0, len(ds))
	for i := range ds {
		v, err := a.adminDomainView(ctx, &ds[i], users)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return map[string]any{"Status": status, "Domains": out}, nil
}

// adminDomainApprove enables a domain without DNS verification, as `gatewayd domain approve`
// does. Codes: 1 DomainID missing, 2 no such domain.
func (a *App) adminDomainApprove(ctx context.Context, req *dispatcher.Request) (any, error) {
	d, err := a.DB.DomainByID(ctx, req.Params.Int("DomainID"), 0)
	if isNotFound(err) {
		return nil, dispatcher.NotFound(codeConsoleNotFound, "Domain not found")
	}
	if err != nil {
		return nil, err
	}
	if err := a.DB.SetDomainStatus(ctx, d.ID, storage.DomainEnabled, timeNow().Unix()); err != nil {
		return nil, err
	}
	d.Status = storage.DomainEnabled
	v, err := a.adminDomainView(ctx, d, map[int64]string{})
	if err != nil {
		return nil, err
	}
	a.Log.InfoContext(ctx, "domain approved", "domain", d.Name, "id", d.ID)
	return map[string]any{"Domain": v}, nil
}

// queueStats counts recipients by queue state: a user's own domains, or (admin) every domain.
func (a *App) queueStats(ctx context.Context, req *dispatcher.Request) (any, error) {
	var ids []int64
	if req.Principal.Kind != dispatcher.PrincipalAdmin {
		ds, err := a.DB.DomainsByUser(ctx, req.Principal.UserID)
		if err != nil {
			return nil, err
		}
		if len(ds) == 0 {
			ids = []int64{-1} // no domain: nothing of anyone else's
		}
		for _, d := range ds {
			ids = append(ids, d.ID)
		}
	}
	counts, err := a.DB.QueueCounts(ctx, false, ids)
	if err != nil {
		return nil, err
	}
	states := map[string]int64{}
	var waiting int64
	for _, s := range storage.AllStates {
		states[s] = counts[s]
	}
	_, waiting = queueWaiting(counts)
	return map[string]any{"States": states, "Waiting": waiting}, nil
}

// queueWaiting keeps the counts of the states still in the queue (0 where none) and sums them.
func queueWaiting(counts map[string]int64) (map[string]int64, int64) {
	states := make(map[string]int64, len(storage.UndeliveredStates))
	var waiting int64
	for _, s := range storage.UndeliveredStates {
		states[s] = counts[s]
		waiting += counts[s]
	}
	return states, waiting
}

// getDNSRecords lists the records a domain should publish, without looking them up
// (verifydomain looks them up). Codes: 1 DomainID missing, 2 not found or access denied.
func (a *App) getDNSRecords(ctx context.Context, req *dispatcher.Request) (any, error) {
	d, err := a.ownDomain(ctx, req, req.Params.Int("DomainID"), codeConsoleNotFound)
	if err != nil {
		return nil, err
	}
	recs := a.DomainRecords(d)
	out := make([]map[string]any, 0, len(recs))
	for _, r := range recs {
		out = append(out, map[string]any{"Name": r.Name, "Type": r.Type, "Value": r.Value, "Required": r.Required})
	}
	return map[string]any{"Domain": domainView(d), "DKIMSelector": d.DKIMSelector, "Records": out}, nil
}

// sendTest sends a short plain-text message from one of the caller's domains, through the same
// path (and the same checks) as a send with that domain's sender key. From defaults to
// test@<domain>. Codes: 1 DomainID or To missing, 2 domain not found or access denied; the
// send's own codes otherwise.
func (a *App) sendTest(ctx context.Context, req *dispatcher.Request) (any, error) {
	d, err := a.ownDomain(ctx, req, req.Params.Int("DomainID"), codeConsoleNotFound)
	if err != nil {
		return nil, err
	}
	p := req.Params
	from := strings.TrimSpace(p.String("From"))
	if from == "" {
		from = "test@" + d.Name
	}
	subject := p.String("Subject")
	if strings.TrimSpace(subject) == "" {
		subject = "Test message from " + d.Name
	}
	text := p.String("PlainContent")
	if strings.TrimSpace(text) == "" {
		text = "This is a test message sent from the gatewayd console."
	}
	var to []any
	for _, addr := range strings.FieldsFunc(p.String("To"), func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
		to = append(to, map[string]any{"email": addr})
	}
	sendParams := dispatcher.NewParams(map[string]any{
		"From": from, "To": to, "Subject": subject, "ContentType": "plain", "PlainContent": text, "Tags": []any{"console-test"},
	})
	sender := &dispatcher.Principal{Kind: dispatcher.PrincipalSender, UserID: d.UserID, DomainID: d.ID,
		RateKey: req.Principal.RateKey}
	return a.sendEmail(ctx, &dispatcher.Request{Command: req.Command, Principal: sender, Params: sendParams, Meta: req.Meta})
}

// adminHealth is the platform at a glance for the operator: whether the database answers (and
// how fast), the queue by state, and every domain's daily counts over the last Days days
// (default 28, 1-90), oldest first, days without mail included. Codes: 3 Days out of range.
func (a *App) adminHealth(ctx context.Context, req *dispatcher.Request) (any, error) {
	days := 28
	if req.Params.Has("Days") {
		n, ok := req.Params.IntOK("Days")
		if !ok || n < 1 || n > 90 {
			return nil, dispatcher.Invalid(dispatcher.Field("Days", codeConsoleInvalid, "Invalid Days (1-90)"))
		}
		days = int(n)
	}
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	herr := a.DB.Health(pctx)
	cancel()
	db := map[string]any{"OK": herr == nil, "Dialect": string(a.DB.Dialect),
		"PingMS": float64(time.Since(start).Microseconds()) / 1000, "Error": ""}
	if herr != nil {
		db["Error"] = herr.Error()
		return map[string]any{"Database": db}, nil
	}
	counts, err := a.DB.QueueCounts(ctx, true, nil)
	if err != nil {
		return nil, err
	}
	states, waiting := queueWaiting(counts)
	end := timeNow().UTC()
	first := end.AddDate(0, 0, -(days - 1))
	byDay, err := a.DB.StatsAllDomainsByDay(ctx, storage.DayOf(first.Unix()), storage.DayOf(end.Unix()))
	if err != nil {
		return nil, err
	}
	series := make([]map[string]any, 0, days)
	for t := first; !t.After(end); t = t.AddDate(0, 0, 1) {
		c := byDay[storage.DayOf(t.Unix())]
		series = append(series, map[string]any{"Date": t.Format("2006-01-02"), "Sent": c.Sent, "Delivered": c.Delivered,
			"Deferred": c.Deferred, "Bounced": c.Bounced, "Failed": c.Failed, "Complained": c.Complained})
	}
	return map[string]any{"Database": db, "Queue": map[string]any{"States": states, "Waiting": waiting}, "Days": series}, nil
}
