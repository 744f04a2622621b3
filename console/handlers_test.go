package console_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"gatewayd/app/apptest"
)

type client struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newClient(t *testing.T, env *apptest.Env) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: env.URL, c: &http.Client{Jar: jar}}
}

func (c *client) get(path string) (int, string, http.Header) {
	c.t.Helper()
	res, err := c.c.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post submits a form with the CSRF token of the page at from.
func (c *client) post(from, path string, form url.Values) (int, string) {
	c.t.Helper()
	_, body, _ := c.get(from)
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		c.t.Fatalf("no csrf token on %s", from)
	}
	form.Set("csrf", m[1])
	res, err := c.c.PostForm(c.base+path, form)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestConsoleRoutes opens every console route as a tenant and as the operator, on the database
// under test, and checks what the browser gets: the page, its security headers, the redirects
// of a signed-out browser, and the refusals of posts without a token.
func TestConsoleRoutes(t *testing.T) {
	env := apptest.Start(t, nil)
	u := env.CreateUser("carol")

	anon := newClient(t, env)
	for _, p := range []string{"/console/", "/console/domains", "/console/messages", "/console/send", "/console/admin", "/console/admin/users"} {
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(env.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/console/login" {
			t.Fatalf("signed out %s: %d %s", p, res.StatusCode, res.Header.Get("Location"))
		}
	}
	code, body, h := anon.get("/console/login")
	if code != 200 || !strings.Contains(body, `<label for="t-user">`) || !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("login page: %d %v", code, h)
	}
	if code, _ := anon.post("/console/login", "/console/login", url.Values{"Username": {"carol"}, "Password": {"wrong"}}); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	if code, body := anon.post("/console/login", "/console/login", url.Values{"as": {"tenant"}, "Username": {"carol"}, "Password": {u.Password}}); code != 200 || !strings.Contains(body, "Dashboard") {
		t.Fatalf("login: %d %s", code, body)
	}
	for _, ck := range anon.c.Jar.Cookies(mustURL(env.URL + "/console/")) {
		if ck.Name == "gw_console" && ck.Value == "" {
			t.Fatal("empty session cookie")
		}
	}
	tenant := anon
	code, body = tenant.post("/console/domains", "/console/domains", url.Values{"DomainName": {"carol.example"}})
	if code != 200 || !strings.Contains(body, "carol.example") || strings.Count(body, `class="record"`) != 3 {
		t.Fatalf("add domain: %d", code)
	}
	id := regexp.MustCompile(`id="domain-id">(\d+)<`).FindStringSubmatch(body)[1]
	if code, body := tenant.post("/console/domains", "/console/domains", url.Values{"DomainName": {"not a domain"}}); code != 422 || !strings.Contains(body, "Invalid domain name") {
		t.Fatalf("bad domain: %d", code)
	}
	code, body = tenant.post("/console/domains/"+id, "/console/domains/"+id+"/keys", url.Values{"Description": {"k"}})
	key := regexp.MustCompile(`id="new-key">([^<]+)<`).FindStringSubmatch(body)
	if code != 200 || key == nil {
		t.Fatalf("create key: %d", code)
	}
	if _, body, _ := tenant.get("/console/domains/" + id); strings.Contains(body, key[1]) {
		t.Fatal("key shown after creation")
	}
	code, body = tenant.post("/console/domains/"+id, "/console/domains/"+id+"/smtp", url.Values{})
	if code != 200 || !strings.Contains(body, `id="new-smtp"`) {
		t.Fatalf("create smtp: %d", code)
	}
	for _, p := range []string{"/console/", "/console/domains", "/console/domains/" + id, "/console/messages", "/console/send",
		"/console/messages?q=x&event=bounced&from=2026-01-01", "/console/static/console.css", "/console/static/console.js"} {
		if code, body, _ := tenant.get(p); code != 200 {
			t.Fatalf("tenant %s: %d %s", p, code, body)
		}
	}
	// Posts without the token, or from another origin, change nothing.
	res, _ := tenant.c.PostForm(env.URL+"/console/domains", url.Values{"DomainName": {"forged.example"}})
	res.Body.Close()
	if res.StatusCode != 403 {
		t.Fatalf("post without token: %d", res.StatusCode)
	}
	// Another tenant's domain is not found.
	other := env.CreateUser("dave")
	od := env.AddDomain(other, "dave.example")
	if code, _, _ := tenant.get(fmt.Sprintf("/console/domains/%d", od)); code != 404 {
		t.Fatalf("another tenant's domain: %d", code)
	}
	// The tenant cannot open operator pages.
	if code, body, _ := tenant.get("/console/admin/domains"); code != 200 || strings.Contains(body, "dave.example") {
		t.Fatalf("tenant on operator page: %d", code)
	}

	op := newClient(t, env)
	if code, body := op.post("/console/login", "/console/login", url.Values{"as": {"operator"}, "AdminAPIKey": {apptest.AdminKey}}); code != 200 || !strings.Contains(body, "Operator") {
		t.Fatalf("operator login: %d", code)
	}
	for _, p := range []string{"/console/admin", "/console/admin/domains", "/console/admin/domains?status=Enabled", "/console/admin/users"} {
		if code, _, _ := op.get(p); code != 200 {
			t.Fatalf("operator %s: %d", p, code)
		}
	}
	if code, _ := op.post("/console/admin/domains", "/console/admin/domains/approve", url.Values{"DomainID": {id}}); code != 200 {
		t.Fatalf("approve: %d", code)
	}
	if _, body, _ := tenant.get("/console/domains/" + id); !strings.Contains(body, `id="domain-status">Enabled<`) {
		t.Fatal("domain not enabled after approval")
	}
	if code, body := op.post("/console/admin/users", "/console/admin/users", url.Values{"Username": {"erin"}, "EmailAddress": {"erin@users.test"}, "Password": {"erin-password"}}); code != 200 || !strings.Contains(body, "User created") {
		t.Fatalf("create user: %d", code)
	}
	if code, body := tenant.post("/console/send", "/console/send", url.Values{"DomainID": {id}, "To": {"x@example.net"}}); code != 200 || !strings.Contains(body, `id="sent-id"`) {
		t.Fatalf("send test: %d %s", code, body)
	}
	if code, _ := tenant.post("/console/", "/console/logout", url.Values{}); code != 200 {
		t.Fatalf("logout: %d", code)
	}
	if code, _, _ := tenant.get("/console/domains"); code != 200 { // the login page, after the redirect
		t.Fatalf("after logout: %d", code)
	}
}

func mustURL(s string) *url.URL { u, _ := url.Parse(s); return u }
