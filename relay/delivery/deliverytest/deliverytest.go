// Package deliverytest builds queue fixtures for tests of the delivery engine, the MX
// listener and the queue tools: a tenant with an Enabled sender domain (a real DKIM key,
// sealed with the test server key) and messages enqueued straight through storage.
//
// It is test support only: production code must not import it.
package deliverytest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"gatewayd/internal/testkit"
	"gatewayd/relay/dkim"
	"gatewayd/secret"
	"gatewayd/storage"
)

// SecretHex is the server key of every fixture.
var SecretHex = strings.Repeat("cd", 32)

// DKIMKey returns one 2048-bit key per test binary.
var DKIMKey = testkit.DKIMKey

// Keys returns the fixtures' keyring.
func Keys(t testing.TB) *secret.Keyring {
	t.Helper()
	k, err := secret.FromHex(SecretHex)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Fixture is a tenant with one Enabled sender domain.
type Fixture struct {
	DB     *storage.DB
	Keys   *secret.Keyring
	User   *storage.User
	Domain *storage.SenderDomain
	n      int
	mu     sync.Mutex
}

// New creates the tenant name with the sender domain.
func New(t testing.TB, db *storage.DB, keys *secret.Keyring, name, domain string) *Fixture {
	t.Helper()
	ctx := context.Background()
	u := &storage.User{GroupID: 1, Username: name, Email: name + "@users.test", PasswordHash: "x", FirstName: name,
		TimeZone: "UTC", Language: "en", AccountStatus: "Enabled", ReputationLevel: "Trusted", Verified: true}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatalf("create user: %v", err)
	}
	priv, pub, err := DKIMKey()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := keys.Encrypt(priv)
	if err != nil {
		t.Fatal(err)
	}
	whsec, _ := keys.Encrypt([]byte("whsec_test"))
	d := &storage.SenderDomain{UserID: u.ID, Name: domain, Status: storage.DomainEnabled, DKIMSelector: dkim.NewSelector(),
		DKIMPrivateEnc: enc, DKIMPublic: pub, SigningKeyEnc: whsec}
	if err := db.CreateDomain(ctx, d, 0); err != nil {
		t.Fatalf("create domain: %v", err)
	}
	return &Fixture{DB: db, Keys: keys, User: u, Domain: d}
}

// TXT is the DKIM record name and value to publish for the fixture's domain.
func (f *Fixture) TXT() (name, value string) {
	return f.Domain.DKIMSelector + "._domainkey." + f.Domain.Name, dkim.TXTRecord(f.Domain.DKIMPublic)
}

// Raw is a small RFC 5322 message from the fixture's domain with Message-ID <msgID>.
func (f *Fixture) Raw(to []string, subject, msgID string) []byte {
	return []byte("From: Sender <sender@" + f.Domain.Name + ">\r\n" +
		"To: " + strings.Join(to, ", ") + "\r\n" +
		"Subject: " + subject + "\r\n" +
		"Date: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: <" + msgID + ">\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"Hello from " + f.Domain.Name + ".\r\n" +
		".leading dot line\r\n")
}

// Envelope builds one message to rcpts (not yet stored). Its Message-ID is
// <n.fixture@domain> with n counting from 1.
func (f *Fixture) Envelope(rcpts ...string) *storage.Envelope {
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	id := fmt.Sprintf("%d.fixture@%s", n, f.Domain.Name)
	m := &storage.Message{UUID: uuid.NewString(), DomainID: f.Domain.ID, UserID: f.User.ID,
		Source: "api", MailFrom: "sender@" + f.Domain.Name, Subject: fmt.Sprintf("message %d", n), Tags: `["fixture"]`,
		HeaderMessageID: id, Raw: f.Raw(rcpts, fmt.Sprintf("message %d", n), id)}
	env := &storage.Envelope{Message: m}
	for _, r := range rcpts {
		env.Recipients = append(env.Recipients, &storage.Recipient{Email: r, Kind: "to"})
	}
	return env
}

// Enqueue stores envs in batches of 200 and fails the test on any error.
func (f *Fixture) Enqueue(t testing.TB, envs ...*storage.Envelope) {
	t.Helper()
	for len(envs) > 0 {
		n := min(len(envs), 200)
		errs, err := f.DB.Enqueue(context.Background(), envs[:n])
		if err != nil {
			t.Fatalf("enqueue: %v", err)
		}
		for _, e := range errs {
			if e != nil {
				t.Fatalf("enqueue: %v", e)
			}
		}
		envs = envs[n:]
	}
}

// Send enqueues one message to rcpts and returns it with its recipient rows.
func (f *Fixture) Send(t testing.TB, rcpts ...string) *storage.Envelope {
	t.Helper()
	env := f.Envelope(rcpts...)
	f.Enqueue(t, env)
	return env
}

// WaitState waits until every recipient row of env is in one of states, or fails the test.
func WaitState(t testing.TB, db *storage.DB, env *storage.Envelope, timeout time.Duration, states ...string) []storage.Recipient {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rs, err := db.RecipientsOf(context.Background(), env.Message.ID)
		if err != nil {
			t.Fatal(err)
		}
		done := len(rs) > 0
		for _, r := range rs {
			ok := false
			for _, s := range states {
				ok = ok || r.State == s
			}
			done = done && ok
		}
		if done {
			return rs
		}
		if time.Now().After(deadline) {
			var got []string
			for _, r := range rs {
				got = append(got, r.Email+"="+r.State+" ("+r.LastReply+")")
			}
			t.Fatalf("recipients of message %d not %v after %s: %v", env.Message.ID, states, timeout, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
