package commands

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"gatewayd/commands/compose"
	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// The suppression commands of octeth-5.9.4 suppression.md over storage's scoped list. A
// user's calls work on the user's rows; an administrator's (AdminAPIKey or admin session) on
// the system-wide list. docs/api.md ("Suppression list") says which scope each reads and writes.

// maxSuppressionCheck is the most addresses suppression.check takes (suppression.md).
const maxSuppressionCheck = 500

func (a *App) registerSuppression(r *dispatcher.Registry) {
	auth := dispatcher.AuthUser | dispatcher.AuthAdmin
	r.Register(&dispatcher.Command{Name: "suppression.browse", Auth: auth, Handler: a.suppressionBrowse})
	r.Register(&dispatcher.Command{Name: "suppression.check", Auth: auth, Handler: a.suppressionCheck})
	r.Register(&dispatcher.Command{Name: "suppression.stats", Auth: auth, Handler: a.suppressionStats})
	r.Register(&dispatcher.Command{Name: "suppression.delete", Auth: auth, Handler: a.suppressionDelete})
	r.Register(&dispatcher.Command{Name: "suppression.import", Auth: auth, Handler: a.suppressionImport})
}

// suppressionList reads ListID (code 4 when it is not a list of the caller's) and the
// optional DomainID gatewayd adds (code 4 as well when it is not one of the caller's
// domains), and returns the filter of the caller's rows they select.
func (a *App) suppressionList(ctx context.Context, req *dispatcher.Request) (storage.SuppressionFilter, error) {
	f := storage.SuppressionFilter{UserID: req.Principal.UserID}
	p := req.Params
	bad := dispatcher.Invalid(dispatcher.Field("ListID", 4, "Invalid ListID"))
	if p.Has("ListID") {
		id, ok := p.IntOK("ListID")
		if !ok || id < 0 {
			return f, bad
		}
		if id != 0 {
			if _, err := a.ownList(ctx, req, id, 4, "Invalid ListID"); err != nil {
				return f, err
			}
			f.ListID = id
		}
	}
	if p.Has("DomainID") {
		id, ok := p.IntOK("DomainID")
		if !ok || id <= 0 || f.UserID == 0 {
			return f, dispatcher.Invalid(dispatcher.Field("DomainID", 4, "Invalid DomainID"))
		}
		if _, err := a.DB.DomainByID(ctx, id, f.UserID); err != nil {
			if isNotFound(err) {
				return f, dispatcher.Invalid(dispatcher.Field("DomainID", 4, "Invalid DomainID"))
			}
			return f, err
		}
		f.DomainID = id
	}
	return f, nil
}

// suppressionSources parses a comma-separated SuppressionSource list (case-insensitive,
// answered in the document's spelling); ok is false for a value outside the enumeration.
func suppressionSources(s string) (out []string, ok bool) {
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		found := false
		for _, src := range storage.SuppressionSources {
			if strings.EqualFold(part, src) {
				out, found = append(out, src), true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return out, true
}

// searchedList is suppressionList with SearchPattern and SuppressionSource (code 1 for a
// source outside the enumeration), for browse and stats.
func (a *App) searchedList(ctx context.Context, req *dispatcher.Request) (storage.SuppressionFilter, error) {
	p := req.Params
	f, err := a.suppressionList(ctx, req)
	if err != nil {
		return f, err
	}
	if p.Has("SuppressionSource") {
		srcs, ok := suppressionSources(p.String("SuppressionSource"))
		if !ok {
			return f, dispatcher.Invalid(dispatcher.Field("SuppressionSource", 1, "Invalid SuppressionSource value"))
		}
		f.Sources = srcs
	}
	if p.Has("SearchPattern") {
		f.Pattern = storage.LikePattern(strings.TrimSpace(p.String("SearchPattern")))
	}
	return f, nil
}

// suppressionView is a browse row as Octeth lists it: every value a string, as its database
// rows are; RelSenderDomainID is gatewayd's (the sender domain of a delivery-written entry).
func suppressionView(s *storage.Suppression) map[string]any {
	return map[string]any{
		"SuppressionID":     strconv.FormatInt(s.ID, 10),
		"RelListID":         strconv.FormatInt(s.ListID, 10),
		"RelOwnerUserID":    strconv.FormatInt(s.UserID, 10),
		"RelSenderDomainID": strconv.FormatInt(s.DomainID, 10),
		"EmailAddress":      s.Email,
		"SuppressionSource": s.Source,
		"Reason":            s.Reason,
	}
}

// suppressionBrowse pages through the caller's list. Codes: 1 invalid SuppressionSource,
// 4 invalid ListID (or DomainID).
func (a *App) suppressionBrowse(ctx context.Context, req *dispatcher.Request) (any, error) {
	f, err := a.searchedList(ctx, req)
	if err != nil {
		return nil, err
	}
	start, count := pageParams(req.Params, 100, 1000)
	total, rows, err := a.DB.BrowseSuppressions(ctx, f, start, count)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(rows))
	for i := range rows {
		out[rows[i].Email] = suppressionView(&rows[i])
	}
	return map[string]any{"TotalRecords": total, "SuppressedEmails": out}, nil
}

// pageParams reads StartFrom (default 0) and RetrieveCount (default def, at most max).
func pageParams(p dispatcher.Params, def, max int) (start, count int) {
	if n, ok := p.IntOK("StartFrom"); ok && n > 0 {
		start = int(n)
	}
	count = def
	if n, ok := p.IntOK("RetrieveCount"); ok && n > 0 {
		count = int(min(n, int64(max)))
	}
	return start, count
}

// suppressionStats counts the caller's list by source. Codes as browse.
func (a *App) suppressionStats(ctx context.Context, req *dispatcher.Request) (any, error) {
	f, err := a.searchedList(ctx, req)
	if err != nil {
		return nil, err
	}
	total, by, err := a.DB.SuppressionStats(ctx, f)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Total": total, "BySource": by}, nil
}

// addressInput is what EmailAddresses (a JSON-encoded array, or a real array in a JSON body
// or a PHP-style form) and EmailAddressesBulk (newline-separated) carry together.
type addressInput struct {
	given   bool     // either parameter was sent
	badJSON bool     // EmailAddresses was sent and is not an array
	valid   []string // trimmed, in order, blank entries dropped, duplicates kept
	failed  []string // entries that are not an address
}

func readAddresses(p dispatcher.Params) addressInput {
	var in addressInput
	var raw []string
	if v := p.Value("EmailAddresses"); v != nil {
		in.given = true
		var list []string
		var err error
		if s, isStr := v.(string); isStr {
			err = json.Unmarshal([]byte(s), &list)
		} else {
			err = dispatcher.DecodeValue(v, &list)
		}
		if err != nil {
			in.badJSON = true
		}
		raw = append(raw, list...)
	}
	if p.Has("EmailAddressesBulk") {
		in.given = true
		raw = append(raw, strings.Split(p.String("EmailAddressesBulk"), "\n")...)
	}
	for _, e := range raw {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
		case compose.ValidAddress(e):
			in.valid = append(in.valid, e)
		default:
			in.failed = append(in.failed, e)
		}
	}
	return in
}

// suppressionCheck answers, per address, whether a send would be refused and by which
// scopes. Codes: 1 no input, 2 EmailAddresses not an array or no valid address, 4 invalid
// ListID (or DomainID), 5 more than 500 addresses, 6 the lookup failed.
func (a *App) suppressionCheck(ctx context.Context, req *dispatcher.Request) (any, error) {
	f, err := a.suppressionList(ctx, req)
	if err != nil {
		return nil, err
	}
	in := readAddresses(req.Params)
	if !in.given {
		return nil, dispatcher.Invalid(dispatcher.Field("EmailAddresses", 1, "Missing EmailAddresses or EmailAddressesBulk"))
	}
	failed := nonNil(in.failed)
	if in.badJSON || len(in.valid) == 0 {
		e := dispatcher.Invalid(dispatcher.Field("EmailAddresses", 2, "EmailAddresses is not an array, or no address is valid"))
		e.Extra = map[string]any{"TotalFailed": len(failed), "FailedEmailAddresses": failed}
		return nil, e
	}
	var addrs []string
	seen := map[string]bool{}
	for _, e := range in.valid {
		if !seen[e] {
			seen[e] = true
			addrs = append(addrs, e)
		}
	}
	if len(addrs) > maxSuppressionCheck {
		e := dispatcher.Invalid(dispatcher.Field("EmailAddresses", 5, "More than 500 email addresses"))
		e.Extra = map[string]any{"MaxEmailAddresses": maxSuppressionCheck, "TotalSubmitted": len(addrs)}
		return nil, e
	}
	matches, err := a.DB.SuppressionMatches(ctx, storage.SuppressionScope{UserID: f.UserID, DomainID: f.DomainID, ListID: f.ListID}, addrs)
	if err != nil {
		a.Log.Error("suppression.check lookup", "err", err)
		return nil, dispatcher.Invalid(dispatcher.Issue{Code: 6, Message: "The suppression lookup failed"})
	}
	results := make(map[string]any, len(addrs))
	for _, e := range addrs {
		scopes := []map[string]any{}
		for _, m := range matches[strings.ToLower(e)] {
			s := map[string]any{"Scope": m.Scope(), "SuppressionSource": m.Source, "Reason": m.Reason}
			if m.DomainID != 0 {
				s["RelSenderDomainID"] = m.DomainID
			}
			scopes = append(scopes, s)
		}
		results[e] = map[string]any{"IsSuppressed": len(scopes) > 0, "MatchedScopes": scopes, "IsPatternSuppressed": false}
	}
	return map[string]any{
		"ListID": f.ListID, "TotalChecked": len(addrs), "TotalFailed": len(failed),
		"SuppressionCheckDisabled": false, "Results": results, "FailedEmailAddresses": failed,
	}, nil
}

// suppressionDelete takes addresses off the caller's list (with ListID 0: the account-wide
// entry and every sender domain's, or DomainID's only), so sends to them work again.
// Codes: 1 no input, 2 invalid address or not on the list (single path) or EmailAddresses
// not an array, 4 invalid ListID (or DomainID).
func (a *App) suppressionDelete(ctx context.Context, req *dispatcher.Request) (any, error) {
	f, err := a.suppressionList(ctx, req)
	if err != nil {
		return nil, err
	}
	p := req.Params
	if !p.Has("EmailAddresses") && !p.Has("EmailAddressesBulk") {
		if !p.Has("EmailAddress") {
			return nil, dispatcher.Invalid(dispatcher.Field("EmailAddress", 1, "Missing EmailAddress, EmailAddresses or EmailAddressesBulk"))
		}
		email := strings.TrimSpace(p.String("EmailAddress"))
		if !compose.ValidAddress(email) {
			return nil, dispatcher.Invalid(dispatcher.Field("EmailAddress", 2, "Invalid email address"))
		}
		gone, err := a.DB.DeleteSuppressions(ctx, f, []string{email})
		if err != nil {
			return nil, err
		}
		if len(gone) == 0 {
			return nil, dispatcher.Invalid(dispatcher.Field("EmailAddress", 2, "Email address is not in the suppression list"))
		}
		return map[string]any{}, nil
	}
	in := readAddresses(p)
	if in.badJSON {
		return nil, dispatcher.Invalid(dispatcher.Field("EmailAddresses", 2, "Invalid JSON in EmailAddresses"))
	}
	gone, err := a.DB.DeleteSuppressions(ctx, f, in.valid)
	if err != nil {
		return nil, err
	}
	return map[string]any{"TotalDeleted": len(gone), "TotalFailed": len(in.failed), "FailedEmailAddresses": nonNil(in.failed)}, nil
}

// suppressionImport adds addresses to the caller's list: a user's account-wide list (or
// ListID's), an administrator's system-wide list; either way sends to them are refused with
// the surface's suppression error (code 14 on the send routes). Codes: 1 and 2 (both at
// once) no input, 2 EmailAddresses not an array, 3 invalid SuppressionSource, 4 invalid
// ListID (or DomainID).
func (a *App) suppressionImport(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	in := readAddresses(p)
	var issues []dispatcher.Issue
	if !in.given {
		issues = append(issues, dispatcher.Field("EmailAddresses", 1, "Missing EmailAddresses parameter"),
			dispatcher.Field("EmailAddressesBulk", 2, "Missing EmailAddressesBulk parameter"))
	} else if in.badJSON {
		issues = append(issues, dispatcher.Field("EmailAddresses", 2, "Invalid EmailAddresses format"))
	}
	source := storage.SuppressManual
	if req.Principal.Kind == dispatcher.PrincipalAdmin {
		source = storage.SuppressAdministrator
	}
	if p.Has("SuppressionSource") {
		srcs, ok := suppressionSources(p.String("SuppressionSource"))
		if !ok || len(srcs) != 1 {
			issues = append(issues, dispatcher.Field("SuppressionSource", 3, "Invalid SuppressionSource value"))
		} else {
			source = srcs[0]
		}
	}
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	f, err := a.suppressionList(ctx, req)
	if err != nil {
		return nil, err
	}
	reason := "Suppression List Import"
	if p.Has("Reason") {
		reason = clipText(strings.TrimSpace(p.String("Reason")), 250)
	}
	rows := make([]storage.Suppression, 0, len(in.valid))
	for _, e := range in.valid {
		rows = append(rows, storage.Suppression{UserID: f.UserID, ListID: f.ListID, DomainID: f.DomainID,
			Email: e, Source: source, Reason: reason})
	}
	n, err := a.DB.AddSuppressions(ctx, rows)
	if err != nil {
		return nil, err
	}
	return map[string]any{"TotalImported": n, "TotalFailed": len(in.failed), "FailedEmailAddresses": nonNil(in.failed)}, nil
}
