// Package bounce owns the VERP return path and the parsing of what comes back
// to it: delivery status notifications (RFC 3464) and abuse feedback reports
// (ARF, RFC 5965).
//
// Every outgoing message (one per recipient row) carries the envelope sender
// bounce+<token>@<return-path domain>, where the token encodes the recipient
// row id and a truncated HMAC under a server key. ParseVERP turns the address
// a bounce was sent to back into that id, so a bounce is tied to its recipient
// even when its body is useless. Parse reads a returned message and classifies
// it as a bounce, a delay, a complaint or unknown.
//
// The package is pure: it does no network or file I/O, touches no database
// and decides nothing about suppression or events; its callers do that.
package bounce
