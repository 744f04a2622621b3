package bounce

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strconv"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// Kind classifies a returned message.
type Kind int

const (
	// Unknown is anything that is not a failure, delay or complaint report:
	// ordinary mail, auto-replies, plain-text bounces, read receipts, and
	// delivery reports in which every recipient succeeded.
	Unknown Kind = iota
	// Bounce is a delivery status report in which at least one recipient
	// failed (or that names no recipient at all).
	Bounce
	// Delay is a delivery status report with no failure and at least one
	// recipient whose delivery is delayed (the remote MTA is still retrying).
	Delay
	// Complaint is an abuse feedback report (ARF).
	Complaint
)

// String returns the lowercase name of k.
func (k Kind) String() string {
	switch k {
	case Bounce:
		return "bounce"
	case Delay:
		return "delay"
	case Complaint:
		return "complaint"
	default:
		return "unknown"
	}
}

// Report is what Parse found in a returned message.
type Report struct {
	Kind Kind
	// Recipients holds one entry per per-recipient block of a delivery status
	// report, in order. Empty for complaints and unknown messages.
	Recipients []RecipientStatus
	// OriginalRecipient is, for a complaint, the ARF Original-Rcpt-To field,
	// or else the address in the To field of the returned original.
	OriginalRecipient string
	// FeedbackType is the lowercased ARF Feedback-Type (abuse, fraud, virus,
	// other, not-spam ...).
	FeedbackType string
	// OriginalMessageID is the Message-ID of the returned original (from its
	// message/rfc822 or text/rfc822-headers part), without angle brackets.
	OriginalMessageID string
	// OriginalEnvelopeFrom is the Return-Path of the returned original, or for
	// a complaint without one the ARF Original-Mail-From field, without angle
	// brackets. For mail we sent this is our VERP address (see ParseVERP).
	OriginalEnvelopeFrom string
	// UserAgent is the ARF User-Agent field of a complaint.
	UserAgent string
}

// RecipientStatus is one per-recipient block of a delivery status report.
type RecipientStatus struct {
	// Recipient is the Final-Recipient address (or Original-Recipient when
	// Final-Recipient is absent) without its address type ("rfc822;") and
	// angle brackets.
	Recipient string
	// Action is the lowercased Action field: failed, delayed, delivered,
	// relayed or expanded. When the field is absent or not one of those, it is
	// inferred from the class of Status (5 failed, 4 delayed, 2 delivered),
	// and left as found when that is not possible either.
	Action string
	// Status is the enhanced status code ("5.1.1"), normalized. When the
	// Status field is absent it is the first enhanced code in the diagnostic.
	Status string
	// Diagnostic is the Diagnostic-Code text without its type ("smtp;").
	Diagnostic string
	// Hard reports a permanent failure of the address itself, one that will
	// not go away if the message is sent again: Action failed and a status of
	// 5.1.1 (no such mailbox), 5.1.2 (no such domain), 5.1.3 (bad address
	// syntax), 5.1.6 (mailbox moved), 5.1.10 (null MX) or 5.2.1 (mailbox
	// disabled). A generic Status (5.0.0) is refined from the diagnostic when
	// it holds a more precise 5.x.x code. Everything else that failed (full
	// mailbox 5.2.2, policy or spam rejections 5.7.x, routing 5.4.x, ...) is
	// a soft bounce: it still failed, but the address stays usable.
	Hard bool
}

// ErrMalformed reports a message whose MIME structure breaks before its
// machine-readable report could be read.
var ErrMalformed = errors.New("bounce: malformed message")

const (
	maxDepth      = 4       // nesting of multiparts searched for a report
	maxParts      = 64      // parts read per multipart
	maxBlocks     = 1024    // field blocks read from a delivery-status part
	maxFieldsPart = 1 << 20 // bytes read from a status, feedback or headers part
)

// Parse reads a whole message (header and body) and classifies it.
//
// A multipart/report with report-type=delivery-status (RFC 3464, also the
// RFC 6533 message/global-delivery-status form) is a Bounce, or a Delay when
// nothing failed and something is delayed, or Unknown when every recipient
// succeeded (a positive DSN). A multipart/report with
// report-type=feedback-report (RFC 5965) is a Complaint. A missing
// report-type is inferred from the parts present. The report may be nested in
// other multiparts (some gateways wrap it in multipart/mixed).
//
// Anything else, including the plain-text "Undelivered Mail Returned to
// Sender" notices some servers still send, is Unknown with no error: such a
// message cannot be classified reliably, so the caller identifies the
// recipient by the VERP address it arrived at and records a generic bounce.
//
// A message whose header cannot be read, or whose MIME structure breaks
// before the status or feedback part has been read in full, yields an error
// wrapping ErrMalformed. A break after it (a truncated original message) is
// tolerated: the report is returned with what was read. Parse never panics.
//
// Parse streams r: it keeps no more than 1 MiB of any status, feedback or
// header part and discards the rest. Bounding the size of r as a whole is
// the caller's job (the listener's message size limit).
func Parse(r io.Reader) (*Report, error) {
	e, err := message.Read(r)
	if err != nil && !tolerable(err) {
		return nil, fmt.Errorf("%w: read header: %w", ErrMalformed, err)
	}
	return parseEntity(e, 0)
}

// tolerable reports errors go-message returns alongside a usable entity.
func tolerable(err error) bool {
	return message.IsUnknownCharset(err) || message.IsUnknownEncoding(err)
}

// contentType returns the lowercased media type and parameters of e. A
// multipart whose parameters do not parse is malformed; for any other type a
// bad parameter only loses the parameters.
func contentType(e *message.Entity) (string, map[string]string, error) {
	t, params, err := e.Header.ContentType()
	if err == nil {
		return t, params, nil
	}
	t, _, _ = strings.Cut(e.Header.Get("Content-Type"), ";")
	t = strings.ToLower(strings.TrimSpace(t))
	if strings.HasPrefix(t, "multipart/") {
		return "", nil, fmt.Errorf("%w: content type: %w", ErrMalformed, err)
	}
	return t, nil, nil
}

func parseEntity(e *message.Entity, depth int) (*Report, error) {
	t, params, err := contentType(e)
	if err != nil {
		return nil, err
	}
	if t == "multipart/report" {
		return parseReport(e, strings.ToLower(params["report-type"]))
	}
	if !strings.HasPrefix(t, "multipart/") || depth >= maxDepth {
		return &Report{Kind: Unknown}, nil
	}
	mr := e.MultipartReader()
	if mr == nil {
		return &Report{Kind: Unknown}, nil
	}
	for range maxParts {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil && !tolerable(err) {
			return nil, fmt.Errorf("%w: %s part: %w", ErrMalformed, t, err)
		}
		rep, err := parseEntity(p, depth+1)
		if err != nil {
			return nil, err
		}
		if rep.Kind != Unknown {
			return rep, nil
		}
	}
	return &Report{Kind: Unknown}, nil
}

// reportParts collects what the parts of one multipart/report hold.
type reportParts struct {
	dsn        bool // a delivery-status part was read in full
	recipients []RecipientStatus
	arf        bool // a feedback-report part was read in full
	feedback   textproto.Header
	original   textproto.Header // first original message or headers part
	hasOrig    bool
}

func parseReport(e *message.Entity, reportType string) (*Report, error) {
	mr := e.MultipartReader()
	var rp reportParts
	for range maxParts {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil && !tolerable(err) {
			if rp.dsn || rp.arf {
				break // the original is truncated; the report itself is whole
			}
			return nil, fmt.Errorf("%w: report part: %w", ErrMalformed, err)
		}
		if err := rp.read(p); err != nil {
			return nil, err
		}
	}
	return rp.report(reportType), nil
}

func (rp *reportParts) read(p *message.Entity) error {
	t, _, err := contentType(p)
	if err != nil {
		t = "" // a multipart part with bad parameters is skipped, not read
	}
	body := io.LimitReader(p.Body, maxFieldsPart)
	switch t {
	case "message/delivery-status", "message/global-delivery-status":
		if rp.dsn {
			return nil
		}
		recipients, err := readDeliveryStatus(body)
		if err != nil {
			return fmt.Errorf("%w: delivery-status: %w", ErrMalformed, err)
		}
		rp.recipients, rp.dsn = recipients, true
	case "message/feedback-report":
		if rp.arf {
			return nil
		}
		h, err := textproto.ReadHeader(bufio.NewReader(body))
		if err != nil && err != io.EOF {
			return fmt.Errorf("%w: feedback-report: %w", ErrMalformed, err)
		}
		rp.feedback, rp.arf = h, true
	case "message/rfc822", "message/global", "text/rfc822-headers",
		"message/rfc822-headers", "message/global-headers":
		if rp.hasOrig {
			return nil
		}
		// The original is best effort: a header cut short still names what
		// it managed to name.
		h, _ := textproto.ReadHeader(bufio.NewReader(body))
		rp.original, rp.hasOrig = h, true
	}
	return nil
}

func (rp *reportParts) report(reportType string) *Report {
	if reportType == "" {
		switch {
		case rp.dsn:
			reportType = "delivery-status"
		case rp.arf:
			reportType = "feedback-report"
		}
	}
	rep := &Report{Kind: Unknown}
	switch reportType {
	case "delivery-status":
		rep.Kind = dsnKind(rp.recipients)
		rep.Recipients = rp.recipients
	case "feedback-report":
		rep.Kind = Complaint
		rep.FeedbackType = strings.ToLower(strings.TrimSpace(rp.feedback.Get("Feedback-Type")))
		rep.UserAgent = strings.TrimSpace(rp.feedback.Get("User-Agent"))
		rep.OriginalRecipient = bareAddress(rp.feedback.Get("Original-Rcpt-To"))
		if rep.OriginalRecipient == "" {
			rep.OriginalRecipient = headerAddress(rp.original.Get("To"))
		}
		rep.OriginalEnvelopeFrom = bareAddress(rp.feedback.Get("Original-Mail-From"))
	default:
		return rep // a report we do not handle: read receipts, TLS reports
	}
	if rp.hasOrig {
		rep.OriginalMessageID = strings.Trim(strings.TrimSpace(rp.original.Get("Message-Id")), "<>")
		if rpath := bareAddress(rp.original.Get("Return-Path")); rpath != "" {
			rep.OriginalEnvelopeFrom = rpath
		}
	}
	return rep
}

func dsnKind(rs []RecipientStatus) Kind {
	var failed, delayed, succeeded int
	for _, r := range rs {
		switch r.Action {
		case "failed":
			failed++
		case "delayed":
			delayed++
		case "delivered", "relayed", "expanded":
			succeeded++
		}
	}
	switch {
	case failed > 0:
		return Bounce
	case delayed > 0:
		return Delay
	case succeeded > 0:
		return Unknown
	default:
		// No usable per-recipient block: a delivery report is nearly always
		// a failure notice, and VERP says whose.
		return Bounce
	}
}

// readDeliveryStatus reads the blocks of a message/delivery-status body: one
// per-message block, then one block per recipient, separated by blank lines.
// Any block naming a recipient or an action counts as a recipient block, so a
// report that runs them together still yields its recipient.
func readDeliveryStatus(r io.Reader) ([]RecipientStatus, error) {
	br := bufio.NewReader(r)
	var out []RecipientStatus
	for range maxBlocks {
		h, err := textproto.ReadHeader(br)
		if err != nil && err != io.EOF {
			return nil, err
		}
		if h.Has("Final-Recipient") || h.Has("Original-Recipient") || h.Has("Action") {
			out = append(out, recipientStatus(h))
		}
		if err == io.EOF {
			break
		}
		if _, perr := br.Peek(1); perr == io.EOF {
			break
		} else if perr != nil {
			return nil, perr
		}
	}
	return out, nil
}

func recipientStatus(h textproto.Header) RecipientStatus {
	rs := RecipientStatus{
		Recipient:  bareAddress(stripType(h.Get("Final-Recipient"))),
		Action:     strings.ToLower(strings.TrimSpace(h.Get("Action"))),
		Diagnostic: stripType(h.Get("Diagnostic-Code")),
	}
	if rs.Recipient == "" {
		rs.Recipient = bareAddress(stripType(h.Get("Original-Recipient")))
	}
	status := strings.TrimSpace(h.Get("Status"))
	diagCode, _ := findEnhancedCode(rs.Diagnostic)
	if code, ok := leadingEnhancedCode(status); ok {
		rs.Status = code
	} else if status != "" {
		rs.Status = status
	} else {
		rs.Status = diagCode
	}
	switch rs.Action {
	case "failed", "delayed", "delivered", "relayed", "expanded":
	default:
		switch codeClass(rs.Status) {
		case '5':
			rs.Action = "failed"
		case '4':
			rs.Action = "delayed"
		case '2':
			rs.Action = "delivered"
		}
	}
	effective := rs.Status
	if strings.HasSuffix(effective, ".0.0") && diagCode != "" && codeClass(diagCode) == codeClass(effective) {
		effective = diagCode
	}
	rs.Hard = rs.Action == "failed" && isHardCode(effective)
	return rs
}

// isHardCode reports the enhanced codes that condemn the address itself.
// 5.1.7 and 5.1.8 are about the sender and 5.1.0 is too vague to suppress on.
func isHardCode(code string) bool {
	switch code {
	case "5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.2.1":
		return true
	}
	return false
}

func codeClass(code string) byte {
	if len(code) > 0 {
		return code[0]
	}
	return 0
}

// leadingEnhancedCode parses an RFC 3463 code (class.subject.detail, class
// 2, 4 or 5, subject and detail of 1 to 3 digits) at the start of s and
// returns it without leading zeros. What follows the code must not continue
// it (a digit or a dot).
func leadingEnhancedCode(s string) (string, bool) {
	if len(s) < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.' {
		return "", false
	}
	subject, rest, ok := leadingNumber(s[2:])
	if !ok || len(rest) < 2 || rest[0] != '.' {
		return "", false
	}
	detail, rest, ok := leadingNumber(rest[1:])
	if !ok || (len(rest) > 0 && (rest[0] == '.' || isDigit(rest[0]))) {
		return "", false
	}
	return s[:1] + "." + strconv.Itoa(subject) + "." + strconv.Itoa(detail), true
}

func leadingNumber(s string) (int, string, bool) {
	n := 0
	for n < len(s) && n < 4 && isDigit(s[n]) {
		n++
	}
	if n == 0 || n > 3 {
		return 0, s, false
	}
	v, _ := strconv.Atoi(s[:n])
	return v, s[n:], true
}

// findEnhancedCode returns the first enhanced status code in free text such
// as "550 5.1.1 <a@b>: Recipient address rejected".
func findEnhancedCode(s string) (string, bool) {
	for i := 0; i+5 <= len(s); i++ {
		if i > 0 && (isDigit(s[i-1]) || s[i-1] == '.') {
			continue
		}
		if code, ok := leadingEnhancedCode(s[i:]); ok {
			return code, true
		}
	}
	return "", false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// stripType removes the type of a typed DSN field ("rfc822; a@b",
// "smtp; 550 ...", "X-Postfix; ...") and trims spaces.
func stripType(v string) string {
	v = strings.TrimSpace(v)
	if typ, rest, ok := strings.Cut(v, ";"); ok && typ != "" && !strings.ContainsAny(typ, " \t<>@\"") {
		return strings.TrimSpace(rest)
	}
	return v
}

// bareAddress trims spaces and angle brackets from an address field.
func bareAddress(v string) string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "<") {
		if end := strings.IndexByte(v, '>'); end > 0 {
			v = v[1:end]
		}
	}
	return strings.TrimSpace(v)
}

// headerAddress returns the first address of an address-list header such as
// To ("Name <a@b>, c@d"), or the trimmed field when it does not parse.
func headerAddress(v string) string {
	if strings.TrimSpace(v) == "" {
		return ""
	}
	if list, err := mail.ParseAddressList(v); err == nil && len(list) > 0 {
		return list[0].Address
	}
	return bareAddress(v)
}
