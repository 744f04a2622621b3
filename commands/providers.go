package commands

// B2Core SMTP service providers (/api/v2/mail/providers): mailproviders.list|get|status|
// create|update|delete. A provider is an email gateway of the caller: a user's own, or the
// platform's for the admin. Messages are fixed sentences so the surface can translate them.

import (
	"context"
	"slices"
	"strings"

	"gatewayd/commands/compose"
	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// Messages of the provider commands (the B2Core surface translates them).
const (
	pvMsgRequired       = "This field is required."
	pvMsgNotEmpty       = "This field cannot be empty."
	pvMsgDriver         = "Must be one of: smtp."
	pvMsgHost           = "Must be a valid host name or IP address."
	pvMsgPort           = "Must be an integer between 1 and 65535."
	pvMsgText           = "Must be between 1 and 255 characters without control characters."
	pvMsgOptionalText   = "Must be at most 255 characters without control characters."
	pvMsgEmail          = "Must be a valid email address."
	pvMsgEncryption     = "Must be one of: tls, ssl."
	pvMsgBoolean        = "Must be a boolean (true, false, 1 or 0)."
	pvMsgLimit          = "Must be an integer between 1 and 100."
	pvMsgOffset         = "Must be an integer of 0 or more."
	pvMsgProviderAbsent = "Mail provider not found."
)

// Codes of the provider commands on api.php (the REST surface speaks in statuses).
const (
	pvCodeDriver = iota + 1
	pvCodeHost
	pvCodePort
	pvCodeUsername
	pvCodePassword
	pvCodeSendFrom
	pvCodeSendFromName
	pvCodeEncryption
	pvCodeIsEnabled
	pvCodeCaption
	pvCodeTrustAllHosts
	pvCodeLimit
	pvCodeOffset
	pvCodeNotFound    = 404
	pvCodeCheckFailed = 422
)

const (
	pvDefaultLimit = 20
	pvMaxLimit     = 100
)

func (a *App) registerProviders(r *dispatcher.Registry) {
	auth := dispatcher.AuthUser | dispatcher.AuthAdmin
	for name, h := range map[string]dispatcher.Handler{
		"mailproviders.list":   a.providerList,
		"mailproviders.get":    a.providerGet,
		"mailproviders.status": a.providerStatus,
		"mailproviders.create": a.providerCreate,
		"mailproviders.update": a.providerUpdate,
		"mailproviders.delete": a.providerDelete,
	} {
		r.Register(&dispatcher.Command{Name: name, Auth: auth, RateLimited: true, RateGroup: "providers", Handler: h})
	}
}

// restEncryption is a gateway's encryption as B2Core and Tenevo spell it: "ssl" for
// implicit TLS, "tls" for required STARTTLS, null otherwise (STARTTLS when offered, or none).
func restEncryption(g *storage.Gateway) any {
	switch g.Encryption {
	case EncryptionSSL:
		return "ssl"
	case EncryptionTLS:
		return "tls"
	}
	return nil
}

// providerView is a gateway as B2Core shows a provider (never the password). encryption is
// "ssl" for implicit TLS, "tls" for required STARTTLS, null otherwise.
func providerView(g *storage.Gateway) gwObject {
	return gwObject{
		{"id", g.ID}, {"caption", g.Label}, {"driver", g.Provider}, {"host", g.Host},
		{"port", gwConnectPort(g)}, {"username", g.Username}, {"sendFrom", g.FromAddress},
		{"sendFromName", g.FromName}, {"encryption", restEncryption(g)}, {"isEnabled", g.Enabled},
		{"trustAllHosts", g.TrustAllHosts},
	}
}

// provider loads the caller's provider named by the id parameter; anything else (another
// tenant's, a Twilio gateway, a malformed id) is "not found".
func (a *App) provider(ctx context.Context, req *dispatcher.Request) (*storage.Gateway, error) {
	id, ok := dispatcher.AsInt(req.Params.Value("id"))
	if !ok || id <= 0 {
		return nil, dispatcher.NotFound(pvCodeNotFound, pvMsgProviderAbsent)
	}
	g, err := a.DB.GatewayByID(ctx, id, gwOwner(req.Principal))
	if isNotFound(err) || (err == nil && g.Interface != GatewayEmail) {
		return nil, dispatcher.NotFound(pvCodeNotFound, pvMsgProviderAbsent)
	}
	return g, err
}

func (a *App) providerList(ctx context.Context, req *dispatcher.Request) (any, error) {
	if err := gwAllowed(req.Principal, false); err != nil {
		return nil, err
	}
	limit, offset := int64(pvDefaultLimit), int64(0)
	var issues []dispatcher.Issue
	if v, ok := gwParam(req.Params, "limit"); ok {
		n, valid := dispatcher.AsInt(v)
		if !valid || n < 1 || n > pvMaxLimit {
			issues = append(issues, dispatcher.Field("limit", pvCodeLimit, pvMsgLimit))
		}
		limit = n
	}
	if v, ok := gwParam(req.Params, "offset"); ok {
		n, valid := dispatcher.AsInt(v)
		if !valid || n < 0 || n > 1<<31 {
			issues = append(issues, dispatcher.Field("offset", pvCodeOffset, pvMsgOffset))
		}
		offset = n
	}
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	gs, total, err := a.DB.Gateways(ctx, storage.GatewayFilter{OwnerID: gwOwner(req.Principal), Interface: GatewayEmail,
		Limit: int(limit), Offset: int(offset)})
	if err != nil {
		return nil, err
	}
	items := make([]gwObject, 0, len(gs))
	for i := range gs {
		items = append(items, providerView(&gs[i]))
	}
	return dispatcher.Page{Items: items, Total: int64(total), Limit: limit, Offset: offset}, nil
}

func (a *App) providerGet(ctx context.Context, req *dispatcher.Request) (any, error) {
	if err := gwAllowed(req.Principal, false); err != nil {
		return nil, err
	}
	g, err := a.provider(ctx, req)
	if err != nil {
		return nil, err
	}
	return providerView(g), nil
}

// providerStatus connects to the provider as delivery would; success is an empty result (204
// on the REST surface), failure KindUnprocessable with the stage and the server's reply.
func (a *App) providerStatus(ctx context.Context, req *dispatcher.Request) (any, error) {
	if err := gwAllowed(req.Principal, false); err != nil {
		return nil, err
	}
	g, err := a.provider(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := a.probeGateway(ctx, g); err != nil {
		a.Log.InfoContext(ctx, "gateway status check failed", "gateway", g.ID, "err", err)
		return nil, dispatcher.Fail(dispatcher.KindUnprocessable, pvCodeCheckFailed, gwProbeMessage(err))
	}
	return gwObject{}, nil
}

// pvField is one B2Core body field: how to read it onto a gateway. apply returns "" or the
// message of what is wrong with v.
type pvField struct {
	name     string
	code     int
	required bool
	apply    func(g *storage.Gateway, v any) (string, error)
}

// providerFields lists the body fields in the document's order. The port is only noted in
// *port: it lands once the encryption is known (on the SSL port too for implicit TLS).
func (a *App) providerFields(port *int) []pvField {
	text := func(dst func(*storage.Gateway) *string, minLen int) func(*storage.Gateway, any) (string, error) {
		return func(g *storage.Gateway, v any) (string, error) {
			s, ok := gwString(v)
			if !ok || !gwText(s, minLen, gwMaxText) {
				if minLen == 0 {
					return pvMsgOptionalText, nil
				}
				return pvMsgText, nil
			}
			*dst(g) = s
			return "", nil
		}
	}
	return []pvField{
		{"driver", pvCodeDriver, true, func(g *storage.Gateway, v any) (string, error) {
			if s, _ := gwString(v); strings.EqualFold(s, "smtp") {
				g.Provider = "smtp"
				return "", nil
			}
			return pvMsgDriver, nil
		}},
		{"host", pvCodeHost, true, func(g *storage.Gateway, v any) (string, error) {
			if s, ok := gwString(v); ok && gwHost(s) {
				g.Host = s
				return "", nil
			}
			return pvMsgHost, nil
		}},
		{"port", pvCodePort, true, func(g *storage.Gateway, v any) (string, error) {
			n, ok := gwPort(v)
			if !ok {
				return pvMsgPort, nil
			}
			*port = n
			return "", nil
		}},
		{"username", pvCodeUsername, true, text(func(g *storage.Gateway) *string { return &g.Username }, 1)},
		{"password", pvCodePassword, true, func(g *storage.Gateway, v any) (string, error) {
			s, ok := dispatcher.AsString(v)
			if !ok || !gwText(s, 1, gwMaxText) {
				return pvMsgText, nil
			}
			return "", a.gwSealPassword(g, s)
		}},
		{"sendFrom", pvCodeSendFrom, true, func(g *storage.Gateway, v any) (string, error) {
			if s, ok := gwString(v); ok && compose.ValidAddress(s) {
				g.FromAddress = s
				return "", nil
			}
			return pvMsgEmail, nil
		}},
		{"sendFromName", pvCodeSendFromName, true, text(func(g *storage.Gateway) *string { return &g.FromName }, 1)},
		{"encryption", pvCodeEncryption, true, func(g *storage.Gateway, v any) (string, error) {
			s, _ := gwString(v)
			switch strings.ToLower(s) {
			case "tls":
				g.Encryption = EncryptionTLS
			case "ssl":
				g.Encryption = EncryptionSSL
			default:
				return pvMsgEncryption, nil
			}
			return "", nil
		}},
		{"isEnabled", pvCodeIsEnabled, true, func(g *storage.Gateway, v any) (string, error) {
			b, ok := gwBool(v)
			if !ok {
				return pvMsgBoolean, nil
			}
			g.Enabled = b
			return "", nil
		}},
		{"caption", pvCodeCaption, false, text(func(g *storage.Gateway) *string { return &g.Label }, 0)},
		{"trustAllHosts", pvCodeTrustAllHosts, false, func(g *storage.Gateway, v any) (string, error) {
			b, ok := gwBool(v)
			if !ok {
				return pvMsgBoolean, nil
			}
			g.TrustAllHosts = b
			return "", nil
		}},
	}
}

// applyProvider reads the body onto g. On create every required field must be present; on
// update only the fields sent change, and none of the required ones may be emptied. The
// connection port stays what it was unless port is sent, also when the encryption changes.
func (a *App) applyProvider(g *storage.Gateway, p dispatcher.Params, create bool) ([]dispatcher.Issue, error) {
	var issues []dispatcher.Issue
	port := gwConnectPort(g)
	for _, f := range a.providerFields(&port) {
		v, present := gwParam(p, f.name)
		s, isStr := v.(string)
		empty := isStr && strings.TrimSpace(s) == ""
		switch {
		case !present && create && f.required:
			issues = append(issues, dispatcher.Field(f.name, f.code, pvMsgRequired))
			continue
		case !present:
			continue
		case empty && f.required && create:
			issues = append(issues, dispatcher.Field(f.name, f.code, pvMsgRequired))
			continue
		case empty && f.required:
			issues = append(issues, dispatcher.Field(f.name, f.code, pvMsgNotEmpty))
			continue
		}
		msg, err := f.apply(g, v)
		if err != nil {
			return nil, err
		}
		if msg != "" {
			issues = append(issues, dispatcher.Field(f.name, f.code, msg))
		}
	}
	gwSetConnectPort(g, port)
	if g.Label == "" {
		g.Label = g.Host
	}
	return issues, nil
}

// providerHostIssue adds the host field's refusal by the outbound address policy when the
// body sets a host that is otherwise valid.
func (a *App) providerHostIssue(ctx context.Context, g *storage.Gateway, p dispatcher.Params, issues []dispatcher.Issue) []dispatcher.Issue {
	if _, sent := gwParam(p, "host"); !sent || slices.ContainsFunc(issues, func(is dispatcher.Issue) bool { return is.Field == "host" }) {
		return issues
	}
	if msg := a.gwCheckHost(ctx, g); msg != "" {
		issues = append(issues, dispatcher.Field("host", pvCodeHost, msg))
	}
	return issues
}

func (a *App) providerCreate(ctx context.Context, req *dispatcher.Request) (any, error) {
	if err := gwAllowed(req.Principal, true); err != nil {
		return nil, err
	}
	g := gwNewGateway(gwOwner(req.Principal))
	issues, err := a.applyProvider(g, req.Params, true)
	if err != nil {
		return nil, err
	}
	issues = a.providerHostIssue(ctx, g, req.Params, issues)
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	if err := a.DB.CreateGateway(ctx, g); err != nil {
		return nil, err
	}
	return providerView(g), nil
}

func (a *App) providerUpdate(ctx context.Context, req *dispatcher.Request) (any, error) {
	if err := gwAllowed(req.Principal, true); err != nil {
		return nil, err
	}
	g, err := a.provider(ctx, req)
	if err != nil {
		return nil, err
	}
	issues, err := a.applyProvider(g, req.Params, false)
	if err != nil {
		return nil, err
	}
	issues = a.providerHostIssue(ctx, g, req.Params, issues)
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	if err := a.DB.UpdateGateway(ctx, g, false); err != nil {
		if isNotFound(err) {
			return nil, dispatcher.NotFound(pvCodeNotFound, pvMsgProviderAbsent)
		}
		return nil, err
	}
	return providerView(g), nil
}

func (a *App) providerDelete(ctx context.Context, req *dispatcher.Request) (any, error) {
	if err := gwAllowed(req.Principal, true); err != nil {
		return nil, err
	}
	g, err := a.provider(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := a.DB.DeleteGateway(ctx, g.ID, g.OwnerID); err != nil {
		if isNotFound(err) {
			return nil, dispatcher.NotFound(pvCodeNotFound, pvMsgProviderAbsent)
		}
		return nil, err
	}
	return gwObject{}, nil
}
