package commands

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestImportRowsColumns: a mapped column is found by FIELDn or by its header name (exact
// first, then case-insensitively), a column a short row lacks is absent, and a JSON source's
// keys are found the same way; custom field values are encoded as encoding/json would.
func TestImportRowsColumns(t *testing.T) {
	read := func(spec importSpec, data string, cols ...string) [][]string {
		var out [][]string
		err := importRows(&spec, []byte(data), func(r importRow) error {
			var row []string
			for _, c := range cols {
				v, ok := r.get(c)
				if !ok {
					v = "<none>"
				}
				row = append(row, v)
			}
			out = append(out, row)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	csvSpec := importSpec{Format: "csv", Terminator: ",", Mapped: map[string]string{"email": "EmailAddress"}}
	got := read(csvSpec, "Email,First Name,City\na@example.com,Ann,Oslo\nb@example.com,Bob\n",
		"email", "first name", "City", "FIELD3", "field2", "FIELD4", "FIELD03")
	want := [][]string{{"a@example.com", "Ann", "Oslo", "Oslo", "Ann", "<none>", "<none>"},
		{"b@example.com", "Bob", "<none>", "<none>", "Bob", "<none>", "<none>"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("csv with a header: %q, want %q", got, want)
	}
	csvSpec.Mapped = map[string]string{"FIELD1": "EmailAddress"}
	got = read(csvSpec, "c@example.com,x\n", "FIELD1", "Field2", "email")
	if want := [][]string{{"c@example.com", "x", "<none>"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("csv without a header: %q, want %q", got, want)
	}
	got = read(importSpec{Format: "json"}, `[{"Email":"d@example.com","n":1}]`, "email", "n", "x")
	if want := [][]string{{"d@example.com", "1", "<none>"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("json: %q, want %q", got, want)
	}
	for _, s := range []string{"plain", `q"uote`, "back\\slash", "<b>&", "tab\there", "caf\u00e9", "\u2028", "bad\xff"} {
		if got, want := string(appendJSONString(nil, s)), jsonString(s); got != want {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
