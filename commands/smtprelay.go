package commands

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/google/uuid"

	"gatewayd/commands/compose"
	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// The relay path: what the SMTP submission server (relay/smtpd) and emailgateway.smtprelay
// share. Both authenticate an SMTP credential, check the envelope against the credential's
// domain, and hand a finished RFC 5322 message to AcceptRaw, which commits it through Accept.
// RelayReplyFor is the one table from refusals to SMTP replies, so the api.php SMTPResponse
// is exactly what the SMTP server says.

// RelaySender is who a relay client sends as: an SMTP credential, its sender domain and the
// domain's owner.
type RelaySender struct {
	Credential *storage.SMTPCredential
	Domain     *storage.SenderDomain
	User       *storage.User

	// When it was read, and storage's SenderChanges before the read: RelayMail uses it
	// without reading it again only while nothing changed and for senderReuse at most.
	loadedAt time.Time
	changes  int64
}

// senderReuse is how long a sender read at connect or AUTH may serve a MAIL FROM without being
// read again, and a sender API key and its domain and owner the next HTTP sends (when no
// account, domain, key or credential changed on this node meanwhile): a change made on
// another node in that moment is as if made just after the MAIL or the send.
const senderReuse = time.Second

// current reports whether s was read moments ago and nothing it depends on changed since.
func (a *App) current(s *RelaySender) bool {
	return !s.loadedAt.IsZero() && s.changes == a.DB.SenderChanges() && timeNow().Sub(s.loadedAt) < senderReuse
}

// RawSubmission is a finished message with its envelope, as a relay client hands it over.
type RawSubmission struct {
	Sender   *RelaySender
	MailFrom string   // envelope sender; "" takes the first From header address
	Rcpts    []string // envelope recipients
	Raw      []byte   // RFC 5322 message with CRLF line endings
	UUID     string   // the MessageID to use; generated when empty
	Subject  string   // used when the message has no Subject header
	Trace    string   // header lines to put on top (the SMTP server's Received), CRLF-terminated
	// RcptsChecked: every one of Rcpts passed RelayRcpt in this transaction (the SMTP server
	// checks each at RCPT), so the suppression list is not read again for them.
	RcptsChecked bool
}

// Relay refusals besides the account and domain errors Accept returns.
var (
	// ErrRelayBadMessage: the message is not one gatewayd can send (unparsable header, no
	// From header, empty).
	ErrRelayBadMessage = errors.New("invalid message")
	// ErrRelayBadRecipient: a recipient address is not valid.
	ErrRelayBadRecipient = errors.New("invalid recipient address")
	// ErrRelayTooManyRecipients: more recipients than GATEWAY_SMTP_MAX_RECIPIENTS.
	ErrRelayTooManyRecipients = errors.New("too many recipients")
	// ErrRelayUUID: the UUID given is not a UUID, or another account's message has it.
	ErrRelayUUID = errors.New("invalid or used UUID")
)

// RelaySenderError is an envelope sender or From address outside the credential's domain.
type RelaySenderError struct {
	Address string
	Domain  string // the credential's domain; "" when no credential of the client matches
}

func (e *RelaySenderError) Error() string {
	if e.Domain == "" {
		return fmt.Sprintf("sender address %q is not allowed for this client", e.Address)
	}
	return fmt.Sprintf("sender address %q is not in %s", e.Address, e.Domain)
}

// relayMessageError is ErrRelayBadMessage with the reason the client is told.
type relayMessageError struct{ reason string }

func (e *relayMessageError) Error() string { return "invalid message: " + e.reason }
func (e *relayMessageError) Unwrap() error { return ErrRelayBadMessage }

// RelayReply is an SMTP reply and the emailgateway.smtprelay ErrorCode it goes with.
type RelayReply struct {
	Code      int
	Enhanced  [3]int
	Text      string
	ErrorCode int
	Kind      dispatcher.Kind
}

func (r RelayReply) String() string {
	return fmt.Sprintf("%d %d.%d.%d %s", r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2], r.Text)
}

// RelayReplyFor maps a refusal of the relay path to its reply; ok is false for anything else
// (a failure of ours, which the caller answers with its generic temporary failure).
func RelayReplyFor(err error) (r RelayReply, ok bool) {
	var se *RelaySenderError
	var sup *SuppressedError
	var me *relayMessageError
	switch {
	case err == nil:
		return r, false
	case errors.Is(err, ErrSMTPAuth):
		return RelayReply{535, [3]int{5, 7, 8}, "Authentication failed", 3, dispatcher.KindAuth}, true
	case errors.As(err, &se):
		text := "Sender address <" + se.Address + "> is not allowed for this client"
		if se.Domain != "" {
			text = "Sender address <" + se.Address + "> does not belong to the sender domain " + se.Domain
		}
		return RelayReply{550, [3]int{5, 7, 1}, text, 4, dispatcher.KindForbidden}, true
	case errors.Is(err, ErrDomainNotEnabled):
		return RelayReply{550, [3]int{5, 7, 1}, "Sender domain is not active", 5, dispatcher.KindForbidden}, true
	case errors.Is(err, ErrAccountUnverified):
		return RelayReply{550, [3]int{5, 7, 1}, "User account is not verified", 6, dispatcher.KindForbidden}, true
	case errors.Is(err, ErrAccountDisabled):
		return RelayReply{550, [3]int{5, 7, 1}, "User account is not enabled", 7, dispatcher.KindForbidden}, true
	case errors.Is(err, ErrAccountUntrusted):
		return RelayReply{550, [3]int{5, 7, 1}, "User account is not trusted", 7, dispatcher.KindForbidden}, true
	case errors.As(err, &sup):
		return RelayReply{550, [3]int{5, 1, 1}, "<" + sup.Email + ">: Recipient address is on the suppression list", 8, dispatcher.KindForbidden}, true
	case errors.As(err, &me):
		return RelayReply{550, [3]int{5, 6, 0}, "Message refused: " + me.reason, 9, dispatcher.KindInvalid}, true
	case errors.Is(err, ErrRelayBadMessage):
		return RelayReply{550, [3]int{5, 6, 0}, "Message refused: not a valid RFC 5322 message", 9, dispatcher.KindInvalid}, true
	case errors.Is(err, ErrRelayBadRecipient):
		return RelayReply{501, [3]int{5, 1, 3}, "Bad recipient address syntax", 10, dispatcher.KindInvalid}, true
	case errors.Is(err, ErrNoRecipients):
		return RelayReply{554, [3]int{5, 5, 1}, "No valid recipients", 10, dispatcher.KindInvalid}, true
	case errors.Is(err, ErrRelayTooManyRecipients):
		return RelayReply{452, [3]int{4, 5, 3}, "Too many recipients", 10, dispatcher.KindInvalid}, true
	case errors.Is(err, ErrMonthlyLimit):
		return RelayReply{550, [3]int{5, 7, 1}, "Monthly sending limit reached", 11, dispatcher.KindForbidden}, true
	case errors.Is(err, ErrRelayUUID):
		return RelayReply{550, [3]int{5, 5, 4}, "UUID is not a UUID or is already in use", 12, dispatcher.KindInvalid}, true
	}
	return r, false
}

// RelayLogin checks SMTP AUTH credentials (ErrSMTPAuth when wrong; ErrAccountDisabled when
// right but the account is disabled, so a disabled account's credentials stop at AUTH).
func (a *App) RelayLogin(ctx context.Context, username, password string) (*RelaySender, error) {
	changes, at := a.DB.SenderChanges(), timeNow()
	c, d, u, err := a.SMTPLogin(ctx, username, password)
	if err != nil {
		return nil, err
	}
	if !accountEnabled(u) {
		return nil, ErrAccountDisabled
	}
	return &RelaySender{Credential: c, Domain: d, User: u, loadedAt: at, changes: changes}, nil
}

// RelayNetworkSenders returns the credentials a client at ip may relay for without AUTH (their
// AllowedNetworks contain ip), with their domains and owners. What it read for an address
// serves that address's next connections for senderReuse, while nothing changed on this node
// (the rule of a sender reused within a connection): a relay that opens a connection per
// message, as smtp-source and many PHP mailers do, costs one read a second, not three per
// message.
func (a *App) RelayNetworkSenders(ctx context.Context, ip net.IP) ([]*RelaySender, error) {
	changes, at := a.DB.SenderChanges(), timeNow()
	key := ip.String()
	if ss, ok := a.relayNets.get(key, changes); ok {
		return slices.Clone(ss), nil
	}
	ss, err := a.relayNetworkSenders(ctx, ip, changes, at)
	if err != nil {
		return nil, err
	}
	a.relayNets.put(key, changes, ss, senderReuse)
	return slices.Clone(ss), nil
}

func (a *App) relayNetworkSenders(ctx context.Context, ip net.IP, changes int64, at time.Time) ([]*RelaySender, error) {
	cs, err := a.SMTPNetworkCredentials(ctx, ip)
	if err != nil {
		return nil, err
	}
	out := make([]*RelaySender, 0, len(cs))
	for i := range cs {
		s, err := a.relayLoad(ctx, &cs[i])
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.loadedAt, s.changes = at, changes
		out = append(out, s)
	}
	return out, nil
}

// relayLoad reads a credential's domain and owner as they are now.
func (a *App) relayLoad(ctx context.Context, c *storage.SMTPCredential) (*RelaySender, error) {
	d, err := a.DB.DomainByID(ctx, c.DomainID, 0)
	if err != nil {
		return nil, fmt.Errorf("relay sender domain: %w", err)
	}
	u, err := a.DB.UserByID(ctx, d.UserID)
	if err != nil {
		return nil, fmt.Errorf("relay sender user: %w", err)
	}
	return &RelaySender{Credential: c, Domain: d, User: u}, nil
}

// RelayMail checks an envelope sender (MAIL FROM): it picks the candidate whose domain the
// address belongs to (the most specific one), reloads that domain and its owner unless fresh
// (the candidates were loaded for this connection or request, or for an earlier connection
// of the same address, and not used yet by this one) and read moments ago with nothing
// changed since, and checks the account and domain flags Accept
// checks. It returns the sender to use for the message.
func (a *App) RelayMail(ctx context.Context, candidates []*RelaySender, from string, fresh bool) (*RelaySender, error) {
	var best *RelaySender
	for _, s := range candidates {
		if relayAddressIn(s.Domain, from) && (best == nil || len(s.Domain.Name) > len(best.Domain.Name)) {
			best = s
		}
	}
	if best == nil {
		e := &RelaySenderError{Address: from}
		if len(candidates) == 1 {
			e.Domain = candidates[0].Domain.Name
		}
		return nil, e
	}
	if !fresh || !a.current(best) {
		var err error
		best, err = a.relayLoad(ctx, best.Credential)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, ErrDomainNotEnabled
		}
		if err != nil {
			return nil, err
		}
	}
	if err := CheckSender(best.User, best.Domain); err != nil {
		return nil, err
	}
	return best, nil
}

// RelayRcpt checks one envelope recipient: a valid address, not suppressed for the domain.
func (a *App) RelayRcpt(ctx context.Context, s *RelaySender, to string) error {
	if !compose.ValidAddress(to) {
		return ErrRelayBadRecipient
	}
	return a.CheckSuppressed(ctx, s.Domain, 0, []string{to})
}

// relayAddressIn reports whether addr is an address of domain d or of one of its subdomains,
// the rule the HTTP send applies to From.
func relayAddressIn(d *storage.SenderDomain, addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || !compose.ValidAddress(addr) {
		return false
	}
	dom, ok := NormalizeDomain(addr[at+1:])
	if !ok {
		return false
	}
	return dom == d.Name || strings.HasSuffix(dom, "."+d.Name)
}

// AcceptRaw accepts a finished message from a relay client: no field RFC 5322 allows once
// may occur twice; the envelope sender and every From address must belong to the credential's domain; recipients are checked and
// de-duplicated; a Message-ID (<uuid@domain>) and a Date are added when missing, and Trace on
// top; then the message is committed through Accept (account and domain flags, suppression
// list, monthly limit), the same path as every other send.
func (a *App) AcceptRaw(ctx context.Context, rs *RawSubmission) (*storage.Message, error) {
	d := rs.Sender.Domain
	if len(bytes.TrimSpace(rs.Raw)) == 0 {
		return nil, &relayMessageError{"the message is empty"}
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(rs.Raw)))
	if err != nil {
		return nil, &relayMessageError{"the header cannot be parsed"}
	}
	mh := mail.Header{Header: message.Header{Header: h}}
	if f := compose.RepeatedField(mh.Header); f != "" {
		return nil, &relayMessageError{"more than one " + f + " header (RFC 5322 section 3.6)"}
	}
	from, err := mh.AddressList("From")
	if err != nil || len(from) == 0 {
		return nil, &relayMessageError{"a From header with a valid address is required"}
	}
	for _, f := range from {
		if !relayAddressIn(d, f.Address) {
			return nil, &RelaySenderError{Address: f.Address, Domain: d.Name}
		}
	}
	mailFrom := rs.MailFrom
	if mailFrom == "" {
		mailFrom = from[0].Address
	}
	if !relayAddressIn(d, mailFrom) {
		return nil, &RelaySenderError{Address: mailFrom, Domain: d.Name}
	}

	kinds := relayHeaderKinds(mh)
	seen := map[string]bool{}
	var rcpts []Rcpt
	for _, r := range rs.Rcpts {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !compose.ValidAddress(r) {
			return nil, ErrRelayBadRecipient
		}
		key := strings.ToLower(r)
		if seen[key] {
			continue
		}
		seen[key] = true
		kind := kinds[key]
		if kind == "" {
			kind = "bcc"
		}
		rcpts = append(rcpts, Rcpt{Email: r, Kind: kind})
	}
	if len(rcpts) == 0 {
		return nil, ErrNoRecipients
	}
	if max := a.Cfg.SMTPMaxRcpts; max > 0 && len(rcpts) > max {
		return nil, ErrRelayTooManyRecipients
	}

	id := ""
	if rs.UUID != "" {
		u, err := uuid.Parse(strings.TrimSpace(rs.UUID))
		if err != nil {
			return nil, ErrRelayUUID
		}
		id = u.String()
		if m, err := a.DB.MessageByUUID(ctx, id, 0); err == nil {
			if m.UserID == rs.Sender.User.ID && m.DomainID == d.ID {
				// A retried relay call: the message is already queued.
				return m, nil
			}
			return nil, ErrRelayUUID
		} else if !isNotFound(err) {
			return nil, err
		}
	} else {
		id = uuid.NewString()
	}

	subject, _ := mh.Subject()
	if strings.TrimSpace(h.Get("Subject")) == "" {
		subject = rs.Subject
	}
	var top bytes.Buffer
	top.WriteString(rs.Trace)
	msgID, _ := mh.MessageID()
	if msgID == "" {
		msgID = id + "@" + d.Name
		fmt.Fprintf(&top, "Message-ID: <%s>\r\n", msgID)
	}
	if !h.Has("Date") {
		fmt.Fprintf(&top, "Date: %s\r\n", timeNow().Format(time.RFC1123Z))
	}
	raw := rs.Raw
	if top.Len() > 0 {
		raw = append(top.Bytes(), rs.Raw...)
	}
	return a.Accept(ctx, &Submission{
		User: rs.Sender.User, Domain: d, Source: "smtp", MailFrom: mailFrom, Subject: subject,
		Raw: raw, HeaderMessageID: "<" + msgID + ">", Recipients: rcpts, UUID: id, SuppressionChecked: rs.RcptsChecked,
	})
}

// relayHeaderKinds maps the lower-cased addresses of the To and Cc headers to "to" or "cc";
// envelope recipients in neither are blind copies.
func relayHeaderKinds(h mail.Header) map[string]string {
	out := map[string]string{}
	for _, f := range []struct{ key, kind string }{{"Cc", "cc"}, {"To", "to"}} {
		list, _ := h.AddressList(f.key)
		for _, a := range list {
			out[strings.ToLower(a.Address)] = f.kind
		}
	}
	return out
}

func (a *App) registerSMTPRelay(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{
		Name: "emailgateway.smtprelay", Auth: dispatcher.AuthAdmin, Permission: PermManageDomain, LargeBody: true,
		Params: []dispatcher.Param{
			{Name: "SMTPUsername", Required: true, Code: 1, Message: "Missing SMTPUsername"},
			{Name: "SMTPPassword", Required: true, Code: 2, Message: "Missing SMTPPassword"},
		},
		Handler: a.smtpRelay,
	})
}

// smtpRelayAuthError is the documented answer to wrong credentials.
const smtpRelayAuthError = "500 5.0.0 AUTH ERROR"

// smtpRelay is emailgateway.smtprelay, the relay path over api.php. With only SMTPUsername
// and SMTPPassword it checks the credentials (and that their domain and account may send);
// with RawEmail (and RcptTo, optionally MailFrom, UUID, Subject) it also accepts the message
// and answers the SMTP server's reply in SMTPResponse. Codes: 1, 2 missing username or
// password; 3 wrong credentials; 4 sender outside the domain; 5 domain not active; 6 account
// not verified; 7 account disabled or untrusted; 8 suppressed recipient; 9 RawEmail missing or
// invalid; 10 RcptTo missing, invalid or too many; 11 monthly limit; 12 UUID invalid or used.
func (a *App) smtpRelay(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	username, password := p.String("SMTPUsername"), p.String("SMTPPassword")
	s, err := a.RelayLogin(ctx, username, password)
	if err != nil {
		return nil, relayCommandError(err)
	}
	ok := map[string]any{"SMTPUsername": username, "SMTPPassword": password}
	send := p.Has("RawEmail") || p.Has("RcptTo") || p.Has("MailFrom") || p.Has("UUID")
	if !send {
		if err := CheckSender(s.User, s.Domain); err != nil {
			return nil, relayCommandError(err)
		}
		return ok, nil
	}
	raw := relayCRLF(p.String("RawEmail"))
	switch {
	case len(bytes.TrimSpace(raw)) == 0:
		return nil, relayCommandError(&relayMessageError{"RawEmail is missing"})
	case int64(len(raw)) > a.Cfg.SMTPMaxSize:
		return nil, relayCommandError(&relayMessageError{fmt.Sprintf("RawEmail is larger than %d bytes", a.Cfg.SMTPMaxSize)})
	}
	var rcpts []string
	for _, r := range strings.Split(p.String("RcptTo"), ",") {
		if r = strings.Trim(strings.TrimSpace(r), "<>"); r != "" {
			rcpts = append(rcpts, r)
		}
	}
	if len(rcpts) == 0 {
		return nil, relayCommandError(ErrNoRecipients)
	}
	mailFrom := strings.Trim(strings.TrimSpace(p.String("MailFrom")), "<>")
	if mailFrom != "" {
		if s, err = a.RelayMail(ctx, []*RelaySender{s}, mailFrom, true); err != nil {
			return nil, relayCommandError(err)
		}
	} else if err := CheckSender(s.User, s.Domain); err != nil {
		return nil, relayCommandError(err)
	}
	m, err := a.AcceptRaw(ctx, &RawSubmission{
		Sender: s, MailFrom: mailFrom, Rcpts: rcpts, Raw: raw, UUID: p.String("UUID"), Subject: p.String("Subject"),
	})
	if err != nil {
		return nil, relayCommandError(err)
	}
	ok["SMTPResponse"] = RelayQueued(m.UUID)
	return ok, nil
}

// RelayQueued is the reply to an accepted message.
func RelayQueued(id string) string { return "250 2.0.0 Ok: queued as " + id }

// relayCommandError renders a refusal for api.php, with the SMTP reply as SMTPResponse;
// anything that is not a refusal stays an internal error.
func relayCommandError(err error) error {
	if errors.Is(err, ErrSMTPAuth) {
		e := dispatcher.Fail(dispatcher.KindAuth, 3, "Invalid SMTP credentials")
		e.Extra = map[string]any{"SMTPResponse": smtpRelayAuthError}
		return e
	}
	r, ok := RelayReplyFor(err)
	if !ok {
		return err
	}
	e := dispatcher.Fail(r.Kind, r.ErrorCode, r.Text)
	e.Extra = map[string]any{"SMTPResponse": r.String()}
	return e
}

// relayCRLF gives a message from a JSON or form field CRLF line endings (bare LF and bare CR
// become CRLF), as SMTP requires.
func relayCRLF(s string) []byte {
	var b bytes.Buffer
	b.Grow(len(s) + len(s)/32)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\r':
			b.WriteString("\r\n")
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
		case '\n':
			b.WriteString("\r\n")
		default:
			b.WriteByte(c)
		}
	}
	return b.Bytes()
}
