package commands

import (
	"context"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"gatewayd/dispatcher"
	"gatewayd/secret"
	"gatewayd/storage"
)

// SenderKeyPrefix starts every sender API key.
const SenderKeyPrefix = "eg_live_"

// maxDescription is the longest API key description (the column is VARCHAR(255)).
const maxDescription = 255

func (a *App) registerAPIKeys(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{
		Name: "emailgateway.addapi", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params: []dispatcher.Param{
			{Name: "Description", Required: true, Code: 1},
			{Name: "DomainID", Type: dispatcher.Int, Required: true, Code: 2},
		},
		Handler: a.addAPI,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.getapis", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params:  []dispatcher.Param{{Name: "DomainID", Type: dispatcher.Int, Required: true, Code: 1}},
		Handler: a.getAPIs,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.deleteapi", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params:  []dispatcher.Param{{Name: "APIKeyID", Type: dispatcher.Int, Required: true, Code: 1}},
		Handler: a.deleteAPI,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.replaceapi", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params: []dispatcher.Param{
			{Name: "APIKeyID", Type: dispatcher.Int, Code: 3, Message: "API Key not found or access denied"},
			{Name: "DomainID", Type: dispatcher.Int, Code: 3, Message: "Domain not found or not owned by the caller"},
		},
		// octeth-5.9.4: Description (1) and DomainID (2) are required; gatewayd's own form
		// names the key to rotate by APIKeyID instead.
		Check: func(p dispatcher.Params) []dispatcher.Issue {
			if p.Has("APIKeyID") {
				return nil
			}
			var out []dispatcher.Issue
			if strings.TrimSpace(p.String("Description")) == "" {
				out = append(out, dispatcher.Field("Description", 1, "Missing required parameter (Description)"))
			}
			if !p.Has("DomainID") {
				out = append(out, dispatcher.Field("DomainID", 2, "Missing required parameter (DomainID)"))
			}
			return out
		},
		Handler: a.replaceAPI,
	})
}

// newSenderKey makes a key and its stored forms: the SHA-256 hash that authenticates it and the
// AES-GCM copy that getapis lists back.
func (a *App) newSenderKey() (plain string, k *storage.DomainAPIKey, err error) {
	plain = secret.Token(SenderKeyPrefix, 32)
	enc, err := a.Keys.Encrypt([]byte(plain))
	if err != nil {
		return "", nil, err
	}
	return plain, &storage.DomainAPIKey{KeyHash: secret.Hash(plain), KeyEnc: enc}, nil
}

func apiKeyView(k *storage.DomainAPIKey, plain string) map[string]any {
	return map[string]any{"APIKeyID": k.ID, "APIKey": plain, "Description": k.Description, "DomainID": k.DomainID}
}

// description validates an API key description: at most 255 characters, one line (code 4).
func description(p dispatcher.Params) (string, *dispatcher.Error) {
	d := strings.TrimSpace(p.String("Description"))
	if utf8.RuneCountInString(d) > maxDescription || strings.ContainsAny(d, "\r\n\x00") || !utf8.ValidString(d) {
		return "", dispatcher.Invalid(dispatcher.Field("Description", 4, "Invalid Description (one line, at most 255 characters)"))
	}
	return d, nil
}

// addAPI creates a sender API key. Codes: 1 Description missing, 2 DomainID missing (both at
// once), 3 domain not found or access denied, 4 invalid Description.
func (a *App) addAPI(ctx context.Context, req *dispatcher.Request) (any, error) {
	desc, bad := description(req.Params)
	if bad != nil {
		return nil, bad
	}
	d, err := a.ownDomain(ctx, req, req.Params.Int("DomainID"), 3)
	if err != nil {
		return nil, err
	}
	plain, k, err := a.newSenderKey()
	if err != nil {
		return nil, err
	}
	k.DomainID, k.UserID, k.Description = d.ID, d.UserID, desc
	if err := a.DB.CreateDomainAPIKey(ctx, k); err != nil {
		return nil, err
	}
	return map[string]any{"NewAPIKeyID": k.ID, "APIKey": apiKeyView(k, plain)}, nil
}

// getAPIs lists a domain's keys, each shown in full from its sealed copy.
// Codes: 1 DomainID missing, 2 domain not found or access denied.
func (a *App) getAPIs(ctx context.Context, req *dispatcher.Request) (any, error) {
	d, err := a.ownDomain(ctx, req, req.Params.Int("DomainID"), 2)
	if err != nil {
		return nil, err
	}
	ks, err := a.DB.DomainAPIKeys(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(ks))
	for i := range ks {
		plain, err := a.Keys.Decrypt(ks[i].KeyEnc)
		if err != nil {
			return nil, err
		}
		out = append(out, apiKeyView(&ks[i], string(plain)))
	}
	return map[string]any{"APIKeys": out}, nil
}

// deleteAPI removes a key. Codes: 1 APIKeyID missing, 2 not found or access denied.
func (a *App) deleteAPI(ctx context.Context, req *dispatcher.Request) (any, error) {
	err := a.DB.DeleteDomainAPIKey(ctx, req.Principal.UserID, req.Params.Int("APIKeyID"))
	if isNotFound(err) {
		return nil, dispatcher.NotFound(2, "API Key not found or access denied")
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

// Codes of replaceapi: octeth-5.9.4's 1-4, and gatewayd's 5 for an invalid Description (4 is
// the document's "atomic rotate failed").
const codeReplaceBadDescription = 5

// replaceAPI rotates keys in one transaction and answers the new key. With DomainID and
// Description (octeth-5.9.4) every key of the domain is deleted and one new key takes their
// place; with APIKeyID (gatewayd's form) that key alone is replaced, keeping its Description
// unless a new one is given. Codes: 1 Description missing, 2 DomainID missing, 3 domain (or
// key) not found or not the caller's, 4 the rotation failed and nothing changed, 5 invalid
// Description.
func (a *App) replaceAPI(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	var old *storage.DomainAPIKey
	if p.Has("APIKeyID") {
		k, err := a.DB.DomainAPIKeyByID(ctx, req.Principal.UserID, p.Int("APIKeyID"))
		if isNotFound(err) || (err == nil && p.Has("DomainID") && k.DomainID != p.Int("DomainID")) {
			return nil, dispatcher.NotFound(3, "API Key not found or access denied")
		}
		if err != nil {
			return nil, err
		}
		old = k
	}
	desc := ""
	if old != nil {
		desc = old.Description
	}
	if p.Has("Description") {
		d, bad := description(p)
		if bad != nil {
			bad.Issues[0].Code = codeReplaceBadDescription
			return nil, bad
		}
		desc = d
	}
	domainID := p.Int("DomainID")
	if old != nil {
		domainID = old.DomainID
	}
	d, err := a.ownDomain(ctx, req, domainID, 3)
	if err != nil {
		if old != nil {
			return nil, dispatcher.NotFound(3, "API Key not found or access denied")
		}
		return nil, dispatcher.NotFound(3, "Domain not found or not owned by the caller")
	}
	plain, k, err := a.newSenderKey()
	if err != nil {
		return nil, err
	}
	k.Description = desc
	if old != nil {
		err = a.DB.ReplaceDomainAPIKey(ctx, req.Principal.UserID, old.ID, k)
	} else {
		k.DomainID, k.UserID = d.ID, d.UserID
		err = a.DB.ReplaceDomainAPIKeys(ctx, k)
	}
	if isNotFound(err) {
		return nil, dispatcher.NotFound(3, "API Key not found or access denied")
	}
	if err != nil {
		a.Log.ErrorContext(ctx, "replaceapi: rotation failed", "domain", d.ID, "err", err)
		return nil, dispatcher.Fail(dispatcher.KindUnprocessable, 4, "Atomic rotate failed; no key was persisted. Safe to retry.")
	}
	view := apiKeyView(k, plain)
	view["UserID"], view["CreatedAt"], view["Status"], view["Options"] = k.UserID, octethTimeString(k.CreatedAt), "Enabled", []any{}
	return map[string]any{"NewAPIKeyID": k.ID, "APIKey": view}, nil
}

// addCredentialCounts adds, to each domain of a getdomains answer (WithCounts=true),
// APIKeyCount, SMTPCount and WebhookCount, and octeth-5.9.4's 7-day figures: Sent7d (accepted
// recipients of the 7 UTC days ending today, from the daily rollups), BounceRate7d (bounced /
// sent x 100, 2 decimals, 0 without sends) and LastActivityAt (the newest event of the
// window, ISO 8601 UTC, or null).
func (a *App) addCredentialCounts(ctx context.Context, userID int64, domains []map[string]any) error {
	counts, err := a.DB.CredentialCountsByUser(ctx, userID)
	if err != nil {
		return err
	}
	now := timeNow().UTC()
	today := now.Truncate(24 * time.Hour)
	ids := make([]int64, 0, len(domains))
	for _, d := range domains {
		id, _ := d["DomainID"].(int64)
		ids = append(ids, id)
	}
	week, err := a.DB.StatsByDomain(ctx, ids, dayKey(today.AddDate(0, 0, -6)), dayKey(today))
	if err != nil {
		return err
	}
	last, err := a.DB.LastActivity(ctx, userID, now.Add(-7*24*time.Hour).Unix())
	if err != nil {
		return err
	}
	for _, d := range domains {
		id, _ := d["DomainID"].(int64)
		c := counts[id]
		d["APIKeyCount"], d["SMTPCount"], d["WebhookCount"] = c.APIKeys, c.SMTP, c.Webhooks
		w := week[id]
		rate := 0.0
		if w.Sent > 0 {
			rate = math.Round(float64(w.Bounced)/float64(w.Sent)*10000) / 100
		}
		d["Sent7d"], d["BounceRate7d"], d["LastActivityAt"] = w.Sent, rate, nil
		if at, ok := last[id]; ok {
			d["LastActivityAt"] = time.Unix(at, 0).UTC().Format(time.RFC3339)
		}
	}
	return nil
}
