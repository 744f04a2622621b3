package commands

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"gatewayd/commands/compose"
	"gatewayd/dispatcher"
	"gatewayd/secret"
	"gatewayd/storage"
)

// Password reset (users.md user.passwordremind and user.passwordreset), and the platform's
// own mail, which both send through the normal queue from GATEWAY_PLATFORM_FROM.

const (
	// passwordResetLifetime is how long a reset token works.
	passwordResetLifetime = time.Hour
	// passwordRemindGap is the least time between two reminder mails to one account (a
	// public command must not be a way to flood someone's mailbox).
	passwordRemindGap = time.Minute
)

// ErrNoPlatformSender: GATEWAY_PLATFORM_FROM is unset, or no enabled sender domain carries it.
var ErrNoPlatformSender = errors.New("the platform sender (GATEWAY_PLATFORM_FROM) is not configured or its domain is not an enabled sender domain")

func (a *App) registerPasswordReset(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{
		Name: "user.passwordremind", Auth: dispatcher.AuthPublic | dispatcher.AuthAdmin,
		Params:  []dispatcher.Param{{Name: "EmailAddress", Required: true, Code: 1, Message: "Missing EmailAddress parameter"}},
		Handler: a.passwordRemind,
	})
	r.Register(&dispatcher.Command{
		Name: "user.passwordreset", Auth: dispatcher.AuthPublic | dispatcher.AuthAdmin,
		Params:  []dispatcher.Param{{Name: "UserID", Required: true, Code: 1, Message: "Missing UserID parameter"}},
		Handler: a.passwordReset,
	})
}

// platformSender finds the sender domain of GATEWAY_PLATFORM_FROM (the address's domain or
// the nearest parent that is an enabled sender domain; the oldest when several accounts
// have it) and its owner.
func (a *App) platformSender(ctx context.Context) (compose.Address, *storage.SenderDomain, *storage.User, error) {
	if a.Cfg.PlatformFrom == "" {
		return compose.Address{}, nil, nil, ErrNoPlatformSender
	}
	from, err := compose.ParseAddress(a.Cfg.PlatformFrom)
	if err != nil {
		return from, nil, nil, fmt.Errorf("%w: %v", ErrNoPlatformSender, err)
	}
	name := strings.ToLower(from.Email[strings.LastIndexByte(from.Email, '@')+1:])
	for name != "" {
		ds, err := a.DB.DomainsByName(ctx, name)
		if err != nil {
			return from, nil, nil, err
		}
		for i := range ds {
			if ds[i].Status != storage.DomainEnabled {
				continue
			}
			u, err := a.DB.UserByID(ctx, ds[i].UserID)
			if err != nil {
				return from, nil, nil, err
			}
			return from, &ds[i], u, nil
		}
		_, name, _ = strings.Cut(name, ".")
		if !strings.Contains(name, ".") {
			break
		}
	}
	return from, nil, nil, ErrNoPlatformSender
}

// SendPlatformMail queues a message from GATEWAY_PLATFORM_FROM to one address through the
// normal acceptance path: the platform domain's DKIM key signs it and its owner's route
// carries it; it is one of that account's messages (events, statistics, limits).
func (a *App) SendPlatformMail(ctx context.Context, to compose.Address, subject, text, html string) (*storage.Message, error) {
	from, d, u, err := a.platformSender(ctx)
	if err != nil {
		return nil, err
	}
	id := uuid.NewString()
	cm := compose.Message{From: from, To: []compose.Address{to}, Subject: subject, Text: text, HTML: html,
		MessageID: id + "@" + d.Name, Date: time.Now()}
	raw, err := compose.Build(&cm)
	if err != nil {
		return nil, fmt.Errorf("platform mail: %w", err)
	}
	return a.Accept(ctx, &Submission{
		User: u, Domain: d, Source: "platform", MailFrom: from.Email, Subject: subject, Raw: raw,
		HeaderMessageID: "<" + cm.MessageID + ">", Recipients: []Rcpt{{Email: to.Email, Kind: "to"}}, UUID: id,
	})
}

// recipientOf is a user as a mail recipient.
func recipientOf(u *storage.User) compose.Address {
	return compose.Address{Name: strings.TrimSpace(u.FirstName + " " + u.LastName), Email: u.Email}
}

// greeting names the user in a mail.
func greeting(u *storage.User) string {
	if u.FirstName != "" {
		return u.FirstName
	}
	return u.Username
}

// passwordRemind mails a one-time reset link to the account of EmailAddress. An unknown or
// disabled address is answered like a known one, so the command does not tell who has an
// account; a second reminder within a minute sends nothing. Administrators may ask for the
// token and link back (ReturnParams), give the link (CustomResetLink, base64; the token
// replaces %PasswordResetToken% in it, or is appended) and the mail's subject and content.
// Codes: 1 EmailAddress missing, 2 invalid (users.md); gatewayd's 4 no platform sender
// (GATEWAY_PLATFORM_FROM), 5 CustomResetLink not a base64 http(s) URL.
func (a *App) passwordRemind(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	admin := req.Principal.Kind == dispatcher.PrincipalAdmin
	email := strings.TrimSpace(p.String("EmailAddress"))
	if !compose.ValidAddress(email) {
		return nil, dispatcher.Invalid(dispatcher.Field("EmailAddress", 2, "Invalid email address format"))
	}
	returnParams := admin && p.Bool("ReturnParams")
	link := a.Cfg.PublicURL + "/api.php?Command=user.passwordreset&UserID=%PasswordResetToken%"
	if admin && p.Has("CustomResetLink") {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(p.String("CustomResetLink")))
		u, perr := url.Parse(string(b))
		if err != nil || perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(string(b), "\r\n ") {
			return nil, dispatcher.Invalid(dispatcher.Field("CustomResetLink", 5, "Invalid CustomResetLink (a base64-encoded http or https URL)"))
		}
		link = string(b)
		if !strings.Contains(link, "%PasswordResetToken%") {
			link += "%PasswordResetToken%"
		}
	}
	if _, _, _, err := a.platformSender(ctx); err != nil && !returnParams {
		if errors.Is(err, ErrNoPlatformSender) {
			a.Log.Error("user.passwordremind: no platform sender", "err", err)
			return nil, dispatcher.Fail(dispatcher.KindUnprocessable, 4, "Password reset mail cannot be sent: the platform sender is not configured")
		}
		return nil, err
	}
	answer := map[string]any{"ErrorText": "", "PasswordResetToken": "", "PasswordResetLink": ""}
	u, err := a.DB.UserByEmail(ctx, email)
	if isNotFound(err) || (err == nil && !accountEnabled(u)) {
		return answer, nil
	}
	if err != nil {
		return nil, err
	}
	if !admin {
		last, err := a.DB.LastPasswordReset(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		if last > 0 && timeNow().Unix()-last < int64(passwordRemindGap/time.Second) {
			return answer, nil
		}
	}
	token := secret.HexToken(24)
	if err := a.DB.CreatePasswordReset(ctx, u.ID, secret.Hash(token), timeNow().Add(passwordResetLifetime).Unix()); err != nil {
		return nil, err
	}
	resetLink := strings.ReplaceAll(link, "%PasswordResetToken%", url.QueryEscape(token))
	fill := strings.NewReplacer("%PasswordResetLink%", resetLink, "%PasswordResetToken%", token,
		"%Username%", u.Username, "%FirstName%", u.FirstName, "%EmailAddress%", u.Email)
	subject := "Reset your password"
	text := fmt.Sprintf("Hello %s,\r\n\r\nSomeone asked to reset the password of your account %s. To reset it, open this link within %d minutes:\r\n\r\n%s\r\n\r\nThe link works once, and a new password will be mailed to you. If you did not ask for this, ignore this message: your password stays as it is.\r\n",
		greeting(u), u.Username, int(passwordResetLifetime/time.Minute), resetLink)
	html := ""
	if admin && p.Has("ResetEmailSubject") {
		subject = fill.Replace(p.String("ResetEmailSubject"))
	}
	if admin && p.Has("ResetEmailContent") {
		text = fill.Replace(p.String("ResetEmailContent"))
		if strings.Contains(text, "<") && strings.Contains(text, ">") {
			text, html = "", text
		}
	}
	if _, err := a.SendPlatformMail(ctx, recipientOf(u), subject, text, html); err != nil && !returnParams {
		return nil, a.platformMailError(err)
	}
	if returnParams {
		answer["PasswordResetToken"], answer["PasswordResetLink"] = token, resetLink
	}
	return answer, nil
}

// platformMailError answers a platform mail that could not be queued.
func (a *App) platformMailError(err error) error {
	var ce *compose.Error
	if errors.Is(err, ErrNoPlatformSender) || errors.As(err, &ce) || errors.Is(err, ErrAccountDisabled) ||
		errors.Is(err, ErrAccountUnverified) || errors.Is(err, ErrAccountUntrusted) || errors.Is(err, ErrDomainNotEnabled) ||
		errors.Is(err, ErrMonthlyLimit) || errors.As(err, new(*SuppressedError)) {
		a.Log.Error("platform mail refused", "err", err)
		return dispatcher.Fail(dispatcher.KindUnprocessable, 4, "Password reset mail cannot be sent: "+err.Error())
	}
	return err
}

// passwordReset spends a reset token (UserID carries it, as users.md names it): the account
// gets a new random password, mailed to it, and its sessions end. An administrator may set
// the password (NewPassword) and skip the mail (DontSendNewPasswordEmail). ShowPassword puts
// an administrator's NewPassword in the mail too; a generated password is always in it, or
// nobody would know it. Codes: 1 missing, 2 token unknown, used or expired (users.md);
// gatewayd's 3 NewPassword or DontSendNewPasswordEmail without the AdminAPIKey, 4 no
// platform sender (the token is kept), 22 NewPassword shorter than 8 characters.
func (a *App) passwordReset(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	admin := req.Principal.Kind == dispatcher.PrincipalAdmin
	if !admin && (p.Has("NewPassword") || p.Bool("DontSendNewPasswordEmail")) {
		return nil, dispatcher.Fail(dispatcher.KindDenied, 3, "NewPassword and DontSendNewPasswordEmail need the AdminAPIKey")
	}
	password, chosen := p.String("NewPassword"), p.Has("NewPassword")
	if chosen && len(password) < 8 {
		return nil, dispatcher.Invalid(dispatcher.Field("NewPassword", 22, "Password must be at least 8 characters"))
	}
	if !chosen {
		password = secret.Token("", 16)
	}
	mail := !p.Bool("DontSendNewPasswordEmail")
	if mail {
		if _, _, _, err := a.platformSender(ctx); err != nil {
			return nil, a.platformMailError(err)
		}
	}
	hash, err := a.hashPassword(password)
	if err != nil {
		return nil, err
	}
	u, err := a.DB.UsePasswordReset(ctx, secret.Hash(strings.TrimSpace(p.String("UserID"))), hash)
	if isNotFound(err) {
		return nil, dispatcher.Invalid(dispatcher.Field("UserID", 2, "Invalid reset token or user not found"))
	}
	if err != nil {
		return nil, err
	}
	if mail {
		text := fmt.Sprintf("Hello %s,\r\n\r\nThe password of your account %s has been reset.", greeting(u), u.Username)
		if !chosen || p.Bool("ShowPassword") {
			text += " Your new password is:\r\n\r\n    " + password + "\r\n\r\nLog in with it, then change it."
		}
		text += "\r\n"
		if _, err := a.SendPlatformMail(ctx, recipientOf(u), "Your password has been reset", text, ""); err != nil {
			return nil, a.platformMailError(err)
		}
	}
	return map[string]any{"ErrorText": "", "WoocommerceUserId": false}, nil
}
