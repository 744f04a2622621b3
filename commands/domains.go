package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/net/idna"

	"gatewayd/dispatcher"
	"gatewayd/relay/dkim"
	"gatewayd/relay/resolve"
	"gatewayd/storage"
	"gatewayd/webhooks"
)

// Permissions the domain commands need.
const (
	PermAddDomain    = "EmailGateway.AddDomain"
	PermManageDomain = "EmailGateway.ManageDomain"
)

func (a *App) registerDomains(r *dispatcher.Registry) {
	domainID := func(code int) []dispatcher.Param {
		return []dispatcher.Param{{Name: "DomainID", Type: dispatcher.Int, Required: true, Code: code}}
	}
	r.Register(&dispatcher.Command{
		Name: "emailgateway.adddomain", Auth: dispatcher.AuthUser, Permission: PermAddDomain,
		Params:  []dispatcher.Param{{Name: "DomainName", Required: true, Code: 1}},
		Handler: a.addDomain,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.getdomain", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params: domainID(1), Handler: a.getDomain,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.updatedomain", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params: domainID(1), Handler: a.updateDomain,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.getdomains", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Handler: a.getDomains,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.deletedomain", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params: domainID(1), Handler: a.deleteDomain,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.verifydomain", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params: domainID(1), Handler: a.verifyDomain,
	})
}

// NormalizeDomain validates a domain name and returns its lower-case ASCII (punycode) form:
// IDNA lookup rules, at most 253 octets, labels of 1-63 letters, digits and hyphens not at
// either end, at least two labels, and a top-level label that is not all digits.
func NormalizeDomain(name string) (string, bool) {
	name = strings.TrimSuffix(strings.TrimSpace(name), ".")
	if name == "" || strings.ContainsAny(name, " \t\r\n\x00/@:") {
		return "", false
	}
	ascii, err := idna.Lookup.ToASCII(name)
	if err != nil {
		return "", false
	}
	ascii = strings.ToLower(ascii)
	if len(ascii) > 253 {
		return "", false
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c == '-' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
				return "", false
			}
		}
	}
	tld := labels[len(labels)-1]
	if strings.Trim(tld, "0123456789") == "" {
		return "", false
	}
	return ascii, true
}

func (a *App) addDomain(ctx context.Context, req *dispatcher.Request) (any, error) {
	name, ok := NormalizeDomain(req.Params.String("DomainName"))
	var issues []dispatcher.Issue
	if !ok {
		issues = append(issues, dispatcher.Field("DomainName", 2, "Invalid domain name format"))
	}
	var track storage.SenderDomain
	if issues = append(issues, trackOptions(req.Params, &track, 4)...); len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	u, err := a.userOf(ctx, req.Principal)
	if err != nil {
		return nil, err
	}
	priv, pub, err := a.NewDKIMKey()
	if err != nil {
		return nil, fmt.Errorf("dkim key: %w", err)
	}
	privEnc, err := a.Keys.Encrypt(priv)
	if err != nil {
		return nil, err
	}
	whsec, err := webhooks.NewSecret()
	if err != nil {
		return nil, err
	}
	whsecEnc, err := a.Keys.Encrypt([]byte(whsec))
	if err != nil {
		return nil, err
	}
	d := &storage.SenderDomain{
		UserID: u.ID, Name: name, Status: storage.DomainPending,
		DKIMSelector: dkim.NewSelector(), DKIMPrivateEnc: privEnc, DKIMPublic: pub, SigningKeyEnc: whsecEnc,
		Subdomain: track.Subdomain, TrackPrefix: track.TrackPrefix, TrackMerge: track.TrackMerge,
		TrackPrefixDisabled: track.TrackPrefixDisabled,
	}
	_, maxDomains, err := a.EffectiveLimits(ctx, u)
	if err != nil {
		return nil, err
	}
	switch err := a.DB.CreateDomain(ctx, d, maxDomains); {
	case errors.Is(err, storage.ErrLimit):
		return nil, dispatcher.Fail(dispatcher.KindForbidden, 3, "Maximum sender domains limit reached for user")
	case errors.Is(err, storage.ErrDuplicate):
		return nil, dispatcher.Invalid(dispatcher.Field("DomainName", 2, "Domain already exists in this account"))
	case err != nil:
		return nil, err
	}
	return map[string]any{
		"NewSenderDomainID": d.ID,
		"Domain":            domainView(d),
	}, nil
}

// ownDomain loads the caller's domain or answers "not found or access denied" with code.
func (a *App) ownDomain(ctx context.Context, req *dispatcher.Request, id int64, code int) (*storage.SenderDomain, error) {
	d, err := a.DB.DomainByID(ctx, id, req.Principal.UserID)
	if isNotFound(err) || (err == nil && req.Principal.Kind == dispatcher.PrincipalSender && d.ID != req.Principal.DomainID) {
		return nil, dispatcher.NotFound(code, "Domain not found or access denied")
	}
	return d, err
}

func domainView(d *storage.SenderDomain) map[string]any {
	opts := map[string]any{
		"LinkTracking":    b2i(d.LinkTracking),
		"OpenTracking":    b2i(d.OpenTracking),
		"UnsubscribeLink": b2i(d.UnsubscribeLink),
	}
	if d.HostingProvider != "" {
		opts["HostingProvider"] = d.HostingProvider
	}
	if d.Subdomain != "" {
		// Subdomain is the name of the first reference; CustomSubdomain octeth-5.9.4's.
		opts["Subdomain"] = d.Subdomain
		opts["CustomSubdomain"] = d.Subdomain
	}
	if d.TrackPrefix != "" {
		opts["CustomTrackPrefix"] = d.TrackPrefix
	}
	if d.TrackMerge != "" {
		opts["CustomTrackMerge"] = d.TrackMerge
	}
	if d.TrackPrefixDisabled {
		opts["TrackPrefixDisabled"] = true
	}
	if d.DKIMEd25519Selector != "" {
		opts["DKIMEd25519"] = 1
	}
	return map[string]any{"DomainID": d.ID, "SenderDomain": d.Name, "Status": d.Status, "Options": opts}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (a *App) getDomain(ctx context.Context, req *dispatcher.Request) (any, error) {
	d, err := a.ownDomain(ctx, req, req.Params.Int("DomainID"), 2)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Domain": domainView(d)}, nil
}

// updateDomain changes options. Codes: 1 DomainID missing, 5 not found, 6 an option's value
// is invalid (flags 0 or 1; Subdomain and TrackPrefix one DNS label of at most 32 characters;
// TrackMerge . or -; HostingProvider 1-255 chars).
func (a *App) updateDomain(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	d, err := a.ownDomain(ctx, req, p.Int("DomainID"), 5)
	if err != nil {
		return nil, err
	}
	var issues []dispatcher.Issue
	flag := func(name string, dst *bool) {
		if !p.Has(name) {
			return
		}
		if is := readFlag(p, name, dst, 6); is != nil {
			issues = append(issues, *is)
		}
	}
	flag("LinkTracking", &d.LinkTracking)
	flag("OpenTracking", &d.OpenTracking)
	flag("UnsubscribeLink", &d.UnsubscribeLink)
	if _, ok := dispatcher.Lookup(p.Tree(), "HostingProvider"); ok {
		hp := strings.TrimSpace(p.String("HostingProvider"))
		if len(hp) > 255 || strings.ContainsAny(hp, "\r\n\x00") {
			issues = append(issues, dispatcher.Field("HostingProvider", 6, "Invalid HostingProvider"))
		}
		d.HostingProvider = hp
	}
	ed25519 := d.DKIMEd25519Selector != ""
	flag("DKIMEd25519", &ed25519)
	oldSub := d.Subdomain
	issues = append(issues, trackOptions(p, d, 6)...)
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	if err := a.DB.UpdateDomainOptions(ctx, d); err != nil {
		return nil, err
	}
	if ed25519 != (d.DKIMEd25519Selector != "") {
		if err := a.setEd25519(ctx, d, ed25519); err != nil {
			return nil, err
		}
	}
	return map[string]any{"Domain": domainView(d), "SubdomainChanged": d.Subdomain != oldSub}, nil
}

// setEd25519 gives d an Ed25519 DKIM key under a selector of its own (RFC 8463), which
// delivery signs with besides the RSA key, or takes it away (on: false).
func (a *App) setEd25519(ctx context.Context, d *storage.SenderDomain, on bool) error {
	sel, enc, pub := "", "", ""
	if on {
		priv, p, err := dkim.GenerateEd25519Key()
		if err != nil {
			return err
		}
		if enc, err = a.Keys.Encrypt(priv); err != nil {
			return err
		}
		sel, pub = dkim.NewSelector(), p
	}
	if err := a.DB.SetDomainEd25519(ctx, d.ID, sel, enc, pub); err != nil {
		return err
	}
	d.DKIMEd25519Selector, d.DKIMEd25519PrivateEnc, d.DKIMEd25519Public = sel, enc, pub
	return nil
}

// readFlag reads a 0/1 option (true/false accepted) into dst, or answers its issue with code.
func readFlag(p dispatcher.Params, name string, dst *bool, code int) *dispatcher.Issue {
	n, ok := p.IntOK(name)
	if b, isBool := dispatcher.AsBool(p.Value(name)); !ok && isBool {
		n, ok = int64(b2i(b)), true
	}
	if !ok || (n != 0 && n != 1) {
		is := dispatcher.Field(name, code, "Invalid "+name+" (0 or 1)")
		return &is
	}
	*dst = n == 1
	return nil
}

func validLabel(l string) bool {
	if strings.Contains(l, ".") {
		return false
	}
	n, ok := NormalizeDomain(l + ".example")
	return ok && n == l+".example"
}

func (a *App) getDomains(ctx context.Context, req *dispatcher.Request) (any, error) {
	ds, err := a.DB.DomainsByUser(ctx, req.Principal.UserID)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(ds))
	for i := range ds {
		out = append(out, a.domainListView(&ds[i]))
	}
	if req.Params.Bool("WithCounts") {
		if err := a.addCredentialCounts(ctx, req.Principal.UserID, out); err != nil {
			return nil, err
		}
	}
	return map[string]any{"Domains": out}, nil
}

// domainListView is a getdomains row in octeth-5.9.4's legacy shape: domainView with
// CreatedAt ("Y-m-d H:i:s", UTC), VerificationMeta (the records the domain publishes, as
// verifydomain checks them) and PolicyMeta (gatewayd has no per-domain policies: []).
func (a *App) domainListView(d *storage.SenderDomain) map[string]any {
	v := domainView(d)
	recs := []map[string]any{}
	for _, r := range a.DomainRecords(d) {
		recs = append(recs, map[string]any{"Name": r.Name, "Type": r.Type, "Value": r.Value, "Required": r.Required})
	}
	v["CreatedAt"] = time.Unix(d.CreatedAt, 0).UTC().Format("2006-01-02 15:04:05")
	v["VerificationMeta"] = map[string]any{"DNSRecords": recs}
	v["PolicyMeta"] = []any{}
	return v
}

func (a *App) deleteDomain(ctx context.Context, req *dispatcher.Request) (any, error) {
	err := a.DB.DeleteDomain(ctx, req.Params.Int("DomainID"), req.Principal.UserID)
	if isNotFound(err) {
		return nil, dispatcher.NotFound(2, "Domain not found or access denied")
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

// DNSRecord is one record a domain should publish and whether DNS has it now.
type DNSRecord struct {
	Name     string // fully qualified
	Type     string // TXT or CNAME
	Value    string // what to publish
	Required bool   // needed for the domain to be Enabled
	OK       bool
}

// SPFInclude is the include: mechanism customers add to their SPF record.
func (a *App) SPFInclude() string { return "_spf." + a.Cfg.Hostname }

// DomainRecords lists the records a domain needs: SPF (required), the DKIM key (required),
// the Ed25519 DKIM key when the domain has one (optional), the return-path CNAME that brings bounces back, the Subdomain's CNAME when one is set, and
// the tracking host's CNAME when TrackPrefix gives the domain one of its own.
func (a *App) DomainRecords(d *storage.SenderDomain) []DNSRecord {
	recs := []DNSRecord{
		{Name: d.Name, Type: "TXT", Value: "v=spf1 include:" + a.SPFInclude() + " ~all", Required: true},
		{Name: d.DKIMSelector + "._domainkey." + d.Name, Type: "TXT", Value: dkim.TXTRecord(d.DKIMPublic), Required: true},
	}
	if d.DKIMEd25519Selector != "" {
		// Optional: the RSA signature passes without it.
		recs = append(recs, DNSRecord{Name: d.DKIMEd25519Selector + "._domainkey." + d.Name, Type: "TXT",
			Value: dkim.TXTRecordEd25519(d.DKIMEd25519Public)})
	}
	recs = append(recs, DNSRecord{Name: d.ReturnPathDomain(), Type: "CNAME", Value: a.Cfg.Hostname})
	if d.Subdomain != "" {
		recs = append(recs, DNSRecord{Name: d.Subdomain + "." + d.Name, Type: "CNAME", Value: trackingHost(a.Cfg.PublicURL)})
	}
	if h := TrackingHost(d); h != "" && h != d.ReturnPathDomain() {
		recs = append(recs, DNSRecord{Name: h, Type: "CNAME", Value: trackingHost(a.Cfg.PublicURL)})
	}
	return recs
}

func trackingHost(publicURL string) string {
	h := publicURL
	if _, rest, ok := strings.Cut(h, "://"); ok {
		h = rest
	}
	h, _, _ = strings.Cut(h, "/")
	if i := strings.LastIndexByte(h, ':'); i > 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return h
}

// checkRecords asks DNS for each record. A lookup that fails for any reason other than
// "no such record" is an error, so a flaky resolver never disables anything.
func (a *App) checkRecords(ctx context.Context, recs []DNSRecord) error {
	for i := range recs {
		r := &recs[i]
		switch r.Type {
		case "TXT":
			vals, err := a.Resolver.LookupTXT(ctx, r.Name)
			if err != nil && !errors.Is(err, resolve.ErrNotFound) {
				return fmt.Errorf("lookup %s TXT: %w", r.Name, err)
			}
			for _, v := range vals {
				if txtMatches(r.Value, v) {
					r.OK = true
				}
			}
		case "CNAME":
			target, err := a.Resolver.LookupCNAME(ctx, r.Name)
			if err != nil && !errors.Is(err, resolve.ErrNotFound) {
				return fmt.Errorf("lookup %s CNAME: %w", r.Name, err)
			}
			r.OK = err == nil && strings.EqualFold(strings.TrimSuffix(target, "."), r.Value)
		}
	}
	return nil
}

// txtMatches compares a published TXT value with the one we asked for: SPF passes when the
// record is an SPF record with our include (other mechanisms may stand beside it); DKIM when
// its p= key is ours.
func txtMatches(want, got string) bool {
	got = strings.TrimSpace(got)
	switch {
	case strings.HasPrefix(want, "v=spf1"):
		if !strings.HasPrefix(strings.ToLower(got), "v=spf1") {
			return false
		}
		inc := strings.Fields(want)[1]
		for _, f := range strings.Fields(got) {
			if strings.EqualFold(strings.TrimLeft(f, "+"), inc) {
				return true
			}
		}
		return false
	case strings.HasPrefix(want, "v=DKIM1"):
		return dkimKey(want) != "" && dkimKey(want) == dkimKey(got)
	}
	return want == got
}

func dkimKey(rec string) string {
	for _, tag := range strings.Split(rec, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(tag), "=")
		if ok && strings.TrimSpace(k) == "p" {
			return strings.Join(strings.Fields(v), "")
		}
	}
	return ""
}

// verifyDomain looks the domain's records up and enables a pending domain whose required
// records all pass. An Enabled domain stays Enabled when a record later disappears (the
// answer shows it failing); a Disabled one stays Disabled.
func (a *App) verifyDomain(ctx context.Context, req *dispatcher.Request) (any, error) {
	d, err := a.ownDomain(ctx, req, req.Params.Int("DomainID"), 2)
	if err != nil {
		return nil, err
	}
	recs := a.DomainRecords(d)
	if err := a.checkRecords(ctx, recs); err != nil {
		a.Log.WarnContext(ctx, "verifydomain: DNS lookup failed", "domain", d.Name, "err", err)
		return nil, dispatcher.Fail(dispatcher.KindUnprocessable, 3, "DNS lookup failed; try again later")
	}
	pass := true
	for _, r := range recs {
		if r.Required && !r.OK {
			pass = false
		}
	}
	if pass && d.Status == storage.DomainPending {
		d.Status = storage.DomainEnabled
		if err := a.DB.SetDomainStatus(ctx, d.ID, d.Status, timeNow().Unix()); err != nil {
			return nil, err
		}
	}
	results := map[string]any{}
	for _, r := range recs {
		results[r.Name] = []any{r.Type, r.Value, r.OK}
	}
	return map[string]any{
		"Domain":                 map[string]any{"DomainID": d.ID, "SenderDomain": d.Name, "Status": d.Status},
		"DNSVerificationResults": results,
	}, nil
}

// signingKey opens a domain's whsec_ key.
func (a *App) signingKey(d *storage.SenderDomain) (string, error) {
	b, err := a.Keys.Decrypt(d.SigningKeyEnc)
	return string(b), err
}
