package console

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"gatewayd/dispatcher"
)

type suppressionRow struct {
	EmailAddress, SuppressionSource, Reason string
	RelSenderDomainID                       string
	Domain                                  string // the sender domain's name, "" for the account-wide list
}

type suppressionsPage struct {
	F       map[string]string
	Total   int64
	Rows    []suppressionRow
	Sources []string
	Counts  map[string]int64
	Next    int
	Prev    int
	HasPrev bool
	// What an add just did.
	Imported, Failed int
	Added            bool
	Form             map[string]string
}

const suppressionPage = 50

func (c *Console) suppressions(ec echo.Context, s *session) error {
	return c.showSuppressions(ec, s, http.StatusOK, "", func(*suppressionsPage) {})
}

func (c *Console) showSuppressions(ec echo.Context, s *session, status int, msg string, edit func(*suppressionsPage)) error {
	p := &suppressionsPage{F: map[string]string{}, Form: map[string]string{}}
	for _, k := range []string{"q", "source", "start"} {
		p.F[k] = strings.TrimSpace(ec.QueryParam(k))
	}
	var stats struct {
		Total    int64
		BySource map[string]int64
	}
	if e := c.call(ec, s.creds(), "suppression.stats", nil, &stats); e != nil {
		return c.failed(ec, s, e)
	}
	p.Counts = stats.BySource
	for src := range stats.BySource {
		p.Sources = append(p.Sources, src)
	}
	sort.Strings(p.Sources)
	domains, e := c.domainList(ec, s)
	if e != nil {
		return c.failed(ec, s, e)
	}
	names := map[string]string{}
	for _, d := range domains {
		names[strconv.FormatInt(d.DomainID, 10)] = d.SenderDomain
	}
	start, _ := strconv.Atoi(p.F["start"])
	if start < 0 {
		start = 0
	}
	params := map[string]any{"StartFrom": start, "RetrieveCount": suppressionPage}
	if p.F["q"] != "" {
		params["SearchPattern"] = p.F["q"]
	}
	if p.F["source"] != "" {
		params["SuppressionSource"] = p.F["source"]
	}
	var res struct {
		TotalRecords     int64
		SuppressedEmails map[string]suppressionRow
	}
	if e := c.call(ec, s.creds(), "suppression.browse", params, &res); e != nil {
		if e.Kind != dispatcher.KindInvalid {
			return c.failed(ec, s, e)
		}
		status, msg = http.StatusUnprocessableEntity, e.Message()
	}
	for _, r := range res.SuppressedEmails {
		r.Domain = names[r.RelSenderDomainID]
		p.Rows = append(p.Rows, r)
	}
	sort.Slice(p.Rows, func(i, j int) bool { return p.Rows[i].EmailAddress < p.Rows[j].EmailAddress })
	p.Total = res.TotalRecords
	if int64(start+suppressionPage) < res.TotalRecords {
		p.Next = start + suppressionPage
	}
	if start > 0 {
		p.HasPrev, p.Prev = true, max(0, start-suppressionPage)
	}
	edit(p)
	return c.render(ec, status, "suppressions", page{Title: "Suppression list", Nav: "suppressions", Session: s, Error: msg, Data: p})
}

// addSuppressions puts addresses (one a line, or separated by commas or spaces) on the
// account-wide list: sends to them from any of the tenant's domains are refused.
func (c *Console) addSuppressions(ec echo.Context, s *session) error {
	form := map[string]string{"Addresses": ec.FormValue("Addresses"), "Reason": strings.TrimSpace(ec.FormValue("Reason"))}
	bulk := strings.Join(strings.FieldsFunc(form["Addresses"], func(r rune) bool {
		return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' || r == '\t'
	}), "\n")
	params := map[string]any{"EmailAddressesBulk": bulk}
	if form["Reason"] != "" {
		params["Reason"] = form["Reason"]
	}
	var res struct{ TotalImported, TotalFailed int }
	e := c.call(ec, s.creds(), "suppression.import", params, &res)
	if e != nil && e.Kind != dispatcher.KindInvalid {
		return c.failed(ec, s, e)
	}
	if e == nil && bulk == "" {
		e = dispatcher.Invalid(dispatcher.Field("EmailAddressesBulk", 1, "Enter at least one address"))
	}
	if e != nil || res.TotalFailed > 0 && res.TotalImported == 0 {
		msg := "No valid address: enter one address a line."
		if e != nil {
			msg = e.Message()
		}
		return c.showSuppressions(ec, s, http.StatusUnprocessableEntity, msg, func(p *suppressionsPage) { p.Form = form })
	}
	return c.showSuppressions(ec, s, http.StatusOK, "", func(p *suppressionsPage) {
		p.Added, p.Imported, p.Failed = true, res.TotalImported, res.TotalFailed
	})
}

// deleteSuppression takes one address off the tenant's lists (account-wide and every sender
// domain's), so sends to it work again.
func (c *Console) deleteSuppression(ec echo.Context, s *session) error {
	if e := c.call(ec, s.creds(), "suppression.delete", map[string]any{"EmailAddress": ec.FormValue("EmailAddress")}, nil); e != nil {
		if e.Kind != dispatcher.KindInvalid {
			return c.failed(ec, s, e)
		}
		return c.showSuppressions(ec, s, http.StatusUnprocessableEntity, e.Message(), func(*suppressionsPage) {})
	}
	back := "/console/suppressions"
	if q := ec.FormValue("q"); q != "" {
		back += "?q=" + url.QueryEscape(q)
	}
	return c.redirect(ec, back, "removed")
}
