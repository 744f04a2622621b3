package console

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// rotateKey replaces a sender API key with a new one (emailgateway.replaceapi): the old key
// stops working at once and the new one is shown this once.
func (c *Console) rotateKey(ec echo.Context, s *session) error {
	var res struct{ APIKey struct{ APIKey string } }
	if e := c.call(ec, s.creds(), "emailgateway.replaceapi", map[string]any{"APIKeyID": ec.Param("key")}, &res); e != nil {
		return c.failed(ec, s, e)
	}
	p, e := c.loadDomain(ec, s)
	if e != nil {
		return c.failed(ec, s, e)
	}
	p.NewKey, p.Rotated = res.APIKey.APIKey, true
	return c.showDomain(ec, s, p, http.StatusOK, "")
}

// rotateSMTP gives SMTP credentials a new password (emailgateway.resetsmtppassword), shown
// this once; the old password stops working at once.
func (c *Console) rotateSMTP(ec echo.Context, s *session) error {
	var res struct {
		SMTP struct{ SMTPUsername, SMTPPassword string }
	}
	if e := c.call(ec, s.creds(), "emailgateway.resetsmtppassword", map[string]any{"SMTPID": ec.Param("smtp")}, &res); e != nil {
		return c.failed(ec, s, e)
	}
	p, e := c.loadDomain(ec, s)
	if e != nil {
		return c.failed(ec, s, e)
	}
	p.NewSMTPUser, p.NewSMTPPass, p.Rotated = res.SMTP.SMTPUsername, res.SMTP.SMTPPassword, true
	return c.showDomain(ec, s, p, http.StatusOK, "")
}
