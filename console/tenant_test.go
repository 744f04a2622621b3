package console_test

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"gatewayd/app/apptest"
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
	return m[1]
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
