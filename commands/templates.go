package commands

import (
	"context"
	"strconv"
	"strings"
	"unicode/utf8"

	"gatewayd/commands/personalize"
	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// User email templates (octeth-5.9.4/user-email-templates.md): useremailtemplate.create,
// get, update, delete, copy, copytouser, preview and useremailtemplates.get. A send names
// a template by TemplateID (send.go). docs/audience.md, "Templates".

// PermTemplates is the permission of the template commands.
const PermTemplates = "EmailTemplates.Manage"

// The values the template documents allow.
var (
	templateContentTypes = []string{"HTML", "Plain", "Both"}
	templateModes        = []string{"Stripo", "Editor"}
	templateEmbedding    = []string{"Enabled", "Disabled"}
)

// templateColumns are the columns useremailtemplates.get may return (its fields allow-list),
// in the order they are shown.
var templateColumns = []string{"EmailID", "RelUserID", "EmailName", "FromName", "FromEmail", "ReplyToName",
	"ReplyToEmail", "ContentType", "Mode", "FetchURL", "FetchPlainURL", "Subject", "PlainContent", "HTMLContent",
	"ExtraContent1", "ExtraContent2", "ImageEmbedding", "RelTemplateID", "PreHeaderText", "Options",
	"IsEmailTemplate", "CreatedAt", "UpdatedAt", "DeletedAt"}

func (a *App) registerTemplates(r *dispatcher.Registry) {
	for _, c := range []struct {
		name string
		h    dispatcher.Handler
		big  bool
	}{
		{"useremailtemplate.create", a.templateCreate, true},
		{"useremailtemplates.get", a.templatesGet, false},
		{"useremailtemplate.get", a.templateGet, false},
		{"useremailtemplate.update", a.templateUpdate, true},
		{"useremailtemplate.delete", a.templateDelete, false},
		{"useremailtemplate.copy", a.templateCopy, false},
		{"useremailtemplate.preview", a.templatePreview, false},
	} {
		r.Register(&dispatcher.Command{Name: c.name, Auth: dispatcher.AuthUser, Permission: PermTemplates,
			LargeBody: c.big, Handler: c.h})
	}
	r.Register(&dispatcher.Command{Name: "useremailtemplate.copytouser", Auth: dispatcher.AuthAdmin,
		Handler: a.templateCopyToUser})
	r.Register(&dispatcher.Command{Name: "personalization.gettags", Auth: dispatcher.AuthUser,
		Params:  []dispatcher.Param{{Name: "SubscriberListID", Type: dispatcher.Any, Required: true, Code: 1, Message: "Missing required parameter SubscriberListID"}},
		Handler: a.personalizationTags})
}

// idParam reads a required numeric id: missing is codeMissing, anything but a positive
// integer codeInvalid. Both are reported through issues.
func idParam(p dispatcher.Params, name string, codeMissing, codeInvalid int, issues *[]dispatcher.Issue) int64 {
	if !p.Has(name) {
		*issues = append(*issues, dispatcher.Field(name, codeMissing, "Missing "+name+" parameter"))
		return 0
	}
	n, ok := p.IntOK(name)
	if !ok || n <= 0 {
		*issues = append(*issues, dispatcher.Field(name, codeInvalid, "Invalid "+name+". Must be a numeric value."))
		return 0
	}
	return n
}

// templateFields applies the content parameters present in p to t; codes are the
// document's for bad ContentType, Mode and ImageEmbedding.
func templateFields(p dispatcher.Params, t *storage.Template, codeType, codeMode, codeEmbed int) []dispatcher.Issue {
	var issues []dispatcher.Issue
	text := func(name string, dst *string) {
		if v := p.Value(name); v != nil {
			s, _ := dispatcher.AsString(v)
			*dst = s
		}
	}
	text("EmailName", &t.Name)
	text("Subject", &t.Subject)
	text("PreHeaderText", &t.Preheader)
	text("HTMLContent", &t.HTMLContent)
	text("PlainContent", &t.PlainContent)
	text("ExtraContent1", &t.ExtraContent1)
	text("ExtraContent2", &t.ExtraContent2)
	choice := func(name string, allowed []string, dst *string, code int, msg string) {
		if !p.Has(name) {
			return
		}
		v, ok := canonical(p.String(name), allowed)
		if !ok {
			issues = append(issues, dispatcher.Field(name, code, msg))
			return
		}
		*dst = v
	}
	choice("ContentType", templateContentTypes, &t.ContentType, codeType, "Invalid ContentType. Must be one of: HTML, Plain, Both")
	choice("Mode", templateModes, &t.Mode, codeMode, "Invalid Mode. Must be one of: Stripo, Editor")
	choice("ImageEmbedding", templateEmbedding, &t.ImageEmbedding, codeEmbed, "Invalid ImageEmbedding. Must be one of: Enabled, Disabled")
	return issues
}

// templateTextOK reports a template whose texts can be stored and sent: valid UTF-8, a name
// within the column's 255 characters and a subject without line breaks.
func templateTextOK(t *storage.Template) bool {
	for _, s := range []string{t.Name, t.Subject, t.Preheader, t.HTMLContent, t.PlainContent, t.ExtraContent1, t.ExtraContent2} {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return utf8.RuneCountInString(t.Name) <= 255 && cleanText(t.Subject)
}

// templateCreate: 1 missing EmailName, 2 missing Subject, 3-5 bad ContentType, Mode,
// ImageEmbedding; 6 (gatewayd) text that is not UTF-8, a name over 255 characters or a
// subject with line breaks.
func (a *App) templateCreate(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	t := &storage.Template{UserID: req.Principal.UserID, ContentType: "HTML", Mode: "Editor", ImageEmbedding: "Disabled"}
	var issues []dispatcher.Issue
	if strings.TrimSpace(p.String("EmailName")) == "" {
		issues = append(issues, dispatcher.Field("EmailName", 1, "Missing EmailName parameter"))
	}
	if strings.TrimSpace(p.String("Subject")) == "" {
		issues = append(issues, dispatcher.Field("Subject", 2, "Missing Subject parameter"))
	}
	issues = append(issues, templateFields(p, t, 3, 4, 5)...)
	if len(issues) == 0 && !templateTextOK(t) {
		issues = append(issues, dispatcher.Field("Subject", 6, "Invalid text: not UTF-8, EmailName over 255 characters, or a line break in Subject"))
	}
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	if err := a.DB.CreateTemplate(ctx, t); err != nil {
		return nil, err
	}
	return map[string]any{"EmailID": t.ID}, nil
}

// templateView renders a template's columns as the documents show them (ids as strings).
func templateView(t *storage.Template) map[string]any {
	id := strconv.FormatInt(t.ID, 10)
	return map[string]any{
		"EmailID": id, "RelUserID": strconv.FormatInt(t.UserID, 10), "EmailName": t.Name, "FromName": "",
		"FromEmail": "", "ReplyToName": "", "ReplyToEmail": "", "ContentType": t.ContentType, "Mode": t.Mode,
		"FetchURL": "", "FetchPlainURL": "", "Subject": t.Subject, "PlainContent": t.PlainContent,
		"HTMLContent": t.HTMLContent, "ExtraContent1": t.ExtraContent1, "ExtraContent2": t.ExtraContent2,
		"ImageEmbedding": t.ImageEmbedding, "RelTemplateID": "0", "PreHeaderText": t.Preheader, "Options": "",
		"IsEmailTemplate": "1", "CreatedAt": octethTimeString(t.CreatedAt), "UpdatedAt": octethTimeString(t.UpdatedAt),
		"DeletedAt": nil,
	}
}

// templatesGet: no error codes; bad OrderField, OrderType, Limit or Offset fall back to the
// defaults (CreatedAt, DESC, 25, 0), as the document lists no code for them.
func (a *App) templatesGet(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	order := "created"
	if strings.EqualFold(strings.TrimSpace(p.String("OrderField")), "EmailName") {
		order = "name"
	}
	desc := !strings.EqualFold(strings.TrimSpace(p.String("OrderType")), "ASC")
	limit, ok := p.IntOK("Limit")
	if !ok || limit < 1 || limit > 100 {
		limit = 25
	}
	offset, ok := p.IntOK("Offset")
	if !ok || offset < 0 {
		offset = 0
	}
	ts, total, err := a.DB.Templates(ctx, req.Principal.UserID, order, desc, int(offset), int(limit))
	if err != nil {
		return nil, err
	}
	cols := templateColumns
	if p.Has("fields") {
		want := map[string]bool{"emailid": true}
		parts, _ := stringList(p.Value("fields"))
		for _, part := range parts {
			for _, f := range strings.Split(part, ",") {
				want[strings.ToLower(strings.TrimSpace(f))] = true
			}
		}
		cols = nil
		for _, c := range templateColumns {
			if want[strings.ToLower(c)] {
				cols = append(cols, c)
			}
		}
	}
	out := make([]map[string]any, 0, len(ts))
	for i := range ts {
		v := templateView(&ts[i])
		row := make(map[string]any, len(cols))
		for _, c := range cols {
			row[c] = v[c]
		}
		out = append(out, row)
	}
	return map[string]any{"TotalEmailTemplateCount": total, "EmailTemplates": out}, nil
}

// ownTemplate loads the caller's template, or notFound.
func (a *App) ownTemplate(ctx context.Context, userID, id int64, notFound *dispatcher.Error) (*storage.Template, error) {
	t, err := a.DB.TemplateByID(ctx, userID, id)
	if isNotFound(err) {
		return nil, notFound
	}
	return t, err
}

// templateOfRequest loads the caller's template named by EmailID: 1 missing, 2 not
// numeric, 3 not found (get's and copy's codes).
func (a *App) templateOfRequest(ctx context.Context, req *dispatcher.Request) (*storage.Template, error) {
	var issues []dispatcher.Issue
	id := idParam(req.Params, "EmailID", 1, 2, &issues)
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	return a.ownTemplate(ctx, req.Principal.UserID, id, dispatcher.NotFound(3, "Email template not found"))
}

// templateGet: 1 missing EmailID, 2 not numeric, 3 not found (or another user's).
func (a *App) templateGet(ctx context.Context, req *dispatcher.Request) (any, error) {
	t, err := a.templateOfRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	v := templateView(t)
	out := map[string]any{"Attachments": []any{}}
	for _, k := range []string{"EmailID", "RelUserID", "EmailName", "Subject", "PreHeaderText", "ContentType",
		"HTMLContent", "PlainContent", "ExtraContent1", "ExtraContent2", "Mode", "ImageEmbedding", "IsEmailTemplate",
		"CreatedAt", "UpdatedAt", "DeletedAt"} {
		out[k] = v[k]
	}
	return map[string]any{"EmailTemplate": out}, nil
}

// templateUpdate: 1 missing EmailID, 2 not numeric, 3-5 bad ContentType, Mode,
// ImageEmbedding, 6 not found; 7 (gatewayd) as create's 6, or an EmailName or Subject sent
// empty.
func (a *App) templateUpdate(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	var issues []dispatcher.Issue
	id := idParam(p, "EmailID", 1, 2, &issues)
	probe := &storage.Template{}
	issues = append(issues, templateFields(p, probe, 3, 4, 5)...)
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	t, err := a.ownTemplate(ctx, req.Principal.UserID, id, dispatcher.NotFound(6, "Email template not found"))
	if err != nil {
		return nil, err
	}
	templateFields(p, t, 3, 4, 5)
	if !templateTextOK(t) || strings.TrimSpace(t.Name) == "" || strings.TrimSpace(t.Subject) == "" {
		return nil, dispatcher.Invalid(dispatcher.Field("Subject", 7, "Invalid text: EmailName and Subject may not be empty; not UTF-8, EmailName over 255 characters, or a line break in Subject"))
	}
	if err := a.DB.UpdateTemplate(ctx, t); err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

// templateDelete: 1 missing EmailID. Ids that are not the caller's templates (or not ids)
// are skipped; DeletedCount says how many went.
func (a *App) templateDelete(ctx context.Context, req *dispatcher.Request) (any, error) {
	if !req.Params.Has("EmailID") {
		return nil, dispatcher.Invalid(dispatcher.Field("EmailID", 1, "Missing EmailID parameter"))
	}
	ids, _ := idList(req.Params.Value("EmailID"))
	n, err := a.DB.DeleteTemplates(ctx, req.Principal.UserID, ids)
	if err != nil {
		return nil, err
	}
	return map[string]any{"DeletedCount": n}, nil
}

// copyTemplate stores a copy of t for userID, named "Copy of <name>".
func (a *App) copyTemplate(ctx context.Context, t *storage.Template, userID int64) (*storage.Template, error) {
	c := *t
	c.ID, c.UserID, c.Name = 0, userID, storage.CopyName(t.Name)
	if err := a.DB.CreateTemplate(ctx, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// templateCopy: 1 missing EmailID, 2 not numeric, 3 not found.
func (a *App) templateCopy(ctx context.Context, req *dispatcher.Request) (any, error) {
	t, err := a.templateOfRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	c, err := a.copyTemplate(ctx, t, req.Principal.UserID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"EmailID": c.ID, "EmailName": c.Name}, nil
}

// templateCopyToUser (admin): 1-3 missing EmailID, SourceUserID, TargetUserID; 4-6 not
// numeric; 7 source user not found; 8 target user not found; 9 the template is not the
// source user's.
func (a *App) templateCopyToUser(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	var issues []dispatcher.Issue
	id := idParam(p, "EmailID", 1, 4, &issues)
	src := idParam(p, "SourceUserID", 2, 5, &issues)
	dst := idParam(p, "TargetUserID", 3, 6, &issues)
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	if _, err := a.DB.UserByID(ctx, src); isNotFound(err) {
		return nil, dispatcher.NotFound(7, "Source user not found")
	} else if err != nil {
		return nil, err
	}
	if _, err := a.DB.UserByID(ctx, dst); isNotFound(err) {
		return nil, dispatcher.NotFound(8, "Target user not found")
	} else if err != nil {
		return nil, err
	}
	t, err := a.ownTemplate(ctx, src, id, dispatcher.NotFound(9, "Email template not found for source user"))
	if err != nil {
		return nil, err
	}
	c, err := a.copyTemplate(ctx, t, dst)
	if err != nil {
		return nil, err
	}
	return map[string]any{"EmailID": c.ID}, nil
}

// sampleSubscriber is the default sample of a preview: every built-in subscriber tag has a
// value, so a preview shows no empty merge fields where a real subscriber would have one.
var sampleSubscriber = [][2]string{
	{"SubscriberID", "0"}, {"EmailAddress", "subscriber@example.com"}, {"FirstName", "John"},
	{"LastName", "Doe"}, {"SubscriptionStatus", storage.StatusSubscribed}, {"BounceType", storage.BounceNone},
	{"SubscriptionDate", "2025-01-01 00:00:00"}, {"SubscriptionIP", "192.0.2.1"}, {"OptInDate", "2025-01-01 00:00:00"},
	{"HashedSubscriberID", "0"},
}

// templatePreview: 1 missing EmailTemplateID, 2 not numeric, 3 not found, 4 SampleData not
// an object, 5 a SampleData value that is not a scalar, 6 IncludeBranding not a boolean;
// 7 (gatewayd) ListID/SubscriberID given and not a subscriber of the caller's list.
// ListID + SubscriberID fill the tags from that real subscriber; SampleData overrides.
func (a *App) templatePreview(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	var issues []dispatcher.Issue
	id := idParam(p, "EmailTemplateID", 1, 2, &issues)
	var sample map[string]any
	if v := p.Value("SampleData"); v != nil {
		obj, ok := dispatcher.Normalize(v).(map[string]any)
		if items, isList := dispatcher.Normalize(v).([]any); isList && len(items) == 0 {
			obj, ok = map[string]any{}, true
		}
		if !ok {
			issues = append(issues, dispatcher.Field("SampleData", 4, "Invalid SampleData. Must be an object."))
		}
		for _, x := range obj {
			switch x.(type) {
			case map[string]any, []any:
				issues = append(issues, dispatcher.Field("SampleData", 5, "Invalid SampleData values. All values must be scalar (string, number, boolean) or null."))
			default:
				continue
			}
			break
		}
		sample = obj
	}
	if p.Has("IncludeBranding") {
		if _, ok := p.BoolOK("IncludeBranding"); !ok {
			issues = append(issues, dispatcher.Field("IncludeBranding", 6, "Invalid IncludeBranding. Must be a boolean value."))
		}
	}
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	t, err := a.ownTemplate(ctx, req.Principal.UserID, id, dispatcher.NotFound(3, "Email template not found"))
	if err != nil {
		return nil, err
	}
	u, err := a.DB.UserByID(ctx, req.Principal.UserID)
	if err != nil {
		return nil, err
	}
	v := personalize.NewValues()
	for _, kv := range sampleSubscriber {
		v.Set(personalize.Subscriber, kv[0], kv[1])
	}
	userValues(v, u)
	for _, l := range []string{"Unsubscribe", "WebBrowser", "Confirm", "Reject"} {
		v.Set(personalize.Link, l, "#")
	}
	if p.Has("ListID") || p.Has("SubscriberID") {
		s, fields, err := a.contextSubscriber(ctx, req.Principal.UserID, p.Int("ListID"), p.Int("SubscriberID"))
		if isNotFound(err) {
			return nil, dispatcher.NotFound(7, "Subscriber not found in that list")
		}
		if err != nil {
			return nil, err
		}
		a.subscriberValues(v, s, fields)
	}
	for k, x := range sample {
		s, _ := dispatcher.AsString(x)
		v.Set(personalize.Subscriber, k, s)
	}
	html := personalize.Render(t.HTMLContent, v, personalize.HTML)
	text := personalize.Render(t.PlainContent, v, personalize.Text)
	return map[string]any{"HTMLContent": html, "PlainContent": text}, nil
}
