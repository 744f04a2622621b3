package dispatcher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"
)

// ErrBodyTooLarge is returned when a request body exceeds the cap of its command.
var ErrBodyTooLarge = errors.New("request body too large")

// BadJSONError is a body that claims or looks like JSON and does not parse as an object, or a
// form body that does not parse.
type BadJSONError struct{ Err error }

func (e *BadJSONError) Error() string { return "invalid JSON body: " + e.Err.Error() }
func (e *BadJSONError) Unwrap() error { return e.Err }

// Limits bound what decoding may build from one request. Every limit is checked while the
// tree is built, before anything is allocated past it, and nothing in decoding recurses.
type Limits struct {
	// Depth is how many levels a value may sit below its top-level parameter: a[b][c]=1 and
	// {"a":{"b":{"c":1}}} are 2 (PHP's max_input_nesting_level).
	Depth int
	// Vars is how many name=value pairs the query string and a form body (urlencoded or
	// multipart parts) may carry together (PHP's max_input_vars).
	Vars int
	// Elements is how many values (objects, arrays and scalars, at any depth) the decoded
	// parameters may hold, whatever the encoding.
	Elements int
}

// DefaultLimits are the limits when configuration says nothing.
var DefaultLimits = Limits{Depth: 32, Vars: 1000, Elements: 10000}

// LimitError is a request over one of the decoding limits.
type LimitError struct {
	What  string // "nesting", "variables" or "elements"
	Limit int
}

func (e *LimitError) Error() string {
	switch e.What {
	case "nesting":
		return fmt.Sprintf("parameters nested deeper than %d levels", e.Limit)
	case "variables":
		return fmt.Sprintf("more than %d form variables", e.Limit)
	}
	return fmt.Sprintf("more than %d values in the parameters", e.Limit)
}

// decoder builds one request's parameter tree, counting against its limits as it goes.
type decoder struct {
	lim   Limits
	vars  int
	elems int
}

func (d *decoder) element() error {
	d.elems++
	if d.elems > d.lim.Elements {
		return &LimitError{What: "elements", Limit: d.lim.Elements}
	}
	return nil
}

func (d *decoder) variable() error {
	d.vars++
	if d.vars > d.lim.Vars {
		return &LimitError{What: "variables", Limit: d.lim.Vars}
	}
	return nil
}

// body merges the body (JSON, urlencoded or multipart form, on any method) into tree, which
// holds the query string's parameters: a body value replaces a query value of the same name,
// compared case-insensitively.
func (d *decoder) body(tree map[string]any, contentType string, body []byte) error {
	ct, params, _ := mime.ParseMediaType(contentType)
	trimmed := bytes.TrimSpace(body)
	var fromBody map[string]any
	var err error
	switch {
	case len(trimmed) == 0:
		return nil
	case ct == "application/json" || strings.HasSuffix(ct, "+json"):
		fromBody, err = d.json(trimmed)
	case ct == "multipart/form-data":
		fromBody, err = d.multipart(body, params["boundary"])
	case trimmed[0] == '{' && (ct == "" || ct == "application/x-www-form-urlencoded" || ct == "text/plain"):
		// curl -d '{...}' sends JSON labelled as a form; a body that starts like an object is one.
		fromBody, err = d.json(trimmed)
	default:
		fromBody = map[string]any{}
		err = d.form(fromBody, string(body), true)
	}
	if err != nil {
		return err
	}
	if len(fromBody) == 0 {
		return nil
	}
	query := make(map[string][]string, len(tree))
	for k := range tree {
		lk := strings.ToLower(k)
		query[lk] = append(query[lk], k)
	}
	for k, v := range fromBody {
		for _, qk := range query[strings.ToLower(k)] {
			delete(tree, qk)
		}
		tree[k] = v
	}
	return nil
}

// json decodes a JSON object token by token with an explicit stack, so neither depth nor
// size is decided by the client: nesting past Depth or values past Elements stop it at once.
func (d *decoder) json(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		obj   map[string]any // the object being filled, or nil for an array
		arr   []any
		key   string
		keyed bool // key names the value that comes next
	}
	var stack []*frame
	// add stores a finished value in the container being filled.
	add := func(v any) {
		f := stack[len(stack)-1]
		if f.obj != nil {
			f.obj[f.key], f.keyed = v, false
		} else {
			f.arr = append(f.arr, v)
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, &BadJSONError{Err: err}
		}
		if len(stack) == 0 && tok != json.Delim('{') {
			return nil, &BadJSONError{Err: errors.New("the body must be a JSON object")}
		}
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				if len(stack) > 0 {
					if len(stack) > d.lim.Depth {
						return nil, &LimitError{What: "nesting", Limit: d.lim.Depth}
					}
					if err := d.element(); err != nil {
						return nil, err
					}
				}
				f := &frame{}
				if t == '{' {
					f.obj = map[string]any{}
				}
				stack = append(stack, f)
				continue
			}
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				if _, err := dec.Token(); err != io.EOF {
					return nil, &BadJSONError{Err: errors.New("data after the JSON value")}
				}
				return f.obj, nil
			}
			switch {
			case f.obj != nil:
				add(f.obj)
			case f.arr == nil:
				add([]any{})
			default:
				add(f.arr)
			}
		case string:
			if f := stack[len(stack)-1]; f.obj != nil && !f.keyed {
				f.key, f.keyed = t, true
				continue
			}
			if err := d.element(); err != nil {
				return nil, err
			}
			add(t)
		default:
			if err := d.element(); err != nil {
				return nil, err
			}
			add(t)
		}
	}
}

// multipart decodes a multipart/form-data body part by part; file parts count as variables
// and are otherwise ignored.
func (d *decoder) multipart(body []byte, boundary string) (map[string]any, error) {
	if boundary == "" {
		return nil, &BadJSONError{Err: errors.New("multipart body without boundary")}
	}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	tree := map[string]any{}
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return tree, nil
		}
		if err != nil {
			return nil, &BadJSONError{Err: fmt.Errorf("multipart body: %w", err)}
		}
		if err := d.variable(); err != nil {
			return nil, err
		}
		name := p.FormName()
		if name == "" || p.FileName() != "" {
			continue
		}
		v, err := io.ReadAll(p)
		if err != nil {
			return nil, &BadJSONError{Err: fmt.Errorf("multipart body: %w", err)}
		}
		if err := d.set(tree, name, string(v)); err != nil {
			return nil, err
		}
	}
}

// form adds the pairs of an urlencoded string to tree, in order. strict refuses a pair that
// does not unescape (a body); otherwise such a pair is skipped, as net/url does for queries.
func (d *decoder) form(tree map[string]any, s string, strict bool) error {
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if pair == "" {
			continue
		}
		if err := d.variable(); err != nil {
			return err
		}
		if strings.Contains(pair, ";") {
			if strict {
				return &BadJSONError{Err: errors.New("invalid semicolon separator in form")}
			}
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err := errors.Join(err1, err2); err != nil {
			if strict {
				return &BadJSONError{Err: err}
			}
			continue
		}
		if err := d.set(tree, k, v); err != nil {
			return err
		}
	}
	return nil
}

// set stores v under a PHP-style name: a[b][c]=v nests, a[]=v appends. The name is split and
// the path walked in loops; a name nested past Depth is refused before anything is built.
func (d *decoder) set(tree map[string]any, name, v string) error {
	path, err := d.splitPHPName(name)
	if err != nil {
		return err
	}
	node := tree
	for {
		key := path[0]
		if len(path) == 1 {
			node[key] = v
			return d.element()
		}
		if path[1] == "" { // key[] appends
			list, _ := node[key].([]any)
			if list == nil {
				if err := d.element(); err != nil {
					return err
				}
			}
			if len(path) == 2 {
				node[key] = append(list, v)
				return d.element()
			}
			if err := d.element(); err != nil {
				return err
			}
			child := map[string]any{}
			node[key] = append(list, child)
			node, path = child, path[2:]
			continue
		}
		child, ok := node[key].(map[string]any)
		if !ok {
			if err := d.element(); err != nil {
				return err
			}
			child = map[string]any{}
			node[key] = child
		}
		node, path = child, path[1:]
	}
}

// splitPHPName turns "To[0][email]" into ["To","0","email"] and "Tags[]" into ["Tags",""]; a
// name that is not of that form is one plain name.
func (d *decoder) splitPHPName(name string) ([]string, error) {
	i := strings.IndexByte(name, '[')
	if i <= 0 || !strings.HasSuffix(name, "]") {
		return []string{name}, nil
	}
	path := []string{name[:i]}
	rest := name[i:]
	for len(rest) > 0 && rest[0] == '[' {
		if len(path) > d.lim.Depth {
			return nil, &LimitError{What: "nesting", Limit: d.lim.Depth}
		}
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			return []string{name}, nil
		}
		path = append(path, rest[1:j])
		rest = rest[j+1:]
	}
	if rest != "" {
		return []string{name}, nil
	}
	return path, nil
}
