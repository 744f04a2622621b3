package commands

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"gatewayd/commands/personalize"
	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// Personalization (octeth-5.9.4/personalization.md): the tag catalog and the values tags
// resolve to for a user, a subscriber and its links. The renderer is commands/personalize.

// builtinSubscriberTags are the subscriber's own columns, in catalog order.
var builtinSubscriberTags = [][2]string{
	{"SubscriberID", "Subscriber ID"}, {"EmailAddress", "Email Address"},
	{"SubscriptionStatus", "Subscription Status"}, {"SubscriptionDate", "Subscription Date"},
	{"SubscriptionIP", "Subscription IP"}, {"OptInDate", "Opt-In Date"}, {"BounceType", "Bounce Type"},
}

// userTags are the %User:...% tags: the sending account.
var userTags = [][2]string{
	{"FirstName", "First Name"}, {"LastName", "Last Name"}, {"EmailAddress", "Email Address"},
	{"CompanyName", "Company Name"}, {"Username", "Username"}, {"UserID", "User ID"},
}

// linkTags are the %Link:...% tags.
var linkTags = [][2]string{
	{"Confirm", "Opt-In Confirmation Link"}, {"Reject", "Opt-In Reject Link"},
	{"Unsubscribe", "Unsubscription Link"}, {"WebBrowser", "Web Browser Link"},
}

// userValues sets the %User:...% values of the sending account.
func userValues(v *personalize.Values, u *storage.User) {
	v.Set(personalize.User, "FirstName", u.FirstName)
	v.Set(personalize.User, "LastName", u.LastName)
	v.Set(personalize.User, "EmailAddress", u.Email)
	v.Set(personalize.User, "CompanyName", u.CompanyName)
	v.Set(personalize.User, "Username", u.Username)
	v.Set(personalize.User, "UserID", strconv.FormatInt(u.ID, 10))
}

// hashedSubscriberID is an opaque, stable public id for a subscriber (Octeth's
// HashedSubscriberID): an HMAC of list and subscriber id under a key derived from the
// server key.
func (a *App) hashedSubscriberID(listID, id int64) string {
	m := hmac.New(sha256.New, a.Keys.Subkey("subscriber-hash"))
	m.Write([]byte(strconv.FormatInt(listID, 10) + ":" + strconv.FormatInt(id, 10)))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// subscriberValues sets the %Subscriber:...% values of s: its columns, and each custom field
// that applies to its list under CustomField<ID> and under its merge tag alias (the field's
// default value when the subscriber has none; the values of a multi-value field joined with
// ", ").
func (a *App) subscriberValues(v *personalize.Values, s *storage.Subscriber, fields []storage.CustomField) {
	v.Set(personalize.Subscriber, "SubscriberID", strconv.FormatInt(s.ID, 10))
	v.Set(personalize.Subscriber, "HashedSubscriberID", a.hashedSubscriberID(s.ListID, s.ID))
	v.Set(personalize.Subscriber, "EmailAddress", s.Email)
	v.Set(personalize.Subscriber, "SubscriptionStatus", s.Status)
	v.Set(personalize.Subscriber, "SubscriptionDate", octethTimeString(s.SubscriptionDate))
	v.Set(personalize.Subscriber, "SubscriptionIP", s.SubscriptionIP)
	v.Set(personalize.Subscriber, "OptInDate", octethTimeString(s.OptInDate))
	v.Set(personalize.Subscriber, "BounceType", s.BounceType)
	vals := s.Fields()
	for i := range fields {
		f := &fields[i]
		val, ok := vals[f.Key()]
		if !ok || val == "" {
			val = f.DefaultValue
		}
		val = strings.Join(strings.Split(val, "||"), ", ")
		v.Set(personalize.Subscriber, "CustomField"+f.Key(), val)
		if f.MergeTagAlias != "" {
			v.Set(personalize.Subscriber, f.MergeTagAlias, val)
		}
	}
}

// contextSubscriber loads a subscriber of one of the user's lists and the custom fields that
// apply to that list (ErrNotFound when either id is not the user's).
func (a *App) contextSubscriber(ctx context.Context, userID, listID, subscriberID int64) (*storage.Subscriber, []storage.CustomField, error) {
	if listID <= 0 || subscriberID <= 0 {
		return nil, nil, storage.ErrNotFound
	}
	s, err := a.DB.SubscriberByID(ctx, userID, listID, subscriberID)
	if err != nil {
		return nil, nil, err
	}
	fields, err := a.DB.FieldsForList(ctx, userID, listID, true, "id", false)
	if err != nil {
		return nil, nil, err
	}
	return s, fields, nil
}

// personalizationTags: 1 missing SubscriberListID, 2 not a list of the caller's, 3 a
// Categories value other than Subscriber, Link, User.
func (a *App) personalizationTags(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	want := map[string]bool{}
	if parts, _ := stringList(p.Value("Categories")); len(parts) > 0 {
		for _, part := range parts {
			for _, c := range strings.Split(part, ",") {
				if strings.TrimSpace(c) == "" {
					continue
				}
				name, ok := canonical(c, []string{personalize.Subscriber, personalize.Link, personalize.User})
				if !ok {
					return nil, listIssue(dispatcher.KindInvalid, 3, "Invalid Categories value (one or more values are not in: Subscriber, Link, User)")
				}
				want[name] = true
			}
		}
	}
	if len(want) == 0 {
		want = map[string]bool{personalize.Subscriber: true, personalize.Link: true, personalize.User: true}
	}
	id, ok := p.IntOK("SubscriberListID")
	if !ok {
		return nil, listIssue(dispatcher.KindNotFound, 2, "Invalid subscriber list id")
	}
	l, err := a.ownList(ctx, req, id, 2, "Invalid subscriber list id")
	if err != nil {
		return nil, err
	}
	entry := func(tag, label string) map[string]string {
		return map[string]string{"Tag": tag, "Label": label, "Description": ""}
	}
	tags := map[string]any{}
	if want[personalize.Subscriber] {
		fields, err := a.DB.FieldsForList(ctx, req.Principal.UserID, l.ID, true, "id", false)
		if err != nil {
			return nil, err
		}
		var out []map[string]string
		for _, f := range fields {
			name := f.MergeTagAlias
			if name == "" {
				name = "CustomField" + f.Key()
			}
			out = append(out, entry("{{ Subscriber:"+name+" }}", f.Name))
		}
		for _, b := range builtinSubscriberTags {
			out = append(out, entry("{{ Subscriber:"+b[0]+" }}", b[1]))
		}
		out = append(out, entry("%Subscriber:HashedSubscriberID%", "Hashed Subscriber ID"))
		tags[personalize.Subscriber] = out
	}
	for _, c := range []struct {
		name string
		list [][2]string
	}{{personalize.Link, linkTags}, {personalize.User, userTags}} {
		if !want[c.name] {
			continue
		}
		out := make([]map[string]string, 0, len(c.list))
		for _, t := range c.list {
			out = append(out, entry("%"+c.name+":"+t[0]+"%", t[1]))
		}
		tags[c.name] = out
	}
	return map[string]any{"ErrorText": "", "Tags": tags}, nil
}
