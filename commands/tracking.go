package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"strings"
	"time"

	"gatewayd/storage"
	"gatewayd/tracking"
)

// BotWindow is how soon after delivery an open or click counts as a scanner's: no person
// opens a message within seconds of its delivery, while receiving-side scanners fetch
// everything at once.
const BotWindow = 5 * time.Second

// Tracker is open, click and unsubscribe tracking: the per-recipient transformation applied
// at delivery (Transform) and the recorder behind the public /t/ endpoints (Handler).
type Tracker struct {
	a      *App
	Signer *tracking.Signer
	// Window is the bot window after delivery (BotWindow).
	Window time.Duration
	// Notify, when set, is called after an event was committed (wakes the webhook dispatcher).
	Notify func()
	// Mailto adds the mailto: form to List-Unsubscribe (unsubscribe+<token>@<return-path
	// domain>); set it only when the MX intake hands such mail to UnsubscribeToken.
	Mailto bool
}

// NewTracker makes the tracker of a; its tokens are signed with a subkey of the server key.
func NewTracker(a *App) *Tracker {
	return &Tracker{a: a, Signer: tracking.NewSigner(a.Keys.Subkey("tracking")), Window: BotWindow}
}

// Handler serves /t/o/, /t/c/, /t/u/ and /t/v/.
func (t *Tracker) Handler() http.Handler {
	return &tracking.Handler{Signer: t.Signer, Recorder: t, Log: t.a.Log}
}

// Transform is the delivery engine's hook, run for each recipient before DKIM signing: link
// rewriting and the open pixel in the HTML body when the domain's LinkTracking/OpenTracking
// or the message's TrackLinks/TrackOpens is on (for mail sent over HTTP, the message's
// flags alone: the send path set them from the domain's options and the request's
// TrackLinks/TrackOpens), and, when the domain's UnsubscribeLink is on,
// the List-Unsubscribe headers (RFC 8058 one-click) and an unsubscribe link in the bodies. The
// tracked URLs are stored with the message (messages.links) on first use. A message that
// cannot be transformed is sent as it is (and logged): tracking never blocks delivery.
func (t *Tracker) Transform(ctx context.Context, d *storage.SenderDomain, m *storage.Message, r *storage.Recipient, raw []byte) ([]byte, error) {
	o := tracking.MessageOptions{
		Base: t.a.Cfg.PublicURL, LinkBase: t.a.TrackingBase(d), Signer: t.Signer, RecipientID: r.ID,
		Links: d.LinkTracking || m.TrackLinks, Opens: d.OpenTracking || m.TrackOpens, Unsubscribe: d.UnsubscribeLink,
		ListHeader: m.ListID > 0, Placeholders: m.Placeholders,
	}
	if m.Source == "api" || m.Source == "gatewayapi" {
		// The HTTP surfaces settled the flags at acceptance: the domain's options, unless
		// the request's TrackLinks/TrackOpens said otherwise (false included).
		o.Links, o.Opens = m.TrackLinks, m.TrackOpens
	}
	if !o.Links && !o.Opens && !o.Unsubscribe && !o.ListHeader && !o.Placeholders {
		return raw, nil
	}
	if (o.Unsubscribe || o.ListHeader) && t.Mailto {
		o.UnsubscribeMailto = UnsubscribeMailbox(t.Signer, r.ID, d)
	}
	out, urls, err := tracking.TransformMessage(raw, o)
	if err != nil {
		t.a.Log.WarnContext(ctx, "tracking: message sent without tracking", "message", m.UUID, "err", err)
		return raw, nil
	}
	if len(urls) > 0 && m.Links == "" {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(urls)
		links := strings.TrimSpace(b.String())
		if err := t.a.DB.SetMessageLinks(ctx, m.ID, links); err != nil {
			return nil, fmt.Errorf("tracking: store links: %w", err)
		}
		m.Links = links
	}
	return out, nil
}

// UnsubscribeMailbox is the mailto: address of List-Unsubscribe when the MX listener runs:
// unsubscribe+<token>@<return-path domain>. The MX intake passes the token to
// Tracker.UnsubscribeToken.
func UnsubscribeMailbox(s *tracking.Signer, recipientID int64, d *storage.SenderDomain) string {
	return "unsubscribe+" + s.Token(tracking.Claim{Kind: tracking.Unsubscribe, RecipientID: recipientID}) + "@" + d.ReturnPathDomain()
}

// ValidUnsubscribeToken reports whether token is a genuine unsubscribe token.
func (t *Tracker) ValidUnsubscribeToken(token string) bool {
	_, err := t.Signer.ParseKind(token, tracking.Unsubscribe)
	return err == nil
}

// UnsubscribeToken unsubscribes the recipient of an unsubscribe token (the mailto: form of
// List-Unsubscribe, received by the MX listener).
func (t *Tracker) UnsubscribeToken(ctx context.Context, token string) error {
	c, err := t.Signer.ParseKind(token, tracking.Unsubscribe)
	if err != nil {
		return err
	}
	return t.Unsubscribe(ctx, tracking.Hit{Claim: c, Method: "MAIL", At: time.Now()})
}

// sinceDelivery is how long ago the recipient was delivered; not yet delivered (a scanner
// fetching during the SMTP transaction) counts as just now.
func sinceDelivery(r *storage.TrackedRecipient, at time.Time) time.Duration {
	switch {
	case r.DeliveredAt > 0:
		return at.Sub(time.Unix(r.DeliveredAt, 0))
	case r.State == storage.StateDelivered:
		return at.Sub(time.Unix(r.UpdatedAt, 0))
	case r.State == storage.StateQueued || r.State == storage.StateSending || r.State == storage.StateDeferred ||
		r.State == storage.StateScheduled:
		return -1
	}
	return 24 * time.Hour
}

func (t *Tracker) recipient(ctx context.Context, id int64) (*storage.TrackedRecipient, error) {
	r, err := t.a.DB.TrackedRecipientByID(ctx, id)
	if isNotFound(err) {
		return nil, tracking.ErrUnknown
	}
	return r, err
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && s[len(s)-1]&0xC0 == 0x80 {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] >= 0xC0 {
		s = s[:len(s)-1]
	}
	return s
}

func (t *Tracker) event(r *storage.TrackedRecipient, h tracking.Hit, typ string) *storage.Event {
	return &storage.Event{DomainID: r.DomainID, UserID: r.UserID, MessageID: r.MessageID, RecipientID: r.ID, Type: typ,
		Email: r.Email, UserAgent: clipText(h.UserAgent, 512), IP: h.IP, CreatedAt: h.At.Unix(),
		Bot: typ != storage.EventUnsubscribed && tracking.IsBot(h.UserAgent, h.Method, sinceDelivery(r, h.At), t.Window)}
}

func (t *Tracker) record(ctx context.Context, ev *storage.Event, r *storage.TrackedRecipient) error {
	m := storage.Message{Tags: r.Tags}
	if err := t.a.DB.RecordEvent(ctx, ev, m.TagList()); err != nil {
		return err
	}
	if t.Notify != nil {
		t.Notify()
	}
	return nil
}

// Open records an opened event.
func (t *Tracker) Open(ctx context.Context, h tracking.Hit) error {
	r, err := t.recipient(ctx, h.Claim.RecipientID)
	if err != nil {
		return err
	}
	return t.record(ctx, t.event(r, h, storage.EventOpened), r)
}

// Click records a clicked event and returns the stored URL of the claim's link.
func (t *Tracker) Click(ctx context.Context, h tracking.Hit) (string, error) {
	r, err := t.recipient(ctx, h.Claim.RecipientID)
	if err != nil {
		return "", err
	}
	var links []string
	if r.Links != "" {
		if err := json.Unmarshal([]byte(r.Links), &links); err != nil {
			return "", fmt.Errorf("tracking: links of message %d: %w", r.MessageID, err)
		}
	}
	if h.Claim.Link < 0 || h.Claim.Link >= len(links) {
		return "", tracking.ErrUnknown
	}
	target := links[h.Claim.Link]
	ev := t.event(r, h, storage.EventClicked)
	ev.URL = target
	// The visitor gets the redirect even when recording fails.
	return target, t.record(ctx, ev, r)
}

// UnsubscribeInfo returns the address and domain the unsubscribe page shows.
func (t *Tracker) UnsubscribeInfo(ctx context.Context, c tracking.Claim) (string, string, error) {
	r, err := t.recipient(ctx, c.RecipientID)
	if err != nil {
		return "", "", err
	}
	return r.Email, r.DomainName, nil
}

// Unsubscribe puts the address on the domain's suppression list (reason unsubscribe) and
// records an unsubscribed event, once: a second unsubscription is a no-op.
func (t *Tracker) Unsubscribe(ctx context.Context, h tracking.Hit) error {
	r, err := t.recipient(ctx, h.Claim.RecipientID)
	if err != nil {
		return err
	}
	m := storage.Message{Tags: r.Tags}
	first, err := t.a.DB.RecordUnsubscribe(ctx, t.event(r, h, storage.EventUnsubscribed), m.TagList())
	if err == nil && first && t.Notify != nil {
		t.Notify()
	}
	return err
}

// WebView is the message as sent to the claim's recipient (%Link:WebBrowser%): the HTML body
// of the stored message, which the personalization renderer filled for that recipient at
// acceptance, with the recipient's own unsubscribe and web view links; a message without an
// HTML body shows its plain text. Links are not click-tracked and no event is recorded.
func (t *Tracker) WebView(ctx context.Context, c tracking.Claim) (string, error) {
	r, err := t.recipient(ctx, c.RecipientID)
	if err != nil {
		return "", err
	}
	m, err := t.a.DB.MessageByID(ctx, r.MessageID)
	if isNotFound(err) {
		return "", tracking.ErrUnknown
	} else if err != nil {
		return "", err
	}
	linkBase := t.a.Cfg.PublicURL
	if d, err := t.a.DB.DomainByID(ctx, m.DomainID, 0); err == nil {
		linkBase = t.a.TrackingBase(d)
	}
	htmlBody, text := tracking.Bodies(m.Raw)
	fill := func(s string) string {
		if m.Placeholders {
			s, _ = tracking.FillPlaceholders(s, t.a.Cfg.PublicURL, linkBase, t.Signer, r.ID)
		}
		return s
	}
	if strings.TrimSpace(htmlBody) != "" {
		return fill(htmlBody), nil
	}
	return "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>" + html.EscapeString(m.Subject) +
		"</title></head><body><pre style=\"white-space:pre-wrap;font-family:inherit\">" + html.EscapeString(fill(text)) +
		"</pre></body></html>\n", nil
}
