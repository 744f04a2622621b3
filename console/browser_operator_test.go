package console_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gatewayd/app/apptest"
)

// fits fails when the page at path is wider than the 360 px viewport.
func (b *tab) fits(path string) {
	b.t.Helper()
	b.open(path)
	ctx, cancel := b.step()
	defer cancel()
	w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if err != nil {
		b.fail("scrollWidth: %v", err)
	}
	if w > 360 {
		b.fail("%s is %d px wide at 360 px", path, w)
	}
}

// TestBrowserOperator is the operator's journey in a real browser: sign in with the admin key,
// create a tenant, edit its limits, disable it and enable it again, open its console as the
// tenant and return, manage user groups and a platform gateway, retry a domain's queue; every operator page fits 360 px. Screenshots of each page go to the
// test's output folder.
func TestBrowserOperator(t *testing.T) {
	ctx := browser(t)
	env := apptest.Start(t, nil)
	dir := shots(t)
	t.Logf("screenshots in %s", dir)
	b := &tab{t: t, ctx: ctx, dir: dir, base: env.URL}
	gina := env.CreateUser("gina")
	gd := env.AddDomain(gina, "newsletters.gina-has-a-rather-long-domain-name.example")
	env.EnableDomain(gd)
	env.QueueRows(gd, "deferred", "deferred", "queued")
	for _, to := range []string{"a@example.net", "b@example.net"} { // counted on the health page's chart
		env.MustAPI(map[string]any{"Command": "emailgateway.sendtest", "SessionID": gina.SessionID, "DomainID": gd, "To": to})
	}

	// The login page fits 360 px.
	b.do(chromedp.EmulateViewport(360, 740))
	b.fits("/console/login")
	b.shot("login-360")
	b.do(chromedp.EmulateViewport(1200, 900))

	b.open("/console/login")
	b.fill("#o-key", apptest.AdminKey)
	b.submit("#operator-login button")
	b.contains("h1", "Operator")

	// Create a tenant and open its page from the list.
	b.open("/console/admin/users")
	b.fill("#u-name", "frank")
	b.fill("#u-email", "frank@users.test")
	b.fill("#u-pass", "frank-password")
	b.submit("#create-user")
	b.contains(".notice", "User created")
	b.shot("operator-users")
	b.do(chromedp.Click(chromedp.CSS(`#users a[href$="/2"]`)), chromedp.WaitVisible(chromedp.CSS("#user-form")))
	b.contains("#user-name", "frank")

	// Edit its limits.
	b.fill("#e-month", "2500")
	b.fill("#e-max", "2")
	b.submit("#save-user")
	b.contains(".notice", "User saved")
	b.contains("#user-sent", "0 of 2500")
	b.shot("operator-user")

	// Disable it, then enable it again.
	b.submit("#disable-user")
	b.contains(".notice", "stopped working")
	b.contains("#user-status", "Disabled")
	b.shot("operator-user-disabled")
	b.submit("#enable-user")
	b.contains("#user-status", "Enabled")

	// Open its console as the tenant, see the banner, return.
	b.submit("#switch-user")
	b.contains("h1", "Dashboard")
	b.contains(".impersonating", "as the operator")
	b.contains("#switched-user", "frank")
	b.shot("operator-switched")
	b.submit("#return-operator")
	b.contains(".notice", "Back in the operator console")
	b.contains("h1", "Users")

	// User groups: create one with a permission, duplicate it, delete the copy.
	b.open("/console/admin/groups")
	b.fill("#g-name", "Resellers")
	b.fill("#g-month", "10000")
	b.do(chromedp.Click(chromedp.CSS(`input[value="EmailGateway.AddDomain"]`)))
	b.submit("#create-group")
	b.contains(".notice", "Group created")
	b.shot("operator-group")
	b.submit("#duplicate-group")
	b.contains(".notice", "this is the copy")
	b.submit("#delete-group")
	b.contains(".notice", "Deleted")
	b.contains("#groups", "Resellers")
	if strings.Contains(b.text("#groups"), "(copy)") {
		b.fail("the deleted copy is listed")
	}
	b.shot("operator-groups")
	// A platform gateway.
	b.open("/console/admin/gateways")
	b.fill("#gw-label", "Relay one")
	b.fill("#gw-host", "smtp.relay-one-with-a-long-host-name.example")
	b.fill("#gw-port", "2525")
	b.submit("#create-gateway")
	b.contains("#gateways", "smtp.relay-one-with-a-long-host-name.example:2525")
	b.shot("operator-gateways")
	// The queue: retry a domain's deferred recipients.
	b.open("/console/admin/queue")
	b.contains("#queue-domains", "newsletters.gina-has-a-rather-long-domain-name.example")
	b.contains("#queue-waiting", "5")
	b.shot("operator-queue")
	b.submit(`#queue-domains button[aria-label^="Retry"]`)
	b.contains(".notice", "2 deferred recipients are due now")
	// Health: the database answers; today's mail is on the chart.
	b.open("/console/admin/health")
	b.contains("#db-health", "answers")
	points, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#health-volume circle title")).map(e => e.textContent)`))
	if err != nil || !containsStr(points, time.Now().UTC().Format("2006-01-02")+" Sent: 2") {
		b.fail("health chart points %v (%v)", points, err)
	}
	b.shot("operator-health")
	b.open("/console/admin/users")

	// 360 px wide: the login page and every operator page fit.
	b.do(chromedp.EmulateViewport(360, 740))
	var frank string
	for _, l := range strings.Split(b.text("#users tbody"), "\n") {
		if strings.Contains(l, "frank") {
			frank = strings.Fields(l)[0]
		}
	}
	for _, p := range []string{"/console/admin", "/console/admin/users", "/console/admin/users/" + frank, "/console/admin/domains", "/console/admin/groups", "/console/admin/groups/1", "/console/admin/gateways", "/console/admin/queue", "/console/admin/health"} {
		b.fits(p)
	}
	b.shot("operator-user-360")

	// As gina (a long domain name, mail in the queue), the tenant pages fit 360 px too.
	b.open(fmt.Sprintf("/console/admin/users/%d", gina.ID))
	b.submit("#switch-user")
	b.contains(".impersonating", "as the operator")
	for _, p := range []string{"/console/", "/console/send", "/console/domains", fmt.Sprintf("/console/domains/%d", gd), "/console/messages"} {
		b.fits(p)
	}
	b.open("/console/send")
	b.shot("send-360")
	b.submit("#return-operator")
	b.contains(".notice", "Back in the operator console")
}
