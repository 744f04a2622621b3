package dispatcher

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
)

// BearerAs says which credential a v1 route's "Authorization: Bearer" token is.
type BearerAs uint8

const (
	BearerSender BearerAs = iota // SenderAPIKey (send, events, webhooks)
	BearerAdmin                  // AdminAPIKey (sender.domains, inbound-relay-domain-check)
)

// v1 serves an /api/v1 route: the same command as on api.php, no envelope on success, and
// {"Errors":[{"Code":N,"Message":"..."}]} at HTTP 200 on failure, as Octeth answers.
func (h *HTTP) v1(command string, as BearerAs) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		tree, err := DecodeRequest(r, h.BodyLimit)
		if err != nil {
			return h.v1DecodeFailure(c, err)
		}
		p := NewParams(tree)
		creds := credsFromParams(p)
		if tok := bearer(r, "Bearer"); tok != "" {
			switch as {
			case BearerSender:
				creds.SenderAPIKey = tok
			case BearerAdmin:
				creds.AdminAPIKey = tok
			}
		}
		res, err := h.D.Call(r.Context(), command, creds, p, meta(c, "v1"))
		if err != nil {
			return h.v1Error(c, err)
		}
		if raw, ok := res.(Raw); ok {
			return c.Blob(http.StatusOK, raw.ContentType, raw.Body)
		}
		if st, ok := res.(Status); ok {
			body, _ := marshal(st.Body)
			return c.Blob(st.Code, echo.MIMEApplicationJSON, body)
		}
		if res == nil {
			res = struct{}{}
		}
		body, err := marshal(res)
		if err != nil {
			h.Log.Error("render", "command", command, "err", err)
			return h.v1Error(c, errInternal)
		}
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
	}
}

// Status is a result that chooses its own HTTP status (inbound-relay-domain-check speaks in
// statuses).
type Status struct {
	Code int
	Body any
}

func (h *HTTP) v1Error(c echo.Context, err error) error {
	e, ok := err.(*Error)
	if !ok {
		if errors.Is(err, ErrUnknownCommand) {
			e = Fail(KindNotFound, 404, "Not found")
			e.Status = http.StatusNotFound
		} else {
			e = errInternal
		}
	}
	retryAfter(c, e)
	issues := make([]map[string]any, 0, len(e.Issues))
	for _, is := range e.Issues {
		issues = append(issues, map[string]any{"Code": is.Code, "Message": is.Message})
	}
	status := http.StatusOK
	switch {
	case e.Status != 0:
		status = e.Status
	case e.Kind == KindInternal:
		status = http.StatusInternalServerError
	}
	body, _ := marshal(map[string]any{"Errors": issues})
	return c.Blob(status, echo.MIMEApplicationJSON, body)
}

func (h *HTTP) v1DecodeFailure(c echo.Context, err error) error {
	e := Fail(KindInvalid, CodeBadJSON, "Invalid request body")
	e.Status = http.StatusBadRequest
	if errors.Is(err, ErrBodyTooLarge) {
		e = Fail(KindInvalid, CodeBadJSON, "Request body is larger than the server accepts")
		e.Status = http.StatusRequestEntityTooLarge
	}
	return h.v1Error(c, e)
}
