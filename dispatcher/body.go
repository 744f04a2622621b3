package dispatcher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"
)

// elementCost is what the budget counts for one decoded value beyond its text: the map slot
// or slice element, the interface and allocation overhead (about 50-100 bytes measured, with
// room to spare).
const elementCost = 128

// decodeCost is the budget a body of n bytes needs for its decoded parameters on top of its
// own bytes: a copy of its text and at most one value per two bytes, up to the element cap.
func (h *HTTP) decodeCost(n int64) int64 {
	return n + min(int64(h.Limits.Elements), n/2+1)*elementCost
}

// bodyLimit is the largest body cmd may have: BodyLimit for commands that take content,
// SmallBodyLimit for the others (and for a command nobody registered).
func (h *HTTP) bodyLimit(cmd *Command) int64 {
	if cmd != nil && cmd.LargeBody {
		return h.BodyLimit
	}
	return min(h.SmallBodyLimit, h.BodyLimit)
}

// readParams decodes a request's query string and body for a surface, in this order:
//   - the command: route names it; "" means api.php, where the Command parameter of the
//     query string does (a body's Command is checked once it is read);
//   - a Content-Length over that command's cap is refused before anything is read
//     (ErrBodyTooLarge);
//   - headerCreds, the credentials the surface found in headers (nil when it found none), are
//     checked before a LargeBody command's body larger than SmallBodyLimit is read: wrong
//     ones get the command's authentication error (*Error) and the body is never read (a
//     header credential replaces the parameter of its kind, so for those commands, which
//     accept one kind, it decides alone);
//   - the body's bytes and decoding cost are reserved from the in-flight budget, waiting up
//     to InflightWait (ErrBusy);
//   - the body is read and decoded within Limits (*LimitError, *BadJSONError).
//
// release returns the reservation; the surface calls it once the answer is written.
func (h *HTTP) readParams(c echo.Context, route string, headerCreds *Credentials) (p Params, release func(), err error) {
	r := c.Request()
	release = func() {}
	d := &decoder{lim: h.Limits}
	tree := map[string]any{}
	if err := d.form(tree, r.URL.RawQuery, false); err != nil {
		return p, release, err
	}
	var cmd *Command
	limit := h.BodyLimit
	if route == "" {
		if name := NewParams(tree).String("Command"); name != "" {
			cmd, _ = h.D.Registry.Lookup(name)
			limit = h.bodyLimit(cmd)
		}
	} else {
		cmd, _ = h.D.Registry.Lookup(route)
		limit = h.bodyLimit(cmd)
	}
	if r.ContentLength > limit {
		return p, release, ErrBodyTooLarge
	}
	if headerCreds != nil && cmd != nil && cmd.LargeBody && (r.ContentLength < 0 || r.ContentLength > h.bodyLimit(nil)) {
		if err := h.D.Preauthenticate(r.Context(), cmd, *headerCreds); err != nil {
			return p, release, err
		}
	}
	body, held, err := h.readBody(r, limit)
	release = func() {
		if h.Inflight != nil && held > 0 {
			h.Inflight.Release(held)
		}
	}
	if err != nil {
		return p, release, err
	}
	if err := d.body(tree, r.Header.Get("Content-Type"), body); err != nil {
		return p, release, err
	}
	p = NewParams(tree)
	if route == "" && cmd == nil {
		if named, ok := h.D.Registry.Lookup(p.String("Command")); ok && int64(len(body)) > h.bodyLimit(named) {
			return p, release, ErrBodyTooLarge
		}
	}
	return p, release, nil
}

// readBody reads at most limit bytes of r's body, reserving them and their decoding cost from
// the in-flight budget first; held is what was reserved (also on error).
func (h *HTTP) readBody(r *http.Request, limit int64) (body []byte, held int64, err error) {
	if r.Body == nil || r.ContentLength == 0 {
		return nil, 0, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.InflightWait)
	defer cancel()
	reserve := func(n int64) error {
		if h.Inflight == nil {
			return nil
		}
		if err := h.Inflight.Acquire(ctx, n); err != nil {
			return err
		}
		held += n
		return nil
	}
	if n := r.ContentLength; n > 0 {
		if err := reserve(n + h.decodeCost(n)); err != nil {
			return nil, held, err
		}
		body = make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, held, fmt.Errorf("read body: %w", err)
		}
		return body, held, nil
	}
	// Unknown length (chunked): reserve as the body grows, doubling, so what is reserved is
	// never more than twice what arrived.
	step := int64(64 << 10)
	for {
		grow := min(step, limit+1-int64(len(body)))
		if err := reserve(grow); err != nil {
			return nil, held, err
		}
		start := len(body)
		body = append(body, make([]byte, grow)...)
		k, err := io.ReadFull(r.Body, body[start:])
		body = body[:start+k]
		if int64(len(body)) > limit {
			return nil, held, ErrBodyTooLarge
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, held, fmt.Errorf("read body: %w", err)
		}
		step *= 2
	}
	if err := reserve(h.decodeCost(int64(len(body)))); err != nil {
		return nil, held, err
	}
	return body, held, nil
}

// refusal is how a surface words the refusals of readParams it renders as an *Error.
type refusal struct {
	tooLarge  Issue // with HTTP 413
	overLimit Issue // with HTTP 400; the limit is appended to the message
	bad       Issue // with badStatus (0: 400)
	badStatus int
	busy      *Error // nil: errBusy
}

// error turns a readParams refusal into the surface's *Error: a credential's refusal as the
// command gave it, the rest as the surface words them.
func (w refusal) error(err error) *Error {
	var e *Error
	var le *LimitError
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, ErrBusy):
		if w.busy != nil {
			return w.busy
		}
		return errBusy
	case errors.Is(err, ErrBodyTooLarge):
		return &Error{Kind: KindInvalid, Issues: []Issue{w.tooLarge}, Status: http.StatusRequestEntityTooLarge}
	case errors.As(err, &le):
		is := w.overLimit
		is.Message += le.Error()
		return &Error{Kind: KindInvalid, Issues: []Issue{is}, Status: http.StatusBadRequest}
	}
	return &Error{Kind: KindInvalid, Issues: []Issue{w.bad}, Status: cmp.Or(w.badStatus, http.StatusBadRequest)}
}
