package commands

import (
	"context"
	"strings"
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
		Params:  []dispatcher.Param{{Name: "APIKeyID", Type: dispatcher.Int, Required: true, Code: 1}},
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

// replaceAPI rotates a key: the old one is deleted and a new one with the same domain (and
// the same Description unless a new one is given) is created, in one transaction.
// Codes: 1 APIKeyID missing, 2 not found or access denied, 4 invalid Description.
func (a *App) replaceAPI(ctx context.Context, req *dispatcher.Request) (any, error) {
	id := req.Params.Int("APIKeyID")
	old, err := a.DB.DomainAPIKeyByID(ctx, req.Principal.UserID, id)
	if isNotFound(err) {
		return nil, dispatcher.NotFound(2, "API Key not found or access denied")
	}
	if err != nil {
		return nil, err
	}
	desc := old.Description
	if req.Params.Has("Description") {
		d, bad := description(req.Params)
		if bad != nil {
			return nil, bad
		}
		desc = d
	}
	plain, k, err := a.newSenderKey()
	if err != nil {
		return nil, err
	}
	k.Description = desc
	err = a.DB.ReplaceDomainAPIKey(ctx, req.Principal.UserID, id, k)
	if isNotFound(err) {
		return nil, dispatcher.NotFound(2, "API Key not found or access denied")
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"NewAPIKeyID": k.ID, "APIKey": apiKeyView(k, plain)}, nil
}

// addCredentialCounts adds APIKeyCount, SMTPCount and WebhookCount to each domain of a
// getdomains answer (WithCounts=true).
func (a *App) addCredentialCounts(ctx context.Context, userID int64, domains []map[string]any) error {
	counts, err := a.DB.CredentialCountsByUser(ctx, userID)
	if err != nil {
		return err
	}
	for _, d := range domains {
		id, _ := d["DomainID"].(int64)
		c := counts[id]
		d["APIKeyCount"], d["SMTPCount"], d["WebhookCount"] = c.APIKeys, c.SMTP, c.Webhooks
	}
	return nil
}
