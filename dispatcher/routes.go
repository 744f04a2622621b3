package dispatcher

import "github.com/labstack/echo/v4"

// Routes is the whole HTTP API on one screen: every surface's routes and the command each
// maps to. api.php takes any command by its Command parameter.
func (h *HTTP) Routes(e *echo.Echo) {
	e.GET("/healthz", h.healthz)

	// Octeth: api.php carries every command; GET and POST only (others answer 100001).
	e.Any("/api.php", h.apiPHP)

	// Octeth /api/v1 aliases of the same commands.
	e.POST("/api/v1/email", h.v1("emailgateway.sendemail", BearerSender))
	e.GET("/api/v1/events", h.v1("emailgateway.listevents", BearerSender))
	e.POST("/api/v1/webhooks", h.v1("emailgateway.createwebhook", BearerSender))
	e.GET("/api/v1/webhooks", h.v1("emailgateway.listwebhooks", BearerSender))
	e.DELETE("/api/v1/webhooks", h.v1("emailgateway.removewebhook", BearerSender))
	e.POST("/api/v1/sender.domains", h.v1("sender.domains", BearerAdmin))
	e.GET("/api/v1/inbound-relay-domain-check", h.v1("inbound.relaydomaincheck", BearerAdmin))
}
