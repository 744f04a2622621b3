package commands

import (
	"context"

	"gatewayd/dispatcher"
	"gatewayd/storage"
)

func (a *App) registerQueue(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{
		Name: "emailgateway.cleardomainqueue", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params:  []dispatcher.Param{{Name: "DomainID", Type: dispatcher.Int, Required: true, Code: 1}},
		Handler: a.clearDomainQueue,
	})
	// The operator's queue by domain (docs/delivery.md "The queue by domain").
	domain := []dispatcher.Param{{Name: "DomainID", Type: dispatcher.Int, Required: true, Code: 1, Message: "Missing DomainID"}}
	r.Register(&dispatcher.Command{Name: "queue.domains", Auth: dispatcher.AuthAdmin, Handler: a.queueDomains})
	r.Register(&dispatcher.Command{Name: "queue.retry", Auth: dispatcher.AuthAdmin, Params: domain, Handler: a.queueRetry})
	r.Register(&dispatcher.Command{Name: "queue.purge", Auth: dispatcher.AuthAdmin, Params: domain, Handler: a.queuePurge})
}

// queueDomains lists every domain with rows still in the queue: its counts by state and
// the total waiting, the domain with most waiting first.
func (a *App) queueDomains(ctx context.Context, req *dispatcher.Request) (any, error) {
	qs, err := a.DB.QueueByDomain(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(qs))
	for _, q := range qs {
		states, waiting := queueWaiting(q.States)
		out = append(out, map[string]any{"DomainID": q.DomainID, "SenderDomain": q.Domain, "UserID": q.UserID,
			"States": states, "Waiting": waiting})
	}
	return map[string]any{"Domains": out}, nil
}

// queueDomain is the domain a queue.retry or queue.purge names, any tenant's. Code 2: none.
func (a *App) queueDomain(ctx context.Context, req *dispatcher.Request) (*storage.SenderDomain, error) {
	d, err := a.DB.DomainByID(ctx, req.Params.Int("DomainID"), 0)
	if isNotFound(err) {
		return nil, dispatcher.NotFound(2, "Domain not found")
	}
	return d, err
}

// queueRetry makes a domain's deferred rows due now, as `gatewayd queue retry --domain`.
// Codes: 1 DomainID missing, 2 no such domain.
func (a *App) queueRetry(ctx context.Context, req *dispatcher.Request) (any, error) {
	d, err := a.queueDomain(ctx, req)
	if err != nil {
		return nil, err
	}
	n, err := a.DB.QueueRetry(ctx, storage.QueueFilter{DomainIDs: []int64{d.ID}})
	if err != nil {
		return nil, err
	}
	a.Log.InfoContext(ctx, "queue retry", "domain", d.ID, "due", n)
	return map[string]any{"DomainID": d.ID, "Retried": n}, nil
}

// queuePurge cancels a domain's undelivered rows exactly as emailgateway.cleardomainqueue
// does, for any tenant's domain. Codes: 1 DomainID missing, 2 no such domain.
func (a *App) queuePurge(ctx context.Context, req *dispatcher.Request) (any, error) {
	d, err := a.queueDomain(ctx, req)
	if err != nil {
		return nil, err
	}
	n, err := a.DB.CancelDomainQueue(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	a.Log.InfoContext(ctx, "queue purge", "domain", d.ID, "cancelled", n)
	return map[string]any{"DomainID": d.ID, "Cancelled": n}, nil
}

// clearDomainQueue cancels every recipient of the domain that has not been delivered yet:
// scheduled, queued and deferred rows, and rows being sent at this moment (an attempt already
// in flight still records delivered or bounced if the receiving server answered so; any other
// outcome leaves the row cancelled). Cancelled rows are never tried again; they write no
// event. Codes: 1 DomainID missing, 2 domain not found or access denied.
func (a *App) clearDomainQueue(ctx context.Context, req *dispatcher.Request) (any, error) {
	d, err := a.ownDomain(ctx, req, req.Params.Int("DomainID"), 2)
	if err != nil {
		return nil, err
	}
	n, err := a.DB.CancelDomainQueue(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	a.Log.InfoContext(ctx, "cleardomainqueue", "domain", d.ID, "cancelled", n)
	return map[string]any{}, nil
}
