package delivery

import (
	"fmt"
	"testing"
	"time"

	"gatewayd/relay/outbound"
	"gatewayd/storage"
)

func TestBackoffDoublesToMaxWithJitter(t *testing.T) {
	lo, hi := time.Minute, 4*time.Hour
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute,
		32 * time.Minute, 64 * time.Minute, 128 * time.Minute, 4 * time.Hour, 4 * time.Hour, 4 * time.Hour}
	for i, w := range want {
		n := i + 1
		for k := 0; k < 50; k++ {
			d := Backoff(n, lo, hi)
			if d > w || d < w*8/10 {
				t.Fatalf("Backoff(%d) = %s, want within [%s, %s]", n, d, w*8/10, w)
			}
		}
	}
	if d := Backoff(10000, lo, hi); d > hi {
		t.Fatalf("Backoff(10000) = %s, over the maximum", d)
	}
}

func TestDecide(t *testing.T) {
	cfg := Config{RetryMin: time.Minute, RetryMax: 4 * time.Hour, QueueLifetime: 120 * time.Hour}
	now := time.Unix(1_700_000_000, 0)
	fresh := &storage.Recipient{ID: 7, Attempts: 0, CreatedAt: now.Unix() - 10}
	third := &storage.Recipient{ID: 7, Attempts: 2, CreatedAt: now.Unix() - 3600}
	old := &storage.Recipient{ID: 7, Attempts: 40, CreatedAt: now.Add(-120 * time.Hour).Unix()}
	nearEnd := &storage.Recipient{ID: 7, Attempts: 30, CreatedAt: now.Add(-120*time.Hour + 10*time.Minute).Unix()}

	tests := []struct {
		name     string
		r        *storage.Recipient
		res      outbound.Result
		state    string
		suppress string
		minNext  time.Duration // deferred: earliest next attempt after now
		maxNext  time.Duration
		code     int
		reply    string
	}{
		{name: "delivered", r: fresh, res: outbound.Result{Code: 250, Enhanced: "2.0.0", Message: "Ok: queued as 1", Class: outbound.Delivered},
			state: storage.StateDelivered, code: 250, reply: "250 2.0.0 Ok: queued as 1"},
		{name: "first deferral", r: fresh, res: outbound.Result{Code: 451, Enhanced: "4.3.0", Message: "try later", Class: outbound.Deferred},
			state: storage.StateDeferred, minNext: 48 * time.Second, maxNext: time.Minute, code: 451},
		{name: "third deferral doubles twice", r: third, res: outbound.Result{Code: 421, Message: "busy", Class: outbound.Deferred},
			state: storage.StateDeferred, minNext: 192 * time.Second, maxNext: 4 * time.Minute, code: 421},
		{name: "server hint wins", r: fresh, res: outbound.Result{Code: 450, Enhanced: "4.2.0", Message: "Greylisted, please retry in 5 minutes", Class: outbound.Deferred},
			state: storage.StateDeferred, minNext: 5 * time.Minute, maxNext: 5 * time.Minute, code: 450},
		{name: "connection failure", r: fresh, res: outbound.Result{Enhanced: "4.4.1", Message: "connection refused", Class: outbound.Deferred},
			state: storage.StateDeferred, minNext: 48 * time.Second, maxNext: time.Minute, reply: "4.4.1 connection refused"},
		{name: "last try at the end of the lifetime", r: nearEnd, res: outbound.Result{Code: 451, Class: outbound.Deferred},
			state: storage.StateDeferred, minNext: 10 * time.Minute, maxNext: 10 * time.Minute, code: 451},
		{name: "expired", r: old, res: outbound.Result{Code: 451, Enhanced: "4.3.0", Message: "still down", Class: outbound.Deferred},
			state: storage.StateFailed, code: 451, reply: "gave up after 120h0m0s: 451 4.3.0 still down"},
		{name: "hard bounce 5.1.1", r: fresh, res: outbound.Result{Code: 550, Enhanced: "5.1.1", Message: "no such user", Class: outbound.Bounced},
			state: storage.StateBounced, suppress: storage.SuppressHardBounce, code: 550},
		{name: "hard bounce by text", r: fresh, res: outbound.Result{Code: 550, Message: "Recipient address rejected: User unknown in local recipient table", Class: outbound.Bounced},
			state: storage.StateBounced, suppress: storage.SuppressHardBounce, code: 550},
		{name: "null MX", r: fresh, res: outbound.Result{Enhanced: "5.1.10", Message: "does not accept mail", Class: outbound.Bounced},
			state: storage.StateBounced, suppress: storage.SuppressHardBounce},
		{name: "policy rejection is soft", r: fresh, res: outbound.Result{Code: 550, Enhanced: "5.7.1", Message: "rejected as spam; user unknown to us", Class: outbound.Bounced},
			state: storage.StateBounced, code: 550},
		{name: "mailbox full is soft", r: fresh, res: outbound.Result{Code: 552, Enhanced: "5.2.2", Message: "mailbox full", Class: outbound.Bounced},
			state: storage.StateBounced, code: 552},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Decide(tc.r, tc.r.CreatedAt, []string{"t"}, tc.res, now, cfg)
			if o.State != tc.state || o.Suppress != tc.suppress || o.Code != tc.code {
				t.Fatalf("got state %q suppress %q code %d, want %q %q %d", o.State, o.Suppress, o.Code, tc.state, tc.suppress, tc.code)
			}
			if tc.reply != "" && o.Reply != tc.reply {
				t.Fatalf("reply %q, want %q", o.Reply, tc.reply)
			}
			if tc.state == storage.StateDeferred {
				d := time.Unix(o.Next, 0).Sub(now)
				if d < tc.minNext || d > tc.maxNext+time.Second {
					t.Fatalf("next attempt in %s, want %s..%s", d, tc.minNext, tc.maxNext)
				}
			} else if o.Next != 0 {
				t.Fatalf("final outcome with a next attempt %d", o.Next)
			}
			if o.Recipient != tc.r || len(o.Tags) != 1 {
				t.Fatal("outcome lost its recipient or tags")
			}
		})
	}
}

func TestGroupRows(t *testing.T) {
	rows := []storage.Recipient{{ID: 1, MessageID: 10}, {ID: 2, MessageID: 11}, {ID: 3, MessageID: 10}, {ID: 4, MessageID: 10}, {ID: 5, MessageID: 12}}
	gs := groupRows(rows, 2)
	var got [][]int64
	for _, g := range gs {
		var ids []int64
		for _, r := range g.rcpts {
			if r.MessageID != g.messageID {
				t.Fatalf("row %d in group of message %d", r.ID, g.messageID)
			}
			ids = append(ids, r.ID)
		}
		got = append(got, ids)
	}
	want := "[[1 3] [2] [4] [5]]"
	if s := fmt.Sprint(got); s != want {
		t.Fatalf("groups %s, want %s", s, want)
	}
}

// The lifetime of a scheduled message runs from its SendAt, not from its acceptance.
func TestDecideLifetimeFromSendAt(t *testing.T) {
	cfg := Config{RetryMin: time.Minute, RetryMax: time.Hour, QueueLifetime: 24 * time.Hour}
	now := time.Unix(1_700_000_000, 0)
	r := &storage.Recipient{Attempts: 1, CreatedAt: now.Add(-72 * time.Hour).Unix()}
	res := outbound.Result{Code: 451, Class: outbound.Deferred}
	if o := Decide(r, r.CreatedAt, nil, res, now, cfg); o.State != storage.StateFailed {
		t.Fatalf("accepted 72h ago, unscheduled: %s", o.State)
	}
	if o := Decide(r, now.Add(-time.Hour).Unix(), nil, res, now, cfg); o.State != storage.StateDeferred {
		t.Fatalf("scheduled for an hour ago: %s", o.State)
	}
}
