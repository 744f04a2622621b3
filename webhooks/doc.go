// Package webhooks owns webhook and callback delivery: the Dispatcher and
// Standard Webhooks signing and verification. Which destinations may be
// called (checked when a URL is registered and again when a connection is
// made) and the HTTP client are the shared outbound policy, internal/netpolicy.
//
// It is a top-level folder rather than a part of commands/ or relay/ because
// webhook and callback delivery is shared: the Octeth webhooks
// (emailgateway.createwebhook, /api/v1/webhooks) and the GatewayAPI status
// callbacks (callback_url on /rest/email) both go through it, and one place
// must own the signing so the surfaces cannot drift apart.
//
// It must not read configuration or the database, or decide what a client
// sees: callers pass a client built from a netpolicy.Policy
// (GATEWAY_WEBHOOK_ALLOW_PRIVATE), own the outbox, and map *netpolicy.Error to
// their own envelope. The Dispatcher
// (dispatcher.go) is the delivery loop: it claims, retries and records
// deliveries only through the Store interface the caller implements over
// its outbox, so it never sees SQL.
package webhooks
