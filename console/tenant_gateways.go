package console

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"gatewayd/dispatcher"
)

// A tenant's upstream gateways: its own SMTP servers (the B2Core mail provider commands) and
// the platform's leasable ones, and which one carries its mail (the Navixy panel's bind).
type gatewaysPage struct {
	Bound     int64
	BoundName string
	Own       []struct {
		ID            int64  `json:"id"`
		Caption       string `json:"caption"`
		Host          string `json:"host"`
		Port          int    `json:"port"`
		Username      string `json:"username"`
		SendFrom      string `json:"sendFrom"`
		Encryption    string `json:"encryption"`
		IsEnabled     bool   `json:"isEnabled"`
		TrustAllHosts bool   `json:"trustAllHosts"`
	}
	Leasable []struct {
		ID       int64  `json:"id"`
		Label    string `json:"label"`
		Provider string `json:"provider"`
		From     string `json:"default_from_address"`
	}
	// Tested is the gateway a connection test just ran on; TestOK its outcome, TestMsg why not.
	Tested  int64
	TestOK  bool
	TestMsg string
	Form    map[string]string
}

var tenantGatewayFields = []string{"caption", "host", "port", "encryption", "username", "password", "sendFrom", "sendFromName", "trustAllHosts"}

func (c *Console) tenantGateways(ec echo.Context, s *session) error {
	return c.showTenantGateways(ec, s, http.StatusOK, "", func(*gatewaysPage) {})
}

func (c *Console) showTenantGateways(ec echo.Context, s *session, status int, msg string, edit func(*gatewaysPage)) error {
	p := &gatewaysPage{Form: map[string]string{"port": "587", "encryption": "tls"}}
	var list struct {
		Bound    *int64 `json:"bound_gateway"`
		Leasable any    `json:"leasable"`
	}
	list.Leasable = &p.Leasable
	if e := c.call(ec, s.creds(), "panel/gateways/email/list", nil, &list); e != nil {
		return c.failed(ec, s, e)
	}
	if list.Bound != nil {
		p.Bound = *list.Bound
	}
	var own struct {
		Items any `json:"items"`
	}
	own.Items = &p.Own
	if e := c.call(ec, s.creds(), "mailproviders.list", map[string]any{"limit": 100}, &own); e != nil {
		return c.failed(ec, s, e)
	}
	for _, g := range p.Own {
		if g.ID == p.Bound {
			p.BoundName = g.Caption
		}
	}
	for _, g := range p.Leasable {
		if g.ID == p.Bound {
			p.BoundName = g.Label
		}
	}
	edit(p)
	return c.render(ec, status, "tenant_gateways", page{Title: "Gateways", Nav: "gateways", Session: s, Error: msg, Data: p})
}

// addGateway registers one of the tenant's own SMTP servers (the password is write-only).
func (c *Console) addTenantGateway(ec echo.Context, s *session) error {
	form := map[string]string{}
	params := map[string]any{"driver": "smtp", "isEnabled": "1", "trustAllHosts": "0"}
	for _, k := range tenantGatewayFields {
		form[k] = strings.TrimSpace(ec.FormValue(k))
		if form[k] != "" {
			params[k] = form[k]
		}
	}
	if params["caption"] == nil {
		delete(params, "caption")
	}
	if e := c.call(ec, s.creds(), "mailproviders.create", params, nil); e != nil {
		if e.Kind != dispatcher.KindInvalid {
			return c.failed(ec, s, e)
		}
		form["password"] = ""
		return c.showTenantGateways(ec, s, http.StatusUnprocessableEntity, e.Message(), func(p *gatewaysPage) { p.Form = form })
	}
	return c.redirect(ec, "/console/gateways", "added")
}

// bindGateway routes the tenant's mail through a gateway (its own or a leasable one); an
// empty id unbinds, and mail goes the platform's default way again.
func (c *Console) bindGateway(ec echo.Context, s *session) error {
	var id any = strings.TrimSpace(ec.FormValue("GatewayID"))
	if id == "" {
		id = nil
	}
	if e := c.call(ec, s.creds(), "panel/gateways/email/bind", map[string]any{"gateway_id": id}, nil); e != nil {
		if e.Kind != dispatcher.KindInvalid {
			return c.failed(ec, s, e)
		}
		return c.showTenantGateways(ec, s, http.StatusUnprocessableEntity, e.Message(), func(*gatewaysPage) {})
	}
	if id == nil {
		return c.redirect(ec, "/console/gateways", "unbound")
	}
	return c.redirect(ec, "/console/gateways", "bound")
}

// testGateway connects to an own gateway as delivery would and shows where it failed.
func (c *Console) testGateway(ec echo.Context, s *session) error {
	id := ec.Param("gw")
	e := c.call(ec, s.creds(), "mailproviders.status", map[string]any{"id": id}, nil)
	if e != nil && e.Kind != dispatcher.KindUnprocessable {
		return c.failed(ec, s, e)
	}
	return c.showTenantGateways(ec, s, http.StatusOK, "", func(p *gatewaysPage) {
		for _, g := range p.Own {
			if id == itoa(g.ID) {
				p.Tested = g.ID
			}
		}
		p.TestOK = e == nil
		if e != nil {
			p.TestMsg = e.Message()
		}
	})
}

func (c *Console) deleteTenantGateway(ec echo.Context, s *session) error {
	if e := c.call(ec, s.creds(), "mailproviders.delete", map[string]any{"id": ec.Param("gw")}, nil); e != nil {
		return c.failed(ec, s, e)
	}
	return c.redirect(ec, "/console/gateways", "deleted")
}
