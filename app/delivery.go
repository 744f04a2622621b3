package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"

	"gatewayd/internal/metrics"
	"gatewayd/relay/delivery"
	"gatewayd/relay/inbound"
	"gatewayd/relay/outbound"
	"gatewayd/storage"
)

// deliveryParts are the delivery engine, the MX listener and the metrics, made by New and
// run by Run (or by tests through StartDelivery).
type deliveryParts struct {
	Delivery *delivery.Engine
	MX       *inbound.Server // nil unless GATEWAY_MX_ADDR is set
	Metrics  *metrics.Metrics

	deliveryOnce sync.Once
	stopOnce     sync.Once
}

// setupDelivery builds the delivery engine, the MX listener and the metrics, wakes the
// engine on every accepted message, and serves /metrics.
func (s *Server) setupDelivery() error {
	cfg := s.Cfg
	s.Metrics = metrics.New(func(ctx context.Context) (map[string]int64, error) {
		return s.DB.QueueCounts(ctx, true, nil)
	}, storage.UndeliveredStates)
	lookupMX, lookupHost := delivery.Lookups(s.App.Resolver)
	client := outbound.New(outbound.Config{
		HeloName: cfg.Hostname, MXPort: cfg.MXPort, LookupMX: lookupMX, LookupHost: lookupHost,
		UpstreamAllowPrivate: cfg.UpstreamAllowPrivate, MXAllowLocal: cfg.MXAllowLocal,
	})
	eng := delivery.New(s.DB, s.Keys, client, delivery.Config{
		Workers: cfg.Workers, RetryMin: cfg.RetryMin, RetryMax: cfg.RetryMax, QueueLifetime: cfg.QueueLifetime,
		Lease: cfg.DeliveryLease,
	}, s.Log)
	if cfg.DefaultRelay != "" {
		rt, err := outbound.ParseRelayURL(cfg.DefaultRelay)
		if err != nil {
			client.Close()
			return fmt.Errorf("GATEWAY_DEFAULT_RELAY: %w", err)
		}
		eng.DefaultRelay = &rt
	}
	eng.GatewayRoute = s.App.GatewayRoute
	eng.Metrics = s.Metrics
	s.Delivery = eng
	wake := s.App.Enqueued
	s.App.Enqueued = func() {
		s.Metrics.Accepted.Inc()
		eng.Wake()
		if wake != nil {
			wake()
		}
	}
	s.HTTP.Extra = append(s.HTTP.Extra, s.Metrics.Routes(cfg.MetricsToken))
	if cfg.MXAddr != "" {
		mcfg := inbound.Config{Addr: cfg.MXAddr, Hostname: cfg.Hostname, MaxBytes: cfg.SMTPMaxSize + 1<<20, VERPKey: eng.VERPKey()}
		if cfg.TLSCert != "" && cfg.TLSKey != "" {
			cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
			if err != nil {
				client.Close()
				return fmt.Errorf("mx tls: %w", err)
			}
			mcfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
		s.MX = inbound.New(s.DB, mcfg, s.Log)
		s.MX.Metrics = s.Metrics
	}
	return nil
}

// StartDelivery starts the delivery workers and, when configured, the MX listener. Run calls
// it; tests that want mail delivered call it themselves.
func (s *Server) StartDelivery() error {
	var err error
	s.deliveryOnce.Do(func() {
		s.Delivery.Start()
		if s.MX != nil {
			err = s.MX.Start()
		}
	})
	return err
}

// StopDelivery stops the MX listener and the workers (attempts in flight may finish until
// ctx ends) and releases this node's leases. Safe to call more than once.
func (s *Server) StopDelivery(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() {
		if s.MX != nil {
			if e := s.MX.Shutdown(ctx); e != nil && !errors.Is(e, context.DeadlineExceeded) {
				err = e
			}
		}
		if s.Delivery != nil {
			err = errors.Join(err, s.Delivery.Stop(ctx))
		}
	})
	return err
}
