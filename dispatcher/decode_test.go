package dispatcher

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func TestPHPFormArrays(t *testing.T) {
	body := "To[0][email]=a%40x.test&To[0][name]=A&To[1][email]=b%40x.test&Tags[]=one&Tags[]=two&From[Email]=f%40x.test&plain=1"
	r := httptest.NewRequest("POST", "/api.php?Query=q", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	tree, err := DecodeRequest(r, 1<<20)
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
