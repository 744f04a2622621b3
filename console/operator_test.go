package console_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatewayd/app/apptest"
)

// operatorSignIn opens the operator's console session with the admin key.
func operatorSignIn(t *testing.T, env *apptest.Env) *client {
	t.Helper()
	c := newClient(t, env)
	if code, body := c.post("/console/login", "/console/login", url.Values{"as": {"operator"}, "AdminAPIKey": {apptest.AdminKey}}); code != 200 || !strings.Contains(body, "Operator") {
		t.Fatalf("operator sign in: %d", code)
	}
	return c
}

// noRedirect answers a request without following its redirect.
func (c *client) noRedirect(method, path string, form url.Values) *http.Response {
	c.t.Helper()
	hc := *c.c
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	var res *http.Response
	var err error
	if method == "POST" {
		res, err = hc.PostForm(c.base+path, form)
	} else {
		res, err = hc.Get(c.base + path)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// TestConsoleOperatorUsers: the operator lists users a page at a time and searches them,
// edits a tenant's limits, disables the account (the tenant's open console session and its
// API key stop working at once, and the page says so), enables it again, and opens the
// tenant's console as the tenant, with a banner to return.
func TestConsoleOperatorUsers(t *testing.T) {
	env := apptest.Start(t, nil)
	alice := env.CreateUser("alice")
	for i := 0; i < 26; i++ {
		env.MustAPI(map[string]any{"Command": "user.create", "AdminAPIKey": apptest.AdminKey, "RelUserGroupID": 1,
			"EmailAddress": fmt.Sprintf("bulk%02d@users.test", i), "Username": fmt.Sprintf("bulk%02d", i), "Password": "bulk-password",
			"FirstName": "Bulk", "TimeZone": "UTC", "Language": "en"})
	}
	key := env.MustAPI(map[string]any{"Command": "user.apikey.create", "SessionID": alice.SessionID})["APIKey"].(string)
	tenant := signIn(t, env, alice)
	op := operatorSignIn(t, env)

	// The list: 25 a page, a next page, a search.
	_, body, _ := op.get("/console/admin/users")
	if n := strings.Count(body, `<a href="/console/admin/users/`); n != 25 || !strings.Contains(body, `id="next-users"`) || !strings.Contains(body, "(27)") {
		t.Fatalf("first page: %d users", n)
	}
	_, body, _ = op.get("/console/admin/users?start=25")
	if n := strings.Count(body, `<a href="/console/admin/users/`); n != 2 || strings.Contains(body, `id="next-users"`) || !strings.Contains(body, "Previous page") {
		t.Fatalf("second page: %d users", n)
	}
	_, body, _ = op.get("/console/admin/users?q=alice")
	if n := strings.Count(body, `<a href="/console/admin/users/`); n != 1 || !strings.Contains(body, ">alice</a>") {
		t.Fatalf("search: %d users", n)
	}

	// Edit limits.
	page := fmt.Sprintf("/console/admin/users/%d", alice.ID)
	code, body, _ := op.get(page)
	if code != 200 || !strings.Contains(body, `id="user-status" class="status-Enabled">Enabled<`) || !strings.Contains(body, `value="alice@users.test"`) {
		t.Fatalf("user page: %d", code)
	}
	form := url.Values{"EmailAddress": {"alice@users.test"}, "RelUserGroupID": {"1"}, "ReputationLevel": {"Trusted"},
		"MaxSenderDomains": {"3"}, "MonthlySendLimit": {"5000"}, "CompanyName": {"Alice & Co"}, "FirstName": {"Alice"}}
	if code, body := op.post(page, page, form); code != 200 || !strings.Contains(body, "User saved") || !strings.Contains(body, `id="user-sent">0 of 5000<`) {
		t.Fatalf("save limits: %d %s", code, body)
	}
	u := env.MustAPI(map[string]any{"Command": "user.get", "AdminAPIKey": apptest.AdminKey, "UserID": alice.ID})["UserInformation"].(map[string]any)
	if fmt.Sprintf("%v %v %v %v", u["MaxSenderDomains"], u["MonthlySendLimit"], u["CompanyName"], u["FirstName"]) != "3 5000 Alice & Co Alice" {
		t.Fatalf("saved: %v", u)
	}
	form.Set("MonthlySendLimit", "-4")
	if code, body := op.post(page, page, form); code != 422 || !strings.Contains(body, "Invalid MonthlySendLimit") || !strings.Contains(body, `value="-4"`) {
		t.Fatalf("bad limit: %d", code)
	}

	// Disable: the tenant's console session and API key stop working.
	if code, body := op.post(page, page+"/status", url.Values{"AccountStatus": {"Disabled"}}); code != 200 ||
		!strings.Contains(body, "stopped working") || !strings.Contains(body, `id="enable-user"`) {
		t.Fatalf("disable: %d", code)
	}
	if res := tenant.noRedirect("GET", "/console/domains", nil); res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/console/login" {
		t.Fatalf("disabled tenant's console: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if m := env.API(map[string]any{"Command": "user.current", "APIKey": key}); m["Success"] == true {
		t.Fatalf("disabled tenant's API key works: %v", m)
	}
	if code, body := op.post(page, page+"/switch", url.Values{}); code != 409 || !strings.Contains(body, "enable it before") {
		t.Fatalf("switch to a disabled account: %d", code)
	}
	if code, body := op.post(page, page+"/status", url.Values{"AccountStatus": {"Enabled"}}); code != 200 || !strings.Contains(body, "Account enabled") {
		t.Fatalf("enable: %d", code)
	}
	if m := env.API(map[string]any{"Command": "user.current", "APIKey": key}); m["Success"] != true {
		t.Fatalf("enabled tenant's API key: %v", m)
	}

	// Impersonate: the operator's browser becomes alice's console with a banner; return.
	code, body = op.post(page, page+"/switch", url.Values{})
	if code != 200 || !strings.Contains(body, "Dashboard") || !strings.Contains(body, `id="return-operator"`) || !strings.Contains(body, `id="switched-user">alice<`) {
		t.Fatalf("switch: %d %s", code, body)
	}
	if code, body = op.post("/console/domains", "/console/domains", url.Values{"DomainName": {"alice-switch.example"}}); code != 200 || !strings.Contains(body, "alice-switch.example") {
		t.Fatalf("add a domain as the tenant: %d", code)
	}
	if res := op.noRedirect("GET", "/console/admin/users", nil); res.Header.Get("Location") != "/console/" {
		t.Fatalf("operator page while switched: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if code, body = op.post("/console/", "/console/return", url.Values{}); code != 200 || !strings.Contains(body, "Back in the operator console") || strings.Contains(body, "return-operator") {
		t.Fatalf("return: %d %s", code, body)
	}
	ds := env.MustAPI(map[string]any{"Command": "emailgateway.getdomains", "SessionID": alice.SessionID})["Domains"].([]any)
	if len(ds) != 1 {
		t.Fatalf("alice's domains: %v", ds)
	}
	// A forged return (no token) is refused; an unknown user is not found.
	if res := op.noRedirect("POST", page+"/switch", url.Values{}); res.StatusCode != 403 {
		t.Fatalf("switch without token: %d", res.StatusCode)
	}
	if code, _, _ := op.get("/console/admin/users/999999"); code != 404 {
		t.Fatalf("unknown user: %d", code)
	}
	// A tenant cannot open the user page.
	tenant = signIn(t, env, alice)
	if res := tenant.noRedirect("GET", page, nil); res.Header.Get("Location") != "/console/" {
		t.Fatalf("tenant on the user page: %d", res.StatusCode)
	}
	// Signing out ends the API session the cookie held.
	var sid string
	for _, ck := range tenant.c.Jar.Cookies(mustURL(env.URL + "/console/")) {
		if ck.Name == "gw_console" {
			sid = strings.TrimPrefix(ck.Value, "u.")
		}
	}
	if m := env.API(map[string]any{"Command": "user.current", "SessionID": sid}); m["Success"] != true {
		t.Fatalf("console session %q: %v", sid, m)
	}
	tenant.post("/console/", "/console/logout", url.Values{})
	if m := env.API(map[string]any{"Command": "user.current", "SessionID": sid}); m["Success"] == true {
		t.Fatal("the session works after signing out")
	}
}

// TestConsoleOperatorGroups: the operator creates a user group with some permissions and
// limits, edits it, duplicates it and deletes the copy; a group that has users stays.
func TestConsoleOperatorGroups(t *testing.T) {
	env := apptest.Start(t, nil)
	env.CreateUser("alice") // in the Default group
	op := operatorSignIn(t, env)

	code, body, _ := op.get("/console/admin/groups")
	if code != 200 || !strings.Contains(body, ">Default</a>") || !strings.Contains(body, `value="EmailGateway.AddDomain"`) {
		t.Fatalf("groups: %d", code)
	}
	code, body = op.post("/console/admin/groups", "/console/admin/groups", url.Values{"GroupName": {"Resellers"},
		"LimitEmailSendPerPeriod": {"1000"}, "Permission": {"EmailGateway.AddDomain", "EmailGateway.ManageDomain"}, "OtherPermissions": {"email_gateways:read"}})
	if code != 200 || !strings.Contains(body, "Group created") || !strings.Contains(body, `value="EmailGateway.AddDomain" checked`) || !strings.Contains(body, `value="email_gateways:read"`) {
		t.Fatalf("create: %d %s", code, body)
	}
	id := regexp.MustCompile(`action="/console/admin/groups/(\d+)"`).FindStringSubmatch(body)[1]
	group := func() map[string]any {
		return env.MustAPI(map[string]any{"Command": "usergroup.get", "AdminAPIKey": apptest.AdminKey, "UserGroupID": id})["UserGroup"].(map[string]any)
	}
	if g := group(); g["Permissions"] != "EmailGateway.AddDomain,EmailGateway.ManageDomain,email_gateways:read" || fmt.Sprint(g["LimitEmailSendPerPeriod"]) != "1000" {
		t.Fatalf("created: %v %v", g["Permissions"], g["LimitEmailSendPerPeriod"])
	}
	page := "/console/admin/groups/" + id
	if code, body := op.post(page, page, url.Values{"GroupName": {"Partners"}, "AllPermissions": {"1"}, "LimitEmailSendPerPeriod": {"2000"},
		"LimitEmailGatewaySenderDomains": {"4"}, "LimitSubscribers": {"0"}, "LimitLists": {"0"}}); code != 200 || !strings.Contains(body, "Group saved") {
		t.Fatalf("save: %d", code)
	}
	if g := group(); g["GroupName"] != "Partners" || g["Permissions"] != "*" || fmt.Sprint(g["LimitEmailGatewaySenderDomains"]) != "4" {
		t.Fatalf("saved: %v", g)
	}
	if code, body := op.post(page, page, url.Values{"GroupName": {"Partners"}, "LimitLists": {"many"}}); code != 422 || !strings.Contains(body, `class="error"`) || !strings.Contains(body, `value="many"`) {
		t.Fatalf("bad limit: %d", code)
	}
	code, body = op.post(page, page+"/duplicate", url.Values{})
	if code != 200 || !strings.Contains(body, "this is the copy") || !strings.Contains(body, `value="Partners (copy)"`) {
		t.Fatalf("duplicate: %d", code)
	}
	copyID := regexp.MustCompile(`action="/console/admin/groups/(\d+)"`).FindStringSubmatch(body)[1]
	if code, body := op.post("/console/admin/groups", "/console/admin/groups/"+copyID+"/delete", url.Values{}); code != 200 || strings.Contains(body, "Partners (copy)") {
		t.Fatalf("delete: %d", code)
	}
	if code, body := op.post("/console/admin/groups", "/console/admin/groups/1/delete", url.Values{}); code != 409 || !strings.Contains(body, "has users") {
		t.Fatalf("delete a group with users: %d", code)
	}
	if code, _, _ := op.get("/console/admin/groups/99999"); code != 404 {
		t.Fatalf("unknown group: %d", code)
	}
}

// TestConsoleOperatorGateways: the operator adds a platform gateway (its password is never
// shown), edits it, gets a clear error for a bad port, and deletes it.
func TestConsoleOperatorGateways(t *testing.T) {
	env := apptest.Start(t, nil)
	op := operatorSignIn(t, env)
	if code, body, _ := op.get("/console/admin/gateways"); code != 200 || !strings.Contains(body, "No platform gateway yet") {
		t.Fatalf("gateways: %d", code)
	}
	code, body := op.post("/console/admin/gateways", "/console/admin/gateways", url.Values{"Label": {"Relay one"}, "Host": {"smtp.relay-one.example"},
		"Port": {"2525"}, "Encryption": {"starttls"}, "Username": {"relay"}, "Password": {"s3cret-relay-pass"}, "Enabled": {"1"}})
	if code != 200 || !strings.Contains(body, ">Relay one</a>") || !strings.Contains(body, "smtp.relay-one.example:2525") || strings.Contains(body, "s3cret-relay-pass") {
		t.Fatalf("create: %d %s", code, body)
	}
	id := regexp.MustCompile(`href="/console/admin/gateways/(\d+)"`).FindStringSubmatch(body)[1]
	page := "/console/admin/gateways/" + id
	if code, body, _ := op.get(page); code != 200 || strings.Contains(body, "s3cret-relay-pass") || !strings.Contains(body, `value="relay"`) {
		t.Fatalf("gateway page: %d", code)
	}
	form := url.Values{"Label": {"Relay one"}, "Host": {"smtp.relay-one.example"}, "Port": {"587"}, "Encryption": {"tls"}, "Username": {"relay"},
		"Enabled": {"1"}, "Leasable": {"1"}}
	if code, body := op.post(page, page, form); code != 200 || !strings.Contains(body, "Gateway saved") || !strings.Contains(body, `id="gw-leasable" name="Leasable" value="1" checked`) {
		t.Fatalf("save: %d", code)
	}
	g := env.MustAPI(map[string]any{"Command": "gateways.get", "AdminAPIKey": apptest.AdminKey, "GatewayID": id})["Gateway"].(map[string]any)
	if fmt.Sprintf("%v %v %v", g["Port"], g["Encryption"], g["Leasable"]) != "587 tls true" {
		t.Fatalf("saved: %v", g)
	}
	form.Set("Port", "70000")
	if code, body := op.post(page, page, form); code != 422 || !strings.Contains(body, "Invalid Port") {
		t.Fatalf("bad port: %d", code)
	}
	if code, body := op.post(page, page+"/delete", url.Values{}); code != 200 || strings.Contains(body, "Relay one") {
		t.Fatalf("delete: %d", code)
	}
	if code, _, _ := op.get(page); code != 404 {
		t.Fatalf("deleted gateway: %d", code)
	}
}

// TestConsoleOperatorQueue: the queue page counts waiting recipients by domain; Retry makes a
// domain's deferred rows due now and Purge cancels its undelivered rows, each saying how many.
func TestConsoleOperatorQueue(t *testing.T) {
	env := apptest.Start(t, nil)
	alice := env.CreateUser("alice")
	d := env.AddDomain(alice, "queue-with-a-long-name.example")
	env.QueueRows(d, "deferred", "deferred", "queued")
	op := operatorSignIn(t, env)
	code, body, _ := op.get("/console/admin/queue")
	if code != 200 || !strings.Contains(body, `id="queue-waiting">3<`) || !strings.Contains(body, "queue-with-a-long-name.example") ||
		!regexp.MustCompile(`<td>0</td><td>1</td><td>0</td><td>2</td><td><strong>3</strong>`).MatchString(body) {
		t.Fatalf("queue page: %d %s", code, body)
	}
	id := fmt.Sprint(d)
	if code, body := op.post("/console/admin/queue", "/console/admin/queue/retry", url.Values{"DomainID": {id}}); code != 200 || !strings.Contains(body, "2 deferred recipients are due now") {
		t.Fatalf("retry: %d", code)
	}
	if code, body := op.post("/console/admin/queue", "/console/admin/queue/retry", url.Values{"DomainID": {"999999"}}); code != 422 || !strings.Contains(body, "Domain not found") {
		t.Fatalf("retry an unknown domain: %d", code)
	}
	if code, body := op.post("/console/admin/queue", "/console/admin/queue/purge", url.Values{"DomainID": {id}}); code != 200 ||
		!strings.Contains(body, "3 recipients cancelled") || !strings.Contains(body, "Nothing is waiting") {
		t.Fatalf("purge: %d", code)
	}
	if code, _ := op.post("/console/admin/queue", "/console/admin/queue/drop", url.Values{"DomainID": {id}}); code != 404 {
		t.Fatalf("an unknown action: %d", code)
	}
}

// TestConsoleOperatorHealth: the health page says the database answers, counts the queue,
// and draws today's mail on the volume chart and today's rates on the rates chart.
func TestConsoleOperatorHealth(t *testing.T) {
	env := apptest.Start(t, nil)
	alice := env.CreateUser("alice")
	d := env.AddDomain(alice, "health.example")
	env.EnableDomain(d)
	for _, to := range []string{"a@example.net", "b@example.net"} {
		env.MustAPI(map[string]any{"Command": "emailgateway.sendtest", "SessionID": alice.SessionID, "DomainID": d, "To": to})
	}
	op := operatorSignIn(t, env)
	code, body, _ := op.get("/console/admin/health")
	today := time.Now().UTC().Format("2006-01-02")
	for _, want := range []string{`id="db-health" class="ok">answers<`, `id="health-waiting">2<`, `<svg class="chart" id="health-volume"`,
		"<title>" + today + " Sent: 2</title>", `<svg class="chart" id="health-rates"`, "Delivery rate: <strong>0%</strong>"} {
		if !strings.Contains(body, want) {
			t.Fatalf("health page (%d) lacks %q:\n%s", code, want, body)
		}
	}
	// The rates are all 0 (nothing delivered yet): the scale is 0 to 1 %, two labels, not 0, 0, 1.
	rates := body[strings.Index(body, `id="health-rates"`):]
	rates = rates[:strings.Index(rates, "</svg>")]
	if got := regexp.MustCompile(`class="ylabel"[^>]*>([^<]*)<`).FindAllStringSubmatch(rates, -1); len(got) != 2 || got[0][1] != "0%" || got[1][1] != "1%" {
		t.Fatalf("rates chart's scale: %v", got)
	}
}
