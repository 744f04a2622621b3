package commands

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"gatewayd/dispatcher"
	"gatewayd/secret"
	"gatewayd/storage"
)

// Session kinds.
const (
	sessionUser   = "user"
	sessionAdmin  = "admin"
	sessionNavixy = "navixy"
	// user.switch: an administrator acting as a user, with the user's group permissions
	// (PrivilegeType Default) or all of them (Full).
	sessionSwitch     = "switch"
	sessionSwitchFull = "switch-full"
)

// Authenticate implements dispatcher.Authenticator over the credentials a command accepts:
// the admin key and admin sessions (AuthAdmin), user sessions and user API keys (AuthUser),
// sender API keys (AuthSender).
func (a *App) Authenticate(ctx context.Context, c dispatcher.Credentials, accept dispatcher.Auth) (*dispatcher.Principal, error) {
	presented := false
	if accept&dispatcher.AuthAdmin != 0 && c.AdminAPIKey != "" {
		presented = true
		if a.Cfg.AdminAPIKey != "" && secret.Equal(c.AdminAPIKey, a.Cfg.AdminAPIKey) {
			return &dispatcher.Principal{Kind: dispatcher.PrincipalAdmin, RateKey: "admin"}, nil
		}
	}
	if accept&dispatcher.AuthSender != 0 && c.SenderAPIKey != "" {
		presented = true
		k, err := a.senderKey(ctx, c.SenderAPIKey)
		switch {
		case err == nil:
			return &dispatcher.Principal{Kind: dispatcher.PrincipalSender, UserID: k.UserID, DomainID: k.DomainID, KeyID: k.ID,
				RateKey: "sender:" + strconv.FormatInt(k.ID, 10)}, nil
		case !isNotFound(err):
			return nil, fmt.Errorf("sender key: %w", err)
		}
	}
	if accept&(dispatcher.AuthUser|dispatcher.AuthAdmin) != 0 && c.SessionID != "" {
		presented = true
		p, err := a.sessionPrincipal(ctx, c.SessionID, accept)
		if p != nil || err != nil {
			return p, err
		}
	}
	if accept&dispatcher.AuthUser != 0 && c.APIKey != "" {
		presented = true
		k, err := a.DB.UserAPIKeyByHash(ctx, secret.Hash(c.APIKey))
		switch {
		case err == nil:
			return a.userPrincipal(ctx, k.UserID)
		case !isNotFound(err):
			return nil, fmt.Errorf("user key: %w", err)
		}
	}
	if !presented {
		return nil, dispatcher.ErrNoCredentials
	}
	return nil, dispatcher.ErrBadCredentials
}

// sessionPrincipal resolves a session id; (nil, nil) when it is unknown, expired or of a kind
// the command does not accept.
func (a *App) sessionPrincipal(ctx context.Context, id string, accept dispatcher.Auth) (*dispatcher.Principal, error) {
	s, err := a.DB.SessionByHash(ctx, secret.Hash(id))
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	switch {
	case s.Kind == sessionAdmin && accept&dispatcher.AuthAdmin != 0:
		return &dispatcher.Principal{Kind: dispatcher.PrincipalAdmin, RateKey: "admin:" + strconv.FormatInt(s.SubjectID, 10)}, nil
	case (s.Kind == sessionUser || s.Kind == sessionNavixy || s.Kind == sessionSwitch) && accept&dispatcher.AuthUser != 0:
		return a.userPrincipal(ctx, s.SubjectID)
	case s.Kind == sessionSwitchFull && accept&dispatcher.AuthUser != 0:
		p, err := a.userPrincipal(ctx, s.SubjectID)
		if p != nil {
			p.Permissions = []string{"*"}
		}
		return p, err
	}
	return nil, nil
}

// userPrincipal is the principal of a user's session or API key. A disabled account's
// credentials stop working at once: every request reads the account's status here.
func (a *App) userPrincipal(ctx context.Context, userID int64) (*dispatcher.Principal, error) {
	u, err := a.DB.UserByID(ctx, userID)
	if isNotFound(err) || (err == nil && !accountEnabled(u)) {
		return nil, dispatcher.ErrBadCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("user: %w", err)
	}
	g, err := a.DB.GroupByID(ctx, u.GroupID)
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("user group: %w", err)
	}
	var perms []string
	if err == nil {
		perms = splitPermissions(g.Permissions)
	}
	return &dispatcher.Principal{Kind: dispatcher.PrincipalUser, UserID: u.ID, Permissions: perms,
		RateKey: "user:" + strconv.FormatInt(u.ID, 10)}, nil
}

// accountEnabled reports whether the account's credentials may be used.
func accountEnabled(u *storage.User) bool { return strings.EqualFold(u.AccountStatus, StatusEnabled) }

func splitPermissions(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// newSession stores a session for subject and returns its id (shown once to the client).
func (a *App) newSession(ctx context.Context, kind string, subject int64) (string, error) {
	id := secret.HexToken(16)
	err := a.DB.CreateSession(ctx, &storage.Session{
		TokenHash: secret.Hash(id), Kind: kind, SubjectID: subject,
		ExpiresAt: timeNow().Add(a.Cfg.SessionLifetime).Unix(),
	})
	return id, err
}

// senderKey looks a sender API key up. A key found serves again for senderReuse while no
// sender changed on this node: a client sending a message per request costs one read a
// second, and a key revoked on another node stops working here within that second.
func (a *App) senderKey(ctx context.Context, key string) (*storage.DomainAPIKey, error) {
	gen, hash := a.DB.SenderChanges(), secret.Hash(key)
	if k, ok := a.senderKeys.get(hash, gen); ok {
		cp := *k
		return &cp, nil
	}
	k, err := a.DB.DomainAPIKeyByHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	cp := *k
	a.senderKeys.put(hash, gen, &cp, senderReuse)
	return k, nil
}
