package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"gatewayd/app/apptest"
	"gatewayd/config"
	"gatewayd/internal/testkit"
)

// /metrics tells volumes, outcomes and per-route latencies: only the operator may read it.
func TestMetricsNotPublic(t *testing.T) {
	e := apptest.Start(t, nil)
	for _, auth := range []string{"", "Bearer wrong-token", "Bearer " + apptest.MetricsToken + "x", apptest.MetricsToken} {
		h := http.Header{}
		if auth != "" {
			h.Set("Authorization", auth)
		}
		res := e.Do("GET", "/metrics", h, nil)
		if res.Status != http.StatusUnauthorized || strings.Contains(string(res.Body), "gatewayd_") ||
			!strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("GET /metrics with %q: %d %s", auth, res.Status, res.Body)
		}
	}
	if res := e.Metrics(); res.Status != http.StatusOK || !strings.Contains(string(res.Body), "gatewayd_") {
		t.Fatalf("GET /metrics with the token: %d %.200s", res.Status, res.Body)
	}

	// Without GATEWAY_METRICS_TOKEN the main port does not serve /metrics at all.
	open := apptest.Start(t, func(c *config.Config) { c.MetricsToken = "" })
	if res := open.Do("GET", "/metrics", nil, nil); res.Status != http.StatusNotFound || strings.Contains(string(res.Body), "gatewayd_") {
		t.Fatalf("GET /metrics without a configured token: %d %.200s", res.Status, res.Body)
	}
}

// GATEWAY_METRICS_ADDR serves /metrics on a listener of its own, and not on the main port.
func TestMetricsListener(t *testing.T) {
	cfg := apptest.Config(t)
	cfg.HTTPAddr = testkit.FreeAddr(t)
	cfg.MetricsAddr = testkit.FreeAddr(t)
	cfg.MetricsToken = ""
	cfg.SMTPAddrs, cfg.SMTPTLSAddrs = nil, nil
	stop := runServer(t, cfg)
	get := func(url string) (int, string) {
		res, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	var code int
	var body string
	if err := waitFor(func() bool {
		code, body = get("http://" + cfg.MetricsAddr + "/metrics")
		return code != 0
	}); err != nil {
		t.Fatalf("metrics listener: %v", err)
	}
	if code != http.StatusOK || !strings.Contains(body, "gatewayd_") {
		t.Fatalf("metrics listener: %d %.200s", code, body)
	}
	if code, body = get("http://" + cfg.HTTPAddr + "/metrics"); code != http.StatusNotFound {
		t.Fatalf("main port /metrics: %d %.200s", code, body)
	}
	stop()
}
