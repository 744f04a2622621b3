package commands

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"

	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// DomainsResponseFormat values of sender.domains.
const (
	formatJSON          = "json"
	formatPMTABounce    = "powermta-bounce-domains"
	formatPMTARelay     = "powermta-relay-domains"
	bounceSubdomainPart = "bounces."
)

func (a *App) registerSenderDomains(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{
		Name: "sender.domains", Auth: dispatcher.AuthAdmin, RateLimited: true,
		Handler: a.senderDomains,
	})
	authFailed := dispatcher.Fail(dispatcher.KindAuth, 1, "Authentication failed. Invalid admin API key.")
	authFailed.Status = http.StatusForbidden
	r.Register(&dispatcher.Command{
		Name: "inbound.relaydomaincheck", Auth: dispatcher.AuthAdmin,
		AuthMissing: authFailed, AuthInvalid: authFailed,
		Handler: a.relayDomainCheck,
	})
}

// enabledDomainNames lists every Enabled sender domain name once, sorted.
func (a *App) enabledDomainNames(ctx context.Context) ([]string, error) {
	ds, err := a.DB.DomainsByStatus(ctx, storage.DomainEnabled)
	if err != nil {
		return nil, err
	}
	names := []string{}
	for _, d := range ds {
		if len(names) == 0 || names[len(names)-1] != d.Name {
			names = append(names, d.Name)
		}
	}
	return names, nil
}

// mxTarget is where PowerMTA should hand bounces over: this host's MX listener (port 25 when
// no GATEWAY_MX_ADDR is configured).
func (a *App) mxTarget() string {
	port := "25"
	if a.Cfg.MXAddr != "" {
		if _, p, err := net.SplitHostPort(a.Cfg.MXAddr); err == nil && p != "" {
			port = p
		}
	}
	return "[" + a.Cfg.Hostname + "]:" + port
}

// senderDomains is sender.domains (api.php, POST /api/v1/sender.domains): every Enabled
// sender domain, as JSON or as PowerMTA configuration. Code 1: unknown DomainsResponseFormat.
func (a *App) senderDomains(ctx context.Context, req *dispatcher.Request) (any, error) {
	format := strings.ToLower(strings.TrimSpace(req.Params.String("DomainsResponseFormat")))
	if format == "" {
		format = formatJSON
	}
	if format != formatJSON && format != formatPMTABounce && format != formatPMTARelay {
		const msg = "Invalid DomainsResponseFormat"
		if req.Meta.Surface == "v1" {
			// The document shows this route answering in the api.php envelope.
			return dispatcher.Status{Code: http.StatusOK, Body: struct {
				Success   bool
				ErrorCode int
				ErrorText string
			}{false, 1, msg}}, nil
		}
		return nil, dispatcher.Fail(dispatcher.KindInvalid, 1, msg)
	}
	names, err := a.enabledDomainNames(ctx)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	switch format {
	case formatJSON:
		if req.Meta.Surface == "v1" {
			return struct {
				Success bool
				Domains []string
			}{true, names}, nil
		}
		return dispatcher.Bare{"Domains": names}, nil
	case formatPMTARelay:
		for _, n := range names {
			fmt.Fprintf(&buf, "relay-domain %s\n", n)
		}
	case formatPMTABounce:
		for _, n := range names {
			fmt.Fprintf(&buf, "<domain %s%s>\n    route %s\n</domain>\n", bounceSubdomainPart, n, a.mxTarget())
		}
	}
	return dispatcher.Raw{ContentType: "text/plain; charset=utf-8", Body: buf.Bytes()}, nil
}

// relayDomainCheck is inbound.relaydomaincheck (GET /api/v1/inbound-relay-domain-check): may
// an MX accept mail for Domain (a domain or a full address)? Yes when it is an Enabled sender
// domain or the VERP return-path domain (bounces.<domain>) of one. On /api/v1 the answer is the
// HTTP status: 200 {"Success":true,"RelayDomain":...}, 500 {} when denied; on api.php a denial
// is ErrorCode 2.
func (a *App) relayDomainCheck(ctx context.Context, req *dispatcher.Request) (any, error) {
	raw := strings.Trim(strings.TrimSpace(req.Params.String("Domain")), "<>")
	if i := strings.LastIndexByte(raw, '@'); i >= 0 {
		raw = raw[i+1:]
	}
	name, ok := NormalizeDomain(raw)
	allowed := false
	if ok {
		candidates := []string{name}
		if rest, found := strings.CutPrefix(name, bounceSubdomainPart); found {
			candidates = append(candidates, rest)
		}
		for _, c := range candidates {
			ds, err := a.DB.DomainsByName(ctx, c)
			if err != nil {
				return nil, err
			}
			for _, d := range ds {
				if d.Status == storage.DomainEnabled {
					allowed = true
				}
			}
		}
	}
	v1 := req.Meta.Surface == "v1"
	switch {
	case allowed && v1:
		return dispatcher.Status{Code: http.StatusOK, Body: struct {
			Success     bool
			RelayDomain string
		}{true, name}}, nil
	case allowed:
		return map[string]any{"RelayDomain": name}, nil
	case v1:
		return dispatcher.Status{Code: http.StatusInternalServerError, Body: map[string]any{}}, nil
	}
	return nil, dispatcher.Fail(dispatcher.KindNotFound, 2, "Relay access denied: domain is not authorized")
}
