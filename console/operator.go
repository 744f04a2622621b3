package console

import (
	"net/http"
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
		if e.Kind == dispatcher.KindAuth || e.Kind == dispatcher.KindDenied || e.Kind == dispatcher.KindNotFound {
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
