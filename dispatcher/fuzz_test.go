package dispatcher

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"testing"
)

// FuzzDecodeRequest feeds arbitrary bodies, content types and query strings to the decoder:
// it must return a tree or one of its documented errors, never panic, and every tree it
// returns must survive the parameter accessors and the JSON round trip handlers use.
func FuzzDecodeRequest(f *testing.F) {
	f.Add("application/json", "Command=x", []byte(`{"Command":"emailgateway.getdomains","To":[{"email":"a@b.c"}]}`))
	f.Add("application/x-www-form-urlencoded", "", []byte(`To[0][email]=a%40b.c&Tags[]=x&A[b][c][]=1`))
	f.Add("multipart/form-data; boundary=xyz", "", []byte("--xyz\r\nContent-Disposition: form-data; name=\"Command\"\r\n\r\nuser.login\r\n--xyz--\r\n"))
	f.Add("", "a[=1&b]=2&[c]=3", []byte(`{"x":`))
	f.Add("text/plain", "", []byte("\xff\xfe{\"a\":1}"))
	f.Fuzz(func(t *testing.T, ctype, query string, body []byte) {
		r := httptest.NewRequest("POST", "/api.php", bytes.NewReader(body))
		r.URL.RawQuery = query
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		tree, err := DecodeRequest(r, 1<<16)
		if err != nil {
			var bj *BadJSONError
			if !errors.As(err, &bj) && !errors.Is(err, ErrBodyTooLarge) {
				t.Fatalf("undocumented error %T: %v", err, err)
			}
			return
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
