package dispatcher

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Params holds a request's decoded parameters: a tree of map[string]any, []any, string,
// json.Number, bool and nil, with names as the client spelled them. Every lookup is
// case-insensitive, at every depth.
type Params struct {
	tree map[string]any
}

// NewParams wraps a decoded tree.
func NewParams(tree map[string]any) Params {
	if tree == nil {
		tree = map[string]any{}
	}
	return Params{tree: tree}
}

// Lookup returns the value of name in an object, case-insensitively (an exact match wins).
func Lookup(obj map[string]any, name string) (any, bool) {
	if v, ok := obj[name]; ok {
		return v, true
	}
	for k, v := range obj {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// Has reports whether name was sent with a value other than null or "".
func (p Params) Has(name string) bool {
	v, ok := Lookup(p.tree, name)
	if !ok || v == nil {
		return false
	}
	if s, isStr := v.(string); isStr && strings.TrimSpace(s) == "" {
		return false
	}
	return true
}

// Value returns the raw value of name.
func (p Params) Value(name string) any {
	v, _ := Lookup(p.tree, name)
	return v
}

// String returns name as a string ("" when absent; numbers and booleans in their text form).
func (p Params) String(name string) string {
	s, _ := AsString(p.Value(name))
	return s
}

// Int returns name as an integer (0 when absent or not a number).
func (p Params) Int(name string) int64 {
	n, _ := AsInt(p.Value(name))
	return n
}

// IntOK returns name as an integer and whether it was present and valid.
func (p Params) IntOK(name string) (int64, bool) {
	if !p.Has(name) {
		return 0, false
	}
	return AsInt(p.Value(name))
}

// Bool returns name as a boolean (false when absent).
func (p Params) Bool(name string) bool {
	b, _ := AsBool(p.Value(name))
	return b
}

// BoolOK returns name as a boolean and whether it was present and valid.
func (p Params) BoolOK(name string) (bool, bool) {
	if !p.Has(name) {
		return false, false
	}
	return AsBool(p.Value(name))
}

// Decode converts name's value into dst (a struct, slice or map) through JSON; field names
// match case-insensitively, as encoding/json does, and PHP-style indexed objects
// ({"0":..,"1":..}) become arrays.
func (p Params) Decode(name string, dst any) error {
	v, ok := Lookup(p.tree, name)
	if !ok {
		return nil
	}
	return DecodeValue(v, dst)
}

// DecodeAll converts the whole parameter tree into dst.
func (p Params) DecodeAll(dst any) error { return DecodeValue(p.tree, dst) }

// DecodeValue converts a tree value into dst through JSON.
func DecodeValue(v any, dst any) error {
	b, err := json.Marshal(Normalize(v))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst)
}

// Set replaces a parameter (surfaces use it to inject credentials from headers).
func (p Params) Set(name string, v any) {
	for k := range p.tree {
		if strings.EqualFold(k, name) {
			delete(p.tree, k)
		}
	}
	p.tree[name] = v
}

// Tree returns the underlying tree.
func (p Params) Tree() map[string]any { return p.tree }

// Normalize turns PHP-style indexed objects ({"0":a,"1":b}) into arrays, recursively.
func Normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		if idx, ok := indexed(t); ok {
			out := make([]any, len(idx))
			for i, k := range idx {
				out[i] = Normalize(t[k])
			}
			return out
		}
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = Normalize(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = Normalize(x)
		}
		return out
	}
	return v
}

// indexed returns the keys of m in numeric order when every key is a non-negative integer.
func indexed(m map[string]any) ([]string, bool) {
	if len(m) == 0 {
		return nil, false
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if _, err := strconv.ParseUint(k, 10, 32); err != nil {
			return nil, false
		}
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, _ := strconv.Atoi(keys[i])
		b, _ := strconv.Atoi(keys[j])
		return a < b
	})
	return keys, true
}

// AsString renders scalars as text.
func AsString(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case json.Number:
		return t.String(), true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(t), true
	case nil:
		return "", false
	}
	return "", false
}

// AsInt accepts JSON numbers and strings of digits ("123", " 42 "); fractions are refused.
func AsInt(v any) (int64, bool) {
	switch t := v.(type) {
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return n, true
		}
		f, err := t.Float64()
		if err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f), true
		}
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
			return int64(t), true
		}
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
		return n, err == nil
	case bool:
		if t {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// AsBool accepts true/false, 1/0 and the words true, yes, on, false, no, off.
func AsBool(v any) (bool, bool) {
	switch t := v.(type) {
	case bool:
		return t, true
	case json.Number, float64:
		n, ok := AsInt(t)
		if !ok || (n != 0 && n != 1) {
			return false, false
		}
		return n == 1, true
	case string:
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "1", "true", "yes", "on":
			return true, true
		case "0", "false", "no", "off", "":
			return false, true
		}
	}
	return false, false
}

// check validates declared parameters and returns every issue at once.
func (p Params) check(decl []Param) []Issue {
	var issues []Issue
	for _, d := range decl {
		v, present := Lookup(p.tree, d.Name)
		if present && v == nil {
			present = false
		}
		if s, ok := v.(string); present && ok && strings.TrimSpace(s) == "" && d.Type != String {
			present = false
		}
		if s, ok := v.(string); present && ok && d.Type == String && d.Required && strings.TrimSpace(s) == "" {
			present = false
		}
		if !present {
			if d.Required {
				issues = append(issues, Field(d.Name, d.Code, d.message("Missing required parameter (%s)")))
			}
			continue
		}
		if !typeOK(d.Type, v) {
			issues = append(issues, Field(d.Name, d.Code, d.message("Invalid parameter (%s)")))
		}
	}
	return issues
}

func (d Param) message(format string) string {
	if d.Message != "" {
		return d.Message
	}
	return fmt.Sprintf(format, d.Name)
}

func typeOK(t Type, v any) bool {
	switch t {
	case String:
		_, ok := AsString(v)
		return ok
	case Int:
		_, ok := AsInt(v)
		return ok
	case Bool:
		_, ok := AsBool(v)
		return ok
	case Object:
		_, ok := v.(map[string]any)
		return ok
	case List:
		switch n := Normalize(v).(type) {
		case []any:
			return true
		case map[string]any:
			return len(n) == 0
		}
		return false
	}
	return true
}
