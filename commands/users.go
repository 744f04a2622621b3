package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"gatewayd/commands/compose"
	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// Account administration, as octeth-5.9.4 users.md documents it: user.get, user.update,
// users.get, users.delete and user.switch. Codes gatewayd adds are in docs/api.md.

func (a *App) registerUsers(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{
		Name: "user.get", Auth: dispatcher.AuthAdmin,
		Check:   requireUserIDOrEmail,
		Handler: a.userGet,
	})
	r.Register(&dispatcher.Command{
		Name: "user.update", Auth: dispatcher.AuthAdmin | dispatcher.AuthUser, Permission: "User.Update",
		Params:  []dispatcher.Param{{Name: "UserID", Type: dispatcher.Int, Required: true, Code: 1, Message: "Missing UserID parameter"}},
		Handler: a.userUpdate,
	})
	r.Register(&dispatcher.Command{
		Name: "users.get", Auth: dispatcher.AuthAdmin,
		Handler: a.usersGet,
	})
	r.Register(&dispatcher.Command{
		Name: "users.delete", Auth: dispatcher.AuthAdmin,
		Params:  []dispatcher.Param{{Name: "Users", Type: dispatcher.Any, Required: true, Code: 1, Message: "Missing Users parameter"}},
		Handler: a.usersDelete,
	})
	r.Register(&dispatcher.Command{
		Name: "user.snapshot", Auth: dispatcher.AuthAdmin | dispatcher.AuthUser,
		Params:  []dispatcher.Param{{Name: "Month", Required: true, Code: 3, Message: "Missing Month parameter"}},
		Handler: a.userSnapshot,
	})
	r.Register(&dispatcher.Command{
		Name: "user.switch", Auth: dispatcher.AuthAdmin,
		Params:  []dispatcher.Param{{Name: "UserID", Type: dispatcher.Int, Required: true, Code: 1, Message: "Missing UserID parameter"}},
		Handler: a.userSwitch,
	})
}

// requireUserIDOrEmail is user.get's code 1.
func requireUserIDOrEmail(p dispatcher.Params) []dispatcher.Issue {
	if p.Has("UserID") || p.Has("EmailAddress") {
		return nil
	}
	return []dispatcher.Issue{dispatcher.Field("UserID", 1, "Missing UserID or EmailAddress parameter")}
}

// profileFields are the users.md profile fields gatewayd keeps (in the user's profile
// object) besides its own columns; PhoneVerified is kept there too, as 0 or 1.
var profileFields = []string{"Website", "OtherEmailAddresses", "Street", "Street2", "City", "State", "Zip",
	"Country", "VAT", "Phone", "Fax", "SignUpIPAddress", "SSOID"}

// paramSent reports whether name was sent at all, an empty string included (clearing a field).
func paramSent(p dispatcher.Params, name string) bool {
	v, ok := dispatcher.Lookup(p.Tree(), name)
	return ok && v != nil
}

// applyProfile writes the profile fields sent in p over the JSON object prof and returns
// the new object; a value that is not a short single line is code 24.
func applyProfile(p dispatcher.Params, prof string) (string, []dispatcher.Issue) {
	m := map[string]any{}
	if prof != "" {
		json.Unmarshal([]byte(prof), &m)
	}
	var issues []dispatcher.Issue
	for _, f := range profileFields {
		if !paramSent(p, f) {
			continue
		}
		s, ok := dispatcher.AsString(p.Value(f))
		s = strings.TrimSpace(s)
		if !ok || len(s) > 255 || strings.ContainsAny(s, "\r\n\x00") {
			issues = append(issues, dispatcher.Field(f, 24, "Invalid "+f))
			continue
		}
		m[f] = s
	}
	if paramSent(p, "PhoneVerified") {
		if b, ok := dispatcher.AsBool(p.Value("PhoneVerified")); ok {
			m["PhoneVerified"] = map[bool]int{false: 0, true: 1}[b]
		} else {
			issues = append(issues, dispatcher.Field("PhoneVerified", 24, "Invalid PhoneVerified"))
		}
	}
	b, _ := json.Marshal(m)
	return string(b), issues
}

// userInformation is a user as user.get and users.get answer it: user.login's UserInfo, the
// profile fields (empty when never set), UserSince, and the user's group.
func userInformation(u *storage.User, g *storage.UserGroup) map[string]any {
	m := userInfo(u)
	prof := map[string]any{}
	json.Unmarshal([]byte(u.Profile), &prof)
	for _, f := range profileFields {
		v, _ := prof[f].(string)
		m[f] = v
	}
	pv, _ := prof["PhoneVerified"].(float64)
	m["PhoneVerified"] = int(pv)
	m["UserSince"] = octethTimeString(u.CreatedAt)
	m["GroupInformation"] = map[string]any{}
	if g != nil {
		m["GroupInformation"] = groupInfo(g)
	}
	return m
}

// limitUtilization is user.get's LimitUtilization: what the account uses against its limits
// (0 is no limit). Subscribers and Lists are limited by the group's LimitSubscribers and
// LimitLists; SenderDomains and EmailSendPerPeriod (this calendar month) by the account's
// MaxSenderDomains and MonthlySendLimit, or where those are 0 the group's
// LimitEmailGatewaySenderDomains and LimitEmailSendPerPeriod (EffectiveLimits).
func (a *App) limitUtilization(ctx context.Context, u *storage.User, g *storage.UserGroup) (map[string]any, error) {
	use, err := a.DB.UserUtilization(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	monthly, domains, err := a.EffectiveLimits(ctx, u)
	if err != nil {
		return nil, err
	}
	settings := groupSettings(g)
	return map[string]any{
		"Subscribers":        map[string]any{"Used": use.Subscribers, "Limit": settings["LimitSubscribers"]},
		"Lists":              map[string]any{"Used": use.Lists, "Limit": settings["LimitLists"]},
		"SenderDomains":      map[string]any{"Used": use.SenderDomains, "Limit": domains},
		"EmailSendPerPeriod": map[string]any{"Used": use.SentThisMonth, "Limit": monthly},
	}, nil
}

// groupOf loads a user's group; nil when it is gone.
func (a *App) groupOf(ctx context.Context, u *storage.User) (*storage.UserGroup, error) {
	g, err := a.DB.GroupByID(ctx, u.GroupID)
	if isNotFound(err) {
		return nil, nil
	}
	return g, err
}

// userGet: codes 1 neither UserID nor EmailAddress, 3 no such user.
func (a *App) userGet(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	var u *storage.User
	var err error
	if p.Has("UserID") {
		id, ok := p.IntOK("UserID")
		if !ok {
			return nil, dispatcher.NotFound(3, "User not found")
		}
		u, err = a.DB.UserByID(ctx, id)
	} else {
		u, err = a.DB.UserByEmail(ctx, strings.TrimSpace(p.String("EmailAddress")))
	}
	if isNotFound(err) {
		return nil, dispatcher.NotFound(3, "User not found")
	}
	if err != nil {
		return nil, err
	}
	g, err := a.groupOf(ctx, u)
	if err != nil {
		return nil, err
	}
	lu, err := a.limitUtilization(ctx, u, g)
	if err != nil {
		return nil, err
	}
	return map[string]any{"UserInformation": userInformation(u, g), "LimitUtilization": lu}, nil
}

// userUpdate changes the fields sent and keeps the others. A user may update only their own
// account and only its profile, login and locale; the account flags and limits
// (AccountStatus, ReputationLevel, RelUserGroupID, Verified, MaxSenderDomains,
// MonthlySendLimit) are an administrator's and are ignored in a user's call. Codes (users.md):
// 1 UserID missing, 2 another user's account, 5 no such user, 6 email or username taken;
// gatewayd's, numbered as user.create numbers the same faults: 10 EmailAddress, 11
// RelUserGroupID, 14 Language, 15 ReputationLevel, 17 MaxSenderDomains, 18 MonthlySendLimit,
// 19 Username, 20 TimeZone, 21 AccountStatus, 22 Password, 23 two-factor authentication
// (not available), 24 a profile field.
func (a *App) userUpdate(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	id := p.Int("UserID")
	admin := req.Principal.Kind == dispatcher.PrincipalAdmin
	if !admin && id != req.Principal.UserID {
		return nil, dispatcher.Fail(dispatcher.KindDenied, 2, "User can only update their own account")
	}
	u, err := a.DB.UserByID(ctx, id)
	if isNotFound(err) {
		return nil, dispatcher.NotFound(5, "User not found")
	}
	if err != nil {
		return nil, err
	}
	var issues []dispatcher.Issue
	if p.Has("EmailAddress") {
		if e := strings.TrimSpace(p.String("EmailAddress")); compose.ValidAddress(e) {
			u.Email = e
		} else {
			issues = append(issues, dispatcher.Field("EmailAddress", 10, "Invalid email address format"))
		}
	}
	if p.Has("Username") {
		if n := strings.TrimSpace(p.String("Username")); validUsername(n) {
			u.Username = n
		} else {
			issues = append(issues, dispatcher.Field("Username", 19, "Invalid Username (1-64 letters, digits, . _ - @)"))
		}
	}
	newPassword := ""
	if p.Has("Password") {
		if newPassword = p.String("Password"); len(newPassword) < 8 {
			issues = append(issues, dispatcher.Field("Password", 22, "Password must be at least 8 characters"))
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"FirstName", &u.FirstName}, {"LastName", &u.LastName}, {"CompanyName", &u.CompanyName}} {
		if !paramSent(p, f.name) {
			continue
		}
		s := strings.TrimSpace(p.String(f.name))
		if len(s) > 255 || strings.ContainsAny(s, "\r\n\x00") {
			issues = append(issues, dispatcher.Field(f.name, 24, "Invalid "+f.name))
			continue
		}
		*f.dst = s
	}
	if p.Has("TimeZone") {
		if tz, ok := validTimeZone(p.String("TimeZone")); ok {
			u.TimeZone = tz
		} else {
			issues = append(issues, dispatcher.Field("TimeZone", 20, "Invalid TimeZone (an IANA name such as Europe/Copenhagen)"))
		}
	}
	if p.Has("Language") {
		if l := p.String("Language"); validLanguage(l) {
			u.Language = strings.ToLower(l)
		} else {
			issues = append(issues, dispatcher.Field("Language", 14, "Invalid language code"))
		}
	}
	prof, more := applyProfile(p, u.Profile)
	u.Profile, issues = prof, append(issues, more...)
	if p.Bool("Enable2FA") {
		issues = append(issues, dispatcher.Field("Enable2FA", 23, "Two-factor authentication is not available"))
	}
	if admin {
		issues = append(issues, adminAccountFields(p, u)...)
	}
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	if admin && p.Has("RelUserGroupID") {
		if _, err := a.DB.GroupByID(ctx, u.GroupID); isNotFound(err) {
			return nil, dispatcher.Fail(dispatcher.KindInvalid, 11, "Invalid user group ID")
		} else if err != nil {
			return nil, err
		}
	}
	if newPassword != "" {
		if u.PasswordHash, err = a.hashPassword(newPassword); err != nil {
			return nil, err
		}
	}
	if err := a.DB.UpdateUser(ctx, u); err != nil {
		if errors.Is(err, storage.ErrDuplicate) {
			return nil, dispatcher.Fail(dispatcher.KindConflict, 6, "Email address or username already exists")
		}
		return nil, err
	}
	return map[string]any{"ErrorText": ""}, nil
}

// adminAccountFields applies the administrator-only fields of user.update to u.
func adminAccountFields(p dispatcher.Params, u *storage.User) []dispatcher.Issue {
	var issues []dispatcher.Issue
	if p.Has("AccountStatus") {
		if s, ok := canonical(p.String("AccountStatus"), []string{StatusEnabled, StatusDisabled}); ok {
			u.AccountStatus = s
		} else {
			issues = append(issues, dispatcher.Field("AccountStatus", 21, "Invalid AccountStatus (Enabled or Disabled)"))
		}
	}
	if p.Has("ReputationLevel") {
		if s, ok := canonical(p.String("ReputationLevel"), []string{ReputationTrust, ReputationUntrst}); ok {
			u.ReputationLevel = s
		} else {
			issues = append(issues, dispatcher.Field("ReputationLevel", 15, "Invalid reputation level (must be 'Trusted' or 'Untrusted')"))
		}
	}
	if p.Has("RelUserGroupID") {
		if n, ok := p.IntOK("RelUserGroupID"); ok && n > 0 {
			u.GroupID = n
		} else {
			issues = append(issues, dispatcher.Field("RelUserGroupID", 11, "Invalid user group ID"))
		}
	}
	if p.Has("Verified") {
		if b, ok := p.BoolOK("Verified"); ok {
			u.Verified = b
		}
	}
	if p.Has("MaxSenderDomains") {
		if n, ok := p.IntOK("MaxSenderDomains"); ok && n >= 0 && n <= 1<<31-1 {
			u.MaxSenderDomains = int(n)
		} else {
			issues = append(issues, dispatcher.Field("MaxSenderDomains", 17, "Invalid MaxSenderDomains"))
		}
	}
	if p.Has("MonthlySendLimit") {
		if n, ok := p.IntOK("MonthlySendLimit"); ok && n >= 0 {
			u.MonthlySendLimit = n
		} else {
			issues = append(issues, dispatcher.Field("MonthlySendLimit", 18, "Invalid MonthlySendLimit"))
		}
	}
	return issues
}

// identifier is the shape users.md requires of each OrderField segment.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// maxUsersPerRequest caps RecordsPerRequest.
const maxUsersPerRequest = 1000

// usersGet lists users, paged (RecordsPerRequest, default 25, at most 1000; RecordsFrom),
// sorted (OrderField/OrderType, pipe-separated; a malformed pair falls back to UserID ASC
// silently, as users.md says) and filtered (RelUserGroupID: an id, a list of ids, or Online,
// Enabled, Disabled, Trusted, Untrusted; RelUserCategoryID; SearchField + SearchKeyword).
// gatewayd's codes: 1 OrderField names no sortable column, 2 SearchField names no searchable
// column, 3 RecordsPerRequest or RecordsFrom not a number in range, 4 RelUserGroupID invalid,
// 5 RelUserCategoryID not a number.
func (a *App) usersGet(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	q := storage.UserQuery{Limit: 25}
	var issues []dispatcher.Issue
	if p.Has("RecordsPerRequest") {
		n, ok := p.IntOK("RecordsPerRequest")
		if !ok || n < 1 || n > maxUsersPerRequest {
			issues = append(issues, dispatcher.Field("RecordsPerRequest", 3, fmt.Sprintf("Invalid RecordsPerRequest (1-%d)", maxUsersPerRequest)))
		}
		q.Limit = int(n)
	}
	if p.Has("RecordsFrom") {
		n, ok := p.IntOK("RecordsFrom")
		if !ok || n < 0 || n > 1<<31-1 {
			issues = append(issues, dispatcher.Field("RecordsFrom", 3, "Invalid RecordsFrom"))
		}
		q.Offset = int(n)
	}
	order, ok := userOrder(p.String("OrderField"), p.String("OrderType"))
	for _, o := range order {
		if _, known := storage.UserColumn(o.Field); !known && ok {
			issues = append(issues, dispatcher.Field("OrderField", 1, "Invalid OrderField: "+o.Field+" is not a sortable column"))
			break
		}
	}
	q.Order = order
	if paramSent(p, "RelUserGroupID") {
		if !userGroupFilter(p.Value("RelUserGroupID"), &q) {
			issues = append(issues, dispatcher.Field("RelUserGroupID", 4, "Invalid RelUserGroupID"))
		}
	}
	if p.Has("RelUserCategoryID") {
		// gatewayd has no user categories: every user is uncategorized (-1).
		if n, ok := p.IntOK("RelUserCategoryID"); !ok {
			issues = append(issues, dispatcher.Field("RelUserCategoryID", 5, "Invalid RelUserCategoryID"))
		} else if n != -1 {
			q.None = true
		}
	}
	if kw := strings.TrimSpace(p.String("SearchKeyword")); kw != "" {
		q.Keyword = kw
		if f := strings.TrimSpace(p.String("SearchField")); f == "" {
			q.SearchFields = []string{"Username", "EmailAddress", "FirstName", "LastName", "CompanyName"}
		} else if _, known := storage.UserColumn(f); known {
			q.SearchFields = []string{f}
		} else {
			issues = append(issues, dispatcher.Field("SearchField", 2, "Invalid SearchField: "+f+" is not a searchable column"))
		}
	}
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	us, total, err := a.DB.Users(ctx, q)
	if err != nil {
		return nil, err
	}
	groups := map[int64]*storage.UserGroup{}
	out := make([]map[string]any, 0, len(us))
	for i := range us {
		u := &us[i]
		g, seen := groups[u.GroupID]
		if !seen {
			if g, err = a.groupOf(ctx, u); err != nil {
				return nil, err
			}
			groups[u.GroupID] = g
		}
		m := userInformation(u, g)
		if p.Bool("ReturnStats") {
			n, err := a.DB.MonthlyUsage(ctx, u.ID)
			if err != nil {
				return nil, err
			}
			m["Stats"] = map[string]any{"EmailsSentThisMonth": n}
		}
		if p.Bool("IncludeLimitUtilization") {
			if m["LimitUtilization"], err = a.limitUtilization(ctx, u, g); err != nil {
				return nil, err
			}
		}
		out = append(out, m)
	}
	return map[string]any{"Users": out, "TotalUsers": total}, nil
}

// userOrder reads OrderField/OrderType: each pipe-separated field must be an identifier and
// each type ASC or DESC, or the pair falls back to UserID ASC (ok false).
func userOrder(field, typ string) (order []storage.UserOrder, ok bool) {
	def := []storage.UserOrder{{Field: "UserID"}}
	if strings.TrimSpace(field) == "" {
		return def, false
	}
	fields := strings.Split(field, "|")
	var types []string
	if strings.TrimSpace(typ) != "" {
		types = strings.Split(typ, "|")
	}
	if len(types) > len(fields) {
		return def, false
	}
	for i, f := range fields {
		if !identifier.MatchString(f) {
			return def, false
		}
		o := storage.UserOrder{Field: f}
		if i < len(types) {
			switch strings.ToUpper(types[i]) {
			case "ASC":
			case "DESC":
				o.Desc = true
			default:
				return def, false
			}
		}
		order = append(order, o)
	}
	return order, true
}

// userGroupFilter reads users.get's RelUserGroupID into q.
func userGroupFilter(v any, q *storage.UserQuery) bool {
	if s, isStr := v.(string); isStr {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "online":
			q.Online = true
			return true
		case "enabled":
			q.Status = StatusEnabled
			return true
		case "disabled":
			q.Status = StatusDisabled
			return true
		case "trusted":
			q.Reputation = ReputationTrust
			return true
		case "untrusted":
			q.Reputation = ReputationUntrst
			return true
		case "", "0":
			return true
		}
	}
	ids, ok := idList(v)
	if !ok || len(ids) == 0 {
		return false
	}
	q.GroupIDs = ids
	return true
}

// usersDelete deletes the users listed (ids that are no user's are skipped) with everything
// they own. Codes: 1 Users missing (users.md); gatewayd's 2 Users not a list of ids.
func (a *App) usersDelete(ctx context.Context, req *dispatcher.Request) (any, error) {
	ids, ok := idList(req.Params.Value("Users"))
	if !ok || len(ids) == 0 {
		return nil, dispatcher.Invalid(dispatcher.Field("Users", 2, "Invalid Users (comma-separated user ids)"))
	}
	if _, err := a.DB.DeleteUsers(ctx, ids); err != nil {
		return nil, err
	}
	return map[string]any{"ErrorText": ""}, nil
}

// userSwitch gives an administrator a session as the user: PrivilegeType Default (the
// user's group permissions) or Full (every permission). Codes: 1 UserID missing, 2 no such
// user, 3 PrivilegeType invalid. The session is the user's in every other way, so it stops
// working when the account is disabled.
func (a *App) userSwitch(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	kind := sessionSwitch
	if p.Has("PrivilegeType") {
		pt, ok := canonical(p.String("PrivilegeType"), []string{"Default", "Full"})
		if !ok {
			return nil, dispatcher.Invalid(dispatcher.Field("PrivilegeType", 3, "Invalid privilege type (must be 'Default' or 'Full')"))
		}
		if pt == "Full" {
			kind = sessionSwitchFull
		}
	}
	u, err := a.DB.UserByID(ctx, p.Int("UserID"))
	if isNotFound(err) {
		return nil, dispatcher.NotFound(2, "User not found")
	}
	if err != nil {
		return nil, err
	}
	id, err := a.newSession(ctx, kind, u.ID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ErrorText": "", "SessionID": id, "UserInfo": userInfo(u)}, nil
}

// userSnapshot is users.md's monthly snapshot on gatewayd's data: EmailsSent is the
// recipients accepted in Month (YYYY-MM, UTC), Subscribers and Lists are the account's counts
// now (gatewayd keeps no history of them), CampaignsSent is 0 (there are no campaigns). A
// user reads their own account; an administrator names it by UserID or EmailAddress. Codes:
// 2 neither UserID nor EmailAddress (an administrator), 3 Month missing, 4 Month not
// YYYY-MM, 5 no such user (or another user's).
func (a *App) userSnapshot(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	month, err := time.Parse("2006-01", strings.TrimSpace(p.String("Month")))
	if err != nil {
		return nil, dispatcher.Invalid(dispatcher.Field("Month", 4, "Invalid month format (YYYY-MM)"))
	}
	notFound := dispatcher.NotFound(5, "User not found")
	var u *storage.User
	switch {
	case req.Principal.Kind != dispatcher.PrincipalAdmin:
		if u, err = a.userOf(ctx, req.Principal); err == nil &&
			((p.Has("UserID") && p.Int("UserID") != u.ID) || (p.Has("EmailAddress") && !strings.EqualFold(strings.TrimSpace(p.String("EmailAddress")), u.Email))) {
			return nil, notFound
		}
	case p.Has("UserID"):
		u, err = a.DB.UserByID(ctx, p.Int("UserID"))
	case p.Has("EmailAddress"):
		u, err = a.DB.UserByEmail(ctx, strings.TrimSpace(p.String("EmailAddress")))
	default:
		return nil, dispatcher.Invalid(dispatcher.Field("UserID", 2, "Missing UserID parameter"))
	}
	if isNotFound(err) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	sent, err := a.DB.UsageInMonth(ctx, u.ID, month.Year()*100+int(month.Month()))
	if err != nil {
		return nil, err
	}
	use, err := a.DB.UserUtilization(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"CampaignsSent": 0, "EmailsSent": sent, "Subscribers": use.Subscribers, "Lists": use.Lists}, nil
}
