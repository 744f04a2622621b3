package dispatcher

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

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
	e.POST("/api/v1/subscriber.create", h.v1("subscriber.create", BearerUser))
	e.POST("/api/v1/subscribers.import", h.v1("subscribers.import.post", BearerUser))
	e.GET("/api/v1/subscribers.import", h.v1("subscribers.import.get", BearerUser))
	e.POST("/api/v1/subscribers.export", h.v1("subscribers.export.post", BearerUser))
	e.GET("/api/v1/subscribers.export", h.v1("subscribers.export.get", BearerUser))

	// GatewayAPI email: token as Basic user name, "Authorization: Token", or token=.
	e.POST("/rest/email", h.gatewayAPI("gatewayapi.email"))

	// Navixy panel (with and without the /v2 prefix; GET and POST): session hash, gateways.
	for _, v2 := range []string{"", "/v2"} {
		nvx := []string{http.MethodGet, http.MethodPost}
		e.Match(nvx, v2+"/panel/account/auth", h.navixy("panel/account/auth"))
		e.Match(nvx, v2+"/panel/account/logout", h.navixy("panel/account/logout"))
		e.Match(nvx, v2+"/panel/gateways/email/list", h.navixy("panel/gateways/email/list"))
		e.Match(nvx, v2+"/panel/gateways/email/bind", h.navixy("panel/gateways/email/bind"))
	}

	// B2Core SMTP service providers (Bearer SessionID, user API key or AdminAPIKey).
	e.GET("/api/v2/mail/providers", h.b2core("mailproviders.list", http.StatusOK))
	e.POST("/api/v2/mail/providers", h.b2core("mailproviders.create", http.StatusCreated))
	e.GET("/api/v2/mail/providers/:id", h.b2core("mailproviders.get", http.StatusOK))
	e.GET("/api/v2/mail/providers/:id/status", h.b2core("mailproviders.status", http.StatusNoContent))
	e.PATCH("/api/v2/mail/providers/:id", h.b2core("mailproviders.update", http.StatusOK))
	e.DELETE("/api/v2/mail/providers/:id", h.b2core("mailproviders.delete", http.StatusNoContent))

	// Tenevo message gateways and their methods (Bearer as B2Core), with or without the
	// trailing slash.
	for _, sl := range []string{"", "/"} {
		e.POST("/messages/gateways"+sl, h.tenevo("messagegateways.create", http.StatusCreated))
		e.GET("/messages/gateways"+sl, h.tenevo("messagegateways.list", http.StatusOK))
		e.GET("/messages/gateways/:gateway"+sl, h.tenevo("messagegateways.get", http.StatusOK))
		e.PUT("/messages/gateways/:gateway"+sl, h.tenevo("messagegateways.update", http.StatusOK))
		e.DELETE("/messages/gateways/:gateway"+sl, h.tenevo("messagegateways.delete", http.StatusNoContent))
		e.GET("/messages/gateways/:gateway/methods"+sl, h.tenevo("messagegateways.methods.list", http.StatusOK))
		e.POST("/messages/gateways/:gateway/methods"+sl, h.tenevo("messagegateways.methods.add", http.StatusCreated))
		e.DELETE("/messages/gateways/:gateway/methods/:method"+sl, h.tenevo("messagegateways.methods.delete", http.StatusNoContent))
	}

	// Tracking, public behind signed tokens (package tracking, added through HTTP.Extra by
	// app/events.go): GET /t/o/{token} open pixel, GET /t/c/{token} click redirect,
	// GET /t/u/{token} unsubscribe page, POST /t/u/{token} unsubscribe (RFC 8058 one-click).

	// Operations: GET /metrics, Prometheus (internal/metrics, added through HTTP.Extra by
	// app/delivery.go); GET /healthz above.
}
