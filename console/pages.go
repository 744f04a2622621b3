package console

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"gatewayd/dispatcher"
)

// --- login ---

func (c *Console) loginPage(ec echo.Context) error {
	if s := readSession(ec.Request()); s != nil {
		if s.Operator {
			return ec.Redirect(http.StatusFound, "/console/admin")
		}
		return ec.Redirect(http.StatusFound, "/console/")
	}
	return c.showLogin(ec, http.StatusOK, "")
}

func (c *Console) showLogin(ec echo.Context, status int, msg string) error {
	tok := randomToken()
	setCookie(ec, cookieLogin, tok, 3600)
	return c.render(ec, status, "login", page{Title: "Sign in", CSRF: tok, Error: msg})
}

// login signs a tenant in with user.login, or the operator with admin.login or the admin key
// (traded at once for an admin session by admin.session.create, so the key never sits in a
// cookie).
func (c *Console) login(ec echo.Context) error {
	r := ec.Request()
	ck, err := r.Cookie(cookieLogin)
	if err != nil || !checkPost(r, ck.Value) {
		return c.forbidden(ec, nil)
	}
	var res struct{ SessionID string }
	var e *dispatcher.Error
	operator := r.PostFormValue("as") == "operator"
	switch key := strings.TrimSpace(r.PostFormValue("AdminAPIKey")); {
	case operator && key != "":
		e = c.call(ec, dispatcher.Credentials{AdminAPIKey: key}, "admin.session.create", nil, &res)
	case operator:
		e = c.call(ec, dispatcher.Credentials{}, "admin.login", map[string]any{
			"Username": r.PostFormValue("Username"), "Password": r.PostFormValue("Password")}, &res)
	default:
		e = c.call(ec, dispatcher.Credentials{}, "user.login", map[string]any{
			"Username": r.PostFormValue("Username"), "Password": r.PostFormValue("Password")}, &res)
	}
	if e != nil || res.SessionID == "" {
		msg := "Wrong username, password or key."
		if e != nil && e.Kind == dispatcher.KindRateLimited {
			msg = "Too many attempts; wait a few minutes and try again."
		}
		return c.showLogin(ec, http.StatusUnauthorized, msg)
	}
	setCookie(ec, cookieLogin, "", -1)
	if operator {
		setCookie(ec, cookieSession, "a."+res.SessionID, 0)
		return ec.Redirect(http.StatusSeeOther, "/console/admin")
	}
	setCookie(ec, cookieSession, "u."+res.SessionID, 0)
	return ec.Redirect(http.StatusSeeOther, "/console/")
}

func (c *Console) logout(ec echo.Context, s *session) error {
	c.endSession(ec, s.ID)
	if s.Return != "" {
		c.endSession(ec, s.Return)
	}
	setCookie(ec, cookieSession, "", -1)
	return ec.Redirect(http.StatusSeeOther, "/console/login")
}

// --- tenant ---

type domainRow struct {
	DomainID     int64
	SenderDomain string
	Status       string
}

func (c *Console) domainList(ec echo.Context, s *session) ([]domainRow, *dispatcher.Error) {
	var res struct{ Domains []domainRow }
	e := c.call(ec, s.creds(), "emailgateway.getdomains", nil, &res)
	return res.Domains, e
}

type counts struct {
	Sent, Delivered, Bounced, Opened, Clicked, Deferred, Failed, Unsubscribed, Complained int64
}

func (c *Console) dashboard(ec echo.Context, s *session) error {
	domains, e := c.domainList(ec, s)
	if e != nil {
		return c.failed(ec, s, e)
	}
	end := time.Now().UTC()
	start := end.AddDate(0, 0, -27)
	names := []string{"Sent", "Delivered", "Bounced", "Opened", "Clicked"}
	var days []string
	for t := start; !t.After(end); t = t.AddDate(0, 0, 1) {
		days = append(days, t.Format("2006-01-02"))
	}
	values := make([][]int64, len(names))
	for i := range values {
		values[i] = make([]int64, len(days))
	}
	for _, d := range domains {
		// Series: the days with activity keyed by date (5.9.4), or one row per day.
		var res struct{ Series json.RawMessage }
		if e := c.call(ec, s.creds(), "emailgateway.dailyseries", map[string]any{"DomainID": d.DomainID,
			"StartDate": days[0], "EndDate": days[len(days)-1]}, &res); e != nil {
			return c.failed(ec, s, e)
		}
		byDay := map[string]counts{}
		if json.Unmarshal(res.Series, &byDay) != nil {
			var rows []struct {
				Date string
				counts
			}
			json.Unmarshal(res.Series, &rows)
			for _, r := range rows {
				byDay[r.Date] = r.counts
			}
		}
		for i, day := range days {
			row := byDay[day]
			for j, v := range []int64{row.Sent, row.Delivered, row.Bounced, row.Opened, row.Clicked} {
				values[j][i] += v
			}
		}
	}
	var stats struct{ Stats counts }
	if e := c.call(ec, s.creds(), "emailgateway.accountstats", map[string]any{"StartDate": days[0], "EndDate": days[len(days)-1]}, &stats); e != nil {
		return c.failed(ec, s, e)
	}
	var queue struct {
		States  map[string]int64
		Waiting int64
	}
	if e := c.call(ec, s.creds(), "queue.stats", nil, &queue); e != nil {
		return c.failed(ec, s, e)
	}
	chart := drawChart(days, names, values)
	chart.ID, chart.Label = "chart", "Messages per day over the last 28 days"
	return c.render(ec, http.StatusOK, "dashboard", page{Title: "Dashboard", Nav: "dashboard", Session: s, Data: map[string]any{
		"Chart": chart, "Stats": stats.Stats, "Queue": queue, "Domains": domains,
		"From": days[0], "To": days[len(days)-1],
	}})
}

func (c *Console) domains(ec echo.Context, s *session) error {
	return c.showDomains(ec, s, http.StatusOK, "", "")
}

func (c *Console) showDomains(ec echo.Context, s *session, status int, msg, value string) error {
	domains, e := c.domainList(ec, s)
	if e != nil {
		return c.failed(ec, s, e)
	}
	return c.render(ec, status, "domains", page{Title: "Sender domains", Nav: "domains", Session: s, Error: msg,
		Data: map[string]any{"Domains": domains, "Value": value}})
}

func (c *Console) addDomain(ec echo.Context, s *session) error {
	name := ec.FormValue("DomainName")
	var res struct{ NewSenderDomainID int64 }
	if e := c.call(ec, s.creds(), "emailgateway.adddomain", map[string]any{"DomainName": name}, &res); e != nil {
		if e.Kind == dispatcher.KindAuth || e.Kind == dispatcher.KindDenied {
			return c.failed(ec, s, e)
		}
		return c.showDomains(ec, s, http.StatusUnprocessableEntity, e.Message(), name)
	}
	return c.redirect(ec, "/console/domains/"+strconv.FormatInt(res.NewSenderDomainID, 10), "added")
}

type dnsRecord struct {
	Name, Type, Value string
	Required          bool
	Checked, OK       bool
}

type domainPage struct {
	Domain struct {
		DomainID     int64
		SenderDomain string
		Status       string
		Options      struct{ LinkTracking, OpenTracking, UnsubscribeLink int }
	}
	DKIMSelector string
	Records      []dnsRecord
	Keys         []struct {
		APIKeyID    int64
		APIKey      string
		Description string
	}
	SMTPs []struct {
		SMTPID       int64
		SMTPUsername string
		SMTPHost     string
		SMTPPorts    []int
	}
	NewKey      string
	NewSMTPUser string
	NewSMTPPass string
	Rotated     bool
	SMTPHost    string
	SMTPPorts   []int
	Verified    bool
}

func (c *Console) loadDomain(ec echo.Context, s *session) (*domainPage, *dispatcher.Error) {
	id, _ := strconv.ParseInt(ec.Param("id"), 10, 64)
	var p domainPage
	if e := c.call(ec, s.creds(), "emailgateway.getdnsrecords", map[string]any{"DomainID": id}, &p); e != nil {
		return nil, e
	}
	if e := c.call(ec, s.creds(), "emailgateway.getapis", map[string]any{"DomainID": id}, &struct {
		APIKeys *[]struct {
			APIKeyID    int64
			APIKey      string
			Description string
		}
	}{&p.Keys}); e != nil {
		return nil, e
	}
	if e := c.call(ec, s.creds(), "emailgateway.getsmtps", map[string]any{"DomainID": id}, &struct {
		SMTPs *[]struct {
			SMTPID       int64
			SMTPUsername string
			SMTPHost     string
			SMTPPorts    []int
		}
	}{&p.SMTPs}); e != nil {
		return nil, e
	}
	p.SMTPHost, p.SMTPPorts = c.SMTPHost, c.SMTPPorts
	return &p, nil
}

func (c *Console) showDomain(ec echo.Context, s *session, p *domainPage, status int, msg string) error {
	return c.render(ec, status, "domain", page{Title: p.Domain.SenderDomain, Nav: "domains", Session: s, Error: msg, Data: p})
}

func (c *Console) domain(ec echo.Context, s *session) error {
	p, e := c.loadDomain(ec, s)
	if e != nil {
		return c.failed(ec, s, e)
	}
	return c.showDomain(ec, s, p, http.StatusOK, "")
}

func (c *Console) verifyDomain(ec echo.Context, s *session) error {
	p, e := c.loadDomain(ec, s)
	if e != nil {
		return c.failed(ec, s, e)
	}
	var res struct {
		Domain                 struct{ Status string }
		DNSVerificationResults map[string][]any
	}
	if e := c.call(ec, s.creds(), "emailgateway.verifydomain", map[string]any{"DomainID": p.Domain.DomainID}, &res); e != nil {
		return c.showDomain(ec, s, p, http.StatusUnprocessableEntity, e.Message())
	}
	for i := range p.Records {
		r := &p.Records[i]
		if v, ok := res.DNSVerificationResults[r.Name]; ok && len(v) == 3 && v[0] == r.Type {
			r.Checked = true
			r.OK, _ = v[2].(bool)
		}
	}
	p.Domain.Status = res.Domain.Status
	p.Verified = true
	return c.showDomain(ec, s, p, http.StatusOK, "")
}

func (c *Console) domainOptions(ec echo.Context, s *session) error {
	id := ec.Param("id")
	params := map[string]any{"DomainID": id}
	for _, o := range []string{"LinkTracking", "OpenTracking", "UnsubscribeLink"} {
		params[o] = 0
		if ec.FormValue(o) == "1" {
			params[o] = 1
		}
	}
	if e := c.call(ec, s.creds(), "emailgateway.updatedomain", params, nil); e != nil {
		return c.failed(ec, s, e)
	}
	return c.redirect(ec, "/console/domains/"+id, "saved")
}

func (c *Console) deleteDomain(ec echo.Context, s *session) error {
	if e := c.call(ec, s.creds(), "emailgateway.deletedomain", map[string]any{"DomainID": ec.Param("id")}, nil); e != nil {
		return c.failed(ec, s, e)
	}
	return c.redirect(ec, "/console/domains", "deleted")
}

// addKey creates a sender API key and shows it this once.
func (c *Console) addKey(ec echo.Context, s *session) error {
	desc := strings.TrimSpace(ec.FormValue("Description"))
	if desc == "" {
		desc = "console"
	}
	var res struct{ APIKey struct{ APIKey string } }
	if e := c.call(ec, s.creds(), "emailgateway.addapi", map[string]any{"DomainID": ec.Param("id"), "Description": desc}, &res); e != nil {
		return c.failed(ec, s, e)
	}
	p, e := c.loadDomain(ec, s)
	if e != nil {
		return c.failed(ec, s, e)
	}
	p.NewKey = res.APIKey.APIKey
	return c.showDomain(ec, s, p, http.StatusOK, "")
}

func (c *Console) deleteKey(ec echo.Context, s *session) error {
	if e := c.call(ec, s.creds(), "emailgateway.deleteapi", map[string]any{"APIKeyID": ec.Param("key")}, nil); e != nil {
		return c.failed(ec, s, e)
	}
	return c.redirect(ec, "/console/domains/"+ec.Param("id"), "deleted")
}

// addSMTP creates SMTP credentials and shows the password this once.
func (c *Console) addSMTP(ec echo.Context, s *session) error {
	var res struct {
		SMTP struct{ SMTPUsername, SMTPPassword string }
	}
	if e := c.call(ec, s.creds(), "emailgateway.addsmtp", map[string]any{"DomainID": ec.Param("id")}, &res); e != nil {
		return c.failed(ec, s, e)
	}
	p, e := c.loadDomain(ec, s)
	if e != nil {
		return c.failed(ec, s, e)
	}
	p.NewSMTPUser, p.NewSMTPPass = res.SMTP.SMTPUsername, res.SMTP.SMTPPassword
	return c.showDomain(ec, s, p, http.StatusOK, "")
}

func (c *Console) deleteSMTP(ec echo.Context, s *session) error {
	if e := c.call(ec, s.creds(), "emailgateway.deletesmtp", map[string]any{"SMTPID": ec.Param("smtp")}, nil); e != nil {
		return c.failed(ec, s, e)
	}
	return c.redirect(ec, "/console/domains/"+ec.Param("id"), "deleted")
}

// --- send a test message ---

func (c *Console) sendPage(ec echo.Context, s *session) error {
	return c.showSend(ec, s, http.StatusOK, "", "", map[string]string{})
}

func (c *Console) showSend(ec echo.Context, s *session, status int, msg, messageID string, form map[string]string) error {
	domains, e := c.domainList(ec, s)
	if e != nil {
		return c.failed(ec, s, e)
	}
	return c.render(ec, status, "send", page{Title: "Send a test message", Nav: "send", Session: s, Error: msg,
		Data: map[string]any{"Domains": domains, "MessageID": messageID, "Form": form}})
}

func (c *Console) send(ec echo.Context, s *session) error {
	form := map[string]string{}
	for _, k := range []string{"DomainID", "From", "To", "Subject", "PlainContent"} {
		form[k] = ec.FormValue(k)
	}
	params := map[string]any{}
	for k, v := range form {
		if v != "" {
			params[k] = v
		}
	}
	var res struct{ MessageID string }
	if e := c.call(ec, s.creds(), "emailgateway.sendtest", params, &res); e != nil {
		if e.Kind == dispatcher.KindAuth || e.Kind == dispatcher.KindDenied {
			return c.failed(ec, s, e)
		}
		return c.showSend(ec, s, http.StatusUnprocessableEntity, e.Message(), "", form)
	}
	return c.showSend(ec, s, http.StatusOK, "", res.MessageID, form)
}

// --- messages and events ---

type event struct {
	Event     string `json:"event"`
	Timestamp int64  `json:"timestamp"`
	Recipient string `json:"recipient"`
	MessageID string `json:"message_id"`
	Tags      []string
	URL       string `json:"url"`
	Message   struct {
		Headers struct{ From, Subject string } `json:"headers"`
	} `json:"message"`
	DeliveryStatus *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"delivery_status"`
}

const pageSize = 50

func (c *Console) messages(ec echo.Context, s *session) error {
	domains, e := c.domainList(ec, s)
	if e != nil {
		return c.failed(ec, s, e)
	}
	f := map[string]string{}
	for _, k := range []string{"domain", "q", "event", "tag", "from", "to", "start"} {
		f[k] = strings.TrimSpace(ec.QueryParam(k))
	}
	data := map[string]any{"Domains": domains, "F": f}
	if len(domains) == 0 {
		return c.render(ec, http.StatusOK, "messages", page{Title: "Messages", Nav: "messages", Session: s, Data: data})
	}
	domain := domains[0].DomainID
	if id, err := strconv.ParseInt(f["domain"], 10, 64); err == nil {
		domain = id
	}
	start, _ := strconv.Atoi(f["start"])
	params := map[string]any{"DomainID": domain, "StartFrom": start, "RetrieveCount": pageSize}
	for k, p := range map[string]string{"q": "Query", "event": "Event", "tag": "Tag", "from": "StartDate", "to": "EndDate"} {
		if f[k] != "" {
			params[p] = f[k]
		}
	}
	var res struct {
		TotalRecords int64
		Events       []event
	}
	status, msg := http.StatusOK, ""
	if e := c.call(ec, s.creds(), "emailgateway.getevents", params, &res); e != nil {
		if e.Kind != dispatcher.KindInvalid {
			return c.failed(ec, s, e)
		}
		status, msg = http.StatusUnprocessableEntity, e.Message()
	}
	data["Domain"] = domain
	data["Events"] = res.Events
	data["Total"] = res.TotalRecords
	if int64(start+pageSize) < res.TotalRecords {
		data["Next"] = start + pageSize
	}
	return c.render(ec, status, "messages", page{Title: "Messages", Nav: "messages", Session: s, Error: msg, Data: data})
}

func (c *Console) message(ec echo.Context, s *session) error {
	mid := ec.Param("message")
	var res struct{ Events []event }
	if e := c.call(ec, s.creds(), "emailgateway.getevents", map[string]any{"DomainID": ec.Param("domain"),
		"StartFrom": 0, "RetrieveCount": 100, "Query": mid}, &res); e != nil {
		return c.failed(ec, s, e)
	}
	var timeline []event
	for i := len(res.Events) - 1; i >= 0; i-- { // oldest first
		if res.Events[i].MessageID == mid {
			timeline = append(timeline, res.Events[i])
		}
	}
	if len(timeline) == 0 {
		return c.failed(ec, s, dispatcher.NotFound(2, "Message not found or access denied"))
	}
	return c.render(ec, http.StatusOK, "message", page{Title: "Message " + mid, Nav: "messages", Session: s,
		Data: map[string]any{"MessageID": mid, "Events": timeline, "First": timeline[0], "Domain": ec.Param("domain")}})
}

// --- operator ---

func (c *Console) adminHome(ec echo.Context, s *session) error {
	var queue struct {
		States  map[string]int64
		Waiting int64
	}
	if e := c.call(ec, s.creds(), "queue.stats", nil, &queue); e != nil {
		return c.failed(ec, s, e)
	}
	var pending struct{ Domains []map[string]any }
	if e := c.call(ec, s.creds(), "admin.senderdomains.list", nil, &pending); e != nil {
		return c.failed(ec, s, e)
	}
	states := []string{"scheduled", "queued", "sending", "deferred", "delivered", "bounced", "failed", "cancelled"}
	return c.render(ec, http.StatusOK, "admin", page{Title: "Operator", Nav: "admin", Session: s,
		Data: map[string]any{"Queue": queue, "States": states, "Pending": len(pending.Domains)}})
}

func (c *Console) adminDomains(ec echo.Context, s *session) error {
	status := ec.QueryParam("status")
	var res struct {
		Status  string
		Domains []struct {
			DomainID     int64
			SenderDomain string
			Status       string
			Username     string
			CreatedAt    int64
		}
	}
	msg, code := "", http.StatusOK
	if e := c.call(ec, s.creds(), "admin.senderdomains.list", map[string]any{"Status": status}, &res); e != nil {
		if e.Kind != dispatcher.KindInvalid {
			return c.failed(ec, s, e)
		}
		msg, code = e.Message(), http.StatusUnprocessableEntity
	}
	return c.render(ec, code, "admin_domains", page{Title: "Sender domains", Nav: "admin_domains", Session: s, Error: msg, Data: res})
}

func (c *Console) adminApprove(ec echo.Context, s *session) error {
	if e := c.call(ec, s.creds(), "admin.senderdomain.approve", map[string]any{"DomainID": strings.TrimSpace(ec.FormValue("DomainID"))}, nil); e != nil {
		if e.Kind == dispatcher.KindAuth || e.Kind == dispatcher.KindDenied {
			return c.failed(ec, s, e)
		}
		return c.render(ec, http.StatusUnprocessableEntity, "admin_domains", page{Title: "Sender domains", Nav: "admin_domains",
			Session: s, Error: e.Message(), Data: struct{ Status string }{}})
	}
	return c.redirect(ec, "/console/admin/domains", "approved")
}

func (c *Console) adminUsers(ec echo.Context, s *session) error {
	return c.showUsers(ec, s, http.StatusOK, "", map[string]string{})
}

// showUsers lists accounts through users.get, a page at a time, optionally searched.
func (c *Console) showUsers(ec echo.Context, s *session, status int, msg string, form map[string]string) error {
	q := strings.TrimSpace(ec.QueryParam("q"))
	start, _ := strconv.Atoi(ec.QueryParam("start"))
	if start < 0 {
		start = 0
	}
	data := map[string]any{"Form": form, "Q": q, "Start": start}
	params := map[string]any{"RecordsPerRequest": usersPage, "RecordsFrom": start}
	if q != "" {
		params["SearchKeyword"] = q
	}
	var res struct {
		Users      []map[string]any
		TotalUsers int64
	}
	if e := c.call(ec, s.creds(), "users.get", params, &res); e != nil {
		return c.failed(ec, s, e)
	}
	data["Users"], data["Total"] = res.Users, res.TotalUsers
	if int64(start+usersPage) < res.TotalUsers {
		data["Next"] = start + usersPage
	}
	if start > 0 {
		data["Prev"] = max(start-usersPage, 0)
		data["HasPrev"] = true
	}
	return c.render(ec, status, "admin_users", page{Title: "Users", Nav: "admin_users", Session: s, Error: msg, Data: data})
}

func (c *Console) adminCreateUser(ec echo.Context, s *session) error {
	form := map[string]string{}
	for _, k := range []string{"Username", "EmailAddress", "Password", "FirstName", "MaxSenderDomains", "MonthlySendLimit"} {
		form[k] = strings.TrimSpace(ec.FormValue(k))
	}
	params := map[string]any{"RelUserGroupID": 1, "TimeZone": "UTC", "Language": "en"}
	for k, v := range form {
		if v != "" {
			params[k] = v
		}
	}
	if form["FirstName"] == "" {
		params["FirstName"] = form["Username"]
	}
	if e := c.call(ec, s.creds(), "user.create", params, nil); e != nil {
		if e.Kind == dispatcher.KindAuth || e.Kind == dispatcher.KindDenied {
			return c.failed(ec, s, e)
		}
		form["Password"] = ""
		return c.showUsers(ec, s, http.StatusUnprocessableEntity, e.Message(), form)
	}
	return c.redirect(ec, "/console/admin/users", "created")
}
