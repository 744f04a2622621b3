package commands

import (
	"context"
	"time"

	"gatewayd/config"
	"gatewayd/internal/netpolicy"
	"gatewayd/storage"
	"gatewayd/webhooks"
)

// WebhookDispatcher builds the delivery loop of the webhook and callback outbox: the SSRF
// policy checked again at connect time (GATEWAY_WEBHOOK_ALLOW_PRIVATE), the 15 s client with
// no redirects, the webhook backoff bounds and the GatewayAPI callback schedule.
func (a *App) WebhookDispatcher(owner string) *webhooks.Dispatcher {
	pol := netpolicy.Policy{AllowPrivate: a.Cfg.WebhookAllowPrivate, LookupHost: a.Resolver.LookupHost}
	return webhooks.NewDispatcher(webhooks.Options{
		Store:            &outboxStore{a: a},
		Client:           pol.HTTPClient(netpolicy.DefaultTimeout),
		Owner:            owner,
		Log:              a.Log,
		RetryMin:         a.Cfg.WebhookRetryMin,
		RetryMax:         a.Cfg.WebhookRetryMax,
		CallbackSchedule: CallbackSchedule(a.Cfg),
	})
}

// CallbackSchedule is GatewayAPI's retry schedule (60 s, 120 s, 360 s, 24 min, 2 h, 12 h) as
// documented when GATEWAY_WEBHOOK_RETRY_MIN is at its default (30 s); a smaller value scales
// the whole schedule down in proportion (tests use 1 s: 2 s, 4 s, 12 s ...). A larger value
// never slows it beyond the documented schedule.
func CallbackSchedule(cfg *config.Config) []time.Duration {
	scale := float64(cfg.WebhookRetryMin) / float64(config.Defaults().WebhookRetryMin)
	if scale > 1 || scale <= 0 {
		scale = 1
	}
	out := make([]time.Duration, len(webhooks.DefaultCallbackSchedule))
	for i, d := range webhooks.DefaultCallbackSchedule {
		out[i] = time.Duration(float64(d) * scale)
	}
	return out
}

// outboxStore is the storage outbox as the webhooks dispatcher sees it: it opens each
// domain's signing key on the way out.
type outboxStore struct{ a *App }

func (s *outboxStore) Due(ctx context.Context, busy []string) (bool, error) {
	return s.a.DB.OutboxDue(ctx, busy)
}

func (s *outboxStore) Claim(ctx context.Context, owner string, n int, lease time.Duration, busy []string) ([]webhooks.Delivery, error) {
	rows, err := s.a.DB.ClaimOutbox(ctx, owner, n, lease, busy)
	if err != nil {
		return nil, err
	}
	out := make([]webhooks.Delivery, len(rows))
	for i, r := range rows {
		d := webhooks.Delivery{ID: r.ID, Kind: r.Kind, WebhookID: r.WebhookID, URL: r.URL, Endpoint: r.Endpoint,
			Body: []byte(r.Payload), Attempts: r.Attempts, CreatedAt: time.Unix(r.CreatedAt, 0), Live: r.Live}
		if r.SigningKeyEnc != "" {
			key, err := s.a.Keys.Decrypt(r.SigningKeyEnc)
			if err != nil {
				s.a.Log.WarnContext(ctx, "webhooks: signing key does not open; sending unsigned", "domain", r.DomainID, "err", err)
			} else {
				d.Secret = string(key)
			}
		}
		out[i] = d
	}
	return out, nil
}

func outboxState(s webhooks.State) string {
	switch s {
	case webhooks.Delivered:
		return storage.OutboxDelivered
	case webhooks.Failed:
		return storage.OutboxFailed
	case webhooks.Dropped:
		return storage.OutboxDropped
	}
	return storage.OutboxPending
}

func (s *outboxStore) Finish(ctx context.Context, owner string, done []webhooks.Outcome) error {
	rs := make([]storage.OutboxResult, len(done))
	for i, o := range done {
		rs[i] = storage.OutboxResult{ID: o.Delivery.ID, State: outboxState(o.Result.State), Status: o.Result.Status,
			Error: o.Result.Error, Next: o.Result.Next}
	}
	return s.a.DB.FinishOutbox(ctx, owner, rs...)
}

func (s *outboxStore) Gone(ctx context.Context, owner string, d webhooks.Delivery, r webhooks.Result) error {
	if err := s.a.DB.FinishOutbox(ctx, owner, storage.OutboxResult{ID: d.ID, State: storage.OutboxDropped, Status: r.Status,
		Error: r.Error}); err != nil {
		return err
	}
	return s.a.DB.DropWebhook(ctx, d.WebhookID, r.Status, "webhook removed after 410 Gone")
}

func (s *outboxStore) Release(ctx context.Context, owner string, ids []int64) error {
	return s.a.DB.ReleaseOutbox(ctx, owner, ids)
}

func (s *outboxStore) Prune(ctx context.Context, before time.Time) error {
	_, err := s.a.DB.PruneOutbox(ctx, before)
	return err
}
