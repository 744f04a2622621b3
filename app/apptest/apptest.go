// Package apptest starts a whole gatewayd for tests: a migrated database of the dialect under
// test (storagetest), the real HTTP handler behind httptest, a fake DNS server as the resolver,
// and helpers to call the APIs as a client would.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"gatewayd/app"
	"gatewayd/config"
	"gatewayd/internal/testkit"
	"gatewayd/relay/resolve/dnstest"
	"gatewayd/storage/storagetest"
)

// AdminKey is the admin API key of every test server.
const AdminKey = "test-admin-key"

// MetricsToken unlocks /metrics on the test server (GATEWAY_METRICS_TOKEN).
const MetricsToken = "test-metrics-token"

// Env is one running gatewayd.
type Env struct {
	T      testing.TB
	Server *app.Server
	HTTP   *httptest.Server
	URL    string
	DNS    *dnstest.Server
	Cfg    *config.Config
}

// DKIMKey returns one 2048-bit key per test binary.
var DKIMKey = testkit.DKIMKey

// Config returns the configuration of a test server; callers may change it before Start.
func Config(t testing.TB) *config.Config {
	cfg := config.Defaults()
	cfg.DB = storagetest.DSN(t)
	cfg.AdminAPIKey = AdminKey
	cfg.SecretKey = strings.Repeat("ab", 32)
	cfg.SecretKeyFile = t.TempDir() + "/secret.key"
	cfg.Hostname = "mx.gateway.test"
	cfg.PublicURL = "http://track.gateway.test"
	cfg.SMTPAddrs = []string{"127.0.0.1:2525", "127.0.0.1:587"}
	cfg.RateLimit = config.RateLimit{Off: true}
	cfg.MetricsToken = MetricsToken
	cfg.LoginThrottle = config.RateLimit{Off: true} // tests that throttle logins turn it on
	cfg.RetryMin = time.Second
	cfg.RetryMax = 4 * time.Second
	cfg.WebhookRetryMin = time.Second
	cfg.WebhookRetryMax = 4 * time.Second
	cfg.WebhookAllowPrivate = true
	cfg.UpstreamAllowPrivate = true // upstream gateways in tests listen on loopback
	return cfg
}

// Start runs a test server with Config(t) adjusted by edit (which may be nil).
func Start(t testing.TB, edit func(*config.Config)) *Env {
	t.Helper()
	dns := dnstest.Start(t)
	cfg := Config(t)
	cfg.DNSServer = dns.Addr
	if edit != nil {
		edit(cfg)
	}
	level := slog.LevelError
	if os.Getenv("GATEWAY_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := app.New(ctx, cfg, log, func(s *app.Server) {
		s.App.NewDKIMKey = DKIMKey
		s.App.BcryptCost = bcrypt.MinCost
	})
	if err != nil {
		t.Fatalf("start gatewayd: %v", err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	return &Env{T: t, Server: s, HTTP: hs, URL: hs.URL, DNS: dns, Cfg: cfg}
}

// Response is what a request got back.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body as an object (numbers as json.Number).
func (r *Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("response is not a JSON object (%d): %s", r.Status, r.Body)
	}
	return m
}

// Metrics scrapes /metrics with the test server's token.
func (e *Env) Metrics() *Response {
	e.T.Helper()
	return e.Do("GET", "/metrics", http.Header{"Authorization": {"Bearer " + MetricsToken}}, nil)
}

// Do sends a raw request.
func (e *Env) Do(method, path string, header http.Header, body []byte) *Response {
	e.T.Helper()
	req, err := http.NewRequest(method, e.URL+path, bytes.NewReader(body))
	if err != nil {
		e.T.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	res, err := e.HTTP.Client().Do(req)
	if err != nil {
		e.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.T.Fatal(err)
	}
	return &Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// API posts params as JSON to /api.php and returns the decoded answer.
func (e *Env) API(params map[string]any) map[string]any {
	e.T.Helper()
	b, _ := json.Marshal(params)
	r := e.Do("POST", "/api.php", http.Header{"Content-Type": {"application/json"}}, b)
	return r.JSON(e.T)
}

// MustAPI is API that fails the test unless Success is true.
func (e *Env) MustAPI(params map[string]any) map[string]any {
	e.T.Helper()
	m := e.API(params)
	if m["Success"] != true {
		e.T.Fatalf("%v: %v", params["Command"], m)
	}
	return m
}

// User is a tenant created for a test.
type User struct {
	ID        int64
	Username  string
	Password  string
	SessionID string
}

// CreateUser creates a user in group 1 (every permission) and logs it in.
func (e *Env) CreateUser(username string) *User {
	e.T.Helper()
	pw := "password-" + username
	m := e.MustAPI(map[string]any{"Command": "user.create", "AdminAPIKey": AdminKey, "RelUserGroupID": 1,
		"EmailAddress": username + "@users.test", "Username": username, "Password": pw, "FirstName": username,
		"TimeZone": "UTC", "Language": "en"})
	id, _ := m["UserID"].(json.Number).Int64()
	login := e.MustAPI(map[string]any{"Command": "user.login", "Username": username, "Password": pw})
	return &User{ID: id, Username: username, Password: pw, SessionID: login["SessionID"].(string)}
}

// AddDomain adds a domain for u and returns its id.
func (e *Env) AddDomain(u *User, name string) int64 {
	e.T.Helper()
	m := e.MustAPI(map[string]any{"Command": "emailgateway.adddomain", "SessionID": u.SessionID, "DomainName": name})
	id, _ := m["NewSenderDomainID"].(json.Number).Int64()
	return id
}

// EnableDomain marks a domain Enabled directly, as `gatewayd domain approve` does.
func (e *Env) EnableDomain(id int64) {
	e.T.Helper()
	if err := e.Server.DB.SetDomainStatus(context.Background(), id, "Enabled", time.Now().Unix()); err != nil {
		e.T.Fatal(err)
	}
}
