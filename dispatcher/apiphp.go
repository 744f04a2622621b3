package dispatcher

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
)

// The api.php hard failures (Octeth 5.9.3+), answered with an HTTP status and an Errors array.
const (
	CodeBadJSON        = 100000
	CodeBadMethod      = 100001
	CodeUnknownCommand = 100003
	CodeInternal       = 100005
)

// apiPHP serves POST/GET /api.php: Command names the command; the body or query carries
// parameters and credentials; ResponseFormat=XML selects XML.
func (h *HTTP) apiPHP(c echo.Context) error {
	r := c.Request()
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return h.hardFailure(c, false, http.StatusBadRequest, CodeBadMethod, "Invalid request method; use GET or POST")
	}
	p, release, err := h.readParams(c, "", nil)
	defer release()
	if err != nil {
		return h.decodeFailure(c, err)
	}
	xml := p.String("ResponseFormat") == "XML"
	name := p.String("Command")
	if name == "" {
		return h.hardFailure(c, xml, http.StatusBadRequest, CodeUnknownCommand, "Command is missing")
	}
	res, err := h.D.Call(r.Context(), name, credsFromParams(p), p, meta(c, "api.php"))
	if errors.Is(err, ErrUnknownCommand) {
		return h.hardFailure(c, xml, http.StatusBadRequest, CodeUnknownCommand, "Unknown command")
	}
	if err != nil {
		e := err.(*Error)
		if e.Kind == KindInternal {
			return h.hardFailure(c, xml, http.StatusInternalServerError, CodeInternal, "Internal error")
		}
		retryAfter(c, e)
		head := map[string]any{"Success": false, "ErrorCode": errorCode(e), "ErrorText": errorText(e)}
		for k, v := range e.Extra {
			head[k] = v
		}
		status := http.StatusOK
		if e.StatusOnAPIPHP && e.Status != 0 {
			status = e.Status
		}
		return h.writeAPIPHP(c, xml, status, orderedHead(head, "Success", "ErrorCode", "ErrorText"), nil)
	}
	if raw, ok := res.(Raw); ok {
		raw.writeHeader(c.Response().Header())
		return c.Blob(http.StatusOK, raw.ContentType, raw.Body)
	}
	body, err := marshal(res)
	if err != nil {
		h.Log.Error("render", "command", name, "err", err)
		return h.hardFailure(c, xml, http.StatusInternalServerError, CodeInternal, "Internal error")
	}
	head := []byte(`{"Success":true,"ErrorCode":0`)
	if _, bare := res.(Bare); bare {
		head = []byte(`{"Success":true`)
	}
	return h.writeAPIPHP(c, xml, http.StatusOK, head, body)
}

// Raw is a result written as-is (text formats such as PowerMTA configuration).
type Raw struct {
	ContentType string
	Body        []byte
	// Header, when set, is added to the response (Content-Disposition, X-... counts).
	Header http.Header
}

func (r Raw) writeHeader(h http.Header) {
	for k, vs := range r.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
}

// Page is one page of a list. The surfaces whose lists are bare JSON arrays (B2Core) answer
// Items with the total in an X-Total-Count header; everywhere else it is the object
// {"items":[...],"total":N,"limit":L,"offset":O}.
type Page struct {
	Items         any
	Total         int64
	Limit, Offset int64
}

// MarshalJSON renders the object form.
func (p Page) MarshalJSON() ([]byte, error) {
	return marshal(struct {
		Items  any   `json:"items"`
		Total  int64 `json:"total"`
		Limit  int64 `json:"limit"`
		Offset int64 `json:"offset"`
	}{p.Items, p.Total, p.Limit, p.Offset})
}

// Bare is a result whose api.php envelope carries Success but no ErrorCode, as the
// sender.domains document shows.
type Bare map[string]any

// errorText follows errorCode's shape (octeth-5.9.4 error-handling.md): one message per
// code, in the same order, when ErrorCode is an array; one string when it is a single code.
func errorText(e *Error) any {
	if !e.List {
		return e.Message()
	}
	texts := make([]string, 0, len(e.Issues))
	for _, is := range e.Issues {
		texts = append(texts, is.Message)
	}
	return texts
}

func errorCode(e *Error) any {
	if !e.List {
		return e.Code()
	}
	codes := make([]int, 0, len(e.Issues))
	for _, is := range e.Issues {
		codes = append(codes, is.Code)
	}
	return codes
}

// orderedHead renders the named keys first, in order, then the rest, as an open JSON object.
func orderedHead(m map[string]any, first ...string) []byte {
	out := []byte{'{'}
	add := func(k string, v any) {
		if len(out) > 1 {
			out = append(out, ',')
		}
		kb, _ := marshal(k)
		vb, _ := marshal(v)
		out = append(out, kb...)
		out = append(out, ':')
		out = append(out, vb...)
	}
	done := map[string]bool{}
	for _, k := range first {
		if v, ok := m[k]; ok {
			add(k, v)
			done[k] = true
		}
	}
	for k, v := range m {
		if !done[k] {
			add(k, v)
		}
	}
	return out
}

func (h *HTTP) writeAPIPHP(c echo.Context, xml bool, status int, head, body []byte) error {
	doc := withEnvelope(head, body)
	if !xml {
		return c.Blob(status, echo.MIMEApplicationJSON, doc)
	}
	x, err := jsonToXML(doc)
	if err != nil {
		h.Log.Error("render xml", "err", err)
		return c.Blob(http.StatusInternalServerError, echo.MIMEApplicationJSON, []byte(`{"Success":false,"ErrorCode":100005,"ErrorText":"Internal error","Errors":[{"Code":100005,"Message":"Internal error"}]}`))
	}
	return c.Blob(status, "text/xml; charset=utf-8", x)
}

func (h *HTTP) hardFailure(c echo.Context, xml bool, status, code int, msg string) error {
	body, _ := marshal(map[string]any{"Errors": []map[string]any{{"Code": code, "Message": msg}}})
	head := orderedHead(map[string]any{"Success": false, "ErrorCode": code, "ErrorText": msg}, "Success", "ErrorCode", "ErrorText")
	return h.writeAPIPHP(c, xml, status, head, body)
}

// decodeFailure answers a request readParams refused, always in JSON, since the request was
// not parsed far enough to know which format it asked for (error-handling.md): over its body
// cap 413, over a decoding limit or unparsable 400, all with code 100000; the in-flight
// budget full 503 with code 429 and Retry-After.
func (h *HTTP) decodeFailure(c echo.Context, err error) error {
	const xml = false
	var bj *BadJSONError
	var le *LimitError
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		return h.hardFailure(c, xml, http.StatusRequestEntityTooLarge, CodeBadJSON, "Request body is larger than the server accepts")
	case errors.Is(err, ErrBusy):
		c.Response().Header().Set("Retry-After", "1")
		return h.hardFailure(c, xml, http.StatusServiceUnavailable, errRateLimit.Code(), msgBusy)
	case errors.As(err, &le):
		return h.hardFailure(c, xml, http.StatusBadRequest, CodeBadJSON, "Invalid request body: "+le.Error())
	case errors.As(err, &bj):
		return h.hardFailure(c, xml, http.StatusBadRequest, CodeBadJSON, "Invalid request body: "+bj.Err.Error())
	}
	h.Log.Warn("decode request", "err", err)
	return h.hardFailure(c, xml, http.StatusBadRequest, CodeBadJSON, "Invalid request body")
}
