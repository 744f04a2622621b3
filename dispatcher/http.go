package dispatcher

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// HTTP serves every surface. Routes lists them all in one place.
type HTTP struct {
	D *Dispatcher
	// BodyLimit caps the bodies of commands that take content (Command.LargeBody);
	// SmallBodyLimit every other body.
	BodyLimit, SmallBodyLimit int64
	// Limits bound decoding (nesting, form variables, values).
	Limits Limits
	// Inflight is the server-wide budget of body bytes and decoded parameters in flight; a
	// request waits up to InflightWait for its share (nil: no budget).
	Inflight     *Inflight
	InflightWait time.Duration
	Log          *slog.Logger
	// Health reports whether the server can take work (database reachable).
	Health func(ctx context.Context) error
	// Extra registers routes owned by other packages (tracking pages, metrics).
	Extra []func(e *echo.Echo)
}

// Echo builds the HTTP handler.
func (h *HTTP) Echo() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = h.fallbackError
	h.Routes(e)
	for _, f := range h.Extra {
		f(e)
	}
	return e
}

// fallbackError answers what no surface handled (unknown paths, methods) in JSON, never HTML.
func (h *HTTP) fallbackError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code := http.StatusInternalServerError
	msg := "Internal error"
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
		msg = http.StatusText(code)
	} else {
		h.Log.Error("http", "path", c.Request().URL.Path, "err", err)
	}
	c.JSON(code, map[string]any{"Errors": []map[string]any{{"Code": code, "Message": msg}}})
}

// meta collects what a surface knows about a call.
func meta(c echo.Context, surface string) Meta {
	r := c.Request()
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	return Meta{Surface: surface, RemoteIP: ip, Header: r.Header, Received: time.Now(), RequestID: uuid.NewString()}
}

// bearer returns the token of "Authorization: <scheme> <token>" when the scheme matches.
func bearer(r *http.Request, scheme string) string {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if len(h) > len(scheme) && strings.EqualFold(h[:len(scheme)], scheme) && h[len(scheme)] == ' ' {
		return strings.TrimSpace(h[len(scheme)+1:])
	}
	return ""
}

// credsFromParams reads the credential parameters every surface accepts, and removes nothing:
// handlers never look at them.
func credsFromParams(p Params) Credentials {
	return Credentials{
		SessionID:    p.String("SessionID"),
		APIKey:       p.String("APIKey"),
		AdminAPIKey:  p.String("AdminAPIKey"),
		SenderAPIKey: p.String("SenderAPIKey"),
	}
}

func retryAfter(c echo.Context, e *Error) {
	if e.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds())))
	}
}

func (h *HTTP) healthz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	defer cancel()
	if h.Health != nil {
		if err := h.Health(ctx); err != nil {
			h.Log.Warn("health check failed", "err", err)
			return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "unavailable"})
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "ok"})
}
