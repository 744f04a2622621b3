package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"gatewayd/dispatcher"
)

// The notices of the tenant pages (kept here, beside the operator's in render.go).
func init() {
	notices["tested"] = "Test event queued: it appears under recent deliveries within seconds."
	notices["removed"] = "Removed."
	notices["unsubscribed"] = "Unsubscribed."
	notices["templatesaved"] = "Template saved."
	notices["bound"] = "Your mail now goes out through this gateway."
	notices["unbound"] = "Your mail goes out the platform's default way again."
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// pickDomain is the domain a per-domain page shows: ?domain= or DomainID when it is one of the
// tenant's, else the first. ok is false when the tenant has no domain yet; a DomainID that is
// not the tenant's is left to the command to refuse (not found), as the API does.
func (c *Console) pickDomain(ec echo.Context, s *session) (domains []domainRow, id int64, ok bool, e *dispatcher.Error) {
	domains, e = c.domainList(ec, s)
	if e != nil || len(domains) == 0 {
		return domains, 0, false, e
	}
	v := ec.QueryParam("domain")
	if v == "" {
		v = ec.FormValue("DomainID")
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n > 0 {
		return domains, n, true, nil
	}
	return domains, domains[0].DomainID, true, nil
}

type webhookDelivery struct {
	DeliveryID, WebhookID, CreatedAt, UpdatedAt int64
	Event, URL, State, Error                    string
	Attempts, StatusCode                        int
	Test                                        bool
}

type webhooksPage struct {
	Domains  []domainRow
	DomainID int64
	Picker   string
	Webhooks []struct {
		WebhookID  int64
		Event      string
		WebhookURL string
	}
	Deliveries []webhookDelivery
	// SigningKey is set only when the tenant asked to reveal it, or just rotated it.
	SigningKey string
	Rotated    bool
	Events     []string
	Form       map[string]string
}

func (c *Console) webhooks(ec echo.Context, s *session) error {
	return c.showWebhooks(ec, s, http.StatusOK, "", func(*webhooksPage) {})
}

// showWebhooks renders the webhooks of the chosen domain; edit adds what a POST produced.
func (c *Console) showWebhooks(ec echo.Context, s *session, status int, msg string, edit func(*webhooksPage)) error {
	domains, id, ok, e := c.pickDomain(ec, s)
	if e != nil {
		return c.failed(ec, s, e)
	}
	p := &webhooksPage{Domains: domains, DomainID: id, Picker: "/console/webhooks", Form: map[string]string{},
		Events: []string{"delivered", "bounced", "opened", "clicked", "unsubscribed", "complained"}}
	if ok {
		var hooks struct{ Webhooks any }
		hooks.Webhooks = &p.Webhooks
		if e := c.call(ec, s.creds(), "emailgateway.getwebhooks", map[string]any{"DomainID": id}, &hooks); e != nil {
			return c.failed(ec, s, e)
		}
		var dl struct{ Deliveries any }
		dl.Deliveries = &p.Deliveries
		if e := c.call(ec, s.creds(), "emailgateway.webhookdeliveries", map[string]any{"DomainID": id}, &dl); e != nil {
			return c.failed(ec, s, e)
		}
	}
	edit(p)
	return c.render(ec, status, "webhooks", page{Title: "Webhooks", Nav: "webhooks", Session: s, Error: msg, Data: p})
}

func (c *Console) webhooksURL(ec echo.Context) string {
	return "/console/webhooks?domain=" + url.QueryEscape(ec.FormValue("DomainID"))
}

func (c *Console) addWebhook(ec echo.Context, s *session) error {
	form := map[string]string{"Event": ec.FormValue("Event"), "WebhookURL": strings.TrimSpace(ec.FormValue("WebhookURL"))}
	if e := c.call(ec, s.creds(), "emailgateway.addwebhook", map[string]any{"DomainID": ec.FormValue("DomainID"),
		"Event": form["Event"], "WebhookURL": form["WebhookURL"]}, nil); e != nil {
		if e.Kind != dispatcher.KindInvalid {
			return c.failed(ec, s, e)
		}
		return c.showWebhooks(ec, s, http.StatusUnprocessableEntity, e.Message(), func(p *webhooksPage) { p.Form = form })
	}
	return c.redirect(ec, c.webhooksURL(ec), "added")
}

func (c *Console) deleteWebhook(ec echo.Context, s *session) error {
	if e := c.call(ec, s.creds(), "emailgateway.deletewebhook", map[string]any{"DomainID": ec.FormValue("DomainID"),
		"WebhookID": ec.Param("hook")}, nil); e != nil {
		return c.failed(ec, s, e)
	}
	return c.redirect(ec, c.webhooksURL(ec), "deleted")
}

func (c *Console) testWebhook(ec echo.Context, s *session) error {
	if e := c.call(ec, s.creds(), "emailgateway.testwebhook", map[string]any{"DomainID": ec.FormValue("DomainID"),
		"WebhookID": ec.Param("hook")}, nil); e != nil {
		return c.failed(ec, s, e)
	}
	return c.redirect(ec, c.webhooksURL(ec), "tested")
}

// revealSigningKey shows the domain's whsec_ key on this one answer (a POST, so it needs the
// CSRF token and is never cached or linked).
func (c *Console) revealSigningKey(ec echo.Context, s *session) error {
	var res struct{ SigningKey string }
	if e := c.call(ec, s.creds(), "emailgateway.getwebhooks", map[string]any{"DomainID": ec.FormValue("DomainID")}, &res); e != nil {
		return c.failed(ec, s, e)
	}
	return c.showWebhooks(ec, s, http.StatusOK, "", func(p *webhooksPage) { p.SigningKey = res.SigningKey })
}

// rotateSigningKey replaces the domain's whsec_ key and shows the new one.
func (c *Console) rotateSigningKey(ec echo.Context, s *session) error {
	var res struct{ SigningKey string }
	if e := c.call(ec, s.creds(), "emailgateway.regeneratesigningkey", map[string]any{"DomainID": ec.FormValue("DomainID")}, &res); e != nil {
		return c.failed(ec, s, e)
	}
	return c.showWebhooks(ec, s, http.StatusOK, "", func(p *webhooksPage) { p.SigningKey, p.Rotated = res.SigningKey, true })
}
