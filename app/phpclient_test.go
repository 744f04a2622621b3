package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatewayd/app/apptest"
)

// phpClient talks to /api.php as the PHP sample of error-handling.md does: POST fields encoded
// as PHP's http_build_query encodes them (in order, urlencode: spaces as +, arrays as
// name[0]=..., true as 1), ResponseFormat=JSON, and errors read with ErrorCode and ErrorText
// either both scalars or parallel arrays. It records every exchange.
type phpClient struct {
	e   *apptest.Env
	log strings.Builder
}

// httpBuildQuery encodes ordered fields as PHP's http_build_query does.
func httpBuildQuery(fields [][2]any) string {
	var parts []string
	var add func(name string, v any)
	add = func(name string, v any) {
		switch t := v.(type) {
		case []any:
			for i, x := range t {
				add(fmt.Sprintf("%s[%d]", name, i), x)
			}
		case bool:
			if t {
				parts = append(parts, url.QueryEscape(name)+"=1")
			} else {
				parts = append(parts, url.QueryEscape(name)+"=0")
			}
		default:
			parts = append(parts, url.QueryEscape(name)+"="+url.QueryEscape(fmt.Sprint(t)))
		}
	}
	for _, f := range fields {
		add(f[0].(string), f[1])
	}
	return strings.Join(parts, "&")
}

// call sends a command and returns the decoded answer and, when it failed, the PHP
// sample's "Error N: message" list.
func (c *phpClient) call(command string, data [][2]any) (map[string]any, []string) {
	fields := append([][2]any{{"ResponseFormat", "JSON"}, {"Command", command}}, data...)
	body := httpBuildQuery(fields)
	r := c.e.Do("POST", "/api.php", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte(body))
	fmt.Fprintf(&c.log, ">>> POST /api.php\nContent-Type: application/x-www-form-urlencoded\n\n%s\n<<< %d %s\n%s\n\n",
		body, r.Status, r.Header.Get("Content-Type"), bytes.TrimSpace(r.Body))
	var res map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	if err := dec.Decode(&res); err != nil {
		c.e.T.Fatalf("%s: not JSON: %s", command, r.Body)
	}
	if res["Success"] == true {
		return res, nil
	}
	codes, isList := res["ErrorCode"].([]any)
	if !isList {
		codes = []any{res["ErrorCode"]}
	}
	var errs []string
	for i, code := range codes {
		msg := ""
		if texts, ok := res["ErrorText"].([]any); ok {
			msg, _ = texts[i].(string)
		} else {
			msg, _ = res["ErrorText"].(string)
		}
		errs = append(errs, fmt.Sprintf("Error %v: %s", code, msg))
	}
	return res, errs
}

// A PHP-style client runs user.create -> user.update -> suppression.browse -> users.get on
// the wire, form-encoded, and handles ErrorText arrays; run with -v to see the transcript
// (testdata/transcripts/phpclient.txt replays the same exchanges as a golden).
func TestPHPClientAccountFlow(t *testing.T) {
	e := apptest.Start(t, nil)
	c := &phpClient{e: e}
	admin := [2]any{"AdminAPIKey", apptest.AdminKey}

	res, errs := c.call("user.create", [][2]any{admin, {"RelUserGroupID", 1}, {"EmailAddress", "user@example.com"},
		{"Username", "newuser"}, {"Password", "securepassword"}, {"TimeZone", "America/New_York"}, {"Language", "en"},
		{"FirstName", "John"}, {"LastName", "Doe"}})
	if errs != nil {
		t.Fatalf("user.create: %v", errs)
	}
	uid := res["UserID"].(json.Number).String()

	// A failing update, read as the PHP sample reads it.
	_, errs = c.call("user.update", [][2]any{admin, {"UserID", uid}, {"EmailAddress", "not an address"}, {"Language", "e1"}})
	if strings.Join(errs, ", ") != "Error 10: Invalid email address format, Error 14: Invalid language code" {
		t.Fatalf("user.update errors: %v", errs)
	}
	if _, errs = c.call("user.update", [][2]any{admin, {"UserID", uid}, {"FirstName", "Jane"}, {"LastName", "Smith"},
		{"CompanyName", "Smith & Co"}, {"Website", "https://example.com/a b"}, {"PhoneVerified", true},
		{"ReputationLevel", "Untrusted"}, {"MonthlySendLimit", 5000}}); errs != nil {
		t.Fatalf("user.update: %v", errs)
	}
	// The new user logs in and reads its suppression list (after importing two addresses).
	res, errs = c.call("user.login", [][2]any{{"Username", "newuser"}, {"Password", "securepassword"}})
	if errs != nil {
		t.Fatalf("user.login: %v", errs)
	}
	session := [2]any{"SessionID", res["SessionID"]}
	if _, errs = c.call("suppression.import", [][2]any{session, {"EmailAddressesBulk", "bounced@example.net\nold@example.net"},
		{"SuppressionSource", "Hard Bounced"}, {"Reason", "Bounce: 550 mailbox unavailable"}}); errs != nil {
		t.Fatalf("suppression.import: %v", errs)
	}
	if _, errs = c.call("suppression.import", [][2]any{session, {"EmailAddresses", `["friend@example.org"]`}}); errs != nil {
		t.Fatalf("suppression.import: %v", errs)
	}
	_, errs = c.call("suppression.browse", [][2]any{session, {"SuppressionSource", "Hard Bounced,Bogus"}})
	if strings.Join(errs, ", ") != "Error 1: Invalid SuppressionSource value" {
		t.Fatalf("suppression.browse errors: %v", errs)
	}
	res, errs = c.call("suppression.browse", [][2]any{session, {"SearchPattern", "*@example.net"},
		{"SuppressionSource", "Hard Bounced,SPAM complaint"}, {"StartFrom", 0}, {"RetrieveCount", 50}})
	if errs != nil {
		t.Fatalf("suppression.browse: %v", errs)
	}
	supp, _ := res["SuppressedEmails"].(map[string]any)
	b, _ := supp["bounced@example.net"].(map[string]any)
	if res["TotalRecords"] != json.Number("2") || len(supp) != 2 || b["SuppressionSource"] != "Hard Bounced" ||
		b["Reason"] != "Bounce: 550 mailbox unavailable" || b["RelOwnerUserID"] != uid || b["RelListID"] != "0" {
		t.Fatalf("suppression.browse: %v", res)
	}

	res, errs = c.call("users.get", [][2]any{admin, {"RecordsPerRequest", 25}, {"RecordsFrom", 0}, {"OrderField", "UserID"},
		{"OrderType", "DESC"}, {"RelUserGroupID", []any{1}}, {"SearchField", "EmailAddress"}, {"SearchKeyword", "user@example.com"}})
	if errs != nil {
		t.Fatalf("users.get: %v", errs)
	}
	users := res["Users"].([]any)
	if res["TotalUsers"] != json.Number("1") || len(users) != 1 {
		t.Fatalf("users.get: %v", res)
	}
	u := users[0].(map[string]any)
	if u["UserID"].(json.Number).String() != uid || u["FirstName"] != "Jane" || u["LastName"] != "Smith" ||
		u["CompanyName"] != "Smith & Co" || u["Website"] != "https://example.com/a b" || u["PhoneVerified"] != json.Number("1") ||
		u["ReputationLevel"] != "Untrusted" || u["MonthlySendLimit"] != json.Number("5000") {
		t.Fatalf("users.get user: %v", u)
	}
	t.Logf("transcript:\n%s", c.log.String())
}
