// Package metrics owns gatewayd's Prometheus metrics: one registry per server (no global
// state), the counters and histograms the delivery engine and the HTTP surfaces update, the
// gauges read on each scrape (queue depth, webhook backlog), and the /metrics handler.
//
// It lives under internal/ because every layer (HTTP edge, delivery workers, webhook
// dispatcher) reports into it while none of them owns it; it must not reach into storage or
// any other package: what it reads on a scrape is handed to it as functions.
package metrics

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Outcome labels of DeliveryOutcomes.
const (
	OutcomeDelivered = "delivered"
	OutcomeDeferred  = "deferred"
	OutcomeBounced   = "bounced"
	OutcomeFailed    = "failed"
)

// Metrics is one server's set of metrics.
type Metrics struct {
	Registry *prometheus.Registry

	// Accepted counts messages committed by the acceptance path (any surface).
	Accepted prometheus.Counter
	// Outcomes counts recorded delivery attempt outcomes per recipient, by outcome.
	Outcomes *prometheus.CounterVec
	// Attempts observes how long one SMTP attempt took, by route kind (gateway, relay, mx).
	Attempts *prometheus.HistogramVec
	// Inbound counts returned messages recorded by the MX listener, by kind (bounce, delay,
	// complaint, unknown).
	Inbound *prometheus.CounterVec
	// Requests observes HTTP request latency by method, route pattern and status code.
	Requests *prometheus.HistogramVec

	mu      sync.Mutex
	backlog func() float64
}

// New makes the metrics. queueDepth, when set, is called on each scrape for the number of
// recipient rows in each undelivered state.
func New(queueDepth func(ctx context.Context) (map[string]int64, error), states []string) *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.Accepted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatewayd_accepted_messages_total",
		Help: "Messages accepted and committed to the queue (all surfaces).",
	})
	m.Outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatewayd_delivery_outcomes_total",
		Help: "Delivery attempt outcomes per recipient: delivered, deferred, bounced, failed.",
	}, []string{"outcome"})
	for _, o := range []string{OutcomeDelivered, OutcomeDeferred, OutcomeBounced, OutcomeFailed} {
		m.Outcomes.WithLabelValues(o)
	}
	m.Attempts = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatewayd_delivery_attempt_seconds",
		Help:    "Duration of one SMTP delivery attempt (connect or reuse, MAIL, RCPT, DATA), by route kind.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
	}, []string{"route"})
	m.Inbound = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatewayd_inbound_reports_total",
		Help: "Returned messages (DSNs, complaints, unparseable bounces) recorded by the MX listener, by kind.",
	}, []string{"kind"})
	m.Requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatewayd_http_request_duration_seconds",
		Help:    "HTTP request latency by method, route pattern and status code.",
		Buckets: prometheus.DefBuckets,
	}, []string{"method", "route", "code"})
	backlog := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gatewayd_webhook_backlog",
		Help: "Webhook and callback deliveries waiting in the outbox (0 until the webhook dispatcher reports).",
	}, m.webhookBacklog)
	m.Registry.MustRegister(m.Accepted, m.Outcomes, m.Attempts, m.Inbound, m.Requests, backlog,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if queueDepth != nil {
		m.Registry.MustRegister(&queueCollector{depth: queueDepth, states: states, desc: prometheus.NewDesc(
			"gatewayd_queue_depth", "Recipient rows in the delivery queue, by state.", []string{"state"}, nil)})
	}
	return m
}

// SetWebhookBacklog sets the function the webhook backlog gauge reads on each scrape.
func (m *Metrics) SetWebhookBacklog(f func() float64) {
	m.mu.Lock()
	m.backlog = f
	m.mu.Unlock()
}

func (m *Metrics) webhookBacklog() float64 {
	m.mu.Lock()
	f := m.backlog
	m.mu.Unlock()
	if f == nil {
		return 0
	}
	return f()
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Routes returns what registers the request latency middleware on e (for
// dispatcher.HTTP.Extra) and, when token is set, GET /metrics behind it. Without a token the
// main port does not serve /metrics at all: volumes, outcomes and latencies are the operator's.
func (m *Metrics) Routes(token string) func(*echo.Echo) {
	return func(e *echo.Echo) {
		e.Use(m.middleware)
		if token != "" {
			e.GET("/metrics", echo.WrapHandler(Guard(token, m.Handler())))
		}
	}
}

// Guard serves h only to requests carrying "Authorization: Bearer <token>" (compared in
// constant time); others get 401 with a WWW-Authenticate challenge. An empty token lets
// everyone through (a listener the operator has kept private, GATEWAY_METRICS_ADDR).
func Guard(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics: a Bearer token is required (GATEWAY_METRICS_TOKEN)", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (m *Metrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		code := c.Response().Status
		if he, ok := err.(*echo.HTTPError); ok && !c.Response().Committed {
			code = he.Code
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		m.Requests.WithLabelValues(c.Request().Method, route, strconv.Itoa(code)).Observe(time.Since(start).Seconds())
		return err
	}
}

// queueCollector reads the queue depth from the database on each scrape.
type queueCollector struct {
	depth  func(ctx context.Context) (map[string]int64, error)
	states []string
	desc   *prometheus.Desc
}

func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- q.desc }

func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := q.depth(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(q.desc, err)
		return
	}
	for _, s := range q.states {
		ch <- prometheus.MustNewConstMetric(q.desc, prometheus.GaugeValue, float64(counts[s]), s)
	}
}
