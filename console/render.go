package console

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"gatewayd/dispatcher"
)

// page is what every template receives.
type page struct {
	Title    string
	Nav      string
	Session  *session
	CSRF     string
	Notice   string
	Error    string
	Data     any
	Operator bool
	Tenant   string // the tenant whose console the operator opened (the banner names it)
}

var funcs = template.FuncMap{
	"date": func(unix int64) string {
		if unix == 0 {
			return ""
		}
		return time.Unix(unix, 0).UTC().Format("2006-01-02 15:04:05")
	},
	"mask": func(s string) string {
		if len(s) <= 12 {
			return "••••"
		}
		return s[:8] + "…" + s[len(s)-4:]
	},
	"join": strings.Join,
	// evname shows an event under its plain past-tense name (getevents answers the legacy ones).
	"evname": func(e string) string {
		if v, ok := map[string]string{"delivery": "delivered", "bounce": "bounced", "open": "opened", "click": "clicked",
			"unsubscribe": "unsubscribed", "complaint": "complained"}[e]; ok {
			return v
		}
		return e
	},
	"split": strings.Fields,
	"pct": func(n, of int64) string {
		if of == 0 {
			return "0%"
		}
		return strconv.FormatFloat(float64(n)*100/float64(of), 'f', 1, 64) + "%"
	},
}

// notices are the fixed messages a redirect may ask a page to show (?done=...).
var notices = map[string]string{
	"added":    "Saved.",
	"deleted":  "Deleted.",
	"approved": "Domain approved: it can send now.",
	"saved":    "Options saved.",
	"sent":     "Test message accepted.",
	"created":  "User created.",
	// operator pages
	"updated":      "User saved.",
	"disabled":     "Account disabled: its sessions, API keys, sender keys and SMTP credentials stopped working at once; it cannot sign in until enabled again.",
	"enabled":      "Account enabled: its keys and credentials work again.",
	"returned":     "Back in the operator console.",
	"groupcreated": "Group created.",
	"groupsaved":   "Group saved.",
	"groupcopied":  "Group duplicated: this is the copy.",
	"gwsaved":      "Gateway saved.",
	"switchended":  "The tenant's session ended (the account may be disabled); back in the operator console.",
}

func (c *Console) render(ec echo.Context, status int, name string, p page) error {
	t, ok := c.pages[name]
	if !ok {
		return fmt.Errorf("console: no template %q", name)
	}
	if p.Session != nil {
		p.CSRF = p.Session.csrf()
		p.Operator = p.Session.Operator
		if p.Session.Return != "" {
			var cur struct{ UserInfo struct{ Username string } }
			c.call(ec, p.Session.creds(), "user.current", nil, &cur)
			p.Tenant = cur.UserInfo.Username
		}
	}
	if p.Notice == "" {
		p.Notice = notices[ec.QueryParam("done")]
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		c.Log.Error("console render", "page", name, "err", err)
		return ec.String(http.StatusInternalServerError, "Internal error")
	}
	return ec.HTMLBlob(status, buf.Bytes())
}

func (c *Console) forbidden(ec echo.Context, s *session) error {
	return c.render(ec, http.StatusForbidden, "error", page{Title: "Refused", Session: s,
		Error: "This request was refused: it did not come from a console form (reload the page and try again)."})
}

// failed answers a command error that leaves nothing to show on the page: an expired session
// goes back to the login page; not-found and denied get their own pages.
func (c *Console) failed(ec echo.Context, s *session, e *dispatcher.Error) error {
	switch e.Kind {
	case dispatcher.KindAuth:
		if s != nil && s.Return != "" { // the tenant's session ended (disabled account): back to the operator's
			setCookie(ec, cookieSession, "a."+s.Return, 0)
			return c.redirect(ec, "/console/admin/users", "switchended")
		}
		setCookie(ec, cookieSession, "", -1)
		return ec.Redirect(http.StatusFound, "/console/login")
	case dispatcher.KindNotFound:
		return c.render(ec, http.StatusNotFound, "error", page{Title: "Not found", Session: s, Error: e.Message()})
	case dispatcher.KindDenied:
		return c.render(ec, http.StatusForbidden, "error", page{Title: "Not allowed", Session: s,
			Error: "Your account does not have the permission this page needs."})
	}
	return c.render(ec, http.StatusInternalServerError, "error", page{Title: "Error", Session: s, Error: e.Message()})
}

func (c *Console) redirect(ec echo.Context, path, done string) error {
	if done != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "done=" + done
	}
	return ec.Redirect(http.StatusSeeOther, path)
}

// Chart is a server-drawn SVG line chart of daily counts (templates/_chart.html draws it).
type Chart struct {
	ID, Label     string // the svg element's id (may be empty) and its accessible name
	Unit          string // after each value: "" for counts, "%" for rates
	Width, Height int
	Series        []ChartSeries
	XLabels       []ChartLabel
	YLabels       []ChartLabel
	Points        []ChartPoint
}

// ChartSeries is one line.
type ChartSeries struct {
	Name, Class, Path string
	Total             int64
}

// ChartLabel is an axis label.
type ChartLabel struct {
	X, Y float64
	Text string
}

// ChartPoint is one non-zero data point, drawn as a dot with a title.
type ChartPoint struct {
	X, Y        float64
	Class, Text string
}

// drawChart lays out series over days (values[i][d] is series i on day d).
func drawChart(days []string, names []string, values [][]int64) Chart {
	const w, h, left, right, top, bottom = 720, 240, 40, 10, 10, 30
	ch := Chart{Width: w, Height: h}
	var max int64 = 1
	for _, vs := range values {
		for _, v := range vs {
			if v > max {
				max = v
			}
		}
	}
	n := len(days)
	x := func(d int) float64 {
		if n < 2 {
			return left
		}
		return left + float64(d)*float64(w-left-right)/float64(n-1)
	}
	y := func(v int64) float64 { return top + float64(h-top-bottom)*(1-float64(v)/float64(max)) }
	for i, name := range names {
		s := ChartSeries{Name: name, Class: "s" + strconv.Itoa(i)}
		var b strings.Builder
		for d, v := range values[i] {
			cmd := "L"
			if d == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&b, "%s%.1f %.1f ", cmd, x(d), y(v))
			s.Total += v
			if v > 0 {
				ch.Points = append(ch.Points, ChartPoint{X: x(d), Y: y(v), Class: s.Class,
					Text: fmt.Sprintf("%s %s: %d", days[d], name, v)})
			}
		}
		s.Path = strings.TrimSpace(b.String())
		ch.Series = append(ch.Series, s)
	}
	for d := 0; d < n; d += 7 {
		ch.XLabels = append(ch.XLabels, ChartLabel{X: x(d), Y: h - 8, Text: days[d][5:]})
	}
	for i, v := range []int64{0, max / 2, max} {
		if i == 1 && (v == 0 || v == max) {
			continue // a small scale: no second label on the same line
		}
		ch.YLabels = append(ch.YLabels, ChartLabel{X: left - 6, Y: y(v) + 4, Text: strconv.FormatInt(v, 10)})
	}
	return ch
}
