package commands

import (
	"context"
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// User groups beyond usergroup.create and usergroup.get (octeth-5.9.4 users.md):
// usergroup.update, usergroup.patch, usergroup.delete, usergroup.duplicate and
// usergroups.get. A group's name and Permissions are columns; every other documented field
// is kept in the group's settings object and answered back. What gatewayd does with each
// field (and what it only keeps) is in docs/api.md.

// groupRequired are the fields users.md requires on usergroup.create and usergroup.update,
// with their codes.
var groupRequired = []dispatcher.Param{
	{Name: "GroupName", Required: true, Code: 1, Message: "Missing GroupName parameter"},
	{Name: "SubscriberAreaLogoutURL", Required: true, Code: 2, Message: "Missing SubscriberAreaLogoutURL parameter"},
	{Name: "LimitSubscribers", Type: dispatcher.Int, Required: true, Code: 5, Message: "Missing LimitSubscribers parameter"},
	{Name: "LimitLists", Type: dispatcher.Int, Required: true, Code: 6, Message: "Missing LimitLists parameter"},
	{Name: "LimitCampaignSendPerPeriod", Type: dispatcher.Int, Required: true, Code: 7, Message: "Missing LimitCampaignSendPerPeriod parameter"},
	{Name: "RelThemeID", Type: dispatcher.Int, Required: true, Code: 8, Message: "Missing RelThemeID parameter"},
	{Name: "ForceUnsubscriptionLink", Required: true, Code: 17, Message: "Missing ForceUnsubscriptionLink parameter"},
	{Name: "ForceRejectOptLink", Required: true, Code: 18, Message: "Missing ForceRejectOptLink parameter"},
}

func (a *App) registerUserGroups(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{
		Name: "usergroup.update", Auth: dispatcher.AuthAdmin,
		Params: append([]dispatcher.Param{
			{Name: "UserGroupID", Type: dispatcher.Int, Required: true, Code: 20, Message: "Missing UserGroupID parameter"}},
			groupRequired...),
		Handler: a.userGroupUpdate,
	})
	r.Register(&dispatcher.Command{
		Name: "usergroup.patch", Auth: dispatcher.AuthAdmin,
		Params:  []dispatcher.Param{{Name: "UserGroupID", Type: dispatcher.Int, Required: true, Code: 20, Message: "Missing UserGroupID parameter"}},
		Handler: a.userGroupPatch,
	})
	r.Register(&dispatcher.Command{
		Name: "usergroup.delete", Auth: dispatcher.AuthAdmin,
		Params:  []dispatcher.Param{{Name: "UserGroupID", Type: dispatcher.Any, Required: true, Code: 1, Message: "Missing UserGroupID parameter"}},
		Handler: a.userGroupDelete,
	})
	r.Register(&dispatcher.Command{
		Name: "usergroup.duplicate", Auth: dispatcher.AuthAdmin,
		Params:  []dispatcher.Param{{Name: "UserGroupID", Type: dispatcher.Int, Required: true, Code: 1, Message: "Missing UserGroupID parameter"}},
		Handler: a.userGroupDuplicate,
	})
	r.Register(&dispatcher.Command{
		Name: "usergroups.get", Auth: dispatcher.AuthAdmin,
		Handler: a.userGroupsGet,
	})
}

// groupFieldKind is how a settings field is validated.
type groupFieldKind uint8

const (
	gfString      groupFieldKind = iota
	gfInt                        // base-10, 32-bit (code 32)
	gfNumber                     // a decimal number (code 32)
	gfEnabled                    // Enabled | Disabled (code 26)
	gfTrial                      // Yes | No, Enabled/Disabled as aliases (code 27)
	gfSendMethod                 // code 22
	gfSMTPSecure                 // ssl | tls | "" (code 23)
	gfSMTPAuth                   // true | false (code 24)
	gfOptions                    // an object or a JSON string of one (code 28)
	gfRateLimits                 // likewise, merged over the defaults (code 29)
	gfName                       // GroupName: 1-255 characters, one line (gatewayd's code 33)
	gfPermissions                // a comma list or an array of strings (code 30)
)

type groupField struct {
	name string
	kind groupFieldKind
}

// groupFields are usergroup.patch's fields in the order UpdatedFields lists them.
// SendMethodSMTPPassword is not among them: gatewayd has no per-group send method and keeps
// no password it would never use.
var groupFields = []groupField{
	{"GroupName", gfName}, {"RelThemeID", gfInt}, {"SubscriberAreaLogoutURL", gfString},
	{"ForceUnsubscriptionLink", gfEnabled}, {"ForceRejectOptLink", gfEnabled}, {"ForceOptInList", gfEnabled},
	{"Permissions", gfPermissions}, {"PaymentSystem", gfEnabled}, {"CreditSystem", gfEnabled},
	{"PaymentPricingRange", gfString}, {"PaymentCampaignsPerRecipient", gfEnabled},
	{"PaymentCampaignsPerCampaignCost", gfNumber}, {"PaymentAutoRespondersChargeAmount", gfNumber},
	{"PaymentAutoRespondersPerRecipient", gfEnabled}, {"PaymentDesignPrevChargeAmount", gfNumber},
	{"PaymentDesignPrevChargePerReq", gfNumber}, {"PaymentSystemChargeAmount", gfNumber},
	{"LimitSubscribers", gfInt}, {"LimitLists", gfInt}, {"LimitCampaignSendPerPeriod", gfInt},
	{"LimitEmailSendPerPeriod", gfInt}, {"LimitEmailSendPerDay", gfInt}, {"LimitEmailSendLifetime", gfInt},
	{"LimitEmailGatewaySenderDomains", gfInt}, {"ThresholdImport", gfInt}, {"ThresholdEmailSend", gfInt},
	{"PlainEmailHeader", gfString}, {"PlainEmailFooter", gfString}, {"HTMLEmailHeader", gfString},
	{"HTMLEmailFooter", gfString}, {"TrialGroup", gfTrial}, {"TrialExpireSeconds", gfInt}, {"XMailer", gfString},
	{"SendMethod", gfSendMethod}, {"SendMethodSaveToDiskDir", gfString}, {"SendMethodPowerMTAVMTA", gfString},
	{"SendMethodPowerMTADir", gfString}, {"SendMethodLocalMTAPath", gfString}, {"SendMethodSMTPHost", gfString},
	{"SendMethodSMTPPort", gfInt}, {"SendMethodSMTPSecure", gfSMTPSecure}, {"SendMethodSMTPTimeOut", gfInt},
	{"SendMethodSMTPAuth", gfSMTPAuth}, {"SendMethodSMTPUsername", gfString}, {"Options", gfOptions},
	{"DefaultRateLimits", gfRateLimits}, {"CustomEmailHeaders", gfString}, {"SubscriptionPlan", gfString},
}

// rateIntervals are the intervals of each DefaultRateLimits bucket.
var rateIntervals = []string{"Minute", "Hour", "Day", "Week", "Month", "Year"}

// defaultRateLimits is the canonical all-unlimited DefaultRateLimits.
func defaultRateLimits() map[string]any {
	out := map[string]any{}
	for _, b := range []string{"SMS", "EmailGateway"} {
		m := map[string]any{}
		for _, i := range rateIntervals {
			m[i] = -1
		}
		out[b] = m
	}
	return out
}

// groupSettings is a group's settings over the defaults of a group that never set them.
func groupSettings(g *storage.UserGroup) map[string]any {
	m := map[string]any{
		"LimitCampaignSendPeriod": "Monthly", "LimitEmailSendPeriod": "Monthly",
		"TrialGroup": "No", "SendMethod": "System", "SendMethodSMTPSecure": "", "SendMethodSMTPAuth": "false",
		"Options": map[string]any{}, "DefaultRateLimits": defaultRateLimits(),
	}
	for _, f := range groupFields {
		if _, set := m[f.name]; set {
			continue
		}
		switch f.kind {
		case gfInt, gfNumber:
			m[f.name] = 0
		case gfEnabled:
			m[f.name] = StatusDisabled
		case gfString:
			m[f.name] = ""
		}
	}
	if g != nil && g.Settings != "" {
		var stored map[string]any
		if json.Unmarshal([]byte(g.Settings), &stored) == nil {
			for k, v := range stored {
				m[k] = v
			}
		}
	}
	return m
}

// groupInfo is a group as the usergroup commands answer it.
func groupInfo(g *storage.UserGroup) map[string]any {
	m := groupSettings(g)
	m["UserGroupID"] = g.ID
	m["GroupName"] = g.Name
	m["Permissions"] = g.Permissions
	return m
}

// groupFieldError is a patch error naming the field, as users.md's ErrorField.
func groupFieldError(code int, msg, field string) *dispatcher.Error {
	e := dispatcher.Fail(dispatcher.KindInvalid, code, msg)
	e.Extra = map[string]any{"ErrorField": strings.ToLower(field)}
	return e
}

var decimalInt = regexp.MustCompile(`^-?[0-9]+$`)

// parseGroupField validates one value of field f; coerce turns any Enabled/Disabled value
// that is not Enabled into Disabled (usergroup.update) instead of refusing it (patch).
func parseGroupField(f groupField, v any, coerce bool) (any, *dispatcher.Error) {
	switch f.kind {
	case gfOptions, gfRateLimits:
		obj, ok := jsonObject(v)
		if !ok {
			if f.kind == gfOptions {
				return nil, groupFieldError(28, "Invalid Options payload: an object, or a JSON string decoding to one", f.name)
			}
			return nil, groupFieldError(29, "Invalid DefaultRateLimits payload: an object, or a JSON string decoding to one", f.name)
		}
		if f.kind == gfOptions {
			return obj, nil
		}
		merged := defaultRateLimits()
		for bucket, iv := range obj {
			b, isObj := iv.(map[string]any)
			dst, known := merged[bucket].(map[string]any)
			if !isObj || !known {
				return nil, groupFieldError(29, "Invalid DefaultRateLimits payload: buckets are SMS and EmailGateway, each an object of integer counts", f.name)
			}
			for k, x := range b {
				n, ok := strictInt(x)
				iv, known := canonical(k, rateIntervals)
				if !ok || !known {
					return nil, groupFieldError(29, "Invalid DefaultRateLimits payload: intervals are Minute, Hour, Day, Week, Month, Year with integer counts", f.name)
				}
				dst[iv] = n
			}
		}
		return merged, nil
	case gfPermissions:
		switch t := dispatcher.Normalize(v).(type) {
		case string:
			return strings.Join(splitPermissions(t), ","), nil
		case []any:
			var out []string
			for _, x := range t {
				s, ok := x.(string)
				if !ok {
					return nil, groupFieldError(30, "Invalid Permissions payload: a comma-separated string, or an array of strings", f.name)
				}
				out = append(out, splitPermissions(s)...)
			}
			return strings.Join(out, ","), nil
		}
		return nil, groupFieldError(30, "Invalid Permissions payload: a comma-separated string, or an array of strings", f.name)
	}
	switch v.(type) {
	case map[string]any, []any:
		return nil, groupFieldError(31, "Non-scalar value for "+f.name, f.name)
	}
	s, _ := dispatcher.AsString(v)
	switch f.kind {
	case gfName:
		s = strings.TrimSpace(s)
		if s == "" || len(s) > 255 || strings.ContainsAny(s, "\r\n\x00") {
			return nil, groupFieldError(33, "Invalid GroupName (1-255 characters, one line)", f.name)
		}
		return s, nil
	case gfInt:
		n, ok := strictInt(v)
		if !ok {
			return nil, groupFieldError(32, "Invalid integer value for "+f.name+" (a base-10 32-bit integer)", f.name)
		}
		return n, nil
	case gfNumber:
		x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if _, isBool := v.(bool); isBool || err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, groupFieldError(32, "Invalid number for "+f.name, f.name)
		}
		return x, nil
	case gfEnabled:
		if e, ok := canonical(s, []string{StatusEnabled, StatusDisabled}); ok {
			return e, nil
		}
		if coerce {
			return StatusDisabled, nil
		}
		return nil, groupFieldError(26, "Invalid value for "+f.name+" (Enabled or Disabled)", f.name)
	case gfTrial:
		switch t, _ := canonical(s, []string{"Yes", "No", StatusEnabled, StatusDisabled}); t {
		case "Yes", StatusEnabled:
			return "Yes", nil
		case "No", StatusDisabled:
			return "No", nil
		}
		return nil, groupFieldError(27, "Invalid TrialGroup value (Yes or No)", f.name)
	case gfSendMethod:
		if m, ok := canonical(s, []string{"System", "SMTP", "LocalMTA", "PHPMail", "PowerMTA", "SaveToDisk"}); ok {
			return m, nil
		}
		return nil, groupFieldError(22, "Invalid send method", f.name)
	case gfSMTPSecure:
		if m, ok := canonical(s, []string{"ssl", "tls", ""}); ok {
			return m, nil
		}
		return nil, groupFieldError(23, "Invalid SendMethodSMTPSecure (ssl, tls or empty)", f.name)
	case gfSMTPAuth:
		if m, ok := canonical(s, []string{"true", "false"}); ok {
			return m, nil
		}
		return nil, groupFieldError(24, "Invalid SendMethodSMTPAuth (true or false)", f.name)
	}
	if strings.ContainsRune(s, 0) {
		return nil, groupFieldError(31, "Invalid value for "+f.name, f.name)
	}
	return s, nil
}

// strictInt accepts a base-10 integer in the signed 32-bit range: a JSON integer or a string
// of digits; no fractions, exponents, hexadecimal, booleans or empty strings.
func strictInt(v any) (int64, bool) {
	var s string
	switch t := v.(type) {
	case json.Number:
		s = t.String()
	case float64:
		s = strconv.FormatFloat(t, 'f', -1, 64)
	case string:
		s = strings.TrimSpace(t)
	default:
		return 0, false
	}
	if !decimalInt.MatchString(s) {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 32)
	return n, err == nil
}

// jsonObject accepts an object, or a JSON string that decodes to one.
func jsonObject(v any) (map[string]any, bool) {
	switch t := v.(type) {
	case map[string]any:
		n, ok := dispatcher.Normalize(t).(map[string]any)
		return n, ok || len(t) == 0
	case string:
		var m map[string]any
		if json.Unmarshal([]byte(t), &m) != nil || m == nil {
			return nil, false
		}
		return m, true
	}
	return nil, false
}

// applyGroupFields writes the fields among only that p carries onto g and returns their
// names in groupFields order; the first invalid value is the error.
func applyGroupFields(p dispatcher.Params, g *storage.UserGroup, only map[string]bool, coerce bool) ([]string, error) {
	settings := map[string]any{}
	if g.Settings != "" {
		json.Unmarshal([]byte(g.Settings), &settings)
	}
	updated := []string{}
	for _, f := range groupFields {
		if only != nil && !only[f.name] {
			continue
		}
		v, ok := dispatcher.Lookup(p.Tree(), f.name)
		if !ok || v == nil {
			continue
		}
		val, err := parseGroupField(f, v, coerce)
		if err != nil {
			return nil, err
		}
		switch f.name {
		case "GroupName":
			g.Name = val.(string)
		case "Permissions":
			g.Permissions = val.(string)
		default:
			settings[f.name] = val
		}
		updated = append(updated, f.name)
	}
	b, err := json.Marshal(settings)
	if err != nil {
		return nil, err
	}
	g.Settings = string(b)
	return updated, nil
}

// userGroupFor loads the group of UserGroupID or answers notFound.
func (a *App) userGroupFor(ctx context.Context, id int64, notFound *dispatcher.Error) (*storage.UserGroup, error) {
	g, err := a.DB.GroupByID(ctx, id)
	if isNotFound(err) {
		return nil, notFound
	}
	return g, err
}

// updateFields are the fields usergroup.update writes (users.md's parameter table, and
// Permissions, which gatewayd's groups exist for).
var updateFields = map[string]bool{
	"GroupName": true, "SubscriberAreaLogoutURL": true, "LimitSubscribers": true, "LimitLists": true,
	"LimitCampaignSendPerPeriod": true, "LimitEmailSendPerPeriod": true, "LimitEmailSendPerDay": true,
	"RelThemeID": true, "ForceUnsubscriptionLink": true, "ForceRejectOptLink": true, "DefaultRateLimits": true,
	"CustomEmailHeaders": true, "Options": true, "SubscriptionPlan": true, "Permissions": true,
}

// userGroupUpdate replaces the documented fields of a group (Force* values other than
// Enabled become Disabled, as users.md says); the optional ones keep their value when
// omitted. Codes: users.md's 1, 2, 5-8, 17, 18 missing, 20 UserGroupID missing, 21 not found,
// and the patch codes for invalid values (docs/api.md).
func (a *App) userGroupUpdate(ctx context.Context, req *dispatcher.Request) (any, error) {
	g, err := a.userGroupFor(ctx, req.Params.Int("UserGroupID"), dispatcher.NotFound(21, "User group not found"))
	if err != nil {
		return nil, err
	}
	if _, err := applyGroupFields(req.Params, g, updateFields, true); err != nil {
		return nil, err
	}
	if err := a.DB.UpdateGroup(ctx, g); err != nil {
		return nil, err
	}
	a.groupLimitCache.forget(g.ID)
	return map[string]any{}, nil
}

// userGroupPatch writes only the fields sent and answers which (UpdatedFields); a patch
// with none is a no-op that writes nothing.
func (a *App) userGroupPatch(ctx context.Context, req *dispatcher.Request) (any, error) {
	g, err := a.userGroupFor(ctx, req.Params.Int("UserGroupID"), dispatcher.NotFound(21, "User group not found"))
	if err != nil {
		return nil, err
	}
	updated, err := applyGroupFields(req.Params, g, nil, false)
	if err != nil {
		return nil, err
	}
	if len(updated) > 0 {
		if err := a.DB.UpdateGroup(ctx, g); err != nil {
			return nil, err
		}
		a.groupLimitCache.forget(g.ID)
	}
	return map[string]any{"UserGroupID": strconv.FormatInt(g.ID, 10), "UpdatedFields": updated}, nil
}

// userGroupDelete deletes the groups listed (ids of no group are skipped). Codes: 1 missing,
// 4 it would delete the last group (users.md); gatewayd's 2 UserGroupID not a list of ids,
// 5 a group still has users (nothing is deleted: move them first).
func (a *App) userGroupDelete(ctx context.Context, req *dispatcher.Request) (any, error) {
	ids, ok := idList(req.Params.Value("UserGroupID"))
	if !ok || len(ids) == 0 {
		return nil, dispatcher.Invalid(dispatcher.Field("UserGroupID", 2, "Invalid UserGroupID (comma-separated user group ids)"))
	}
	counts, err := a.DB.CountUsersInGroups(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if counts[id] > 0 {
			return nil, dispatcher.Fail(dispatcher.KindConflict, 5, "User group "+strconv.FormatInt(id, 10)+" has users; move them to another group first")
		}
	}
	for _, id := range ids {
		a.groupLimitCache.forget(id)
	}
	if _, err := a.DB.DeleteGroups(ctx, ids); err == storage.ErrLastGroup {
		return nil, dispatcher.Fail(dispatcher.KindConflict, 4, "Cannot delete the last user group")
	} else if err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

// userGroupDuplicate copies a group (name "<name> (copy)"). Codes: 1 missing, 2 not found.
func (a *App) userGroupDuplicate(ctx context.Context, req *dispatcher.Request) (any, error) {
	g, err := a.userGroupFor(ctx, req.Params.Int("UserGroupID"), dispatcher.NotFound(2, "User group not found"))
	if err != nil {
		return nil, err
	}
	c := &storage.UserGroup{Name: g.Name + " (copy)", Permissions: g.Permissions, Settings: g.Settings}
	if len(c.Name) > 255 {
		c.Name = c.Name[len(c.Name)-255:]
	}
	if err := a.DB.CreateGroup(ctx, c); err != nil {
		return nil, err
	}
	return map[string]any{"UserGroupID": c.ID}, nil
}

// noDeliveryServers is DeliveryServerAssignments: gatewayd routes by account (bound
// gateway, platform relay, direct MX), not by group, so no channel has a delivery server.
func noDeliveryServers() map[string]any {
	none := func() map[string]any { return map[string]any{"DeliveryServerID": 0, "DeliveryServerName": ""} }
	return map[string]any{"Marketing": none(), "Transactional": none(), "AutoResponder": none()}
}

func (a *App) userGroupsGet(ctx context.Context, req *dispatcher.Request) (any, error) {
	gs, err := a.DB.Groups(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(gs))
	for i := range gs {
		m := groupInfo(&gs[i])
		m["DeliveryServerAssignments"] = noDeliveryServers()
		out = append(out, m)
	}
	return map[string]any{"UserGroups": out}, nil
}

// GroupLimits are the limits of a user group that gatewayd enforces on accounts whose own
// limit is 0 (none): LimitEmailSendPerPeriod (accepted recipients per calendar month) and
// LimitEmailGatewaySenderDomains. 0 or less is no limit.
type GroupLimits struct {
	MonthlySend   int64
	SenderDomains int
}

// groupLimitTTL is how long a node trusts the limits it read (another node may change them).
const groupLimitTTL = 30 * time.Second

// groupLimits returns a group's limits (none for a group that is gone).
func (a *App) groupLimits(ctx context.Context, groupID int64) (GroupLimits, error) {
	if l, ok := a.groupLimitCache.get(groupID, 0); ok {
		return l, nil
	}
	g, err := a.DB.GroupByID(ctx, groupID)
	if err != nil && !isNotFound(err) {
		return GroupLimits{}, err
	}
	var l GroupLimits
	if err == nil {
		s := groupSettings(g)
		n, _ := dispatcher.AsInt(s["LimitEmailSendPerPeriod"])
		d, _ := dispatcher.AsInt(s["LimitEmailGatewaySenderDomains"])
		l = GroupLimits{MonthlySend: max(n, 0), SenderDomains: int(max(d, 0))}
	}
	a.groupLimitCache.put(groupID, 0, l, groupLimitTTL)
	return l, nil
}

// EffectiveLimits are the limits that apply to an account: its own, or where it has none its
// group's.
func (a *App) EffectiveLimits(ctx context.Context, u *storage.User) (monthlySend int64, senderDomains int, err error) {
	monthlySend, senderDomains = u.MonthlySendLimit, u.MaxSenderDomains
	if monthlySend > 0 && senderDomains > 0 {
		return monthlySend, senderDomains, nil
	}
	l, err := a.groupLimits(ctx, u.GroupID)
	if err != nil {
		return 0, 0, err
	}
	if monthlySend <= 0 {
		monthlySend = l.MonthlySend
	}
	if senderDomains <= 0 {
		senderDomains = l.SenderDomains
	}
	return monthlySend, senderDomains, nil
}
