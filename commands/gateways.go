package commands

// Upstream gateways: one model (storage.Gateway) behind three surfaces, the Navixy panel list
// (navixy.go), the B2Core mail providers (providers.go) and the Tenevo message gateways
// (messagegateways.go), plus the platform's own gateways.* commands on api.php (this file).
// The delivery engine asks GatewayRoute where a user's mail goes.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"gatewayd/commands/compose"
	"gatewayd/dispatcher"
	"gatewayd/internal/netpolicy"
	"gatewayd/relay/outbound"
	"gatewayd/storage"
)

// Gateway interfaces, encryption settings and method channels.
const (
	GatewayEmail  = "email"
	GatewayTwilio = "twilio"

	EncryptionNone     = "none"     // clear text
	EncryptionSTARTTLS = "starttls" // STARTTLS when the server offers it
	EncryptionTLS      = "tls"      // STARTTLS required (B2Core and Tenevo "tls")
	EncryptionSSL      = "ssl"      // implicit TLS on the SSL port
)

// The permission gateway commands need from users whose group is not "*": email_gateways
// (read and write), or email_gateways:read / email_gateways:write (write implies read).
const (
	PermGateways      = "email_gateways"
	PermGatewaysRead  = "email_gateways:read"
	PermGatewaysWrite = "email_gateways:write"
)

var gwChannels = []string{"call", "email", "emailalert", "sms"}

// Limits of the stored text.
const (
	gwMaxText    = 255
	gwMaxMethods = 50
)

func (a *App) registerGateways(r *dispatcher.Registry) {
	a.registerPlatformGateways(r)
	a.registerNavixy(r)
	a.registerProviders(r)
	a.registerMessageGateways(r)
}

// gwAllowed checks the email_gateways permission for users; admins hold every permission.
func gwAllowed(p *dispatcher.Principal, write bool) error {
	if p.Kind == dispatcher.PrincipalAdmin {
		return nil
	}
	for _, have := range p.Permissions {
		switch strings.ToLower(strings.TrimSpace(have)) {
		case "*", PermGateways, PermGatewaysWrite:
			return nil
		case PermGatewaysRead:
			if !write {
				return nil
			}
		}
	}
	return dispatcher.Fail(dispatcher.KindDenied, dispatcher.CodePermissionMissing, "Missing permission ("+PermGateways+")")
}

// gwOwner is whose gateways the caller manages: a user's own, or the platform's (0) for admins.
func gwOwner(p *dispatcher.Principal) int64 {
	if p.Kind == dispatcher.PrincipalAdmin {
		return 0
	}
	return p.UserID
}

// gwNewGateway is a gateway with the model's defaults.
func gwNewGateway(owner int64) *storage.Gateway {
	return &storage.Gateway{
		OwnerID: owner, Interface: GatewayEmail, Provider: "smtp", Port: 25, SSLPort: 465,
		Encryption: EncryptionSTARTTLS, Enabled: true, TimeoutMS: 60000, ConnectTimeoutMS: 60000,
		Methods: []storage.GatewayMethod{},
	}
}

// gwConnectPort is the port a connection goes to: the SSL port for implicit TLS.
func gwConnectPort(g *storage.Gateway) int {
	if g.Encryption == EncryptionSSL && g.SSLPort > 0 {
		return g.SSLPort
	}
	return g.Port
}

// gwSetConnectPort sets the one port B2Core and Tenevo know: it is the SSL port as well when
// the gateway speaks implicit TLS.
func gwSetConnectPort(g *storage.Gateway, port int) {
	g.Port = port
	if g.Encryption == EncryptionSSL {
		g.SSLPort = port
	}
}

// gwSealPassword stores pw sealed under the server key.
func (a *App) gwSealPassword(g *storage.Gateway, pw string) error {
	sealed, err := a.Keys.Encrypt([]byte(pw))
	if err != nil {
		return fmt.Errorf("seal gateway password: %w", err)
	}
	g.PasswordEnc = sealed
	return nil
}

// routeEncryption maps a gateway's encryption onto the delivery client's:
// none -> none, starttls -> STARTTLS when offered, tls -> STARTTLS required, ssl -> implicit TLS.
func routeEncryption(enc string) outbound.Encryption {
	switch enc {
	case EncryptionNone:
		return outbound.EncryptionNone
	case EncryptionTLS:
		return outbound.EncryptionSTARTTLSRequired
	case EncryptionSSL:
		return outbound.EncryptionTLS
	}
	return outbound.EncryptionSTARTTLS
}

// gatewayRoute builds the delivery route of g, with the password opened. A user's own gateway
// is a Tenant route (the outbound address policy applies at connect time); the platform's
// gateways (owner 0, created with the AdminAPIKey) are the operator's and trusted.
func (a *App) gatewayRoute(g *storage.Gateway) (*outbound.Route, error) {
	var pw string
	if g.PasswordEnc != "" {
		plain, err := a.Keys.Decrypt(g.PasswordEnc)
		if err != nil {
			return nil, fmt.Errorf("gateway %d: open password: %w", g.ID, err)
		}
		pw = string(plain)
	}
	return &outbound.Route{
		Host:               g.Host,
		Port:               gwConnectPort(g),
		Username:           g.Username,
		Password:           pw,
		Encryption:         routeEncryption(g.Encryption),
		InsecureSkipVerify: g.TrustAllHosts,
		Tenant:             g.OwnerID != 0,
	}, nil
}

// GatewayRoute is where the user's outbound mail goes when the user has bound a gateway: the
// bound gateway's route (its own or a leased platform gateway, enabled), with the password
// opened. ok is false when the user has no usable bound gateway; the delivery engine then uses
// GATEWAY_DEFAULT_RELAY, else the recipient's MX.
//
// The delivery engine asks for every message, so routes (and their absence) are kept per user
// until a gateway or binding changes on this node (storage's GatewayChanges), or for
// routeCacheTTL at most: another node's change takes effect here within that time.
func (a *App) GatewayRoute(ctx context.Context, userID int64) (*outbound.Route, bool, error) {
	gen := a.DB.GatewayChanges() // before the read: a change during it makes the entry stale
	if rt, hit := a.routeCache.get(userID, gen); hit {
		if rt == nil {
			return nil, false, nil
		}
		cp := *rt // each caller gets its own copy
		return &cp, true, nil
	}
	g, err := a.DB.RouteGateway(ctx, userID)
	if isNotFound(err) {
		a.routeCache.put(userID, gen, nil, routeCacheTTL)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("route gateway of user %d: %w", userID, err)
	}
	rt, err := a.gatewayRoute(g)
	if err != nil {
		return nil, false, err
	}
	cp := *rt
	a.routeCache.put(userID, gen, &cp, routeCacheTTL)
	return rt, true, nil
}

// routeCacheTTL bounds how long a node keeps a user's route after reading it: the time
// another node's change to a gateway or binding takes to reach this node's deliveries.
const routeCacheTTL = 10 * time.Second

// Messages of a host the outbound address policy refuses (B2Core host, Tenevo server).
const (
	gwMsgHostRefused    = "Must be a public host, not a loopback or private address."
	gwMsgHostUnresolved = "Must be a host name that resolves, or an IP address."
)

// gwCheckHost runs the outbound address policy (internal/netpolicy) on the host of a user's
// gateway as it is created or changed: "" when it may be used, else the message for the host
// field. The platform's gateways (owner 0) are the operator's and not checked;
// GATEWAY_UPSTREAM_ALLOW_PRIVATE lifts the check (development and tests). Delivery and /status
// check every address again when they connect.
func (a *App) gwCheckHost(ctx context.Context, g *storage.Gateway) string {
	if g.OwnerID == 0 {
		return ""
	}
	host := g.Host
	if g.Interface == GatewayTwilio {
		h, ok := gwTwilioHost(host)
		if !ok {
			return gwMsgHostUnresolved
		}
		host = h
	}
	pol := netpolicy.Policy{AllowPrivate: a.Cfg.UpstreamAllowPrivate, LookupHost: a.Resolver.LookupHost}
	err := pol.CheckHost(ctx, host)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, netpolicy.ErrRefused):
		return gwMsgHostRefused
	}
	return gwMsgHostUnresolved
}

// gwProbeTimeout bounds a whole /status check.
const gwProbeTimeout = 45 * time.Second

// probeGateway really connects to g: TCP, implicit TLS or STARTTLS, EHLO, AUTH when a username
// is set, QUIT. It returns nil or the *outbound.CheckError saying what failed and what the
// server answered.
func (a *App) probeGateway(ctx context.Context, g *storage.Gateway) error {
	rt, err := a.gatewayRoute(g)
	if err != nil {
		return err
	}
	clamp := func(ms int) time.Duration {
		d := time.Duration(ms) * time.Millisecond
		return min(max(d, time.Second), 20*time.Second)
	}
	c := outbound.New(outbound.Config{
		HeloName:         a.Cfg.Hostname,
		DialTimeout:      clamp(g.ConnectTimeoutMS),
		CommandTimeout:   clamp(g.TimeoutMS),
		MaxConnsPerRoute: 1,
		LookupHost:       a.Resolver.LookupHost,

		UpstreamAllowPrivate: a.Cfg.UpstreamAllowPrivate,
	})
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, gwProbeTimeout)
	defer cancel()
	return c.Check(ctx, *rt)
}

// gwProbeMessage renders a failed probe for the client: the stage and the server's own reply,
// or a fixed sentence (CheckError.Public), never an address or a Go error string.
func gwProbeMessage(err error) string {
	var ce *outbound.CheckError
	if !errors.As(err, &ce) {
		return "Connection check failed"
	}
	return fmt.Sprintf("Connection check failed at %s: %s", ce.Stage, ce.Public())
}

// --- validation shared by the surfaces ---

// gwParam returns a parameter's value and whether it was sent with a non-null value.
func gwParam(p dispatcher.Params, name string) (any, bool) {
	v, ok := dispatcher.Lookup(p.Tree(), name)
	return v, ok && v != nil
}

// gwString returns a scalar parameter as trimmed text; ok is false for objects and arrays.
func gwString(v any) (string, bool) {
	s, ok := dispatcher.AsString(v)
	return strings.TrimSpace(s), ok
}

// gwText reports whether s is between minLen and maxLen characters of valid UTF-8 with no
// control characters.
func gwText(s string, minLen, maxLen int) bool {
	n := utf8.RuneCountInString(s)
	if !utf8.ValidString(s) || n < minLen || n > maxLen {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// gwHost reports whether s is an IP address or a host name (one label is enough: "localhost",
// "relay" on an internal network).
func gwHost(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	if net.ParseIP(strings.Trim(s, "[]")) != nil {
		return true
	}
	ascii, err := idna.Lookup.ToASCII(strings.TrimSuffix(s, "."))
	if err != nil || ascii == "" || len(ascii) > 253 {
		return false
	}
	for _, l := range strings.Split(ascii, ".") {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i] | 0x20
			if !(c == '-' || l[i] == '_' || (c >= 'a' && c <= 'z') || (l[i] >= '0' && l[i] <= '9')) {
				return false
			}
		}
	}
	return true
}

// gwPort reads a TCP port: an integer (or a string of digits) of at most 5 digits, 1-65535.
func gwPort(v any) (int, bool) {
	n, ok := dispatcher.AsInt(v)
	if _, isBool := v.(bool); isBool || !ok || n < 1 || n > 65535 {
		return 0, false
	}
	return int(n), true
}

// gwBool reads true/false, 1/0 and "true"/"false"/"1"/"0".
func gwBool(v any) (bool, bool) {
	if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
		return false, false
	}
	return dispatcher.AsBool(v)
}

var (
	gwTwilioSID = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	gwPhone     = regexp.MustCompile(`^\+?[0-9]{3,20}$`)
)

// gwTwilioServer reports whether s names Twilio's API: a host name (api.twilio.com) or an
// https URL without credentials (https://api.twilio.com).
func gwTwilioServer(s string) bool {
	if len(s) > gwMaxText {
		return false
	}
	if gwHost(s) {
		return true
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.User == nil && gwHost(u.Hostname())
}

// gwTwilioHost is the host of a Twilio gateway's server (a host name or an https URL).
func gwTwilioHost(s string) (string, bool) {
	if gwHost(s) {
		return s, true
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", false
	}
	return u.Hostname(), true
}

// gwPhoneNumber reports whether s looks like a telephone number (spaces, dots, dashes and
// parentheses allowed between the digits, an optional leading +).
func gwPhoneNumber(s string) bool {
	clean := strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "").Replace(s)
	return gwPhone.MatchString(clean)
}

// gwMethodIssue is one problem with a method, for the surface to name in its own spelling.
type gwMethodIssue struct {
	Index int    // position in the array; -1 for the array itself
	Field string // channel, detail, priority, or "" for the method as a whole
	Msg   string
}

// gwParseMethods reads Tenevo's methods array: objects of channel (call|email|emailalert|sms),
// detail (an address for email channels, a number for call and sms; 1-255 characters) and an
// optional integer priority 0-99999 (default 0).
func gwParseMethods(v any) ([]storage.GatewayMethod, []gwMethodIssue) {
	list, ok := dispatcher.Normalize(v).([]any)
	if m, isMap := dispatcher.Normalize(v).(map[string]any); isMap && len(m) == 0 {
		list, ok = []any{}, true
	}
	if !ok {
		return nil, []gwMethodIssue{{Index: -1, Msg: "Must be an array of methods."}}
	}
	if len(list) > gwMaxMethods {
		return nil, []gwMethodIssue{{Index: -1, Msg: fmt.Sprintf("Must have at most %d methods.", gwMaxMethods)}}
	}
	out := make([]storage.GatewayMethod, 0, len(list))
	var issues []gwMethodIssue
	for i, item := range list {
		m, bad := gwParseMethod(item)
		for _, is := range bad {
			is.Index = i
			issues = append(issues, is)
		}
		out = append(out, m)
	}
	return out, issues
}

func gwParseMethod(item any) (storage.GatewayMethod, []gwMethodIssue) {
	var m storage.GatewayMethod
	obj, ok := item.(map[string]any)
	if !ok {
		return m, []gwMethodIssue{{Msg: "Must be an object with channel, detail and priority."}}
	}
	p := dispatcher.NewParams(obj)
	var issues []gwMethodIssue
	if v, ok := gwParam(p, "channel"); !ok {
		issues = append(issues, gwMethodIssue{Field: "channel", Msg: "This field is required."})
	} else if s, _ := gwString(v); !gwOneOf(strings.ToLower(s), gwChannels) {
		issues = append(issues, gwMethodIssue{Field: "channel", Msg: "Must be one of: call, email, emailalert, sms."})
	} else {
		m.Channel = strings.ToLower(s)
	}
	if v, ok := gwParam(p, "detail"); !ok || dispatcher.Normalize(v) == "" {
		issues = append(issues, gwMethodIssue{Field: "detail", Msg: "This field is required."})
	} else if s, isStr := gwString(v); !isStr || !gwText(s, 1, gwMaxText) {
		issues = append(issues, gwMethodIssue{Field: "detail", Msg: "Must be between 1 and 255 characters."})
	} else {
		m.Detail = s
		switch m.Channel {
		case "email", "emailalert":
			if !compose.ValidAddress(s) {
				issues = append(issues, gwMethodIssue{Field: "detail", Msg: "Must be a valid email address for the email channels."})
			}
		case "call", "sms":
			if !gwPhoneNumber(s) {
				issues = append(issues, gwMethodIssue{Field: "detail", Msg: "Must be a telephone number for the call and sms channels."})
			}
		}
	}
	if v, ok := gwParam(p, "priority"); ok {
		n, isInt := dispatcher.AsInt(v)
		if _, isBool := v.(bool); isBool || !isInt || n < 0 || n > 99999 {
			issues = append(issues, gwMethodIssue{Field: "priority", Msg: "Must be an integer between 0 and 99999."})
		} else {
			m.Priority = int(n)
		}
	}
	return m, issues
}

func gwOneOf(s string, set []string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

// --- ordered JSON objects: the surfaces show fields in the documents' order ---

// gwObject is a JSON object that keeps its keys in the order they were added.
type gwObject []gwField

type gwField struct {
	Key   string
	Value any
}

func (o gwObject) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	buf.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(f.Key); err != nil {
			return nil, err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
		buf.WriteByte(':')
		if err := enc.Encode(f.Value); err != nil {
			return nil, err
		}
		buf.Truncate(buf.Len() - 1)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// gwNullable is s, or JSON null when s is empty.
func gwNullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// --- the platform's gateways on api.php (AdminAPIKey) ---

// Codes of gateways.create|get|list|update|delete (see docs/gateways.md).
const (
	gwCodeLabel       = 1
	gwCodeHost        = 2
	gwCodeInterface   = 3
	gwCodeProvider    = 4
	gwCodePort        = 5
	gwCodeSSLPort     = 6
	gwCodeUsername    = 7
	gwCodePassword    = 8
	gwCodeEncryption  = 9
	gwCodeFromAddress = 10
	gwCodeFromName    = 11
	gwCodeFlag        = 12 // Enabled, Leasable, TrustAllHosts
	gwCodeTimeout     = 13
	gwCodeMethods     = 14
	gwCodeGatewayID   = 15
	gwCodeNotFound    = 16
)

func (a *App) registerPlatformGateways(r *dispatcher.Registry) {
	id := []dispatcher.Param{{Name: "GatewayID", Type: dispatcher.Int, Required: true, Code: gwCodeGatewayID}}
	r.Register(&dispatcher.Command{
		Name: "gateways.create", Auth: dispatcher.AuthAdmin,
		Params: []dispatcher.Param{
			{Name: "Label", Required: true, Code: gwCodeLabel},
			{Name: "Host", Required: true, Code: gwCodeHost},
		},
		Handler: a.platformGatewayCreate,
	})
	r.Register(&dispatcher.Command{Name: "gateways.get", Auth: dispatcher.AuthAdmin, Params: id, Handler: a.platformGatewayGet})
	r.Register(&dispatcher.Command{Name: "gateways.list", Auth: dispatcher.AuthAdmin, Handler: a.platformGatewayList})
	r.Register(&dispatcher.Command{Name: "gateways.update", Auth: dispatcher.AuthAdmin, Params: id, Handler: a.platformGatewayUpdate})
	r.Register(&dispatcher.Command{Name: "gateways.delete", Auth: dispatcher.AuthAdmin, Params: id, Handler: a.platformGatewayDelete})
}

// platformGatewayView is a gateway as api.php shows it (never the password).
func platformGatewayView(g *storage.Gateway) gwObject {
	methods := make([]gwObject, 0, len(g.Methods))
	for _, m := range g.Methods {
		methods = append(methods, gwObject{{"MethodID", m.ID}, {"Channel", m.Channel}, {"Detail", m.Detail}, {"Priority", m.Priority}})
	}
	return gwObject{
		{"GatewayID", g.ID}, {"Label", g.Label}, {"Interface", g.Interface}, {"Provider", g.Provider},
		{"Host", g.Host}, {"Port", g.Port}, {"SSLPort", g.SSLPort}, {"Username", g.Username},
		{"Encryption", g.Encryption}, {"FromAddress", g.FromAddress}, {"FromName", g.FromName},
		{"Enabled", g.Enabled}, {"Leasable", g.Leasable}, {"TrustAllHosts", g.TrustAllHosts},
		{"Timeout", g.TimeoutMS}, {"ConnectionTimeout", g.ConnectTimeoutMS}, {"Methods", methods},
		{"CreatedAt", g.CreatedAt}, {"UpdatedAt", g.UpdatedAt},
	}
}

// applyPlatformParams sets the api.php parameters present in p on g and returns every problem.
func (a *App) applyPlatformParams(g *storage.Gateway, p dispatcher.Params) ([]dispatcher.Issue, bool, error) {
	var issues []dispatcher.Issue
	bad := func(field string, code int, msg string) {
		issues = append(issues, dispatcher.Field(field, code, msg))
	}
	text := func(name string, code, minLen int, dst *string) {
		if v, ok := gwParam(p, name); ok {
			if s, isStr := gwString(v); isStr && gwText(s, minLen, gwMaxText) {
				*dst = s
			} else {
				bad(name, code, "Invalid "+name)
			}
		}
	}
	text("Label", gwCodeLabel, 1, &g.Label)
	if v, ok := gwParam(p, "Interface"); ok {
		if s, _ := gwString(v); gwOneOf(strings.ToLower(s), []string{GatewayEmail, GatewayTwilio}) {
			g.Interface = strings.ToLower(s)
		} else {
			bad("Interface", gwCodeInterface, "Invalid Interface (email or twilio)")
		}
	}
	if v, ok := gwParam(p, "Provider"); ok {
		if s, _ := gwString(v); gwText(s, 1, 64) && !strings.ContainsAny(s, " ") {
			g.Provider = strings.ToLower(s)
		} else {
			bad("Provider", gwCodeProvider, "Invalid Provider")
		}
	}
	if v, ok := gwParam(p, "Host"); ok {
		s, _ := gwString(v)
		if (g.Interface == GatewayTwilio && gwTwilioServer(s)) || (g.Interface != GatewayTwilio && gwHost(s)) {
			g.Host = s
		} else {
			bad("Host", gwCodeHost, "Invalid Host")
		}
	}
	port := func(name string, code int, dst *int) {
		if v, ok := gwParam(p, name); ok {
			if n, valid := gwPort(v); valid {
				*dst = n
			} else {
				bad(name, code, "Invalid "+name+" (1-65535)")
			}
		}
	}
	port("Port", gwCodePort, &g.Port)
	port("SSLPort", gwCodeSSLPort, &g.SSLPort)
	text("Username", gwCodeUsername, 0, &g.Username)
	if g.Interface == GatewayTwilio && g.Username != "" && !gwTwilioSID.MatchString(g.Username) {
		bad("Username", gwCodeUsername, "Invalid Username (a Twilio account SID: AC and 32 hexadecimal characters)")
	}
	if v, ok := gwParam(p, "Password"); ok {
		if s, isStr := dispatcher.AsString(v); isStr && gwText(s, 0, gwMaxText) {
			if err := a.gwSealPassword(g, s); err != nil {
				return nil, false, err
			}
		} else {
			bad("Password", gwCodePassword, "Invalid Password")
		}
	}
	if v, ok := gwParam(p, "Encryption"); ok {
		s, _ := gwString(v)
		if s = strings.ToLower(s); gwOneOf(s, []string{EncryptionNone, EncryptionSTARTTLS, EncryptionTLS, EncryptionSSL}) {
			g.Encryption = s
		} else {
			bad("Encryption", gwCodeEncryption, "Invalid Encryption (none, starttls, tls or ssl)")
		}
	}
	if v, ok := gwParam(p, "FromAddress"); ok {
		if s, _ := gwString(v); s == "" || compose.ValidAddress(s) {
			g.FromAddress = s
		} else {
			bad("FromAddress", gwCodeFromAddress, "Invalid FromAddress")
		}
	}
	text("FromName", gwCodeFromName, 0, &g.FromName)
	flag := func(name string, dst *bool) {
		if v, ok := gwParam(p, name); ok {
			if b, valid := gwBool(v); valid {
				*dst = b
			} else {
				bad(name, gwCodeFlag, "Invalid "+name+" (true or false)")
			}
		}
	}
	flag("Enabled", &g.Enabled)
	flag("Leasable", &g.Leasable)
	flag("TrustAllHosts", &g.TrustAllHosts)
	timeout := func(name string, dst *int) {
		if v, ok := gwParam(p, name); ok {
			n, valid := dispatcher.AsInt(v)
			if !valid || n < 1000 || n > 600000 {
				bad(name, gwCodeTimeout, "Invalid "+name+" (milliseconds, 1000-600000)")
			} else {
				*dst = int(n)
			}
		}
	}
	timeout("Timeout", &g.TimeoutMS)
	timeout("ConnectionTimeout", &g.ConnectTimeoutMS)
	replaceMethods := false
	if v, ok := gwParam(p, "Methods"); ok {
		ms, mi := gwParseMethods(v)
		for _, is := range mi {
			name := "Methods"
			if is.Index >= 0 {
				name = fmt.Sprintf("Methods[%d]", is.Index)
				if is.Field != "" {
					name += "." + is.Field
				}
			}
			bad(name, gwCodeMethods, "Invalid "+name+": "+is.Msg)
		}
		g.Methods, replaceMethods = ms, true
	}
	return issues, replaceMethods, nil
}

func (a *App) platformGatewayCreate(ctx context.Context, req *dispatcher.Request) (any, error) {
	g := gwNewGateway(0)
	issues, _, err := a.applyPlatformParams(g, req.Params)
	if err != nil {
		return nil, err
	}
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	if err := a.DB.CreateGateway(ctx, g); err != nil {
		return nil, err
	}
	return gwObject{{"GatewayID", g.ID}, {"Gateway", platformGatewayView(g)}}, nil
}

func (a *App) platformGateway(ctx context.Context, req *dispatcher.Request) (*storage.Gateway, error) {
	g, err := a.DB.GatewayByID(ctx, req.Params.Int("GatewayID"), 0)
	if isNotFound(err) {
		return nil, dispatcher.NotFound(gwCodeNotFound, "Gateway not found")
	}
	return g, err
}

func (a *App) platformGatewayGet(ctx context.Context, req *dispatcher.Request) (any, error) {
	g, err := a.platformGateway(ctx, req)
	if err != nil {
		return nil, err
	}
	return gwObject{{"Gateway", platformGatewayView(g)}}, nil
}

func (a *App) platformGatewayList(ctx context.Context, req *dispatcher.Request) (any, error) {
	gs, _, err := a.DB.Gateways(ctx, storage.GatewayFilter{OwnerID: 0})
	if err != nil {
		return nil, err
	}
	out := make([]gwObject, 0, len(gs))
	for i := range gs {
		out = append(out, platformGatewayView(&gs[i]))
	}
	return gwObject{{"Gateways", out}}, nil
}

func (a *App) platformGatewayUpdate(ctx context.Context, req *dispatcher.Request) (any, error) {
	g, err := a.platformGateway(ctx, req)
	if err != nil {
		return nil, err
	}
	wasTwilio := g.Interface == GatewayTwilio
	issues, replace, err := a.applyPlatformParams(g, req.Params)
	if err != nil {
		return nil, err
	}
	if len(issues) == 0 && wasTwilio != (g.Interface == GatewayTwilio) && !req.Params.Has("Host") {
		// The host's form depends on the interface (a host name or Twilio's https URL).
		issues = append(issues, dispatcher.Field("Host", gwCodeHost, "Host is required when the Interface changes"))
	}
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	if err := a.DB.UpdateGateway(ctx, g, replace); err != nil {
		if isNotFound(err) {
			return nil, dispatcher.NotFound(gwCodeNotFound, "Gateway not found")
		}
		return nil, err
	}
	g, err = a.DB.GatewayByID(ctx, g.ID, 0)
	if err != nil {
		return nil, err
	}
	return gwObject{{"Gateway", platformGatewayView(g)}}, nil
}

func (a *App) platformGatewayDelete(ctx context.Context, req *dispatcher.Request) (any, error) {
	err := a.DB.DeleteGateway(ctx, req.Params.Int("GatewayID"), 0)
	if isNotFound(err) {
		return nil, dispatcher.NotFound(gwCodeNotFound, "Gateway not found")
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}
