package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"gatewayd/dispatcher"
)

// Email templates (user-email-templates.md): list, create, edit, preview.

type templateRow struct {
	EmailID                                    flexID
	EmailName, Subject, ContentType, UpdatedAt string
}

var templateFields = []string{"EmailName", "Subject", "ContentType", "HTMLContent", "PlainContent"}

func (c *Console) templates(ec echo.Context, s *session) error {
	return c.showTemplates(ec, s, http.StatusOK, "", map[string]string{"ContentType": "Both"})
}

func (c *Console) showTemplates(ec echo.Context, s *session, status int, msg string, form map[string]string) error {
	var res struct {
		TotalEmailTemplateCount int64
		EmailTemplates          []templateRow
	}
	if e := c.call(ec, s.creds(), "useremailtemplates.get", map[string]any{"Limit": 100, "OrderField": "EmailName", "OrderType": "ASC",
		"fields": "EmailID,EmailName,Subject,ContentType,UpdatedAt"}, &res); e != nil {
		return c.failed(ec, s, e)
	}
	return c.render(ec, status, "templates", page{Title: "Templates", Nav: "templates", Session: s, Error: msg,
		Data: map[string]any{"Templates": res.EmailTemplates, "Form": form}})
}

func templateForm(ec echo.Context) (map[string]string, map[string]any) {
	form := map[string]string{}
	params := map[string]any{}
	for _, k := range templateFields {
		form[k] = ec.FormValue(k)
		params[k] = form[k]
	}
	form["EmailName"] = strings.TrimSpace(form["EmailName"])
	params["EmailName"] = form["EmailName"]
	return form, params
}

func (c *Console) addTemplate(ec echo.Context, s *session) error {
	form, params := templateForm(ec)
	var res struct{ EmailID flexID }
	if e := c.call(ec, s.creds(), "useremailtemplate.create", params, &res); e != nil {
		if e.Kind != dispatcher.KindInvalid {
			return c.failed(ec, s, e)
		}
		return c.showTemplates(ec, s, http.StatusUnprocessableEntity, e.Message(), form)
	}
	return c.redirect(ec, "/console/templates/"+url.PathEscape(string(res.EmailID)), "added")
}

type templatePage struct {
	EmailID string
	Form    map[string]string
	// Preview is the template rendered for a sample subscriber, after "Preview".
	Previewed    bool
	PreviewHTML  string
	PreviewPlain string
}

func (c *Console) template(ec echo.Context, s *session) error {
	p, e := c.loadTemplate(ec, s)
	if e != nil {
		return c.failed(ec, s, e)
	}
	return c.showTemplate(ec, s, p, http.StatusOK, "")
}

func (c *Console) loadTemplate(ec echo.Context, s *session) (*templatePage, *dispatcher.Error) {
	var res struct{ EmailTemplate map[string]any }
	if e := c.call(ec, s.creds(), "useremailtemplate.get", map[string]any{"EmailID": ec.Param("tpl")}, &res); e != nil {
		if e.Kind == dispatcher.KindInvalid { // a malformed id is not found, as another's is
			e = dispatcher.NotFound(3, "Email template not found")
		}
		return nil, e
	}
	p := &templatePage{EmailID: ec.Param("tpl"), Form: map[string]string{}}
	for _, k := range templateFields {
		if v, ok := res.EmailTemplate[k].(string); ok {
			p.Form[k] = v
		}
	}
	return p, nil
}

func (c *Console) showTemplate(ec echo.Context, s *session, p *templatePage, status int, msg string) error {
	title := p.Form["EmailName"]
	if title == "" {
		title = "Template " + p.EmailID
	}
	return c.render(ec, status, "template", page{Title: title, Nav: "templates", Session: s, Error: msg, Data: p})
}

func (c *Console) updateTemplate(ec echo.Context, s *session) error {
	p, e := c.loadTemplate(ec, s)
	if e != nil {
		return c.failed(ec, s, e)
	}
	form, params := templateForm(ec)
	params["EmailID"] = p.EmailID
	if e := c.call(ec, s.creds(), "useremailtemplate.update", params, nil); e != nil {
		if e.Kind != dispatcher.KindInvalid {
			return c.failed(ec, s, e)
		}
		p.Form = form
		return c.showTemplate(ec, s, p, http.StatusUnprocessableEntity, e.Message())
	}
	return c.redirect(ec, "/console/templates/"+url.PathEscape(p.EmailID), "templatesaved")
}

// previewTemplate renders the saved template for the sample subscriber (John Doe,
// subscriber@example.com): personalization tags filled in, shown as text (the console's
// policy runs no mail HTML).
func (c *Console) previewTemplate(ec echo.Context, s *session) error {
	p, e := c.loadTemplate(ec, s)
	if e != nil {
		return c.failed(ec, s, e)
	}
	var res struct{ HTMLContent, PlainContent string }
	if e := c.call(ec, s.creds(), "useremailtemplate.preview", map[string]any{"EmailTemplateID": p.EmailID}, &res); e != nil {
		if e.Kind != dispatcher.KindInvalid {
			return c.failed(ec, s, e)
		}
		return c.showTemplate(ec, s, p, http.StatusUnprocessableEntity, e.Message())
	}
	p.Previewed, p.PreviewHTML, p.PreviewPlain = true, res.HTMLContent, res.PlainContent
	return c.showTemplate(ec, s, p, http.StatusOK, "")
}

func (c *Console) deleteTemplate(ec echo.Context, s *session) error {
	var res struct{ DeletedCount int }
	if e := c.call(ec, s.creds(), "useremailtemplate.delete", map[string]any{"EmailID": ec.Param("tpl")}, &res); e != nil {
		return c.failed(ec, s, e)
	}
	if res.DeletedCount == 0 {
		return c.failed(ec, s, dispatcher.NotFound(3, "Email template not found"))
	}
	return c.redirect(ec, "/console/templates", "deleted")
}
