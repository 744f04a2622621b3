package commands

import (
	"context"
	"errors"
	"strings"
	"time"

	"gatewayd/commands/compose"
	"gatewayd/dispatcher"
	"gatewayd/secret"
	"gatewayd/storage"
)

// timeNow is the clock handlers read.
func timeNow() time.Time { return time.Now() }

// Account flag values, as Octeth spells them.
const (
	StatusEnabled    = "Enabled"
	StatusDisabled   = "Disabled"
	ReputationTrust  = "Trusted"
	ReputationUntrst = "Untrusted"
)

func (a *App) registerAccounts(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{
		Name: "admin.login", Auth: dispatcher.AuthPublic,
		Params: []dispatcher.Param{
			{Name: "Username", Required: true, Code: 1},
			{Name: "Password", Required: true, Code: 2},
		},
		Handler: a.adminLogin,
	})
	r.Register(&dispatcher.Command{
		Name: "user.create", Auth: dispatcher.AuthAdmin,
		Params: []dispatcher.Param{
			{Name: "RelUserGroupID", Type: dispatcher.Int, Required: true, Code: 1, Message: "Missing RelUserGroupID parameter"},
			{Name: "EmailAddress", Required: true, Code: 2, Message: "Missing EmailAddress parameter"},
			{Name: "Username", Required: true, Code: 3, Message: "Missing Username parameter"},
			{Name: "Password", Required: true, Code: 4, Message: "Missing Password parameter"},
			{Name: "TimeZone", Required: true, Code: 8, Message: "Missing TimeZone parameter"},
			{Name: "Language", Required: true, Code: 9, Message: "Missing Language parameter"},
			{Name: "MaxSenderDomains", Type: dispatcher.Int, Code: 17, Message: "Invalid MaxSenderDomains"},
			{Name: "MonthlySendLimit", Type: dispatcher.Int, Code: 18, Message: "Invalid MonthlySendLimit"},
		},
		Check:   requireNameOrCompany,
		Handler: a.userCreate,
	})
	r.Register(&dispatcher.Command{
		Name: "user.login", Auth: dispatcher.AuthPublic,
		Handler: a.userLogin,
	})
	r.Register(&dispatcher.Command{
		Name: "user.logout", Auth: dispatcher.AuthUser | dispatcher.AuthAdmin,
		Handler: a.logout,
	})
	r.Register(&dispatcher.Command{
		Name: "user.current", Auth: dispatcher.AuthUser,
		Handler: a.userCurrent,
	})
	r.Register(&dispatcher.Command{
		Name: "user.apikey.create", Auth: dispatcher.AuthUser,
		Handler: a.userAPIKeyCreate,
	})
	r.Register(&dispatcher.Command{
		Name: "user.apikey.list", Auth: dispatcher.AuthUser,
		Handler: a.userAPIKeyList,
	})
	r.Register(&dispatcher.Command{
		Name: "user.apikey.delete", Auth: dispatcher.AuthUser,
		Params:  []dispatcher.Param{{Name: "APIKeyID", Type: dispatcher.Int, Required: true, Code: 1}},
		Handler: a.userAPIKeyDelete,
	})
	r.Register(&dispatcher.Command{
		Name: "usergroup.create", Auth: dispatcher.AuthAdmin,
		Params: append(groupRequired[:len(groupRequired):len(groupRequired)],
			dispatcher.Param{Name: "LimitEmailSendPerPeriod", Type: dispatcher.Int, Required: true, Code: 20, Message: "Missing LimitEmailSendPerPeriod parameter"}),
		Handler: a.userGroupCreate,
	})
	r.Register(&dispatcher.Command{
		Name: "usergroup.get", Auth: dispatcher.AuthAdmin,
		Params:  []dispatcher.Param{{Name: "UserGroupID", Type: dispatcher.Int, Required: true, Code: 1}},
		Handler: a.userGroupGet,
	})
}

func (a *App) adminLogin(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	keys := loginKeys("admin", p.String("Username"), req.Meta.RemoteIP)
	if err := a.loginThrottled(keys); err != nil {
		return nil, err
	}
	ad, err := a.DB.AdminByUsername(ctx, p.String("Username"))
	if isNotFound(err) {
		// The same bcrypt as for a known name: an unknown name must not answer faster.
		a.dummyPasswordCheck(p.String("Password"))
	}
	if isNotFound(err) || (err == nil && !passwordMatches(ad.PasswordHash, p.String("Password"))) {
		a.Logins.Fail(keys...)
		return nil, dispatcher.Fail(dispatcher.KindAuth, 3, "Invalid login information")
	}
	if err != nil {
		return nil, err
	}
	a.Logins.Clear(keys[0])
	id, err := a.newSession(ctx, sessionAdmin, ad.ID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"SessionID": id, "AdminInfo": map[string]any{"AdminID": ad.ID, "Username": ad.Username, "EmailAddress": ad.Email}}, nil
}

// userCreate creates a tenant, with users.md's codes: 1-4, 8, 9 missing RelUserGroupID,
// EmailAddress, Username, Password, TimeZone, Language; 6 FirstName and CompanyName both
// missing; 10 invalid EmailAddress; 11 no such user group; 12 username taken; 13 email taken;
// 14 invalid Language; 15 invalid ReputationLevel; 16 GATEWAY_MAX_USERS reached. gatewayd's
// own (docs/api.md): 17 MaxSenderDomains, 18 MonthlySendLimit, 19 Username, 20 TimeZone,
// 21 AccountStatus, 22 Password shorter than 8, 24 a profile field (Website, Street ...).
func (a *App) userCreate(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	u := &storage.User{
		GroupID:          p.Int("RelUserGroupID"),
		Username:         strings.TrimSpace(p.String("Username")),
		Email:            strings.TrimSpace(p.String("EmailAddress")),
		FirstName:        strings.TrimSpace(p.String("FirstName")),
		LastName:         strings.TrimSpace(p.String("LastName")),
		CompanyName:      strings.TrimSpace(p.String("CompanyName")),
		AccountStatus:    StatusEnabled,
		ReputationLevel:  ReputationTrust,
		Verified:         true,
		MaxSenderDomains: int(p.Int("MaxSenderDomains")),
		MonthlySendLimit: p.Int("MonthlySendLimit"),
	}
	var issues []dispatcher.Issue
	if !compose.ValidAddress(u.Email) {
		issues = append(issues, dispatcher.Field("EmailAddress", 10, "Invalid email address format"))
	}
	if lang := p.String("Language"); !validLanguage(lang) {
		issues = append(issues, dispatcher.Field("Language", 14, "Invalid language code"))
	} else {
		u.Language = strings.ToLower(lang)
	}
	if s := p.String("ReputationLevel"); s != "" {
		switch {
		case strings.EqualFold(s, ReputationTrust):
			u.ReputationLevel = ReputationTrust
		case strings.EqualFold(s, ReputationUntrst):
			u.ReputationLevel = ReputationUntrst
		default:
			issues = append(issues, dispatcher.Field("ReputationLevel", 15, "Invalid reputation level (must be 'Trusted' or 'Untrusted')"))
		}
	}
	if u.MaxSenderDomains < 0 {
		issues = append(issues, dispatcher.Field("MaxSenderDomains", 17, "Invalid MaxSenderDomains"))
	}
	if u.MonthlySendLimit < 0 {
		issues = append(issues, dispatcher.Field("MonthlySendLimit", 18, "Invalid MonthlySendLimit"))
	}
	if !validUsername(u.Username) {
		issues = append(issues, dispatcher.Field("Username", 19, "Invalid Username (1-64 letters, digits, . _ - @)"))
	}
	if tz, ok := validTimeZone(p.String("TimeZone")); ok {
		u.TimeZone = tz
	} else {
		issues = append(issues, dispatcher.Field("TimeZone", 20, "Invalid TimeZone (an IANA name such as Europe/Copenhagen)"))
	}
	if s := p.String("AccountStatus"); s != "" {
		switch {
		case strings.EqualFold(s, StatusEnabled):
			u.AccountStatus = StatusEnabled
		case strings.EqualFold(s, StatusDisabled):
			u.AccountStatus = StatusDisabled
		default:
			issues = append(issues, dispatcher.Field("AccountStatus", 21, "Invalid AccountStatus (Enabled or Disabled)"))
		}
	}
	if len(p.String("Password")) < 8 {
		issues = append(issues, dispatcher.Field("Password", 22, "Password must be at least 8 characters"))
	}
	if v, ok := p.BoolOK("Verified"); ok {
		u.Verified = v
	}
	prof, more := applyProfile(p, "")
	u.Profile, issues = prof, append(issues, more...)
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	if _, err := a.DB.GroupByID(ctx, u.GroupID); isNotFound(err) {
		return nil, dispatcher.Fail(dispatcher.KindInvalid, 11, "Invalid user group ID")
	} else if err != nil {
		return nil, err
	}
	if max := a.Cfg.MaxUsers; max > 0 {
		n, err := a.DB.CountUsers(ctx)
		if err != nil {
			return nil, err
		}
		if n >= int64(max) {
			return nil, dispatcher.Fail(dispatcher.KindForbidden, 16, "Maximum number of user accounts exceeded")
		}
	}
	var err error
	if u.PasswordHash, err = a.hashPassword(p.String("Password")); err != nil {
		return nil, err
	}
	if err := a.DB.CreateUser(ctx, u); err != nil {
		var dup *storage.DuplicateError
		if errors.As(err, &dup) && dup.Field == "username" {
			return nil, dispatcher.Fail(dispatcher.KindConflict, 12, "Username already exists")
		}
		if errors.As(err, &dup) {
			return nil, dispatcher.Fail(dispatcher.KindConflict, 13, "Email address already exists")
		}
		return nil, err
	}
	return map[string]any{"UserID": u.ID}, nil
}

// requireNameOrCompany is user.create's code 6: FirstName or CompanyName is required.
func requireNameOrCompany(p dispatcher.Params) []dispatcher.Issue {
	if p.Has("FirstName") || p.Has("CompanyName") {
		return nil
	}
	return []dispatcher.Issue{dispatcher.Field("FirstName", 6, "Missing CompanyName or FirstName parameter")}
}

// validTimeZone accepts an IANA zone name and returns it as given.
func validTimeZone(tz string) (string, bool) {
	tz = strings.TrimSpace(tz)
	if tz == "" || strings.ContainsAny(tz, "\r\n\x00") {
		return "", false
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return "", false
	}
	return tz, true
}

func validUsername(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '.' || r == '_' || r == '-' || r == '@' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')) {
			return false
		}
	}
	return true
}

func validLanguage(s string) bool {
	if len(s) < 2 || len(s) > 8 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')) {
			return false
		}
	}
	return true
}

// userLogin answers a SessionID for Username + Password, or for an APIKey.
// Codes: 1 Username missing, 2 Password missing, 3 wrong login.
func (a *App) userLogin(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	u, err := a.loginUser(ctx, p, req.Meta.RemoteIP)
	if err != nil {
		return nil, err
	}
	id, err := a.newSession(ctx, sessionUser, u.ID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"SessionID": id, "UserInfo": userInfo(u)}, nil
}

// loginUser checks Username + Password (or APIKey) and returns the user; shared by the
// Octeth and Navixy logins.
func (a *App) loginUser(ctx context.Context, p dispatcher.Params, addr string) (*storage.User, error) {
	wrong := dispatcher.Fail(dispatcher.KindAuth, 3, "Invalid login information")
	if key := p.String("APIKey"); key != "" && !p.Has("Username") {
		k, err := a.DB.UserAPIKeyByHash(ctx, secret.Hash(key))
		if isNotFound(err) {
			return nil, wrong
		}
		if err != nil {
			return nil, err
		}
		return enabledLogin(a.DB.UserByID(ctx, k.UserID))
	}
	var issues []dispatcher.Issue
	if !p.Has("Username") {
		issues = append(issues, dispatcher.Field("Username", 1, "Missing required parameter (Username)"))
	}
	if !p.Has("Password") {
		issues = append(issues, dispatcher.Field("Password", 2, "Missing required parameter (Password)"))
	}
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	keys := loginKeys("user", p.String("Username"), addr)
	if err := a.loginThrottled(keys); err != nil {
		return nil, err
	}
	u, err := a.DB.UserByUsername(ctx, p.String("Username"))
	if isNotFound(err) {
		// Hash anyway so a missing user and a wrong password take the same time.
		a.dummyPasswordCheck(p.String("Password"))
		a.Logins.Fail(keys...)
		return nil, wrong
	}
	if err != nil {
		return nil, err
	}
	if !passwordMatches(u.PasswordHash, p.String("Password")) {
		a.Logins.Fail(keys...)
		return nil, wrong
	}
	a.Logins.Clear(keys[0])
	return enabledLogin(u, nil)
}

// loginKeys are the throttle's keys of a password login in realm (user, admin): the
// username, then the client address.
func loginKeys(realm, username, addr string) []string {
	return []string{realm + ":user:" + strings.ToLower(username), realm + ":ip:" + addr}
}

// loginThrottled refuses a login whose username or client address has failed too often
// (GATEWAY_LOGIN_THROTTLE), before any password is checked: KindRateLimited with code 429 and
// Retry-After, which each surface renders as its own rate-limit answer.
func (a *App) loginThrottled(keys []string) error {
	wait, blocked := a.Logins.Blocked(keys...)
	if !blocked {
		return nil
	}
	e := dispatcher.Fail(dispatcher.KindRateLimited, 429, "Too many failed logins; try again later")
	e.RetryAfter = max(wait.Round(time.Second), time.Second)
	return e
}

// enabledLogin refuses the login of a disabled account (code 3, saying why: the password
// was right).
func enabledLogin(u *storage.User, err error) (*storage.User, error) {
	if err == nil && !accountEnabled(u) {
		return nil, dispatcher.Fail(dispatcher.KindAuth, 3, "Account is disabled")
	}
	return u, err
}

func userInfo(u *storage.User) map[string]any {
	return map[string]any{
		"UserID":           u.ID,
		"RelUserGroupID":   u.GroupID,
		"Username":         u.Username,
		"EmailAddress":     u.Email,
		"FirstName":        u.FirstName,
		"LastName":         u.LastName,
		"CompanyName":      u.CompanyName,
		"TimeZone":         u.TimeZone,
		"Language":         u.Language,
		"AccountStatus":    u.AccountStatus,
		"ReputationLevel":  u.ReputationLevel,
		"Verified":         u.Verified,
		"MaxSenderDomains": u.MaxSenderDomains,
		"MonthlySendLimit": u.MonthlySendLimit,
	}
}

func (a *App) logout(ctx context.Context, req *dispatcher.Request) (any, error) {
	if id := req.Params.String("SessionID"); id != "" {
		if err := a.DB.DeleteSession(ctx, secret.Hash(id)); err != nil && !isNotFound(err) {
			return nil, err
		}
	}
	return map[string]any{}, nil
}

func (a *App) userCurrent(ctx context.Context, req *dispatcher.Request) (any, error) {
	u, err := a.userOf(ctx, req.Principal)
	if err != nil {
		return nil, err
	}
	return map[string]any{"UserInfo": userInfo(u)}, nil
}

func (a *App) userAPIKeyCreate(ctx context.Context, req *dispatcher.Request) (any, error) {
	key := secret.Token("gw_", 40)
	sealed, err := a.Keys.Encrypt([]byte(key))
	if err != nil {
		return nil, err
	}
	desc := strings.TrimSpace(req.Params.String("Description"))
	if len(desc) > 255 || strings.ContainsAny(desc, "\r\n\x00") {
		return nil, dispatcher.Invalid(dispatcher.Field("Description", 2, "Invalid Description"))
	}
	k := &storage.UserAPIKey{UserID: req.Principal.UserID, KeyHash: secret.Hash(key), KeyEnc: sealed, Description: desc}
	if err := a.DB.CreateUserAPIKey(ctx, k); err != nil {
		return nil, err
	}
	return map[string]any{"APIKeyID": k.ID, "APIKey": key, "Description": k.Description}, nil
}

func (a *App) userAPIKeyList(ctx context.Context, req *dispatcher.Request) (any, error) {
	ks, err := a.DB.UserAPIKeys(ctx, req.Principal.UserID)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(ks))
	for _, k := range ks {
		plain, err := a.Keys.Decrypt(k.KeyEnc)
		if err != nil {
			return nil, err
		}
		out = append(out, map[string]any{"APIKeyID": k.ID, "APIKey": string(plain), "Description": k.Description, "CreatedAt": k.CreatedAt})
	}
	return map[string]any{"APIKeys": out}, nil
}

func (a *App) userAPIKeyDelete(ctx context.Context, req *dispatcher.Request) (any, error) {
	err := a.DB.DeleteUserAPIKey(ctx, req.Principal.UserID, req.Params.Int("APIKeyID"))
	if isNotFound(err) {
		return nil, dispatcher.NotFound(2, "API key not found or access denied")
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

// userGroupCreate creates a group with users.md's required fields (codes 1, 2, 5-8, 17, 18,
// 20, all missing ones at once) and any usergroup.patch field besides; Force* values other
// than Enabled are Disabled, as on usergroup.update. Permissions (gatewayd's: `*` or a comma
// list) defaults to `*`, as Octeth's API-created groups carry no permission list. gatewayd's
// code 3: GroupName longer than 255 characters or more than one line.
func (a *App) userGroupCreate(ctx context.Context, req *dispatcher.Request) (any, error) {
	name := strings.TrimSpace(req.Params.String("GroupName"))
	if len(name) > 255 || strings.ContainsAny(name, "\r\n\x00") {
		return nil, dispatcher.Invalid(dispatcher.Field("GroupName", 3, "Invalid GroupName"))
	}
	g := &storage.UserGroup{Name: name, Permissions: "*"}
	if _, err := applyGroupFields(req.Params, g, createSettings, true); err != nil {
		return nil, err
	}
	if err := a.DB.CreateGroup(ctx, g); err != nil {
		return nil, err
	}
	return map[string]any{"UserGroupID": g.ID}, nil
}

// createSettings are the fields usergroup.create takes besides GroupName: every other field
// usergroup.patch takes, Permissions included (a comma list or an array).
var createSettings = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range groupFields {
		m[f.name] = f.name != "GroupName"
	}
	return m
}()

func (a *App) userGroupGet(ctx context.Context, req *dispatcher.Request) (any, error) {
	g, err := a.DB.GroupByID(ctx, req.Params.Int("UserGroupID"))
	if isNotFound(err) {
		return nil, dispatcher.NotFound(2, "User group not found")
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"UserGroup": groupInfo(g)}, nil
}
