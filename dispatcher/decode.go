package dispatcher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
)

// ErrBodyTooLarge is returned when a request body exceeds the configured cap.
var ErrBodyTooLarge = errors.New("request body too large")

// BadJSONError is a body that claims or looks like JSON and does not parse as an object.
type BadJSONError struct{ Err error }

func (e *BadJSONError) Error() string { return "invalid JSON body: " + e.Err.Error() }
func (e *BadJSONError) Unwrap() error { return e.Err }

// DecodeRequest merges the query string and the body (JSON, urlencoded or multipart form, on
// any method) into one parameter tree; a body value replaces a query value of the same
// name, compared case-insensitively.
func DecodeRequest(r *http.Request, limit int64) (map[string]any, error) {
	tree := map[string]any{}
	if err := mergeForm(tree, r.URL.Query()); err != nil {
		return nil, err
	}
	body, err := readBody(r, limit)
	if err != nil {
		return nil, err
	}
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	trimmed := bytes.TrimSpace(body)
	var fromBody map[string]any
	switch {
	case len(trimmed) == 0:
	case ct == "application/json" || strings.HasSuffix(ct, "+json"):
		if fromBody, err = decodeJSONObject(trimmed); err != nil {
			return nil, err
		}
	case ct == "multipart/form-data":
		if fromBody, err = decodeMultipart(body, params["boundary"], limit); err != nil {
			return nil, err
		}
	case trimmed[0] == '{' && (ct == "" || ct == "application/x-www-form-urlencoded" || ct == "text/plain"):
		// curl -d '{...}' sends JSON labelled as a form; a body that starts like an object is one.
		if fromBody, err = decodeJSONObject(trimmed); err != nil {
			return nil, err
		}
	default:
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("form body: %w", &BadJSONError{Err: err})
		}
		fromBody = map[string]any{}
		if err := mergeForm(fromBody, vals); err != nil {
			return nil, err
		}
	}
	for k, v := range fromBody {
		for qk := range tree {
			if strings.EqualFold(qk, k) {
				delete(tree, qk)
			}
		}
		tree[k] = v
	}
	return tree, nil
}

func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, ErrBodyTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, ErrBodyTooLarge
	}
	return b, nil
}

func decodeJSONObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &BadJSONError{Err: err}
	}
	if dec.More() {
		return nil, &BadJSONError{Err: errors.New("data after the JSON value")}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &BadJSONError{Err: errors.New("data after the JSON value")}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, &BadJSONError{Err: errors.New("the body must be a JSON object")}
	}
	return obj, nil
}

func decodeMultipart(body []byte, boundary string, limit int64) (map[string]any, error) {
	if boundary == "" {
		return nil, &BadJSONError{Err: errors.New("multipart body without boundary")}
	}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	form, err := r.ReadForm(limit)
	if err != nil {
		return nil, &BadJSONError{Err: fmt.Errorf("multipart body: %w", err)}
	}
	defer form.RemoveAll()
	tree := map[string]any{}
	if err := mergeForm(tree, form.Value); err != nil {
		return nil, err
	}
	return tree, nil
}

// mergeForm adds form values to tree, reading PHP-style names: a[b][c]=v and a[]=v.
func mergeForm(tree map[string]any, vals url.Values) error {
	for name, vs := range vals {
		path := splitPHPName(name)
		for _, v := range vs {
			setPath(tree, path, v)
		}
	}
	return nil
}

// splitPHPName turns "To[0][email]" into ["To","0","email"] and "Tags[]" into ["Tags",""].
func splitPHPName(name string) []string {
	i := strings.IndexByte(name, '[')
	if i <= 0 || !strings.HasSuffix(name, "]") {
		return []string{name}
	}
	path := []string{name[:i]}
	rest := name[i:]
	for len(rest) > 0 && rest[0] == '[' {
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			return []string{name}
		}
		path = append(path, rest[1:j])
		rest = rest[j+1:]
	}
	if rest != "" {
		return []string{name}
	}
	return path
}

func setPath(node map[string]any, path []string, v string) {
	key := path[0]
	if len(path) == 1 {
		node[key] = v
		return
	}
	next := path[1]
	if next == "" { // key[] appends
		list, _ := node[key].([]any)
		if len(path) == 2 {
			node[key] = append(list, v)
			return
		}
		child := map[string]any{}
		setPath(child, path[2:], v)
		node[key] = append(list, child)
		return
	}
	child, ok := node[key].(map[string]any)
	if !ok {
		child = map[string]any{}
		node[key] = child
	}
	setPath(child, path[1:], v)
}
