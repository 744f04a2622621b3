package commands

import (
	"context"
	"encoding/json"
	"net"
	"sort"
	"strconv"
	"strings"

	"gatewayd/commands/compose"
	"gatewayd/dispatcher"
	"gatewayd/secret"
	"gatewayd/storage"
)

// Subscribers (octeth-5.9.4/subscribers.md): subscriber.create, subscriber.subscribe,
// subscriber.unsubscribe, subscriber.optin, subscriber.update, subscriber.get,
// subscriber.exists, subscriber.get.activity, subscribers.get, subscribers.search,
// subscribers.delete, subscribers.delete.all. Tags are in subscribertags.go, import and
// export jobs in subscriberjobs.go. docs/audience.md says what is left out and why.

func (a *App) registerSubscribers(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{
		Name: "subscriber.create", Auth: dispatcher.AuthUser, Permission: "Subscribers.Import",
		RateLimited: true, Handler: a.subscriberCreate,
	})
	r.Register(&dispatcher.Command{Name: "subscriber.subscribe", Auth: dispatcher.AuthPublic, Handler: a.subscriberSubscribe})
	r.Register(&dispatcher.Command{Name: "subscriber.unsubscribe", Auth: dispatcher.AuthPublic, Handler: a.subscriberUnsubscribe})
	r.Register(&dispatcher.Command{Name: "subscriber.optin", Auth: dispatcher.AuthPublic, Handler: a.subscriberOptIn})
	r.Register(&dispatcher.Command{
		Name: "subscriber.update", Auth: dispatcher.AuthUser, Permission: "Subscriber.Update",
		Handler: a.subscriberUpdate,
	})
	r.Register(&dispatcher.Command{
		Name: "subscriber.get", Auth: dispatcher.AuthUser, Permission: "Subscribers.Get",
		RateLimited: true, Handler: a.subscriberGet,
	})
	r.Register(&dispatcher.Command{
		Name: "subscriber.exists", Auth: dispatcher.AuthUser, Permission: "Subscribers.Get",
		Handler: a.subscriberExists,
	})
	r.Register(&dispatcher.Command{
		Name: "subscriber.get.activity", Auth: dispatcher.AuthUser, Permission: "Subscribers.Get",
		Handler: a.subscriberActivity,
	})
	r.Register(&dispatcher.Command{
		Name: "subscribers.get", Auth: dispatcher.AuthUser, Permission: "Subscribers.Get",
		Handler: a.subscribersGet,
	})
	r.Register(&dispatcher.Command{
		Name: "subscribers.search", Auth: dispatcher.AuthUser, Permission: "Subscribers.Get",
		Handler: a.subscribersSearch,
	})
	r.Register(&dispatcher.Command{
		Name: "subscribers.delete", Auth: dispatcher.AuthUser, Permission: "Subscribers.Delete",
		Handler: a.subscribersDelete,
	})
	r.Register(&dispatcher.Command{
		Name: "subscribers.delete.all", Auth: dispatcher.AuthUser, Permission: "Subscribers.Delete",
		Handler: a.subscribersDeleteAll,
	})
}

// subIssue is a single scalar-code error, the shape most subscriber documents show
// ("ErrorCode": 1).
func subIssue(kind dispatcher.Kind, code int, msg string) *dispatcher.Error {
	return dispatcher.Fail(kind, code, msg)
}

// subscriberSources are the SubscriptionSource values; anything else is stored as Unknown.
var subscriberSources = []string{"CSVImport", "API", "Webhook", "Manual", "Other", "Unknown"}

// subscriptionStatuses are the statuses a caller may set.
var subscriptionStatuses = []string{storage.StatusOptInPending, storage.StatusSubscribed, storage.StatusOptOutPending, storage.StatusUnsubscribed}

var bounceTypes = []string{storage.BounceNone, storage.BounceSoft, storage.BounceHard}

// sourceOf reads Source/SourceRef: default def, unknown values Unknown, references cut to 64
// characters.
func sourceOf(p dispatcher.Params, def string) (string, string) {
	src := def
	if p.Has("Source") {
		src = "Unknown"
		if v, ok := canonical(p.String("Source"), subscriberSources); ok {
			src = v
		}
	}
	ref := strings.TrimSpace(p.String("SourceRef"))
	if r := []rune(ref); len(r) > 64 {
		ref = string(r[:64])
	}
	return src, ref
}

func validIP(s string) bool { return net.ParseIP(strings.TrimSpace(s)) != nil }

// fieldText renders a submitted custom field value as stored: scalars as text, multi-value
// fields (arrays) joined with "||"; empty reports a value with no non-blank content ("0" is
// a value).
func fieldText(v any) (text string, empty bool) {
	switch t := dispatcher.Normalize(v).(type) {
	case []any:
		var parts []string
		blank := true
		for _, it := range t {
			s, _ := fieldText(it)
			if strings.TrimSpace(s) != "" {
				blank = false
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, "||"), blank
	case map[string]any:
		b, _ := json.Marshal(t)
		return string(b), len(t) == 0
	}
	s, _ := dispatcher.AsString(v)
	return s, strings.TrimSpace(s) == ""
}

// fieldPolicy says which custom field checks a write applies and the codes it reports them
// with (each command numbers them differently).
type fieldPolicy struct {
	required bool // a submitted required field must not be empty
	content  bool // submitted values must pass their validation method and uniqueness
	omitted  bool // required fields not submitted at all are reported too
	// codes: required, unique, invalid
	codeRequired, codeUnique, codeInvalid int
}

// fieldProblem is the first custom field check that failed.
type fieldProblem struct {
	code  int
	field *storage.CustomField
	msg   string
}

func (fp *fieldProblem) error() *dispatcher.Error {
	e := subIssue(dispatcher.KindInvalid, fp.code, fp.msg)
	e.Extra = map[string]any{"ErrorCustomFieldID": fp.field.ID, "ErrorCustomFieldTitle": fp.field.Name}
	return e
}

// checkFields applies pol to the values submitted for a subscriber of list (exceptID: the
// subscriber itself, for uniqueness) and returns the values to store. Per submitted field the
// order is required, validation, uniqueness; omitted required fields come after every
// submitted one. A list-specific required field left out but with a default is satisfied (the
// default is written when fillDefaults); a global one never is.
func (a *App) checkFields(ctx context.Context, listID, exceptID int64, fields []storage.CustomField, submitted map[int64]any, pol fieldPolicy, fillDefaults bool) (map[string]string, *fieldProblem, error) {
	values := map[string]string{}
	ids := make([]int64, 0, len(submitted))
	for id := range submitted {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	byID := map[int64]*storage.CustomField{}
	for i := range fields {
		byID[fields[i].ID] = &fields[i]
	}
	for _, id := range ids {
		f := byID[id]
		text, empty := fieldText(submitted[id])
		if pol.required && f.IsRequired && empty {
			return nil, &fieldProblem{pol.codeRequired, f, "Required custom field is missing"}, nil
		}
		if pol.content && !empty {
			if !ValidateFieldValue(f, text) {
				return nil, &fieldProblem{pol.codeInvalid, f, "Invalid custom field value"}, nil
			}
			if f.IsUnique {
				taken, err := a.DB.FieldValueTaken(ctx, listID, f.Key(), text, exceptID)
				if err != nil {
					return nil, nil, err
				}
				if taken {
					return nil, &fieldProblem{pol.codeUnique, f, "Custom field value is not unique"}, nil
				}
			}
		}
		values[f.Key()] = text
	}
	for i := range fields {
		f := &fields[i]
		if _, sent := submitted[f.ID]; sent {
			continue
		}
		listOwn := f.ListID == listID
		if listOwn && f.DefaultValue != "" && fillDefaults {
			values[f.Key()] = f.DefaultValue
		}
		if pol.omitted && f.IsRequired && !(listOwn && f.DefaultValue != "") {
			return nil, &fieldProblem{pol.codeRequired, f, "Required custom field is missing"}, nil
		}
	}
	return values, nil, nil
}

// fieldKeyID reads a custom field key as a field id: "12", "CustomField12" (any case).
func fieldKeyID(k string) (int64, bool) {
	k = strings.TrimSpace(k)
	if len(k) > 11 && strings.EqualFold(k[:11], "customfield") {
		k = k[11:]
	}
	id, err := strconv.ParseInt(k, 10, 64)
	return id, err == nil && id > 0
}

// subscriberView is SubscriberInformation: the subscriber's columns under Octeth's names and
// each custom field value as CustomFieldN (fields that no longer exist are left out).
func subscriberView(s *storage.Subscriber, fields []storage.CustomField) map[string]any {
	m := map[string]any{
		"SubscriberID": s.ID, "EmailAddress": s.Email, "SubscriptionStatus": s.Status, "BounceType": s.BounceType,
		"SubscriptionDate": octethTime(s.SubscriptionDate), "SubscriptionIP": s.SubscriptionIP,
		"UnsubscriptionDate": octethTime(s.UnsubscriptionDate), "UnsubscriptionIP": s.UnsubscriptionIP,
		"OptInDate": octethTime(s.OptInDate), "SubscriptionSource": s.Source, "SubscriptionSourceRef": s.SourceRef,
	}
	vals := s.Fields()
	for i := range fields {
		m["CustomField"+fields[i].Key()] = vals[fields[i].Key()]
	}
	return m
}

// suppressedSet returns which of the addresses a send to the list would be refused for (the
// list's own suppression list, the account-wide list, the user's domains' and the system's).
func (a *App) suppressedSet(ctx context.Context, userID, listID int64, emails []string) (map[string]bool, error) {
	m, err := a.DB.SuppressionMatches(ctx, storage.SuppressionScope{UserID: userID, ListID: listID}, emails)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for e := range m {
		out[e] = true
	}
	return out, nil
}

func tagViews(tags []storage.Tag) []map[string]any {
	out := make([]map[string]any, 0, len(tags))
	for _, t := range tags {
		out = append(out, map[string]any{"TagID": t.ID, "TagName": t.Name})
	}
	return out
}

// subscriberFull is the subscriber as subscriber.create and subscriber.get answer it.
func (a *App) subscriberFull(ctx context.Context, s *storage.Subscriber, fields []storage.CustomField) (map[string]any, error) {
	sup, err := a.suppressedSet(ctx, s.UserID, s.ListID, []string{s.Email})
	if err != nil {
		return nil, err
	}
	tags, err := a.DB.SubscriberTags(ctx, []int64{s.ID})
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"SubscriberInformation": subscriberView(s, fields), "Suppressed": sup[strings.ToLower(s.Email)],
		"SubscriberTags": tagViews(tags[s.ID]), "SubscriberSegments": []any{},
	}, nil
}

// createError is subscriber.create's error: a scalar code and, as its document shows, an
// Errors array (on /api/v1 too).
func createError(kind dispatcher.Kind, code int, msg string) *dispatcher.Error {
	e := subIssue(kind, code, msg)
	e.Extra = map[string]any{"Success": false, "ErrorCode": code, "Errors": []map[string]any{{"Code": code, "Message": msg}}}
	return e
}

// subscriberCreate: codes as subscriber.create's table.
func (a *App) subscriberCreate(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	listID, ok := p.IntOK("ListID")
	if !p.Has("ListID") {
		return nil, createError(dispatcher.KindInvalid, 1, "Missing ListID parameter")
	}
	email := strings.TrimSpace(p.String("EmailAddress"))
	if email == "" {
		return nil, createError(dispatcher.KindInvalid, 2, "Missing EmailAddress parameter")
	}
	if !compose.ValidAddress(email) {
		return nil, createError(dispatcher.KindInvalid, 3, "Invalid EmailAddress")
	}
	if !ok || listID <= 0 {
		return nil, createError(dispatcher.KindInvalid, 4, "Invalid ListID")
	}
	s := &storage.Subscriber{Email: email, Status: storage.StatusSubscribed, BounceType: storage.BounceNone}
	if p.Has("BounceType") {
		v, ok := canonical(p.String("BounceType"), bounceTypes)
		if !ok {
			return nil, createError(dispatcher.KindInvalid, 5, "Invalid BounceType value")
		}
		s.BounceType = v
	}
	if p.Has("Status") {
		v, ok := canonical(p.String("Status"), subscriptionStatuses)
		if !ok {
			return nil, createError(dispatcher.KindInvalid, 6, "Invalid Status value")
		}
		s.Status = v
	}
	switch s.Status {
	case storage.StatusSubscribed, storage.StatusOptInPending:
		if !p.Has("SubscriptionDate") {
			return nil, createError(dispatcher.KindInvalid, 8, "Missing SubscriptionDate parameter")
		}
		t, ok := parseOctethTime(p.String("SubscriptionDate"))
		if !ok {
			return nil, createError(dispatcher.KindInvalid, 7, "Invalid SubscriptionDate value")
		}
		if !p.Has("SubscriptionIP") {
			return nil, createError(dispatcher.KindInvalid, 9, "Missing SubscriptionIP parameter")
		}
		if !validIP(p.String("SubscriptionIP")) {
			return nil, createError(dispatcher.KindInvalid, 10, "Invalid SubscriptionIP value")
		}
		s.SubscriptionDate, s.SubscriptionIP = t, strings.TrimSpace(p.String("SubscriptionIP"))
	default:
		if !p.Has("UnsubscriptionDate") {
			return nil, createError(dispatcher.KindInvalid, 11, "Missing UnsubscriptionDate parameter")
		}
		if !p.Has("UnsubscriptionIP") {
			return nil, createError(dispatcher.KindInvalid, 12, "Missing UnsubscriptionIP parameter")
		}
		t, ok := parseOctethTime(p.String("UnsubscriptionDate"))
		if !ok {
			return nil, createError(dispatcher.KindInvalid, 13, "Invalid UnsubscriptionDate value")
		}
		if !validIP(p.String("UnsubscriptionIP")) {
			return nil, createError(dispatcher.KindInvalid, 14, "Invalid UnsubscriptionIP value")
		}
		s.UnsubscriptionDate, s.UnsubscriptionIP = t, strings.TrimSpace(p.String("UnsubscriptionIP"))
	}
	if v, sent := dispatcher.Lookup(p.Tree(), "OptInDate"); sent && v != nil {
		str, _ := dispatcher.AsString(v)
		if strings.TrimSpace(str) == "" {
			return nil, createError(dispatcher.KindInvalid, 15, "Missing OptInDate parameter")
		}
		t, ok := parseOctethTime(str)
		if !ok {
			return nil, createError(dispatcher.KindInvalid, 16, "Invalid OptInDate value")
		}
		s.OptInDate = t
	}
	l, err := a.DB.ListByID(ctx, req.Principal.UserID, listID)
	if isNotFound(err) {
		return nil, createError(dispatcher.KindNotFound, 23, "Invalid list information")
	}
	if err != nil {
		return nil, err
	}
	var confirmID int64
	if p.Has("OptInConfirmationEmailID") {
		id, ok := p.IntOK("OptInConfirmationEmailID")
		if !ok || id <= 0 {
			return nil, createError(dispatcher.KindInvalid, 24, "Invalid OptInConfirmationEmailID value")
		}
		if _, err := a.DB.ListEmailByID(ctx, req.Principal.UserID, id); isNotFound(err) {
			return nil, createError(dispatcher.KindNotFound, 25, "Invalid OptInConfirmationEmailID (email does not exist or does not belong to user)")
		} else if err != nil {
			return nil, err
		}
		confirmID = id
	}
	fields, err := a.DB.FieldsForList(ctx, l.UserID, l.ID, true, "id", false)
	if err != nil {
		return nil, err
	}
	submitted, bad := submittedFields(p.Value("CustomFields"), fields)
	if bad {
		return nil, createError(dispatcher.KindInvalid, 17, "Invalid Custom Field value")
	}
	pol := fieldPolicy{codeRequired: 26, codeUnique: 27, codeInvalid: 28}
	if p.Bool("EnforceRequiredFields") {
		pol.required, pol.content, pol.omitted = true, true, true
	}
	existing, err := a.DB.SubscriberByEmail(ctx, l.UserID, l.ID, email)
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	var exceptID int64
	if err == nil {
		exceptID = existing.ID
		switch {
		case existing.Status == storage.StatusUnsubscribed && !p.Bool("UpdateIfUnsubscribed"):
			return nil, createError(dispatcher.KindConflict, 21, "Previously unsubscribed EmailAddress")
		case existing.Status != storage.StatusUnsubscribed && !p.Bool("UpdateIfDuplicate"):
			return nil, createError(dispatcher.KindConflict, 20, "Duplicate EmailAddress")
		}
	}
	values, prob, err := a.checkFields(ctx, l.ID, exceptID, fields, submitted, pol, exceptID == 0)
	if err != nil {
		return nil, err
	}
	if prob != nil {
		e := createError(dispatcher.KindInvalid, prob.code, prob.msg)
		e.Extra["ErrorCustomFieldID"], e.Extra["ErrorCustomFieldTitle"] = prob.field.ID, prob.field.Name
		return nil, e
	}
	s.Source, s.SourceRef = sourceOf(p, "API")
	s.ListID, s.UserID = l.ID, l.UserID
	if s.Status == storage.StatusOptInPending {
		s.ConfirmationCode = secret.HexToken(16)
	}
	if existing != nil && exceptID != 0 {
		merged := existing.Fields()
		for k, v := range values {
			merged[k] = v
		}
		s.ID, s.CreatedAt = existing.ID, existing.CreatedAt
		s.SetFields(merged)
		if err := a.DB.UpdateSubscriber(ctx, s); err != nil {
			return nil, err
		}
	} else {
		s.SetFields(values)
		if err := a.DB.CreateSubscriber(ctx, s); err == storage.ErrDuplicate {
			return nil, createError(dispatcher.KindConflict, 20, "Duplicate EmailAddress")
		} else if err != nil {
			return nil, err
		}
	}
	if err := a.DB.TouchList(ctx, l.ID); err != nil {
		return nil, err
	}
	if s.Status == storage.StatusOptInPending && p.Bool("SendConfirmationEmail") {
		if confirmID == 0 {
			confirmID = l.ConfirmationEmailID
		}
		a.sendOptInConfirmation(ctx, l, s, confirmID)
	}
	out, err := a.subscriberFull(ctx, s, fields)
	if err != nil {
		return nil, err
	}
	out["SubscriberJourneys"], out["SubscriberWebsiteEvents"] = []any{}, []any{}
	if req.Meta.Surface == "v1" {
		out["Success"], out["ErrorCode"] = true, 0
	}
	return out, nil
}

// submittedFields reads a CustomFields object (keys: field ids, or CustomFieldN) against the
// fields of the list; bad reports a key that is not one of them (another list's or user's
// field, or no field at all).
func submittedFields(v any, fields []storage.CustomField) (map[int64]any, bool) {
	out := map[int64]any{}
	obj, _ := v.(map[string]any)
	if v != nil && obj == nil {
		if s, ok := v.(string); !ok || strings.TrimSpace(s) != "" {
			return nil, true
		}
	}
	known := map[int64]bool{}
	for _, f := range fields {
		known[f.ID] = true
	}
	for k, val := range obj {
		id, ok := fieldKeyID(k)
		if !ok || !known[id] {
			return nil, true
		}
		out[id] = val
	}
	return out, false
}

// listRedirect is a redirect page URL from the list's settings ("" when none is set).
func listRedirect(l *storage.List, key string) string {
	var settings map[string]any
	_ = json.Unmarshal([]byte(l.Settings), &settings)
	s, _ := settings[key].(string)
	return s
}

// publicList reads a public command's list id; the list may be anyone's (the subscriber
// forms of every tenant post here), archived lists included.
func (a *App) publicList(ctx context.Context, id int64) (*storage.List, error) {
	if id <= 0 {
		return nil, storage.ErrNotFound
	}
	return a.DB.ListByIDAnyOwner(ctx, id)
}

// subscriberSubscribe: codes as subscriber.subscribe's table. A Double opt-in list makes the
// subscriber Opt-In Pending (with a confirmation code and the list's confirmation email);
// an unsubscribed address subscribes again.
func (a *App) subscriberSubscribe(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	if !p.Has("ListID") {
		return nil, subIssue(dispatcher.KindInvalid, 1, "Missing ListID parameter")
	}
	email := strings.TrimSpace(p.String("EmailAddress"))
	if email == "" {
		return nil, subIssue(dispatcher.KindInvalid, 2, "Missing EmailAddress parameter")
	}
	ip := strings.TrimSpace(p.String("IPAddress"))
	if ip == "" {
		return nil, subIssue(dispatcher.KindInvalid, 3, "Missing IPAddress parameter")
	}
	var lists []*storage.List
	ids, ok := idList(p.Value("ListID"))
	if !ok || len(ids) == 0 {
		return nil, subIssue(dispatcher.KindNotFound, 4, "Invalid ListID")
	}
	for _, id := range ids {
		l, err := a.publicList(ctx, id)
		if isNotFound(err) {
			return nil, subIssue(dispatcher.KindNotFound, 4, "Invalid ListID")
		}
		if err != nil {
			return nil, err
		}
		lists = append(lists, l)
	}
	if !compose.ValidAddress(email) {
		return nil, subIssue(dispatcher.KindInvalid, 5, "Invalid EmailAddress")
	}
	first := lists[0]
	fields, err := a.DB.FieldsForList(ctx, first.UserID, first.ID, true, "id", false)
	if err != nil {
		return nil, err
	}
	submitted := map[int64]any{}
	known := map[int64]bool{}
	for _, f := range fields {
		known[f.ID] = true
	}
	for k, v := range p.Tree() {
		if len(k) > 11 && strings.EqualFold(k[:11], "customfield") {
			if id, ok := fieldKeyID(k); ok && known[id] {
				submitted[id] = v
			}
		}
	}
	pol := fieldPolicy{required: true, content: true, omitted: p.Bool("EnforceRequiredFields"), codeRequired: 6, codeUnique: 7, codeInvalid: 8}
	src, ref := sourceOf(p, "API")
	var result *storage.Subscriber
	var redirect string
	for i, l := range lists {
		existing, err := a.DB.SubscriberByEmail(ctx, l.UserID, l.ID, email)
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		if err == nil && existing.Status != storage.StatusUnsubscribed {
			return nil, subIssue(dispatcher.KindConflict, 9, "Duplicate email address")
		}
		var values map[string]string
		if i == 0 {
			var except int64
			if existing != nil && err == nil {
				except = existing.ID
			}
			v, prob, err := a.checkFields(ctx, l.ID, except, fields, submitted, pol, true)
			if err != nil {
				return nil, err
			}
			if prob != nil {
				return nil, prob.error()
			}
			values = v
		}
		s, err := a.subscribeOne(ctx, l, existing, email, ip, src, ref, values)
		if err != nil {
			a.Log.ErrorContext(ctx, "subscriber.subscribe", "err", err)
			return nil, subIssue(dispatcher.KindUnprocessable, 10, "Subscription failed")
		}
		if i == 0 {
			result = s
			redirect = listRedirect(l, "SubscriptionConfirmedPageURL")
			if s.Status == storage.StatusOptInPending {
				redirect = listRedirect(l, "SubscriptionConfirmationPendingPageURL")
			}
		}
	}
	return map[string]any{
		"SubscriberID": result.ID, "RedirectURL": redirect,
		"Subscriber": map[string]any{"SubscriberID": result.ID, "EmailAddress": result.Email, "SubscriptionStatus": result.Status},
	}, nil
}

// subscribeOne subscribes email to l (re-subscribing an unsubscribed existing row) and sends
// the opt-in confirmation of a Double opt-in list.
func (a *App) subscribeOne(ctx context.Context, l *storage.List, existing *storage.Subscriber, email, ip, src, ref string, values map[string]string) (*storage.Subscriber, error) {
	now := timeNow().Unix()
	s := &storage.Subscriber{ListID: l.ID, UserID: l.UserID, Email: email, Status: storage.StatusSubscribed,
		BounceType: storage.BounceNone, SubscriptionDate: now, SubscriptionIP: ip, OptInDate: now, Source: src, SourceRef: ref}
	if l.OptInMode == storage.OptInDouble {
		s.Status, s.OptInDate, s.ConfirmationCode = storage.StatusOptInPending, 0, secret.HexToken(16)
	}
	if existing != nil && existing.ID != 0 {
		merged := existing.Fields()
		for k, v := range values {
			merged[k] = v
		}
		s.ID, s.CreatedAt, s.Source, s.SourceRef = existing.ID, existing.CreatedAt, existing.Source, existing.SourceRef
		s.SetFields(merged)
		if err := a.DB.UpdateSubscriber(ctx, s); err != nil {
			return nil, err
		}
	} else {
		s.SetFields(values)
		if err := a.DB.CreateSubscriber(ctx, s); err != nil {
			return nil, err
		}
	}
	if err := a.DB.TouchList(ctx, l.ID); err != nil {
		return nil, err
	}
	if s.Status == storage.StatusOptInPending {
		a.sendOptInConfirmation(ctx, l, s, l.ConfirmationEmailID)
	}
	return s, nil
}

// subscriberOptIn confirms a pending subscription with the code of its confirmation email.
func (a *App) subscriberOptIn(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	switch {
	case !p.Has("ListID"):
		return nil, subIssue(dispatcher.KindInvalid, 1, "Missing ListID parameter")
	case !p.Has("SubscriberID"):
		return nil, subIssue(dispatcher.KindInvalid, 2, "Missing SubscriberID parameter")
	case !p.Has("ConfirmationCode"):
		return nil, subIssue(dispatcher.KindInvalid, 3, "Missing ConfirmationCode parameter")
	}
	l, err := a.publicList(ctx, p.Int("ListID"))
	if isNotFound(err) {
		return nil, subIssue(dispatcher.KindNotFound, 5, "Subscriber not found")
	}
	if err != nil {
		return nil, err
	}
	s, err := a.DB.SubscriberByID(ctx, l.UserID, l.ID, p.Int("SubscriberID"))
	if isNotFound(err) {
		return nil, subIssue(dispatcher.KindNotFound, 5, "Subscriber not found")
	}
	if err != nil {
		return nil, err
	}
	code := strings.TrimSpace(p.String("ConfirmationCode"))
	if s.ConfirmationCode == "" || !secret.Equal(code, s.ConfirmationCode) {
		return nil, subIssue(dispatcher.KindInvalid, 4, "Invalid confirmation code")
	}
	if s.Status == storage.StatusOptInPending {
		if err := a.DB.SetSubscriberStatus(ctx, l.ID, s.ID, storage.StatusSubscribed, "", req.Meta.RemoteIP); err != nil {
			return nil, err
		}
	}
	return map[string]any{"RedirectURL": listRedirect(l, "SubscriptionConfirmedPageURL")}, nil
}

// subscriberUnsubscribe: codes as subscriber.unsubscribe's table. One subscriber by address
// or id, or every subscriber matching RulesJSON. The list's OptOutAddToSuppressionList and
// OptOutAddToGlobalSuppressionList (unless BypassListSuppressionSettings) and
// AddToGlobalSuppression add the address to the list's and the account-wide suppression list.
func (a *App) subscriberUnsubscribe(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	if !p.Has("ListID") {
		return nil, subIssue(dispatcher.KindInvalid, 1, "Missing ListID parameter")
	}
	ip := strings.TrimSpace(p.String("IPAddress"))
	if ip == "" {
		return nil, subIssue(dispatcher.KindInvalid, 2, "Missing IPAddress parameter")
	}
	email := strings.TrimSpace(p.String("EmailAddress"))
	subID := p.Int("SubscriberID")
	rulesSent := rulesGiven(p.Value("RulesJSON"))
	if email == "" && subID <= 0 && !rulesSent {
		return nil, subIssue(dispatcher.KindInvalid, 3, "Missing EmailAddress/SubscriberID parameter")
	}
	l, err := a.publicList(ctx, p.Int("ListID"))
	if isNotFound(err) {
		return nil, subIssue(dispatcher.KindNotFound, 4, "Invalid ListID")
	}
	if err != nil {
		return nil, err
	}
	var targets []storage.Subscriber
	if rulesSent {
		f, rerr := a.parseRules(p.Value("RulesJSON"), p.String("RulesOperator"))
		if rerr != nil {
			e := subIssue(dispatcher.KindInvalid, 7, msgBadRules)
			return nil, e
		}
		f.ListID = l.ID
		if err := a.DB.EachSubscriber(ctx, f, func(s *storage.Subscriber) error {
			if s.Status != storage.StatusUnsubscribed {
				targets = append(targets, *s)
			}
			return nil
		}); err != nil {
			a.Log.ErrorContext(ctx, "subscriber.unsubscribe rules", "err", err)
			return nil, subIssue(dispatcher.KindInternal, 11, "Invalid query builder response")
		}
	} else {
		var s *storage.Subscriber
		if subID > 0 {
			s, err = a.DB.SubscriberByID(ctx, l.UserID, l.ID, subID)
		} else {
			if !compose.ValidAddress(email) {
				return nil, subIssue(dispatcher.KindInvalid, 6, "Invalid EmailAddress")
			}
			s, err = a.DB.SubscriberByEmail(ctx, l.UserID, l.ID, email)
		}
		if isNotFound(err) {
			return nil, subIssue(dispatcher.KindNotFound, 7, "Subscriber not found")
		}
		if err != nil {
			return nil, err
		}
		if s.Status == storage.StatusUnsubscribed {
			return nil, subIssue(dispatcher.KindConflict, 9, "Subscriber already unsubscribed")
		}
		targets = append(targets, *s)
	}
	if p.Bool("Preview") {
		return map[string]any{"RedirectURL": listRedirect(l, "UnsubscriptionConfirmedPageURL")}, nil
	}
	bypass := p.Bool("BypassListSuppressionSettings")
	var sup []storage.Suppression
	for _, s := range targets {
		if err := a.DB.SetSubscriberStatus(ctx, l.ID, s.ID, storage.StatusUnsubscribed, "", ip); err != nil {
			return nil, err
		}
		if l.OptOutAddToSuppression && !bypass {
			sup = append(sup, storage.Suppression{UserID: l.UserID, ListID: l.ID, Email: s.Email, Source: storage.SuppressUnsubscribe})
		}
		if (l.OptOutAddToGlobalSuppression && !bypass) || p.Bool("AddToGlobalSuppression") {
			sup = append(sup, storage.Suppression{UserID: l.UserID, Email: s.Email, Source: storage.SuppressUnsubscribe})
		}
	}
	if len(sup) > 0 {
		if _, err := a.DB.AddSuppressions(ctx, sup); err != nil {
			return nil, err
		}
	}
	return map[string]any{"RedirectURL": listRedirect(l, "UnsubscriptionConfirmedPageURL")}, nil
}

// subscriberUpdate: codes as subscriber.update's table.
func (a *App) subscriberUpdate(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	if !p.Has("SubscriberID") {
		return nil, subIssue(dispatcher.KindInvalid, 1, "Missing SubscriberID parameter")
	}
	if !p.Has("SubscriberListID") {
		return nil, subIssue(dispatcher.KindInvalid, 2, "Missing SubscriberListID parameter")
	}
	if v, sent := dispatcher.Lookup(p.Tree(), "EmailAddress"); sent && v != nil && strings.TrimSpace(p.String("EmailAddress")) == "" {
		return nil, subIssue(dispatcher.KindInvalid, 3, "Missing EmailAddress parameter")
	}
	email := strings.TrimSpace(p.String("EmailAddress"))
	if email != "" && !compose.ValidAddress(email) {
		return nil, subIssue(dispatcher.KindInvalid, 4, "Invalid EmailAddress")
	}
	l, err := a.ownList(ctx, req, p.Int("SubscriberListID"), 5, "Invalid ListID")
	if err != nil {
		return nil, scalar(err)
	}
	s, err := a.DB.SubscriberByID(ctx, l.UserID, l.ID, p.Int("SubscriberID"))
	if isNotFound(err) {
		return nil, subIssue(dispatcher.KindNotFound, 6, "Subscriber not found")
	}
	if err != nil {
		return nil, err
	}
	if email != "" {
		s.Email = email
	}
	if v := p.String("SubscriptionStatus"); v != "" {
		st, ok := canonical(v, subscriptionStatuses)
		if !ok {
			return nil, subIssue(dispatcher.KindInvalid, 6, "Invalid SubscriptionStatus")
		}
		if st != s.Status {
			now := timeNow().Unix()
			switch st {
			case storage.StatusUnsubscribed:
				s.UnsubscriptionDate, s.UnsubscriptionIP = now, req.Meta.RemoteIP
			case storage.StatusSubscribed:
				if s.SubscriptionDate == 0 {
					s.SubscriptionDate = now
				}
				if s.OptInDate == 0 {
					s.OptInDate = now
				}
				s.UnsubscriptionDate, s.UnsubscriptionIP = 0, ""
			}
			s.Status = st
		}
	}
	if v := p.String("UnsubscriptionIP"); v != "" {
		s.UnsubscriptionIP = strings.TrimSpace(v)
	}
	if v := p.String("UnsubscriptionDate"); v != "" {
		if t, ok := parseOctethTime(v); ok {
			s.UnsubscriptionDate = t
		}
	}
	if v := p.String("BounceType"); v != "" {
		if b, ok := canonical(v, bounceTypes); ok {
			s.BounceType = b
		}
	}
	fields, err := a.DB.FieldsForList(ctx, l.UserID, l.ID, true, "id", false)
	if err != nil {
		return nil, err
	}
	known := map[int64]bool{}
	for _, f := range fields {
		known[f.ID] = true
	}
	submitted := map[int64]any{}
	var unknown []int64
	if obj, ok := p.Value("Fields").(map[string]any); ok {
		for k, v := range obj {
			id, ok := fieldKeyID(k)
			if !ok || !known[id] {
				unknown = append(unknown, id)
				continue
			}
			submitted[id] = v
		}
	}
	if len(unknown) > 0 {
		sort.Slice(unknown, func(i, j int) bool { return unknown[i] < unknown[j] })
		e := subIssue(dispatcher.KindInvalid, 11, "Unknown custom field ID(s)")
		e.Extra = map[string]any{"ErrorCustomFieldIDs": unknown}
		return nil, e
	}
	pol := fieldPolicy{required: true, codeRequired: 8, codeUnique: 9, codeInvalid: 10}
	if p.Bool("EnforceRequiredFields") {
		pol.content = true
	}
	values, prob, err := a.checkFields(ctx, l.ID, s.ID, fields, submitted, pol, false)
	if err != nil {
		return nil, err
	}
	if prob != nil {
		return nil, prob.error()
	}
	merged := s.Fields()
	for k, v := range values {
		merged[k] = v
	}
	s.SetFields(merged)
	if err := a.DB.UpdateSubscriber(ctx, s); err == storage.ErrDuplicate {
		return nil, subIssue(dispatcher.KindConflict, 7, "Duplicate EmailAddress")
	} else if err != nil {
		return nil, err
	}
	if err := a.DB.TouchList(ctx, l.ID); err != nil {
		return nil, err
	}
	return map[string]any{"ErrorText": ""}, nil
}

// scalar turns a list-shaped error (ownList's) into a scalar code, as the subscriber
// documents show most errors.
func scalar(err error) error {
	if e, ok := err.(*dispatcher.Error); ok {
		c := *e
		c.List = false
		return &c
	}
	return err
}

// subscriberByRef finds a subscriber of l by SubscriberID or EmailAddress.
func (a *App) subscriberByRef(ctx context.Context, l *storage.List, p dispatcher.Params) (*storage.Subscriber, error) {
	if id := p.Int("SubscriberID"); id > 0 {
		return a.DB.SubscriberByID(ctx, l.UserID, l.ID, id)
	}
	return a.DB.SubscriberByEmail(ctx, l.UserID, l.ID, p.String("EmailAddress"))
}

func (a *App) subscriberGet(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	if !p.Has("EmailAddress") && !p.Has("SubscriberID") {
		return nil, listIssue(dispatcher.KindInvalid, 1, "Missing EmailAddress/SubscriberID parameter")
	}
	if !p.Has("ListID") {
		return nil, listIssue(dispatcher.KindInvalid, 2, "Missing ListID parameter")
	}
	l, err := a.ownList(ctx, req, p.Int("ListID"), 4, "Invalid ListID")
	if err != nil {
		return nil, err
	}
	s, err := a.subscriberByRef(ctx, l, p)
	if isNotFound(err) {
		return nil, listIssue(dispatcher.KindNotFound, 3, "Subscriber not found")
	}
	if err != nil {
		return nil, err
	}
	fields, err := a.DB.FieldsForList(ctx, l.UserID, l.ID, true, "id", false)
	if err != nil {
		return nil, err
	}
	out, err := a.subscriberFull(ctx, s, fields)
	if err != nil {
		return nil, err
	}
	include := func(name string) bool {
		v, ok := p.BoolOK(name)
		return !ok || v
	}
	if !include("IncludeTags") {
		delete(out, "SubscriberTags")
	}
	if !include("IncludeSegments") {
		delete(out, "SubscriberSegments")
	}
	if include("IncludeJourneys") {
		out["SubscriberJourneys"] = map[string]any{"InProgress": []any{}, "Completed": []any{}}
	}
	if include("IncludeEvents") {
		out["SubscriberWebsiteEvents"] = []any{}
	}
	if include("IncludeActivity") {
		act, err := a.activityOf(ctx, s, 100)
		if err != nil {
			return nil, err
		}
		out["SubscriberActivity"] = act
	}
	if include("IncludeRevenue") {
		out["TotalRevenue"] = 0
	}
	return out, nil
}

func (a *App) subscriberExists(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	if !p.Has("ListID") {
		return nil, subIssue(dispatcher.KindInvalid, 1, "Missing ListID parameter")
	}
	if !p.Has("EmailAddress") {
		return nil, subIssue(dispatcher.KindInvalid, 2, "Missing EmailAddress parameter")
	}
	l, err := a.ownList(ctx, req, p.Int("ListID"), 3, "Invalid ListID")
	if err != nil {
		return nil, scalar(err)
	}
	s, err := a.DB.SubscriberByEmail(ctx, l.UserID, l.ID, p.String("EmailAddress"))
	if isNotFound(err) {
		return map[string]any{"Exists": false, "SubscriberID": 0}, nil
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"Exists": true, "SubscriberID": s.ID}, nil
}

// activityOf is the subscriber's activity from gatewayd's own events of the mail sent to it
// for its list: sends, deliveries, opens, clicks, bounces, complaints and unsubscribes,
// newest first.
func (a *App) activityOf(ctx context.Context, s *storage.Subscriber, limit int) ([]map[string]any, error) {
	rows, err := a.DB.SubscriberEvents(ctx, s.ListID, s.ID, limit)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(rows))
	for _, r := range rows {
		m := map[string]any{
			"ActivityType": activityTypes[r.Type], "CampaignID": 0, "EmailID": 0,
			"MessageID": r.MessageUUID, "ActivityDate": octethTime(r.CreatedAt),
		}
		if r.URL != "" {
			m["URL"] = r.URL
		}
		out = append(out, m)
	}
	return out, nil
}

// activityTypes names gatewayd's event types as subscriber.get.activity does.
var activityTypes = map[string]string{
	storage.EventAccepted: "EmailSent", storage.EventDelivered: "EmailDelivered", storage.EventOpened: "EmailOpen",
	storage.EventClicked: "EmailClick", storage.EventBounced: "EmailBounce", storage.EventFailed: "EmailBounce",
	storage.EventDeferred: "EmailSoftBounce", storage.EventUnsubscribed: "Unsubscription", storage.EventComplained: "SpamComplaint",
}

func (a *App) subscriberActivity(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	if !p.Has("SubscriberID") {
		return nil, subIssue(dispatcher.KindInvalid, 1, "Missing SubscriberID parameter")
	}
	if !p.Has("SubscriberListID") {
		return nil, subIssue(dispatcher.KindInvalid, 2, "Missing SubscriberListID parameter")
	}
	l, err := a.ownList(ctx, req, p.Int("SubscriberListID"), 3, "Subscriber not found")
	if err != nil {
		return nil, scalar(err)
	}
	s, err := a.DB.SubscriberByID(ctx, l.UserID, l.ID, p.Int("SubscriberID"))
	if isNotFound(err) {
		return nil, subIssue(dispatcher.KindNotFound, 3, "Subscriber not found")
	}
	if err != nil {
		return nil, err
	}
	act, err := a.activityOf(ctx, s, 1000)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Activity": act}, nil
}

// segments maps subscribers.get's SubscriberSegment names to storage segments.
var segments = []string{storage.SegmentActive, storage.SegmentSuppressed, storage.SegmentUnsubscribed,
	storage.SegmentSoftBounced, storage.SegmentHardBounced, storage.SegmentOptInPending}

// page reads RecordsPerRequest / RecordsFrom / OrderField / OrderType. A JSON integer 0 (or
// nothing) is the default 25; a string "0" is a page of no rows, as the documents describe.
func page(p dispatcher.Params) storage.SubscriberPage {
	pg := storage.SubscriberPage{Limit: 25, Order: "EmailAddress"}
	if v, ok := dispatcher.Lookup(p.Tree(), "RecordsPerRequest"); ok && v != nil {
		n, ok := dispatcher.AsInt(v)
		_, isString := v.(string)
		switch {
		case ok && n > 0:
			pg.Limit = int(min(n, 1000))
		case ok && n == 0 && isString:
			pg.Limit = 0
		}
	}
	if n := p.Int("RecordsFrom"); n > 0 {
		pg.Offset = int(n)
	}
	if o := p.String("OrderField"); o != "" {
		if id, ok := fieldKeyID(o); ok {
			pg.Order = strconv.FormatInt(id, 10)
		} else if storage.SubscriberColumn(o) {
			pg.Order = o
		}
	}
	pg.Desc = strings.EqualFold(p.String("OrderType"), "DESC")
	return pg
}

var defaultSearchFields = []string{"EmailAddress", "SubscriberID", "SubscriptionDate", "SubscriptionIP", "OptInDate"}

// subscribersGet: codes 1 list id, 2 segment, 3 list, 4 search field. A numeric segment is
// a saved segment, which gatewayd does not keep: code 2 (docs/audience.md).
func (a *App) subscribersGet(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	if !p.Has("SubscriberListID") {
		return nil, subIssue(dispatcher.KindInvalid, 1, "Missing SubscriberListID parameter")
	}
	if !p.Has("SubscriberSegment") {
		return nil, subIssue(dispatcher.KindInvalid, 2, "Missing SubscriberSegment parameter")
	}
	l, err := a.ownList(ctx, req, p.Int("SubscriberListID"), 3, "Invalid ListID or list does not belong to user")
	if err != nil {
		return nil, scalar(err)
	}
	seg, ok := canonical(p.String("SubscriberSegment"), segments)
	if !ok {
		return nil, subIssue(dispatcher.KindNotFound, 2, "Segment not found")
	}
	f := storage.SubscriberFilter{ListID: l.ID, Segment: seg}
	if kw := p.String("SearchKeyword"); kw != "" {
		field := p.String("SearchField")
		if field == "" {
			field = "EmailAddress"
		}
		if c, ok := canonical(field, defaultSearchFields); ok {
			f.SearchField = c
		} else if id, ok := fieldKeyID(field); ok && !strings.HasPrefix(strings.ToLower(field), "customfield") {
			f.SearchField = strconv.FormatInt(id, 10)
		} else {
			return nil, subIssue(dispatcher.KindInvalid, 4, "Invalid SearchField")
		}
		f.Keyword = kw
	} else if field := p.String("SearchField"); field != "" {
		if _, ok := canonical(field, defaultSearchFields); !ok {
			if _, ok := fieldKeyID(field); !ok || strings.HasPrefix(strings.ToLower(field), "customfield") {
				return nil, subIssue(dispatcher.KindInvalid, 4, "Invalid SearchField")
			}
		}
	}
	rows, total, err := a.DB.Subscribers(ctx, f, page(p))
	if err != nil {
		return nil, err
	}
	fields, err := a.DB.FieldsForList(ctx, l.UserID, l.ID, true, "id", false)
	if err != nil {
		return nil, err
	}
	subs := make([]map[string]any, 0, len(rows))
	for i := range rows {
		subs = append(subs, subscriberView(&rows[i], fields))
	}
	return map[string]any{"ErrorText": "", "Subscribers": subs, "TotalSubscribers": total}, nil
}

// subscribersSearch: codes [1] list id, [2] operator, [3] list, [6] RulesJSON.
func (a *App) subscribersSearch(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	var issues []dispatcher.Issue
	if !p.Has("ListID") {
		issues = append(issues, dispatcher.Field("ListID", 1, "Missing ListID parameter"))
	}
	if !p.Has("Operator") {
		issues = append(issues, dispatcher.Field("Operator", 2, "Missing Operator parameter"))
	}
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	l, err := a.ownList(ctx, req, p.Int("ListID"), 3, "ListID not found")
	if err != nil {
		return nil, err
	}
	op := p.String("Operator")
	f := storage.SubscriberFilter{}
	if rulesGiven(p.Value("RulesJSON")) {
		f, err = a.parseRules(p.Value("RulesJSON"), op)
		if err != nil {
			return nil, listIssue(dispatcher.KindInvalid, 6, msgBadRules)
		}
	}
	f.ListID = l.ID
	pg := page(p)
	if p.Bool("OnlyTotal") {
		pg.Limit = 0
	}
	rows, total, err := a.DB.Subscribers(ctx, f, pg)
	if err != nil {
		a.Log.ErrorContext(ctx, "subscribers.search", "err", err)
		return nil, listIssue(dispatcher.KindInvalid, 4, "Problem with the segment engine")
	}
	if p.Bool("OnlyTotal") {
		return map[string]any{"ErrorText": "", "TotalSubscribers": total}, nil
	}
	fields, err := a.DB.FieldsForList(ctx, l.UserID, l.ID, true, "id", false)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(rows))
	emails := make([]string, 0, len(rows))
	for _, s := range rows {
		ids, emails = append(ids, s.ID), append(emails, s.Email)
	}
	tags, err := a.DB.SubscriberTags(ctx, ids)
	if err != nil {
		return nil, err
	}
	sup, err := a.suppressedSet(ctx, l.UserID, l.ID, emails)
	if err != nil {
		return nil, err
	}
	subs := make([]map[string]any, 0, len(rows))
	for i := range rows {
		v := subscriberView(&rows[i], fields)
		v["SubscriberTags"] = tagViews(tags[rows[i].ID])
		v["Suppressed"] = sup[strings.ToLower(rows[i].Email)]
		v["TotalRevenue"] = 0
		subs = append(subs, v)
	}
	return map[string]any{"ErrorText": "", "TotalSubscribers": total, "Subscribers": subs}, nil
}

// subscribersDelete: codes 2 list id, 5 list, 6 rules failed, 7 RulesJSON, 8 Subscribers.
// With Suppressed the addresses of the named subscribers leave the list's suppression list
// instead.
func (a *App) subscribersDelete(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	if !p.Has("SubscriberListID") {
		return nil, subIssue(dispatcher.KindInvalid, 2, "Missing subscriber list id")
	}
	l, err := a.ownList(ctx, req, p.Int("SubscriberListID"), 5, "Invalid list id")
	if err != nil {
		return nil, scalar(err)
	}
	var ids []int64
	switch {
	case p.Has("Subscribers"):
		var ok bool
		ids, ok = idList(p.Value("Subscribers"))
		if !ok {
			return nil, subIssue(dispatcher.KindInvalid, 8, "Invalid Subscribers value (contains a non-integer subscriber ID)")
		}
	case rulesGiven(p.Value("RulesJSON")):
		f, err := a.parseRules(p.Value("RulesJSON"), p.String("RulesOperator"))
		if err != nil {
			return nil, subIssue(dispatcher.KindInvalid, 7, msgBadRules)
		}
		f.ListID = l.ID
		if ids, err = a.DB.SubscriberIDs(ctx, f); err != nil {
			a.Log.ErrorContext(ctx, "subscribers.delete rules", "err", err)
			return nil, subIssue(dispatcher.KindInvalid, 6, "Invalid query builder response")
		}
	default:
		return nil, subIssue(dispatcher.KindInvalid, 8, "Missing Subscribers parameter")
	}
	if p.Bool("Suppressed") {
		rows, _, err := a.DB.Subscribers(ctx, storage.SubscriberFilter{ListID: l.ID, IDs: ids}, storage.SubscriberPage{Limit: len(ids) + 1})
		if err != nil {
			return nil, err
		}
		var emails []string
		for _, s := range rows {
			emails = append(emails, s.Email)
		}
		if _, err := a.DB.UnsuppressInList(ctx, l.ID, emails); err != nil {
			return nil, err
		}
		return map[string]any{"ErrorText": ""}, nil
	}
	if _, err := a.DB.DeleteSubscribers(ctx, l.ID, ids); err != nil {
		return nil, err
	}
	return map[string]any{"ErrorText": ""}, nil
}

// subscribersDeleteAll: codes 1 missing, 3 not a list id, 4 not the caller's list, 5 failed.
func (a *App) subscribersDeleteAll(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	if !p.Has("ListID") {
		return nil, subIssue(dispatcher.KindInvalid, 1, "Missing ListID parameter")
	}
	id, ok := p.IntOK("ListID")
	if !ok || id <= 0 {
		return nil, subIssue(dispatcher.KindInvalid, 3, "Invalid list ID")
	}
	l, err := a.DB.ListByID(ctx, req.Principal.UserID, id)
	if isNotFound(err) {
		return nil, subIssue(dispatcher.KindNotFound, 4, "Access denied to this list")
	}
	if err != nil {
		return nil, err
	}
	if err := a.DB.DeleteAllSubscribers(ctx, l.ID, p.Bool("DeleteListTags")); err != nil {
		a.Log.ErrorContext(ctx, "subscribers.delete.all", "err", err)
		return nil, subIssue(dispatcher.KindUnprocessable, 5, "Failed to delete subscribers")
	}
	return dispatcher.Bare{}, nil
}
