package inbound_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"gatewayd/relay/bounce"
	"gatewayd/relay/delivery/deliverytest"
	"gatewayd/relay/inbound"
	"gatewayd/storage"
	"gatewayd/storage/storagetest"
)

type env struct {
	t   *testing.T
	db  *storage.DB
	f   *deliverytest.Fixture
	mx  *inbound.Server
	key []byte
}

func start(t *testing.T) *env {
	db := storagetest.Open(t)
	keys := deliverytest.Keys(t)
	f := deliverytest.New(t, db, keys, "mx", "shop.test")
	key := keys.Subkey("verp")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("GATEWAY_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	mx := inbound.New(db, inbound.Config{Addr: "127.0.0.1:0", Hostname: "mx.gateway.test", VERPKey: key, MaxBytes: 1 << 20}, log)
	if err := mx.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		mx.Shutdown(ctx)
	})
	return &env{t: t, db: db, f: f, mx: mx, key: key}
}

// delivered queues a message to addr and records it delivered, as the engine would.
func (e *env) delivered(addr string) *storage.Recipient {
	e.t.Helper()
	ctx := context.Background()
	env := e.f.Send(e.t, addr)
	rows, err := e.db.ClaimDue(ctx, "test", 100, time.Minute, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	var outs []storage.Outcome
	for i := range rows {
		outs = append(outs, storage.Outcome{Recipient: &rows[i], State: storage.StateDelivered, Code: 250, Reply: "250 ok"})
	}
	if _, err := e.db.RecordOutcomes(ctx, outs); err != nil {
		e.t.Fatal(err)
	}
	rs, err := e.db.RecipientsOf(ctx, env.Message.ID)
	if err != nil || len(rs) != 1 || rs[0].State != storage.StateDelivered {
		e.t.Fatalf("fixture row: %+v %v", rs, err)
	}
	return &rs[0]
}

func (e *env) verp(r *storage.Recipient) string {
	return bounce.VERPAddress(e.key, r.ID, e.f.Domain.ReturnPathDomain())
}

// send delivers raw to rcpt over SMTP and returns the RCPT error (nil when accepted) or fails
// the test on any other error.
func (e *env) send(rcpt string, raw []byte) error {
	e.t.Helper()
	c, err := smtp.Dial(e.mx.Addr())
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mta.example.org"); err != nil {
		e.t.Fatal(err)
	}
	if err := c.Mail("", nil); err != nil {
		e.t.Fatal(err)
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := w.Write(raw); err != nil {
		e.t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		e.t.Fatalf("DATA: %v", err)
	}
	return c.Quit()
}

func fixture(t *testing.T, name string) []byte {
	b, err := os.ReadFile("../bounce/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *env) events(r *storage.Recipient, typ string) []storage.Event {
	e.t.Helper()
	evs, err := e.db.MessageEvents(context.Background(), r.MessageID)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []storage.Event
	for _, ev := range evs {
		if ev.Type == typ && ev.RecipientID == r.ID {
			out = append(out, ev)
		}
	}
	return out
}

func (e *env) suppressed(addr string) string {
	e.t.Helper()
	m, err := e.db.Suppressed(context.Background(), e.f.Domain.ID, []string{addr})
	if err != nil {
		e.t.Fatal(err)
	}
	return m[strings.ToLower(addr)]
}

// DSNs and complaints sent to a recipient's VERP address become that recipient's events.
func TestReturnedMessagesBecomeEvents(t *testing.T) {
	e := start(t)
	tests := []struct {
		fixture  string
		rcpt     string
		event    string // "" for nothing recorded
		code     int
		details  string
		state    string
		suppress string
	}{
		{"postfix-hard-5.1.1.eml", "nosuchuser@example.org", storage.EventBounced, 550, "5.1.1", storage.StateBounced, storage.SuppressHardBounce},
		{"exchange-5.7.1.eml", "alice@contoso.example", storage.EventBounced, 550, "5.7.1", storage.StateBounced, ""},
		{"gmail-delayed-4.x.eml", "bob@slowmail.example", storage.EventDeferred, 450, "4.4.1", storage.StateDelivered, ""},
		{"multi-recipient-dsn.eml", "carol.old@example.edu", storage.EventBounced, 550, "5.1.1", storage.StateBounced, storage.SuppressHardBounce},
		{"multi-recipient-dsn.eml", "dave@example.edu", "", 0, "", storage.StateDelivered, ""},
		{"arf-abuse.eml", "erin@mail.example-provider.com", storage.EventComplained, 0, "complaint: abuse", storage.StateDelivered, storage.SuppressComplaint},
		{"plain-text-bounce.eml", "frank@example.org", storage.EventBounced, 0, "without a delivery status report", storage.StateBounced, ""},
		{"malformed-truncated.eml", "grace@example.org", storage.EventBounced, 0, "", storage.StateBounced, ""},
	}
	for _, tc := range tests {
		t.Run(tc.fixture+"/"+tc.rcpt, func(t *testing.T) {
			e.t = t
			r := e.delivered(tc.rcpt)
			if err := e.send(e.verp(r), fixture(t, tc.fixture)); err != nil {
				t.Fatalf("RCPT refused: %v", err)
			}
			for _, typ := range []string{storage.EventBounced, storage.EventDeferred, storage.EventComplained} {
				evs := e.events(r, typ)
				want := 0
				if typ == tc.event {
					want = 1
				}
				if len(evs) != want {
					t.Fatalf("%d %s events, want %d", len(evs), typ, want)
				}
				if want == 1 && (evs[0].Code != tc.code || !strings.Contains(evs[0].Details, tc.details) || evs[0].Email != tc.rcpt) {
					t.Fatalf("event: code %d details %q email %q; want %d, %q, %s", evs[0].Code, evs[0].Details, evs[0].Email, tc.code, tc.details, tc.rcpt)
				}
			}
			got, _ := e.db.RecipientByID(context.Background(), r.ID)
			if got.State != tc.state {
				t.Fatalf("state %s, want %s", got.State, tc.state)
			}
			if s := e.suppressed(tc.rcpt); s != tc.suppress {
				t.Fatalf("suppression %q, want %q", s, tc.suppress)
			}
			// The same report again changes nothing (delay notices are each recorded).
			if tc.event == storage.EventBounced || tc.event == storage.EventComplained {
				if err := e.send(e.verp(r), fixture(t, tc.fixture)); err != nil {
					t.Fatal(err)
				}
				if n := len(e.events(r, tc.event)); n != 1 {
					t.Fatalf("a repeated report made %d %s events", n, tc.event)
				}
			}
		})
	}
}

// Only valid VERP addresses of our recipients, at their domain's return path, are accepted.
func TestOnlyVERPAddressesAccepted(t *testing.T) {
	e := start(t)
	r := e.delivered("someone@example.org")
	good := e.verp(r)
	other := deliverytest.New(t, e.db, deliverytest.Keys(t), "other", "other.test")
	tampered := []byte(good)
	i := len("bounce+") + 3
	tampered[i] = map[bool]byte{true: 'b', false: 'a'}[tampered[i] == 'a']
	for _, rcpt := range []string{
		"postmaster@" + e.f.Domain.ReturnPathDomain(),
		"someone@example.org",
		string(tampered),
		bounce.VERPAddress(e.key, r.ID, other.Domain.ReturnPathDomain()),
		bounce.VERPAddress(e.key, r.ID, e.f.Domain.Name),
		bounce.VERPAddress(e.key, 999999, e.f.Domain.ReturnPathDomain()),
		bounce.VERPAddress([]byte("another key"), r.ID, e.f.Domain.ReturnPathDomain()),
	} {
		err := e.send(rcpt, fixture(t, "postfix-hard-5.1.1.eml"))
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) {
			t.Fatalf("RCPT %s: %v, want 550 5.1.1", rcpt, err)
		}
	}
	if err := e.send(strings.ToUpper(good), fixture(t, "postfix-hard-5.1.1.eml")); err != nil {
		t.Fatalf("upper-cased VERP address refused: %v", err)
	}
	if n := len(e.events(r, storage.EventBounced)); n != 1 {
		t.Fatalf("%d bounced events, want 1", n)
	}
}
