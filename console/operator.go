package console

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"gatewayd/dispatcher"
)

// The operator's pages beyond the overview and domain approval: a user's page (limits,
// status, impersonation), user groups, platform gateways, the queue by domain and health.

// usersPage is how many accounts the users list shows at once.
const usersPage = 25

// endSession ends an API session (user.logout), as signing out does.
func (c *Console) endSession(ec echo.Context, id string) {
	c.call(ec, dispatcher.Credentials{SessionID: id}, "user.logout", map[string]any{"SessionID": id}, nil)
}

// editFailed reports whether an edit form's error leaves nothing to show on the form: an
// expired session, a refusal, or a record that is gone.
func editFailed(e *dispatcher.Error) bool {
	return e.Kind == dispatcher.KindAuth || e.Kind == dispatcher.KindDenied || e.Kind == dispatcher.KindNotFound
}

type userPage struct {
	User             map[string]any
	LimitUtilization map[string]struct{ Used, Limit int64 }
	Groups           []map[string]any
	Form             map[string]string
}

// userFields are the fields of the user form, sent to user.update as typed.
var userFields = []string{"EmailAddress", "FirstName", "LastName", "CompanyName", "RelUserGroupID", "ReputationLevel",
	"MaxSenderDomains", "MonthlySendLimit"}

func (c *Console) showUser(ec echo.Context, s *session, status int, msg string, form map[string]string) error {
	var p userPage
	if e := c.call(ec, s.creds(), "user.get", map[string]any{"UserID": ec.Param("id")}, &struct {
		UserInformation  *map[string]any
		LimitUtilization *map[string]struct{ Used, Limit int64 }
	}{&p.User, &p.LimitUtilization}); e != nil {
		return c.failed(ec, s, e)
	}
	if e := c.call(ec, s.creds(), "usergroups.get", nil, &struct{ UserGroups *[]map[string]any }{&p.Groups}); e != nil {
		return c.failed(ec, s, e)
	}
	if form == nil {
		form = map[string]string{}
		for _, f := range userFields {
			form[f] = strings.TrimSuffix(strings.TrimSpace(toString(p.User[f])), ".0")
		}
	}
	p.Form = form
	return c.render(ec, status, "admin_user", page{Title: "User " + toString(p.User["Username"]), Nav: "admin_users",
		Session: s, Error: msg, Data: p})
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case nil:
		return ""
	}
	return ""
}

func (c *Console) adminUser(ec echo.Context, s *session) error {
	return c.showUser(ec, s, http.StatusOK, "", nil)
}

// adminUpdateUser saves the user form with user.update; a password is changed only when typed.
func (c *Console) adminUpdateUser(ec echo.Context, s *session) error {
	form := map[string]string{}
	params := map[string]any{"UserID": ec.Param("id")}
	for _, f := range userFields {
		form[f] = strings.TrimSpace(ec.FormValue(f))
		params[f] = form[f]
	}
	if pw := ec.FormValue("Password"); pw != "" {
		params["Password"] = pw
	}
	if e := c.call(ec, s.creds(), "user.update", params, nil); e != nil {
		if editFailed(e) {
			return c.failed(ec, s, e)
		}
		return c.showUser(ec, s, http.StatusUnprocessableEntity, e.Message(), form)
	}
	return c.redirect(ec, "/console/admin/users/"+ec.Param("id"), "updated")
}

// adminUserStatus disables or enables an account (user.update AccountStatus). A disabled
// account's sessions, API keys, sender keys and SMTP credentials stop working at once.
func (c *Console) adminUserStatus(ec echo.Context, s *session) error {
	status, done := "Disabled", "disabled"
	if ec.FormValue("AccountStatus") == "Enabled" {
		status, done = "Enabled", "enabled"
	}
	if e := c.call(ec, s.creds(), "user.update", map[string]any{"UserID": ec.Param("id"), "AccountStatus": status}, nil); e != nil {
		return c.failed(ec, s, e)
	}
	return c.redirect(ec, "/console/admin/users/"+ec.Param("id"), done)
}

// adminSwitch opens the tenant's console as the tenant (user.switch): the browser holds the
// tenant's session and keeps the operator's, to return with the banner's button.
func (c *Console) adminSwitch(ec echo.Context, s *session) error {
	var u struct {
		UserInformation struct{ AccountStatus string }
	}
	if e := c.call(ec, s.creds(), "user.get", map[string]any{"UserID": ec.Param("id")}, &u); e != nil {
		return c.failed(ec, s, e)
	}
	if u.UserInformation.AccountStatus != "Enabled" {
		return c.showUser(ec, s, http.StatusConflict, "This account is disabled: enable it before opening its console.", nil)
	}
	var res struct{ SessionID string }
	if e := c.call(ec, s.creds(), "user.switch", map[string]any{"UserID": ec.Param("id")}, &res); e != nil {
		return c.failed(ec, s, e)
	}
	setCookie(ec, cookieSession, "i."+res.SessionID+"."+s.ID, 0)
	return ec.Redirect(http.StatusSeeOther, "/console/")
}

// returnToOperator ends the tenant session an operator opened and gives back the operator's.
func (c *Console) returnToOperator(ec echo.Context, s *session) error {
	if s.Return == "" {
		return ec.Redirect(http.StatusSeeOther, "/console/")
	}
	c.endSession(ec, s.ID)
	setCookie(ec, cookieSession, "a."+s.Return, 0)
	return c.redirect(ec, "/console/admin/users", "returned")
}

// --- user groups ---

// permissionList is every permission a command of the registry checks, sorted: the
// checkboxes of the group form.
func (c *Console) permissionList() []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range c.D.Registry.Names() {
		if cmd, ok := c.D.Registry.Lookup(n); ok && cmd.Permission != "" && !seen[cmd.Permission] {
			seen[cmd.Permission] = true
			out = append(out, cmd.Permission)
		}
	}
	sort.Strings(out)
	return out
}

// groupLimitFields are the limits the group form edits (0: no limit).
var groupLimitFields = []string{"LimitEmailSendPerPeriod", "LimitEmailGatewaySenderDomains", "LimitSubscribers", "LimitLists"}

type groupPerm struct {
	Name    string
	Checked bool
}

type groupForm struct {
	ID     string
	Name   string
	All    bool
	Perms  []groupPerm
	Other  string
	Limits map[string]string
}

// newGroupForm lays out a group's permissions over the registry's list; the ones the list
// does not name stay in Other.
func (c *Console) newGroupForm(id, name, perms string, limits map[string]string) groupForm {
	f := groupForm{ID: id, Name: name, Limits: limits}
	have := map[string]bool{}
	for _, p := range strings.Split(perms, ",") {
		if p = strings.TrimSpace(p); p != "" {
			have[p] = true
		}
	}
	f.All = have["*"]
	delete(have, "*")
	for _, p := range c.permissionList() {
		f.Perms = append(f.Perms, groupPerm{Name: p, Checked: have[p]})
		delete(have, p)
	}
	var other []string
	for p := range have {
		other = append(other, p)
	}
	sort.Strings(other)
	f.Other = strings.Join(other, ", ")
	return f
}

// groupFormValues reads the group form: its name, Permissions as a comma list ("*" for all),
// and the limits.
func (c *Console) groupFormValues(ec echo.Context) (name, perms string, limits map[string]string) {
	name = strings.TrimSpace(ec.FormValue("GroupName"))
	form, _ := ec.FormParams()
	list := form["Permission"]
	if ec.FormValue("AllPermissions") == "1" {
		list = []string{"*"}
	} else {
		for _, p := range strings.Split(ec.FormValue("OtherPermissions"), ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
	}
	limits = map[string]string{}
	for _, l := range groupLimitFields {
		limits[l] = strings.TrimSpace(ec.FormValue(l))
	}
	return name, strings.Join(list, ","), limits
}

func (c *Console) adminGroups(ec echo.Context, s *session) error {
	return c.showGroups(ec, s, http.StatusOK, "", c.newGroupForm("", "", "", map[string]string{}))
}

func (c *Console) showGroups(ec echo.Context, s *session, status int, msg string, form groupForm) error {
	var res struct{ UserGroups []map[string]any }
	if e := c.call(ec, s.creds(), "usergroups.get", nil, &res); e != nil {
		return c.failed(ec, s, e)
	}
	return c.render(ec, status, "admin_groups", page{Title: "User groups", Nav: "admin_groups", Session: s, Error: msg,
		Data: map[string]any{"Groups": res.UserGroups, "Form": form}})
}

// adminCreateGroup creates a group with usergroup.create; the fields users.md requires that
// the console does not ask for are sent as their neutral values (no limit, no theme, links
// not forced, the console's login page as the subscriber area's logout URL).
func (c *Console) adminCreateGroup(ec echo.Context, s *session) error {
	name, perms, limits := c.groupFormValues(ec)
	params := map[string]any{"GroupName": name, "Permissions": perms, "SubscriberAreaLogoutURL": "/console/login",
		"LimitCampaignSendPerPeriod": 0, "RelThemeID": 0, "ForceUnsubscriptionLink": "Disabled", "ForceRejectOptLink": "Disabled"}
	for k, v := range limits {
		if v == "" {
			v = "0"
		}
		params[k] = v
	}
	var res struct{ UserGroupID int64 }
	if e := c.call(ec, s.creds(), "usergroup.create", params, &res); e != nil {
		if e.Kind == dispatcher.KindAuth || e.Kind == dispatcher.KindDenied {
			return c.failed(ec, s, e)
		}
		return c.showGroups(ec, s, http.StatusUnprocessableEntity, e.Message(), c.newGroupForm("", name, perms, limits))
	}
	return c.redirect(ec, "/console/admin/groups/"+strconv.FormatInt(res.UserGroupID, 10), "groupcreated")
}

func (c *Console) adminGroup(ec echo.Context, s *session) error {
	var res struct{ UserGroup map[string]any }
	if e := c.call(ec, s.creds(), "usergroup.get", map[string]any{"UserGroupID": ec.Param("id")}, &res); e != nil {
		return c.failed(ec, s, e)
	}
	g := res.UserGroup
	limits := map[string]string{}
	for _, l := range groupLimitFields {
		limits[l] = toString(g[l])
	}
	return c.showGroup(ec, s, http.StatusOK, "", c.newGroupForm(ec.Param("id"), toString(g["GroupName"]), toString(g["Permissions"]), limits))
}

func (c *Console) showGroup(ec echo.Context, s *session, status int, msg string, f groupForm) error {
	return c.render(ec, status, "admin_group", page{Title: "Group " + f.Name, Nav: "admin_groups", Session: s, Error: msg, Data: f})
}

// adminUpdateGroup saves the group form with usergroup.patch (only the fields the form has).
func (c *Console) adminUpdateGroup(ec echo.Context, s *session) error {
	name, perms, limits := c.groupFormValues(ec)
	params := map[string]any{"UserGroupID": ec.Param("id"), "GroupName": name, "Permissions": perms}
	for k, v := range limits {
		params[k] = v
	}
	if e := c.call(ec, s.creds(), "usergroup.patch", params, nil); e != nil {
		if editFailed(e) {
			return c.failed(ec, s, e)
		}
		return c.showGroup(ec, s, http.StatusUnprocessableEntity, e.Message(), c.newGroupForm(ec.Param("id"), name, perms, limits))
	}
	return c.redirect(ec, "/console/admin/groups/"+ec.Param("id"), "groupsaved")
}

func (c *Console) adminDuplicateGroup(ec echo.Context, s *session) error {
	var res struct{ UserGroupID int64 }
	if e := c.call(ec, s.creds(), "usergroup.duplicate", map[string]any{"UserGroupID": ec.Param("id")}, &res); e != nil {
		return c.failed(ec, s, e)
	}
	return c.redirect(ec, "/console/admin/groups/"+strconv.FormatInt(res.UserGroupID, 10), "groupcopied")
}

// adminDeleteGroup deletes a group; one that still has users, or the last one, stays, and the
// list says why.
func (c *Console) adminDeleteGroup(ec echo.Context, s *session) error {
	if e := c.call(ec, s.creds(), "usergroup.delete", map[string]any{"UserGroupID": ec.Param("id")}, nil); e != nil {
		if e.Kind == dispatcher.KindAuth || e.Kind == dispatcher.KindDenied {
			return c.failed(ec, s, e)
		}
		return c.showGroups(ec, s, http.StatusConflict, e.Message(), c.newGroupForm("", "", "", map[string]string{}))
	}
	return c.redirect(ec, "/console/admin/groups", "deleted")
}

// --- platform gateways ---

// gatewayFields are the platform gateway form's text fields, sent as typed.
var gatewayFields = []string{"Label", "Host", "Port", "Username", "Encryption", "FromAddress", "FromName"}

type gatewayRow struct {
	GatewayID               int64
	Label, Host, Username   string
	Encryption, FromAddress string
	FromName, Interface     string
	Port                    int
	Enabled, Leasable       bool
}

func (c *Console) adminGateways(ec echo.Context, s *session) error {
	return c.showGateways(ec, s, http.StatusOK, "", map[string]string{"Port": "587", "Encryption": "starttls", "Enabled": "1"})
}

func (c *Console) showGateways(ec echo.Context, s *session, status int, msg string, form map[string]string) error {
	var res struct{ Gateways []gatewayRow }
	if e := c.call(ec, s.creds(), "gateways.list", nil, &res); e != nil {
		return c.failed(ec, s, e)
	}
	return c.render(ec, status, "admin_gateways", page{Title: "Platform gateways", Nav: "admin_gateways", Session: s, Error: msg,
		Data: map[string]any{"Gateways": res.Gateways, "Form": form}})
}

// gatewayForm reads the gateway form; the password is sent only when typed.
func gatewayForm(ec echo.Context) (map[string]string, map[string]any) {
	form := map[string]string{}
	params := map[string]any{}
	for _, f := range gatewayFields {
		form[f] = strings.TrimSpace(ec.FormValue(f))
		params[f] = form[f]
	}
	for _, f := range []string{"Enabled", "Leasable"} {
		form[f] = ec.FormValue(f)
		params[f] = strconv.FormatBool(form[f] == "1")
	}
	if pw := ec.FormValue("Password"); pw != "" {
		params["Password"] = pw
	}
	return form, params
}

func (c *Console) adminCreateGateway(ec echo.Context, s *session) error {
	form, params := gatewayForm(ec)
	var res struct{ GatewayID int64 }
	if e := c.call(ec, s.creds(), "gateways.create", params, &res); e != nil {
		if e.Kind == dispatcher.KindAuth || e.Kind == dispatcher.KindDenied {
			return c.failed(ec, s, e)
		}
		return c.showGateways(ec, s, http.StatusUnprocessableEntity, e.Message(), form)
	}
	return c.redirect(ec, "/console/admin/gateways", "added")
}

func (c *Console) adminGateway(ec echo.Context, s *session) error {
	var res struct{ Gateway gatewayRow }
	if e := c.call(ec, s.creds(), "gateways.get", map[string]any{"GatewayID": ec.Param("id")}, &res); e != nil {
		return c.failed(ec, s, e)
	}
	g := res.Gateway
	form := map[string]string{"Label": g.Label, "Host": g.Host, "Port": strconv.Itoa(g.Port), "Username": g.Username,
		"Encryption": g.Encryption, "FromAddress": g.FromAddress, "FromName": g.FromName}
	if g.Enabled {
		form["Enabled"] = "1"
	}
	if g.Leasable {
		form["Leasable"] = "1"
	}
	return c.showGateway(ec, s, http.StatusOK, "", form)
}

func (c *Console) showGateway(ec echo.Context, s *session, status int, msg string, form map[string]string) error {
	return c.render(ec, status, "admin_gateway", page{Title: "Gateway " + form["Label"], Nav: "admin_gateways", Session: s, Error: msg,
		Data: map[string]any{"ID": ec.Param("id"), "Form": form}})
}

func (c *Console) adminUpdateGateway(ec echo.Context, s *session) error {
	form, params := gatewayForm(ec)
	params["GatewayID"] = ec.Param("id")
	if e := c.call(ec, s.creds(), "gateways.update", params, nil); e != nil {
		if editFailed(e) {
			return c.failed(ec, s, e)
		}
		return c.showGateway(ec, s, http.StatusUnprocessableEntity, e.Message(), form)
	}
	return c.redirect(ec, "/console/admin/gateways/"+ec.Param("id"), "gwsaved")
}

func (c *Console) adminDeleteGateway(ec echo.Context, s *session) error {
	if e := c.call(ec, s.creds(), "gateways.delete", map[string]any{"GatewayID": ec.Param("id")}, nil); e != nil {
		return c.failed(ec, s, e)
	}
	return c.redirect(ec, "/console/admin/gateways", "deleted")
}

// --- queue by domain ---

type domainQueue struct {
	DomainID     int64
	SenderDomain string
	UserID       int64
	States       map[string]int64
	Waiting      int64
}

func (c *Console) adminQueue(ec echo.Context, s *session) error {
	return c.showQueue(ec, s, http.StatusOK, "", "")
}

func (c *Console) showQueue(ec echo.Context, s *session, status int, notice, msg string) error {
	var res struct{ Domains []domainQueue }
	if e := c.call(ec, s.creds(), "queue.domains", nil, &res); e != nil {
		return c.failed(ec, s, e)
	}
	var total struct {
		States  map[string]int64
		Waiting int64
	}
	if e := c.call(ec, s.creds(), "queue.stats", nil, &total); e != nil {
		return c.failed(ec, s, e)
	}
	return c.render(ec, status, "admin_queue", page{Title: "Queue", Nav: "admin_queue", Session: s, Notice: notice, Error: msg,
		Data: map[string]any{"Domains": res.Domains, "Total": total, "States": waitingStates}})
}

// adminQueueAction retries (queue.retry) or purges (queue.purge) one domain's queue and says
// how many rows it changed.
func (c *Console) adminQueueAction(ec echo.Context, s *session) error {
	var res struct{ Retried, Cancelled int64 }
	cmd := "queue." + ec.Param("action")
	if cmd != "queue.retry" && cmd != "queue.purge" {
		return c.failed(ec, s, dispatcher.NotFound(2, "Not found"))
	}
	if e := c.call(ec, s.creds(), cmd, map[string]any{"DomainID": strings.TrimSpace(ec.FormValue("DomainID"))}, &res); e != nil {
		if e.Kind == dispatcher.KindAuth || e.Kind == dispatcher.KindDenied {
			return c.failed(ec, s, e)
		}
		return c.showQueue(ec, s, http.StatusUnprocessableEntity, "", e.Message())
	}
	notice := strconv.FormatInt(res.Retried, 10) + " deferred recipients are due now; delivery tries them within a second."
	if cmd == "queue.purge" {
		notice = strconv.FormatInt(res.Cancelled, 10) + " recipients cancelled: they will not be sent."
	}
	return c.showQueue(ec, s, http.StatusOK, notice, "")
}

// --- health ---

type healthDay struct {
	Date                                                   string
	Sent, Delivered, Deferred, Bounced, Failed, Complained int64
}

// adminHealth draws admin.health: the database's answer, the queue, mail per day and the
// delivery, bounce and deferral rates per day, as the dashboard's charts.
func (c *Console) adminHealth(ec echo.Context, s *session) error {
	var res struct {
		Database struct {
			OK      bool
			Dialect string
			PingMS  float64
			Error   string
		}
		Queue struct {
			States  map[string]int64
			Waiting int64
		}
		Days []healthDay
	}
	if e := c.call(ec, s.creds(), "admin.health", nil, &res); e != nil {
		return c.failed(ec, s, e)
	}
	data := map[string]any{"DB": res.Database, "Queue": res.Queue, "States": waitingStates}
	if n := len(res.Days); n > 0 {
		days := make([]string, n)
		volume := make([][]int64, 5)
		rates := make([][]int64, 3)
		for i := range volume {
			volume[i] = make([]int64, n)
		}
		for i := range rates {
			rates[i] = make([]int64, n)
		}
		var tot healthDay
		for d, h := range res.Days {
			days[d] = h.Date
			for i, v := range []int64{h.Sent, h.Delivered, h.Bounced, h.Deferred, h.Failed} {
				volume[i][d] = v
			}
			for i, v := range []int64{h.Deferred, h.Delivered, h.Bounced} {
				rates[i][d] = percent(v, h.Sent)
			}
			tot.Sent, tot.Delivered, tot.Bounced, tot.Deferred = tot.Sent+h.Sent, tot.Delivered+h.Delivered, tot.Bounced+h.Bounced, tot.Deferred+h.Deferred
		}
		vc := drawChart(days, []string{"Sent", "Delivered", "Bounced", "Deferred", "Failed"}, volume)
		vc.ID, vc.Label = "health-volume", "Mail per day, every domain"
		// The rates chart's legend gives each rate over the whole period.
		rc := drawChart(days, []string{"Deferral rate", "Delivery rate", "Bounce rate"}, rates)
		rc.ID, rc.Label, rc.Unit = "health-rates", "Delivery, bounce and deferral rates per day, in percent of the mail sent that day", "%"
		for i, v := range []int64{tot.Deferred, tot.Delivered, tot.Bounced} {
			rc.Series[i].Total = percent(v, tot.Sent)
		}
		data["Volume"], data["Rates"], data["From"], data["To"] = vc, rc, days[0], days[n-1]
	}
	return c.render(ec, http.StatusOK, "admin_health", page{Title: "Health", Nav: "admin_health", Session: s, Data: data})
}

// waitingStates are the queue states still waiting, in queue order.
var waitingStates = []string{"scheduled", "queued", "sending", "deferred"}

// percent is n of total in whole percent (0 when total is 0).
func percent(n, total int64) int64 {
	if total == 0 {
		return 0
	}
	return (n*100 + total/2) / total
}
