package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"gatewayd/commands/compose"
	"gatewayd/commands/personalize"
	"gatewayd/dispatcher"
	"gatewayd/storage"
	"gatewayd/tracking"
)

// The codes of emailgateway.sendemail (POST /api/v1/email). 1-38 and 429 are the document's;
// 40-48 and 409 are gatewayd's for what the document leaves open (docs/send.md).
const (
	sendMissingKey      = 1
	sendBadDomain       = 2
	sendFrom            = 3
	sendSubjectOrTo     = 8
	sendContentType     = 9
	sendHTML            = 10
	sendPlain           = 11
	sendAccount         = 12
	sendBadKey          = 13
	sendSuppressed      = 14
	sendTemplate        = 15
	sendTargetList      = 16
	sendLimit           = 17
	sendRcptMissing     = 18
	sendRcptInvalid     = 19
	sendRcptCount       = 20
	sendCCInvalid       = 21
	sendCCCount         = 22
	sendFromFormat      = 23
	sendBCCMalformed    = 24
	sendBCCMissing      = 25
	sendBCCInvalid      = 26
	sendBCCCount        = 27
	sendReplyMalformed  = 28
	sendReplyMissing    = 29
	sendReplyInvalid    = 30
	sendReplyCount      = 31
	sendDomainDisabled  = 32
	sendUnverified      = 34
	sendListID          = 35
	sendSubscriberID    = 36
	sendJourneyID       = 37
	sendActionID        = 38
	sendListResolve     = 39
	sendSubject         = 48
	sendHeaders         = 40
	sendAttachment      = 41
	sendAttachmentSize  = 42
	sendSendAt          = 43
	sendTracking        = 44
	sendTags            = 45
	sendContent         = 46
	sendIdempotencyKey  = 47
	sendIdempotencyUsed = 409
)

func (a *App) registerSend(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{
		Name: "emailgateway.sendemail", Auth: dispatcher.AuthSender, RateLimited: true, RateGroup: "send",
		LargeBody:        true,
		RateLimitMessage: "Email send rate limit exceeded",
		AuthMissing:      dispatcher.Fail(dispatcher.KindAuth, sendMissingKey, "Missing SenderAPIKey"),
		AuthInvalid:      dispatcher.Fail(dispatcher.KindAuth, sendBadKey, "Invalid SenderAPIKey"),
		Handler:          a.sendEmail,
	})
	a.registerGatewayAPI(r)
}

// sender loads the sender key's domain and user; either gone is Code 2 on the send routes.
// What it read serves the key's next sends for senderReuse, as senderKey's key does.
func (a *App) sender(ctx context.Context, p *dispatcher.Principal) (*storage.User, *storage.SenderDomain, error) {
	gen, key := a.DB.SenderChanges(), [2]int64{p.DomainID, p.UserID}
	if s, ok := a.senders.get(key, gen); ok {
		u, d := *s.user, *s.domain // each send gets its own copies
		return &u, &d, nil
	}
	d, err := a.DB.DomainByID(ctx, p.DomainID, p.UserID)
	if err != nil {
		return nil, nil, err
	}
	u, err := a.DB.UserByID(ctx, p.UserID)
	if err != nil {
		return nil, nil, err
	}
	cu, cd := *u, *d
	a.senders.put(key, gen, sendingAs{&cu, &cd}, senderReuse)
	return u, d, nil
}

// sendingAs is a sender key's owner and domain, as sender read them.
type sendingAs struct {
	user   *storage.User
	domain *storage.SenderDomain
}

// sendStateError maps why an account or domain may not send to the send codes.
func sendStateError(err error) error {
	var sup *SuppressedError
	switch {
	case errors.Is(err, ErrAccountDisabled):
		return dispatcher.Fail(dispatcher.KindForbidden, sendAccount, "Invalid or deactivated user account")
	case errors.Is(err, ErrAccountUntrusted):
		return dispatcher.Fail(dispatcher.KindForbidden, sendAccount, "Invalid or deactivated user account (not trusted)")
	case errors.Is(err, ErrAccountUnverified):
		return dispatcher.Fail(dispatcher.KindForbidden, sendUnverified, "User account is not verified")
	case errors.Is(err, ErrDomainNotEnabled):
		return dispatcher.Fail(dispatcher.KindForbidden, sendDomainDisabled, "Domain is not activated")
	case errors.Is(err, ErrMonthlyLimit):
		return dispatcher.Fail(dispatcher.KindForbidden, sendLimit, "Email sending limit reached")
	case errors.Is(err, ErrNoRecipients):
		return dispatcher.Invalid(dispatcher.Field("To", sendRcptCount, "There is no recipient set"))
	case errors.As(err, &sup):
		return dispatcher.Fail(dispatcher.KindInvalid, sendSuppressed, "Email address is in the suppression list: "+sup.Email)
	}
	return err
}

// sendRequest is a validated emailgateway.sendemail request.
type sendRequest struct {
	msg        compose.Message
	bcc        []compose.Address
	tags       []string
	trackLinks bool
	trackOpens bool
	sendAt     int64
	// Audience references (0: not given).
	templateID, targetListID, listID, subscriberID, journeyID, actionID int64
}

func (a *App) sendEmail(ctx context.Context, req *dispatcher.Request) (any, error) {
	errs := idemErrors{
		badKey: func(msg string) error {
			return dispatcher.Invalid(dispatcher.Field("IdempotencyKey", sendIdempotencyKey, msg))
		},
		conflict: func(msg string) error {
			e := dispatcher.Fail(dispatcher.KindConflict, sendIdempotencyUsed, msg)
			e.Status = http.StatusConflict
			return e
		},
	}
	// The key comes first: a repeat gets the first answer even if the account, the domain or
	// the suppression list has changed since.
	return a.idempotent(ctx, req, errs, func(ic *idemCall) (json.RawMessage, error) {
		return a.sendOne(ctx, req, ic)
	})
}

func (a *App) sendOne(ctx context.Context, req *dispatcher.Request, ic *idemCall) (json.RawMessage, error) {
	u, d, err := a.sender(ctx, req.Principal)
	if isNotFound(err) {
		return nil, dispatcher.Fail(dispatcher.KindForbidden, sendBadDomain, "Invalid DomainID or invalid user account")
	}
	if err != nil {
		return nil, err
	}
	if id, ok := req.Params.IntOK("DomainID"); req.Params.Has("DomainID") && (!ok || id != d.ID) {
		// The key names its domain; a DomainID that is not that one is refused.
		return nil, dispatcher.Fail(dispatcher.KindForbidden, sendBadDomain, "Invalid DomainID or invalid user account")
	}
	if err := CheckSender(u, d); err != nil {
		return nil, sendStateError(err)
	}
	sr, issues := a.parseSend(req.Params, d)
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	au, err := a.sendAudience(ctx, u, sr)
	if err != nil {
		return nil, err
	}
	if sr.targetListID > 0 {
		return a.sendToList(ctx, req, ic, u, d, sr, au)
	}
	v := au.values(a, nil)
	if sr.subscriberID > 0 {
		a.subscriberValues(v, au.sub, au.fields)
	} else if len(sr.msg.To) == 1 {
		v.Set(personalize.Subscriber, "EmailAddress", sr.msg.To[0].Email)
	}
	m, err := a.acceptPersonal(ctx, req, ic, 0, u, d, sr, au, sr.msg.To, sr.bcc, v, sr.subscriberID)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]string{"MessageID": m.UUID})
}

// audience is what a send's references resolved to: the template's compiled texts, the
// list and subscriber context.
type audience struct {
	subject, html, text *personalize.Template
	listID              int64
	sub                 *storage.Subscriber
	fields              []storage.CustomField
}

// values starts the personalization values of one message: the sender's user tags and the
// unsubscribe and web view link placeholders (filled per recipient at delivery).
func (au *audience) values(a *App, u *storage.User) *personalize.Values {
	v := personalize.NewValues()
	if u != nil {
		userValues(v, u)
	}
	v.Set(personalize.Link, "Unsubscribe", tracking.UnsubscribePlaceholder(a.Cfg.PublicURL))
	v.Set(personalize.Link, "WebBrowser", tracking.WebViewPlaceholder(a.Cfg.PublicURL))
	return v
}

// sendAudience resolves TemplateID (15), TargetListID (16), ListID (35) and SubscriberID
// (36) against the sender's own objects; another user's id is "not found" like a missing one.
func (a *App) sendAudience(ctx context.Context, u *storage.User, sr *sendRequest) (*audience, error) {
	au := &audience{}
	m := &sr.msg
	if sr.templateID > 0 {
		t, err := a.DB.TemplateByID(ctx, u.ID, sr.templateID)
		if isNotFound(err) {
			return nil, dispatcher.Invalid(dispatcher.Field("TemplateID", sendTemplate, "Invalid TemplateID"))
		} else if err != nil {
			return nil, err
		}
		// The request's own fields override the template's.
		if strings.TrimSpace(m.Subject) == "" {
			m.Subject = t.Subject
		}
		if m.HTML == "" && m.Text == "" {
			if t.ContentType != "Plain" && strings.TrimSpace(t.HTMLContent) != "" {
				m.HTML = t.HTMLContent
			}
			if t.ContentType != "HTML" && strings.TrimSpace(t.PlainContent) != "" || m.HTML == "" {
				m.Text = t.PlainContent
			}
		}
		if strings.TrimSpace(m.HTML) == "" && strings.TrimSpace(m.Text) == "" {
			return nil, dispatcher.Invalid(dispatcher.Field("TemplateID", sendTemplate, "Invalid TemplateID: the template has no content"))
		}
	}
	au.subject, au.html, au.text = personalize.Compile(m.Subject), personalize.Compile(m.HTML), personalize.Compile(m.Text)
	if sr.targetListID > 0 {
		if _, err := a.DB.ListByID(ctx, u.ID, sr.targetListID); isNotFound(err) {
			return nil, dispatcher.Invalid(dispatcher.Field("TargetListID", sendTargetList, "Invalid TargetListID"))
		} else if err != nil {
			return nil, err
		}
		au.listID = sr.targetListID
	} else if sr.listID > 0 {
		if _, err := a.DB.ListByID(ctx, u.ID, sr.listID); isNotFound(err) {
			return nil, dispatcher.Invalid(dispatcher.Field("ListID", sendListID, "Invalid ListID"))
		} else if err != nil {
			return nil, err
		}
		au.listID = sr.listID
		if sr.subscriberID > 0 {
			s, fields, err := a.contextSubscriber(ctx, u.ID, sr.listID, sr.subscriberID)
			if isNotFound(err) {
				return nil, dispatcher.Invalid(dispatcher.Field("SubscriberID", sendSubscriberID, "Invalid SubscriberID"))
			} else if err != nil {
				return nil, err
			}
			au.sub, au.fields = s, fields
		}
	}
	if au.listID > 0 && au.fields == nil {
		fields, err := a.DB.FieldsForList(ctx, u.ID, au.listID, true, "id", false)
		if err != nil {
			return nil, err
		}
		au.fields = fields
	}
	if strings.TrimSpace(m.Subject) == "" {
		return nil, dispatcher.Invalid(dispatcher.Field("Subject", sendSubjectOrTo, "Missing Subject"))
	}
	return au, nil
}

// acceptPersonal renders the message for v and accepts it (the i-th message of the request).
func (a *App) acceptPersonal(ctx context.Context, req *dispatcher.Request, ic *idemCall, i int, u *storage.User,
	d *storage.SenderDomain, sr *sendRequest, au *audience, to, bcc []compose.Address, v *personalize.Values, subID int64) (*storage.Message, error) {
	id := ic.newMessageUUID(i)
	cm := sr.msg
	cm.To = to
	cm.Subject = au.subject.Render(v, personalize.Header)
	cm.HTML = au.html.Render(v, personalize.HTML)
	cm.Text = au.text.Render(v, personalize.Text)
	cm.MessageID = id + "@" + d.Name
	cm.Date = time.Now()
	raw, err := compose.Build(&cm)
	if err != nil {
		return nil, composeIssue(err)
	}
	hasPlaceholder := func(s string) bool {
		return strings.Contains(s, tracking.UnsubscribePlaceholder(a.Cfg.PublicURL)) ||
			strings.Contains(s, tracking.WebViewPlaceholder(a.Cfg.PublicURL))
	}
	s := &Submission{
		User: u, Domain: d, Source: "api", APIKeyID: req.Principal.KeyID,
		MailFrom: cm.From.Email, Subject: cm.Subject, Tags: sr.tags, Raw: raw,
		HeaderMessageID: "<" + cm.MessageID + ">",
		Recipients:      envelope(cm.To, cm.CC, bcc),
		TrackLinks:      sr.trackLinks, TrackOpens: sr.trackOpens, SendAt: sr.sendAt, UUID: id,
		ListID: au.listID, SubscriberID: subID, JourneyID: sr.journeyID, ActionID: sr.actionID,
		Placeholders: hasPlaceholder(cm.HTML) || hasPlaceholder(cm.Text),
	}
	m, err := a.acceptOnce(ctx, ic, s)
	if err != nil {
		return nil, sendStateError(err)
	}
	return m, nil
}

// sendToList sends one message to each subscribed, non-suppressed subscriber of
// TargetListID, in subscriber id order: the first listSendCap unless
// GATEWAY_SENDEMAIL_FULL_LIST is on, then every one, a page at a time. To, CC and BCC of
// the request are not used. Code 39 (HTTP 502) when the recipients cannot be read; 20 when
// there is none.
func (a *App) sendToList(ctx context.Context, req *dispatcher.Request, ic *idemCall, u *storage.User,
	d *storage.SenderDomain, sr *sendRequest, au *audience) (json.RawMessage, error) {
	unresolved := func() error {
		e := dispatcher.Fail(dispatcher.KindUnprocessable, sendListResolve, "Failed to resolve list recipients")
		e.Status, e.StatusOnAPIPHP = http.StatusBadGateway, true
		return e
	}
	limit := listSendCap
	var ids []string
	var after int64
	for {
		page, err := a.DB.SubscribedPage(ctx, au.listID, after, listSendPage)
		if err != nil {
			a.Log.ErrorContext(ctx, "list send: resolve recipients", "list", au.listID, "err", err)
			return nil, unresolved()
		}
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1].ID
		emails := make([]string, len(page))
		for i := range page {
			emails[i] = page[i].Email
		}
		sup, err := a.DB.SuppressionMatches(ctx, storage.SuppressionScope{UserID: d.UserID, DomainID: d.ID, ListID: au.listID}, emails)
		if err != nil {
			return nil, unresolved()
		}
		var take []*storage.Subscriber
		for i := range page {
			s := &page[i]
			if _, suppressed := sup[strings.ToLower(strings.TrimSpace(s.Email))]; suppressed {
				continue
			}
			if !a.Cfg.SendEmailFullList && len(ids)+len(take) >= limit {
				break
			}
			take = append(take, s)
		}
		// The page's messages are accepted by a few goroutines at once, so that their commits
		// share transactions (group commit) as concurrent single sends do; each keeps its
		// place (and its idempotent UUID) in the answer.
		base := len(ids)
		ids = append(ids, make([]string, len(take))...)
		var next atomic.Int64
		var failed atomic.Pointer[error]
		var wg sync.WaitGroup
		for w := 0; w < min(listSendWorkers, len(take)); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := int(next.Add(1)) - 1; k < len(take) && failed.Load() == nil; k = int(next.Add(1)) - 1 {
					s := take[k]
					v := au.values(a, u)
					a.subscriberValues(v, s, au.fields)
					m, err := a.acceptPersonal(ctx, req, ic, base+k, u, d, sr, au, []compose.Address{{Email: s.Email}}, nil, v, s.ID)
					if err != nil {
						failed.CompareAndSwap(nil, &err)
						return
					}
					ids[base+k] = m.UUID
				}
			}()
		}
		wg.Wait()
		if err := failed.Load(); err != nil {
			return nil, *err
		}
		if !a.Cfg.SendEmailFullList && len(ids) >= limit {
			break
		}
	}
	if len(ids) == 0 {
		return nil, dispatcher.Invalid(dispatcher.Field("TargetListID", sendRcptCount, "There is no recipient set: the list has no subscribed recipients"))
	}
	return json.Marshal(map[string][]string{"MessageID": ids})
}

// listSendCap is how many subscribers a list send reaches without GATEWAY_SENDEMAIL_FULL_LIST,
// as Octeth does; listSendPage is how many are read at a time, and listSendWorkers how many
// of a page's messages are accepted at once.
const (
	listSendCap     = 250
	listSendPage    = 500
	listSendWorkers = 8
)

// composeIssue maps what compose refused (after parseSend's own checks) to a send code.
func composeIssue(err error) error {
	var ce *compose.Error
	if !errors.As(err, &ce) {
		return err
	}
	code := map[string]int{
		"From": sendFromFormat, "To": sendRcptInvalid, "CC": sendCCInvalid, "ReplyTo": sendReplyInvalid,
		"Subject": sendSubject, "Headers": sendHeaders, "Attachments": sendAttachment, "HTML": sendContent,
		"Text": sendContent,
	}[ce.Field]
	if code == 0 {
		return fmt.Errorf("compose: %w", err)
	}
	return dispatcher.Invalid(dispatcher.Field(ce.Field, code, ce.Reason))
}

// parseSend validates every parameter of a send and reports every problem at once.
func (a *App) parseSend(p dispatcher.Params, d *storage.SenderDomain) (*sendRequest, []dispatcher.Issue) {
	var issues []dispatcher.Issue
	// One issue per code; a code's further problems add their message (up to three).
	fail := func(name string, code int, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		for i, is := range issues {
			if is.Code != code {
				continue
			}
			switch n := strings.Count(is.Message, "; ") + 1; {
			case strings.Contains(is.Message, msg) || strings.HasSuffix(is.Message, "; ..."):
			case n >= 3:
				issues[i].Message += "; ..."
			default:
				issues[i].Message += "; " + msg
			}
			return
		}
		issues = append(issues, dispatcher.Field(name, code, msg))
	}
	sr := &sendRequest{}
	m := &sr.msg

	// From: an object {name, email} (a "Name <addr>" string is read too) on the key's domain.
	switch v := p.Value("From").(type) {
	case nil:
		fail("From", sendFrom, "From parameter is missing")
	case string:
		addr, err := compose.ParseAddress(v)
		switch {
		case strings.TrimSpace(v) == "":
			fail("From", sendFrom, "From parameter is missing")
		case err != nil:
			fail("From", sendFromFormat, "Invalid from email address format")
		default:
			m.From = addr
		}
	case map[string]any:
		es := parseAddresses([]any{v}, "email")
		m.From = es[0].Address
		switch {
		case es[0].problem == addrMissing || es[0].problem == addrMalformed:
			fail("From", sendFrom, "From parameter is missing the email address")
		case !compose.ValidAddress(m.From.Email):
			fail("From", sendFromFormat, "Invalid from email address format")
		case es[0].problem != addrOK:
			fail("From", sendFrom, "From name is invalid")
		}
	default:
		fail("From", sendFrom, "From parameter is invalid")
	}
	if m.From.Email != "" && compose.ValidAddress(m.From.Email) && !onSenderDomain(m.From.Email, d) {
		fail("From", sendFrom, "From address must be on the sender domain %s", d.Name)
	}

	// Subject.
	m.Subject = p.String("Subject")
	tplID, _ := p.IntOK("TemplateID")
	fromTemplate := tplID > 0
	if strings.TrimSpace(m.Subject) == "" && !fromTemplate {
		fail("Subject", sendSubjectOrTo, "Missing Subject")
	} else if err := subjectError(m.Subject); err != nil {
		fail("Subject", sendSubject, "Invalid Subject: line breaks, NUL and invalid UTF-8 are not allowed")
	}

	// Recipients. To is required unless TargetListID is set (and that is refused below).
	targetList := p.Has("TargetListID")
	toItems, ok := listOf(p.Value("To"))
	switch {
	case !ok:
		fail("To", sendRcptCount, "To must be an array of recipients")
	case p.Value("To") == nil && !targetList:
		fail("To", sendSubjectOrTo, "Missing To email address")
	case len(toItems) == 0 && !targetList:
		fail("To", sendRcptCount, "There is no recipient set")
	case len(toItems) > a.Cfg.MaxRecipients:
		fail("To", sendRcptCount, "Recipient count exceeds the limit of %d", a.Cfg.MaxRecipients)
	}
	for _, e := range parseAddresses(toItems, "email") {
		switch e.problem {
		case addrOK:
			m.To = append(m.To, e.Address)
		case addrMalformed, addrMissing:
			fail("To", sendRcptMissing, "Recipient name or email address is missing (To[%d])", e.index)
		default:
			fail("To", sendRcptInvalid, "Recipient email address is invalid (To[%d]: %s)", e.index, e.Email)
		}
	}

	ccItems, ok := listOf(p.Value("CC"))
	if !ok {
		fail("CC", sendCCInvalid, "CC must be an array of recipients")
	} else if len(ccItems) > a.Cfg.MaxCC {
		fail("CC", sendCCCount, "CC count exceeds the limit of %d", a.Cfg.MaxCC)
	}
	for _, e := range parseAddresses(ccItems, "email") {
		if e.problem == addrOK {
			m.CC = append(m.CC, e.Address)
		} else {
			fail("CC", sendCCInvalid, "CC email address is missing or invalid (CC[%d])", e.index)
		}
	}

	bccItems, ok := listOf(p.Value("BCC"))
	if !ok {
		fail("BCC", sendBCCMalformed, "BCC must be an array of recipients")
	} else if len(bccItems) > a.Cfg.MaxBCC {
		fail("BCC", sendBCCCount, "BCC count exceeds the limit of %d", a.Cfg.MaxBCC)
	}
	for _, e := range parseAddresses(bccItems, "email") {
		switch e.problem {
		case addrOK:
			sr.bcc = append(sr.bcc, e.Address)
		case addrMalformed:
			fail("BCC", sendBCCMalformed, "BCC entry is not a recipient object (BCC[%d])", e.index)
		case addrMissing:
			fail("BCC", sendBCCMissing, "BCC email address is missing (BCC[%d])", e.index)
		default:
			fail("BCC", sendBCCInvalid, "BCC email address is invalid (BCC[%d]: %s)", e.index, e.Email)
		}
	}

	replyItems, ok := listOf(p.Value("ReplyTo"))
	if !ok {
		fail("ReplyTo", sendReplyMalformed, "ReplyTo must be an array of addresses")
	} else if len(replyItems) > a.Cfg.MaxReplyTo {
		fail("ReplyTo", sendReplyCount, "Reply-To count exceeds the limit of %d", a.Cfg.MaxReplyTo)
	}
	for _, e := range parseAddresses(replyItems, "email") {
		switch e.problem {
		case addrOK:
			m.ReplyTo = append(m.ReplyTo, e.Address)
		case addrMalformed:
			fail("ReplyTo", sendReplyMalformed, "Reply-To entry is not an address object (ReplyTo[%d])", e.index)
		case addrMissing:
			fail("ReplyTo", sendReplyMissing, "Reply-To email address is missing (ReplyTo[%d])", e.index)
		default:
			fail("ReplyTo", sendReplyInvalid, "Reply-To email address or name is invalid (ReplyTo[%d])", e.index)
		}
	}

	// Content.
	html, text := p.String("HTMLContent"), p.String("PlainContent")
	switch ct := strings.ToLower(strings.TrimSpace(p.String("ContentType"))); ct {
	case "":
		if !fromTemplate {
			fail("ContentType", sendContentType, "Missing ContentType")
		}
	case "html":
		if strings.TrimSpace(html) == "" && !fromTemplate {
			fail("HTMLContent", sendHTML, "Missing HTMLContent")
		}
	case "plain":
		if strings.TrimSpace(text) == "" && !fromTemplate {
			fail("PlainContent", sendPlain, "Missing PlainContent")
		}
	default:
		fail("ContentType", sendContentType, "ContentType must be html or plain")
	}
	if !utf8.ValidString(html) || !utf8.ValidString(text) {
		fail("HTMLContent", sendContent, "Content is not valid UTF-8")
	}
	if strings.TrimSpace(html) != "" {
		m.HTML = html
	}
	if strings.TrimSpace(text) != "" {
		m.Text = text
	}

	// Options.
	if tags, ok := parseTags(p.Value("Tags")); ok {
		sr.tags = tags
	} else {
		fail("Tags", sendTags, "Tags must be a list of at most %d strings of 1 to %d characters", maxTags, maxTagLen)
	}
	if hs, ok := parseHeaders(p.Value("Headers")); !ok {
		fail("Headers", sendHeaders, "Headers must be an object of header names and text values")
	} else if err := headersError(hs, len(replyItems) > 0); err != nil {
		var ce *compose.Error
		reason := "invalid header"
		if errors.As(err, &ce) {
			reason = ce.Reason
		}
		fail("Headers", sendHeaders, "Invalid Headers: %s", reason)
	} else {
		m.Headers = hs
	}
	sr.trackLinks, sr.trackOpens = d.LinkTracking, d.OpenTracking
	if p.Has("TrackLinks") {
		b, ok := p.BoolOK("TrackLinks")
		if !ok {
			fail("TrackLinks", sendTracking, "TrackLinks must be true or false")
		}
		sr.trackLinks = b
	}
	if p.Has("TrackOpens") {
		b, ok := p.BoolOK("TrackOpens")
		if !ok {
			fail("TrackOpens", sendTracking, "TrackOpens must be true or false")
		}
		sr.trackOpens = b
	}
	if p.Has("SendAt") {
		at, ok := p.IntOK("SendAt")
		now := time.Now().Unix()
		switch {
		case !ok || at < 0:
			fail("SendAt", sendSendAt, "SendAt must be a Unix timestamp")
		case at > now+maxSendAhead:
			fail("SendAt", sendSendAt, "SendAt may be at most 30 days ahead")
		case at > now:
			sr.sendAt = at
		}
	}
	a.parseAttachments(p.Value("Attachments"), m, fail)

	// Audience references: non-negative integers here; whether they are the sender's is
	// checked by sendOne.
	for _, ref := range []struct {
		name string
		code int
		dst  *int64
	}{
		{"TemplateID", sendTemplate, &sr.templateID}, {"TargetListID", sendTargetList, &sr.targetListID},
		{"ListID", sendListID, &sr.listID}, {"SubscriberID", sendSubscriberID, &sr.subscriberID},
		{"JourneyID", sendJourneyID, &sr.journeyID}, {"ActionID", sendActionID, &sr.actionID},
	} {
		if p.Has(ref.name) {
			n, ok := p.IntOK(ref.name)
			if !ok || n < 0 {
				fail(ref.name, ref.code, "Invalid %s", ref.name)
			}
			*ref.dst = n
		}
	}
	if sr.subscriberID > 0 && sr.listID == 0 {
		fail("ListID", sendListID, "Invalid ListID: SubscriberID needs the ListID of its list")
	}
	return sr, issues
}

// parseAttachments reads Attachments: [{filename, content (base64), type, disposition
// (attachment|inline), contentid}], at most maxAttachments files and cfg.MaxAttachmentBytes
// decoded in all.
func (a *App) parseAttachments(v any, m *compose.Message, fail func(string, int, string, ...any)) {
	items, ok := listOf(v)
	if !ok {
		fail("Attachments", sendAttachment, "Attachments must be an array")
		return
	}
	if len(items) > maxAttachments {
		fail("Attachments", sendAttachmentSize, "At most %d attachments are allowed", maxAttachments)
		return
	}
	var total int64
	for i, it := range items {
		obj, ok := it.(map[string]any)
		if !ok {
			fail("Attachments", sendAttachment, "Attachments[%d] is not an object", i)
			continue
		}
		name, _ := field(obj, "filename")
		content, _ := field(obj, "content")
		ctype, _ := field(obj, "type")
		disp, _ := field(obj, "disposition")
		cid, _ := field(obj, "contentid")
		name, ctype, cid = strings.TrimSpace(name), strings.TrimSpace(ctype), strings.Trim(strings.TrimSpace(cid), "<>")
		disp = strings.ToLower(strings.TrimSpace(disp))
		switch {
		case name == "" || !cleanText(name):
			fail("Attachments", sendAttachment, "Attachments[%d]: filename is missing or invalid", i)
			continue
		case strings.TrimSpace(content) == "":
			fail("Attachments", sendAttachment, "Attachments[%d]: content is missing", i)
			continue
		case ctype != "" && !validMediaType(ctype):
			fail("Attachments", sendAttachment, "Attachments[%d]: type is not a media type", i)
			continue
		case disp != "" && disp != "attachment" && disp != "inline":
			fail("Attachments", sendAttachment, "Attachments[%d]: disposition must be attachment or inline", i)
			continue
		case !cleanText(cid):
			fail("Attachments", sendAttachment, "Attachments[%d]: contentid is invalid", i)
			continue
		}
		data, ok := decodeBase64(content)
		if !ok {
			fail("Attachments", sendAttachment, "Attachments[%d]: content is not valid base64", i)
			continue
		}
		total += int64(len(data))
		if total > a.Cfg.MaxAttachmentBytes {
			fail("Attachments", sendAttachmentSize, "Attachments exceed %d bytes in all", a.Cfg.MaxAttachmentBytes)
			return
		}
		m.Attachments = append(m.Attachments, compose.Attachment{
			Filename: name, ContentType: ctype, Disposition: disp, ContentID: cid, Content: data,
		})
	}
}
