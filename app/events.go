package app

import (
	"context"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"gatewayd/commands"
	"gatewayd/relay/delivery"
	"gatewayd/webhooks"
)

// eventParts are open/click/unsubscribe tracking and the webhook and callback dispatcher,
// made by New and run by Run (or by tests through StartWebhooks).
type eventParts struct {
	Tracker  *commands.Tracker
	Webhooks *webhooks.Dispatcher

	webhooksMu     sync.Mutex
	webhooksCancel context.CancelFunc
	webhooksDone   chan struct{}
}

// setupEvents makes the tracker (the /t/ endpoints and the delivery engine's per-recipient
// transform) and the webhook dispatcher, and reports the outbox backlog to /metrics.
func (s *Server) setupEvents() {
	s.Tracker = commands.NewTracker(s.App)
	s.Webhooks = s.App.WebhookDispatcher(delivery.NodeName())
	s.Tracker.Notify = s.Webhooks.Notify
	tracker := echo.WrapHandler(s.Tracker.Handler())
	s.HTTP.Extra = append(s.HTTP.Extra, func(e *echo.Echo) { e.Any("/t/*", tracker) })
	if s.Delivery != nil {
		s.Delivery.Transform = s.Tracker.Transform
	}
	if s.MX != nil {
		// The MX listener takes the mailto: form of List-Unsubscribe, so offer it.
		s.MX.Unsubscribe = s.Tracker
		s.Tracker.Mailto = true
	}
	if s.Metrics != nil {
		s.Metrics.SetWebhookBacklog(func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			n, err := s.DB.OutboxBacklog(ctx)
			if err != nil {
				return 0
			}
			return float64(n)
		})
	}
	// Accepted messages may have PROCESSED callbacks to send.
	wake := s.App.Enqueued
	s.App.Enqueued = func() {
		s.Webhooks.Notify()
		if wake != nil {
			wake()
		}
	}
}

// StartWebhooks starts the webhook and callback dispatcher. Run calls it; tests that want
// webhooks delivered call it themselves. Starting twice is a no-op.
func (s *Server) StartWebhooks() {
	s.webhooksMu.Lock()
	defer s.webhooksMu.Unlock()
	if s.webhooksDone != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.webhooksCancel, s.webhooksDone = cancel, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		s.Webhooks.Run(ctx)
	}(s.webhooksDone)
}

// StopWebhooks stops the dispatcher: requests in flight are cancelled and their rows given
// back to the outbox for the next start (or another node). Safe to call more than once.
func (s *Server) StopWebhooks(ctx context.Context) error {
	s.webhooksMu.Lock()
	cancel, done := s.webhooksCancel, s.webhooksDone
	s.webhooksMu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
