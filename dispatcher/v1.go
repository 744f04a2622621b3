package dispatcher

import (
	"cmp"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
)

// BearerAs says which credential a v1 route's "Authorization: Bearer" token is.
type BearerAs uint8

const (
	BearerSender BearerAs = iota // SenderAPIKey (send, events, webhooks)
	BearerAdmin                  // AdminAPIKey (sender.domains, inbound-relay-domain-check)
	BearerUser                   // a user's APIKey (subscriber.create, subscribers.import/export)
)

// v1 serves an /api/v1 route: the same command as on api.php, no envelope on success, and
// {"Errors":[{"Code":N,"Message":"..."}]} at HTTP 200 on failure, as Octeth answers.
func (h *HTTP) v1(command string, as BearerAs) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		var fromHeader *Credentials
		if tok := bearer(r, "Bearer"); tok != "" {
			// A Bearer token replaces the parameter of its kind, so it decides alone.
			fromHeader = &Credentials{}
			switch as {
			case BearerSender:
				fromHeader.SenderAPIKey = tok
			case BearerAdmin:
				fromHeader.AdminAPIKey = tok
			case BearerUser:
				fromHeader.APIKey = tok
			}
		}
		p, release, err := h.readParams(c, command, fromHeader)
		defer release()
		if err != nil {
			return h.v1Error(c, v1Refusal.error(err))
		}
		creds := credsFromParams(p)
		if fromHeader != nil {
			creds.SenderAPIKey = cmp.Or(fromHeader.SenderAPIKey, creds.SenderAPIKey)
			creds.AdminAPIKey = cmp.Or(fromHeader.AdminAPIKey, creds.AdminAPIKey)
			creds.APIKey = cmp.Or(fromHeader.APIKey, creds.APIKey)
		}
		res, err := h.D.Call(r.Context(), command, creds, p, meta(c, "v1"))
		if err != nil {
			return h.v1Error(c, err)
		}
		if raw, ok := res.(Raw); ok {
			raw.writeHeader(c.Response().Header())
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
	out := map[string]any{"Errors": issues}
	for k, v := range e.Extra {
		if k != "Errors" {
			out[k] = v
		}
	}
	body, _ := marshal(out)
	return c.Blob(status, echo.MIMEApplicationJSON, body)
}

// v1Refusal words readParams' refusals: Errors [{Code:100000}] with 413 over the body cap,
// 400 over a decoding limit or unparsable; the budget full 503 with Code 429.
var v1Refusal = refusal{
	tooLarge:  Issue{Code: CodeBadJSON, Message: "Request body is larger than the server accepts"},
	overLimit: Issue{Code: CodeBadJSON, Message: "Invalid request body: "},
	bad:       Issue{Code: CodeBadJSON, Message: "Invalid request body"},
}
