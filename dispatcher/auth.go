package dispatcher

import (
	"context"
	"errors"
	"strings"
)

// Credentials are what a caller presented, gathered by the surface from parameters and headers.
type Credentials struct {
	SessionID    string
	APIKey       string
	AdminAPIKey  string
	SenderAPIKey string
}

// Empty reports whether nothing was presented.
func (c Credentials) Empty() bool {
	return c.SessionID == "" && c.APIKey == "" && c.AdminAPIKey == "" && c.SenderAPIKey == ""
}

// PrincipalKind says who is calling.
type PrincipalKind uint8

const (
	PrincipalNone PrincipalKind = iota
	PrincipalAdmin
	PrincipalUser
	PrincipalSender
)

// Principal is the authenticated caller.
type Principal struct {
	Kind        PrincipalKind
	UserID      int64 // users and senders (the domain's owner)
	DomainID    int64 // senders: the domain the key belongs to
	KeyID       int64 // senders: the sender API key row
	Permissions []string
	// RateKey identifies the caller's rate-limit bucket.
	RateKey string
}

// Can reports whether the principal holds perm.
func (p *Principal) Can(perm string) bool {
	if perm == "" || p.Kind == PrincipalAdmin {
		return true
	}
	for _, have := range p.Permissions {
		if have == "*" || strings.EqualFold(have, perm) {
			return true
		}
	}
	return false
}

// Authenticator resolves credentials to a principal. It returns ErrNoCredentials when none of
// the accepted kinds was presented and ErrBadCredentials when one was presented and is wrong.
type Authenticator interface {
	Authenticate(ctx context.Context, creds Credentials, accept Auth) (*Principal, error)
}

var (
	ErrNoCredentials  = errors.New("no credentials")
	ErrBadCredentials = errors.New("bad credentials")
)
