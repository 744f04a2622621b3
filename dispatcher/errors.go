package dispatcher

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Kind classifies an error so each surface can pick its own status and code.
type Kind uint8

const (
	KindInvalid       Kind = iota // bad or missing parameters
	KindNotFound                  // not found, or someone else's: one answer for both
	KindDenied                    // authenticated but not allowed (missing permission)
	KindAuth                      // no or bad credentials
	KindRateLimited               // too many requests
	KindForbidden                 // account state forbids it (disabled, unverified, no credit)
	KindConflict                  // the request clashes with stored state (idempotency key reuse)
	KindUnprocessable             // well-formed but could not be carried out (/status failed)
	KindInternal                  // our fault; never shows internal text
)

// Issue is one code and message, optionally tied to a field (for surfaces that list fields).
type Issue struct {
	Code    int
	Message string
	Field   string
}

// Error is what a handler returns for the client to see.
type Error struct {
	Kind   Kind
	Issues []Issue
	// List renders the api.php ErrorCode as an array ([1,2]), as the documents do for
	// parameter errors; otherwise it is the first issue's code.
	List       bool
	RetryAfter time.Duration
	// Extra fields for the api.php envelope (emailgateway.smtprelay's SMTPResponse).
	Extra map[string]any
	// Status overrides the HTTP status on surfaces that speak in statuses.
	Status int
	// StatusOnAPIPHP applies Status on api.php too, whose errors are otherwise HTTP 200 (code
	// 39 of emailgateway.sendemail, which octeth-5.9.4 answers with 502 on every surface).
	StatusOnAPIPHP bool
}

func (e *Error) Error() string {
	var parts []string
	for _, is := range e.Issues {
		parts = append(parts, fmt.Sprintf("%d: %s", is.Code, is.Message))
	}
	return "dispatcher: " + strings.Join(parts, "; ")
}

// Code is the first issue's code.
func (e *Error) Code() int {
	if len(e.Issues) == 0 {
		return 0
	}
	return e.Issues[0].Code
}

// Message joins the issues' messages.
func (e *Error) Message() string {
	var parts []string
	for _, is := range e.Issues {
		if is.Message != "" {
			parts = append(parts, is.Message)
		}
	}
	return strings.Join(parts, "; ")
}

// Fail is a single-code error: not-found, denied and state errors render as a scalar code.
func Fail(kind Kind, code int, msg string) *Error {
	return &Error{Kind: kind, Issues: []Issue{{Code: code, Message: msg}}}
}

// Invalid is a parameter error; every issue is reported at once, as an array on api.php.
func Invalid(issues ...Issue) *Error {
	return &Error{Kind: KindInvalid, Issues: issues, List: true}
}

// NotFound is the "not found or access denied" answer.
func NotFound(code int, msg string) *Error { return Fail(KindNotFound, code, msg) }

// Field returns an issue for a named field.
func Field(field string, code int, msg string) Issue {
	return Issue{Code: code, Message: msg, Field: field}
}

// The api.php authentication and permission codes.
const (
	CodeAuthFailed        = 99998
	CodePermissionMissing = 99999
)

// msgBusy is the answer when the in-flight body budget stayed full (ErrBusy).
const msgBusy = "Server busy: too many request bodies in flight; retry shortly"

var (
	// errBusy is ErrBusy for the surfaces that render an *Error: their rate-limit answer with
	// HTTP 503 where the surface speaks in statuses, and Retry-After.
	errBusy = &Error{Kind: KindRateLimited, Issues: []Issue{{Code: 429, Message: msgBusy}},
		RetryAfter: time.Second, Status: http.StatusServiceUnavailable}
	errAuthFailed = Fail(KindAuth, CodeAuthFailed, "Authentication failed")
	errPermission = Fail(KindDenied, CodePermissionMissing, "Missing permission")
	errRateLimit  = Fail(KindRateLimited, 429, "Too many requests")
	errInternal   = Fail(KindInternal, 100005, "Internal error")
)
