package dispatcher

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// The GatewayAPI codes this surface gives itself (the command gives the others, as ints
// rendered "0x%04X").
const (
	gatewayAPIBadJSON     = 0x0200 // 422: the body is not a JSON object
	gatewayAPITooLarge    = 0x0201 // 413: the body is over GATEWAY_BODY_LIMIT
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
		tree, err := DecodeRequest(r, h.BodyLimit)
		if err != nil {
			e := Fail(KindInvalid, gatewayAPIBadJSON, "Invalid JSON in the request body")
			e.Status = http.StatusUnprocessableEntity
			if errors.Is(err, ErrBodyTooLarge) {
				e = Fail(KindInvalid, gatewayAPITooLarge, "The request body is larger than the server accepts")
				e.Status = http.StatusRequestEntityTooLarge
			}
			return h.gatewayAPIError(c, m, e)
		}
		p := NewParams(tree)
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

// gatewayAPIToken finds the API token: Basic user name, Token or Bearer scheme, token param.
func gatewayAPIToken(r *http.Request, p Params) string {
	if user, _, ok := r.BasicAuth(); ok && strings.TrimSpace(user) != "" {
		return strings.TrimSpace(user)
	}
	if t := bearer(r, "Token"); t != "" {
		return t
	}
	if t := bearer(r, "Bearer"); t != "" {
		return t
	}
	return strings.TrimSpace(p.String("token"))
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
