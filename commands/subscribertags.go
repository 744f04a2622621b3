package commands

import (
	"context"
	"strings"
	"unicode"

	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// Subscriber tags (octeth-5.9.4/subscribers.md): subscriber.tags.create|update|get|delete and
// subscriber.tag / subscriber.untag. Tags belong to one list.

func (a *App) registerSubscriberTags(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{Name: "subscriber.tags.create", Auth: dispatcher.AuthUser, Permission: "List.Update", Handler: a.tagCreate})
	r.Register(&dispatcher.Command{Name: "subscriber.tags.update", Auth: dispatcher.AuthUser, Permission: "List.Update", Handler: a.tagUpdate})
	r.Register(&dispatcher.Command{Name: "subscriber.tags.get", Auth: dispatcher.AuthUser, Permission: "List.Update", Handler: a.tagsGet})
	r.Register(&dispatcher.Command{Name: "subscriber.tags.delete", Auth: dispatcher.AuthUser, Permission: "List.Update", Handler: a.tagsDelete})
	for _, c := range []struct {
		name  string
		untag bool
	}{{"subscriber.tag", false}, {"subscriber.untag", true}} {
		untag := c.untag
		r.Register(&dispatcher.Command{
			Name: c.name, Auth: dispatcher.AuthUser, Permission: "Subscriber.Update",
			Handler: func(ctx context.Context, req *dispatcher.Request) (any, error) {
				return a.tagSubscribers(ctx, req, untag)
			},
		})
	}
}

// validTagName: letters, numbers, spaces, hyphens, underscores and percent signs.
func validTagName(s string) bool {
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || r == '-' || r == '_' || r == '%') {
			return false
		}
	}
	return true
}

func (a *App) tagCreate(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	if !p.Has("ListID") {
		return nil, subIssue(dispatcher.KindInvalid, 1, "Missing ListID parameter")
	}
	name := strings.TrimSpace(p.String("TagName"))
	if name == "" {
		return nil, subIssue(dispatcher.KindInvalid, 2, "Missing TagName parameter")
	}
	if !validTagName(name) {
		return nil, subIssue(dispatcher.KindInvalid, 3, "Invalid tag format (only letters, numbers, spaces, hyphens and underscores allowed, and percent signs)")
	}
	l, err := a.ownList(ctx, req, p.Int("ListID"), 4, "Invalid ListID")
	if err != nil {
		return nil, scalar(err)
	}
	t := &storage.Tag{UserID: l.UserID, ListID: l.ID, Name: name, Description: p.String("TagDescription")}
	if err := a.DB.CreateTag(ctx, t); err == storage.ErrDuplicate {
		return nil, subIssue(dispatcher.KindConflict, 5, "Tag name already exists")
	} else if err != nil {
		return nil, err
	}
	return map[string]any{"TagID": t.ID}, nil
}

func (a *App) tagUpdate(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	if !p.Has("ListID") {
		return nil, subIssue(dispatcher.KindInvalid, 1, "Missing ListID parameter")
	}
	if !p.Has("TagID") {
		return nil, subIssue(dispatcher.KindInvalid, 2, "Missing TagID parameter")
	}
	l, err := a.ownList(ctx, req, p.Int("ListID"), 4, "Invalid ListID")
	if err != nil {
		return nil, scalar(err)
	}
	t, err := a.DB.TagByID(ctx, l.UserID, l.ID, p.Int("TagID"))
	if isNotFound(err) {
		return nil, subIssue(dispatcher.KindNotFound, 4, "Invalid TagID")
	}
	if err != nil {
		return nil, err
	}
	if _, sent := dispatcher.Lookup(p.Tree(), "TagName"); sent {
		name := strings.TrimSpace(p.String("TagName"))
		if name == "" {
			return nil, subIssue(dispatcher.KindInvalid, 4, "Tag cannot be empty after trimming whitespace")
		}
		if !validTagName(name) {
			return nil, subIssue(dispatcher.KindInvalid, 3, "Invalid tag format (only letters, numbers, spaces, hyphens and underscores allowed, and percent signs)")
		}
		t.Name = name
	}
	if _, sent := dispatcher.Lookup(p.Tree(), "TagDescription"); sent {
		t.Description = p.String("TagDescription")
	}
	if err := a.DB.UpdateTag(ctx, t); err == storage.ErrDuplicate {
		return nil, subIssue(dispatcher.KindConflict, 5, "Tag name already exists")
	} else if err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

func (a *App) tagsGet(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	if !p.Has("ListID") {
		return nil, subIssue(dispatcher.KindInvalid, 1, "Missing ListID parameter")
	}
	l, err := a.ownList(ctx, req, p.Int("ListID"), 2, "Invalid ListID")
	if err != nil {
		return nil, scalar(err)
	}
	tags, err := a.DB.Tags(ctx, l.ID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Tags": tagListViews(tags)}, nil
}

// tagListViews renders tags as subscriber.tags.get shows them.
func tagListViews(tags []storage.Tag) []map[string]any {
	out := make([]map[string]any, 0, len(tags))
	for _, t := range tags {
		out = append(out, map[string]any{"TagID": t.ID, "TagName": t.Name, "TagDescription": t.Description, "SubscriberCount": t.Subscribers})
	}
	return out
}

func (a *App) tagsDelete(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	if !p.Has("SubscriberListID") {
		return nil, subIssue(dispatcher.KindInvalid, 2, "Missing SubscriberListID parameter")
	}
	l, err := a.ownList(ctx, req, p.Int("SubscriberListID"), 4, "Invalid SubscriberListID")
	if err != nil {
		return nil, scalar(err)
	}
	ids, ok := idList(p.Value("TagIDs"))
	if !ok || len(ids) == 0 {
		e := subIssue(dispatcher.KindInvalid, 5, "Tag ids are missing")
		e.Extra = map[string]any{"ErrorText": []string{"Tag ids are missing"}}
		return nil, e
	}
	if _, err := a.DB.DeleteTags(ctx, l.ID, ids); err != nil {
		return nil, err
	}
	return dispatcher.Bare{}, nil
}

// tagSubscribers: codes 1 TagID, 2 list id, 4 list, 6 no RulesJSON / unknown tag,
// 7 no RulesOperator / bad RulesJSON, 8 rules failed.
func (a *App) tagSubscribers(ctx context.Context, req *dispatcher.Request, untag bool) (any, error) {
	p := req.Params
	if !p.Has("TagID") {
		return nil, subIssue(dispatcher.KindInvalid, 1, "Missing TagID parameter")
	}
	listID := p.Int("SubscriberListID")
	if !p.Has("SubscriberListID") {
		if !p.Has("ListID") {
			return nil, subIssue(dispatcher.KindInvalid, 2, "Missing SubscriberListID parameter")
		}
		listID = p.Int("ListID")
	}
	l, err := a.ownList(ctx, req, listID, 4, "Invalid SubscriberListID")
	if err != nil {
		return nil, scalar(err)
	}
	tagIDs, ok := idList(p.Value("TagID"))
	if !ok || len(tagIDs) == 0 {
		return nil, subIssue(dispatcher.KindNotFound, 6, "Invalid TagID")
	}
	for _, id := range tagIDs {
		if _, err := a.DB.TagByID(ctx, l.UserID, l.ID, id); isNotFound(err) {
			return nil, subIssue(dispatcher.KindNotFound, 6, "Invalid TagID")
		} else if err != nil {
			return nil, err
		}
	}
	var subIDs []int64
	if p.Has("SubscriberID") {
		ids, ok := idList(p.Value("SubscriberID"))
		if !ok {
			return nil, subIssue(dispatcher.KindInvalid, 6, "Invalid SubscriberID")
		}
		// Only the list's own subscribers among them.
		if len(ids) > 0 {
			if subIDs, err = a.DB.SubscriberIDs(ctx, storage.SubscriberFilter{ListID: l.ID, IDs: ids}); err != nil {
				return nil, err
			}
		}
	} else {
		if !rulesGiven(p.Value("RulesJSON")) {
			return nil, subIssue(dispatcher.KindInvalid, 6, "Missing RulesJSON parameter")
		}
		if !p.Has("RulesOperator") {
			return nil, subIssue(dispatcher.KindInvalid, 7, "Missing RulesOperator parameter")
		}
		f, err := a.parseRules(p.Value("RulesJSON"), p.String("RulesOperator"))
		if err != nil {
			return nil, subIssue(dispatcher.KindInvalid, 7, msgBadRules)
		}
		f.ListID = l.ID
		if subIDs, err = a.DB.SubscriberIDs(ctx, f); err != nil {
			a.Log.ErrorContext(ctx, "subscriber.tag rules", "err", err)
			return nil, subIssue(dispatcher.KindUnprocessable, 8, "Invalid query builder response")
		}
	}
	if err := a.DB.TagSubscribers(ctx, tagIDs, subIDs, untag); err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}
