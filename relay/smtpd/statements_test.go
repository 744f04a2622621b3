package smtpd_test

import (
	"fmt"
	"testing"
)

// statementsPerMessage sends n one-recipient messages the way smtp-source does (a connection
// per message, no AUTH: the client's address is in a credential's AllowedNetworks) one after
// the other, so each is a group commit of its own, and returns the SQL statements the server
// ran per accepted message.
func statementsPerMessage(t testing.TB, f *fixture, n int) float64 {
	t.Helper()
	relayID := f.env.AddDomain(f.user, "relay.example")
	f.env.EnableDomain(relayID)
	f.addSMTP(relayID, "127.0.0.1/32")
	db := f.env.Server.DB
	send := func(i int) {
		c := dial(t, f.addr)
		c.ehlo()
		c.cmd(250, "MAIL FROM:<app@relay.example>")
		c.cmd(250, "RCPT TO:<user%d@dest.test>", i)
		if code, msg := c.data(message("app@relay.example", fmt.Sprintf("user%d@dest.test", i), "count")); code != 250 {
			t.Fatalf("DATA: %d %s", code, msg)
		}
		c.cmd(221, "QUIT")
	}
	send(-1) // warm: caches filled as in a running server
	before := db.Statements()
	for i := 0; i < n; i++ {
		send(i)
	}
	return float64(db.Statements()-before) / float64(n)
}

// TestStatementsPerSMTPMessage counts the statements one accepted SMTP message costs: the
// credentials the client's address may use, with their domains and owners, read by the
// address's first connection and reused by the next ones for a second (not read at every
// connection, nor again at MAIL), the suppression list checked once per recipient (at RCPT,
// not again at DATA), the message, its recipient, its accepted event and the counters of
// its batch.
func TestStatementsPerSMTPMessage(t *testing.T) {
	f := start(t, setup{})
	got := statementsPerMessage(t, f, 10)
	t.Logf("%.1f statements per accepted message", got)
	if want := 6.0; got > want {
		t.Errorf("%.1f statements per accepted SMTP message, want at most %.0f", got, want)
	}
}
