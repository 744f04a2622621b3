package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"gatewayd/dispatcher"
)

const (
	cookieSession = "gw_console"
	cookieLogin   = "gw_console_login" // the login form's CSRF token, before any session exists
	fieldCSRF     = "csrf"
)

// csp allows nothing inline: scripts, styles and images come from /console/static only.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// headers sets the security headers of every console response.
func (c *Console) headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		h := ec.Response().Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(ec.Request().URL.Path, "/console/static/") {
			h.Set("Cache-Control", "no-store")
		}
		return next(ec)
	}
}

// session is a logged-in browser: the API SessionID it holds and whose it is. An operator
// who opened a tenant's console (user.switch) holds the tenant's session in ID and keeps
// their own admin session in Return, to go back to.
type session struct {
	ID       string
	Operator bool
	Return   string
}

func (s *session) creds() dispatcher.Credentials { return dispatcher.Credentials{SessionID: s.ID} }

// csrf is the session's CSRF token: an HMAC keyed by the (secret) session id, so it needs no
// storage and cannot be made without the cookie's value.
func (s *session) csrf() string {
	m := hmac.New(sha256.New, []byte(s.ID))
	m.Write([]byte("gatewayd console csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func setCookie(ec echo.Context, name, value string, maxAge int) {
	ec.SetCookie(&http.Cookie{Name: name, Value: value, Path: "/console/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: secure(ec.Request()), MaxAge: maxAge})
}

func readSession(r *http.Request) *session {
	ck, err := r.Cookie(cookieSession)
	if err != nil {
		return nil
	}
	kind, id, ok := strings.Cut(ck.Value, ".")
	if !ok || id == "" || (kind != "u" && kind != "a" && kind != "i") {
		return nil
	}
	if kind == "i" { // i.<tenant session>.<admin session>
		id, ret, ok := strings.Cut(id, ".")
		if !ok || id == "" || ret == "" {
			return nil
		}
		return &session{ID: id, Return: ret}
	}
	return &session{ID: id, Operator: kind == "a"}
}

// sameOrigin refuses a state-changing request whose Origin (or, without it, Referer) names
// another origin than the one it was sent to.
func sameOrigin(r *http.Request) bool {
	src := r.Header.Get("Origin")
	if src == "" || src == "null" {
		if src == "null" {
			return false
		}
		src = r.Header.Get("Referer")
		if src == "" {
			return true // not sent by a browser that tells; the token still decides
		}
	}
	u, err := url.Parse(src)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// checkPost verifies a POST's origin and token.
func checkPost(r *http.Request, want string) bool {
	if !sameOrigin(r) {
		return false
	}
	got := r.PostFormValue(fieldCSRF)
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

type handler func(ec echo.Context, s *session) error

// guard authenticates the browser and checks a POST's CSRF token; which principal may do what
// is left to the commands the handler calls.
func (c *Console) guard(operator *bool, h handler) echo.HandlerFunc {
	return func(ec echo.Context) error {
		s := readSession(ec.Request())
		if s == nil || (operator != nil && s.Operator != *operator) {
			if s != nil && operator != nil {
				if s.Operator {
					return ec.Redirect(http.StatusFound, "/console/admin")
				}
				return ec.Redirect(http.StatusFound, "/console/")
			}
			return ec.Redirect(http.StatusFound, "/console/login")
		}
		if ec.Request().Method == http.MethodPost && !checkPost(ec.Request(), s.csrf()) {
			return c.forbidden(ec, s)
		}
		return h(ec, s)
	}
}

var yes, no = true, false

func (c *Console) tenant(h handler) echo.HandlerFunc   { return c.guard(&no, h) }
func (c *Console) operator(h handler) echo.HandlerFunc { return c.guard(&yes, h) }
func (c *Console) any(h handler) echo.HandlerFunc      { return c.guard(nil, h) }

// call runs a command as the session's principal and decodes its result into dst (may be nil).
func (c *Console) call(ec echo.Context, creds dispatcher.Credentials, name string, params map[string]any, dst any) *dispatcher.Error {
	r := ec.Request()
	ip := clientIP(r)
	// Values travel as a form would carry them: numbers as strings.
	tree := make(map[string]any, len(params))
	for k, v := range params {
		switch n := v.(type) {
		case int:
			tree[k] = strconv.Itoa(n)
		case int64:
			tree[k] = strconv.FormatInt(n, 10)
		default:
			tree[k] = v
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	res, err := c.D.Call(ctx, name, creds, dispatcher.NewParams(tree),
		dispatcher.Meta{Surface: "console", RemoteIP: ip, Header: r.Header, Received: time.Now()})
	if err != nil {
		var de *dispatcher.Error
		if errors.As(err, &de) {
			return de
		}
		c.Log.Error("console call", "command", name, "err", err)
		return dispatcher.Fail(dispatcher.KindInternal, 100005, "Internal error")
	}
	if dst != nil {
		b, err := json.Marshal(res)
		if err == nil {
			err = json.Unmarshal(b, dst)
		}
		if err != nil {
			c.Log.Error("console decode", "command", name, "err", err)
			return dispatcher.Fail(dispatcher.KindInternal, 100005, "Internal error")
		}
	}
	return nil
}

func randomToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
