package commands

import (
	"context"

	"gatewayd/dispatcher"
)

func (a *App) registerQueue(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{
		Name: "emailgateway.cleardomainqueue", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params:  []dispatcher.Param{{Name: "DomainID", Type: dispatcher.Int, Required: true, Code: 1}},
		Handler: a.clearDomainQueue,
	})
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
