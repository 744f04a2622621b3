package console_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gatewayd/app/apptest"
	"gatewayd/relay/smtptest"
)

// TestBrowserTenantPages walks a tenant through the credential, webhook, suppression,
// gateway, list and template pages in a real browser, with a screenshot of each, and checks
// that each fits a 360 px wide screen.
func TestBrowserTenantPages(t *testing.T) {
	ctx := browser(t)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer hook.Close()
	tlsCfg, _ := smtptest.SelfSigned(t)
	relay := smtptest.Start(t, smtptest.Options{TLS: tlsCfg, AuthUsers: map[string]string{"relay-user": "relay-Password-1"}})
	relayHost, relayPort, _ := net.SplitHostPort(relay.Addr)
	env := apptest.Start(t, nil)
	env.Server.StartWebhooks()
	u := env.CreateUser("alice")
	domain := "a-tenant-with-a-very-long-sender-domain-name-for-the-layout.example"
	d := env.AddDomain(u, domain)
	env.EnableDomain(d)
	dir := shots(t)
	t.Logf("screenshots in %s", dir)
	b := &tab{t: t, ctx: ctx, dir: dir, base: env.URL}
	b.open("/console/login")
	b.fill("#t-user", u.Username)
	b.fill("#t-pass", u.Password)
	b.submit("#tenant-login button")
	b.contains("h1", "Dashboard")

	// Keys: create, rotate (the new key shown once, with a copy button).
	page := fmt.Sprintf("/console/domains/%d", d)
	b.open(page)
	b.fill("#key-desc", "backend")
	b.submit("#create-key")
	first := b.text("#new-key")
	b.submit("#keys button.rotate-key")
	b.contains(".secret", "the old one no longer works")
	if second := b.text("#new-key"); second == first || !strings.HasPrefix(second, "eg_live_") {
		t.Fatalf("rotated key %q (was %q)", second, first)
	}
	b.do(chromedp.WaitVisible(chromedp.CSS(`.secret button.copy[data-copy="new-key"]`)))
	b.contains("#smtp-server", "mx.gateway.test")
	b.shot("tenant-key-rotated")

	// Webhooks: add one, reveal the signing key, send a test event, see its status code.
	b.open("/console/webhooks")
	b.do(chromedp.SetValue(chromedp.CSS("#w-event"), "bounced"))
	b.fill("#w-url", hook.URL+"/mail-events")
	b.submit("#add-webhook")
	b.contains("#webhooks", hook.URL+"/mail-events")
	b.submit("#reveal-key")
	if k := b.text("#signing-key"); !strings.HasPrefix(k, "whsec_") {
		t.Fatalf("signing key %q", k)
	}
	b.submit("#webhooks button.test-hook")
	b.contains(".notice", "Test event queued")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(b.text("#deliveries tbody"), "204") {
		if time.Now().After(deadline) {
			b.fail("the test event's delivery does not show 204")
		}
		time.Sleep(300 * time.Millisecond)
		b.open("/console/webhooks")
	}
	b.shot("tenant-webhooks")

	// Suppression list: add two addresses, search for one, remove it.
	b.open("/console/suppressions")
	b.fill("#sp-add", "bounced-once@example.net\nquiet@example.org")
	b.fill("#sp-reason", "asked to stop")
	b.submit("#add-suppressions")
	b.contains("#added", "2 added")
	b.fill("#sp-q", "quiet")
	b.submit("#search button")
	if rows := b.text("#suppressions tbody"); !strings.Contains(rows, "quiet@example.org") || strings.Contains(rows, "bounced-once") {
		t.Fatalf("search shows %q", rows)
	}
	b.shot("tenant-suppressions")
	b.submit("#suppressions button.danger")
	b.contains(".notice", "Removed")
	if rows := b.text("#suppressions tbody"); strings.Contains(rows, "quiet@example.org") {
		t.Fatalf("removed address still listed: %q", rows)
	}

	// Gateways: add an own SMTP server, test the connection, send through it.
	b.open("/console/gateways")
	b.fill("#g-caption", "Office relay")
	b.fill("#g-host", relayHost)
	b.fill("#g-port", relayPort)
	b.fill("#g-user", "relay-user")
	b.fill("#g-pass", "relay-Password-1")
	b.fill("#g-from", "ops@example.net")
	b.fill("#g-fromname", "Ops")
	b.do(chromedp.Click(chromedp.CSS("#g-trust")))
	b.submit("#add-gateway button")
	b.contains("#own-gateways", "Office relay")
	b.submit("#own-gateways button.test-gateway")
	b.contains(".test-result", "Connection works")
	b.submit("#own-gateways button.bind")
	b.contains("#bound", "Your mail goes out through Office relay")
	b.shot("tenant-gateways")

	// Lists: create one, add a subscriber, unsubscribe them.
	b.open("/console/lists")
	b.fill("#l-name", "Product news")
	b.submit("#add-list")
	b.contains("h1", "Product news")
	listID := b.text("#list-id")
	b.fill("#sub-email", "reader@example.net")
	b.submit("#add-subscriber")
	b.contains("#subscribers", "reader@example.net")
	b.shot("tenant-list")
	b.submit("#subscribers button.danger")
	b.contains(".notice", "Unsubscribed")
	b.open("/console/lists")
	b.shot("tenant-lists")

	// Templates: create one, edit its subject, preview it.
	b.open("/console/templates")
	b.fill("#t-name", "Welcome")
	b.fill("#t-subject", "Hello")
	b.fill("#t-html", "<p>Hello %Subscriber:FirstName|friend%</p>")
	b.fill("#t-plain", "Hello %Subscriber:FirstName|friend%")
	b.submit("#new-template button")
	b.contains("h1", "Welcome")
	tplID := b.text("#template-id")
	b.fill("#t-subject", "Welcome aboard")
	b.submit("#edit-template button")
	b.contains(".notice", "Template saved")
	b.submit("#preview-template")
	b.contains("#preview-plain", "Hello John")
	b.shot("tenant-template")
	b.open("/console/templates")
	b.contains("#templates", "Welcome aboard")
	b.shot("tenant-templates")

	pages := []string{page, "/console/webhooks", "/console/suppressions", "/console/gateways", "/console/lists",
		"/console/lists/" + listID, "/console/templates", "/console/templates/" + tplID}
	// 360 px wide: nothing is wider than the screen.
	b.do(chromedp.EmulateViewport(360, 740))
	for _, p := range pages {
		b.open(p)
		w, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		if w > 360 {
			b.fail("%s is %d px wide at 360 px", p, w)
		}
		b.shot("tenant-360" + strings.NewReplacer("/console", "", "/", "-").Replace(p))
	}
}
