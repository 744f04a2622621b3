package tracking

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// Hit is one request to a tracking endpoint with a valid token.
type Hit struct {
	Claim     Claim
	Method    string
	UserAgent string
	IP        string
	At        time.Time
}

// ErrUnknown is returned by a Recorder when the token is valid but names nothing that exists
// any more (the domain or message was deleted); the endpoints answer 404 (the pixel is
// still served).
var ErrUnknown = errors.New("tracking: recipient or link not found")

// Recorder turns hits into events. The HTTP layer has checked the token; the recorder
// decides whether the hit is a bot and writes the event.
type Recorder interface {
	Open(ctx context.Context, h Hit) error
	// Click returns the stored URL the claim's link index names.
	Click(ctx context.Context, h Hit) (target string, err error)
	// UnsubscribeInfo says what the unsubscribe page shows: the address and the sending domain.
	UnsubscribeInfo(ctx context.Context, c Claim) (email, domain string, err error)
	// Unsubscribe suppresses the address for the domain and records the event.
	Unsubscribe(ctx context.Context, h Hit) error
	// WebView returns the HTML document of the message as sent to the claim's recipient.
	WebView(ctx context.Context, c Claim) (page string, err error)
}

// Handler serves the public tracking endpoints under /t/:
//
//	GET /t/o/{token}    the 1x1 GIF, and an opened event
//	GET /t/c/{token}    302 to the stored URL, and a clicked event
//	GET /t/u/{token}    a confirmation page with a button (no change on GET: scanners fetch links)
//	POST /t/u/{token}   the unsubscription (the page's button, or RFC 8058 one-click)
//	GET /t/v/{token}    the message as sent to the recipient (%Link:WebBrowser%), sandboxed
//
// A token that does not verify, or a kind that does not match the path, is 404. HEAD is
// answered like GET (and, as scanners send it, recorded as a bot).
type Handler struct {
	Signer   *Signer
	Recorder Recorder
	Log      *slog.Logger
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	var kind Kind
	switch {
	case strings.HasPrefix(path, openPath):
		kind = Open
	case strings.HasPrefix(path, clickPath):
		kind = Click
	case strings.HasPrefix(path, unsubscribePath):
		kind = Unsubscribe
	case strings.HasPrefix(path, webViewPath):
		kind = WebView
	default:
		notFound(w)
		return
	}
	token := path[len(openPath):]
	if kind == Open {
		token = strings.TrimSuffix(token, ".gif")
	}
	c, err := h.Signer.ParseKind(token, kind)
	if err != nil {
		notFound(w)
		return
	}
	hit := Hit{Claim: c, Method: r.Method, UserAgent: r.UserAgent(), IP: remoteIP(r), At: time.Now()}
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store, no-cache, must-revalidate, private")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	switch kind {
	case Open:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		if err := h.Recorder.Open(ctx, hit); err != nil && !errors.Is(err, ErrUnknown) {
			h.logError("open", err)
		}
		w.Header().Set("Content-Type", "image/gif")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(Pixel())
		}
	case Click:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		target, err := h.Recorder.Click(ctx, hit)
		if err != nil {
			if !errors.Is(err, ErrUnknown) {
				h.logError("click", err)
			}
			if target == "" {
				notFound(w)
				return
			}
		}
		w.Header().Set("Location", target)
		w.WriteHeader(http.StatusFound)
	case Unsubscribe:
		h.unsubscribe(w, r, hit)
	case WebView:
		h.webView(w, r, hit)
	}
}

// webViewPolicy runs the tenant's HTML in a sandbox: no scripts, an opaque origin (it can
// read nothing of gatewayd's), no forms, no framing; images, styles and links work.
const webViewPolicy = "sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation; " +
	"script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (h *Handler) webView(w http.ResponseWriter, r *http.Request, hit Hit) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET, HEAD")
		return
	}
	page, err := h.Recorder.WebView(r.Context(), hit.Claim)
	if err != nil {
		if !errors.Is(err, ErrUnknown) {
			h.logError("web view", err)
			serverError(w)
			return
		}
		notFound(w)
		return
	}
	w.Header().Set("Content-Security-Policy", webViewPolicy)
	w.Header().Set("X-Robots-Tag", "noindex, nofollow")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write([]byte(page))
	}
}

func (h *Handler) unsubscribe(w http.ResponseWriter, r *http.Request, hit Hit) {
	ctx := r.Context()
	email, domain, err := h.Recorder.UnsubscribeInfo(ctx, hit.Claim)
	if err != nil {
		if !errors.Is(err, ErrUnknown) {
			h.logError("unsubscribe page", err)
			serverError(w)
			return
		}
		notFound(w)
		return
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	page := pageData{Email: email, Domain: domain}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		if err := h.Recorder.Unsubscribe(ctx, hit); err != nil {
			h.logError("unsubscribe", err)
			serverError(w)
			return
		}
		page.Done = true
	default:
		methodNotAllowed(w, "GET, HEAD, POST")
		return
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		unsubscribePage.Execute(w, page)
	}
}

type pageData struct {
	Email, Domain string
	Done          bool
}

var unsubscribePage = template.Must(template.New("unsubscribe").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>Unsubscribe</title>
<style>body{font-family:system-ui,-apple-system,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}
button{font-size:1rem;padding:.6rem 1.4rem;border:0;border-radius:4px;background:#333;color:#fff;cursor:pointer}</style>
</head><body>
{{if .Done}}<h1>You are unsubscribed</h1>
<p><strong>{{.Email}}</strong> will no longer receive mail from {{.Domain}}.</p>
{{else}}<h1>Unsubscribe</h1>
<p>Stop mail from {{.Domain}} to <strong>{{.Email}}</strong>?</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>
{{end}}</body></html>
`))

func (h *Handler) logError(what string, err error) {
	if h.Log != nil {
		h.Log.Error("tracking: "+what, "err", err)
	}
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNotFound)
	w.Write([]byte("Not found\n"))
}

func serverError(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	w.Write([]byte("Something went wrong; please try again later.\n"))
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusMethodNotAllowed)
	w.Write([]byte("Method not allowed\n"))
}

// remoteIP is the address the request came from. X-Forwarded-For is not trusted: anyone
// could set it.
func remoteIP(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return ip
}
