package commands

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"gatewayd/dispatcher"
	"gatewayd/secret"
	"gatewayd/storage"
)

// ErrSMTPAuth is SMTPLogin's answer to an unknown username or a wrong password; the two are
// not told apart.
var ErrSMTPAuth = errors.New("invalid SMTP credentials")

// SMTP credential limits.
const (
	smtpPasswordLength = 32 // alphanumeric characters: about 190 bits
	maxAllowedNetworks = 32
	minPrefixV4        = 8  // an AllowedNetworks entry covers at most a /8 ...
	minPrefixV6        = 32 // ... or an IPv6 /32: wider would open the domain to much of the Internet
)

func (a *App) registerSMTP(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{
		Name: "emailgateway.addsmtp", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params:  []dispatcher.Param{{Name: "DomainID", Type: dispatcher.Int, Required: true, Code: 1}},
		Handler: a.addSMTP,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.getsmtps", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params:  []dispatcher.Param{{Name: "DomainID", Type: dispatcher.Int, Required: true, Code: 1}},
		Handler: a.getSMTPs,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.deletesmtp", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params:  []dispatcher.Param{{Name: "SMTPID", Type: dispatcher.Int, Required: true, Code: 1}},
		Handler: a.deleteSMTP,
	})
	r.Register(&dispatcher.Command{
		Name: "emailgateway.resetsmtppassword", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params:  []dispatcher.Param{{Name: "SMTPID", Type: dispatcher.Int, Required: true, Code: 1}},
		Handler: a.resetSMTPPassword,
	})
}

// smtpUsername makes smtp_<domain>_<random>: the domain's name with dots and hyphens as
// underscores (at most 40 characters), then 10 random hex characters.
func smtpUsername(domain string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(domain) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	d := b.String()
	if len(d) > 40 {
		d = d[:40]
	}
	d = strings.Trim(d, "_")
	return "smtp_" + d + "_" + secret.HexToken(5)
}

// newSMTPPassword makes a password and the hash stored for it. Passwords are always generated
// (32 random alphanumerics), so an unsalted SHA-256 is as strong as a slow hash here and keeps
// SMTP AUTH cheap.
func newSMTPPassword() (plain, hash string) {
	plain = secret.Token("", smtpPasswordLength)
	return plain, secret.Hash(plain)
}

// ParseAllowedNetworks reads a comma- (or space-) separated list of CIDR prefixes, or a list of
// them; a bare address is a single-host prefix. It returns the canonical form (masked, unique,
// comma-separated) or an error naming the first bad entry.
func ParseAllowedNetworks(v any) (string, error) {
	var items []string
	switch t := dispatcher.Normalize(v).(type) {
	case nil:
		return "", nil
	case []any:
		for _, x := range t {
			s, _ := dispatcher.AsString(x)
			items = append(items, s)
		}
	default:
		s, ok := dispatcher.AsString(t)
		if !ok {
			return "", errors.New("AllowedNetworks must be a comma-separated list of CIDR networks")
		}
		items = []string{s}
	}
	var out []string
	seen := map[string]bool{}
	for _, item := range items {
		for _, s := range strings.FieldsFunc(item, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == ';' }) {
			p, err := parseNetwork(s)
			if err != nil {
				return "", err
			}
			if !seen[p.String()] {
				seen[p.String()] = true
				out = append(out, p.String())
			}
		}
	}
	if len(out) > maxAllowedNetworks {
		return "", fmt.Errorf("at most %d networks", maxAllowedNetworks)
	}
	return strings.Join(out, ","), nil
}

func parseNetwork(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		pp, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("%q is not a CIDR network", s)
		}
		p = pp
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return p, fmt.Errorf("%q is not a CIDR network", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			return p, fmt.Errorf("%q is too wide", s)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), bits)
	}
	if p.Addr().Zone() != "" {
		return p, fmt.Errorf("%q is not a CIDR network", s)
	}
	if (p.Addr().Is4() && p.Bits() < minPrefixV4) || (p.Addr().Is6() && p.Bits() < minPrefixV6) {
		return p, fmt.Errorf("%q is too wide (at most a /%d for IPv4, /%d for IPv6)", s, minPrefixV4, minPrefixV6)
	}
	return p.Masked(), nil
}

func (a *App) smtpPorts() []int {
	ports := a.Cfg.SMTPPorts()
	if ports == nil {
		ports = []int{}
	}
	return ports
}

func (a *App) smtpView(c *storage.SMTPCredential) map[string]any {
	v := map[string]any{
		"SMTPID": c.ID, "SMTPUsername": c.Username, "SMTPHost": a.Cfg.Hostname, "SMTPPorts": a.smtpPorts(),
	}
	if c.AllowedNetworks != "" {
		v["AllowedNetworks"] = c.AllowedNetworks
	}
	return v
}

// addSMTP creates SMTP credentials for a domain. Codes: 1 DomainID missing, 2 domain not found
// or access denied, 3 invalid AllowedNetworks.
func (a *App) addSMTP(ctx context.Context, req *dispatcher.Request) (any, error) {
	nets, err := ParseAllowedNetworks(req.Params.Value("AllowedNetworks"))
	if err != nil {
		return nil, dispatcher.Invalid(dispatcher.Field("AllowedNetworks", 3, "Invalid AllowedNetworks: "+err.Error()))
	}
	d, err := a.ownDomain(ctx, req, req.Params.Int("DomainID"), 2)
	if err != nil {
		return nil, err
	}
	plain, hash := newSMTPPassword()
	c := &storage.SMTPCredential{DomainID: d.ID, UserID: d.UserID, PasswordHash: hash, AllowedNetworks: nets}
	for try := 0; ; try++ {
		c.Username = smtpUsername(d.Name)
		err = a.DB.CreateSMTPCredential(ctx, c)
		if !errors.Is(err, storage.ErrDuplicate) || try == 4 {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	v := a.smtpView(c)
	v["SMTPPassword"] = plain
	return map[string]any{"NewSMTPID": c.ID, "SMTP": v}, nil
}

// getSMTPs lists a domain's credentials, never their passwords.
// Codes: 1 DomainID missing, 2 domain not found or access denied.
func (a *App) getSMTPs(ctx context.Context, req *dispatcher.Request) (any, error) {
	d, err := a.ownDomain(ctx, req, req.Params.Int("DomainID"), 2)
	if err != nil {
		return nil, err
	}
	cs, err := a.DB.SMTPCredentials(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(cs))
	for i := range cs {
		out = append(out, a.smtpView(&cs[i]))
	}
	return map[string]any{"SMTPs": out}, nil
}

// deleteSMTP removes credentials. Codes: 1 SMTPID missing, 2 not found or access denied.
func (a *App) deleteSMTP(ctx context.Context, req *dispatcher.Request) (any, error) {
	err := a.DB.DeleteSMTPCredential(ctx, req.Principal.UserID, req.Params.Int("SMTPID"))
	if isNotFound(err) {
		return nil, dispatcher.NotFound(2, "SMTP credentials not found or access denied")
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

// resetSMTPPassword generates a new password; the old one stops working at once.
// Codes: 1 SMTPID missing, 2 not found or access denied.
func (a *App) resetSMTPPassword(ctx context.Context, req *dispatcher.Request) (any, error) {
	c, err := a.DB.SMTPCredentialByID(ctx, req.Principal.UserID, req.Params.Int("SMTPID"))
	if isNotFound(err) {
		return nil, dispatcher.NotFound(2, "SMTP credentials not found or access denied")
	}
	if err != nil {
		return nil, err
	}
	plain, hash := newSMTPPassword()
	err = a.DB.SetSMTPPassword(ctx, c.UserID, c.ID, hash)
	if isNotFound(err) {
		return nil, dispatcher.NotFound(2, "SMTP credentials not found or access denied")
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"SMTP": map[string]any{"SMTPID": c.ID, "SMTPUsername": c.Username, "SMTPPassword": plain}}, nil
}

// dummySMTPHash is compared against when a username is unknown, so a miss costs what a hit does.
var dummySMTPHash = secret.Hash("gatewayd/no-such-smtp-user")

// SMTPLogin checks SMTP credentials (SMTP AUTH, emailgateway.smtprelay) and returns them with
// their domain and the domain's owner. An unknown username or a wrong password is ErrSMTPAuth;
// the caller decides what the domain's status and the owner's account flags allow.
func (a *App) SMTPLogin(ctx context.Context, username, password string) (*storage.SMTPCredential, *storage.SenderDomain, *storage.User, error) {
	username = strings.ToLower(strings.TrimSpace(username))
	c, err := a.DB.SMTPCredentialByUsername(ctx, username)
	switch {
	case isNotFound(err) || username == "":
		secret.Equal(secret.Hash(password), dummySMTPHash)
		return nil, nil, nil, ErrSMTPAuth
	case err != nil:
		return nil, nil, nil, fmt.Errorf("smtp login: %w", err)
	}
	if password == "" || !secret.Equal(secret.Hash(password), c.PasswordHash) {
		return nil, nil, nil, ErrSMTPAuth
	}
	d, u, err := a.smtpOwner(ctx, c)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, d, u, nil
}

func (a *App) smtpOwner(ctx context.Context, c *storage.SMTPCredential) (*storage.SenderDomain, *storage.User, error) {
	d, err := a.DB.DomainByID(ctx, c.DomainID, 0)
	if isNotFound(err) {
		return nil, nil, ErrSMTPAuth
	}
	if err != nil {
		return nil, nil, fmt.Errorf("smtp login: domain: %w", err)
	}
	u, err := a.DB.UserByID(ctx, d.UserID)
	if isNotFound(err) {
		return nil, nil, ErrSMTPAuth
	}
	if err != nil {
		return nil, nil, fmt.Errorf("smtp login: user: %w", err)
	}
	return d, u, nil
}

// SMTPNetworkCredentials returns the credentials whose AllowedNetworks contain ip: a client
// connecting from ip may relay for those credentials' domains without AUTH.
func (a *App) SMTPNetworkCredentials(ctx context.Context, ip net.IP) ([]storage.SMTPCredential, error) {
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return nil, nil
	}
	addr = addr.Unmap()
	cs, err := a.DB.SMTPCredentialsWithNetworks(ctx)
	if err != nil {
		return nil, fmt.Errorf("smtp networks: %w", err)
	}
	var out []storage.SMTPCredential
	for i := range cs {
		if cs[i].Allows(addr) {
			out = append(out, cs[i])
		}
	}
	return out, nil
}
