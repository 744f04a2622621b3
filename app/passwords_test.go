package app_test

import (
	"encoding/json"
	"io"
	"mime/quotedprintable"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatewayd/app/apptest"
	"gatewayd/config"
	"gatewayd/relay/smtptest"
	"gatewayd/storage/storagetest"
)

// mailText returns a received message's From header and its plain-text body, decoded.
func mailText(t *testing.T, m smtptest.Message) (from, body string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("DKIM-Signature") == "" {
		t.Errorf("platform mail is not DKIM-signed:\n%s", m.Data)
	}
	return msg.Header.Get("From"), string(b)
}

// The password reset of users.md: user.passwordremind mails a one-time link through the
// normal queue, from GATEWAY_PLATFORM_FROM (an Enabled sender domain of the operator's
// account, DKIM-signed with its key), to a test SMTP sink; the link works once, resets the
// password, ends the account's sessions and mails the new password; used and expired tokens
// answer 2.
func TestPasswordResetMail(t *testing.T) {
	d := startDelivery(t, func(cfg *config.Config, sink *smtptest.Server) {
		cfg.PlatformFrom = "Gateway Accounts <accounts@shop.test>"
	})
	bob := d.CreateUser("bob")

	// Unknown addresses are answered like known ones and get nothing.
	for _, email := range []string{"nobody@users.test", "bob@users.test"} {
		m := d.API(map[string]any{"Command": "user.passwordremind", "EmailAddress": email})
		if m["Success"] != true || m["PasswordResetToken"] != "" || m["PasswordResetLink"] != "" || m["ErrorText"] != "" {
			t.Fatalf("remind %s: %v", email, m)
		}
	}
	// A second reminder within a minute sends nothing.
	if m := d.API(map[string]any{"Command": "user.passwordremind", "EmailAddress": "BOB@users.test"}); m["Success"] != true {
		t.Fatalf("second remind: %v", m)
	}
	msgs := d.sink.WaitMessages(t, 1, 10*time.Second)
	if len(msgs[0].To) != 1 || msgs[0].To[0] != "bob@users.test" {
		t.Fatalf("reminder went to %v", msgs[0].To)
	}
	from, body := mailText(t, msgs[0])
	if from != `"Gateway Accounts" <accounts@shop.test>` {
		t.Errorf("From: %q", from)
	}
	link := regexp.MustCompile(`http://track\.gateway\.test/api\.php\?\S+`).FindString(body)
	if link == "" {
		t.Fatalf("no reset link in:\n%s", body)
	}
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("Command") != "user.passwordreset" || len(u.Query().Get("UserID")) != 48 {
		t.Fatalf("link %q", link)
	}

	// Following the link resets the password and mails the new one.
	r := d.Do("GET", u.RequestURI(), nil, nil)
	if r.Status != 200 || string(r.Body) != `{"Success":true,"ErrorCode":0,"ErrorText":"","WoocommerceUserId":false}` {
		t.Fatalf("reset: %d %s", r.Status, r.Body)
	}
	msgs = d.sink.WaitMessages(t, 2, 10*time.Second)
	_, body = mailText(t, msgs[1])
	pw := regexp.MustCompile(`(?m)^    (\S+)\r?$`).FindStringSubmatch(body)
	if msgs[1].To[0] != "bob@users.test" || pw == nil {
		t.Fatalf("new password mail to %v:\n%s", msgs[1].To, body)
	}
	if m := d.API(map[string]any{"Command": "user.login", "Username": "bob", "Password": pw[1]}); m["Success"] != true {
		t.Fatalf("login with the new password: %v", m)
	}
	if m := d.API(map[string]any{"Command": "user.login", "Username": "bob", "Password": bob.Password}); m["ErrorCode"] != json.Number("3") {
		t.Fatalf("login with the old password: %v", m)
	}
	if m := d.API(map[string]any{"Command": "user.current", "SessionID": bob.SessionID}); m["ErrorCode"] != json.Number("99998") {
		t.Fatalf("a session from before the reset: %v", m)
	}

	// The token works once.
	again := d.Do("GET", u.RequestURI(), nil, nil)
	if string(again.Body) != `{"Success":false,"ErrorCode":[2],"ErrorText":["Invalid reset token or user not found"]}` {
		t.Fatalf("second use: %s", again.Body)
	}

	// An administrator may take the token back and set the password without a mail; an
	// expired token is refused.
	m := d.MustAPI(map[string]any{"Command": "user.passwordremind", "AdminAPIKey": apptest.AdminKey, "EmailAddress": "bob@users.test",
		"ReturnParams": true})
	token, _ := m["PasswordResetToken"].(string)
	if len(token) != 48 || m["PasswordResetLink"] != "http://track.gateway.test/api.php?Command=user.passwordreset&UserID="+token {
		t.Fatalf("ReturnParams: %v", m)
	}
	if m := d.API(map[string]any{"Command": "user.passwordreset", "UserID": token, "NewPassword": "chosen-password"}); m["ErrorCode"] != json.Number("3") {
		t.Fatalf("NewPassword without the admin key: %v", m)
	}
	raw := storagetest.Raw(t, d.Cfg.DB)
	if storagetest.Dialect() == "sqlite" {
		// One connection that waits for the server's writers, as the server's own do.
		raw.SetMaxOpenConns(1)
		if _, err := raw.Exec("PRAGMA busy_timeout = 10000"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec("UPDATE password_resets SET expires_at = 1"); err != nil {
		t.Fatal(err)
	}
	if m := d.API(map[string]any{"Command": "user.passwordreset", "AdminAPIKey": apptest.AdminKey, "UserID": token,
		"NewPassword": "chosen-password", "DontSendNewPasswordEmail": true}); m["Success"] != false {
		t.Fatalf("expired token: %v", m)
	}
	m = d.MustAPI(map[string]any{"Command": "user.passwordremind", "AdminAPIKey": apptest.AdminKey, "EmailAddress": "bob@users.test",
		"ReturnParams": true})
	d.MustAPI(map[string]any{"Command": "user.passwordreset", "AdminAPIKey": apptest.AdminKey, "UserID": m["PasswordResetToken"],
		"NewPassword": "chosen-password", "DontSendNewPasswordEmail": true})
	if m := d.API(map[string]any{"Command": "user.login", "Username": "bob", "Password": "chosen-password"}); m["Success"] != true {
		t.Fatalf("login with the chosen password: %v", m)
	}
	time.Sleep(500 * time.Millisecond)
	// Reminder, new password, and the two administrator reminders; no mail for the rest.
	if n := len(d.sink.Messages()); n != 4 {
		t.Fatalf("%d mails at the sink, want 4", n)
	}
}

// Without GATEWAY_PLATFORM_FROM no reset mail can go out: code 4, and nothing is stored.
func TestPasswordRemindWithoutPlatformSender(t *testing.T) {
	e := apptest.Start(t, nil)
	e.CreateUser("carol")
	m := e.API(map[string]any{"Command": "user.passwordremind", "EmailAddress": "carol@users.test"})
	if m["ErrorCode"] != json.Number("4") {
		t.Fatalf("remind: %v", m)
	}
	for _, p := range []map[string]any{
		{"Command": "user.passwordremind"},
		{"Command": "user.passwordremind", "EmailAddress": "not-an-address"},
	} {
		m := e.API(p)
		if m["Success"] != false {
			t.Fatalf("%v: %v", p, m)
		}
	}
	var n int
	if err := storagetest.Raw(t, e.Cfg.DB).QueryRow("SELECT COUNT(*) FROM password_resets").Scan(&n); err != nil || n != 0 {
		t.Fatalf("reset tokens stored: %d %v", n, err)
	}
}
