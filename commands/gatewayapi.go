package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gatewayd/commands/compose"
	"gatewayd/dispatcher"
	"gatewayd/internal/netpolicy"
	"gatewayd/storage"
)

// GatewayAPI error codes (the "code" of its error body, rendered as "0x%04X" by the
// /rest/email surface; the HTTP status comes from the error's kind).
const (
	GatewayAPIMissingToken = 0x0100 // 401
	GatewayAPIBadToken     = 0x0101 // 401
	GatewayAPIBadArgument  = 0x0222 // 400
	GatewayAPISuppressed   = 0x0223 // 400
	GatewayAPINotEnabled   = 0x0300 // 403: account or sender domain may not send
	GatewayAPINoCredit     = 0x0301 // 403: monthly sending limit reached
	GatewayAPIKeyReused    = 0x0409 // 409: Idempotency-Key reused for another request
)

func (a *App) registerGatewayAPI(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{
		Name: "gatewayapi.email", Auth: dispatcher.AuthSender, RateLimited: true, RateGroup: "gatewayapi",
		LargeBody:   true,
		AuthMissing: gatewayAPIError(dispatcher.KindAuth, GatewayAPIMissingToken, "No API token was given"),
		AuthInvalid: gatewayAPIError(dispatcher.KindAuth, GatewayAPIBadToken, "Invalid API token"),
		Handler:     a.gatewayAPIEmail,
	})
}

// gatewayAPIError is an error in GatewayAPI's shape: message with %1, %2 ... placeholders and
// the values in variables.
func gatewayAPIError(kind dispatcher.Kind, code int, msg string, vars ...string) *dispatcher.Error {
	e := dispatcher.Fail(kind, code, msg)
	if vars == nil {
		vars = []string{}
	}
	e.Extra = map[string]any{"variables": vars}
	return e
}

func badArgument(msg string, vars ...string) *dispatcher.Error {
	return gatewayAPIError(dispatcher.KindInvalid, GatewayAPIBadArgument, msg, vars...)
}

// gatewayAPIAnswer is the answer to POST /rest/email: one id for the request.
type gatewayAPIAnswer struct {
	IDs   []int64         `json:"ids"`
	Usage gatewayAPIUsage `json:"usage"`
}

// gatewayAPIUsage is what a request cost: every address (to, cc and bcc) at cfg.PricePerEmail.
type gatewayAPIUsage struct {
	Amount    int     `json:"amount"`
	Currency  string  `json:"currency"`
	TotalCost float64 `json:"total_cost"`
}

// gatewayAPIRecipient is one entry of recipients.
type gatewayAPIRecipient struct {
	to        compose.Address
	cc, bcc   []compose.Address
	tagValues []string
}

// gatewayAPIRequest is a validated POST /rest/email.
type gatewayAPIRequest struct {
	subject, html, text string
	from                compose.Address
	reply               []compose.Address
	callbackURL         string
	userRef             string
	tags                []string
	recipients          []gatewayAPIRecipient
	attachments         []compose.Attachment
}

func (a *App) gatewayAPIEmail(ctx context.Context, req *dispatcher.Request) (any, error) {
	errs := idemErrors{
		badKey: func(msg string) error { return badArgument(msg) },
		conflict: func(msg string) error {
			e := gatewayAPIError(dispatcher.KindConflict, GatewayAPIKeyReused, msg)
			e.Status = http.StatusConflict
			return e
		},
	}
	return a.idempotent(ctx, req, errs, func(ic *idemCall) (json.RawMessage, error) {
		return a.gatewayAPISend(ctx, req, ic)
	})
}

func (a *App) gatewayAPISend(ctx context.Context, req *dispatcher.Request, ic *idemCall) (json.RawMessage, error) {
	u, d, err := a.sender(ctx, req.Principal)
	if isNotFound(err) {
		return nil, gatewayAPIError(dispatcher.KindAuth, GatewayAPIBadToken, "Invalid API token")
	}
	if err != nil {
		return nil, err
	}
	if err := CheckSender(u, d); err != nil {
		return nil, gatewayAPIStateError(err, d)
	}
	gr, err := a.parseGatewayAPI(ctx, req.Params, d)
	if err != nil {
		return nil, err
	}
	var all []string
	counts := make([]int, len(gr.recipients))
	for i, rc := range gr.recipients {
		for _, r := range envelope([]compose.Address{rc.to}, rc.cc, rc.bcc) {
			all = append(all, r.Email)
			counts[i]++
		}
	}
	// Refuse up front what would refuse a later recipient, so a request is accepted whole.
	if err := a.CheckSuppressed(ctx, d, 0, all); err != nil {
		return nil, gatewayAPIStateError(err, d)
	}
	monthly, _, err := a.EffectiveLimits(ctx, u)
	if err != nil {
		return nil, err
	}
	if monthly > 0 {
		var need int64
		for i, n := range counts {
			if ic != nil {
				// A retry of a keyed request: its messages already committed are counted.
				if _, err := a.DB.MessageByUUID(ctx, ic.messageUUID(i), u.ID); err == nil {
					continue
				}
			}
			need += int64(n)
		}
		used, err := a.DB.MonthlyUsage(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		if used+need > monthly {
			return nil, gatewayAPIStateError(ErrMonthlyLimit, d)
		}
	}
	// One id per request, as the document's two-recipient example answers: the first
	// message's; every later message of the request carries it as its RequestID, and every
	// callback of every recipient reports it.
	var requestID int64
	for i := range gr.recipients {
		m, err := a.acceptGatewayAPIOne(ctx, ic, i, req.Principal, u, d, gr, requestID)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			requestID = m.ID
		}
	}
	amount := len(all)
	cost := math.Round(float64(amount)*a.Cfg.PricePerEmail*1e6) / 1e6
	return json.Marshal(gatewayAPIAnswer{IDs: []int64{requestID}, Usage: gatewayAPIUsage{Amount: amount, Currency: a.Cfg.Currency, TotalCost: cost}})
}

// acceptGatewayAPIOne builds and accepts the message of recipient i: its own substituted
// subject and bodies, its cc in the headers, its bcc in the envelope only. requestID is the
// request's id (0 for its first message, whose own id it becomes).
func (a *App) acceptGatewayAPIOne(ctx context.Context, ic *idemCall, i int, p *dispatcher.Principal, u *storage.User,
	d *storage.SenderDomain, gr *gatewayAPIRequest, requestID int64) (*storage.Message, error) {
	rc := gr.recipients[i]
	sub := substitution(gr.tags, rc.tagValues)
	id := ic.newMessageUUID(i)
	cm := &compose.Message{
		From: gr.from, To: []compose.Address{rc.to}, CC: rc.cc, ReplyTo: gr.reply,
		Subject: sub(gr.subject), HTML: sub(gr.html), Text: sub(gr.text),
		Attachments: gr.attachments, MessageID: id + "@" + d.Name, Date: time.Now(),
	}
	raw, err := compose.Build(cm)
	if err != nil {
		var ce *compose.Error
		if errors.As(err, &ce) {
			return nil, badArgument("The message to %1 cannot be built: %2", rc.to.Email, ce.Reason)
		}
		return nil, err
	}
	s := &Submission{
		User: u, Domain: d, Source: "gatewayapi", APIKeyID: p.KeyID, MailFrom: gr.from.Email,
		Subject: cm.Subject, Raw: raw, HeaderMessageID: "<" + cm.MessageID + ">",
		Recipients: envelope(cm.To, cm.CC, rc.bcc), TrackLinks: d.LinkTracking, TrackOpens: d.OpenTracking,
		CallbackURL: gr.callbackURL, UserRef: gr.userRef, UUID: id, RequestID: requestID,
	}
	m, err := a.acceptOnce(ctx, ic, s)
	if err != nil {
		return nil, gatewayAPIStateError(err, d)
	}
	return m, nil
}

// substitution replaces each tag by the recipient's value, longest tag first where tags
// overlap ("%name" and "%names").
func substitution(tags, values []string) func(string) string {
	if len(tags) == 0 {
		return func(s string) string { return s }
	}
	idx := make([]int, len(tags))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(x, y int) bool { return len(tags[idx[x]]) > len(tags[idx[y]]) })
	pairs := make([]string, 0, 2*len(tags))
	for _, i := range idx {
		pairs = append(pairs, tags[i], values[i])
	}
	r := strings.NewReplacer(pairs...)
	return r.Replace
}

// gatewayAPIStateError maps why a send is refused to GatewayAPI's errors.
func gatewayAPIStateError(err error, d *storage.SenderDomain) error {
	var sup *SuppressedError
	switch {
	case errors.Is(err, ErrAccountDisabled):
		return gatewayAPIError(dispatcher.KindForbidden, GatewayAPINotEnabled, "The account is disabled")
	case errors.Is(err, ErrAccountUntrusted):
		return gatewayAPIError(dispatcher.KindForbidden, GatewayAPINotEnabled, "The account is not trusted to send")
	case errors.Is(err, ErrAccountUnverified):
		return gatewayAPIError(dispatcher.KindForbidden, GatewayAPINotEnabled, "The account is not verified")
	case errors.Is(err, ErrDomainNotEnabled):
		return gatewayAPIError(dispatcher.KindForbidden, GatewayAPINotEnabled, "The sender domain %1 is not enabled", d.Name)
	case errors.Is(err, ErrMonthlyLimit):
		return gatewayAPIError(dispatcher.KindForbidden, GatewayAPINoCredit, "The monthly sending limit is reached")
	case errors.Is(err, ErrNoRecipients):
		return badArgument("No recipients")
	case errors.As(err, &sup):
		return gatewayAPIError(dispatcher.KindInvalid, GatewayAPISuppressed, "The address %1 is on the suppression list", sup.Email)
	}
	return err
}

// gatewayAPIAddress reads a {address, name} object.
func gatewayAPIAddress(v any, what string) (compose.Address, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return compose.Address{}, badArgument("Each entry of %1 must be an object with an address", what)
	}
	es := parseAddresses([]any{obj}, "address")
	switch es[0].problem {
	case addrOK:
		return es[0].Address, nil
	case addrMissing, addrMalformed:
		return compose.Address{}, badArgument("An entry of %1 has no address", what)
	}
	return compose.Address{}, badArgument("Invalid %1 address or name: %2", what, es[0].Email)
}

// gatewayAPIAddresses reads a list of {address, name} objects, at most max.
func gatewayAPIAddresses(v any, what string, max int) ([]compose.Address, error) {
	items, ok := listOf(v)
	if !ok {
		return nil, badArgument("%1 must be a list of recipients", what)
	}
	if len(items) > max {
		return nil, badArgument("%1 has more than %2 addresses", what, strconv.Itoa(max))
	}
	out := make([]compose.Address, 0, len(items))
	for _, it := range items {
		a, err := gatewayAPIAddress(it, what)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// stringList reads a list of scalars as text.
func stringList(v any) ([]string, bool) {
	items, ok := listOf(v)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := dispatcher.AsString(it)
		if !ok && it != nil {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// parseGatewayAPI validates a /rest/email request; the first problem is the answer.
func (a *App) parseGatewayAPI(ctx context.Context, p dispatcher.Params, d *storage.SenderDomain) (*gatewayAPIRequest, error) {
	gr := &gatewayAPIRequest{
		subject: p.String("subject"), html: p.String("html"), text: p.String("plaintext"),
		callbackURL: strings.TrimSpace(p.String("callback_url")), userRef: p.String("userref"),
	}
	if strings.TrimSpace(gr.subject) == "" {
		return nil, badArgument("subject is required")
	}
	if strings.TrimSpace(gr.html) == "" && strings.TrimSpace(gr.text) == "" {
		return nil, badArgument("html or plaintext is required")
	}
	if !utf8.ValidString(gr.html) || !utf8.ValidString(gr.text) {
		return nil, badArgument("html and plaintext must be valid UTF-8")
	}
	if strings.TrimSpace(gr.html) == "" {
		gr.html = ""
	}
	if strings.TrimSpace(gr.text) == "" {
		gr.text = ""
	}
	from := strings.TrimSpace(p.String("from"))
	if from == "" {
		return nil, badArgument("from is required")
	}
	addr, err := compose.ParseAddress(from)
	if err != nil {
		return nil, badArgument("Invalid from address: %1", from)
	}
	if !onSenderDomain(addr.Email, d) {
		return nil, badArgument("The from address %1 is not on the sender domain %2", addr.Email, d.Name)
	}
	gr.from = addr
	if reply := strings.TrimSpace(p.String("reply")); reply != "" {
		ra, err := compose.ParseAddress(reply)
		if err != nil {
			return nil, badArgument("Invalid reply address: %1", reply)
		}
		gr.reply = []compose.Address{ra}
	}
	if gr.callbackURL != "" {
		pol := netpolicy.Policy{AllowPrivate: a.Cfg.WebhookAllowPrivate, LookupHost: a.Resolver.LookupHost}
		if err := pol.ValidateURL(ctx, gr.callbackURL); err != nil {
			reason := "invalid URL"
			var ue *netpolicy.Error
			if errors.As(err, &ue) {
				reason = ue.Reason
			}
			return nil, badArgument("Invalid callback_url: %1", reason)
		}
	}
	if utf8.RuneCountInString(gr.userRef) > maxUserRefLen || len(gr.userRef) > maxUserRefLen || !utf8.ValidString(gr.userRef) {
		return nil, badArgument("userref may be at most %1 characters", strconv.Itoa(maxUserRefLen))
	}

	tags, ok := stringList(p.Value("tags"))
	if !ok || len(tags) > gatewayAPIMaxTag {
		return nil, badArgument("tags must be a list of at most %1 strings", strconv.Itoa(gatewayAPIMaxTag))
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if t == "" || seen[t] {
			return nil, badArgument("tags must be distinct, non-empty strings")
		}
		seen[t] = true
	}
	gr.tags = tags

	items, ok := listOf(p.Value("recipients"))
	switch {
	case !ok:
		return nil, badArgument("recipients must be a list")
	case len(items) == 0:
		return nil, badArgument("recipients is required")
	case len(items) > a.Cfg.MaxRecipients:
		return nil, badArgument("At most %1 recipients are allowed in one request", strconv.Itoa(a.Cfg.MaxRecipients))
	}
	for i, it := range items {
		obj, ok := it.(map[string]any)
		if !ok {
			return nil, badArgument("recipients[%1] must be an object", strconv.Itoa(i))
		}
		to, err := gatewayAPIAddress(obj, "recipients")
		if err != nil {
			return nil, err
		}
		rc := gatewayAPIRecipient{to: to}
		tv, _ := dispatcher.Lookup(obj, "tagvalues")
		if rc.tagValues, ok = stringList(tv); !ok {
			return nil, badArgument("tagvalues of %1 must be a list of strings", to.Email)
		}
		if len(rc.tagValues) != len(tags) {
			return nil, badArgument("%1 has %2 tag values but there are %3 tags", to.Email,
				strconv.Itoa(len(rc.tagValues)), strconv.Itoa(len(tags)))
		}
		ccv, _ := dispatcher.Lookup(obj, "cc")
		if rc.cc, err = gatewayAPIAddresses(ccv, "cc", a.Cfg.MaxCC); err != nil {
			return nil, err
		}
		bccv, _ := dispatcher.Lookup(obj, "bcc")
		if rc.bcc, err = gatewayAPIAddresses(bccv, "bcc", a.Cfg.MaxBCC); err != nil {
			return nil, err
		}
		sub := substitution(tags, rc.tagValues)
		if err := subjectError(sub(gr.subject)); err != nil {
			return nil, badArgument("The subject for %1 is invalid (line breaks, NUL or invalid UTF-8)", to.Email)
		}
		if s := sub(gr.html + gr.text); !utf8.ValidString(s) {
			return nil, badArgument("The content for %1 is not valid UTF-8", to.Email)
		}
		gr.recipients = append(gr.recipients, rc)
	}

	atts, ok := listOf(p.Value("attachments"))
	if !ok {
		return nil, badArgument("attachments must be a list")
	}
	if len(atts) > maxAttachments {
		return nil, badArgument("At most %1 attachments are allowed", strconv.Itoa(maxAttachments))
	}
	var total int64
	for i, it := range atts {
		obj, ok := it.(map[string]any)
		if !ok {
			return nil, badArgument("attachments[%1] must be an object", strconv.Itoa(i))
		}
		name, _ := field(obj, "filename")
		data, _ := field(obj, "data")
		mt, _ := field(obj, "mimetype")
		name, mt = strings.TrimSpace(name), strings.TrimSpace(mt)
		if name == "" || !cleanText(name) {
			return nil, badArgument("attachments[%1] needs a filename", strconv.Itoa(i))
		}
		if mt != "" && !validMediaType(mt) {
			return nil, badArgument("Invalid mimetype of %1: %2", name, mt)
		}
		b, ok := decodeBase64(data)
		if !ok || strings.TrimSpace(data) == "" {
			return nil, badArgument("The data of %1 is not valid base64", name)
		}
		total += int64(len(b))
		if total > a.Cfg.MaxAttachmentBytes {
			return nil, badArgument("Attachments exceed %1 bytes in all", strconv.FormatInt(a.Cfg.MaxAttachmentBytes, 10))
		}
		gr.attachments = append(gr.attachments, compose.Attachment{Filename: name, ContentType: mt, Content: b})
	}
	// The attachments are checked once here (file names, types) rather than per message.
	if len(gr.attachments) > 0 {
		if _, err := compose.Build(&compose.Message{From: gr.from, MessageID: "check@" + d.Name, Text: "x",
			Attachments: gr.attachments}); err != nil {
			var ce *compose.Error
			if errors.As(err, &ce) {
				return nil, badArgument("Invalid attachment: %1", ce.Reason)
			}
			return nil, fmt.Errorf("check attachments: %w", err)
		}
	}
	return gr, nil
}
