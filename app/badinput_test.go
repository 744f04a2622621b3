package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"gatewayd/app/apptest"
	"gatewayd/config"
)

// badBody is one hostile request body.
type badBody struct {
	name, ctype string
	body        []byte
	// decodeFails: the request decoder refuses it (the surface's "bad request body" answer);
	// overLimit: as a decoding limit (nesting, form variables, values) refuses it, which is
	// the same answer but for GatewayAPI's (400 0x0202 rather than 422 0x0200);
	// tooLarge: it is over the body limit (the surface's 413); overSmall: over the small body
	// limit only, so a 413 from the commands that take no content and not from the others.
	decodeFails, overLimit, tooLarge, overSmall bool
}

// badBodies are the hostile bodies every surface gets: garbage, truncated, giant, 10k-deep
// JSON and PHP form names (urlencoded and multipart), too many form variables or values,
// invalid UTF-8 and CRLF-laden fields, in the encodings the decoder takes.
func badBodies(limit, small int64) []badBody {
	rnd := rand.New(rand.NewPCG(9, 9))
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(rnd.UintN(256))
	}
	crlf := `{"Subject":"Hi\r\nBcc: victim@example.org","ContentType":"plain","PlainContent":"x\r\n.\r\nMAIL FROM:<a@b>",` +
		`"From":{"email":"app@bad.example","name":"Eve\r\nX-Injected: 1"},"To":[{"email":"a@example.net\r\nBcc: victim@example.org"}],` +
		`"Headers":{"X-Tag\r\nX-Injected":"v\r\n\r\nbody"},"Tags":["a\r\nb"],"DomainName":"x.example\r\nBcc: v@example.org",` +
		`"login":"a\r\nb","password":"x","name":"n\r\nX: y","caption":"c\r\nX: y","host":"h\r\nost","recipients":[{"msisdn":1,"address":"a@b.c\r\nBcc: v@x.y"}],` +
		`"subject":"s\r\nBcc: v@x.y","from":"Eve\r\n <e@bad.example>","html":"<p>x</p>","plaintext":"x"}`
	return []badBody{
		{name: "garbage", ctype: "application/json", body: garbage, decodeFails: true},
		{name: "garbage-form", ctype: "application/x-www-form-urlencoded", body: []byte("a[[[[=1&b]=2&=&&[c]=%ff%fe&d[" + strings.Repeat("[x]", 500) + "=1&To[0][email][]=%0d%0a"), decodeFails: true, overLimit: true},
		{name: "bad-escape-form", ctype: "application/x-www-form-urlencoded", body: []byte("Subject=%zz&To=%"), decodeFails: true},
		{name: "truncated-json", ctype: "application/json", body: []byte(`{"Subject":"x","To":[{"email":"a@b`), decodeFails: true},
		{name: "truncated-multipart", ctype: "multipart/form-data; boundary=zz", body: []byte("--zz\r\nContent-Disposition: form-data; name=\"Subject\"\r\n\r\nhel"), decodeFails: true},
		{name: "giant", ctype: "application/json", body: []byte(`{"Subject":"` + strings.Repeat("A", int(limit)+1024) + `"}`), tooLarge: true},
		{name: "medium", ctype: "application/json", body: []byte(`{"Subject":"` + strings.Repeat("A", int(small)+1024) + `","ContentType":"plain","PlainContent":"x",` +
			`"From":{"email":"app@bad.example"},"To":[{"email":"a@example.net"}]}`), overSmall: true},
		// Nesting stops at 32 levels below a top-level parameter (GATEWAY_MAX_INPUT_NESTING).
		{name: "deep-array", ctype: "application/json", body: []byte(`{"To":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`), decodeFails: true, overLimit: true},
		{name: "deep-object", ctype: "application/json", body: []byte(strings.Repeat(`{"To":`, 10000) + "1" + strings.Repeat("}", 10000)), decodeFails: true, overLimit: true},
		{name: "deep-form", ctype: "application/x-www-form-urlencoded", body: []byte("a" + strings.Repeat("[x]", 60000) + "=1"), decodeFails: true, overLimit: true},
		{name: "deep-multipart", ctype: deepMultipartType, body: deepMultipart(60000), decodeFails: true, overLimit: true},
		// 2,000 form variables (GATEWAY_MAX_INPUT_VARS 1,000), 20,000 JSON values (GATEWAY_MAX_INPUT_VALUES 10,000).
		{name: "many-vars", ctype: "application/x-www-form-urlencoded", body: []byte(strings.Repeat("a[]=1&", 2000)), decodeFails: true, overLimit: true},
		{name: "many-values", ctype: "application/json", body: []byte(`{"a":[0` + strings.Repeat(",0", 20000) + `]}`), decodeFails: true, overLimit: true},
		{name: "invalid-utf8", ctype: "application/json", body: []byte("{\"Subject\":\"\xff\xfe\xc3\x28\",\"ContentType\":\"plain\",\"PlainContent\":\"\xed\xa0\x80\"," +
			"\"From\":{\"email\":\"app@bad.example\",\"name\":\"\xff\"},\"To\":[{\"email\":\"\xff@example.net\"}],\"DomainName\":\"\xff.example\",\"name\":\"\xc3\x28\"}")},
		{name: "crlf-fields", ctype: "application/json", body: []byte(crlf)},
		{name: "wrong-types", ctype: "application/json", body: []byte(`{"Subject":{"a":1},"To":"not a list","ContentType":[1],"From":7,"SendAt":"soon","DomainID":{"x":[]},"port":"x","methods":"y","recipients":"z"}`)},
		{name: "nul-bytes", ctype: "application/json", body: []byte(`{"Subject":"a\u0000b","PlainContent":"\u0000","ContentType":"plain","From":{"email":"app@bad.example\u0000"},"To":[{"email":"a@example.net"}]}`)},
	}
}

// deepMultipartType is the content type of deepMultipart's bodies.
const deepMultipartType = "multipart/form-data; boundary=deepdeepdeep"

// deepMultipart is a multipart/form-data body with one field whose PHP name is nested levels
// deep: a[x][x]...[x]=1.
func deepMultipart(levels int) []byte {
	return []byte("--deepdeepdeep\r\nContent-Disposition: form-data; name=\"a" + strings.Repeat("[x]", levels) +
		"\"\r\n\r\n1\r\n--deepdeepdeep--\r\n")
}

// badSurface is one route and how its errors look.
type badSurface struct {
	name, method, path string
	// large: the route's command takes content (bodies up to GATEWAY_BODY_LIMIT), or is not
	// known before the body is read (api.php without Command in the query string).
	large  bool
	header http.Header
	// check asserts the answer is the surface's documented error (or success) envelope.
	check func(t *testing.T, b badBody, status int, body []byte)
}

// TestBadInput sends every hostile body to every surface and asserts a documented answer in
// that surface's envelope, never a 5xx, an HTML page or a hang (10 s per request); afterwards
// the server is healthy, a normal send still works, and no injected header reached a stored
// message.
func TestBadInput(t *testing.T) {
	const limit, small = 256 << 10, 200 << 10
	env := apptest.Start(t, func(c *config.Config) { c.BodyLimit, c.SmallBodyLimit = limit, small })
	u := env.CreateUser("bad")
	dom := env.AddDomain(u, "bad.example")
	env.EnableDomain(dom)
	key := env.MustAPI(map[string]any{"Command": "emailgateway.addapi", "SessionID": u.SessionID, "DomainID": dom, "Description": "bad"})["APIKey"].(map[string]any)["APIKey"].(string)
	hash := env.MustAPI(map[string]any{"Command": "panel/account/auth", "login": u.Username, "password": u.Password})["hash"].(string)

	jsonCT := func(t *testing.T, status int, h string) {
		t.Helper()
		if !strings.HasPrefix(h, "application/json") {
			t.Errorf("HTTP %d with Content-Type %q; want JSON", status, h)
		}
	}
	decodeOK := func(t *testing.T, body []byte, v any) {
		t.Helper()
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("answer is not JSON: %v: %.300q", err, body)
		}
	}
	wantStatus := func(t *testing.T, b badBody, status int, ok ...int) {
		t.Helper()
		switch {
		case b.tooLarge && status != http.StatusRequestEntityTooLarge:
			t.Errorf("over the body limit: HTTP %d, want 413", status)
		case !b.tooLarge:
			for _, s := range ok {
				if status == s {
					return
				}
			}
			t.Errorf("HTTP %d, want one of %v", status, ok)
		}
	}

	apiphp := func(t *testing.T, b badBody, status int, body []byte) {
		var m struct {
			Success   *bool
			ErrorCode any
			ErrorText any
			Errors    []struct{ Code int }
		}
		decodeOK(t, body, &m)
		if m.Success == nil {
			t.Fatalf("no Success in %.300q", body)
		}
		if b.decodeFails || b.tooLarge {
			wantStatus(t, b, status, http.StatusBadRequest)
			if *m.Success || fmt.Sprint(m.ErrorCode) != "100000" || len(m.Errors) != 1 || m.Errors[0].Code != 100000 {
				t.Errorf("undecodable body: %.300q; want ErrorCode 100000 with Errors", body)
			}
			return
		}
		wantStatus(t, b, status, http.StatusOK, http.StatusBadRequest)
		if !*m.Success && m.ErrorCode == nil {
			t.Errorf("failure without ErrorCode: %.300q", body)
		}
	}
	v1 := func(t *testing.T, b badBody, status int, body []byte) {
		var m struct {
			Errors []struct {
				Code    *int
				Message string
			}
		}
		decodeOK(t, body, &m)
		if b.decodeFails || b.tooLarge {
			wantStatus(t, b, status, http.StatusBadRequest)
			if len(m.Errors) != 1 || m.Errors[0].Code == nil || *m.Errors[0].Code != 100000 {
				t.Errorf("undecodable body: %.300q; want Errors[{Code:100000}]", body)
			}
			return
		}
		wantStatus(t, b, status, http.StatusOK)
		for _, e := range m.Errors {
			if e.Code == nil || e.Message == "" {
				t.Errorf("error without Code or Message: %.300q", body)
			}
		}
	}
	navixy := func(t *testing.T, b badBody, status int, body []byte) {
		var m struct {
			Success *bool `json:"success"`
			Status  *struct {
				Code        int    `json:"code"`
				Description string `json:"description"`
			} `json:"status"`
		}
		decodeOK(t, body, &m)
		if m.Success == nil {
			t.Fatalf("no success in %.300q", body)
		}
		if b.decodeFails || b.tooLarge {
			if status != http.StatusBadRequest || *m.Success || m.Status == nil || m.Status.Code != 5 {
				t.Errorf("undecodable body: HTTP %d %.300q; want 400 with status code 5", status, body)
			}
			return
		}
		wantStatus(t, b, status, http.StatusOK, http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound)
		if !*m.Success && (m.Status == nil || m.Status.Code == 0 || m.Status.Description == "") {
			t.Errorf("failure without status code and description: %.300q", body)
		}
	}
	rest := func(okStatus int) func(t *testing.T, b badBody, status int, body []byte) {
		return func(t *testing.T, b badBody, status int, body []byte) {
			if status == okStatus {
				return
			}
			var m struct {
				Errors []struct {
					Field   any    `json:"field"`
					Message string `json:"message"`
				} `json:"errors"`
			}
			decodeOK(t, body, &m)
			if b.decodeFails {
				wantStatus(t, b, status, http.StatusBadRequest)
			} else {
				wantStatus(t, b, status, http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity)
			}
			if len(m.Errors) == 0 || m.Errors[0].Message == "" {
				t.Errorf("error without errors[].message: %.300q", body)
			}
		}
	}
	gatewayAPI := func(t *testing.T, b badBody, status int, body []byte) {
		if status == http.StatusOK {
			return
		}
		var m struct {
			Code         string   `json:"code"`
			IncidentUUID string   `json:"incident_uuid"`
			Message      string   `json:"message"`
			Variables    []string `json:"variables"`
		}
		decodeOK(t, body, &m)
		switch {
		case b.overLimit:
			wantStatus(t, b, status, http.StatusBadRequest)
			if m.Code != "0x0202" {
				t.Errorf("over a decoding limit: code %q, want 0x0202", m.Code)
			}
		case b.decodeFails:
			wantStatus(t, b, status, http.StatusUnprocessableEntity)
		default:
			wantStatus(t, b, status, http.StatusBadRequest, http.StatusUnprocessableEntity)
		}
		if !strings.HasPrefix(m.Code, "0x") || m.IncidentUUID == "" || m.Message == "" || m.Variables == nil {
			t.Errorf("not GatewayAPI's error object: %.300q", body)
		}
	}

	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	surfaces := []badSurface{
		{"api.php sendemail", "POST", "/api.php?Command=emailgateway.sendemail&SenderAPIKey=" + key, true, nil, apiphp},
		{"api.php adddomain", "POST", "/api.php?Command=emailgateway.adddomain&SessionID=" + u.SessionID, false, nil, apiphp},
		{"api.php updatedomain", "POST", "/api.php?Command=emailgateway.updatedomain&SessionID=" + u.SessionID + "&DomainID=" + fmt.Sprint(dom), false, nil, apiphp},
		{"api.php no command", "POST", "/api.php", true, nil, apiphp},
		{"v1 email", "POST", "/api/v1/email", true, bearer(key), v1},
		{"v1 events", "GET", "/api/v1/events", false, bearer(key), v1},
		{"v1 webhooks", "POST", "/api/v1/webhooks", false, bearer(key), v1},
		{"v1 sender.domains", "POST", "/api/v1/sender.domains", false, bearer(apptest.AdminKey), v1},
		{"navixy auth", "POST", "/panel/account/auth", false, nil, navixy},
		{"navixy list", "POST", "/panel/gateways/email/list", false, http.Header{"Authorization": {"NVX " + hash}}, navixy},
		{"navixy v2 bind", "POST", "/v2/panel/gateways/email/bind?hash=" + hash, false, nil, navixy},
		{"b2core create", "POST", "/api/v2/mail/providers", false, bearer(u.SessionID), rest(http.StatusCreated)},
		{"b2core update", "PATCH", "/api/v2/mail/providers/1", false, bearer(u.SessionID), rest(http.StatusOK)},
		{"tenevo create", "POST", "/messages/gateways", false, bearer(u.SessionID), rest(http.StatusCreated)},
		{"tenevo update", "PUT", "/messages/gateways/1/", false, bearer(u.SessionID), rest(http.StatusOK)},
		{"gatewayapi email", "POST", "/rest/email", true, http.Header{"Authorization": {"Token " + key}}, gatewayAPI},
	}
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(t *testing.T, method, path string, header http.Header, ctype string, body []byte) (int, http.Header, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, env.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v (after %s)", method, path, err, time.Since(start))
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatalf("%s %s: reading the answer: %v", method, path, err)
		}
		if res.StatusCode >= 500 {
			t.Errorf("%s %s: HTTP %d: %.300q", method, path, res.StatusCode, b)
		}
		if bytes.Contains(bytes.ToLower(b), []byte("<html")) && !strings.HasPrefix(path, "/t/") {
			t.Errorf("%s %s: an HTML page: %.300q", method, path, b)
		}
		if bytes.Contains(b, []byte("goroutine ")) || bytes.Contains(b, []byte(".go:")) {
			t.Errorf("%s %s: internal detail in the answer: %.300q", method, path, b)
		}
		return res.StatusCode, res.Header, b
	}

	for _, s := range surfaces {
		for _, b := range badBodies(limit, small) {
			b.tooLarge = b.tooLarge || b.overSmall && !s.large
			t.Run(s.name+"/"+b.name, func(t *testing.T) {
				status, h, body := do(t, s.method, s.path, s.header, b.ctype, b.body)
				if s.check != nil && !(status == http.StatusNoContent && len(body) == 0) {
					jsonCT(t, status, h.Get("Content-Type"))
					s.check(t, b, status, body)
				}
			})
		}
	}

	// Tracking: forged, CRLF-laden, invalid UTF-8 and giant tokens are "not found" (no
	// redirect anywhere), whatever the method and body.
	for _, tok := range []string{"garbage", "%0d%0aLocation:%20https://evil.example/", "%ff%fe%00", strings.Repeat("A", 10000),
		"..%2f..%2fetc%2fpasswd", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		for _, kind := range []string{"o", "c", "u"} {
			for _, method := range []string{"GET", "POST"} {
				name := fmt.Sprintf("tracking/%s/%s/%.20s", kind, method, tok)
				t.Run(name, func(t *testing.T) {
					status, h, _ := do(t, method, "/t/"+kind+"/"+tok, nil, "application/x-www-form-urlencoded", []byte("List-Unsubscribe=One-Click&\xff\r\n"))
					if status != http.StatusNotFound && status != http.StatusMethodNotAllowed && status != http.StatusBadRequest {
						t.Errorf("HTTP %d, want 404", status)
					}
					if loc := h.Get("Location"); loc != "" {
						t.Errorf("redirected to %q", loc)
					}
				})
			}
		}
	}

	// A body is not read before it may be: a Content-Length over the route's cap is refused at
	// once, and so is a wrong credential in a header for a command that takes content. The
	// client sends the headers of a 20 MiB body and nothing more; the answer must come within
	// 5 s (reading the body would wait for bytes that never come).
	for _, c := range []struct {
		name, path, auth string
		status           int
		want             string
	}{
		{"small command over its cap", "/api.php?Command=emailgateway.getdomains&SessionID=" + u.SessionID, "", 413, `"ErrorCode":100000`},
		{"v1 route over its cap", "/api/v1/webhooks", "Bearer " + key, 413, `"Code":100000`},
		{"b2core over its cap", "/api/v2/mail/providers", "Bearer " + u.SessionID, 413, `"errors":[`},
		{"navixy over its cap", "/panel/account/auth", "", 400, `"code":5`},
		{"send over the large cap", "/api/v1/email", "Bearer " + key, 413, `"Code":100000`},
		{"send with a wrong Bearer key", "/api/v1/email", "Bearer eg_live_wrong", 200, `"Code":13`},
		{"gatewayapi with a wrong token", "/rest/email", "Token wrong-token", 401, `"code":"0x0101"`},
	} {
		t.Run("unread-body/"+c.name, func(t *testing.T) {
			size := 20 << 20 // over every cap
			switch {
			case strings.Contains(c.name, "large cap"):
				size = limit + 1
			case strings.Contains(c.name, "wrong"):
				size = limit // over the small cap, within the large one
			}
			conn, err := net.DialTimeout("tcp", strings.TrimPrefix(env.URL, "http://"), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			auth := ""
			if c.auth != "" {
				auth = "Authorization: " + c.auth + "\r\n"
			}
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n{\"Subject\":\"", c.path, size, auth)
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer before the body was sent: %v", err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != c.status || !bytes.Contains(b, []byte(c.want)) {
				t.Fatalf("HTTP %d %.300q; want %d with %s", res.StatusCode, b, c.status, c.want)
			}
		})
	}

	// Bodies that stop before their Content-Length (the client goes away): an answer or a
	// closed connection, quickly, and the server goes on.
	for _, path := range []string{"/api.php", "/api/v1/email", "/rest/email", "/panel/account/auth", "/api/v2/mail/providers"} {
		t.Run("short-body"+path, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", strings.TrimPrefix(env.URL, "http://"), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\nAuthorization: Bearer %s\r\n\r\n{\"Command\":\"user.lo", path, key)
			c.(*net.TCPConn).CloseWrite()
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("no answer and no close within 10 s")
				}
				return // the server closed the connection: fine
			}
			res.Body.Close()
			if res.StatusCode >= 500 {
				t.Errorf("HTTP %d for a short body", res.StatusCode)
			}
		})
	}

	// Afterwards: healthy, a normal request works, and nothing injected was stored.
	if r := env.Do("GET", "/healthz", nil, nil); r.Status != 200 {
		t.Fatalf("/healthz answered %d after the bad input", r.Status)
	}
	r := env.Do("POST", "/api/v1/email", http.Header{"Authorization": {"Bearer " + key}, "Content-Type": {"application/json"}},
		[]byte(`{"Subject":"still fine","ContentType":"plain","PlainContent":"Hello.","From":{"email":"app@bad.example"},"To":[{"email":"ok@example.net"}]}`))
	if m := r.JSON(t); r.Status != 200 || m["MessageID"] == nil {
		t.Fatalf("a normal send after the bad input: %d %s", r.Status, r.Body)
	}
	if m := env.API(map[string]any{"Command": "user.current", "SessionID": u.SessionID}); m["Success"] != true {
		t.Fatalf("user.current after the bad input: %v", m)
	}
	var raws [][]byte
	for id, misses := int64(1), 0; misses < 50; id++ {
		m, err := env.Server.DB.MessageByID(context.Background(), id)
		if err != nil {
			misses++
			continue
		}
		raws = append(raws, m.Raw)
	}
	for _, raw := range raws {
		for _, bad := range []string{"\r\nBcc: victim", "\r\nX-Injected", "\nBcc: v@", "\r\nX: y"} {
			if bytes.Contains(raw, []byte(bad)) {
				t.Errorf("a stored message carries an injected header %q:\n%s", bad, raw)
			}
		}
	}
	t.Logf("%d messages stored by the hostile requests and the last one, none with an injected header", len(raws))
}
