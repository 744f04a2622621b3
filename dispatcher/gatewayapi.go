package dispatcher

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// The GatewayAPI codes this surface gives itself (the command gives the others, as ints
// rendered "0x%04X").
const (
	gatewayAPIBadJSON     = 0x0200 // 422: the body is not a JSON object
	gatewayAPITooLarge    = 0x0201 // 413: the body is over GATEWAY_BODY_LIMIT
	gatewayAPIOverLimit   = 0x0202 // 400: the body is over a decoding limit (nesting, variables, values)
	gatewayAPIBusy        = 0x0503 // 503: the in-flight body budget stayed full
	gatewayAPIRateLimited = 0x0429 // 429
	gatewayAPIInternal    = 0x0500 // 500
)

// gatewayAPI serves GatewayAPI's POST /rest/email: a JSON body; the token as the user name of
// HTTP Basic authentication (any password), "Authorization: Token <t>" (or Bearer), or a
// token parameter; the command's answer as it is with 200; errors as
// {"code":"0x0222","incident_uuid":"<uuid>","message":"...","variables":[...]} with 400, 401,
// 403, 409, 413, 422, 429 or 500.
func (h *HTTP) gatewayAPI(command string) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		m := meta(c, "gatewayapi")
		var fromHeader *Credentials
		if tok := gatewayAPIHeaderToken(r); tok != "" {
			fromHeader = &Credentials{SenderAPIKey: tok}
		}
		p, release, err := h.readParams(c, command, fromHeader)
		defer release()
		if err != nil {
			return h.gatewayAPIError(c, m, gatewayAPIRefusal.error(err))
		}
		res, err := h.D.Call(r.Context(), command, Credentials{SenderAPIKey: gatewayAPIToken(r, p)}, p, m)
		if err != nil {
			return h.gatewayAPIError(c, m, err)
		}
		body, err := marshal(res)
		if err != nil {
			h.Log.Error("render", "command", command, "err", err)
			return h.gatewayAPIError(c, m, errInternal)
		}
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
	}
}

// gatewayAPIRefusal words readParams' refusals: 413 0x0201 over the cap, 400 0x0202 over a
// decoding limit, 422 0x0200 unparsable, 503 0x0503 when the budget stayed full.
var gatewayAPIRefusal = refusal{
	tooLarge:  Issue{Code: gatewayAPITooLarge, Message: "The request body is larger than the server accepts"},
	overLimit: Issue{Code: gatewayAPIOverLimit, Message: "The request body is over a decoding limit: "},
	bad:       Issue{Code: gatewayAPIBadJSON, Message: "Invalid JSON in the request body"},
	badStatus: http.StatusUnprocessableEntity,
	busy: &Error{Kind: KindInvalid, Issues: []Issue{{Code: gatewayAPIBusy, Message: msgBusy}},
		Status: http.StatusServiceUnavailable, RetryAfter: time.Second},
}

// gatewayAPIToken finds the API token: Basic user name, Token or Bearer scheme, token param.
func gatewayAPIToken(r *http.Request, p Params) string {
	if t := gatewayAPIHeaderToken(r); t != "" {
		return t
	}
	return strings.TrimSpace(p.String("token"))
}

// gatewayAPIHeaderToken is the token of the Authorization header, which wins over a token
// parameter.
func gatewayAPIHeaderToken(r *http.Request) string {
	if user, _, ok := r.BasicAuth(); ok && strings.TrimSpace(user) != "" {
		return strings.TrimSpace(user)
	}
	if t := bearer(r, "Token"); t != "" {
		return t
	}
	return bearer(r, "Bearer")
}

func (h *HTTP) gatewayAPIError(c echo.Context, m Meta, err error) error {
	e, ok := err.(*Error)
	if !ok {
		e = errInternal
	}
	retryAfter(c, e)
	code := e.Code()
	status := e.Status
	switch e.Kind {
	case KindInvalid, KindNotFound:
		if status == 0 {
			status = http.StatusBadRequest
		}
	case KindAuth:
		status = http.StatusUnauthorized
	case KindDenied, KindForbidden:
		status = http.StatusForbidden
	case KindConflict:
		status = http.StatusConflict
	case KindUnprocessable:
		status = http.StatusUnprocessableEntity
	case KindRateLimited:
		status, code = http.StatusTooManyRequests, gatewayAPIRateLimited
	default:
		status, code = http.StatusInternalServerError, gatewayAPIInternal
	}
	vars, _ := e.Extra["variables"].([]string)
	if vars == nil {
		vars = []string{}
	}
	msg := "Internal error"
	if len(e.Issues) > 0 && status != http.StatusInternalServerError {
		msg = e.Issues[0].Message
	}
	if status >= 500 {
		h.Log.Warn("gatewayapi error", "incident_uuid", m.RequestID, "code", code)
	} else {
		h.Log.Debug("gatewayapi refused", "incident_uuid", m.RequestID, "code", code, "message", msg)
	}
	body, _ := marshal(map[string]any{
		"code":          fmt.Sprintf("0x%04X", code),
		"incident_uuid": m.RequestID,
		"message":       msg,
		"variables":     vars,
	})
	return c.Blob(status, echo.MIMEApplicationJSON, body)
}
