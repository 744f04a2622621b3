package dispatcher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPHPFormArrays(t *testing.T) {
	body := "To[0][email]=a%40x.test&To[0][name]=A&To[1][email]=b%40x.test&Tags[]=one&Tags[]=two&From[Email]=f%40x.test&plain=1"
	tree, err := decodeAll("Query=q", "application/x-www-form-urlencoded", []byte(body), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	p := NewParams(tree)
	var to []struct{ Email, Name string }
	if err := p.Decode("to", &to); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(to, []struct{ Email, Name string }{{"a@x.test", "A"}, {"b@x.test", ""}}) {
		t.Fatalf("To: %+v", to)
	}
	var tags []string
	p.Decode("TAGS", &tags)
	if !reflect.DeepEqual(tags, []string{"one", "two"}) {
		t.Fatalf("Tags: %v", tags)
	}
	var from struct{ Email string }
	p.Decode("from", &from)
	if from.Email != "f@x.test" || p.String("query") != "q" || !p.Bool("Plain") {
		t.Fatalf("from %+v query %q plain %v", from, p.String("query"), p.Bool("Plain"))
	}
}

func TestCoercion(t *testing.T) {
	for _, c := range []struct {
		v    any
		n    int64
		ok   bool
		b    bool
		bok  bool
		text string
	}{
		{json.Number("123"), 123, true, false, false, "123"},
		{"  42 ", 42, true, false, false, "  42 "},
		{"1", 1, true, true, true, "1"},
		{"yes", 0, false, true, true, "yes"},
		{"false", 0, false, false, true, "false"},
		{json.Number("1.5"), 0, false, false, false, "1.5"},
		{true, 1, true, true, true, "true"},
		{"abc", 0, false, false, false, "abc"},
	} {
		n, ok := AsInt(c.v)
		b, bok := AsBool(c.v)
		s, _ := AsString(c.v)
		if n != c.n || ok != c.ok || b != c.b || bok != c.bok || s != c.text {
			t.Errorf("%#v: int %d %v bool %v %v text %q", c.v, n, ok, b, bok, s)
		}
	}
}

func TestDeclaredParamsReportEveryIssue(t *testing.T) {
	p := NewParams(map[string]any{"domainid": "abc", "Flag": "maybe"})
	issues := p.check([]Param{
		{Name: "DomainID", Type: Int, Required: true, Code: 1},
		{Name: "Description", Required: true, Code: 2},
		{Name: "Flag", Type: Bool, Code: 3},
	})
	var codes []int
	for _, is := range issues {
		codes = append(codes, is.Code)
	}
	if !reflect.DeepEqual(codes, []int{1, 2, 3}) {
		t.Fatalf("codes %v", codes)
	}
}

// decodeAll decodes a query string and a body as readParams does once the body is read.
func decodeAll(query, ctype string, body []byte, lim Limits) (map[string]any, error) {
	d := &decoder{lim: lim}
	tree := map[string]any{}
	if err := d.form(tree, query, false); err != nil {
		return nil, err
	}
	if err := d.body(tree, ctype, body); err != nil {
		return nil, err
	}
	return tree, nil
}

// multipartBody is one multipart/form-data body with the given fields, in order.
func multipartBody(fields ...[2]string) (ctype string, body []byte) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, f := range fields {
		w.WriteField(f[0], f[1])
	}
	w.Close()
	return w.FormDataContentType(), b.Bytes()
}

// Every limit is enforced in every encoding, at exactly its value: the limit passes, one more
// is refused with a *LimitError naming it.
func TestDecodeLimits(t *testing.T) {
	lim := Limits{Depth: 4, Vars: 6, Elements: 12}
	deepName := func(n int) string { return "a" + strings.Repeat("[x]", n) }
	deepJSON := func(n int) string { return `{"a":` + strings.Repeat(`{"x":`, n) + "1" + strings.Repeat("}", n) + "}" }
	form := "application/x-www-form-urlencoded"
	mp := func(fields ...[2]string) (string, []byte) { return multipartBody(fields...) }
	many := func(n int, sep string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf("v%d=1", i)
		}
		return strings.Join(parts, sep)
	}
	mpMany := func(n int) (string, []byte) {
		var fs [][2]string
		for i := 0; i < n; i++ {
			fs = append(fs, [2]string{fmt.Sprintf("v%d", i), "1"})
		}
		return mp(fs...)
	}
	type tc struct {
		name, query, ctype, body string
		what                     string // "" decodes
	}
	mpDeepOK, mpDeepOKBody := mp([2]string{deepName(4), "1"})
	mpDeep, mpDeepBody := mp([2]string{deepName(5), "1"})
	mpVarsOK, mpVarsOKBody := mpMany(6)
	mpVars, mpVarsBody := mpMany(7)
	cases := []tc{
		{"form depth at limit", "", form, deepName(4) + "=1", ""},
		{"form depth over", "", form, deepName(5) + "=1", "nesting"},
		{"form append depth over", "", form, "a" + strings.Repeat("[]", 5) + "=1", "nesting"},
		{"query depth over", deepName(5) + "=1", "", "", "nesting"},
		{"multipart depth at limit", "", mpDeepOK, string(mpDeepOKBody), ""},
		{"multipart depth over", "", mpDeep, string(mpDeepBody), "nesting"},
		{"json depth at limit", "", "application/json", deepJSON(4), ""},
		{"json depth over", "", "application/json", deepJSON(5), "nesting"},
		{"json array depth over", "", "application/json", `{"a":[[[[[1]]]]]}`, "nesting"},
		{"form vars at limit", "", form, many(6, "&"), ""},
		{"form vars over", "", form, many(7, "&"), "variables"},
		{"query and body vars over", many(3, "&"), form, many(4, "&"), "variables"},
		{"multipart vars at limit", "", mpVarsOK, string(mpVarsOKBody), ""},
		{"multipart vars over", "", mpVars, string(mpVarsBody), "variables"},
		{"json values at limit", "", "application/json", `{"a":[` + strings.TrimSuffix(strings.Repeat("0,", 11), ",") + `]}`, ""},
		{"json values over", "", "application/json", `{"a":[` + strings.TrimSuffix(strings.Repeat("0,", 12), ",") + `]}`, "elements"},
		{"json keys over", "", "application/json", `{` + strings.TrimSuffix(strings.Repeat(`"k":{},`, 13), ",") + `}`, "elements"},
		{"form values at limit", "", form, "p[a][b][c]=1&q[a][b][c]=1&r[a][b][c]=1", ""},
		{"form values over", "", form, "p[a][b][c]=1&q[a][b][c]=1&r[a][b][c]=1&s[a]=1", "elements"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tree, err := decodeAll(c.query, c.ctype, []byte(c.body), lim)
			var le *LimitError
			switch {
			case c.what == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.what == "":
				if d := depthOf(tree); d > lim.Depth {
					t.Fatalf("tree %d deep", d)
				}
			case !errors.As(err, &le):
				t.Fatalf("err %v (%T), want a *LimitError", err, err)
			case le.What != c.what:
				t.Fatalf("limit %q, want %q", le.What, c.what)
			}
		})
	}
}

// depthOf is how many levels below the top-level parameters a tree goes.
func depthOf(tree map[string]any) int {
	deepest := 0
	type item struct {
		v     any
		depth int
	}
	var stack []item
	for _, v := range tree {
		stack = append(stack, item{v, 0})
	}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		deepest = max(deepest, it.depth)
		switch t := it.v.(type) {
		case map[string]any:
			for _, v := range t {
				stack = append(stack, item{v, it.depth + 1})
			}
		case []any:
			for _, v := range t {
				stack = append(stack, item{v, it.depth + 1})
			}
		}
	}
	return deepest
}

// The attack of issue 12, finding 1, at its real size: a PHP form name nested millions of
// levels deep (about 21 MiB), urlencoded and multipart. The old decoder recursed once per
// level until the process died of a stack overflow; now it is refused at level 33, quickly.
// (A multipart part header over 10 MiB is already refused by the MIME reader, as a bad body;
// one of 3 MiB reaches the nesting check.)
func TestDeepFormNameRefusedQuickly(t *testing.T) {
	name := "a" + strings.Repeat("[x]", 7<<20)
	mpType, mpBody := multipartBody([2]string{name, "1"})
	mpType3, mpBody3 := multipartBody([2]string{name[:3<<20] + "]", "1"})
	for _, c := range []struct {
		ctype string
		body  []byte
		bad   bool // a *BadJSONError is the answer too
	}{
		{"application/x-www-form-urlencoded", []byte(name + "=1"), false},
		{mpType3, mpBody3, false},
		{mpType, mpBody, true},
	} {
		start := time.Now()
		_, err := decodeAll("", c.ctype, c.body, DefaultLimits)
		var le *LimitError
		var bj *BadJSONError
		if !(errors.As(err, &le) && le.What == "nesting" && le.Limit == 32) && !(c.bad && errors.As(err, &bj)) {
			t.Fatalf("%d bytes of %s: err %v, want the nesting limit 32", len(c.body), c.ctype, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: %s to refuse", c.ctype, d)
		}
	}
}

// The in-flight budget grants in order, makes the excess wait, refuses after the wait with
// ErrBusy, and lets a reservation larger than the whole budget run alone.
func TestInflightBudget(t *testing.T) {
	b := NewInflight(100)
	ctx := context.Background()
	if err := b.Acquire(ctx, 60); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := b.Acquire(short, 50); !errors.Is(err, ErrBusy) {
		t.Fatalf("over the budget: %v, want ErrBusy", err)
	}
	granted := make(chan error, 1)
	go func() { granted <- b.Acquire(ctx, 50) }()
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-granted:
		t.Fatalf("granted while the budget was spent (%v)", err)
	default:
	}
	b.Release(60)
	if err := <-granted; err != nil {
		t.Fatal(err)
	}
	if got := b.InUse(); got != 50 {
		t.Fatalf("in use %d, want 50", got)
	}
	alone := make(chan error, 1)
	go func() { alone <- b.Acquire(ctx, 500) }()
	time.Sleep(20 * time.Millisecond)
	if b.InUse() != 50 {
		t.Fatal("a reservation larger than the budget ran beside another")
	}
	b.Release(50)
	if err := <-alone; err != nil || b.InUse() != 500 {
		t.Fatalf("alone: %v, in use %d", err, b.InUse())
	}
	b.Release(500)
	if b.InUse() != 0 {
		t.Fatalf("in use %d after every release", b.InUse())
	}
}
