package dispatcher

import (
	"errors"
	"testing"
)

// FuzzDecodeRequest feeds arbitrary bodies, content types and query strings to the decoder,
// under the default limits and under tiny ones: it must return a tree or one of its documented
// errors, never panic; every tree it returns must keep within the limits and survive the
// parameter accessors and the JSON round trip handlers use.
func FuzzDecodeRequest(f *testing.F) {
	f.Add("application/json", "Command=x", []byte(`{"Command":"emailgateway.getdomains","To":[{"email":"a@b.c"}]}`), false)
	f.Add("application/x-www-form-urlencoded", "", []byte(`To[0][email]=a%40b.c&Tags[]=x&A[b][c][]=1`), true)
	f.Add("multipart/form-data; boundary=xyz", "", []byte("--xyz\r\nContent-Disposition: form-data; name=\"Command\"\r\n\r\nuser.login\r\n--xyz--\r\n"), false)
	f.Add("multipart/form-data; boundary=xyz", "", []byte("--xyz\r\nContent-Disposition: form-data; name=\"a[x][x][x][x][x]\"\r\n\r\n1\r\n--xyz--\r\n"), true)
	f.Add("", "a[=1&b]=2&[c]=3", []byte(`{"x":`), false)
	f.Add("text/plain", "", []byte("\xff\xfe{\"a\":1}"), false)
	f.Add("application/x-www-form-urlencoded", "a[x][x][x][x][x]=1", []byte("a[][][][][]=1&b=2&c=3&d=4&e=5&f=6"), true)
	f.Add("application/json", "", []byte(`{"a":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"b":{"c":{"d":{"e":{"f":1}}}}}`), true)
	f.Fuzz(func(t *testing.T, ctype, query string, body []byte, tiny bool) {
		lim := DefaultLimits
		if tiny {
			lim = Limits{Depth: 3, Vars: 5, Elements: 20}
		}
		tree, err := decodeAll(query, ctype, body, lim)
		if err != nil {
			var bj *BadJSONError
			var le *LimitError
			if !errors.As(err, &bj) && !errors.As(err, &le) {
				t.Fatalf("undocumented error %T: %v", err, err)
			}
			return
		}
		if d := depthOf(tree); d > lim.Depth {
			t.Fatalf("a tree %d levels deep passed the limit of %d", d, lim.Depth)
		}
		if n := countValues(tree); n > lim.Elements {
			t.Fatalf("a tree of %d values passed the limit of %d", n, lim.Elements)
		}
		p := NewParams(tree)
		for _, name := range []string{"Command", "To", "Tags", "a", "x"} {
			p.String(name)
			p.Int(name)
			p.Bool(name)
			var v any
			p.Decode(name, &v)
		}
		p.check([]Param{{Name: "Command", Required: true, Code: 1}, {Name: "To", Type: List}, {Name: "x", Type: Object}})
	})
}

// countValues counts the values below the top level of a tree: objects, arrays and scalars.
func countValues(tree map[string]any) int {
	n := 0
	stack := []any{tree}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch t := v.(type) {
		case map[string]any:
			for _, x := range t {
				n++
				stack = append(stack, x)
			}
		case []any:
			for _, x := range t {
				n++
				stack = append(stack, x)
			}
		}
	}
	return n
}
