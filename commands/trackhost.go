package commands

import (
	"net/url"
	"strings"

	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// A sender domain's tracking host (octeth-5.9.4 adddomain/updatedomain, docs/api.md):
//
//   - TrackPrefixDisabled: the MFROM (return-path) domain, bounces.<domain>;
//   - TrackPrefix set: TrackPrefix + TrackMerge + Subdomain + "." + domain when a Subdomain is
//     set (links.outbound.example.com, or links-outbound.example.com with TrackMerge "-"),
//     TrackPrefix + "." + domain without one (links.example.com);
//   - neither: the host of GATEWAY_PUBLIC_URL, the global default.
//
// Scheme, port and path stay those of GATEWAY_PUBLIC_URL.

const maxTrackLabel = 32 // Subdomain and TrackPrefix: "max 32 characters"

// TrackingHost is the host of d's tracking URLs, or "" for the global default.
func TrackingHost(d *storage.SenderDomain) string {
	switch {
	case d.TrackPrefixDisabled:
		return d.ReturnPathDomain()
	case d.TrackPrefix == "":
		return ""
	case d.Subdomain == "":
		return d.TrackPrefix + "." + d.Name
	}
	merge := d.TrackMerge
	if merge == "" {
		merge = "."
	}
	return d.TrackPrefix + merge + d.Subdomain + "." + d.Name
}

// TrackingBase is the base URL of d's open, click and unsubscribe links.
func (a *App) TrackingBase(d *storage.SenderDomain) string {
	host := TrackingHost(d)
	if host == "" {
		return a.Cfg.PublicURL
	}
	u, err := url.Parse(a.Cfg.PublicURL)
	if err != nil || u.Host == "" {
		return a.Cfg.PublicURL
	}
	if p := u.Port(); p != "" {
		host += ":" + p
	}
	u.Host = host
	return strings.TrimRight(u.String(), "/")
}

// trackOptions reads Subdomain, TrackPrefix, TrackMerge and TrackPrefixDisabled into d (those
// given; an empty Subdomain or TrackPrefix resets it), reporting an invalid one with code.
func trackOptions(p dispatcher.Params, d *storage.SenderDomain, code int) []dispatcher.Issue {
	var issues []dispatcher.Issue
	given := func(name string) bool { _, ok := dispatcher.Lookup(p.Tree(), name); return ok }
	label := func(name string) (string, bool) {
		v := strings.ToLower(strings.TrimSpace(p.String(name)))
		return v, v == "" || (len(v) <= maxTrackLabel && validLabel(v) && v != "bounces")
	}
	if given("Subdomain") {
		sub, ok := label("Subdomain")
		if !ok {
			issues = append(issues, dispatcher.Field("Subdomain", code, "Invalid Subdomain (one DNS label of at most 32 letters, digits and hyphens, not \"bounces\")"))
		}
		d.Subdomain = sub
	}
	if given("TrackPrefix") {
		tp, ok := label("TrackPrefix")
		if !ok {
			issues = append(issues, dispatcher.Field("TrackPrefix", code, "Invalid TrackPrefix (one DNS label of at most 32 letters, digits and hyphens, not \"bounces\")"))
		}
		d.TrackPrefix = tp
	}
	if given("TrackMerge") {
		m := strings.TrimSpace(p.String("TrackMerge"))
		if m != "" && m != "." && m != "-" {
			issues = append(issues, dispatcher.Field("TrackMerge", code, "Invalid TrackMerge (. or -)"))
		}
		d.TrackMerge = m
	}
	if given("TrackPrefixDisabled") {
		if is := readFlag(p, "TrackPrefixDisabled", &d.TrackPrefixDisabled, code); is != nil {
			issues = append(issues, *is)
		}
	}
	return issues
}
