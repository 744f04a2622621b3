package commands

import (
	"context"
	"html"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"gatewayd/commands/compose"
	"gatewayd/storage"
)

// optInLink is the confirmation link of a pending subscription: subscriber.optin over GET
// on api.php, so the link works from any mail client without a page of its own.
func (a *App) optInLink(s *storage.Subscriber) string {
	q := url.Values{}
	q.Set("Command", "subscriber.optin")
	q.Set("ListID", strconv.FormatInt(s.ListID, 10))
	q.Set("SubscriberID", strconv.FormatInt(s.ID, 10))
	q.Set("ConfirmationCode", s.ConfirmationCode)
	return a.Cfg.PublicURL + "/api.php?" + q.Encode()
}

// sendOptInConfirmation queues the list's confirmation email (emailID) to a pending
// subscriber, with %Link:Confirm% (and %Subscriber:EmailAddress%) filled in. It is sent from
// the email's From address through the owner's sender domain of that address; when there is
// no such enabled domain, or no email, nothing is sent and the subscriber stays pending (it
// can still be confirmed with subscriber.optin). Failures are logged, never the caller's.
func (a *App) sendOptInConfirmation(ctx context.Context, l *storage.List, s *storage.Subscriber, emailID int64) {
	if emailID == 0 || s.ConfirmationCode == "" {
		return
	}
	log := a.Log.With("list", l.ID, "subscriber", s.ID)
	e, err := a.DB.ListEmailByID(ctx, l.UserID, emailID)
	if err != nil {
		log.WarnContext(ctx, "opt-in confirmation email", "err", err)
		return
	}
	from := strings.TrimSpace(e.FromEmail)
	if from == "" {
		from = l.SenderEmail
	}
	at := strings.LastIndexByte(from, '@')
	if at < 0 {
		log.WarnContext(ctx, "opt-in confirmation: no sender address")
		return
	}
	u, err := a.DB.UserByID(ctx, l.UserID)
	if err != nil {
		log.WarnContext(ctx, "opt-in confirmation: owner", "err", err)
		return
	}
	domains, err := a.DB.DomainsByUser(ctx, l.UserID)
	if err != nil {
		log.WarnContext(ctx, "opt-in confirmation: domains", "err", err)
		return
	}
	var d *storage.SenderDomain
	for i := range domains {
		if strings.EqualFold(domains[i].Name, from[at+1:]) {
			d = &domains[i]
		}
	}
	if d == nil {
		log.WarnContext(ctx, "opt-in confirmation: no sender domain for the From address", "from", from)
		return
	}
	fill := strings.NewReplacer("%Link:Confirm%", a.optInLink(s), "%Subscriber:EmailAddress%", s.Email)
	fillHTML := strings.NewReplacer("%Link:Confirm%", html.EscapeString(a.optInLink(s)), "%Subscriber:EmailAddress%", html.EscapeString(s.Email))
	id := uuid.NewString()
	cm := compose.Message{
		From: compose.Address{Name: e.FromName, Email: from}, To: []compose.Address{{Email: s.Email}},
		Subject: fill.Replace(e.Subject), MessageID: id + "@" + d.Name, Date: time.Now(),
	}
	if e.ReplyToEmail != "" {
		cm.ReplyTo = []compose.Address{{Name: e.ReplyToName, Email: e.ReplyToEmail}}
	}
	if e.ContentType != "Plain" {
		cm.HTML = fillHTML.Replace(e.HTMLContent)
	}
	if e.ContentType != "HTML" || cm.HTML == "" {
		cm.Text = fill.Replace(e.PlainContent)
	}
	raw, err := compose.Build(&cm)
	if err != nil {
		log.WarnContext(ctx, "opt-in confirmation: compose", "err", err)
		return
	}
	_, err = a.Accept(ctx, &Submission{
		User: u, Domain: d, Source: "api", MailFrom: from, Subject: cm.Subject, Raw: raw,
		HeaderMessageID: "<" + cm.MessageID + ">", Recipients: []Rcpt{{Email: s.Email, Kind: "to"}},
		UUID: id, ListID: l.ID, Tags: []string{"opt-in-confirmation"},
	})
	if err != nil {
		log.WarnContext(ctx, "opt-in confirmation: not accepted", "err", err)
	}
}
