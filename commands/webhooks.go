package commands

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"gatewayd/dispatcher"
	"gatewayd/internal/netpolicy"
	"gatewayd/storage"
	"gatewayd/webhooks"
)

// Canonical event types, as stored and as the v1 API names them (storage owns the list).
const (
	EventAccepted     = storage.EventAccepted
	EventDelivered    = storage.EventDelivered
	EventDeferred     = storage.EventDeferred
	EventBounced      = storage.EventBounced
	EventFailed       = storage.EventFailed
	EventOpened       = storage.EventOpened
	EventClicked      = storage.EventClicked
	EventUnsubscribed = storage.EventUnsubscribed
	EventComplained   = storage.EventComplained
)

// eventTypes maps every accepted spelling (legacy and v1, lower case) to the canonical type.
var eventTypes = func() map[string]string {
	m := map[string]string{}
	for _, e := range []string{EventAccepted, EventDelivered, EventDeferred, EventBounced, EventFailed,
		EventOpened, EventClicked, EventUnsubscribed, EventComplained} {
		m[e] = e
	}
	for canon, legacy := range storage.LegacyEventNames {
		m[legacy] = canon
	}
	return m
}()

// EventType maps an event name of either vocabulary (legacy: delivery, bounce, open, click,
// unsubscribe, complaint; v1: delivered, bounced, opened, clicked, unsubscribed, complained;
// and accepted, deferred, failed), case-insensitively, to its canonical type.
func EventType(name string) (canonical string, ok bool) {
	canonical, ok = eventTypes[strings.ToLower(strings.TrimSpace(name))]
	return canonical, ok
}

// LegacyEventName is the api.php name of a canonical event type (delivered -> delivery).
func LegacyEventName(canonical string) string { return storage.LegacyEventName(canonical) }

// eventName renders a canonical type for a surface: v1 names on /api/v1, legacy on api.php.
func eventName(req *dispatcher.Request, canonical string) string {
	if req.Meta.Surface == "v1" {
		return canonical
	}
	return LegacyEventName(canonical)
}

func (a *App) registerWebhooks(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{
		Name: "emailgateway.addwebhook", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params: []dispatcher.Param{
			{Name: "DomainID", Type: dispatcher.Int, Required: true, Code: 1},
			{Name: "Event", Required: true, Code: 2},
			{Name: "WebhookURL", Required: true, Code: 5},
		},
		Handler: a.addWebhook,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.getwebhooks", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params:  []dispatcher.Param{{Name: "DomainID", Type: dispatcher.Int, Required: true, Code: 1}},
		Handler: a.getWebhooks,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.deletewebhook", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params: []dispatcher.Param{
			{Name: "WebhookID", Type: dispatcher.Int, Required: true, Code: 1},
			{Name: "DomainID", Type: dispatcher.Int, Required: true, Code: 2},
		},
		Handler: a.deleteWebhook,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.regeneratesigningkey", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params:  []dispatcher.Param{{Name: "DomainID", Type: dispatcher.Int, Required: true, Code: 1}},
		Handler: a.regenerateSigningKey,
	})
	// gatewayd's own, for the console (docs/console.md).
	r.Register(&dispatcher.Command{
		Name: "emailgateway.webhookdeliveries", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params:  []dispatcher.Param{{Name: "DomainID", Type: dispatcher.Int, Required: true, Code: 1}},
		Handler: a.webhookDeliveries,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.testwebhook", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params: []dispatcher.Param{
			{Name: "WebhookID", Type: dispatcher.Int, Required: true, Code: 1},
			{Name: "DomainID", Type: dispatcher.Int, Required: true, Code: 2},
		},
		Handler: a.testWebhook,
	})

	// The v1 routes (/api/v1/webhooks), also reachable on api.php with SenderAPIKey.
	v1 := func(c *dispatcher.Command) *dispatcher.Command {
		c.Auth = dispatcher.AuthSender
		c.RateLimited, c.RateGroup = true, "webhooks"
		c.AuthMissing = dispatcher.Fail(dispatcher.KindAuth, 1, "Missing SenderAPIKey")
		c.AuthInvalid = dispatcher.Fail(dispatcher.KindAuth, 13, "Invalid SenderAPIKey")
		return c
	}
	r.Register(v1(&dispatcher.Command{
		Name: "emailgateway.createwebhook",
		Params: []dispatcher.Param{
			{Name: "Event", Required: true, Code: 2, Message: "Event is missing"},
			{Name: "WebhookURL", Required: true, Code: 5, Message: "WebhookURL is missing"},
		},
		Handler: a.createWebhook,
	}))
	r.Register(v1(&dispatcher.Command{Name: "emailgateway.listwebhooks", Handler: a.listWebhooks}))
	r.Register(v1(&dispatcher.Command{
		Name:    "emailgateway.removewebhook",
		Params:  []dispatcher.Param{{Name: "WebhookID", Type: dispatcher.Any, Required: true, Code: 1, Message: "WebhookID is missing"}},
		Handler: a.removeWebhook,
	}))
}

// webhookIssues checks an event name (a type webhooks can be registered for) and a URL (the
// SSRF policy), returning the canonical type and an issue for each problem: eventCode/eventMsg
// for the event, urlCode for the URL (api.php: 3 and 6; the v1 route: 3 for both).
func (a *App) webhookIssues(ctx context.Context, event, url string, eventCode int, eventMsg string, urlCode int) (string, []dispatcher.Issue) {
	var issues []dispatcher.Issue
	canon, ok := EventType(event)
	if !ok || !storage.WebhookEvents[canon] {
		issues = append(issues, dispatcher.Field("Event", eventCode, eventMsg))
	}
	pol := netpolicy.Policy{AllowPrivate: a.Cfg.WebhookAllowPrivate, LookupHost: a.Resolver.LookupHost}
	if err := pol.ValidateURL(ctx, strings.TrimSpace(url)); err != nil {
		reason := "invalid URL"
		var ue *netpolicy.Error
		if errors.As(err, &ue) {
			reason = ue.Reason
		}
		issues = append(issues, dispatcher.Field("WebhookURL", urlCode, "Invalid webhook URL: "+reason))
	}
	return canon, issues
}

func webhookList(req *dispatcher.Request, ws []storage.Webhook) []map[string]any {
	out := make([]map[string]any, 0, len(ws))
	for _, w := range ws {
		out = append(out, map[string]any{"WebhookID": w.ID, "Event": eventName(req, w.Event), "WebhookURL": w.URL})
	}
	return out
}

// addWebhook registers a URL for one event of a domain. Codes: 1 DomainID, 2 Event, 5
// WebhookURL missing (together); 3 invalid event type and 6 invalid or refused URL (together);
// 4 domain not found or access denied. The same URL for the same event answers the existing ID.
func (a *App) addWebhook(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	url := strings.TrimSpace(p.String("WebhookURL"))
	canon, issues := a.webhookIssues(ctx, p.String("Event"), url, 3, "Invalid event type", 6)
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	d, err := a.ownDomain(ctx, req, p.Int("DomainID"), 4)
	if err != nil {
		return nil, err
	}
	w := &storage.Webhook{DomainID: d.ID, UserID: d.UserID, Event: canon, URL: url}
	if _, err := a.DB.CreateWebhook(ctx, w); err != nil {
		return nil, err
	}
	return map[string]any{"NewWebhookID": w.ID}, nil
}

// getWebhooks lists a domain's webhooks with its whsec_ signing key.
// Codes: 1 DomainID missing, 2 domain not found or access denied.
func (a *App) getWebhooks(ctx context.Context, req *dispatcher.Request) (any, error) {
	d, err := a.ownDomain(ctx, req, req.Params.Int("DomainID"), 2)
	if err != nil {
		return nil, err
	}
	key, err := a.signingKey(d)
	if err != nil {
		return nil, err
	}
	ws, err := a.DB.Webhooks(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"SigningKey": key, "Webhooks": webhookList(req, ws)}, nil
}

// deleteWebhook removes a webhook. Codes: 1 WebhookID, 2 DomainID missing (together); 3 domain
// not found or access denied; 4 webhook not found (or not this domain's).
func (a *App) deleteWebhook(ctx context.Context, req *dispatcher.Request) (any, error) {
	d, err := a.ownDomain(ctx, req, req.Params.Int("DomainID"), 3)
	if err != nil {
		return nil, err
	}
	err = a.DB.DeleteWebhook(ctx, d.ID, req.Params.Int("WebhookID"))
	if isNotFound(err) {
		return nil, dispatcher.NotFound(4, "Webhook not found or access denied")
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

// regenerateSigningKey replaces a domain's whsec_ key; deliveries signed from now on use the
// new key. Codes: 1 DomainID missing, 2 domain not found or access denied.
func (a *App) regenerateSigningKey(ctx context.Context, req *dispatcher.Request) (any, error) {
	d, err := a.ownDomain(ctx, req, req.Params.Int("DomainID"), 2)
	if err != nil {
		return nil, err
	}
	key, err := webhooks.NewSecret()
	if err != nil {
		return nil, err
	}
	sealed, err := a.Keys.Encrypt([]byte(key))
	if err != nil {
		return nil, err
	}
	if err := a.DB.SetDomainSigningKey(ctx, d.ID, sealed); err != nil {
		return nil, err
	}
	return map[string]any{"DomainID": d.ID, "SigningKey": key}, nil
}

// senderDomain is the domain of the calling sender key, when its owner's account is usable;
// otherwise code 2 "Invalid user account", as the v1 webhook routes document.
func (a *App) senderDomain(ctx context.Context, req *dispatcher.Request) (*storage.SenderDomain, error) {
	invalid := dispatcher.Fail(dispatcher.KindForbidden, 2, "Invalid user account")
	u, err := a.userOf(ctx, req.Principal)
	if isNotFound(err) || (err == nil && u.AccountStatus != StatusEnabled) {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	d, err := a.DB.DomainByID(ctx, req.Principal.DomainID, u.ID)
	if isNotFound(err) {
		return nil, invalid
	}
	return d, err
}

// createWebhook is POST /api/v1/webhooks. Codes: 1 SenderAPIKey missing, 2 Event missing (or,
// as on the sibling routes, the key's account is disabled), 3 invalid event type or invalid
// or refused URL, 5 WebhookURL missing, 13 invalid SenderAPIKey, 429 rate limited.
func (a *App) createWebhook(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	url := strings.TrimSpace(p.String("WebhookURL"))
	canon, issues := a.webhookIssues(ctx, p.String("Event"), url, 3, "Invalid Event value", 3)
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	d, err := a.senderDomain(ctx, req)
	if err != nil {
		return nil, err
	}
	w := &storage.Webhook{DomainID: d.ID, UserID: d.UserID, Event: canon, URL: url}
	if _, err := a.DB.CreateWebhook(ctx, w); err != nil {
		return nil, err
	}
	return map[string]any{"NewWebhookID": w.ID}, nil
}

// listWebhooks is GET /api/v1/webhooks: the key's domain's webhooks.
// Codes: 1 SenderAPIKey missing, 2 invalid user account, 13 invalid SenderAPIKey, 429.
func (a *App) listWebhooks(ctx context.Context, req *dispatcher.Request) (any, error) {
	d, err := a.senderDomain(ctx, req)
	if err != nil {
		return nil, err
	}
	ws, err := a.DB.Webhooks(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Webhooks": webhookList(req, ws)}, nil
}

// removeWebhook is DELETE /api/v1/webhooks. Codes: 1 WebhookID missing, 2 invalid user account,
// 4 invalid WebhookID (not a number, unknown, or another domain's), 13 invalid SenderAPIKey, 429.
func (a *App) removeWebhook(ctx context.Context, req *dispatcher.Request) (any, error) {
	d, err := a.senderDomain(ctx, req)
	if err != nil {
		return nil, err
	}
	invalid := dispatcher.NotFound(4, "Invalid WebhookID")
	id, ok := req.Params.IntOK("WebhookID")
	if !ok {
		return nil, invalid
	}
	err = a.DB.DeleteWebhook(ctx, d.ID, id)
	if isNotFound(err) {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

// webhookDeliveries lists a domain's 50 latest webhook deliveries, newest first: the event
// type, the URL, the state (pending, delivered, failed, dropped), the attempts, the receiver's
// last HTTP status (0: no answer) and error. Codes: 1 DomainID missing, 2 domain not found or
// access denied.
func (a *App) webhookDeliveries(ctx context.Context, req *dispatcher.Request) (any, error) {
	d, err := a.ownDomain(ctx, req, req.Params.Int("DomainID"), 2)
	if err != nil {
		return nil, err
	}
	rows, err := a.DB.OutboxByDomain(ctx, d.ID, 200)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, o := range rows {
		if o.Kind != storage.OutboxWebhook || len(out) == 50 {
			continue
		}
		var p storage.WebhookPayload
		json.Unmarshal([]byte(o.Payload), &p)
		out = append(out, map[string]any{"DeliveryID": o.ID, "WebhookID": o.WebhookID, "Event": eventName(req, p.Event),
			"URL": o.URL, "State": o.State, "Attempts": o.Attempts, "StatusCode": o.LastStatus, "Error": o.LastError,
			"Test": p.Test, "CreatedAt": o.CreatedAt, "UpdatedAt": o.UpdatedAt})
	}
	return map[string]any{"Deliveries": out}, nil
}

// testWebhook queues a test event to one webhook of the domain: its event type, "test": true,
// signed with the domain's key like any delivery, seen in webhookdeliveries. Codes: 1
// WebhookID, 2 DomainID missing (together); 3 domain not found or access denied; 4 webhook not
// found (or not this domain's).
func (a *App) testWebhook(ctx context.Context, req *dispatcher.Request) (any, error) {
	d, err := a.ownDomain(ctx, req, req.Params.Int("DomainID"), 3)
	if err != nil {
		return nil, err
	}
	w, err := a.DB.WebhookByID(ctx, d.ID, req.Params.Int("WebhookID"))
	if isNotFound(err) {
		return nil, dispatcher.NotFound(4, "Webhook not found or access denied")
	}
	if err != nil {
		return nil, err
	}
	if err := a.DB.EnqueueWebhookTest(ctx, w); err != nil {
		return nil, err
	}
	if a.Enqueued != nil {
		a.Enqueued()
	}
	return map[string]any{"WebhookID": w.ID, "Event": eventName(req, w.Event)}, nil
}
