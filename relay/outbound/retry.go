package outbound

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// retryHint finds "in 300 seconds", "after 5 minutes", "for 2 hours",
// "wait 60s" in reply text.
var retryHint = regexp.MustCompile(`(?i)\b(?:in|after|for|wait)\s+(\d{1,7})\s*(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h)\b`)

// RetryAfter extracts a server's "try again in N seconds/minutes/hours" hint
// from a 4xx reply text ("451 4.7.1 Please try again in 300 seconds",
// "Greylisted, please retry in 5 minutes"). It reports false when the text
// names no delay ("421 4.7.0 Try again later").
func RetryAfter(msg string) (time.Duration, bool) {
	m := retryHint.FindStringSubmatch(msg)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n <= 0 {
		return 0, false
	}
	unit := time.Second
	switch u := strings.ToLower(m[2]); {
	case strings.HasPrefix(u, "m"):
		unit = time.Minute
	case strings.HasPrefix(u, "h"):
		unit = time.Hour
	}
	return time.Duration(n) * unit, true
}
