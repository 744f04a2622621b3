package commands

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"gatewayd/commands/compose"
	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// Lists (octeth-5.9.4/lists.md): list.create, list.get, list.update, list.archive,
// list.unarchive, list.clone, lists.get, lists.delete. The statistics and analytics commands
// are in listreports.go. docs/audience.md says what is left out and why.

func (a *App) registerLists(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{
		Name: "list.create", Auth: dispatcher.AuthUser, Permission: "List.Create",
		Handler: a.listCreate,
	})
	r.Register(&dispatcher.Command{
		Name: "list.get", Auth: dispatcher.AuthUser, Permission: "List.Get",
		Params:  []dispatcher.Param{{Name: "ListID", Type: dispatcher.Int, Required: true, Code: 1, Message: "Missing list ID"}},
		Handler: a.listGet,
	})
	r.Register(&dispatcher.Command{
		Name: "list.update", Auth: dispatcher.AuthUser, Permission: "List.Update",
		Params:  []dispatcher.Param{{Name: "SubscriberListID", Type: dispatcher.Int, Required: true, Code: 1, Message: "Missing subscriber list ID"}},
		Handler: a.listUpdate,
	})
	for _, c := range []struct {
		name    string
		archive bool
	}{{"list.archive", true}, {"list.unarchive", false}} {
		archive := c.archive
		r.Register(&dispatcher.Command{
			Name: c.name, Auth: dispatcher.AuthUser, Permission: "List.Update",
			Params: []dispatcher.Param{{Name: "SubscriberListID", Type: dispatcher.Int, Required: true, Code: 1, Message: "Missing subscriber list id"}},
			Handler: func(ctx context.Context, req *dispatcher.Request) (any, error) {
				return a.listArchive(ctx, req, archive)
			},
		})
	}
	r.Register(&dispatcher.Command{
		Name: "list.clone", Auth: dispatcher.AuthUser, Permission: "List.Create",
		Params: []dispatcher.Param{
			{Name: "SubscriberListID", Type: dispatcher.Int, Required: true, Code: 1, Message: "Missing source subscriber list id"},
			{Name: "Name", Required: true, Code: 2, Message: "Missing new list name"},
			{Name: "IncludeCustomFields", Type: dispatcher.Bool, Code: 2, Message: "Invalid IncludeCustomFields"},
		},
		Handler: a.listClone,
	})
	r.Register(&dispatcher.Command{
		Name: "lists.get", Auth: dispatcher.AuthUser, Permission: "Lists.Get",
		Handler: a.listsGet,
	})
	r.Register(&dispatcher.Command{
		Name: "lists.delete", Auth: dispatcher.AuthUser, Permission: "List.Delete",
		Params:  []dispatcher.Param{{Name: "Lists", Required: true, Code: 1, Message: "List IDs are missing"}},
		Handler: a.listsDelete,
	})
}

// listIssue is a single-code error rendered as an array, as the list documents show
// ("ErrorCode": [2]).
func listIssue(kind dispatcher.Kind, code int, msg string) *dispatcher.Error {
	return &dispatcher.Error{Kind: kind, Issues: []dispatcher.Issue{{Code: code, Message: msg}}, List: true}
}

// octethTime renders unix seconds as Octeth does ("2006-01-02 15:04:05", UTC); 0 is null.
func octethTime(t int64) any {
	if t == 0 {
		return nil
	}
	return time.Unix(t, 0).UTC().Format(time.DateTime)
}

// octethTimeString is octethTime with "" for 0, where a document shows a string.
func octethTimeString(t int64) string {
	if t == 0 {
		return ""
	}
	return time.Unix(t, 0).UTC().Format(time.DateTime)
}

// parseOctethTime reads "Y-m-d" or "Y-m-d H:i:s" (UTC).
func parseOctethTime(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.DateTime, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Unix(), true
		}
	}
	return 0, false
}

// idList parses a comma-separated list of positive integers (ids may also arrive as a JSON
// array); ok is false when any item is not one.
func idList(v any) (ids []int64, ok bool) {
	parts, isList := stringList(v)
	if s, scalar := dispatcher.AsString(v); !isList && scalar {
		parts = []string{s}
	}
	var items []string
	for _, p := range parts {
		items = append(items, strings.Split(p, ",")...)
	}
	ok = true
	for _, it := range items {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		n, err := strconv.ParseInt(it, 10, 64)
		if err != nil || n <= 0 {
			ok = false
			continue
		}
		ids = append(ids, n)
	}
	return ids, ok
}

// yesNo renders a flag as Octeth's "Yes"/"No".
func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

// parseYesNo reads "Yes"/"No" (and the usual booleans); ok is false for anything else.
func parseYesNo(s string) (v, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "true", "1", "on":
		return true, true
	case "no", "false", "0", "off":
		return false, true
	}
	return false, false
}

func canonical(s string, allowed []string) (string, bool) {
	for _, a := range allowed {
		if strings.EqualFold(strings.TrimSpace(s), a) {
			return a, true
		}
	}
	return "", false
}

// listView is a list as list.get, list.update and lists.get show it.
func (a *App) listView(l *storage.List, active int64) map[string]any {
	var settings map[string]any
	_ = json.Unmarshal([]byte(l.Settings), &settings)
	m := map[string]any{}
	for k, v := range settings {
		m[k] = v
	}
	m["ListID"] = l.ID
	m["Name"] = l.Name
	m["Description"] = l.Description
	m["RelOwnerUserID"] = l.UserID
	m["OptInMode"] = l.OptInMode
	m["SenderName"] = l.SenderName
	m["SenderEmailAddress"] = l.SenderEmail
	m["SenderCompany"] = l.SenderCompany
	m["SenderAddress"] = l.SenderAddress
	m["RelOptInConfirmationEmailID"] = l.ConfirmationEmailID
	m["OptOutAddToSuppressionList"] = yesNo(l.OptOutAddToSuppression)
	m["OptOutAddToGlobalSuppressionList"] = yesNo(l.OptOutAddToGlobalSuppression)
	m["CreatedOn"] = octethTime(l.CreatedAt)
	m["ArchivedAt"] = octethTime(l.ArchivedAt)
	m["LastActivityAt"] = octethTime(l.LastActivityAt)
	m["SubscriberCount"] = active
	m["ActiveSubscriberCount"] = active
	m["SegmentCount"] = 0
	m["Options"] = listOptionsView(l.Options)
	m["EncryptedSaltedListID"] = a.saltedListID(l.ID)
	tracker := a.trackerID("list", l.ID)
	m["EventListTrackerID"] = tracker
	m["EventUserTrackerID"] = a.trackerID("user", l.UserID)
	m["EventTrackerVariables"] = map[string]any{}
	m["EventTrackerJS"] = ""
	m["EventTrackerProperties"] = []any{}
	m["LastEventTrackedAt"] = nil
	return m
}

// saltedListID is Octeth's md5(salt . ListID), salted with a key derived from the server key.
func (a *App) saltedListID(id int64) string {
	sum := md5.Sum(append(a.Keys.Subkey("list-salt"), strconv.FormatInt(id, 10)...))
	return hex.EncodeToString(sum[:])
}

// trackerID is an opaque, stable public id for a list or user.
func (a *App) trackerID(kind string, id int64) string {
	m := hmac.New(sha256.New, a.Keys.Subkey("tracker-"+kind))
	m.Write([]byte(strconv.FormatInt(id, 10)))
	return hex.EncodeToString(m.Sum(nil))[:12]
}

// listOptionsView decodes the stored options; the ClickBank secret is never shown, only
// whether one is set.
func listOptionsView(raw string) map[string]any {
	opts := map[string]any{}
	_ = json.Unmarshal([]byte(raw), &opts)
	if cb, ok := opts["ClickBankINS"].(map[string]any); ok {
		_, set := cb["SecretKeyEnc"]
		delete(cb, "SecretKeyEnc")
		cb["SecretKeyMasked"] = ""
		if set {
			cb["SecretKeyMasked"] = "********"
		}
	}
	return opts
}

// ownList returns the caller's list or code at the list documents' error shape.
func (a *App) ownList(ctx context.Context, req *dispatcher.Request, id int64, code int, msg string) (*storage.List, error) {
	if id <= 0 {
		return nil, listIssue(dispatcher.KindNotFound, code, msg)
	}
	l, err := a.DB.ListByID(ctx, req.Principal.UserID, id)
	if isNotFound(err) {
		return nil, listIssue(dispatcher.KindNotFound, code, msg)
	}
	return l, err
}

// listCreate: codes 1 missing name, 20 bad OptInMode, 21-26 ConfirmationEmail problems
// (list.create's table), 30 the bundled create failed and was rolled back.
func (a *App) listCreate(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	l := &storage.List{
		UserID:        req.Principal.UserID,
		Name:          strings.TrimSpace(p.String("SubscriberListName")),
		Description:   p.String("Description"),
		SenderName:    p.String("SenderName"),
		SenderEmail:   strings.TrimSpace(p.String("SenderEmailAddress")),
		SenderCompany: p.String("SenderCompany"),
		SenderAddress: p.String("SenderAddress"),
		OptInMode:     storage.OptInSingle,
	}
	var issues []dispatcher.Issue
	if l.Name == "" {
		issues = append(issues, dispatcher.Field("SubscriberListName", 1, "Missing subscriber list name"))
	}
	if m := p.String("OptInMode"); m != "" {
		if v, ok := canonical(m, []string{storage.OptInSingle, storage.OptInDouble}); ok {
			l.OptInMode = v
		} else {
			issues = append(issues, dispatcher.Field("OptInMode", 20, "Invalid optinmode (must be Single or Double)"))
		}
	}
	var confirm *storage.ListEmail
	if v, sent := dispatcher.Lookup(p.Tree(), "ConfirmationEmail"); sent && v != nil {
		var ce map[string]any
		if err := dispatcher.DecodeValue(v, &ce); err != nil {
			ce = map[string]any{}
		}
		c := dispatcher.NewParams(ce)
		confirm = &storage.ListEmail{
			Subject: c.String("Subject"), FromName: c.String("FromName"), FromEmail: strings.TrimSpace(c.String("FromEmail")),
			ReplyToName: c.String("ReplyToName"), ReplyToEmail: c.String("ReplyToEmail"),
			HTMLContent: c.String("HTMLContent"), PlainContent: c.String("PlainContent"),
			Preheader: c.String("PreHeaderText"), Name: c.String("EmailName"), Mode: "Empty",
			TemplateID: c.Int("RelTemplateID"),
		}
		if !c.Has("Subject") || !c.Has("FromName") || !c.Has("FromEmail") || !c.Has("ContentType") {
			issues = append(issues, dispatcher.Field("ConfirmationEmail", 21, "Missing required confirmationemail sub-field (subject, fromname, fromemail, or contenttype)"))
		}
		if ct := c.String("ContentType"); ct != "" {
			if v, ok := canonical(ct, []string{"HTML", "Plain", "Both"}); ok {
				confirm.ContentType = v
			} else {
				issues = append(issues, dispatcher.Field("ConfirmationEmail.ContentType", 22, "Invalid confirmationemail.contenttype (must be HTML, Plain, or Both)"))
			}
		}
		if (confirm.ContentType == "HTML" || confirm.ContentType == "Both") && !c.Has("HTMLContent") {
			issues = append(issues, dispatcher.Field("ConfirmationEmail.HTMLContent", 23, "confirmationemail.htmlcontent is required when contenttype is HTML or Both"))
		}
		if (confirm.ContentType == "Plain" || confirm.ContentType == "Both") && !c.Has("PlainContent") {
			issues = append(issues, dispatcher.Field("ConfirmationEmail.PlainContent", 24, "confirmationemail.plaincontent is required when contenttype is Plain or Both"))
		}
		if m := c.String("Mode"); m != "" {
			if v, ok := canonical(m, []string{"Editor", "Stripo", "Unlayer", "Empty", "Template", "Import"}); ok {
				confirm.Mode = v
			} else {
				issues = append(issues, dispatcher.Field("ConfirmationEmail.Mode", 25, "Invalid confirmationemail.mode (must be Editor, Stripo, Unlayer, Empty, Template, or Import)"))
			}
		}
		if confirm.Mode == "Template" && confirm.TemplateID <= 0 {
			issues = append(issues, dispatcher.Field("ConfirmationEmail.RelTemplateID", 26, "confirmationemail.reltemplateid is required when confirmationemail.mode is Template"))
		}
		if confirm.FromEmail != "" && !compose.ValidAddress(confirm.FromEmail) {
			issues = append(issues, dispatcher.Field("ConfirmationEmail.FromEmail", 21, "Invalid confirmationemail.fromemail"))
		}
		l.OptInMode = storage.OptInDouble
	}
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	if err := a.DB.CreateList(ctx, l, confirm); err != nil {
		if confirm != nil {
			a.Log.ErrorContext(ctx, "list.create with confirmation email", "err", err)
			return nil, listIssue(dispatcher.KindInternal, 30, "Confirmation email creation failed; list and email were rolled back")
		}
		return nil, err
	}
	out := map[string]any{"ErrorText": "", "ListID": l.ID}
	if confirm != nil {
		out["ConfirmationEmailID"] = confirm.ID
	}
	return out, nil
}

func (a *App) activeCount(ctx context.Context, listID int64) (int64, error) {
	c, err := a.DB.StatusCounts(ctx, []int64{listID})
	if err != nil {
		return 0, err
	}
	return c[listID]["Active"], nil
}

func (a *App) listGet(ctx context.Context, req *dispatcher.Request) (any, error) {
	l, err := a.ownList(ctx, req, req.Params.Int("ListID"), 2, "Invalid list ID")
	if err != nil {
		return nil, err
	}
	n, err := a.activeCount(ctx, l.ID)
	if err != nil {
		return nil, err
	}
	view := a.listView(l, n)
	if req.Params.Bool("GetStats") {
		counts, err := a.DB.StatusCounts(ctx, []int64{l.ID})
		if err != nil {
			return nil, err
		}
		c := counts[l.ID]
		view["Stats"] = map[string]any{
			"ActiveSubscribers": c["Active"], "OptInPendingSubscribers": c[storage.StatusOptInPending],
			"UnsubscribedSubscribers": c[storage.StatusUnsubscribed], "SoftBouncedSubscribers": c[storage.BounceSoft],
			"HardBouncedSubscribers": c[storage.BounceHard], "SuppressedSubscribers": c["Suppressed"],
		}
	}
	return map[string]any{"List": view}, nil
}

// listSettingKeys are the list.update settings gatewayd stores and shows back but does not act
// on (docs/audience.md): redirect pages, subscription by email, data sync, cross-list rules.
var listSettingKeys = []string{
	"HideInSubscriberArea", "SendServiceIntegrationFailedNotification", "SendActivityNotification",
	"SubscriptionConfirmationPendingPageURL", "SubscriptionConfirmedPageURL", "SubscriptionErrorPageURL",
	"UnsubscriptionConfirmedPageURL", "UnsubscriptionErrorPageURL", "ReqByEmailSearchToAddress",
	"ReqByEmailSubscriptionCommand", "ReqByEmailUnsubscriptionCommand", "SyncStatus", "SyncPeriod",
	"SyncSendReportEmail", "SyncMySQLHost", "SyncMySQLPort", "SyncMySQLUsername", "SyncMySQLDBName",
	"SyncMySQLQuery", "SyncFieldMapping", "OptOutScope", "OptOutSubscribeTo", "OptOutUnsubscribeFrom",
	"OptInSubscribeTo", "OptInUnsubscribeFrom",
}

// listUpdate: codes as list.update's table: 2 not found, 3 OptInMode, 4 OptOutScope,
// 5 notification flags, 6 HideInSubscriberArea, 8 sync without its settings,
// 9 ReqByEmailSearchToAddress, 10 suppression flags, 11 nothing to update, 21/22 ClickBank;
// 12 (gatewayd) OptInConfirmationEmailID is not one of the caller's list emails.
func (a *App) listUpdate(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	l, err := a.ownList(ctx, req, p.Int("SubscriberListID"), 2, "Invalid subscriber list ID")
	if err != nil {
		return nil, err
	}
	var issues []dispatcher.Issue
	bad := func(field string, code int, msg string) { issues = append(issues, dispatcher.Field(field, code, msg)) }
	changed := false
	str := func(name string, dst *string) {
		if _, ok := dispatcher.Lookup(p.Tree(), name); ok {
			*dst = p.String(name)
			changed = true
		}
	}
	if p.Has("Name") {
		l.Name = strings.TrimSpace(p.String("Name"))
		changed = true
	}
	str("Description", &l.Description)
	str("SenderName", &l.SenderName)
	str("SenderEmailAddress", &l.SenderEmail)
	str("SenderCompany", &l.SenderCompany)
	str("SenderAddress", &l.SenderAddress)
	if l.SenderEmail != "" && !compose.ValidAddress(strings.TrimSpace(l.SenderEmail)) {
		bad("SenderEmailAddress", 9, "Invalid SenderEmailAddress")
	}
	if m := p.String("OptInMode"); m != "" {
		changed = true
		if v, ok := canonical(m, []string{storage.OptInSingle, storage.OptInDouble}); ok {
			l.OptInMode = v
		} else {
			bad("OptInMode", 3, "Invalid opt-in mode")
		}
	}
	if p.Has("OptInConfirmationEmailID") {
		changed = true
		id := p.Int("OptInConfirmationEmailID")
		if id == 0 {
			l.ConfirmationEmailID = 0
		} else if _, err := a.DB.ListEmailByID(ctx, req.Principal.UserID, id); err != nil {
			if !isNotFound(err) {
				return nil, err
			}
			bad("OptInConfirmationEmailID", 12, "Invalid OptInConfirmationEmailID")
		} else {
			l.ConfirmationEmailID = id
		}
	}
	for name, dst := range map[string]*bool{"OptOutAddToSuppressionList": &l.OptOutAddToSuppression, "OptOutAddToGlobalSuppressionList": &l.OptOutAddToGlobalSuppression} {
		if p.Has(name) {
			changed = true
			if v, ok := parseYesNo(p.String(name)); ok {
				*dst = v
			} else {
				bad(name, 10, "Invalid suppression list option")
			}
		}
	}
	settings := map[string]any{}
	_ = json.Unmarshal([]byte(l.Settings), &settings)
	for _, k := range listSettingKeys {
		if _, ok := dispatcher.Lookup(p.Tree(), k); ok {
			settings[k] = p.String(k)
			changed = true
		}
	}
	if s, ok := settings["OptOutScope"].(string); ok && s != "" {
		if v, ok := canonical(s, []string{"This list", "All lists"}); ok {
			settings["OptOutScope"] = v
		} else {
			bad("OptOutScope", 4, "Invalid opt-out scope")
		}
	}
	for _, k := range []string{"SendServiceIntegrationFailedNotification", "SendActivityNotification"} {
		if s, ok := settings[k].(string); ok && s != "" {
			if _, ok := dispatcher.AsBool(s); !ok {
				bad(k, 5, "Invalid send notification setting")
			}
		}
	}
	if s, ok := settings["HideInSubscriberArea"].(string); ok && s != "" {
		if _, ok := dispatcher.AsBool(s); !ok {
			bad("HideInSubscriberArea", 6, "Invalid hide in subscriber area setting")
		}
	}
	if s, _ := settings["SyncStatus"].(string); strings.EqualFold(s, "Enabled") {
		for _, k := range []string{"SyncMySQLHost", "SyncMySQLUsername", "SyncMySQLDBName", "SyncMySQLQuery"} {
			if v, _ := settings[k].(string); strings.TrimSpace(v) == "" {
				bad(k, 8, "Missing sync configuration parameters")
				break
			}
		}
	}
	if s, _ := settings["ReqByEmailSearchToAddress"].(string); s != "" && !compose.ValidAddress(s) {
		bad("ReqByEmailSearchToAddress", 9, "Invalid email address format for ReqByEmailSearchToAddress")
	}
	b, _ := json.Marshal(settings)
	l.Settings = string(b)
	if v, ok := dispatcher.Lookup(p.Tree(), "Options"); ok && v != nil {
		changed = true
		merged, iss := a.mergeListOptions(l.Options, v)
		issues = append(issues, iss...)
		l.Options = merged
	}
	if !changed && len(issues) == 0 {
		bad("", 11, "Nothing to update")
	}
	if l.Name == "" {
		bad("Name", 11, "Name cannot be empty")
	}
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	if err := a.DB.UpdateList(ctx, l); err != nil {
		return nil, err
	}
	n, err := a.activeCount(ctx, l.ID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ErrorText": "", "List": a.listView(l, n)}, nil
}

var listOptionKeys = []string{"DoNotSendEmailCampaignIfRecipientIsEnrolledInJourneyOrAutoresponder",
	"PlainEmailHeader", "PlainEmailFooter", "HTMLEmailHeader", "HTMLEmailFooter", "ClickBankINS"}

// mergeListOptions merges a list.update Options object into the stored one under the
// canonical key names; the ClickBank secret is sealed with the server key.
func (a *App) mergeListOptions(stored string, v any) (string, []dispatcher.Issue) {
	opts := map[string]any{}
	_ = json.Unmarshal([]byte(stored), &opts)
	var in map[string]any
	if err := dispatcher.DecodeValue(v, &in); err != nil {
		return stored, []dispatcher.Issue{dispatcher.Field("Options", 11, "Options must be an object")}
	}
	var issues []dispatcher.Issue
	for _, key := range listOptionKeys {
		val, ok := dispatcher.Lookup(in, key)
		if !ok {
			continue
		}
		if key != "ClickBankINS" {
			opts[key] = val
			continue
		}
		cbIn, _ := val.(map[string]any)
		cb, _ := opts[key].(map[string]any)
		if cb == nil {
			cb = map[string]any{}
		}
		for _, sub := range []string{"Enabled", "TriggerAutomation", "FieldMapping"} {
			if x, ok := dispatcher.Lookup(cbIn, sub); ok {
				cb[sub] = x
			}
		}
		if x, ok := dispatcher.Lookup(cbIn, "TransactionTypeActions"); ok {
			actions, _ := x.(map[string]any)
			for _, act := range actions {
				s, _ := act.(string)
				if _, ok := canonical(s, []string{"subscribe", "unsubscribe", "ignore"}); !ok {
					issues = append(issues, dispatcher.Field("Options.ClickBankINS.TransactionTypeActions", 22, "ClickBank transaction-type action must be one of: subscribe, unsubscribe, ignore"))
					break
				}
			}
			cb["TransactionTypeActions"] = actions
		}
		if x, ok := dispatcher.Lookup(cbIn, "SecretKey"); ok {
			s, _ := dispatcher.AsString(x)
			switch {
			case s == "__unchanged__":
			case s == "":
				delete(cb, "SecretKeyEnc")
			case len(s) != 8:
				issues = append(issues, dispatcher.Field("Options.ClickBankINS.SecretKey", 21, "ClickBank secret key must be exactly 8 characters"))
			default:
				enc, err := a.Keys.Encrypt([]byte(s))
				if err != nil {
					issues = append(issues, dispatcher.Field("Options.ClickBankINS.SecretKey", 20, "ClickBank secret key encryption failed"))
				} else {
					cb["SecretKeyEnc"] = enc
				}
			}
		}
		opts[key] = cb
	}
	b, _ := json.Marshal(opts)
	return string(b), issues
}

func (a *App) listArchive(ctx context.Context, req *dispatcher.Request, archive bool) (any, error) {
	l, err := a.ownList(ctx, req, req.Params.Int("SubscriberListID"), 2, "Invalid subscriber list id")
	if err != nil {
		return nil, err
	}
	at := int64(0)
	if archive {
		at = l.ArchivedAt
		if at == 0 {
			at = timeNow().Unix()
		}
	}
	if err := a.DB.SetListArchived(ctx, l.UserID, l.ID, at); err != nil {
		return nil, err
	}
	return map[string]any{"ErrorText": ""}, nil
}

func (a *App) listClone(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	name := strings.TrimSpace(p.String("Name"))
	if name == "" {
		return nil, listIssue(dispatcher.KindInvalid, 2, "Missing new list name")
	}
	src, err := a.ownList(ctx, req, p.Int("SubscriberListID"), 2, "Invalid subscriber list id")
	if err != nil {
		return nil, err
	}
	withFields := true
	if v, ok := p.BoolOK("IncludeCustomFields"); ok {
		withFields = v
	}
	l, n, err := a.DB.CloneList(ctx, src, name, withFields)
	if err != nil {
		a.Log.ErrorContext(ctx, "list.clone", "err", err)
		return nil, listIssue(dispatcher.KindInternal, 4, "Failed to clone the list")
	}
	return map[string]any{"ErrorText": "", "ListID": l.ID, "CustomFieldsCloned": n}, nil
}

func (a *App) listsGet(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	q := storage.ListQuery{UserID: req.Principal.UserID, Search: p.String("Search"), Archived: strings.ToLower(p.String("Archived"))}
	q.Order = map[string]string{"listid": "id", "name": "name", "createdon": "created_at", "archivedat": "archived_at",
		"activesubscribercount": "active_count", "lastactivityat": "last_activity_at"}[strings.ToLower(p.String("OrderField"))]
	q.Desc = strings.EqualFold(p.String("OrderType"), "DESC")
	if n := p.Int("RecordsPerRequest"); n > 0 {
		q.Limit = int(n)
	}
	if n := p.Int("RecordsFrom"); n > 0 {
		q.Offset = int(n)
	}
	rows, total, err := a.DB.Lists(ctx, q)
	if err != nil {
		return nil, err
	}
	lists := make([]map[string]any, 0, len(rows))
	for i := range rows {
		lists = append(lists, a.listView(&rows[i].List, rows[i].ActiveCount))
	}
	return map[string]any{"ErrorText": "", "TotalListCount": total, "Lists": lists}, nil
}

func (a *App) listsDelete(ctx context.Context, req *dispatcher.Request) (any, error) {
	ids, ok := idList(req.Params.Value("Lists"))
	if !ok || len(ids) == 0 {
		return nil, listIssue(dispatcher.KindInvalid, 1, "List IDs are missing")
	}
	if _, err := a.DB.DeleteLists(ctx, req.Principal.UserID, ids); err != nil {
		return nil, err
	}
	return map[string]any{"ErrorText": ""}, nil
}
