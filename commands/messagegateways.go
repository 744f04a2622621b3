package commands

// Tenevo message gateways (/messages/gateways/): messagegateways.list|get|create|update|delete
// and the methods sub-resource, messagegateways.methods.list|add|delete. A message gateway is a
// gateway of the caller (a user's own, the platform's for the admin) of interface email (an
// SMTP server) or twilio (server = the API host name or base URL, username = the account SID, password =
// the auth token).

import (
	"context"
	"fmt"
	"strings"

	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// Messages of the message gateway commands.
const (
	mgMsgRequired   = "This field is required."
	mgMsgInterface  = "Must be one of: email, twilio."
	mgMsgName       = "Must be between 1 and 100 characters without control characters."
	mgMsgPort       = "Must be an integer of up to 5 digits (1-65535)."
	mgMsgSecurity   = "Must be one of: ssl, tls."
	mgMsgHost       = "Must be a valid host name or IP address."
	mgMsgTwilioURL  = "Must be a host name or an https URL (the Twilio API base URL)."
	mgMsgTwilioSID  = "Must be a Twilio account SID (AC followed by 32 hexadecimal characters)."
	mgMsgPassword   = "Must be between 1 and 255 characters without control characters."
	mgMsgBoolean    = "Must be a boolean (true, false, 1 or 0)."
	mgMsgFixedIface = "The interface of a gateway cannot be changed."
	mgMsgNotFound   = "Message gateway not found."
	mgMsgNoMethod   = "Method not found."
)

// Codes of the message gateway commands on api.php (the REST surface speaks in statuses).
const (
	mgCodeInterface = iota + 1
	mgCodeMethods
	mgCodeName
	mgCodePassword
	mgCodePort
	mgCodeSecurity
	mgCodeServer
	mgCodeUsername
	mgCodeTrustAllHosts
	mgCodeNotFound = 404
)

func (a *App) registerMessageGateways(r *dispatcher.Registry) {
	auth := dispatcher.AuthUser | dispatcher.AuthAdmin
	for name, h := range map[string]dispatcher.Handler{
		"messagegateways.list":           a.messageGatewayList,
		"messagegateways.get":            a.messageGatewayGet,
		"messagegateways.create":         a.messageGatewayCreate,
		"messagegateways.update":         a.messageGatewayUpdate,
		"messagegateways.delete":         a.messageGatewayDelete,
		"messagegateways.methods.list":   a.messageGatewayMethods,
		"messagegateways.methods.add":    a.messageGatewayMethodAdd,
		"messagegateways.methods.delete": a.messageGatewayMethodDelete,
	} {
		r.Register(&dispatcher.Command{Name: name, Auth: auth, RateLimited: true, RateGroup: "messagegateways", Handler: h})
	}
}

// messageGatewayView is a gateway as Tenevo shows it (never the password). security is "ssl"
// for implicit TLS, "tls" for required STARTTLS, null when unset (STARTTLS when offered).
func messageGatewayView(g *storage.Gateway) gwObject {
	methods := make([]gwObject, 0, len(g.Methods))
	for _, m := range g.Methods {
		methods = append(methods, methodView(m))
	}
	return gwObject{
		{"id", g.ID}, {"interface", g.Interface}, {"name", g.Label}, {"server", g.Host},
		{"port", gwConnectPort(g)}, {"security", restEncryption(g)}, {"username", g.Username},
		{"methods", methods}, {"trust_all_hosts", g.TrustAllHosts},
	}
}

func methodView(m storage.GatewayMethod) gwObject {
	return gwObject{{"id", m.ID}, {"channel", m.Channel}, {"detail", m.Detail}, {"priority", m.Priority}}
}

// messageGateway loads the caller's gateway named by the gateway parameter.
func (a *App) messageGateway(ctx context.Context, req *dispatcher.Request) (*storage.Gateway, error) {
	id, ok := dispatcher.AsInt(req.Params.Value("gateway"))
	if !ok || id <= 0 {
		return nil, dispatcher.NotFound(mgCodeNotFound, mgMsgNotFound)
	}
	g, err := a.DB.GatewayByID(ctx, id, gwOwner(req.Principal))
	if isNotFound(err) {
		return nil, dispatcher.NotFound(mgCodeNotFound, mgMsgNotFound)
	}
	return g, err
}

func (a *App) messageGatewayList(ctx context.Context, req *dispatcher.Request) (any, error) {
	if err := gwAllowed(req.Principal, false); err != nil {
		return nil, err
	}
	gs, total, err := a.DB.Gateways(ctx, storage.GatewayFilter{OwnerID: gwOwner(req.Principal)})
	if err != nil {
		return nil, err
	}
	items := make([]gwObject, 0, len(gs))
	for i := range gs {
		items = append(items, messageGatewayView(&gs[i]))
	}
	return gwObject{{"items", items}, {"total", total}}, nil
}

func (a *App) messageGatewayGet(ctx context.Context, req *dispatcher.Request) (any, error) {
	if err := gwAllowed(req.Principal, false); err != nil {
		return nil, err
	}
	g, err := a.messageGateway(ctx, req)
	if err != nil {
		return nil, err
	}
	return messageGatewayView(g), nil
}

// applyMessageGateway reads a create (POST) or update (PUT) body onto g. Both require name,
// password, port, server and username; POST also interface, which PUT may repeat but not
// change. security and methods are optional: absent keeps them, security null clears it,
// methods replaces the whole list.
func (a *App) applyMessageGateway(g *storage.Gateway, p dispatcher.Params, create bool) ([]dispatcher.Issue, bool, error) {
	var issues []dispatcher.Issue
	bad := func(field string, code int, msg string) {
		issues = append(issues, dispatcher.Field(field, code, msg))
	}
	get := func(name string, code int, required bool) (any, bool) {
		v, ok := gwParam(p, name)
		if s, isStr := v.(string); ok && isStr && strings.TrimSpace(s) == "" {
			ok = false
		}
		if !ok && required {
			bad(name, code, mgMsgRequired)
		}
		return v, ok
	}

	if v, ok := get("interface", mgCodeInterface, create); ok {
		s, _ := gwString(v)
		s = strings.ToLower(s)
		switch {
		case !gwOneOf(s, []string{GatewayEmail, GatewayTwilio}):
			bad("interface", mgCodeInterface, mgMsgInterface)
		case !create && s != g.Interface:
			bad("interface", mgCodeInterface, mgMsgFixedIface)
		default:
			g.Interface = s
			g.Provider = "smtp"
			if s == GatewayTwilio {
				g.Provider = "twilio"
			}
		}
	}
	twilio := g.Interface == GatewayTwilio

	if v, ok := get("name", mgCodeName, true); ok {
		if s, isStr := gwString(v); isStr && gwText(s, 1, 100) {
			g.Label = s
		} else {
			bad("name", mgCodeName, mgMsgName)
		}
	}
	if v, ok := get("password", mgCodePassword, true); ok {
		if s, isStr := dispatcher.AsString(v); isStr && gwText(s, 1, gwMaxText) {
			if err := a.gwSealPassword(g, s); err != nil {
				return nil, false, err
			}
		} else {
			bad("password", mgCodePassword, mgMsgPassword)
		}
	}
	// The port lands once the security is known (on the SSL port too for implicit TLS).
	port := gwConnectPort(g)
	if v, ok := get("port", mgCodePort, true); ok {
		if n, valid := gwPort(v); valid {
			port = n
		} else {
			bad("port", mgCodePort, mgMsgPort)
		}
	}
	if v, present := dispatcher.Lookup(p.Tree(), "security"); present {
		s, _ := gwString(v)
		switch strings.ToLower(s) {
		case "":
			g.Encryption = EncryptionSTARTTLS
		case "ssl":
			g.Encryption = EncryptionSSL
		case "tls":
			g.Encryption = EncryptionTLS
		default:
			bad("security", mgCodeSecurity, mgMsgSecurity)
		}
	}
	if v, ok := get("server", mgCodeServer, true); ok {
		s, _ := gwString(v)
		switch {
		case twilio && !gwTwilioServer(s):
			bad("server", mgCodeServer, mgMsgTwilioURL)
		case !twilio && !gwHost(s):
			bad("server", mgCodeServer, mgMsgHost)
		default:
			g.Host = s
		}
	}
	if v, ok := get("username", mgCodeUsername, true); ok {
		s, isStr := gwString(v)
		switch {
		case !isStr || !gwText(s, 1, 100):
			bad("username", mgCodeUsername, "Must be between 1 and 100 characters without control characters.")
		case twilio && !gwTwilioSID.MatchString(s):
			bad("username", mgCodeUsername, mgMsgTwilioSID)
		default:
			g.Username = s
		}
	}
	if v, ok := gwParam(p, "trust_all_hosts"); ok {
		if b, valid := gwBool(v); valid {
			g.TrustAllHosts = b
		} else {
			bad("trust_all_hosts", mgCodeTrustAllHosts, mgMsgBoolean)
		}
	}
	replace := false
	if v, ok := gwParam(p, "methods"); ok {
		ms, mi := gwParseMethods(v)
		for _, is := range mi {
			bad(methodField("methods", is), mgCodeMethods, is.Msg)
		}
		g.Methods, replace = ms, true
	}
	gwSetConnectPort(g, port)
	return issues, replace, nil
}

// messageGatewayHostIssue adds the server field's refusal by the outbound address policy when
// the body is otherwise valid (server is required on create and update).
func (a *App) messageGatewayHostIssue(ctx context.Context, g *storage.Gateway, issues []dispatcher.Issue) []dispatcher.Issue {
	if len(issues) > 0 {
		return issues
	}
	if msg := a.gwCheckHost(ctx, g); msg != "" {
		issues = append(issues, dispatcher.Field("server", mgCodeServer, msg))
	}
	return issues
}

// methodField names a method problem: methods, methods[2], methods[2].detail.
func methodField(base string, is gwMethodIssue) string {
	if is.Index < 0 {
		return base
	}
	name := fmt.Sprintf("%s[%d]", base, is.Index)
	if is.Field != "" {
		name += "." + is.Field
	}
	return name
}

func (a *App) messageGatewayCreate(ctx context.Context, req *dispatcher.Request) (any, error) {
	if err := gwAllowed(req.Principal, true); err != nil {
		return nil, err
	}
	g := gwNewGateway(gwOwner(req.Principal))
	g.Interface = ""
	issues, _, err := a.applyMessageGateway(g, req.Params, true)
	if err != nil {
		return nil, err
	}
	issues = a.messageGatewayHostIssue(ctx, g, issues)
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	if err := a.DB.CreateGateway(ctx, g); err != nil {
		return nil, err
	}
	return messageGatewayView(g), nil
}

func (a *App) messageGatewayUpdate(ctx context.Context, req *dispatcher.Request) (any, error) {
	if err := gwAllowed(req.Principal, true); err != nil {
		return nil, err
	}
	g, err := a.messageGateway(ctx, req)
	if err != nil {
		return nil, err
	}
	issues, replace, err := a.applyMessageGateway(g, req.Params, false)
	if err != nil {
		return nil, err
	}
	issues = a.messageGatewayHostIssue(ctx, g, issues)
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	if err := a.DB.UpdateGateway(ctx, g, replace); err != nil {
		if isNotFound(err) {
			return nil, dispatcher.NotFound(mgCodeNotFound, mgMsgNotFound)
		}
		return nil, err
	}
	if g, err = a.DB.GatewayByID(ctx, g.ID, g.OwnerID); err != nil {
		return nil, err
	}
	return messageGatewayView(g), nil
}

func (a *App) messageGatewayDelete(ctx context.Context, req *dispatcher.Request) (any, error) {
	if err := gwAllowed(req.Principal, true); err != nil {
		return nil, err
	}
	g, err := a.messageGateway(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := a.DB.DeleteGateway(ctx, g.ID, g.OwnerID); err != nil {
		if isNotFound(err) {
			return nil, dispatcher.NotFound(mgCodeNotFound, mgMsgNotFound)
		}
		return nil, err
	}
	return gwObject{}, nil
}

func (a *App) messageGatewayMethods(ctx context.Context, req *dispatcher.Request) (any, error) {
	if err := gwAllowed(req.Principal, false); err != nil {
		return nil, err
	}
	g, err := a.messageGateway(ctx, req)
	if err != nil {
		return nil, err
	}
	items := make([]gwObject, 0, len(g.Methods))
	for _, m := range g.Methods {
		items = append(items, methodView(m))
	}
	return gwObject{{"items", items}, {"total", len(items)}}, nil
}

// messageGatewayMethodAdd adds one method (the body is a method object).
func (a *App) messageGatewayMethodAdd(ctx context.Context, req *dispatcher.Request) (any, error) {
	if err := gwAllowed(req.Principal, true); err != nil {
		return nil, err
	}
	g, err := a.messageGateway(ctx, req)
	if err != nil {
		return nil, err
	}
	if len(g.Methods) >= gwMaxMethods {
		return nil, dispatcher.Invalid(dispatcher.Field("methods", mgCodeMethods, fmt.Sprintf("Must have at most %d methods.", gwMaxMethods)))
	}
	m, mi := gwParseMethod(req.Params.Tree())
	if len(mi) > 0 {
		var issues []dispatcher.Issue
		for _, is := range mi {
			issues = append(issues, dispatcher.Field(is.Field, mgCodeMethods, is.Msg))
		}
		return nil, dispatcher.Invalid(issues...)
	}
	if err := a.DB.AddGatewayMethod(ctx, g.ID, g.OwnerID, &m); err != nil {
		if isNotFound(err) {
			return nil, dispatcher.NotFound(mgCodeNotFound, mgMsgNotFound)
		}
		return nil, err
	}
	return methodView(m), nil
}

// messageGatewayMethodDelete removes the method whose id is the method parameter.
func (a *App) messageGatewayMethodDelete(ctx context.Context, req *dispatcher.Request) (any, error) {
	if err := gwAllowed(req.Principal, true); err != nil {
		return nil, err
	}
	g, err := a.messageGateway(ctx, req)
	if err != nil {
		return nil, err
	}
	mid, ok := dispatcher.AsInt(req.Params.Value("method"))
	if !ok || mid <= 0 {
		return nil, dispatcher.NotFound(mgCodeNotFound, mgMsgNoMethod)
	}
	if err := a.DB.DeleteGatewayMethod(ctx, g.ID, g.OwnerID, mid); err != nil {
		if isNotFound(err) {
			return nil, dispatcher.NotFound(mgCodeNotFound, mgMsgNoMethod)
		}
		return nil, err
	}
	return gwObject{}, nil
}
