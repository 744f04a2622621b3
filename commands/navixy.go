package commands

// The Navixy panel: panel/account/auth and logout (sessions of kind "navixy"), and the email
// gateways a dealer (a user) may use: panel/gateways/email/list and bind.

import (
	"context"
	"errors"
	"strings"

	"gatewayd/dispatcher"
	"gatewayd/secret"
	"gatewayd/storage"
)

// Navixy status codes the panel commands return themselves; the Navixy surface maps the other
// error kinds (dispatcher/navixy.go).
const (
	NavixyDealerNotFound = 12 // panel/account/auth: wrong login or password
)

func (a *App) registerNavixy(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{
		Name: "panel/account/auth", Auth: dispatcher.AuthPublic,
		Handler: a.navixyAuth,
	})
	r.Register(&dispatcher.Command{
		Name: "panel/account/logout", Auth: dispatcher.AuthUser,
		Handler: a.navixyLogout,
	})
	r.Register(&dispatcher.Command{
		Name: "panel/gateways/email/list", Auth: dispatcher.AuthUser, RateLimited: true, RateGroup: "navixy",
		Handler: a.navixyGatewayList,
	})
	r.Register(&dispatcher.Command{
		Name: "panel/gateways/email/bind", Auth: dispatcher.AuthUser, RateLimited: true, RateGroup: "navixy",
		Handler: a.navixyGatewayBind,
	})
}

// navixyAuth opens a panel session for login + password (the user's Username and Password):
// {"hash":"..."}. Missing parameters are 7 (invalid parameters); a wrong pair is 12.
func (a *App) navixyAuth(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	var issues []dispatcher.Issue
	if !p.Has("login") {
		issues = append(issues, dispatcher.Field("login", 1, "Parameter is required"))
	}
	if !p.Has("password") {
		issues = append(issues, dispatcher.Field("password", 2, "Parameter is required"))
	}
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	u, err := a.loginUser(ctx, dispatcher.NewParams(map[string]any{"Username": p.String("login"), "Password": p.String("password")}), req.Meta.RemoteIP)
	if err != nil {
		var de *dispatcher.Error
		if errors.As(err, &de) && de.Kind == dispatcher.KindAuth {
			return nil, dispatcher.Fail(dispatcher.KindAuth, NavixyDealerNotFound, "Dealer not found")
		}
		return nil, err
	}
	hash, err := a.newSession(ctx, sessionNavixy, u.ID)
	if err != nil {
		return nil, err
	}
	return gwObject{{"hash", hash}}, nil
}

// navixyLogout ends the session whose hash authenticated the call.
func (a *App) navixyLogout(ctx context.Context, req *dispatcher.Request) (any, error) {
	hash := req.Params.String("hash")
	if hash == "" {
		hash = req.Params.String("SessionID")
	}
	if hash != "" {
		if err := a.DB.DeleteSession(ctx, secret.Hash(hash)); err != nil && !isNotFound(err) {
			return nil, err
		}
	}
	return gwObject{}, nil
}

// navixyGatewayList answers the dealer's bound gateway, own email gateways (with the
// JavaMail-style params; the password is always null) and the platform's leasable ones.
func (a *App) navixyGatewayList(ctx context.Context, req *dispatcher.Request) (any, error) {
	if err := gwAllowed(req.Principal, false); err != nil {
		return nil, err
	}
	uid := req.Principal.UserID
	var bound any
	id, err := a.DB.BoundGatewayID(ctx, uid)
	switch {
	case err == nil:
		bound = id
	case !isNotFound(err):
		return nil, err
	}
	own, _, err := a.DB.Gateways(ctx, storage.GatewayFilter{OwnerID: uid, Interface: GatewayEmail})
	if err != nil {
		return nil, err
	}
	leasable, err := a.DB.LeasableGateways(ctx, GatewayEmail)
	if err != nil {
		return nil, err
	}
	ownOut := make([]gwObject, 0, len(own))
	for i := range own {
		ownOut = append(ownOut, navixyOwnView(&own[i]))
	}
	leaseOut := make([]gwObject, 0, len(leasable))
	for _, g := range leasable {
		leaseOut = append(leaseOut, gwObject{{"id", g.ID}, {"label", g.Label}, {"provider", g.Provider},
			{"default_from_address", gwNullable(g.FromAddress)}})
	}
	return gwObject{{"bound_gateway", bound}, {"own", ownOut}, {"leasable", leaseOut}}, nil
}

// navixyOwnView is an own gateway as the Navixy panel shows it.
func navixyOwnView(g *storage.Gateway) gwObject {
	return gwObject{
		{"id", g.ID}, {"leasable", g.Leasable}, {"label", g.Label}, {"provider", g.Provider},
		{"params", navixyParams(g)},
	}
}

// navixyParams is the JavaMail-style view of a gateway. starttls.enable is set for starttls
// and tls, starttls.required for tls, use_ssl for ssl; mail.smtp.auth when a username is set.
func navixyParams(g *storage.Gateway) gwObject {
	return gwObject{
		{"default_from_address", gwNullable(g.FromAddress)},
		{"mail.smtp.user", gwNullable(g.Username)},
		{"mail.smtp.password", nil},
		{"mail.smtp.host", g.Host},
		{"mail.smtp.port", g.Port},
		{"mail.smtp.ssl.port", g.SSLPort},
		{"mail.smtp.ssl.trust_all_hosts", g.TrustAllHosts},
		{"mail.smtp.auth", g.Username != ""},
		{"mail.debug", false},
		{"mail.smtp.starttls.enable", g.Encryption == EncryptionSTARTTLS || g.Encryption == EncryptionTLS},
		{"mail.smtp.starttls.required", g.Encryption == EncryptionTLS},
		{"mail.smtp.use_ssl", g.Encryption == EncryptionSSL},
		{"mail.smtp.timeout", g.TimeoutMS},
		{"mail.smtp.connectiontimeout", g.ConnectTimeoutMS},
		{"mail.transport.protocol", "smtp"},
	}
}

// navixyGatewayBind binds gateway_id (the dealer's own email gateway or a leasable platform
// one) as the route of the dealer's mail; gateway_id null (or "") unbinds. A gateway the
// dealer may not use is "not found".
func (a *App) navixyGatewayBind(ctx context.Context, req *dispatcher.Request) (any, error) {
	if err := gwAllowed(req.Principal, true); err != nil {
		return nil, err
	}
	v, present := dispatcher.Lookup(req.Params.Tree(), "gateway_id")
	if !present {
		return nil, dispatcher.Invalid(dispatcher.Field("gateway_id", 1, "Parameter is required (null unbinds)"))
	}
	if s, isStr := v.(string); v == nil || (isStr && (strings.TrimSpace(s) == "" || strings.EqualFold(strings.TrimSpace(s), "null"))) {
		if err := a.DB.UnbindGateway(ctx, req.Principal.UserID); err != nil {
			return nil, err
		}
		return gwObject{}, nil
	}
	id, ok := dispatcher.AsInt(v)
	if _, isBool := v.(bool); isBool || !ok || id <= 0 {
		return nil, dispatcher.Invalid(dispatcher.Field("gateway_id", 1, "Must be a gateway id or null"))
	}
	// The dealer's own gateway must pass the outbound address policy (one stored before the
	// policy, or while GATEWAY_UPSTREAM_ALLOW_PRIVATE was set, may not); a leased platform
	// gateway is the operator's.
	if g, err := a.DB.GatewayByID(ctx, id, req.Principal.UserID); err == nil {
		if msg := a.gwCheckHost(ctx, g); msg != "" {
			return nil, dispatcher.Invalid(dispatcher.Field("gateway_id", 1, "The gateway's host is refused: "+msg))
		}
	} else if !isNotFound(err) {
		return nil, err
	}
	if err := a.DB.BindGateway(ctx, req.Principal.UserID, id); err != nil {
		if isNotFound(err) {
			return nil, dispatcher.NotFound(2, "Gateway not found")
		}
		return nil, err
	}
	return gwObject{}, nil
}
