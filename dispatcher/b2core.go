package dispatcher

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// b2core serves a B2Core /api/v2/mail/providers route: okStatus on success (the object, the
// list as a bare array with X-Total-Count, or no body for 204), errors as {"errors":[{"field":..,"message":..}]} with 400, 401, 403, 404,
// 422, 429 or 500, messages in the Accept-Language's language where a translation exists.
func (h *HTTP) b2core(command string, okStatus int) echo.HandlerFunc {
	return h.rest("b2core", command, okStatus, b2coreTranslator)
}

// rest serves a plain-REST route (B2Core, Tenevo). The token of "Authorization: Bearer" may be
// a SessionID, a user API key or the AdminAPIKey. Path parameters become parameters of the
// same name, replacing any in the body. tr, when set, picks the messages' language.
func (h *HTTP) rest(surface, command string, okStatus int, tr func(*http.Request) (string, func(string) string)) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		say := func(s string) string { return s }
		if tr != nil {
			var lang string
			lang, say = tr(r)
			c.Response().Header().Set("Content-Language", lang)
		}
		var creds Credentials
		if tok := bearer(r, "Bearer"); tok != "" {
			creds = Credentials{SessionID: tok, APIKey: tok, AdminAPIKey: tok}
		}
		p, release, err := h.readParams(c, command, &creds)
		defer release()
		if err != nil {
			return h.restError(c, surface, command, restRefusal.error(err), say)
		}
		for i, name := range c.ParamNames() {
			p.Set(name, c.ParamValues()[i])
		}
		res, err := h.D.Call(r.Context(), command, creds, p, meta(c, surface))
		if err != nil {
			return h.restError(c, surface, command, err, say)
		}
		if okStatus == http.StatusNoContent {
			return c.NoContent(http.StatusNoContent)
		}
		if pg, ok := res.(Page); ok && surface == "b2core" {
			// B2Core: "an array of SMTP Service Provider objects", the total in a header.
			c.Response().Header().Set("X-Total-Count", strconv.FormatInt(pg.Total, 10))
			res = pg.Items
		}
		body, err := marshal(res)
		if err != nil {
			h.Log.Error("render", "command", command, "err", err)
			return h.restError(c, surface, command, errInternal, say)
		}
		return c.Blob(okStatus, echo.MIMEApplicationJSON, body)
	}
}

// restRefusal words readParams' refusals for B2Core and Tenevo.
var restRefusal = refusal{
	tooLarge:  Issue{Code: CodeBadJSON, Message: "Request body is too large."},
	overLimit: Issue{Code: CodeBadJSON, Message: "Request body is over a decoding limit: "},
	bad:       Issue{Code: CodeBadJSON, Message: "Invalid request body."},
}

// restError renders err as {"errors":[{"field":..,"message":..}]}: field errors name their
// field; the others carry "field": null.
func (h *HTTP) restError(c echo.Context, surface, command string, err error, say func(string) string) error {
	e, ok := err.(*Error)
	if !ok {
		h.Log.Error(surface, "command", command, "err", err)
		e = errInternal
	}
	status := http.StatusBadRequest
	msg := "" // one message for the whole error; "" keeps the issues' own
	switch e.Kind {
	case KindAuth:
		status, msg = http.StatusUnauthorized, "Authentication failed."
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="gatewayd"`)
	case KindDenied:
		status, msg = http.StatusForbidden, "Permission denied."
	case KindForbidden:
		status = http.StatusForbidden
	case KindNotFound:
		status = http.StatusNotFound
	case KindConflict:
		status = http.StatusConflict
	case KindUnprocessable:
		status = http.StatusUnprocessableEntity
	case KindRateLimited:
		status, msg = http.StatusTooManyRequests, "Too many requests."
		retryAfter(c, e)
	case KindInternal:
		status, msg = http.StatusInternalServerError, "Internal error."
	}
	if e.Status != 0 {
		status = e.Status
	}
	list := make([]map[string]any, 0, len(e.Issues))
	for _, is := range e.Issues {
		var field any
		if is.Field != "" && e.Kind == KindInvalid {
			field = is.Field
		}
		m := is.Message
		if msg != "" {
			m = msg
		}
		list = append(list, map[string]any{"field": field, "message": say(m)})
		if msg != "" {
			break
		}
	}
	body, _ := marshal(map[string]any{"errors": list})
	return c.Blob(status, echo.MIMEApplicationJSON, body)
}

// b2coreTranslator picks Japanese when Accept-Language prefers it to English, and says so in
// Content-Language.
func b2coreTranslator(r *http.Request) (string, func(string) string) {
	if preferredLanguage(r.Header.Get("Accept-Language"), "en", "ja") != "ja" {
		return "en", func(s string) string { return s }
	}
	return "ja", translateJA
}

// preferredLanguage returns the supported language (the first of supported is the default)
// with the highest q-value in an Accept-Language header; ties go to the earlier entry.
func preferredLanguage(header string, supported ...string) string {
	best, bestQ := supported[0], -1.0
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(k) == "q" {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				q = f
			}
		}
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		for _, s := range supported {
			if primary == s && q > bestQ && q > 0 {
				best, bestQ = s, q
			}
		}
	}
	return best
}

// jaMessages are the Japanese forms of the provider messages; others stay in English.
var jaMessages = map[string]string{
	"This field is required.":                                          "この項目は必須です。",
	"This field cannot be empty.":                                      "この項目は空にできません。",
	"Must be one of: smtp.":                                            "smtp を指定してください。",
	"Must be a valid host name or IP address.":                         "有効なホスト名または IP アドレスを指定してください。",
	"Must be a public host, not a loopback or private address.":        "ループバックやプライベートではない公開ホストを指定してください。",
	"Must be a host name that resolves, or an IP address.":             "名前解決できるホスト名または IP アドレスを指定してください。",
	"Must be an integer between 1 and 65535.":                          "1 から 65535 までの整数を指定してください。",
	"Must be between 1 and 255 characters without control characters.": "制御文字を含まない 1～255 文字で指定してください。",
	"Must be at most 255 characters without control characters.":       "制御文字を含まない 255 文字以内で指定してください。",
	"Must be a valid email address.":                                   "有効なメールアドレスを指定してください。",
	"Must be one of: tls, ssl.":                                        "tls または ssl を指定してください。",
	"Must be a boolean (true, false, 1 or 0).":                         "真偽値（true、false、1、0）を指定してください。",
	"Must be an integer between 1 and 100.":                            "1 から 100 までの整数を指定してください。",
	"Must be an integer of 0 or more.":                                 "0 以上の整数を指定してください。",
	"Mail provider not found.":                                         "メールプロバイダーが見つかりません。",
	"Authentication failed.":                                           "認証に失敗しました。",
	"Permission denied.":                                               "権限がありません。",
	"Too many requests.":                                               "リクエストが多すぎます。しばらくしてから再試行してください。",
	"Internal error.":                                                  "内部エラーが発生しました。",
	"Invalid request body.":                                            "リクエスト本文が不正です。",
	"Request body is too large.":                                       "リクエスト本文が大きすぎます。",
}

// translateJA translates a message; "Connection check failed at STAGE: REPLY" keeps the
// server's reply as it was.
func translateJA(s string) string {
	if ja, ok := jaMessages[s]; ok {
		return ja
	}
	if rest, ok := strings.CutPrefix(s, "Connection check failed at "); ok {
		stage, reply, _ := strings.Cut(rest, ": ")
		return "接続の確認に失敗しました（" + stage + "）: " + reply
	}
	return s
}
