// Package app wires gatewayd together: configuration in, a running server out. It is a
// top-level package because main and the end-to-end tests must build exactly the same server;
// it owns no behaviour of its own beyond start-up and shutdown order.
package app

import (
	"context"
	"errors"
	"fmt"
	"gatewayd/internal/metrics"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"gatewayd/commands"
	"gatewayd/config"
	"gatewayd/console"
	"gatewayd/dispatcher"
	"gatewayd/secret"
	"gatewayd/storage"
)

// Server is a configured gatewayd.
type Server struct {
	Cfg        *config.Config
	DB         *storage.DB
	Keys       *secret.Keyring
	App        *commands.App
	Registry   *dispatcher.Registry
	Dispatcher *dispatcher.Dispatcher
	HTTP       *dispatcher.HTTP
	Log        *slog.Logger
	// AdminKeyGenerated is set when no GATEWAY_ADMIN_API_KEY was given and one was made.
	AdminKeyGenerated bool
	relayParts        // SMTP submission listeners (relay.go)
	deliveryParts     // delivery engine, MX listener, metrics (delivery.go)
	eventParts        // tracking endpoints and transform, webhook dispatcher (events.go)
}

// Option adjusts the server before commands are registered (tests swap slow parts).
type Option func(*Server)

// New opens the database, applies migrations, loads the server key and registers every command.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opts ...Option) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{Cfg: cfg, Log: log}
	db, err := storage.Open(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	s.DB = db
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if s.Keys, err = secret.Load(cfg.SecretKey, cfg.SecretKeyFile); err != nil {
		db.Close()
		return nil, fmt.Errorf("server key: %w", err)
	}
	if cfg.AdminAPIKey == "" {
		key, generated, err := adminKey(filepath.Join(filepath.Dir(cfg.SecretKeyFile), "admin.key"))
		if err != nil {
			db.Close()
			return nil, err
		}
		cfg.AdminAPIKey, s.AdminKeyGenerated = key, generated
	}
	s.App = commands.NewApp(db, s.Keys, cfg, log)
	for _, o := range opts {
		o(s)
	}
	s.Registry = dispatcher.NewRegistry()
	commands.Register(s.Registry, s.App)
	var limiter *dispatcher.Limiter
	if !cfg.RateLimit.Off {
		limiter = dispatcher.NewLimiter(cfg.RateLimit.N, cfg.RateLimit.Per)
	}
	s.Dispatcher = dispatcher.New(s.Registry, s.App, limiter, log)
	s.HTTP = &dispatcher.HTTP{
		D: s.Dispatcher, BodyLimit: cfg.BodyLimit, SmallBodyLimit: cfg.SmallBodyLimit,
		Limits:   dispatcher.Limits{Depth: cfg.MaxInputNesting, Vars: cfg.MaxInputVars, Elements: cfg.MaxInputValues},
		Inflight: dispatcher.NewInflight(cfg.BodyInflight), InflightWait: cfg.InflightWait,
		Log: log, Health: db.Ping,
	}
	if err := s.setupDelivery(); err != nil {
		s.Close()
		return nil, err
	}
	s.setupEvents()
	con := console.New(s.Dispatcher, log, cfg.Hostname)
	con.SMTPPorts = cfg.SMTPPorts()
	s.HTTP.Extra = append(s.HTTP.Extra, con.Routes)
	return s, nil
}

// adminKey reads the generated admin key file, or creates it (mode 0600).
func adminKey(path string) (key string, generated bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b)), false, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("admin key file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, err
	}
	key = secret.Token("gwadm_", 40)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("admin key file: %w", err)
	}
	return key, true, nil
}

// Handler is the HTTP handler of every surface.
func (s *Server) Handler() http.Handler { return s.HTTP.Echo() }

// Close commits what was accepted and releases the database.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.StopDelivery(ctx)
	s.StopWebhooks(ctx)
	s.App.Close()
	return s.DB.Close()
}

// Run serves until ctx ends, then shuts down gracefully: stop accepting, finish requests in
// flight (up to 30 s), close the database.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.Cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	s.Log.Info("http listening", "addr", ln.Addr().String())
	if err := s.StartRelay(); err != nil {
		ln.Close()
		return err
	}
	if err := s.StartDelivery(); err != nil {
		ln.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return errors.Join(err, s.StopRelay(sctx))
	}
	servers := []*http.Server{srv}
	listeners := []net.Listener{ln}
	if s.Cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", s.Cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return errors.Join(fmt.Errorf("metrics listen: %w", err), s.StopRelay(sctx), s.StopDelivery(sctx))
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics.Guard(s.Cfg.MetricsToken, s.Metrics.Handler()))
		servers = append(servers, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: time.Minute})
		listeners = append(listeners, mln)
		s.Log.Info("metrics listening", "addr", mln.Addr().String())
	}
	s.StartWebhooks()
	s.App.ResumeJobs()
	var wg sync.WaitGroup
	errc := make(chan error, len(servers))
	for i := range servers {
		wg.Add(1)
		go func(srv *http.Server, ln net.Listener) {
			defer wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}(servers[i], listeners[i])
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.Log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, srv := range servers {
		if e := srv.Shutdown(sctx); e != nil {
			err = errors.Join(err, e)
		}
	}
	err = errors.Join(err, s.StopRelay(sctx))
	wg.Wait()
	err = errors.Join(err, s.StopDelivery(sctx), s.StopWebhooks(sctx))
	return err
}
