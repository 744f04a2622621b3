package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatewayd/app/apptest"
	"gatewayd/config"
	"gatewayd/storage"

	"golang.org/x/crypto/bcrypt"
)

// Password guessing is refused per username and per client address on every password login,
// with each surface's rate-limit answer, and released when the window has passed.
func TestLoginThrottle(t *testing.T) {
	window := 3 * time.Second
	e := apptest.Start(t, func(c *config.Config) { c.LoginThrottle = config.RateLimit{N: 3, Per: window} })
	u := e.CreateUser("alice")
	if err := apptest.Directives["admin"](e, []string{"root", "root-password"}, nil); err != nil {
		t.Fatal(err)
	}
	form := func(path string, v url.Values) *apptest.Response {
		return e.Do("POST", path, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte(v.Encode()))
	}
	code := func(r *apptest.Response) string {
		var m map[string]any
		json.Unmarshal(r.Body, &m)
		b, _ := json.Marshal(m["ErrorCode"])
		return string(b)
	}
	login := func(cmd, user, pw string) *apptest.Response {
		return form("/api.php", url.Values{"Command": {cmd}, "ResponseFormat": {"JSON"}, "Username": {user}, "Password": {pw}})
	}
	for _, c := range []struct{ cmd, user, pw string }{{"user.login", u.Username, u.Password}, {"admin.login", "root", "root-password"}} {
		for i := 0; i < 3; i++ {
			if r := login(c.cmd, c.user, "wrong"); code(r) != "3" {
				t.Fatalf("%s wrong password %d: %d %s", c.cmd, i, r.Status, r.Body)
			}
		}
		// The fourth try is refused before the password is looked at, even the right one:
		// api.php's rate-limit answer (ErrorCode 429 with Retry-After).
		r := login(c.cmd, c.user, c.pw)
		if code(r) != "429" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s after 3 failures: %d %s %v", c.cmd, r.Status, r.Body, r.Header)
		}
	}
	// The client address is blocked too: another username from it is refused.
	if r := login("user.login", "nobody", "x"); code(r) != "429" {
		t.Fatalf("another username from a throttled address: %d %s", r.Status, r.Body)
	}
	// Navixy's account/auth answers its own "too many requests" (15).
	r := form("/panel/account/auth", url.Values{"login": {u.Username}, "password": {u.Password}})
	if r.Status != http.StatusTooManyRequests || !strings.Contains(string(r.Body), `"code":15`) {
		t.Fatalf("navixy auth while throttled: %d %s", r.Status, r.Body)
	}
	time.Sleep(window + 500*time.Millisecond)
	if r := login("user.login", u.Username, u.Password); code(r) != "0" {
		t.Fatalf("user.login after the window: %d %s", r.Status, r.Body)
	}
	if r := login("admin.login", "root", "root-password"); code(r) != "0" {
		t.Fatalf("admin.login after the window: %d %s", r.Status, r.Body)
	}
}

// An unknown admin name costs the same bcrypt as a known one with a wrong password, so names
// cannot be told apart by timing.
func TestAdminLoginTiming(t *testing.T) {
	e := apptest.Start(t, nil)
	e.Server.App.BcryptCost = bcrypt.DefaultCost
	h, _ := bcrypt.GenerateFromPassword([]byte("root-password"), bcrypt.DefaultCost)
	if err := e.Server.DB.CreateAdmin(context.Background(), &storage.Admin{Username: "root", PasswordHash: string(h)}); err != nil {
		t.Fatal(err)
	}
	// The two answers are timed alternately and each keeps its fastest of several tries, and a
	// disagreement is measured again before it fails: on a busy machine one slow try says
	// nothing, while a missing password check (a fraction of the time) differs every time.
	var known, unknown time.Duration
	for attempt := 0; attempt < 3; attempt++ {
		known, unknown = time.Hour, time.Hour
		for i := 0; i < 7; i++ {
			for _, user := range []string{"root", "nobody"} {
				start := time.Now()
				e.API(map[string]any{"Command": "admin.login", "Username": user, "Password": "wrong"})
				d := time.Since(start)
				if user == "root" && d < known {
					known = d
				} else if user == "nobody" && d < unknown {
					unknown = d
				}
			}
		}
		if unknown*2 >= known && known*2 >= unknown {
			return
		}
	}
	t.Fatalf("admin.login: known name %v, unknown name %v: not within a factor of 2", known, unknown)
}
