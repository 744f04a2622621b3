// Package netpolicy is the one outbound address policy of gatewayd: which
// destinations a connection may go to when a tenant names the host (webhook
// and callback URLs, SMTP gateways and providers, a bound gateway) or a
// recipient domain's DNS does (direct-to-MX delivery). It checks a host when
// it is registered (ValidateURL, CheckHost) and again at connect time, on the
// exact address dialled (Control, used by HTTPClient and by relay/outbound),
// so DNS rebinding fails too.
//
// It reads no configuration: callers build a Policy from
// GATEWAY_WEBHOOK_ALLOW_PRIVATE, GATEWAY_UPSTREAM_ALLOW_PRIVATE or
// GATEWAY_MX_ALLOW_LOCAL and map *Error to their surface's field error. The
// operator's own routes (GATEWAY_DEFAULT_RELAY, platform gateways) do not go
// through it.
package netpolicy
