// Package commands holds gatewayd's operations, one file per resource. Each file registers its
// commands with the dispatcher through an explicit Register function that main calls; handlers
// take decoded parameters and the principal, call storage, and return results or
// *dispatcher.Error values. No SQL and no HTTP here.
package commands

import (
	"context"
	"errors"
	"gatewayd/internal/throttle"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"gatewayd/config"
	"gatewayd/dispatcher"
	"gatewayd/relay/dkim"
	"gatewayd/relay/outbound"
	"gatewayd/relay/resolve"
	"gatewayd/secret"
	"gatewayd/storage"
)

// App is what every handler needs: the store, the server key, configuration and resolvers.
type App struct {
	DB       *storage.DB
	Keys     *secret.Keyring
	Cfg      *config.Config
	Resolver *resolve.Resolver
	Log      *slog.Logger
	// NewDKIMKey makes a domain's DKIM key pair; tests swap in a cached key.
	NewDKIMKey func() (privPEM []byte, pubB64 string, err error)
	// BcryptCost is the password hashing cost; tests lower it.
	BcryptCost int
	// Logins throttles failed password logins per username and client address
	// (GATEWAY_LOGIN_THROTTLE); nil when off.
	Logins *throttle.Failures
	// Committer group-commits accepted messages.
	Committer *storage.Committer
	// Enqueued, when set, is called after a message is committed (wakes delivery workers).
	Enqueued func()

	// groupLimitCache keeps user groups' limits for the send path, which would otherwise
	// read the group on every message (usergroups.go).
	groupLimitCache memo[int64, GroupLimits]
	// routeCache keeps users' gateway routes for the delivery engine (gateways.go); nil: no
	// usable bound gateway.
	routeCache memo[int64, *outbound.Route]
	// relayNets keeps the senders a client address may relay for without AUTH
	// (smtprelay.go).
	relayNets memo[string, []*RelaySender]
	// senderKeys and senders keep sender API keys, by hash, and their domains and owners for
	// the HTTP send path (auth.go, send.go).
	senderKeys memo[string, *storage.DomainAPIKey]
	senders    memo[[2]int64, sendingAs]
	// dummyHash is a bcrypt hash at BcryptCost for logins of unknown names.
	dummyHash     string
	dummyHashOnce sync.Once
	// jobs runs subscriber import and export jobs in the background (subscriberjobs.go).
	jobs jobRunner
}

// NewApp fills the defaults around the required parts.
func NewApp(db *storage.DB, keys *secret.Keyring, cfg *config.Config, log *slog.Logger) *App {
	if log == nil {
		log = slog.Default()
	}
	var logins *throttle.Failures
	if !cfg.LoginThrottle.Off {
		logins = throttle.New(cfg.LoginThrottle.N, cfg.LoginThrottle.Per)
	}
	return &App{
		Logins:     logins,
		DB:         db,
		Keys:       keys,
		Cfg:        cfg,
		Resolver:   resolve.New(cfg.DNSServer, 5*time.Second),
		Log:        log,
		NewDKIMKey: dkim.GenerateKey,
		BcryptCost: bcrypt.DefaultCost,
		Committer:  storage.NewCommitter(db, 256),
	}
}

// Close stops the committer after committing what was submitted.
func (a *App) Close() {
	a.jobs.stop()
	a.Committer.Close()
}

// Register registers every command of this package. Main calls it once.
func Register(r *dispatcher.Registry, a *App) {
	a.registerAccounts(r)
	a.registerUsers(r)
	a.registerUserGroups(r)
	a.registerPasswordReset(r)
	a.registerDomains(r)
	a.registerSend(r)
	a.registerQueue(r)
	a.registerEvents(r)
	a.registerStats(r)
	a.registerRecipientDomains(r)
	a.registerSMTPRelay(r)
	a.registerAPIKeys(r)
	a.registerSMTP(r)
	a.registerWebhooks(r)
	a.registerSenderDomains(r)
	a.registerGateways(r)
	a.registerLists(r)
	a.registerCustomFields(r)
	a.registerTemplates(r)
	a.registerSuppression(r)
	a.registerSubscribers(r)
	a.registerSubscriberTags(r)
	a.registerSubscriberJobs(r)
	a.registerListReports(r)
	a.registerListAnalytics(r)
	a.registerConsole(r)
}

// hashPassword hashes a password for storage.
func (a *App) hashPassword(pw string) (string, error) {
	b, err := bcrypt.GenerateFromPassword([]byte(pw), a.BcryptCost)
	return string(b), err
}

// dummyPasswordCheck spends what checking a real password would (bcrypt at BcryptCost), so
// a login of an unknown name takes as long as a wrong password of a known one.
func (a *App) dummyPasswordCheck(pw string) {
	a.dummyHashOnce.Do(func() { a.dummyHash, _ = a.hashPassword("not a password of anyone") })
	passwordMatches(a.dummyHash, pw)
}

// passwordMatches compares in constant time (bcrypt does).
func passwordMatches(hash, pw string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// isNotFound reports storage's not-found.
func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }

// userOf returns the calling user (users and senders act for their user).
func (a *App) userOf(ctx context.Context, p *dispatcher.Principal) (*storage.User, error) {
	return a.DB.UserByID(ctx, p.UserID)
}
