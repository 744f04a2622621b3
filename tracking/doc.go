// Package tracking owns open, click and unsubscribe tracking: the signed
// tokens that identify a recipient in a tracking URL, the rewriting of an
// HTML body for one recipient (click-tracked links and the open pixel), the
// unsubscribe URL, the 1x1 pixel served for opens, and the heuristics that
// tell mail scanners and prefetchers from people.
//
// It is a top-level folder rather than a part of relay/ or commands/ because
// tracking lives on both sides of the mail path: it is a transformation of
// the message at send time (relay) and a set of public, unauthenticated HTTP
// endpoints (/t/o/, /t/c/, /t/u/) hit by recipients long after delivery.
// Both sides must agree on one token format and one rewriting rule, so both
// live here.
//
// The package is pure: it runs no SQL and serves no HTTP. The callers store
// the URLs Rewrite returns with the recipient row and, on a click, redirect
// to the stored URL chosen by the token's link index, never to a URL taken
// from the request, so the click endpoint cannot be used as an open redirect.
package tracking
