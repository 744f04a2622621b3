package commands

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gatewayd/commands/compose"
	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// Custom fields (octeth-5.9.4/customfields.md): per-list fields of a user (customfield.*,
// customfields.*) and platform-wide global fields managed by the administrator
// (global.customfield.*). A field's value is validated by ValidateFieldValue wherever a
// subscriber is written with EnforceRequiredFields.

func (a *App) registerCustomFields(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{
		Name: "customfield.create", Auth: dispatcher.AuthUser, Permission: "CustomField.Create",
		Handler: func(ctx context.Context, req *dispatcher.Request) (any, error) { return a.fieldCreate(ctx, req, false) },
	})
	r.Register(&dispatcher.Command{
		Name: "global.customfield.create", Auth: dispatcher.AuthAdmin,
		Handler: func(ctx context.Context, req *dispatcher.Request) (any, error) { return a.fieldCreate(ctx, req, true) },
	})
	r.Register(&dispatcher.Command{
		Name: "customfield.update", Auth: dispatcher.AuthUser, Permission: "CustomField.Update",
		Handler: func(ctx context.Context, req *dispatcher.Request) (any, error) { return a.fieldUpdate(ctx, req, false) },
	})
	r.Register(&dispatcher.Command{
		Name: "global.customfield.update", Auth: dispatcher.AuthAdmin,
		Handler: func(ctx context.Context, req *dispatcher.Request) (any, error) { return a.fieldUpdate(ctx, req, true) },
	})
	r.Register(&dispatcher.Command{
		Name: "customfields.copy", Auth: dispatcher.AuthUser, Permission: "CustomField.Create",
		Params: []dispatcher.Param{
			{Name: "SourceListID", Type: dispatcher.Int, Required: true, Code: 1, Message: "Missing source subscriber list id"},
			{Name: "TargetListID", Type: dispatcher.Int, Required: true, Code: 2, Message: "Missing target subscriber list id"},
		},
		Handler: a.fieldsCopy,
	})
	r.Register(&dispatcher.Command{
		Name: "customfields.delete", Auth: dispatcher.AuthUser, Permission: "CustomFields.Delete",
		Params: []dispatcher.Param{{Name: "CustomFields", Required: true, Code: 1, Message: "Custom field ids are missing"}},
		Handler: func(ctx context.Context, req *dispatcher.Request) (any, error) {
			return a.fieldsDelete(ctx, req, false)
		},
	})
	r.Register(&dispatcher.Command{
		Name: "global.customfields.delete", Auth: dispatcher.AuthAdmin,
		Params:  []dispatcher.Param{{Name: "CustomFields", Required: true, Code: 1, Message: "Custom field ids are missing"}},
		Handler: func(ctx context.Context, req *dispatcher.Request) (any, error) { return a.fieldsDelete(ctx, req, true) },
	})
	r.Register(&dispatcher.Command{
		Name: "customfields.get", Auth: dispatcher.AuthUser, Permission: "CustomFields.Get",
		Params:  []dispatcher.Param{{Name: "SubscriberListID", Type: dispatcher.Int, Required: true, Code: 1, Message: "Missing subscriber list id"}},
		Handler: a.fieldsGet,
	})
	r.Register(&dispatcher.Command{
		Name: "global.customfields.get", Auth: dispatcher.AuthAdmin,
		Handler: a.globalFieldsGet,
	})
}

// fieldPresets are the PresetName values customfield.create knows: complete, closed sets.
var fieldPresets = map[string]struct {
	Type    string
	Options []string
}{
	"gender":             {"Drop down", []string{"Male", "Female", "Other"}},
	"days of the week":   {"Drop down", []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}},
	"months of the year": {"Drop down", []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}},
	"yes/no":             {"Multiple choice", []string{"Yes", "No"}},
}

// dataTypes maps customfield.create's simplified DataType to a field type and validation.
var dataTypes = map[string][2]string{
	"text": {"Single line", "Disabled"}, "longtext": {"Paragraph text", "Disabled"},
	"number": {"Single line", "Numbers"}, "datetime": {"Date field", "Disabled"}, "date": {"Date field", "Disabled"},
	"time": {"Time field", "Disabled"}, "timestamp": {"Single line", "Numbers"},
	"single-select": {"Drop down", "Disabled"}, "multi-select": {"Checkboxes", "Disabled"},
}

var reservedAliases = []string{"SubscriberID", "EmailAddress", "SubscriptionDate", "SubscriptionIP", "OptInDate", "SubscriptionStatus", "BounceType"}

// fieldInput reads the definition parameters shared by create and update into f, reporting
// problems with the update table's codes (7 type, 8 validation method, 9 visibility,
// 10/11/12 Yes-No flags, 4 validation rule, 1000-1002 merge tag alias).
func (a *App) fieldInput(ctx context.Context, p dispatcher.Params, f *storage.CustomField, ownerID int64, global, create bool) []dispatcher.Issue {
	var issues []dispatcher.Issue
	bad := func(field string, code int, msg string) { issues = append(issues, dispatcher.Field(field, code, msg)) }
	if p.Has("FieldName") {
		f.Name = strings.TrimSpace(p.String("FieldName"))
	}
	if t := p.String("FieldType"); t != "" {
		if v, ok := canonical(t, storage.FieldTypes); ok {
			f.FieldType = v
		} else {
			bad("FieldType", 7, "Invalid field type")
		}
	}
	if _, ok := dispatcher.Lookup(p.Tree(), "DefaultValue"); ok {
		f.DefaultValue = p.String("DefaultValue")
	}
	if m := p.String("ValidationMethod"); m != "" {
		if v, ok := canonical(m, storage.ValidationMethods); ok {
			f.ValidationMethod = v
		} else {
			bad("ValidationMethod", 8, "Invalid validation method")
		}
	}
	if _, ok := dispatcher.Lookup(p.Tree(), "ValidationRule"); ok {
		f.ValidationRule = p.String("ValidationRule")
	}
	needsRule := f.ValidationMethod == "Custom"
	if !create {
		needsRule = needsRule || f.ValidationMethod == "Date" || f.ValidationMethod == "Time"
	}
	if needsRule && strings.TrimSpace(f.ValidationRule) == "" {
		bad("ValidationRule", 4, "Missing validation rule")
	} else if f.ValidationMethod == "Custom" {
		if _, err := customRule(f.ValidationRule); err != nil {
			bad("ValidationRule", 4, "Invalid validation rule (a regular expression)")
		}
	}
	visibilities := storage.Visibilities
	if global {
		visibilities = visibilities[:2]
	}
	if v := p.String("Visibility"); v != "" {
		if c, ok := canonical(v, visibilities); ok {
			f.Visibility = c
		} else {
			bad("Visibility", 9, "Invalid visibility value")
		}
	}
	for _, flag := range []struct {
		name string
		code int
		dst  *bool
	}{{"IsRequired", 10, &f.IsRequired}, {"IsUnique", 11, &f.IsUnique}, {"IsGlobal", 12, &f.IsGlobal}} {
		if global && flag.name == "IsGlobal" {
			continue
		}
		if s := p.String(flag.name); s != "" {
			if v, ok := parseYesNo(s); ok {
				*flag.dst = v
			} else {
				bad(flag.name, flag.code, "Invalid "+flag.name+" value")
			}
		}
	}
	if p.Has("Years") {
		f.Years = strings.TrimSpace(p.String("Years"))
	}
	if p.Has("UniqueIdentifier") {
		f.UniqueIdentifier = p.Bool("UniqueIdentifier")
	}
	if v, ok := dispatcher.Lookup(p.Tree(), "Meta"); ok && v != nil {
		var meta map[string]any
		if dispatcher.DecodeValue(v, &meta) == nil {
			b, _ := json.Marshal(meta)
			f.Meta = string(b)
		}
	}
	if _, ok := dispatcher.Lookup(p.Tree(), "OptionLabel"); ok {
		f.SetOptions(fieldOptions(p))
	} else if create || !isChoice(f.FieldType) {
		if !isChoice(f.FieldType) {
			f.SetOptions(nil)
		}
	}
	if _, ok := dispatcher.Lookup(p.Tree(), "MergeTagAlias"); ok {
		alias := strings.TrimSpace(p.String("MergeTagAlias"))
		f.MergeTagAlias = alias
		if alias != "" {
			if !validAlias(alias) {
				bad("MergeTagAlias", 1001, "Merge tag alias code includes invalid characters")
			} else if _, reserved := canonical(alias, reservedAliases); reserved {
				bad("MergeTagAlias", 1002, "Merge tag alias cannot use a reserved subscriber field name")
			} else if taken, err := a.DB.MergeTagAliasTaken(ctx, ownerID, alias, f.ID); err == nil && taken {
				bad("MergeTagAlias", 1000, "Merge tag alias code has been set for another custom field")
			}
		}
	}
	return issues
}

func isChoice(t string) bool { return t == "Multiple choice" || t == "Drop down" || t == "Checkboxes" }

func validAlias(s string) bool {
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// fieldOptions reads OptionLabel / OptionValue / OptionSelected (arrays, PHP-style indexed
// objects or comma lists). OptionSelected lists the selected option keys (indexes) or values.
func fieldOptions(p dispatcher.Params) []storage.FieldOption {
	labels, _ := stringList(p.Value("OptionLabel"))
	values, _ := stringList(p.Value("OptionValue"))
	selected := map[string]bool{}
	sel, _ := stringList(p.Value("OptionSelected"))
	for _, s := range sel {
		selected[s] = true
	}
	out := make([]storage.FieldOption, 0, len(labels))
	for i, l := range labels {
		v := l
		if i < len(values) && values[i] != "" {
			v = values[i]
		}
		out = append(out, storage.FieldOption{Label: l, Value: v, Selected: selected[strconv.Itoa(i)] || selected[v]})
	}
	return out
}

func (a *App) fieldCreate(ctx context.Context, req *dispatcher.Request, global bool) (any, error) {
	p := req.Params
	f := &storage.CustomField{ValidationMethod: "Disabled", Visibility: "User Only"}
	var issues []dispatcher.Issue
	bad := func(field string, code int, msg string) { issues = append(issues, dispatcher.Field(field, code, msg)) }
	owner := req.Principal.UserID
	if global {
		owner = 0
		f.IsGlobal = true
	} else {
		f.UserID = owner
		if !p.Has("SubscriberListID") {
			bad("SubscriberListID", 1, "Missing subscriber list id")
		}
	}
	preset := strings.ToLower(strings.TrimSpace(p.String("PresetName")))
	if !global && preset != "" {
		pr, ok := fieldPresets[preset]
		if !ok {
			bad("PresetName", 5, "Invalid preset name")
		} else {
			f.Name, f.FieldType = p.String("PresetName"), pr.Type
			opts := make([]storage.FieldOption, 0, len(pr.Options))
			for _, o := range pr.Options {
				opts = append(opts, storage.FieldOption{Label: o, Value: o})
			}
			f.SetOptions(opts)
		}
	}
	if !global && p.Has("DataType") {
		dt, ok := dataTypes[strings.ToLower(strings.TrimSpace(p.String("DataType")))]
		if !ok {
			bad("DataType", 7, "Invalid data type")
		} else {
			f.DataType = strings.ToLower(strings.TrimSpace(p.String("DataType")))
			f.FieldType, f.ValidationMethod = dt[0], dt[1]
		}
	}
	if preset == "" && !p.Has("FieldName") {
		bad("FieldName", 2, "Missing field name")
	}
	if preset == "" && f.FieldType == "" && !p.Has("FieldType") && !p.Has("DataType") {
		bad("FieldType", 3, "Missing field type")
	}
	issues = append(issues, a.fieldInput(ctx, p, f, owner, global, true)...)
	if f.DataType != "" {
		f.FieldType = dataTypes[f.DataType][0]
	}
	if f.FieldType == "Date field" && f.Years == "" {
		if global {
			bad("Years", 5, "Missing years (for date fields)")
		} else {
			y := timeNow().Year()
			f.Years = strconv.Itoa(y-10) + "-" + strconv.Itoa(y+10)
		}
	}
	if f.Years != "" && !validYears(f.Years) {
		bad("Years", 5, "Invalid years (YYYY-YYYY)")
	}
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	if !global {
		if f.IsGlobal {
			if _, err := a.ownList(ctx, req, p.Int("SubscriberListID"), 8, "Invalid subscriber list id"); err != nil {
				return nil, err
			}
			f.ListID = 0
		} else {
			l, err := a.ownList(ctx, req, p.Int("SubscriberListID"), 8, "Invalid subscriber list id")
			if err != nil {
				return nil, err
			}
			f.ListID = l.ID
		}
	}
	if err := a.DB.CreateCustomField(ctx, f); err != nil {
		return nil, err
	}
	return map[string]any{"ErrorText": "", "CustomFieldID": f.ID}, nil
}

func validYears(s string) bool {
	from, to, ok := strings.Cut(s, "-")
	a, e1 := strconv.Atoi(from)
	b, e2 := strconv.Atoi(to)
	return ok && e1 == nil && e2 == nil && len(from) == 4 && len(to) == 4 && a <= b
}

func (a *App) fieldUpdate(ctx context.Context, req *dispatcher.Request, global bool) (any, error) {
	p := req.Params
	var issues []dispatcher.Issue
	bad := func(field string, code int, msg string) { issues = append(issues, dispatcher.Field(field, code, msg)) }
	if !p.Has("CustomFieldID") {
		bad("CustomFieldID", 1, "Missing custom field id")
	}
	if !p.Has("FieldName") {
		bad("FieldName", 2, "Missing field name")
	}
	if !p.Has("FieldType") {
		bad("FieldType", 3, "Missing field type")
	}
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	owner := req.Principal.UserID
	if global {
		owner = 0
	}
	f, err := a.DB.CustomFieldByID(ctx, owner, p.Int("CustomFieldID"))
	if isNotFound(err) {
		return nil, listIssue(dispatcher.KindNotFound, 6, "Invalid custom field id")
	}
	if err != nil {
		return nil, err
	}
	issues = a.fieldInput(ctx, p, f, owner, global, false)
	if !global {
		if id, ok := p.IntOK("SubscriberListID"); ok && id > 0 {
			if _, err := a.DB.ListByID(ctx, owner, id); isNotFound(err) {
				bad("SubscriberListID", 13, "Invalid subscriber list id (the list does not exist or does not belong to you)")
			} else if err != nil {
				return nil, err
			} else if id != f.ListID {
				bad("SubscriberListID", 14, "Custom field list cannot be changed. Create the custom field on the target list instead.")
			}
		}
	}
	if f.Name == "" {
		bad("FieldName", 2, "Missing field name")
	}
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	if err := a.DB.UpdateCustomField(ctx, f); err != nil {
		return nil, err
	}
	return map[string]any{"ErrorText": ""}, nil
}

func (a *App) fieldsCopy(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	src, err := a.ownList(ctx, req, p.Int("SourceListID"), 3, "Invalid source subscriber list id")
	if err != nil {
		return nil, err
	}
	dst, err := a.ownList(ctx, req, p.Int("TargetListID"), 4, "Invalid target subscriber list id")
	if err != nil {
		return nil, err
	}
	if _, err := a.DB.CopyCustomFields(ctx, req.Principal.UserID, src.ID, dst.ID); err != nil {
		return nil, err
	}
	return map[string]any{"ErrorText": ""}, nil
}

func (a *App) fieldsDelete(ctx context.Context, req *dispatcher.Request, global bool) (any, error) {
	ids, ok := idList(req.Params.Value("CustomFields"))
	if !ok || len(ids) == 0 {
		return nil, listIssue(dispatcher.KindInvalid, 1, "Custom field ids are missing")
	}
	owner := req.Principal.UserID
	if global {
		owner = 0
	}
	if _, err := a.DB.DeleteCustomFields(ctx, owner, ids); err != nil {
		return nil, err
	}
	return map[string]any{"ErrorText": ""}, nil
}

var fieldOrders = map[string]string{"fieldname": "name", "customfieldid": "id", "fieldtype": "type", "isrequired": "required",
	"isunique": "unique", "visibility": "visibility", "isglobal": "global"}

func (a *App) fieldsGet(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	l, err := a.ownList(ctx, req, p.Int("SubscriberListID"), 2, "Invalid subscriber list id")
	if err != nil {
		return nil, err
	}
	fs, err := a.DB.FieldsForList(ctx, l.UserID, l.ID, p.Bool("ReturnGlobalCustomFields"),
		fieldOrders[strings.ToLower(p.String("OrderField"))], strings.EqualFold(p.String("OrderType"), "DESC"))
	if err != nil {
		return nil, err
	}
	return fieldsResult(fs), nil
}

func (a *App) globalFieldsGet(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	fs, err := a.DB.GlobalFields(ctx, fieldOrders[strings.ToLower(p.String("OrderField"))], strings.EqualFold(p.String("OrderType"), "DESC"))
	if err != nil {
		return nil, err
	}
	return fieldsResult(fs), nil
}

func fieldsResult(fs []storage.CustomField) map[string]any {
	out := make([]map[string]any, 0, len(fs))
	for i := range fs {
		out = append(out, fieldView(&fs[i]))
	}
	return map[string]any{"ErrorText": "", "TotalFieldCount": len(out), "CustomFields": out}
}

// fieldView renders a field as customfields.get does: ids and flags as strings.
func fieldView(f *storage.CustomField) map[string]any {
	opts := []map[string]any{}
	for _, o := range f.Options() {
		opts = append(opts, map[string]any{"Label": o.Label, "Value": o.Value, "Selected": o.Selected})
	}
	return map[string]any{
		"CustomFieldID":     strconv.FormatInt(f.ID, 10),
		"RelListID":         strconv.FormatInt(f.ListID, 10),
		"RelOwnerUserID":    strconv.FormatInt(f.UserID, 10),
		"FieldName":         f.Name,
		"FieldType":         f.FieldType,
		"FieldDefaultValue": f.DefaultValue,
		"ValidationMethod":  f.ValidationMethod,
		"ValidationRule":    f.ValidationRule,
		"MergeTagAlias":     f.MergeTagAlias,
		"IsRequired":        yesNo(f.IsRequired),
		"IsUnique":          yesNo(f.IsUnique),
		"Visibility":        f.Visibility,
		"IsGlobal":          yesNo(f.IsGlobal || f.ListID == 0),
		"Years":             f.Years,
		"Options":           opts,
	}
}

// customRule compiles a Custom validation rule: a regular expression, with or without PHP's
// /.../flags delimiters (the i flag is honoured). Go's engine runs in linear time, so a
// tenant's pattern cannot stall the server.
func customRule(rule string) (*regexp.Regexp, error) {
	r := strings.TrimSpace(rule)
	if len(r) >= 2 && r[0] == '/' {
		if end := strings.LastIndexByte(r, '/'); end > 0 {
			flags := r[end+1:]
			r = r[1:end]
			if strings.Contains(flags, "i") {
				r = "(?i)" + r
			}
		}
	}
	return regexp.Compile(r)
}

// ValidateFieldValue reports whether value satisfies the field's validation method (an empty
// value is left to the required check).
func ValidateFieldValue(f *storage.CustomField, value string) bool {
	v := strings.TrimSpace(value)
	if v == "" {
		return true
	}
	switch f.ValidationMethod {
	case "Numbers":
		_, err := strconv.ParseFloat(v, 64)
		return err == nil
	case "Letters":
		for _, r := range v {
			if !unicode.IsLetter(r) && r != ' ' {
				return false
			}
		}
		return true
	case "Numbers and letters":
		for _, r := range v {
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != ' ' {
				return false
			}
		}
		return true
	case "Email address":
		return compose.ValidAddress(v)
	case "URL":
		u, err := url.Parse(v)
		return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
	case "Date":
		_, err := time.Parse(time.DateOnly, v)
		return err == nil
	case "Time":
		_, err1 := time.Parse("15:04", v)
		_, err2 := time.Parse(time.TimeOnly, v)
		return err1 == nil || err2 == nil
	case "Custom":
		re, err := customRule(f.ValidationRule)
		return err == nil && re.MatchString(v)
	}
	if f.FieldType == "Drop down" || f.FieldType == "Multiple choice" {
		opts := f.Options()
		if len(opts) == 0 {
			return true
		}
		for _, o := range opts {
			if o.Value == v || o.Label == v {
				return true
			}
		}
		return false
	}
	return true
}
