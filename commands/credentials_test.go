package commands_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatewayd/app/apptest"
	"gatewayd/commands"
	"gatewayd/config"
	"gatewayd/secret"
	"gatewayd/storage/storagetest"
)

func str(t *testing.T, m map[string]any, path ...string) string {
	t.Helper()
	var v any = m
	for _, k := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%v: no %s in %v", path, k, m)
		}
		v = obj[k]
	}
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	t.Fatalf("%v: %v is not a scalar", path, v)
	return ""
}

func TestSecretsAreNeverStoredInClear(t *testing.T) {
	env := apptest.Start(t, nil)
	u := env.CreateUser("alice")
	d := env.AddDomain(u, "example.com")
	key := str(t, env.MustAPI(map[string]any{"Command": "emailgateway.addapi", "SessionID": u.SessionID, "Description": "Prod", "DomainID": d}), "APIKey", "APIKey")
	add := env.MustAPI(map[string]any{"Command": "emailgateway.addsmtp", "SessionID": u.SessionID, "DomainID": d, "AllowedNetworks": "192.0.2.0/24"})
	pw1, smtpID := str(t, add, "SMTP", "SMTPPassword"), str(t, add, "SMTP", "SMTPID")
	pw2 := str(t, env.MustAPI(map[string]any{"Command": "emailgateway.resetsmtppassword", "SessionID": u.SessionID, "SMTPID": smtpID}), "SMTP", "SMTPPassword")
	whsec := str(t, env.MustAPI(map[string]any{"Command": "emailgateway.getwebhooks", "SessionID": u.SessionID, "DomainID": d}), "SigningKey")
	rotated := env.MustAPI(map[string]any{"Command": "emailgateway.replaceapi", "SessionID": u.SessionID, "APIKeyID": str(t, env.MustAPI(map[string]any{
		"Command": "emailgateway.addapi", "SessionID": u.SessionID, "Description": "Rotate me", "DomainID": d}), "NewAPIKeyID")})
	key2 := str(t, rotated, "APIKey", "APIKey")

	if !strings.HasPrefix(key, "eg_live_") || len(key) < 8+32 || len(pw1) < 24 || pw1 == pw2 || !strings.HasPrefix(whsec, "whsec_") {
		t.Fatalf("unexpected secrets: key %q password %q/%q signing key %q", key, pw1, pw2, whsec)
	}
	dump := storagetest.Dump(t, env.Cfg.DB)
	for name, s := range map[string]string{"API key": key, "rotated API key": key2, "SMTP password": pw1, "new SMTP password": pw2, "signing key": whsec} {
		if bytes.Contains(dump, []byte(s)) {
			t.Errorf("the %s %q is stored in clear", name, s)
		}
		// The random part alone must not be there either (e.g. stored without its prefix).
		tail := s[len(s)-16:]
		if bytes.Contains(dump, []byte(tail)) {
			t.Errorf("part of the %s is stored in clear", name)
		}
	}
	// What is stored is the lookup hash (proving the dump reads the rows that matter).
	for name, s := range map[string]string{"API key": key, "SMTP password": pw2} {
		if !bytes.Contains(dump, []byte(secret.Hash(s))) {
			t.Errorf("the %s's SHA-256 hash is not in the database", name)
		}
	}
	// The keys still work, so the sealed copies are real.
	got := env.MustAPI(map[string]any{"Command": "emailgateway.getapis", "SessionID": u.SessionID, "DomainID": d})
	if b, _ := json.Marshal(got); !bytes.Contains(b, []byte(key)) || !bytes.Contains(b, []byte(key2)) {
		t.Fatalf("getapis does not list the keys back: %s", b)
	}
}

var usernameRE = regexp.MustCompile(`^smtp_mail_example_com_[0-9a-f]{10}$`)

func TestSMTPLogin(t *testing.T) {
	env := apptest.Start(t, nil)
	a := env.Server.App
	ctx := context.Background()
	u := env.CreateUser("alice")
	d := env.AddDomain(u, "mail.example.com")
	add := env.MustAPI(map[string]any{"Command": "emailgateway.addsmtp", "SessionID": u.SessionID, "DomainID": d})
	user, pw, id := str(t, add, "SMTP", "SMTPUsername"), str(t, add, "SMTP", "SMTPPassword"), str(t, add, "SMTP", "SMTPID")
	if !usernameRE.MatchString(user) {
		t.Fatalf("username %q does not look like smtp_<domain>_<random>", user)
	}

	c, dom, owner, err := a.SMTPLogin(ctx, user, pw)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if c.Username != user || dom.ID != d || dom.Name != "mail.example.com" || owner.ID != u.ID {
		t.Fatalf("login returned %+v %+v %+v", c, dom, owner)
	}
	if _, _, _, err := a.SMTPLogin(ctx, strings.ToUpper(user), pw); err != nil {
		t.Fatalf("usernames are case-insensitive: %v", err)
	}
	for _, bad := range [][2]string{{user, pw + "x"}, {user, strings.ToLower(pw)}, {user, ""}, {"smtp_nobody", pw}, {"", ""}} {
		if bad[1] == pw {
			continue // a generated password without capitals lower-cases to itself
		}
		if _, _, _, err := a.SMTPLogin(ctx, bad[0], bad[1]); !errors.Is(err, commands.ErrSMTPAuth) {
			t.Errorf("login %q/%q: %v, want ErrSMTPAuth", bad[0], bad[1], err)
		}
	}

	pw2 := str(t, env.MustAPI(map[string]any{"Command": "emailgateway.resetsmtppassword", "SessionID": u.SessionID, "SMTPID": id}), "SMTP", "SMTPPassword")
	if _, _, _, err := a.SMTPLogin(ctx, user, pw); !errors.Is(err, commands.ErrSMTPAuth) {
		t.Fatalf("old password after reset: %v", err)
	}
	if _, _, _, err := a.SMTPLogin(ctx, user, pw2); err != nil {
		t.Fatalf("new password: %v", err)
	}
	env.MustAPI(map[string]any{"Command": "emailgateway.deletesmtp", "SessionID": u.SessionID, "SMTPID": id})
	if _, _, _, err := a.SMTPLogin(ctx, user, pw2); !errors.Is(err, commands.ErrSMTPAuth) {
		t.Fatalf("deleted credentials: %v", err)
	}

	// Credentials go with their domain.
	add = env.MustAPI(map[string]any{"Command": "emailgateway.addsmtp", "SessionID": u.SessionID, "DomainID": d})
	user, pw = str(t, add, "SMTP", "SMTPUsername"), str(t, add, "SMTP", "SMTPPassword")
	env.MustAPI(map[string]any{"Command": "emailgateway.deletedomain", "SessionID": u.SessionID, "DomainID": d})
	if _, _, _, err := a.SMTPLogin(ctx, user, pw); !errors.Is(err, commands.ErrSMTPAuth) {
		t.Fatalf("credentials of a deleted domain: %v", err)
	}
}

func TestSMTPNetworkCredentials(t *testing.T) {
	env := apptest.Start(t, nil)
	a := env.Server.App
	ctx := context.Background()
	u := env.CreateUser("alice")
	d1 := env.AddDomain(u, "one.example")
	d2 := env.AddDomain(u, "two.example")
	c1 := str(t, env.MustAPI(map[string]any{"Command": "emailgateway.addsmtp", "SessionID": u.SessionID, "DomainID": d1,
		"AllowedNetworks": "192.0.2.0/24, 2001:db8::/48"}), "SMTP", "SMTPID")
	c2 := str(t, env.MustAPI(map[string]any{"Command": "emailgateway.addsmtp", "SessionID": u.SessionID, "DomainID": d2,
		"AllowedNetworks": []string{"192.0.2.77", "198.51.100.0/25"}}), "SMTP", "SMTPID")
	env.MustAPI(map[string]any{"Command": "emailgateway.addsmtp", "SessionID": u.SessionID, "DomainID": d2}) // no networks

	ids := func(ip string) string {
		t.Helper()
		cs, err := a.SMTPNetworkCredentials(ctx, net.ParseIP(ip))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range cs {
			out = append(out, strconv.FormatInt(c.ID, 10))
		}
		return strings.Join(out, ",")
	}
	for ip, want := range map[string]string{
		"192.0.2.1":         c1,
		"192.0.2.77":        c1 + "," + c2,
		"::ffff:192.0.2.77": c1 + "," + c2,
		"198.51.100.127":    c2,
		"198.51.100.128":    "",
		"2001:db8:0:1::5":   c1,
		"2001:db8:1::5":     "",
		"203.0.113.9":       "",
		"127.0.0.1":         "",
	} {
		if got := ids(ip); got != want {
			t.Errorf("%s: credentials %q, want %q", ip, got, want)
		}
	}
	if cs, err := a.SMTPNetworkCredentials(ctx, nil); err != nil || len(cs) != 0 {
		t.Errorf("nil IP: %v %v", cs, err)
	}
}

func TestAddWebhookRefusesPrivateDestinations(t *testing.T) {
	env := apptest.Start(t, func(c *config.Config) { c.WebhookAllowPrivate = false })
	env.DNS.AddA("internal.hooks.test", "10.20.30.40")
	env.DNS.AddA("rebind.hooks.test", "93.184.216.34", "127.0.0.1")
	env.DNS.AddA("public.hooks.test", "93.184.216.34")
	u := env.CreateUser("alice")
	d := env.AddDomain(u, "example.com")
	key := str(t, env.MustAPI(map[string]any{"Command": "emailgateway.addapi", "SessionID": u.SessionID, "Description": "k", "DomainID": d}), "APIKey", "APIKey")

	for _, url := range []string{
		"http://127.0.0.1:8080/hook",
		"http://localhost/hook",
		"http://[::1]/hook",
		"http://0x7f.1/hook",
		"http://2130706433/hook",
		"http://10.0.0.8/hook",
		"http://192.168.1.1/hook",
		"http://169.254.169.254/latest/meta-data/",
		"http://metadata.google.internal/computeMetadata/v1/",
		"https://internal.hooks.test/hook",
		"https://rebind.hooks.test/hook",
		"https://unresolvable.hooks.test/hook",
	} {
		m := env.API(map[string]any{"Command": "emailgateway.addwebhook", "SessionID": u.SessionID, "DomainID": d, "Event": "delivery", "WebhookURL": url})
		if b, _ := json.Marshal(m["ErrorCode"]); m["Success"] != false || string(b) != "[6]" {
			t.Errorf("addwebhook %s: %v, want ErrorCode [6]", url, m)
		}
		r := env.Do("POST", "/api/v1/webhooks", http.Header{"Authorization": {"Bearer " + key}, "Content-Type": {"application/json"}},
			[]byte(`{"Event":"delivered","WebhookURL":"`+url+`"}`))
		var body struct{ Errors []struct{ Code int } }
		if err := json.Unmarshal(r.Body, &body); err != nil || r.Status != 200 || len(body.Errors) != 1 || body.Errors[0].Code != 3 {
			t.Errorf("POST /api/v1/webhooks %s: %d %s, want Code 3", url, r.Status, r.Body)
		}
	}
	ok := env.API(map[string]any{"Command": "emailgateway.addwebhook", "SessionID": u.SessionID, "DomainID": d, "Event": "delivery", "WebhookURL": "https://public.hooks.test/hook"})
	if ok["Success"] != true {
		t.Fatalf("a public destination was refused: %v", ok)
	}
	list := env.MustAPI(map[string]any{"Command": "emailgateway.getwebhooks", "SessionID": u.SessionID, "DomainID": d})
	if ws := list["Webhooks"].([]any); len(ws) != 1 {
		t.Fatalf("stored webhooks: %v, want only the public one", ws)
	}
}

func TestV1RateLimitIsReachedAndRecovers(t *testing.T) {
	env := apptest.Start(t, func(c *config.Config) { c.RateLimit = config.RateLimit{N: 3, Per: time.Second} })
	u := env.CreateUser("alice")
	key1 := str(t, env.MustAPI(map[string]any{"Command": "emailgateway.addapi", "SessionID": u.SessionID, "Description": "1", "DomainID": env.AddDomain(u, "one.example")}), "APIKey", "APIKey")
	key2 := str(t, env.MustAPI(map[string]any{"Command": "emailgateway.addapi", "SessionID": u.SessionID, "Description": "2", "DomainID": env.AddDomain(u, "two.example")}), "APIKey", "APIKey")
	get := func(key string) *apptest.Response {
		return env.Do("GET", "/api/v1/webhooks", http.Header{"Authorization": {"Bearer " + key}}, nil)
	}
	for i := 0; i < 3; i++ {
		if r := get(key1); r.Status != 200 || string(r.Body) != `{"Webhooks":[]}` {
			t.Fatalf("request %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	r := get(key1)
	if r.Status != 200 || string(r.Body) != `{"Errors":[{"Code":429,"Message":"Too many requests"}]}` || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("4th request: %d %s Retry-After=%q, want Code 429 with Retry-After 1", r.Status, r.Body, r.Header.Get("Retry-After"))
	}
	// The same key on api.php spends the same bucket.
	m := env.API(map[string]any{"Command": "emailgateway.createwebhook", "SenderAPIKey": key1, "Event": "delivered", "WebhookURL": "https://h.example/x"})
	if m["Success"] != false || str(t, m, "ErrorCode") != "429" {
		t.Fatalf("api.php while limited: %v", m)
	}
	// Another key has its own bucket; user commands are not limited.
	if r := get(key2); r.Status != 200 || string(r.Body) != `{"Webhooks":[]}` {
		t.Fatalf("another key: %d %s", r.Status, r.Body)
	}
	for i := 0; i < 5; i++ {
		env.MustAPI(map[string]any{"Command": "emailgateway.getdomains", "SessionID": u.SessionID})
	}
	time.Sleep(1100 * time.Millisecond)
	if r := get(key1); r.Status != 200 || string(r.Body) != `{"Webhooks":[]}` {
		t.Fatalf("after waiting: %d %s", r.Status, r.Body)
	}
}

func TestEventType(t *testing.T) {
	for in, want := range map[string]string{
		"delivery": "delivered", "Delivered": "delivered", "bounce": "bounced", "BOUNCED": "bounced",
		"open": "opened", "opened": "opened", "click": "clicked", "clicked": "clicked",
		"unsubscribe": "unsubscribed", "unsubscribed": "unsubscribed", "complaint": "complained",
		"complained": "complained", " accepted ": "accepted", "deferred": "deferred", "failed": "failed",
	} {
		got, ok := commands.EventType(in)
		if !ok || got != want {
			t.Errorf("EventType(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "sent", "deliver", "opens", "delivery,bounce"} {
		if got, ok := commands.EventType(in); ok {
			t.Errorf("EventType(%q) = %q, want not ok", in, got)
		}
	}
	for canon, legacy := range map[string]string{"delivered": "delivery", "bounced": "bounce", "opened": "open",
		"clicked": "click", "unsubscribed": "unsubscribe", "complained": "complaint", "deferred": "deferred"} {
		if got := commands.LegacyEventName(canon); got != legacy {
			t.Errorf("LegacyEventName(%q) = %q, want %q", canon, got, legacy)
		}
	}
}
