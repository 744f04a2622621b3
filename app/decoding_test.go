package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatewayd/app/apptest"
	"gatewayd/config"
)

// The same command reaches the same handler through every encoding api.php accepts.
func TestAPIPHPEncodings(t *testing.T) {
	e := apptest.Start(t, nil)
	u := e.CreateUser("alice")
	want := `{"Success":true,"ErrorCode":0,"Domains":[]}`

	form := url.Values{"Command": {"emailgateway.getdomains"}, "SessionID": {u.SessionID}}
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	w.WriteField("Command", "emailgateway.getdomains")
	w.WriteField("SessionID", u.SessionID)
	w.Close()

	cases := []struct {
		name   string
		method string
		path   string
		ctype  string
		body   string
	}{
		{"json post", "POST", "/api.php", "application/json", `{"Command":"emailgateway.getdomains","SessionID":"` + u.SessionID + `"}`},
		{"form post", "POST", "/api.php", "application/x-www-form-urlencoded", form.Encode()},
		{"multipart post", "POST", "/api.php", w.FormDataContentType(), mp.String()},
		{"get query", "GET", "/api.php?" + form.Encode(), "", ""},
		{"json body on get", "GET", "/api.php", "application/json", `{"Command":"emailgateway.getdomains","SessionID":"` + u.SessionID + `"}`},
		{"json sent as a form (curl -d)", "POST", "/api.php", "application/x-www-form-urlencoded", `{"command":"emailgateway.getdomains","sessionid":"` + u.SessionID + `"}`},
		{"lower-case names", "POST", "/api.php", "application/json", `{"command":"emailgateway.getdomains","sessionid":"` + u.SessionID + `"}`},
		{"upper-case names", "POST", "/api.php", "application/json", `{"COMMAND":"emailgateway.getdomains","SESSIONID":"` + u.SessionID + `"}`},
		{"mixed-case command", "POST", "/api.php", "application/json", `{"Command":"EmailGateway.GetDomains","SessionID":"` + u.SessionID + `"}`},
		{"query and body merge", "POST", "/api.php?Command=emailgateway.getdomains", "application/json", `{"SessionID":"` + u.SessionID + `"}`},
		{"body wins over query", "POST", "/api.php?Command=user.current&SessionID=bad", "application/json", `{"command":"emailgateway.getdomains","SessionID":"` + u.SessionID + `"}`},
		{"numbers as strings", "POST", "/api.php", "application/json", `{"Command":"emailgateway.getdomains","SessionID":"` + u.SessionID + `","WithCounts":"0"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			if c.ctype != "" {
				h.Set("Content-Type", c.ctype)
			}
			r := e.Do(c.method, c.path, h, []byte(c.body))
			if r.Status != 200 || string(r.Body) != want {
				t.Fatalf("%d %s, want %s", r.Status, r.Body, want)
			}
		})
	}
}

func TestAPIPHPXML(t *testing.T) {
	e := apptest.Start(t, nil)
	u := e.CreateUser("alice")
	id := e.AddDomain(u, "example.com")
	d, err := e.Server.DB.DomainByID(context.Background(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := e.Do("GET", "/api.php?Command=emailgateway.getdomains&ResponseFormat=XML&SessionID="+u.SessionID, nil, nil)
	want := `<?xml version="1.0" encoding="utf-8"?>
<response><Success><![CDATA[true]]></Success><ErrorCode><![CDATA[0]]></ErrorCode><Domains><node_0>` +
		`<CreatedAt><![CDATA[` + time.Unix(d.CreatedAt, 0).UTC().Format("2006-01-02 15:04:05") + `]]></CreatedAt><DomainID><![CDATA[1]]></DomainID>` +
		`<Options><LinkTracking><![CDATA[0]]></LinkTracking><OpenTracking><![CDATA[0]]></OpenTracking><UnsubscribeLink><![CDATA[0]]></UnsubscribeLink></Options>` +
		`<PolicyMeta></PolicyMeta><SenderDomain><![CDATA[example.com]]></SenderDomain><Status><![CDATA[Approval Pending]]></Status>` +
		`<VerificationMeta><DNSRecords><node_0><Name><![CDATA[example.com]]></Name><Required><![CDATA[true]]></Required><Type><![CDATA[TXT]]></Type>` +
		`<Value><![CDATA[v=spf1 include:_spf.mx.gateway.test ~all]]></Value></node_0><node_1><Name><![CDATA[` + d.DKIMSelector +
		`._domainkey.example.com]]></Name><Required><![CDATA[true]]></Required><Type><![CDATA[TXT]]></Type><Value><![CDATA[` +
		e.Server.App.DomainRecords(d)[1].Value + `]]></Value></node_1><node_2><Name><![CDATA[bounces.example.com]]></Name>` +
		`<Required><![CDATA[false]]></Required><Type><![CDATA[CNAME]]></Type><Value><![CDATA[mx.gateway.test]]></Value></node_2>` +
		`</DNSRecords></VerificationMeta></node_0></Domains></response>`
	if r.Status != 200 || strings.TrimSpace(string(r.Body)) != want || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/xml") {
		t.Fatalf("%d %s %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	// Anything but exactly XML is JSON.
	r = e.Do("GET", "/api.php?Command=emailgateway.getdomains&ResponseFormat=xml&SessionID="+u.SessionID, nil, nil)
	if !strings.HasPrefix(string(r.Body), `{"Success":true`) {
		t.Fatalf("lower-case xml: %s", r.Body)
	}
	// Errors in XML too.
	r = e.Do("GET", "/api.php?Command=emailgateway.getdomain&ResponseFormat=XML&SessionID="+u.SessionID, nil, nil)
	if !strings.Contains(string(r.Body), `<ErrorCode><node_0><![CDATA[1]]></node_0></ErrorCode><ErrorText><node_0><![CDATA[Missing required parameter (DomainID)]]></node_0></ErrorText>`) {
		t.Fatalf("xml error: %s", r.Body)
	}
}

// Hard failures honour ResponseFormat=XML (arrays as <node_N>, error-handling.md's example),
// except 100000 and 100001, which answer JSON whatever was asked: the request was not parsed
// far enough to know.
func TestAPIPHPHardFailuresXML(t *testing.T) {
	e := apptest.Start(t, nil)
	r := e.Do("POST", "/api.php?ResponseFormat=XML", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		[]byte("Command=nope&ResponseFormat=XML"))
	want := `<?xml version="1.0" encoding="utf-8"?>
<response><Success><![CDATA[false]]></Success><ErrorCode><![CDATA[100003]]></ErrorCode><ErrorText><![CDATA[Unknown command]]></ErrorText><Errors><node_0><Code><![CDATA[100003]]></Code><Message><![CDATA[Unknown command]]></Message></node_0></Errors></response>`
	if r.Status != 400 || strings.TrimSpace(string(r.Body)) != want || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/xml") {
		t.Fatalf("100003 in XML: %d %s %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	for _, c := range []struct {
		name, method, body string
		code               string
	}{
		{"bad json", "POST", `{"Command":"user.login","ResponseFormat":"XML"`, `"ErrorCode":100000`},
		{"bad method", "PUT", `{"Command":"user.login","ResponseFormat":"XML"}`, `"ErrorCode":100001`},
	} {
		r := e.Do(c.method, "/api.php?ResponseFormat=XML", http.Header{"Content-Type": {"application/json"}}, []byte(c.body))
		if r.Status != 400 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") ||
			!strings.HasPrefix(string(r.Body), `{"Success":false,`+c.code) {
			t.Fatalf("%s: %d %s %s", c.name, r.Status, r.Header.Get("Content-Type"), r.Body)
		}
	}
}

// A client written as error-handling.md's examples are (JavaScript, PHP, Python) pairs each
// ErrorCode with ErrorText at the same index when both are arrays, and uses the one string
// when ErrorCode is one code.
func TestErrorTextPairsWithErrorCode(t *testing.T) {
	e := apptest.Start(t, nil)
	messages := func(body []byte) []string {
		t.Helper()
		var res struct {
			Success   bool
			ErrorCode any
			ErrorText any
		}
		if err := json.Unmarshal(body, &res); err != nil || res.Success {
			t.Fatalf("%v %s", err, body)
		}
		codes, isList := res.ErrorCode.([]any)
		if !isList {
			codes = []any{res.ErrorCode}
		}
		var out []string
		for i, code := range codes {
			msg, _ := res.ErrorText.(string)
			if texts, ok := res.ErrorText.([]any); ok {
				if !isList || len(texts) != len(codes) {
					t.Fatalf("ErrorText %v does not follow ErrorCode %v", res.ErrorText, res.ErrorCode)
				}
				msg = texts[i].(string)
			} else if isList {
				t.Fatalf("ErrorCode is an array, ErrorText is not: %s", body)
			}
			out = append(out, fmt.Sprintf("Error %v: %s", code, msg))
		}
		return out
	}
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	r := e.Do("POST", "/api.php", form, []byte("ResponseFormat=JSON&Command=user.login"))
	got := strings.Join(messages(r.Body), ", ")
	if got != "Error 1: Missing required parameter (Username), Error 2: Missing required parameter (Password)" {
		t.Fatalf("list: %s", got)
	}
	r = e.Do("POST", "/api.php", form, []byte("ResponseFormat=JSON&Command=user.login&Username=nobody&Password=x"))
	if got := strings.Join(messages(r.Body), ", "); got != "Error 3: Invalid login information" {
		t.Fatalf("scalar: %s", got)
	}
}

func TestAPIPHPHardFailures(t *testing.T) {
	e := apptest.Start(t, func(c *config.Config) { c.BodyLimit = 4096 })
	js := http.Header{"Content-Type": {"application/json"}}
	cases := []struct {
		name   string
		method string
		header http.Header
		body   string
		status int
		want   string
	}{
		{"bad json", "POST", js, `{"Command":`, 400, `{"Success":false,"ErrorCode":100000,"ErrorText":"Invalid request body: unexpected EOF","Errors":[{"Code":100000,"Message":"Invalid request body: unexpected EOF"}]}`},
		{"json array", "POST", js, `[1,2]`, 400, `{"Success":false,"ErrorCode":100000,"ErrorText":"Invalid request body: the body must be a JSON object","Errors":[{"Code":100000,"Message":"Invalid request body: the body must be a JSON object"}]}`},
		{"bad method", "PUT", js, `{}`, 400, `{"Success":false,"ErrorCode":100001,"ErrorText":"Invalid request method; use GET or POST","Errors":[{"Code":100001,"Message":"Invalid request method; use GET or POST"}]}`},
		{"unknown command", "POST", js, `{"Command":"emailgateway.nosuch"}`, 400, `{"Success":false,"ErrorCode":100003,"ErrorText":"Unknown command","Errors":[{"Code":100003,"Message":"Unknown command"}]}`},
		{"missing command", "POST", js, `{}`, 400, `{"Success":false,"ErrorCode":100003,"ErrorText":"Command is missing","Errors":[{"Code":100003,"Message":"Command is missing"}]}`},
		{"oversize body", "POST", js, `{"Command":"user.login","Username":"` + strings.Repeat("a", 5000) + `"}`, 413, `{"Success":false,"ErrorCode":100000,"ErrorText":"Request body is larger than the server accepts","Errors":[{"Code":100000,"Message":"Request body is larger than the server accepts"}]}`},
		{"deep json", "POST", js, strings.Repeat("[", 2000) + strings.Repeat("]", 2000), 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.Do(c.method, "/api.php", c.header, []byte(c.body))
			if r.Status != c.status || (c.want != "" && string(r.Body) != c.want) {
				t.Fatalf("%d %s\nwant %d %s", r.Status, r.Body, c.status, c.want)
			}
			if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("content type %q", r.Header.Get("Content-Type"))
			}
		})
	}
	// The server is still healthy afterwards.
	if r := e.Do("GET", "/healthz", nil, nil); r.Status != 200 {
		t.Fatalf("healthz %d", r.Status)
	}
}

// Unknown paths answer JSON, never an HTML page.
func TestUnknownPathIsJSON(t *testing.T) {
	e := apptest.Start(t, nil)
	r := e.Do("GET", "/no/such/path", nil, nil)
	if r.Status != 404 || strings.TrimSpace(string(r.Body)) != `{"Errors":[{"Code":404,"Message":"Not Found"}]}` {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
}
