package app_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatewayd/commands"
	"gatewayd/config"
	"gatewayd/relay/smtptest"
	"gatewayd/storage"
)

var mailtoUnsub = regexp.MustCompile(`<mailto:(unsubscribe\+[A-Za-z0-9_-]+@bounces\.shop\.test)\?subject=unsubscribe>`)

// With the MX listener running, List-Unsubscribe carries a mailto: address too; mail to it
// unsubscribes the recipient (event and suppression), and a forged address is refused.
func TestUnsubscribeByMail(t *testing.T) {
	d := startDelivery(t, func(cfg *config.Config, _ *smtptest.Server) { cfg.MXAddr = "127.0.0.1:0" })
	d.dom.UnsubscribeLink = true
	if err := d.Server.DB.UpdateDomainOptions(context.Background(), d.dom); err != nil {
		t.Fatal(err)
	}
	m := d.mustAccept("jane@dest.test")
	d.wait(m, 15*time.Second)
	sent := d.sink.WaitMessages(t, 1, 5*time.Second)[0]
	header := string(sent.Data[:strings.Index(string(sent.Data), "\r\n\r\n")])
	match := mailtoUnsub.FindStringSubmatch(header)
	if match == nil || !strings.Contains(header, "List-Unsubscribe-Post: List-Unsubscribe=One-Click") {
		t.Fatalf("no mailto: in List-Unsubscribe:\n%s", header)
	}
	forged := strings.Replace(match[1], "+", "+x", 1)
	if err := sendPlain(d.Server.MX.Addr(), forged, []byte("Subject: unsubscribe\r\n\r\n")); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("forged unsubscribe address: %v", err)
	}
	if err := sendPlain(d.Server.MX.Addr(), match[1], []byte("Subject: unsubscribe\r\n\r\n")); err != nil {
		t.Fatalf("mail to %s: %v", match[1], err)
	}
	if evs := d.events(m, "jane@dest.test"); types(evs) != "accepted,delivered,unsubscribed" {
		t.Fatalf("events: %+v", evs)
	}
	_, err := d.accept("jane@dest.test")
	var se *commands.SuppressedError
	if !errors.As(err, &se) || se.Reason != storage.SuppressUnsubscribe {
		t.Fatalf("send after unsubscribing by mail: %v", err)
	}
}
