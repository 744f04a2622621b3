package app_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatewayd/commands"
	"gatewayd/storage"
)

// A sender domain's TrackPrefix, TrackMerge and TrackPrefixDisabled (octeth-5.9.4) choose the
// host of the tracking links in the mail the sink receives: TrackPrefix + TrackMerge +
// Subdomain + domain, the MFROM domain when disabled, GATEWAY_PUBLIC_URL's host by default.
// The links work whatever host they name.
func TestTrackingHostOfDomain(t *testing.T) {
	d := startDelivery(t, nil)
	ctx := context.Background()
	clickLink := regexp.MustCompile(`href="(http://[^/"]+)(/t/c/[A-Za-z0-9_-]+)"`)
	sends := 0
	send := func() (host, path string) {
		t.Helper()
		msgSeq++
		mid := strconv.Itoa(msgSeq) + "." + strconv.FormatInt(time.Now().UnixNano(), 36) + "@shop.test"
		raw := "From: Shop <orders@shop.test>\r\nTo: jane@dest.test\r\nSubject: Sale\r\nMessage-ID: <" + mid + ">\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
			"<html><body><a href=\"https://shop.test/sale\">Sale</a></body></html>\r\n"
		s := &commands.Submission{User: d.user, Domain: d.dom, Source: "api", MailFrom: "orders@shop.test", Subject: "Sale",
			Raw: []byte(raw), HeaderMessageID: mid, TrackLinks: true, Recipients: []commands.Rcpt{{Email: "jane@dest.test", Kind: "to"}}}
		m, err := d.Server.App.Accept(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		d.wait(m, 15*time.Second)
		sends++
		got := d.sink.WaitMessages(t, sends, 5*time.Second)
		data := string(got[len(got)-1].Data)
		match := clickLink.FindStringSubmatch(strings.ReplaceAll(data, "=\r\n", ""))
		if match == nil {
			t.Fatalf("no tracked link in the mail at the sink:\n%s", data)
		}
		return match[1], match[2]
	}
	set := func(prefix, merge, sub string, disabled bool) {
		t.Helper()
		d.dom.TrackPrefix, d.dom.TrackMerge, d.dom.Subdomain, d.dom.TrackPrefixDisabled = prefix, merge, sub, disabled
		if err := d.Server.DB.UpdateDomainOptions(ctx, d.dom); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		prefix, merge, sub string
		disabled           bool
		host               string
	}{
		{"", "", "", false, "http://track.gateway.test"},
		{"links", "", "", false, "http://links.shop.test"},
		{"links", "", "outbound", false, "http://links.outbound.shop.test"},
		{"links", "-", "outbound", false, "http://links-outbound.shop.test"},
		{"links", "-", "outbound", true, "http://bounces.shop.test"},
	} {
		set(c.prefix, c.merge, c.sub, c.disabled)
		host, path := send()
		if host != c.host {
			t.Fatalf("TrackPrefix %q TrackMerge %q Subdomain %q disabled %v: link on %s, want %s", c.prefix, c.merge, c.sub, c.disabled, host, c.host)
		}
		if c.disabled && strings.Contains(host, "links") {
			t.Fatalf("disabled prefix still in %s", host)
		}
		res := get(t, d.Env, path, http.Header{"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64)"}})
		if res.Status != http.StatusFound || res.Header.Get("Location") != "https://shop.test/sale" {
			t.Fatalf("click on %s%s: %d %q", host, path, res.Status, res.Header.Get("Location"))
		}
	}
	evs, _, err := d.Server.DB.Events(ctx, storage.EventFilter{DomainIDs: []int64{d.dom.ID}, Types: []string{storage.EventClicked}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 5 {
		t.Fatalf("%d click events, want 5", len(evs))
	}
}
