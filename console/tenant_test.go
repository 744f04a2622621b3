package console_test

import (
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"gatewayd/app/apptest"
	"gatewayd/relay/smtptest"
	"gatewayd/webhooks"
)

// signIn opens a console session for a tenant.
func signIn(t *testing.T, env *apptest.Env, u *apptest.User) *client {
	t.Helper()
	c := newClient(t, env)
	if code, body := c.post("/console/login", "/console/login", url.Values{"as": {"tenant"}, "Username": {u.Username}, "Password": {u.Password}}); code != 200 || !strings.Contains(body, "Dashboard") {
		t.Fatalf("login %s: %d", u.Username, code)
	}
	return c
}

func find(t *testing.T, re, body string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("%s not on the page:\n%s", re, body)
	}
	return html.UnescapeString(m[1])
}

// TestConsoleRotateCredentials: a sender key and SMTP credentials rotate from the domain page;
// the new secret is shown once, the old one stops working, and the page shows the SMTP host and
// ports to use.
func TestConsoleRotateCredentials(t *testing.T) {
	env := apptest.Start(t, nil)
	u := env.CreateUser("carol")
	d := env.AddDomain(u, "carol.example")
	env.EnableDomain(d)
	c := signIn(t, env, u)
	page := fmt.Sprintf("/console/domains/%d", d)

	code, body := c.post(page, page+"/keys", url.Values{"Description": {"app"}})
	oldKey := find(t, `id="new-key">([^<]+)<`, body)
	keyID := find(t, `/keys/(\d+)/rotate"`, body)
	code, body = c.post(page, page+"/keys/"+keyID+"/rotate", url.Values{})
	newKey := find(t, `id="new-key">([^<]+)<`, body)
	if code != 200 || newKey == oldKey || !strings.HasPrefix(newKey, "eg_live_") || !strings.Contains(body, "the old one no longer works") {
		t.Fatalf("rotate key: %d %q %q", code, oldKey, newKey)
	}
	sends := func(key string) bool {
		return env.API(map[string]any{"Command": "emailgateway.sendemail", "SenderAPIKey": key, "From": "a@carol.example",
			"To": "b@example.net", "Subject": "s", "ContentType": "plain", "PlainContent": "x"})["Success"] == true
	}
	if sends(oldKey) || !sends(newKey) {
		t.Fatal("after rotation the old key must fail and the new one work")
	}
	if _, body, _ := c.get(page); strings.Contains(body, newKey) {
		t.Fatal("the rotated key is shown again")
	}

	_, body = c.post(page, page+"/smtp", url.Values{})
	oldPass := find(t, `id="new-smtp">([^<]+)<`, body)
	smtpID := find(t, `/smtp/(\d+)/rotate"`, body)
	code, body = c.post(page, page+"/smtp/"+smtpID+"/rotate", url.Values{})
	newPass := find(t, `id="new-smtp">([^<]+)<`, body)
	if code != 200 || newPass == oldPass || !strings.Contains(body, "New password") {
		t.Fatalf("rotate smtp: %d", code)
	}
	if _, body, _ := c.get(page); strings.Contains(body, newPass) || !strings.Contains(body, `Host <code>mx.gateway.test</code>, ports <code>2525</code> or <code>587</code>`) {
		t.Fatalf("smtp section after rotation:\n%s", body)
	}

	// Another tenant's key cannot be rotated through one's own domain page.
	other := env.CreateUser("dave")
	od := env.AddDomain(other, "dave.example")
	r := env.MustAPI(map[string]any{"Command": "emailgateway.addapi", "SessionID": other.SessionID, "DomainID": od, "Description": "x"})
	if code, _ := c.post(page, fmt.Sprintf("%s/keys/%v/rotate", page, r["NewAPIKeyID"]), url.Values{}); code != 404 {
		t.Fatalf("rotate another tenant's key: %d", code)
	}
}

// TestConsoleWebhooks: add a webhook, reveal and rotate the signing key, send a test event
// that the receiver gets signed and the recent deliveries show with its status code, delete;
// another tenant's webhooks are neither shown nor deletable.
func TestConsoleWebhooks(t *testing.T) {
	got := make(chan *http.Request, 10)
	bodies := make(chan string, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- string(b)
		w.WriteHeader(202)
	}))
	defer recv.Close()
	env := apptest.Start(t, nil)
	env.Server.StartWebhooks()
	u := env.CreateUser("carol")
	d := env.AddDomain(u, "carol.example")
	c := signIn(t, env, u)
	page := fmt.Sprintf("/console/webhooks?domain=%d", d)
	ds := fmt.Sprint(d)

	if code, body := c.post(page, "/console/webhooks", url.Values{"DomainID": {ds}, "Event": {"bounced"}, "WebhookURL": {"ftp://x"}}); code != 422 || !strings.Contains(body, "Invalid webhook URL") {
		t.Fatalf("bad url: %d", code)
	}
	code, body := c.post(page, "/console/webhooks", url.Values{"DomainID": {ds}, "Event": {"bounced"}, "WebhookURL": {recv.URL + "/hook"}})
	if code != 200 || !strings.Contains(body, "Saved.") || strings.Count(body, `class="webhook"`) != 1 || !strings.Contains(body, recv.URL+"/hook") {
		t.Fatalf("add webhook: %d\n%s", code, body)
	}
	if strings.Contains(body, "whsec_") && !strings.Contains(body, "whsec_••••") {
		t.Fatal("signing key shown unasked")
	}
	_, body = c.post(page, "/console/webhooks/key/reveal", url.Values{"DomainID": {ds}})
	key := find(t, `id="signing-key">(whsec_[^<]+)<`, body)
	_, body = c.post(page, "/console/webhooks/key/rotate", url.Values{"DomainID": {ds}})
	if rotated := find(t, `id="signing-key">(whsec_[^<]+)<`, body); rotated == key {
		t.Fatal("rotate kept the key")
	} else {
		key = rotated
	}
	hook := find(t, `/console/webhooks/(\d+)/test"`, body)
	code, body = c.post(page, "/console/webhooks/"+hook+"/test", url.Values{"DomainID": {ds}})
	if code != 200 || !strings.Contains(body, "Test event queued") {
		t.Fatalf("test event: %d", code)
	}
	var r *http.Request
	select {
	case r = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("the test event was not delivered")
	}
	payload := <-bodies
	if !strings.Contains(payload, `"test":true`) || !strings.Contains(payload, `"event":"bounced"`) {
		t.Fatalf("test payload %s", payload)
	}
	if err := webhooks.Verify(key, r.Header, []byte(payload), 0, time.Now()); err != nil {
		t.Fatalf("the test event is not signed with the rotated key: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body, _ = c.get(page)
		if strings.Contains(body, `<td class="status">202</td>`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery with status 202:\n%s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Another tenant sees none of it and cannot delete it.
	other := env.CreateUser("dave")
	od := env.AddDomain(other, "dave.example")
	oc := signIn(t, env, other)
	if code, body, _ := oc.get(page); code != 404 || strings.Contains(body, recv.URL) {
		t.Fatalf("another tenant's webhooks page: %d", code)
	}
	if _, body, _ := oc.get("/console/webhooks"); strings.Contains(body, recv.URL) {
		t.Fatal("another tenant's webhook listed")
	}
	if code, _ := oc.post("/console/webhooks", "/console/webhooks/"+hook+"/delete", url.Values{"DomainID": {fmt.Sprint(od)}}); code != 404 {
		t.Fatalf("delete another tenant's webhook: %d", code)
	}
	if code, _ := oc.post("/console/webhooks", "/console/webhooks/key/reveal", url.Values{"DomainID": {ds}}); code != 404 {
		t.Fatalf("reveal another tenant's key: %d", code)
	}

	code, body = c.post(page, "/console/webhooks/"+hook+"/delete", url.Values{"DomainID": {ds}})
	if code != 200 || strings.Count(body, `class="webhook"`) != 0 || strings.Contains(body, key) {
		t.Fatalf("delete: %d", code)
	}
}

// TestConsoleSuppressions: add addresses (one refused as invalid), search, remove; a
// suppressed address cannot be sent to and can again once removed; another tenant's list
// is not shown.
func TestConsoleSuppressions(t *testing.T) {
	env := apptest.Start(t, nil)
	u := env.CreateUser("carol")
	d := env.AddDomain(u, "carol.example")
	env.EnableDomain(d)
	c := signIn(t, env, u)

	code, body := c.post("/console/suppressions", "/console/suppressions", url.Values{"Addresses": {"Gone@Example.net\nnot-an-address, kept@example.org"}, "Reason": {"asked by phone"}})
	if code != 200 || !strings.Contains(body, `id="added">2 added, 1 not valid addresses skipped.`) || strings.Count(body, `class="suppressed"`) != 2 {
		t.Fatalf("add: %d\n%s", code, body)
	}
	if code, body := c.post("/console/suppressions", "/console/suppressions", url.Values{"Addresses": {"nope"}}); code != 422 || !strings.Contains(body, "No valid address") {
		t.Fatalf("add nothing valid: %d", code)
	}
	sendTo := func(to string) bool {
		return env.API(map[string]any{"Command": "emailgateway.sendtest", "SessionID": u.SessionID, "DomainID": d, "To": to})["Success"] == true
	}
	if sendTo("gone@example.net") {
		t.Fatal("a suppressed address was sent to")
	}
	_, body, _ = c.get("/console/suppressions?q=gone")
	if strings.Count(body, `class="suppressed"`) != 1 || !strings.Contains(body, "gone@example.net") || !strings.Contains(body, "asked by phone") {
		t.Fatalf("search:\n%s", body)
	}
	if _, body, _ := c.get("/console/suppressions?source=nonsense"); !strings.Contains(body, "Invalid SuppressionSource") {
		t.Fatal("a bad source is not explained")
	}
	code, body = c.post("/console/suppressions", "/console/suppressions/delete", url.Values{"EmailAddress": {"gone@example.net"}, "q": {"gone"}})
	if code != 200 || !strings.Contains(body, "Removed.") || strings.Contains(body, "gone@example.net</td>") {
		t.Fatalf("remove: %d\n%s", code, body)
	}
	if !sendTo("gone@example.net") {
		t.Fatal("a removed address still cannot be sent to")
	}

	other := env.CreateUser("dave")
	oc := signIn(t, env, other)
	if _, body, _ := oc.get("/console/suppressions"); strings.Contains(body, "kept@example.org") {
		t.Fatal("another tenant's suppression list is shown")
	}
	if code, _ := oc.post("/console/suppressions", "/console/suppressions/delete", url.Values{"EmailAddress": {"kept@example.org"}}); code != 422 {
		t.Fatalf("remove from another tenant's list: %d", code)
	}
	if _, body, _ := c.get("/console/suppressions"); !strings.Contains(body, "kept@example.org") {
		t.Fatal("another tenant removed an address from this list")
	}
}

// TestConsoleGateways: add an own gateway (the password never shown), test its connection
// (works, then fails with the server's own reply), use it, use a leasable platform gateway
// instead, stop using any; another tenant can neither see nor test nor delete it.
func TestConsoleGateways(t *testing.T) {
	env := apptest.Start(t, nil)
	tlsCfg, _ := smtptest.SelfSigned(t)
	srv := smtptest.Start(t, smtptest.Options{TLS: tlsCfg, AuthUsers: map[string]string{"relay-user": "relay-Password-1"}})
	host, port, _ := net.SplitHostPort(srv.Addr)
	plat := env.MustAPI(map[string]any{"Command": "gateways.create", "AdminAPIKey": apptest.AdminKey, "Label": "Shared relay",
		"Host": "smtp.platform.test", "Port": 587, "Username": "p", "Password": "platform-Pw-1", "Leasable": true})
	platID := fmt.Sprint(plat["GatewayID"])
	u := env.CreateUser("carol")
	c := signIn(t, env, u)

	form := url.Values{"caption": {"My relay"}, "host": {host}, "port": {port}, "encryption": {"tls"}, "username": {"relay-user"},
		"password": {"relay-Password-1"}, "sendFrom": {"ops@carol.example"}, "sendFromName": {"Carol"}, "trustAllHosts": {"1"}}
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("port", "99999")
	if code, body := c.post("/console/gateways", "/console/gateways", bad); code != 422 || strings.Contains(body, "relay-Password-1") || !strings.Contains(body, `value="My relay"`) {
		t.Fatalf("bad port: %d\n%s", code, body)
	}
	code, body := c.post("/console/gateways", "/console/gateways", form)
	if code != 200 || !strings.Contains(body, "Saved.") || !strings.Contains(body, "My relay") || strings.Contains(body, "relay-Password-1") {
		t.Fatalf("add gateway: %d\n%s", code, body)
	}
	if !strings.Contains(body, "Shared relay") {
		t.Fatal("the leasable gateway is not offered")
	}
	id := find(t, `/console/gateways/(\d+)/test"`, body)
	code, body = c.post("/console/gateways", "/console/gateways/"+id+"/test", url.Values{})
	if code != 200 || !strings.Contains(body, "Connection works") {
		t.Fatalf("test: %d\n%s", code, body)
	}
	srv.Fail(smtptest.StageAuth, "", &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed"}, -1)
	if _, body = c.post("/console/gateways", "/console/gateways/"+id+"/test", url.Values{}); !strings.Contains(body, "Connection check failed at auth: 535 5.7.8 Authentication failed") {
		t.Fatalf("failed test:\n%s", body)
	}
	if _, body = c.post("/console/gateways", "/console/gateways/bind", url.Values{"GatewayID": {id}}); !strings.Contains(body, "now goes out through this gateway") || !strings.Contains(body, "through <strong>My relay</strong> (gateway "+id+")") {
		t.Fatalf("bind own:\n%s", body)
	}
	if _, body = c.post("/console/gateways", "/console/gateways/bind", url.Values{"GatewayID": {platID}}); !strings.Contains(body, "through <strong>Shared relay</strong> (gateway "+platID+")") {
		t.Fatalf("bind leasable:\n%s", body)
	}
	if _, body = c.post("/console/gateways", "/console/gateways/bind", url.Values{"GatewayID": {""}}); !strings.Contains(body, "No gateway in use") {
		t.Fatalf("unbind:\n%s", body)
	}

	other := env.CreateUser("dave")
	oc := signIn(t, env, other)
	if _, body, _ := oc.get("/console/gateways"); strings.Contains(body, "My relay") {
		t.Fatal("another tenant's gateway is listed")
	}
	for _, p := range []string{"/test", "/delete"} {
		if code, _ := oc.post("/console/gateways", "/console/gateways/"+id+p, url.Values{}); code != 404 {
			t.Fatalf("another tenant's gateway %s: %d", p, code)
		}
	}
	if code, _ := oc.post("/console/gateways", "/console/gateways/bind", url.Values{"GatewayID": {id}}); code != 422 && code != 404 {
		t.Fatalf("bind another tenant's gateway: %d", code)
	}
	code, body = c.post("/console/gateways", "/console/gateways/"+id+"/delete", url.Values{})
	if code != 200 || strings.Contains(body, "My relay") {
		t.Fatalf("delete: %d", code)
	}
}

// TestConsoleListsAndTemplates: create a list, add subscribers (a bad address explained),
// unsubscribe one; create a template, edit it, preview it with the sample subscriber; another
// tenant opens neither the list nor the template.
func TestConsoleListsAndTemplates(t *testing.T) {
	env := apptest.Start(t, nil)
	u := env.CreateUser("carol")
	c := signIn(t, env, u)

	code, body := c.post("/console/lists", "/console/lists", url.Values{"Name": {"Newsletter"}})
	list := find(t, `id="list-id">(\d+)<`, body)
	if code != 200 || !strings.Contains(body, "<h1>Newsletter</h1>") {
		t.Fatalf("create list: %d", code)
	}
	lp := "/console/lists/" + list
	for _, a := range []string{"ann@example.net", "bob@example.net"} {
		if code, body := c.post(lp, lp+"/subscribers", url.Values{"EmailAddress": {a}}); code != 200 || !strings.Contains(body, a) {
			t.Fatalf("add %s: %d", a, code)
		}
	}
	if code, body := c.post(lp, lp+"/subscribers", url.Values{"EmailAddress": {"nope"}}); code != 422 || !strings.Contains(body, `class="error"`) {
		t.Fatalf("bad address: %d", code)
	}
	code, body = c.post(lp, lp+"/unsubscribe", url.Values{"EmailAddress": {"bob@example.net"}})
	if code != 200 || !strings.Contains(body, "Unsubscribed.") || strings.Contains(body, "bob@example.net") || strings.Count(body, `class="subscriber"`) != 1 {
		t.Fatalf("unsubscribe: %d\n%s", code, body)
	}
	if _, body, _ := c.get(lp + "?segment=Unsubscribed"); !strings.Contains(body, "bob@example.net") {
		t.Fatal("the unsubscribed address is not in the Unsubscribed segment")
	}
	if _, body, _ := c.get("/console/lists"); !strings.Contains(body, ">Newsletter</a>") {
		t.Fatal("the list is not listed")
	}

	if code, body := c.post("/console/templates", "/console/templates", url.Values{"EmailName": {"Welcome"}, "Subject": {"Hi\r\nBcc: x@example.com"}, "ContentType": {"Both"}}); code != 422 || !strings.Contains(body, `value="Welcome"`) {
		t.Fatalf("bad subject: %d", code)
	}
	code, body = c.post("/console/templates", "/console/templates", url.Values{"EmailName": {"Welcome"}, "Subject": {"Hello %Subscriber:FirstName|there%"},
		"ContentType": {"Both"}, "HTMLContent": {"<p>Hello %Subscriber:FirstName|friend%</p>"}, "PlainContent": {"Hello %Subscriber:FirstName|friend%"}})
	tpl := find(t, `id="template-id">(\d+)<`, body)
	if code != 200 || !strings.Contains(body, "<h1>Welcome</h1>") {
		t.Fatalf("create template: %d", code)
	}
	tp := "/console/templates/" + tpl
	code, body = c.post(tp, tp, url.Values{"EmailName": {"Welcome"}, "Subject": {"Welcome!"}, "ContentType": {"Both"},
		"HTMLContent": {"<p>Dear %Subscriber:FirstName|friend%</p>"}, "PlainContent": {"Dear %Subscriber:FirstName|friend%"}})
	if code != 200 || !strings.Contains(body, "Template saved.") || !strings.Contains(body, `value="Welcome!"`) {
		t.Fatalf("edit: %d\n%s", code, body)
	}
	_, body = c.post(tp, tp+"/preview", url.Values{})
	if !strings.Contains(body, `id="preview-plain">Dear John</pre>`) || !strings.Contains(body, "&lt;p&gt;Dear John&lt;/p&gt;") {
		t.Fatalf("preview:\n%s", body)
	}

	other := env.CreateUser("dave")
	oc := signIn(t, env, other)
	for _, p := range []string{lp, tp} {
		if code, body, _ := oc.get(p); code != 404 || strings.Contains(body, "Welcome") || strings.Contains(body, "ann@example.net") {
			t.Fatalf("another tenant opens %s: %d", p, code)
		}
	}
	if _, body, _ := oc.get("/console/lists"); strings.Contains(body, "Newsletter") {
		t.Fatal("another tenant's list is listed")
	}
	if _, body, _ := oc.get("/console/templates"); strings.Contains(body, "Welcome") {
		t.Fatal("another tenant's template is listed")
	}
	if code, _ := oc.post("/console/templates", tp+"/delete", url.Values{}); code != 404 {
		t.Fatalf("delete another tenant's template: %d", code)
	}
	if code, _ := oc.post("/console/lists", lp+"/unsubscribe", url.Values{"EmailAddress": {"ann@example.net"}}); code == 200 {
		t.Fatal("another tenant unsubscribed from this list")
	}
	code, body = c.post(tp, tp+"/delete", url.Values{})
	if code != 200 || strings.Contains(body, ">Welcome</a>") {
		t.Fatalf("delete: %d", code)
	}
}

// TestConsoleMessagesByTag: the messages table filters by tag (exactly, like wildcards
// taken literally), beside recipient, status and dates.
func TestConsoleMessagesByTag(t *testing.T) {
	env := apptest.Start(t, nil)
	u := env.CreateUser("carol")
	d := env.AddDomain(u, "carol.example")
	now := time.Now().Unix()
	env.Message(d, now, "a@carol.example", []string{"one@example.net"}, []string{"welcome", "vip"}, "Welcome")
	env.Message(d, now, "a@carol.example", []string{"two@example.net"}, []string{"receipt"}, "Receipt")
	env.Message(d, now, "a@carol.example", []string{"three@example.net"}, []string{"welcome_back"}, "Back")
	c := signIn(t, env, u)
	for tag, want := range map[string][]string{"welcome": {"one@"}, "vip": {"one@"}, "receipt": {"two@"}, "welcome%": nil, "welcome_back": {"three@"}, "": {"one@", "two@", "three@"}} {
		_, body, _ := c.get(fmt.Sprintf("/console/messages?domain=%d&tag=%s", d, url.QueryEscape(tag)))
		n := strings.Count(body, `<tr class="ev-accepted">`)
		if n != len(want) {
			t.Fatalf("tag %q: %d rows, want %v\n%s", tag, n, want, body)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Fatalf("tag %q: %s missing", tag, w)
			}
		}
	}
	if _, body, _ := c.get(fmt.Sprintf("/console/messages?domain=%d&tag=vip&q=two", d)); strings.Count(body, `<tr class="ev-accepted">`) != 0 {
		t.Fatal("tag and recipient filters do not combine")
	}
}

// TestConsoleTenantPagesGuarded: every tenant page added for credentials, webhooks,
// suppressions, gateways, lists and templates sends a signed-out browser to the login page,
// and every one of their POSTs without the form's token is refused and changes nothing.
func TestConsoleTenantPagesGuarded(t *testing.T) {
	env := apptest.Start(t, nil)
	u := env.CreateUser("carol")
	d := env.AddDomain(u, "carol.example")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/console/webhooks", "/console/suppressions", "/console/gateways", "/console/lists", "/console/lists/1",
		"/console/templates", "/console/templates/1"} {
		res, err := noFollow.Get(env.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/console/login" {
			t.Fatalf("signed out %s: %d %s", p, res.StatusCode, res.Header.Get("Location"))
		}
	}
	c := signIn(t, env, u)
	ds := fmt.Sprint(d)
	for _, p := range []struct {
		path string
		form url.Values
	}{
		{"/console/domains/" + ds + "/keys/1/rotate", nil},
		{"/console/domains/" + ds + "/smtp/1/rotate", nil},
		{"/console/webhooks", url.Values{"DomainID": {ds}, "Event": {"bounced"}, "WebhookURL": {"https://example.com/h"}}},
		{"/console/webhooks/key/reveal", url.Values{"DomainID": {ds}}},
		{"/console/webhooks/key/rotate", url.Values{"DomainID": {ds}}},
		{"/console/webhooks/1/test", url.Values{"DomainID": {ds}}},
		{"/console/webhooks/1/delete", url.Values{"DomainID": {ds}}},
		{"/console/suppressions", url.Values{"Addresses": {"x@example.net"}}},
		{"/console/suppressions/delete", url.Values{"EmailAddress": {"x@example.net"}}},
		{"/console/gateways", url.Values{"host": {"smtp.example.com"}}},
		{"/console/gateways/bind", url.Values{"GatewayID": {""}}},
		{"/console/gateways/1/test", nil},
		{"/console/gateways/1/delete", nil},
		{"/console/lists", url.Values{"Name": {"Forged"}}},
		{"/console/lists/1/subscribers", url.Values{"EmailAddress": {"x@example.net"}}},
		{"/console/lists/1/unsubscribe", url.Values{"EmailAddress": {"x@example.net"}}},
		{"/console/templates", url.Values{"EmailName": {"Forged"}, "Subject": {"s"}}},
		{"/console/templates/1", url.Values{"EmailName": {"Forged"}, "Subject": {"s"}}},
		{"/console/templates/1/preview", nil},
		{"/console/templates/1/delete", nil},
	} {
		res, err := c.c.PostForm(env.URL+p.path, p.form)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("POST %s without a token: %d", p.path, res.StatusCode)
		}
	}
	if _, body, _ := c.get("/console/lists"); strings.Contains(body, "Forged") {
		t.Fatal("a post without a token created a list")
	}
	if _, body, _ := c.get("/console/suppressions"); strings.Contains(body, "x@example.net") {
		t.Fatal("a post without a token added a suppression")
	}
}
