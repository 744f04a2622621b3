package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gatewayd/app/apptest"
	"gatewayd/config"
	"gatewayd/relay/smtptest"
)

// browser starts Debian's headless chromium (make test installs it); without it the test fails.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Fatal("chromium is not installed (make test installs it: scripts/ensure-test-deps.sh chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Headless, chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1200, 900))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium (%s): %v", path, err)
	}
	return ctx
}

// shots is where screenshots go: $CONSOLE_SCREENSHOTS, or the test's own temporary folder.
func shots(t *testing.T) string {
	if d := os.Getenv("CONSOLE_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

type tab struct {
	t    *testing.T
	ctx  context.Context
	dir  string
	base string
}

// step bounds one browser action, so a missing element fails fast with the page it was on.
func (b *tab) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, 15*time.Second)
}

func (b *tab) fail(format string, args ...any) {
	b.t.Helper()
	b.t.Fatalf(format+"\nat %s:\n%s", append(args, b.location(), b.html())...)
}

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail("browser: %v", err)
	}
}

func (b *tab) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	l, _ := chromedp.Run(ctx, chromedp.Location())
	return l
}

func (b *tab) open(path string) { b.t.Helper(); b.do(chromedp.Navigate(b.base + path)) }

func (b *tab) text(css string) string {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		b.fail("text of %s: %v", css, err)
	}
	return s
}

func (b *tab) fill(css, value string) {
	b.t.Helper()
	b.do(chromedp.SetValue(chromedp.CSS(css), value))
}

// submit clicks a button and waits for the next page: the old document is marked first, so
// a slow answer (a loaded machine) is not mistaken for the new page.
func (b *tab) submit(css string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](`window.__gwOldPage = true; undefined`), chromedp.Click(chromedp.CSS(css)))
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		fresh, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__gwOldPage !== true && document.readyState === "complete" && document.querySelector("main") !== null`))
		cancel()
		if err == nil && fresh {
			return
		}
		if time.Now().After(deadline) {
			b.fail("no new page after clicking %s", css)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *tab) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100)) // quality 100 is PNG
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *tab) html() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
	return s
}

func (b *tab) contains(css, want string) {
	b.t.Helper()
	if got := b.text(css); !strings.Contains(got, want) {
		b.t.Fatalf("%s: %q does not contain %q (at %s)", css, got, want, b.location())
	}
}

// TestBrowserJourney is the tenant's and the operator's first day, in a real browser: the
// operator creates a tenant; the tenant adds a domain and sees its three records; the
// operator approves it by id; the tenant creates a sender key, sends a test message to a
// test SMTP sink, sees it delivered in the events table, opens the message page and sees the
// chart's data point on the dashboard.
func TestBrowserJourney(t *testing.T) {
	ctx := browser(t)
	sink := smtptest.Start(t, smtptest.Options{})
	env := apptest.Start(t, func(cfg *config.Config) {
		cfg.DefaultRelay = "smtp://" + sink.Addr
		cfg.Workers = 2
	})
	if err := env.Server.StartDelivery(); err != nil {
		t.Fatal(err)
	}
	dir := shots(t)
	t.Logf("screenshots in %s", dir)
	// The tenant browses 127.0.0.1, the operator localhost: two origins, so two sessions in one tab.
	tenant := &tab{t: t, ctx: ctx, dir: dir, base: env.URL}
	operator := &tab{t: t, ctx: ctx, dir: dir, base: strings.Replace(env.URL, "127.0.0.1", "localhost", 1)}

	// Operator: sign in with the admin key, create the tenant.
	operator.open("/console/login")
	operator.shot("login")
	operator.fill("#o-key", apptest.AdminKey)
	operator.submit("#operator-login button")
	operator.contains("h1", "Operator")
	operator.open("/console/admin/users")
	operator.fill("#u-name", "alice")
	operator.fill("#u-email", "alice@users.test")
	operator.fill("#u-pass", "alice-password")
	operator.submit("#create-user")
	operator.contains(".notice", "User created")
	operator.shot("admin-users")

	// Tenant: sign in, add a domain, see its three records.
	tenant.open("/console/login")
	tenant.fill("#t-user", "alice")
	tenant.fill("#t-pass", "alice-password")
	tenant.submit("#tenant-login button")
	tenant.contains("h1", "Dashboard")
	tenant.open("/console/domains")
	tenant.fill("#domain-name", "shop-with-a-rather-long-name-for-layout.example")
	tenant.submit("form.inline button")
	tenant.contains("#domain-status", "Approval Pending")
	recs := tenant.text("#dns-records tbody")
	for _, want := range []string{"shop-with-a-rather-long-name-for-layout.example", "._domainkey.", "v=spf1 include:", "v=DKIM1", "CNAME"} {
		if !strings.Contains(recs, want) {
			t.Fatalf("DNS records lack %q:\n%s", want, recs)
		}
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#dns-records tr.record").length`)); n != 3 {
		t.Fatalf("%d DNS records, want 3", n)
	}
	id := tenant.text("#domain-id")
	tenant.shot("domain")

	// Operator: approve it by id.
	operator.open("/console/admin/domains")
	operator.contains("#admin-domains", "shop-with-a-rather-long-name-for-layout.example")
	operator.shot("admin-domains")
	operator.fill("#approve-id", id)
	operator.submit("#approve")
	operator.contains(".notice", "approved")
	operator.open("/console/admin")
	operator.shot("admin")

	// Tenant: the domain is enabled; create a sender key (shown once).
	tenant.open("/console/domains/" + id)
	tenant.contains("#domain-status", "Enabled")
	tenant.fill("#key-desc", "shop backend")
	tenant.submit("#create-key")
	key := tenant.text("#new-key")
	if !strings.HasPrefix(key, "eg_live_") {
		t.Fatalf("new key %q", key)
	}
	tenant.shot("domain-key")
	tenant.open("/console/domains/" + id)
	if strings.Contains(tenant.html(), key) {
		t.Fatal("the sender key is shown again after creation")
	}

	// Send a test message; the sink receives it.
	tenant.open("/console/send")
	tenant.fill("#s-to", "bob@example.net")
	tenant.fill("#s-subject", "Hello from the console")
	tenant.submit("#send")
	mid := tenant.text("#sent-id")
	tenant.shot("send")
	msgs := sink.WaitMessages(t, 1, 20*time.Second)
	if !strings.Contains(string(msgs[0].Data), "Hello from the console") {
		t.Fatalf("sink got %s", msgs[0].Data)
	}

	// The events table shows it delivered.
	deadline := time.Now().Add(20 * time.Second)
	for {
		tenant.open("/console/messages?event=delivered")
		if strings.Contains(tenant.text("#events tbody"), "bob@example.net") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivered event in the table:\n%s", tenant.text("#events tbody"))
		}
		time.Sleep(300 * time.Millisecond)
	}
	tenant.open("/console/messages")
	tenant.shot("messages")

	// The message page shows its timeline.
	tenant.do(chromedp.Click(chromedp.CSS(`#events a[href$="`+mid+`"]`)), chromedp.WaitVisible(chromedp.CSS("#timeline")))
	tl := tenant.text("#timeline")
	if !strings.Contains(tl, "accepted") || !strings.Contains(tl, "delivered") {
		t.Fatalf("timeline: %s", tl)
	}
	tenant.shot("message")

	// The dashboard chart has today's point.
	tenant.open("/console/")
	today := time.Now().UTC().Format("2006-01-02")
	points, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#chart circle title")).map(e => e.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if !containsStr(points, today+" Delivered: 1") || !containsStr(points, today+" Sent: 1") {
		t.Fatalf("chart points %v lack today's", points)
	}
	tenant.shot("dashboard")

	// 360 px wide: nothing is wider than the screen.
	tenant.do(chromedp.EmulateViewport(360, 740))
	for _, p := range []string{"/console/", "/console/domains/" + id, "/console/messages"} {
		tenant.open(p)
		w, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		if w > 360 {
			t.Fatalf("%s is %d px wide at 360 px", p, w)
		}
	}
	tenant.open("/console/domains/" + id)
	tenant.shot("domain-360")
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestBrowserCSRF: a form on another origin that posts to the console while the tenant is
// signed in is refused (the session cookie travels with a same-site post; the token does
// not), and a tenant cannot open another tenant's message page.
func TestBrowserCSRF(t *testing.T) {
	ctx := browser(t)
	env := apptest.Start(t, nil)
	alice := env.CreateUser("alice")
	bob := env.CreateUser("bob")
	bobDomain := env.AddDomain(bob, "bob.example")
	env.EnableDomain(bobDomain)
	r := env.MustAPI(map[string]any{"Command": "emailgateway.sendtest", "SessionID": bob.SessionID, "DomainID": bobDomain,
		"To": "someone@example.net"})
	bobMsg := r["MessageID"].(string)

	b := &tab{t: t, ctx: ctx, dir: shots(t), base: env.URL}
	b.open("/console/login")
	b.fill("#t-user", alice.Username)
	b.fill("#t-pass", alice.Password)
	b.submit("#tenant-login button")
	b.contains("h1", "Dashboard")

	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<form id="f" method="post" action="%s/console/domains"><input name="DomainName" value="evil.example"><input name="csrf" value="guess"></form><script>document.getElementById("f").submit()</script>`, env.URL)
	}))
	defer evil.Close()
	b.do(chromedp.Navigate(evil.URL), chromedp.Sleep(500*time.Millisecond), chromedp.WaitReady(chromedp.CSS("main")))
	b.contains("h1", "Refused")
	b.shot("csrf-refused")
	m := env.MustAPI(map[string]any{"Command": "emailgateway.getdomains", "SessionID": alice.SessionID})
	if ds := m["Domains"].([]any); len(ds) != 0 {
		t.Fatalf("the cross-site post added a domain: %v", ds)
	}

	b.open(fmt.Sprintf("/console/messages/%d/%s", bobDomain, bobMsg))
	if h := b.text("h1"); h != "Not found" {
		b.fail("another tenant's message page: %q", h)
	}
	if strings.Contains(b.html(), "someone@example.net") {
		t.Fatal("another tenant's message is shown")
	}
}
