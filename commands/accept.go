package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"gatewayd/storage"
)

// Submission is a message ready to be accepted, whichever way it arrived: built from an API
// request, received over SMTP, or relayed through emailgateway.smtprelay.
type Submission struct {
	User            *storage.User
	Domain          *storage.SenderDomain
	Source          string // api | smtp | gatewayapi
	APIKeyID        int64
	MailFrom        string // the sender address (From header, or MAIL FROM over SMTP)
	Subject         string
	Tags            []string
	Raw             []byte // RFC 5322 message, CRLF line endings
	HeaderMessageID string
	Recipients      []Rcpt
	TrackLinks      bool
	TrackOpens      bool
	Links           []string // tracked URLs of the HTML part, in token order
	SendAt          int64    // unix seconds; 0 or past: now
	CallbackURL     string
	UserRef         string
	// RequestID, on the later messages of a GatewayAPI request, is the id of its first
	// message: the one id the request answered, which its callbacks carry.
	RequestID int64
	UUID      string // the API MessageID; generated when empty
	// ListID is the subscriber list the message is sent for (0: none); that list's own
	// suppression entries apply as well.
	ListID int64
	// SubscriberID is the subscriber of ListID the message was personalized for; JourneyID
	// and ActionID are kept with the message and shown on its events and webhooks.
	SubscriberID, JourneyID, ActionID int64
	// Placeholders: the bodies carry per-recipient link placeholders (%Link:Unsubscribe% ...).
	Placeholders bool
	// SuppressionChecked: the caller has checked every recipient against the suppression
	// list of Domain (and ListID) moments ago (the SMTP server does at RCPT), so Accept does
	// not read it again.
	SuppressionChecked bool
}

// Rcpt is one envelope recipient.
type Rcpt struct {
	Email string
	Kind  string // to | cc | bcc
}

// Why a sender may not send. Each surface maps these onto its own codes.
var (
	ErrAccountDisabled   = errors.New("account disabled")
	ErrAccountUnverified = errors.New("account not verified")
	ErrAccountUntrusted  = errors.New("account not trusted")
	ErrDomainNotEnabled  = errors.New("sender domain not enabled")
	ErrMonthlyLimit      = errors.New("monthly sending limit reached")
	ErrNoRecipients      = errors.New("no recipients")
)

// SuppressedError names the first recipient a send is refused for: on the system-wide list,
// the user's account-wide list, the sender domain's, or the message's subscriber list's.
type SuppressedError struct {
	Email  string
	Reason string // the suppression source of the narrowest entry (storage.Suppress*)
}

func (e *SuppressedError) Error() string {
	return fmt.Sprintf("%s is suppressed (%s)", e.Email, e.Reason)
}

// CheckSender checks the account and domain flags the send path depends on.
func CheckSender(u *storage.User, d *storage.SenderDomain) error {
	switch {
	case !strings.EqualFold(u.AccountStatus, StatusEnabled):
		return ErrAccountDisabled
	case !u.Verified:
		return ErrAccountUnverified
	case !strings.EqualFold(u.ReputationLevel, ReputationTrust):
		return ErrAccountUntrusted
	case d.Status != storage.DomainEnabled:
		return ErrDomainNotEnabled
	}
	return nil
}

// CheckSuppressed returns a *SuppressedError for the first address a send from d (for the
// subscriber list listID, 0 for none) is refused for.
func (a *App) CheckSuppressed(ctx context.Context, d *storage.SenderDomain, listID int64, emails []string) error {
	sup, err := a.DB.SuppressionMatches(ctx, storage.SuppressionScope{UserID: d.UserID, DomainID: d.ID, ListID: listID}, emails)
	if err != nil {
		return err
	}
	for _, e := range emails {
		if rows, ok := sup[strings.ToLower(strings.TrimSpace(e))]; ok {
			return &SuppressedError{Email: e, Reason: rows[0].Source}
		}
	}
	return nil
}

// Accept validates a submission against the account, domain, suppression list and monthly
// limit, and commits it (message, recipients, accepted events) before returning. The
// returned message has its UUID and row id set. Nothing is acknowledged unless this returns
// nil; once it has, the message survives a crash.
func (a *App) Accept(ctx context.Context, s *Submission) (*storage.Message, error) {
	if err := CheckSender(s.User, s.Domain); err != nil {
		return nil, err
	}
	if len(s.Recipients) == 0 {
		return nil, ErrNoRecipients
	}
	if !s.SuppressionChecked {
		emails := make([]string, len(s.Recipients))
		for i, r := range s.Recipients {
			emails[i] = r.Email
		}
		if err := a.CheckSuppressed(ctx, s.Domain, s.ListID, emails); err != nil {
			return nil, err
		}
	}
	id := s.UUID
	if id == "" {
		id = uuid.NewString()
	}
	tags, _ := json.Marshal(nonNil(s.Tags))
	links := ""
	if len(s.Links) > 0 {
		b, _ := json.Marshal(s.Links)
		links = string(b)
	}
	m := &storage.Message{
		UUID: id, DomainID: s.Domain.ID, UserID: s.User.ID, APIKeyID: s.APIKeyID, Source: s.Source,
		MailFrom: s.MailFrom, Subject: storedSubject(s.Subject), Tags: string(tags), HeaderMessageID: s.HeaderMessageID, Raw: s.Raw,
		TrackLinks: s.TrackLinks, TrackOpens: s.TrackOpens, Links: links, CallbackURL: s.CallbackURL, UserRef: s.UserRef,
		RequestID: s.RequestID, SendAt: s.SendAt, ListID: s.ListID, SubscriberID: s.SubscriberID, JourneyID: s.JourneyID,
		ActionID: s.ActionID, Placeholders: s.Placeholders,
	}
	monthly, _, err := a.EffectiveLimits(ctx, s.User)
	if err != nil {
		return nil, err
	}
	env := &storage.Envelope{Message: m, MonthlyLimit: monthly}
	for _, r := range s.Recipients {
		env.Recipients = append(env.Recipients, &storage.Recipient{Email: strings.TrimSpace(r.Email), Kind: r.Kind})
	}
	if err := a.Committer.Enqueue(ctx, env); err != nil {
		if errors.Is(err, storage.ErrLimit) {
			return nil, ErrMonthlyLimit
		}
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	if a.Enqueued != nil {
		a.Enqueued()
	}
	return m, nil
}

// maxStoredSubject is how much of a subject the message row keeps for listings, events and
// webhooks (the message itself is unchanged): a subject of megabytes, which a relayed message
// may carry, would not fit MySQL's TEXT column.
const maxStoredSubject = 1000

// storedSubject cuts s to maxStoredSubject bytes at a character boundary.
func storedSubject(s string) string {
	if len(s) <= maxStoredSubject {
		return s
	}
	cut := maxStoredSubject
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
