package tracking

import (
	"strings"
	"time"
)

// botAgents are lower-cased substrings of the user agents of mail security
// scanners, link checkers, prefetchers, chat unfurlers and HTTP libraries.
// GoogleImageProxy is deliberately absent: Gmail fetches images through it
// when the recipient opens the message, so it is a real open. "ms-office"
// (Outlook for Windows rendering images) is absent for the same reason.
func botAgents() []string {
	return []string{
		"barracuda",
		"mimecast",
		"proofpoint",
		"bingpreview",
		"microsoft office/",
		"microsoft office existence discovery",
		"microsoft office protocol discovery",
		"safelinks",
		"linkcheck",
		"yahoo! slurp",
		"yahoo slurp",
		"symantec",
		"messagelabs",
		"trend micro",
		"trendmicro",
		"ironport",
		"forcepoint",
		"fortiguard",
		"sophos",
		"zscaler",
		"spamtitan",
		"appriver",
		"cloudmark",
		"googlebot",
		"bingbot",
		"slackbot",
		"twitterbot",
		"facebookexternalhit",
		"linkedinbot",
		"discordbot",
		"telegrambot",
		"headlesschrome",
		"phantomjs",
		"curl/",
		"wget/",
		"python-requests",
		"python-urllib",
		"aiohttp",
		"go-http-client",
		"java/",
		"apache-httpclient",
		"libwww-perl",
	}
}

// IsBot reports whether an open or click looks machine-made rather than
// human: a known scanner or library user agent (or none at all), a method
// other than GET or POST (HEAD link checks), or a request arriving less than
// window after delivery, which no person reading mail manages. A negative
// sinceDelivery (the request beat the delivery record) counts as within the
// window; a window of zero or less turns the timing check off.
func IsBot(userAgent, method string, sinceDelivery, window time.Duration) bool {
	switch strings.ToUpper(method) {
	case "", "GET", "POST":
	default:
		return true
	}
	ua := strings.ToLower(strings.TrimSpace(userAgent))
	if ua == "" {
		return true
	}
	for _, a := range botAgents() {
		if strings.Contains(ua, a) {
			return true
		}
	}
	return window > 0 && sinceDelivery < window
}
