package dispatcher

import (
	"errors"
	"net/http"
	"regexp"

	"github.com/labstack/echo/v4"
)

// Navixy status codes (the panel API's general error table).
const (
	NavixyUnexpected      = 6
	NavixyWrongHash       = 3
	NavixySessionEnded    = 4
	NavixyWrongFormat     = 5
	NavixyInvalidParams   = 7
	NavixyAccessDenied    = 11
	NavixyDealerNotFound  = 12
	NavixyNotPermitted    = 13
	NavixyTooManyRequests = 15
	NavixyEntityExists    = 247
	NavixyNotSupported    = 214
	NavixyEntityNotFound  = 204
)

var navixyDescriptions = map[int]string{
	NavixyUnexpected:      "Unexpected error",
	NavixyWrongHash:       "Wrong user hash",
	NavixySessionEnded:    "User or API key not found or session ended",
	NavixyWrongFormat:     "Wrong request format",
	NavixyInvalidParams:   "Invalid parameters",
	NavixyAccessDenied:    "Access denied",
	NavixyDealerNotFound:  "Dealer not found",
	NavixyNotPermitted:    "Operation not permitted",
	NavixyTooManyRequests: "Too many requests (rate limit exceeded)",
	NavixyEntityExists:    "Entity already exists",
	NavixyNotSupported:    "Requested operation or parameters are not supported",
	NavixyEntityNotFound:  "Entity not found",
}

// A Navixy session hash is 32 hexadecimal characters; anything else is "wrong hash" (3).
var navixyHashRE = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)

// navixy serves a Navixy panel route (GET or POST; /v2 prefix or none). The session hash comes
// from "Authorization: NVX <hash>", else a hash field of the body or query; handlers see it as
// the hash parameter. Success is {"success":true,...fields}; errors are
// {"success":false,"status":{"code":N,"description":"..."}} with Navixy's HTTP statuses.
func (h *HTTP) navixy(command string) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		hash := bearer(r, "NVX")
		var fromHeader *Credentials
		if hash != "" {
			fromHeader = &Credentials{SessionID: hash}
		}
		p, release, err := h.readParams(c, command, fromHeader)
		defer release()
		if err != nil {
			var e *Error
			var bj *BadJSONError
			var le *LimitError
			switch {
			case errors.As(err, &e):
				return h.navixyError(c, command, e, hash)
			case errors.Is(err, ErrBusy):
				return h.navixyError(c, command, errBusy, hash)
			case !errors.Is(err, ErrBodyTooLarge) && !errors.As(err, &bj) && !errors.As(err, &le):
				h.Log.Warn("navixy: decode request", "err", err)
			}
			return navixyFail(c, NavixyWrongFormat, nil)
		}
		if hash != "" {
			p.Set("hash", hash)
		} else {
			hash = p.String("hash")
		}
		res, err := h.D.Call(r.Context(), command, Credentials{SessionID: hash}, p, meta(c, "navixy"))
		if err != nil {
			return h.navixyError(c, command, err, hash)
		}
		body, err := marshal(res)
		if err != nil {
			h.Log.Error("render", "command", command, "err", err)
			return navixyFail(c, NavixyUnexpected, nil)
		}
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, withEnvelope([]byte(`{"success":true`), body))
	}
}

// navixyError maps a command's error onto Navixy's codes: invalid 7 (with the parameters),
// not found 204, denied 11, forbidden 13, rate limited 15, authentication 3 (no or malformed
// hash) or 4 (unknown or expired session) unless the command chose 12, internal 6.
func (h *HTTP) navixyError(c echo.Context, command string, err error, hash string) error {
	e, ok := err.(*Error)
	if !ok {
		h.Log.Error("navixy", "command", command, "err", err)
		return navixyFail(c, NavixyUnexpected, nil)
	}
	switch e.Kind {
	case KindInvalid:
		list := []navixyParamError{}
		for _, is := range e.Issues {
			list = append(list, navixyParamError{Parameter: is.Field, Error: is.Message})
		}
		return navixyFail(c, NavixyInvalidParams, list)
	case KindNotFound:
		return navixyFail(c, NavixyEntityNotFound, nil)
	case KindDenied:
		return navixyFail(c, NavixyAccessDenied, nil)
	case KindForbidden:
		return navixyFail(c, NavixyNotPermitted, nil)
	case KindRateLimited:
		retryAfter(c, e)
		return navixyFail(c, NavixyTooManyRequests, nil)
	case KindConflict:
		return navixyFail(c, NavixyEntityExists, nil)
	case KindUnprocessable:
		return navixyFail(c, NavixyNotSupported, nil)
	case KindAuth:
		switch {
		case e.Code() == NavixyDealerNotFound:
			return navixyFail(c, NavixyDealerNotFound, nil)
		case !navixyHashRE.MatchString(hash):
			return navixyFail(c, NavixyWrongHash, nil)
		}
		return navixyFail(c, NavixySessionEnded, nil)
	}
	return navixyFail(c, NavixyUnexpected, nil)
}

// navixyStatus is the HTTP status of a Navixy code: 400 unless the table says otherwise.
func navixyStatus(code int) int {
	switch code {
	case NavixyAccessDenied, NavixyNotPermitted:
		return http.StatusForbidden
	case NavixyTooManyRequests:
		return http.StatusTooManyRequests
	case NavixyEntityNotFound:
		return http.StatusNotFound
	case 1, NavixyUnexpected:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// navixyParamError is one entry of the errors list of code 7.
type navixyParamError struct {
	Parameter string `json:"parameter"`
	Error     string `json:"error"`
}

func navixyFail(c echo.Context, code int, paramErrors []navixyParamError) error {
	status, _ := marshal(map[string]any{"code": code, "description": navixyDescriptions[code]})
	b := append([]byte(`{"success":false,"status":`), status...)
	if paramErrors != nil {
		list, _ := marshal(paramErrors)
		b = append(append(b, `,"errors":`...), list...)
	}
	return c.Blob(navixyStatus(code), echo.MIMEApplicationJSON, append(b, '}'))
}
