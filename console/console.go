// Package console is the web console at /console/: server-rendered html/template pages for
// tenants and the operator, with embedded static assets (no build step, no CDN). It is a
// top-level package because it is a surface of its own, beside the API surfaces of dispatcher:
// every page and every action calls a command through the dispatcher, exactly as api.php does,
// so permissions, isolation, error codes and rate limits are the API's own. It never touches
// storage.
package console

import (
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"gatewayd/dispatcher"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Console serves /console/.
type Console struct {
	D   *dispatcher.Dispatcher
	Log *slog.Logger
	// SMTPHost is shown beside SMTP credentials.
	SMTPHost string
	// SMTPPorts are the submission ports shown beside SMTP credentials.
	SMTPPorts []int
	pages     map[string]*template.Template
}

// New parses the templates; a template that does not parse is a programming error.
func New(d *dispatcher.Dispatcher, log *slog.Logger, smtpHost string) *Console {
	if log == nil {
		log = slog.Default()
	}
	c := &Console{D: d, Log: log, SMTPHost: smtpHost, pages: map[string]*template.Template{}}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	// templates/_*.html are parts several pages share.
	for _, n := range names {
		if n == "templates/layout.html" || strings.HasPrefix(n, "templates/_") {
			continue
		}
		t := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", n))
		c.pages[n[len("templates/"):len(n)-len(".html")]] = t
	}
	return c
}

// Routes is the console's whole route table. GET pages read; every POST changes something and
// carries the CSRF token. "tenant" pages need a user session, "operator" pages an admin one.
func (c *Console) Routes(e *echo.Echo) {
	static, _ := fs.Sub(staticFS, "static")
	e.GET("/console/static/*", echo.WrapHandler(http.StripPrefix("/console/static/", http.FileServer(http.FS(static)))), c.headers)
	e.GET("/console", func(ec echo.Context) error { return ec.Redirect(http.StatusFound, "/console/") })

	g := e.Group("/console", c.headers)
	g.GET("/login", c.loginPage)
	g.POST("/login", c.login)
	g.POST("/logout", c.any(c.logout))

	// Tenant.
	g.GET("/", c.tenant(c.dashboard))
	g.GET("/domains", c.tenant(c.domains))
	g.POST("/domains", c.tenant(c.addDomain))
	g.GET("/domains/:id", c.tenant(c.domain))
	g.POST("/domains/:id/verify", c.tenant(c.verifyDomain))
	g.POST("/domains/:id/options", c.tenant(c.domainOptions))
	g.POST("/domains/:id/delete", c.tenant(c.deleteDomain))
	g.POST("/domains/:id/keys", c.tenant(c.addKey))
	g.POST("/domains/:id/keys/:key/delete", c.tenant(c.deleteKey))
	g.POST("/domains/:id/keys/:key/rotate", c.tenant(c.rotateKey))
	g.POST("/domains/:id/smtp", c.tenant(c.addSMTP))
	g.POST("/domains/:id/smtp/:smtp/delete", c.tenant(c.deleteSMTP))
	g.POST("/domains/:id/smtp/:smtp/rotate", c.tenant(c.rotateSMTP))
	g.GET("/send", c.tenant(c.sendPage))
	g.POST("/send", c.tenant(c.send))
	g.GET("/messages", c.tenant(c.messages))
	g.GET("/messages/:domain/:message", c.tenant(c.message))
	g.GET("/webhooks", c.tenant(c.webhooks))
	g.POST("/webhooks", c.tenant(c.addWebhook))
	g.POST("/webhooks/key/reveal", c.tenant(c.revealSigningKey))
	g.POST("/webhooks/key/rotate", c.tenant(c.rotateSigningKey))
	g.POST("/webhooks/:hook/test", c.tenant(c.testWebhook))
	g.POST("/webhooks/:hook/delete", c.tenant(c.deleteWebhook))
	g.GET("/suppressions", c.tenant(c.suppressions))
	g.POST("/suppressions", c.tenant(c.addSuppressions))
	g.POST("/suppressions/delete", c.tenant(c.deleteSuppression))
	g.GET("/gateways", c.tenant(c.tenantGateways))
	g.POST("/gateways", c.tenant(c.addTenantGateway))
	g.POST("/gateways/bind", c.tenant(c.bindGateway))
	g.POST("/gateways/:gw/test", c.tenant(c.testGateway))
	g.POST("/gateways/:gw/delete", c.tenant(c.deleteTenantGateway))
	g.GET("/lists", c.tenant(c.lists))
	g.POST("/lists", c.tenant(c.addList))
	g.GET("/lists/:list", c.tenant(c.list))
	g.POST("/lists/:list/subscribers", c.tenant(c.addSubscriber))
	g.POST("/lists/:list/unsubscribe", c.tenant(c.unsubscribeSubscriber))
	g.GET("/templates", c.tenant(c.templates))
	g.POST("/templates", c.tenant(c.addTemplate))
	g.GET("/templates/:tpl", c.tenant(c.template))
	g.POST("/templates/:tpl", c.tenant(c.updateTemplate))
	g.POST("/templates/:tpl/preview", c.tenant(c.previewTemplate))
	g.POST("/templates/:tpl/delete", c.tenant(c.deleteTemplate))

	// Operator.
	g.GET("/admin", c.operator(c.adminHome))
	g.GET("/admin/domains", c.operator(c.adminDomains))
	g.POST("/admin/domains/approve", c.operator(c.adminApprove))
	g.GET("/admin/users", c.operator(c.adminUsers))
	g.POST("/admin/users", c.operator(c.adminCreateUser))
	g.GET("/admin/users/:id", c.operator(c.adminUser))
	g.POST("/admin/users/:id", c.operator(c.adminUpdateUser))
	g.POST("/admin/users/:id/status", c.operator(c.adminUserStatus))
	g.POST("/admin/users/:id/switch", c.operator(c.adminSwitch))
	g.POST("/return", c.tenant(c.returnToOperator))
	g.GET("/admin/groups", c.operator(c.adminGroups))
	g.POST("/admin/groups", c.operator(c.adminCreateGroup))
	g.GET("/admin/groups/:id", c.operator(c.adminGroup))
	g.POST("/admin/groups/:id", c.operator(c.adminUpdateGroup))
	g.POST("/admin/groups/:id/duplicate", c.operator(c.adminDuplicateGroup))
	g.POST("/admin/groups/:id/delete", c.operator(c.adminDeleteGroup))
	g.GET("/admin/gateways", c.operator(c.adminGateways))
	g.POST("/admin/gateways", c.operator(c.adminCreateGateway))
	g.GET("/admin/gateways/:id", c.operator(c.adminGateway))
	g.POST("/admin/gateways/:id", c.operator(c.adminUpdateGateway))
	g.POST("/admin/gateways/:id/delete", c.operator(c.adminDeleteGateway))
	g.GET("/admin/queue", c.operator(c.adminQueue))
	g.POST("/admin/queue/:action", c.operator(c.adminQueueAction))
	g.GET("/admin/health", c.operator(c.adminHealth))
}
