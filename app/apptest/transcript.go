package apptest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// A transcript is a text file of exchanges, replayed against a fresh server:
//
//	# comment
//	@user alice                      (a directive: see Directives)
//	>>> POST /api.php
//	Content-Type: application/json
//
//	{"Command":"user.login","Username":"alice","Password":"${alice_password}"}
//	<<< 200
//	{"Success":true,"ErrorCode":0,"SessionID":"${session}","UserInfo":"${*}"}
//
// ${name} in a request is replaced by the variable's value. In an expected JSON body, a string
// "${name}" captures the actual value when name is unset and must equal it when set; "${*}"
// matches anything; "${#name}" captures (or compares) like "${name}" and also requires a JSON
// number. Objects must have exactly the expected keys, unless the expected object has the key
// "*" (with any value): then further keys are allowed. An expected body that is not
// JSON is compared as text after substitution. Header lines after "<<< STATUS" (before a blank
// line) must be present in the response.
type Transcript struct {
	Name  string
	Steps []Step
}

// Step is a directive or an exchange.
type Step struct {
	Line      int
	Directive []string
	Method    string
	Path      string
	ReqHeader http.Header
	ReqBody   string
	Status    int
	ResHeader http.Header
	ResBody   string
}

// Directive runs a set-up step; it may set variables.
type Directive func(e *Env, args []string, vars map[string]string) error

// Directives are the set-up steps transcripts may use. Packages add their own before running.
var Directives = map[string]Directive{
	"user": func(e *Env, args []string, vars map[string]string) error {
		if len(args) != 1 {
			return fmt.Errorf("@user NAME")
		}
		u := e.CreateUser(args[0])
		vars[args[0]+"_id"] = strconv.FormatInt(u.ID, 10)
		vars[args[0]+"_session"] = u.SessionID
		vars[args[0]+"_password"] = u.Password
		return nil
	},
	"domain": func(e *Env, args []string, vars map[string]string) error {
		if len(args) != 3 {
			return fmt.Errorf("@domain USER NAME VAR")
		}
		u := &User{SessionID: vars[args[0]+"_session"]}
		vars[args[2]] = strconv.FormatInt(e.AddDomain(u, args[1]), 10)
		return nil
	},
	"enable": func(e *Env, args []string, vars map[string]string) error {
		if len(args) != 1 {
			return fmt.Errorf("@enable DOMAINVAR")
		}
		id, _ := strconv.ParseInt(vars[args[0]], 10, 64)
		e.EnableDomain(id)
		return nil
	},
	"dns": func(e *Env, args []string, vars map[string]string) error {
		if len(args) < 3 {
			return fmt.Errorf("@dns TXT|CNAME|MX|A NAME VALUE")
		}
		switch strings.ToUpper(args[0]) {
		case "TXT":
			e.DNS.AddTXT(args[1], strings.Join(args[2:], " "))
		case "CNAME":
			e.DNS.AddCNAME(args[1], args[2])
		case "A":
			e.DNS.AddA(args[1], args[2:]...)
		default:
			return fmt.Errorf("@dns: unknown type %s", args[0])
		}
		return nil
	},
	"set": func(e *Env, args []string, vars map[string]string) error {
		if len(args) < 2 {
			return fmt.Errorf("@set VAR VALUE")
		}
		vars[args[0]] = strings.Join(args[1:], " ")
		return nil
	},
}

// ParseTranscript reads a transcript file.
func ParseTranscript(path string) (*Transcript, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t := &Transcript{Name: path}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var cur *Step
	mode := "" // "reqhead", "reqbody", "reshead", "resbody"
	var body []string
	flush := func() {
		if cur == nil {
			return
		}
		text := strings.TrimRight(strings.Join(body, "\n"), "\n")
		if mode == "reqbody" || mode == "reqhead" {
			cur.ReqBody = text
		} else {
			cur.ResBody = text
			t.Steps = append(t.Steps, *cur)
			cur = nil
		}
		body = nil
	}
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.HasPrefix(line, ">>> "):
			flush()
			f := strings.Fields(line[4:])
			if len(f) != 2 {
				return nil, fmt.Errorf("%s:%d: want >>> METHOD PATH", path, n)
			}
			cur = &Step{Line: n, Method: f[0], Path: f[1], ReqHeader: http.Header{}, ResHeader: http.Header{}}
			mode = "reqhead"
		case strings.HasPrefix(line, "<<< "):
			if cur == nil {
				return nil, fmt.Errorf("%s:%d: response without request", path, n)
			}
			flush()
			st, err := strconv.Atoi(strings.TrimSpace(line[4:]))
			if err != nil {
				return nil, fmt.Errorf("%s:%d: bad status", path, n)
			}
			cur.Status = st
			mode = "reshead"
		case cur != nil && mode == "resbody" && (strings.HasPrefix(line, "#") || strings.HasPrefix(line, "@")):
			// A comment or directive ends the response body.
			flush()
			if strings.HasPrefix(line, "@") {
				t.Steps = append(t.Steps, Step{Line: n, Directive: strings.Fields(line[1:])})
			}
		case cur == nil && (strings.HasPrefix(line, "#") || strings.TrimSpace(line) == ""):
		case cur == nil && strings.HasPrefix(line, "@"):
			t.Steps = append(t.Steps, Step{Line: n, Directive: strings.Fields(line[1:])})
		case cur == nil:
			return nil, fmt.Errorf("%s:%d: unexpected line %q", path, n, line)
		case mode == "reqhead" || mode == "reshead":
			if line == "" {
				if mode == "reqhead" {
					mode = "reqbody"
				} else {
					mode = "resbody"
				}
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok || strings.HasPrefix(line, "{") || strings.HasPrefix(line, "<") {
				// No headers: the body starts here.
				if mode == "reqhead" {
					mode = "reqbody"
				} else {
					mode = "resbody"
				}
				body = append(body, line)
				continue
			}
			if mode == "reqhead" {
				cur.ReqHeader.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			} else {
				cur.ResHeader.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		default:
			if strings.HasPrefix(line, "#") && len(body) == 0 {
				continue
			}
			body = append(body, line)
		}
	}
	if cur != nil {
		if mode == "reqhead" || mode == "reqbody" {
			return nil, fmt.Errorf("%s: request at line %d has no response", path, cur.Line)
		}
		flush()
	}
	return t, sc.Err()
}

var varRE = regexp.MustCompile(`\$\{(#?[A-Za-z0-9_.*-]+)\}`)

func substitute(s string, vars map[string]string) (string, error) {
	var missing []string
	out := varRE.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("unset variables %v", missing)
	}
	return out, nil
}

// Run replays a transcript against e.
func (e *Env) Run(t *Transcript) {
	e.T.Helper()
	vars := map[string]string{"admin_key": AdminKey}
	for _, st := range t.Steps {
		where := fmt.Sprintf("%s:%d", t.Name, st.Line)
		if st.Directive != nil {
			d, ok := Directives[st.Directive[0]]
			if !ok {
				e.T.Fatalf("%s: unknown directive @%s", where, st.Directive[0])
			}
			if err := d(e, st.Directive[1:], vars); err != nil {
				e.T.Fatalf("%s: @%s: %v", where, st.Directive[0], err)
			}
			continue
		}
		path, err := substitute(st.Path, vars)
		if err != nil {
			e.T.Fatalf("%s: %v", where, err)
		}
		body, err := substitute(st.ReqBody, vars)
		if err != nil {
			e.T.Fatalf("%s: %v", where, err)
		}
		h := http.Header{}
		for k, vs := range st.ReqHeader {
			for _, v := range vs {
				sv, err := substitute(v, vars)
				if err != nil {
					e.T.Fatalf("%s: %v", where, err)
				}
				h.Add(k, sv)
			}
		}
		res := e.Do(st.Method, path, h, []byte(body))
		if res.Status != st.Status {
			e.T.Fatalf("%s: %s %s: status %d, want %d\nbody: %s", where, st.Method, path, res.Status, st.Status, res.Body)
		}
		for k, vs := range st.ResHeader {
			for _, v := range vs {
				want, err := substitute(v, vars)
				if err != nil {
					e.T.Fatalf("%s: %v", where, err)
				}
				if got := res.Header.Get(k); got != want {
					e.T.Fatalf("%s: header %s = %q, want %q", where, k, got, want)
				}
			}
		}
		if err := matchBody(st.ResBody, res.Body, vars); err != nil {
			e.T.Fatalf("%s: %s %s: %v\ngot:  %s\nwant: %s", where, st.Method, path, err, res.Body, st.ResBody)
		}
	}
}

func matchBody(want string, got []byte, vars map[string]string) error {
	wt := strings.TrimSpace(want)
	if wt == "" {
		if len(bytes.TrimSpace(got)) != 0 {
			return fmt.Errorf("want an empty body")
		}
		return nil
	}
	if wt[0] == '{' || wt[0] == '[' {
		var w, g any
		if err := json.Unmarshal([]byte(wt), &w); err != nil {
			return fmt.Errorf("expected body is not JSON: %v", err)
		}
		dec := json.NewDecoder(bytes.NewReader(got))
		dec.UseNumber()
		if err := dec.Decode(&g); err != nil {
			return fmt.Errorf("response is not JSON: %v", err)
		}
		return matchJSON("$", w, g, vars)
	}
	exp, err := substitute(wt, vars)
	if err != nil {
		return err
	}
	if exp != strings.TrimSpace(string(got)) {
		return fmt.Errorf("text body differs")
	}
	return nil
}

func matchJSON(path string, want, got any, vars map[string]string) error {
	if s, ok := want.(string); ok {
		if m := varRE.FindStringSubmatch(s); m != nil && m[0] == s {
			name := m[1]
			if name == "*" {
				return nil
			}
			if strings.HasPrefix(name, "#") {
				if _, isNum := got.(json.Number); !isNum {
					return fmt.Errorf("%s = %v (%T), want a number", path, got, got)
				}
				name = name[1:]
			}
			gs := scalarString(got)
			if v, set := vars[name]; set {
				if v != gs {
					return fmt.Errorf("%s = %s, want ${%s} = %q", path, gs, name, v)
				}
				return nil
			}
			vars[name] = gs
			return nil
		}
		sub, err := substitute(s, vars)
		if err != nil {
			return err
		}
		gs, isStr := got.(string)
		if !isStr || gs != sub {
			return fmt.Errorf("%s = %v, want %q", path, got, sub)
		}
		return nil
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: got %T, want an object", path, got)
		}
		// Variables in keys (names made at run time) are substituted first.
		subst := make(map[string]any, len(w))
		for k, v := range w {
			sk, err := substitute(k, vars)
			if err != nil {
				return fmt.Errorf("%s: key %s: %v", path, k, err)
			}
			subst[sk] = v
		}
		w = subst
		_, open := w["*"]
		delete(w, "*")
		var wk, gk []string
		for k := range w {
			wk = append(wk, k)
		}
		for k := range g {
			if _, want := w[k]; want || !open {
				gk = append(gk, k)
			}
		}
		sort.Strings(wk)
		sort.Strings(gk)
		if strings.Join(wk, ",") != strings.Join(gk, ",") {
			return fmt.Errorf("%s: keys %v, want %v", path, gk, wk)
		}
		for _, k := range wk {
			if err := matchJSON(path+"."+k, w[k], g[k], vars); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Errorf("%s: got %T, want an array", path, got)
		}
		if len(g) != len(w) {
			return fmt.Errorf("%s: %d items, want %d", path, len(g), len(w))
		}
		for i := range w {
			if err := matchJSON(fmt.Sprintf("%s[%d]", path, i), w[i], g[i], vars); err != nil {
				return err
			}
		}
		return nil
	case float64:
		n, ok := got.(json.Number)
		if !ok {
			return fmt.Errorf("%s = %v (%T), want number %v", path, got, got, w)
		}
		f, _ := n.Float64()
		if f != w {
			return fmt.Errorf("%s = %v, want %v", path, n, w)
		}
		return nil
	default:
		if fmt.Sprint(want) != fmt.Sprint(got) {
			return fmt.Errorf("%s = %v, want %v", path, got, want)
		}
		return nil
	}
}

func scalarString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case nil:
		return "null"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// RunDir replays every transcript matching pattern, each on a fresh server.
func RunDir(t *testing.T, pattern string) {
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts match %s: %v", pattern, err)
	}
	for _, f := range files {
		tr, err := ParseTranscript(f)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(f[strings.LastIndexByte(f, '/')+1:], ".txt")
		t.Run(name, func(t *testing.T) {
			Start(t, nil).Run(tr)
		})
	}
}
