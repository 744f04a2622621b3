package tracking

import (
	"testing"
	"time"
)

func TestIsBot(t *testing.T) {
	const (
		window = 5 * time.Second
		later  = time.Hour
	)
	cases := []struct {
		name   string
		ua     string
		method string
		since  time.Duration
		bot    bool
	}{
		{"Gmail image proxy is a real open", "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", "GET", later, false},
		{"desktop Chrome", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", "GET", later, false},
		{"iPhone Mail", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148", "GET", later, false},
		{"Outlook for Windows images", "Mozilla/4.0 (compatible; ms-office; MSOffice 16)", "GET", later, false},
		{"one-click unsubscribe POST", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15", "POST", later, false},
		{"method left empty means GET", "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "", later, false},
		{"just delivered", "Mozilla/5.0 Firefox/125.0", "GET", 0, true},

		{"empty user agent", "", "GET", later, true},
		{"blank user agent", "   ", "GET", later, true},
		{"HEAD request", "Mozilla/5.0 Firefox/125.0", "HEAD", later, true},
		{"lower-case head", "Mozilla/5.0 Firefox/125.0", "head", later, true},
		{"OPTIONS request", "Mozilla/5.0 Firefox/125.0", "OPTIONS", later, true},
		{"within the window", "Mozilla/5.0 Firefox/125.0", "GET", 2 * time.Second, true},
		{"before the delivery record", "Mozilla/5.0 Firefox/125.0", "GET", -time.Second, true},
		{"Gmail proxy within the window", "Mozilla/5.0 (via ggpht.com GoogleImageProxy)", "GET", time.Second, true},
		{"Barracuda", "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))", "GET", later, true},
		{"Mimecast", "Mimecast-Url-Protect/1.0", "GET", later, true},
		{"Proofpoint", "Mozilla/5.0 (compatible; Proofpoint URL Defense)", "GET", later, true},
		{"BingPreview", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) BingPreview/1.0b", "GET", later, true},
		{"Microsoft Office link check", "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)", "GET", later, true},
		{"Office existence discovery", "Microsoft Office Existence Discovery", "GET", later, true},
		{"SafeLinks", "Mozilla/5.0 SafeLinks", "GET", later, true},
		{"curl", "curl/8.5.0", "GET", later, true},
		{"python-requests", "python-requests/2.31.0", "GET", later, true},
		{"Go", "Go-http-client/1.1", "GET", later, true},
		{"Yahoo Slurp", "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)", "GET", later, true},
		{"Symantec", "Symantec Email Security.cloud", "GET", later, true},
		{"Trend Micro", "Mozilla/5.0 Trend Micro Email Security", "GET", later, true},
		{"LinkCheck", "LinkCheck by Siteimprove.com", "GET", later, true},
		{"Slack unfurl", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "GET", later, true},
		{"case-insensitive", "CURL/7.0", "GET", later, true},
	}
	for _, tc := range cases {
		if got := IsBot(tc.ua, tc.method, tc.since, window); got != tc.bot {
			t.Errorf("%s: IsBot(%q, %q, %v) = %v, want %v", tc.name, tc.ua, tc.method, tc.since, got, tc.bot)
		}
	}
	// A zero window turns the timing check off, and only that check.
	if IsBot("Mozilla/5.0 Firefox/125.0", "GET", 0, 0) {
		t.Error("window 0: a browser GET right at delivery counted as a bot")
	}
	if !IsBot("curl/8.5.0", "GET", later, 0) {
		t.Error("window 0: curl no longer counted as a bot")
	}
}
