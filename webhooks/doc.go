// Package webhooks owns the rules for calling out to customer URLs: which
// destinations may be called (the SSRF policy, checked when a URL is
// registered and again when a connection is made), the HTTP client used for
// deliveries, and Standard Webhooks signing and verification.
//
// It is a top-level folder rather than a part of commands/ or relay/ because
// webhook and callback delivery is shared: the Octeth webhooks
// (emailgateway.createwebhook, /api/v1/webhooks) and the GatewayAPI status
// callbacks (callback_url on /rest/email) both go through it, and one place
// must own the SSRF policy and the signing so the surfaces cannot drift apart.
//
// It must not read configuration or the database, or decide what a client
// sees: callers pass a Policy built from GATEWAY_WEBHOOK_ALLOW_PRIVATE, own
// the outbox, and map *URLError to their own envelope. The Dispatcher
// (dispatcher.go) is the delivery loop: it claims, retries and records
// deliveries only through the Store interface the caller implements over
// its outbox, so it never sees SQL.
package webhooks
