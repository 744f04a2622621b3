package app_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/smtp"
	"strings"
	"testing"

	"gatewayd/app/apptest"
	"gatewayd/config"
	"gatewayd/storage/storagetest"
)

// GATEWAY_MAX_USERS caps the accounts user.create makes: code 16, as users.md numbers
// "Maximum number of user accounts exceeded".
func TestUserCreateLimit(t *testing.T) {
	e := apptest.Start(t, func(c *config.Config) { c.MaxUsers = 2 })
	create := func(name string) map[string]any {
		return e.API(map[string]any{"Command": "user.create", "AdminAPIKey": apptest.AdminKey, "RelUserGroupID": 1,
			"EmailAddress": name + "@example.com", "Username": name, "Password": "correct-horse",
			"TimeZone": "UTC", "Language": "en", "FirstName": name})
	}
	for _, n := range []string{"ann", "bea"} {
		if m := create(n); m["Success"] != true {
			t.Fatalf("%s: %v", n, m)
		}
	}
	m := create("cat")
	if m["Success"] != false || m["ErrorCode"] != json.Number("16") || m["ErrorText"] != "Maximum number of user accounts exceeded" {
		t.Fatalf("third user: %v", m)
	}
}

// Disabling an account with user.update stops every credential of it at once, without
// touching the credentials themselves: its session and user API key (99998), a password
// login (3), its sender key (the send's documented 12; events answer as an invalid key,
// 13), SMTP AUTH over loopback (535) and an
// SMTP connection that authenticated before (550 at MAIL). Enabling it again brings them all
// back.
func TestUserUpdateDisablesCredentials(t *testing.T) {
	e := startRelay(t)
	ctx := context.Background()
	alice, err := e.Server.DB.UserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	login := e.MustAPI(map[string]any{"Command": "user.login", "Username": "alice", "Password": "password-alice"})
	session := login["SessionID"].(string)
	apiKey := e.MustAPI(map[string]any{"Command": "user.apikey.create", "SessionID": session})["APIKey"].(string)
	domains := e.MustAPI(map[string]any{"Command": "emailgateway.getdomains", "SessionID": session})["Domains"].([]any)
	domainID := domains[0].(map[string]any)["DomainID"]
	senderKey := e.MustAPI(map[string]any{"Command": "emailgateway.addapi", "SessionID": session, "DomainID": domainID,
		"Description": "d"})["APIKey"].(map[string]any)["APIKey"].(string)
	send := func() map[string]any {
		return e.API(map[string]any{"Command": "emailgateway.sendemail", "SenderAPIKey": senderKey, "Subject": "Hi",
			"ContentType": "plain", "PlainContent": "Hi", "From": map[string]any{"email": "app@example.com"},
			"To": []any{map[string]any{"email": "someone@dest.test"}}})
	}
	dial := func() *smtp.Client {
		c, err := smtp.Dial(e.smtpAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	works := func(when string) {
		t.Helper()
		for _, cred := range []map[string]any{{"SessionID": session}, {"APIKey": apiKey}} {
			cred["Command"] = "user.current"
			if m := e.API(cred); m["Success"] != true {
				t.Fatalf("%s: user.current with %v: %v", when, cred, m)
			}
		}
		if m := e.API(map[string]any{"Command": "user.login", "Username": "alice", "Password": "password-alice"}); m["Success"] != true {
			t.Fatalf("%s: login: %v", when, m)
		}
		if m := send(); m["Success"] != true {
			t.Fatalf("%s: send: %v", when, m)
		}
		if r := e.Do("GET", "/api/v1/events", http.Header{"Authorization": {"Bearer " + senderKey}}, nil); r.Status != 200 || !strings.Contains(string(r.Body), `"TotalRecords"`) {
			t.Fatalf("%s: events: %d %s", when, r.Status, r.Body)
		}
		if err := dial().Auth(smtp.PlainAuth("", e.username, e.password, "127.0.0.1")); err != nil {
			t.Fatalf("%s: SMTP AUTH: %v", when, err)
		}
	}
	works("enabled")

	// An SMTP client that authenticated while the account was enabled.
	early := dial()
	if err := early.Auth(smtp.PlainAuth("", e.username, e.password, "127.0.0.1")); err != nil {
		t.Fatal(err)
	}

	if m := e.API(map[string]any{"Command": "user.update", "AdminAPIKey": apptest.AdminKey, "UserID": alice.ID,
		"AccountStatus": "Disabled"}); m["Success"] != true {
		t.Fatalf("disable: %v", m)
	}
	for _, cred := range []map[string]any{{"SessionID": session}, {"APIKey": apiKey}} {
		cred["Command"] = "user.current"
		if m := e.API(cred); m["ErrorCode"] != json.Number("99998") {
			t.Fatalf("disabled: user.current with %v: %v", cred, m)
		}
	}
	if m := e.API(map[string]any{"Command": "user.login", "Username": "alice", "Password": "password-alice"}); m["ErrorCode"] != json.Number("3") ||
		m["ErrorText"] != "Account is disabled" {
		t.Fatalf("disabled: login: %v", m)
	}
	if m := e.API(map[string]any{"Command": "user.login", "APIKey": apiKey}); m["ErrorCode"] != json.Number("3") {
		t.Fatalf("disabled: login with the API key: %v", m)
	}
	if m := send(); m["ErrorCode"] != json.Number("12") {
		t.Fatalf("disabled: send: %v", m)
	}
	if r := e.Do("GET", "/api/v1/events", http.Header{"Authorization": {"Bearer " + senderKey}}, nil); string(r.Body) != `{"Errors":[{"Code":13,"Message":"Invalid SenderAPIKey"}]}` {
		t.Fatalf("disabled: events: %d %s", r.Status, r.Body)
	}
	err = dial().Auth(smtp.PlainAuth("", e.username, e.password, "127.0.0.1"))
	if err == nil || !strings.HasPrefix(err.Error(), "535 ") || !strings.Contains(err.Error(), "5.7.8 ") {
		t.Fatalf("disabled: SMTP AUTH answered %v, want 535 5.7.8", err)
	}
	if err := early.Mail("app@example.com"); err == nil || !strings.HasPrefix(err.Error(), "550 ") || !strings.Contains(err.Error(), "5.7.1 ") {
		t.Fatalf("disabled: MAIL on a connection authenticated before answered %v, want 550 5.7.1", err)
	}
	if n, _ := e.Server.DB.MonthlyUsage(ctx, alice.ID); n != 1 {
		t.Fatalf("accepted recipients this month: %d, want the one sent while enabled", n)
	}

	if m := e.API(map[string]any{"Command": "user.update", "AdminAPIKey": apptest.AdminKey, "UserID": alice.ID,
		"AccountStatus": "Enabled"}); m["Success"] != true {
		t.Fatalf("enable: %v", m)
	}
	works("enabled again")
}

// users.delete removes the account and everything it owns: afterwards no row of any table
// mentions its username, email address, sender domain, list or mail, and its credentials
// are gone. Another account's rows stay.
func TestUsersDeleteRemovesEverything(t *testing.T) {
	e := apptest.Start(t, nil)
	keep := e.CreateUser("keeper")
	kd := e.AddDomain(keep, "kept.test")
	e.EnableDomain(kd)
	gone := e.CreateUser("goner")
	d := e.AddDomain(gone, "vanishing.test")
	e.EnableDomain(d)
	e.MustAPI(map[string]any{"Command": "user.apikey.create", "SessionID": gone.SessionID})
	e.MustAPI(map[string]any{"Command": "emailgateway.addsmtp", "SessionID": gone.SessionID, "DomainID": d})
	key := e.MustAPI(map[string]any{"Command": "emailgateway.addapi", "SessionID": gone.SessionID, "DomainID": d,
		"Description": "vanishing-key"})["APIKey"].(map[string]any)["APIKey"].(string)
	e.MustAPI(map[string]any{"Command": "list.create", "SessionID": gone.SessionID, "SubscriberListName": "vanishing-list"})
	e.MustAPI(map[string]any{"Command": "emailgateway.sendemail", "SenderAPIKey": key, "Subject": "vanishing-subject",
		"ContentType": "plain", "PlainContent": "Hi", "From": map[string]any{"email": "a@vanishing.test"},
		"To": []any{map[string]any{"email": "someone@dest.test"}}})
	e.MustAPI(map[string]any{"Command": "suppression.import", "SessionID": gone.SessionID, "EmailAddressesBulk": "blocked@vanishing-rcpt.test"})

	e.MustAPI(map[string]any{"Command": "users.delete", "AdminAPIKey": apptest.AdminKey, "Users": []any{gone.ID}})
	dump := string(storagetest.Dump(t, e.Cfg.DB))
	for _, s := range []string{"goner", "vanishing"} {
		if i := strings.Index(dump, s); i >= 0 {
			line := dump[strings.LastIndexByte(dump[:i], '\n')+1:]
			t.Errorf("%q is still stored: %.200s", s, line)
		}
	}
	if !strings.Contains(dump, "kept.test") || !strings.Contains(dump, "keeper@users.test") {
		t.Errorf("the other account's rows went too")
	}
	for _, cred := range []map[string]any{{"SessionID": gone.SessionID}, {"SenderAPIKey": key}} {
		cred["Command"] = "emailgateway.getdomains"
		if m := e.API(cred); m["Success"] != false {
			t.Errorf("%v after deletion: %v", cred, m)
		}
	}
}
