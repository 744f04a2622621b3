package app

import (
	"context"
	"net"

	"gatewayd/relay/smtpd"
)

// relayParts is the SMTP submission server (relay/smtpd) of a running server.
type relayParts struct {
	relay *smtpd.Server
}

// StartRelay binds the SMTP listeners (GATEWAY_SMTP_ADDR with STARTTLS, GATEWAY_SMTP_TLS_ADDR
// with implicit TLS) and serves them in the background.
func (s *Server) StartRelay() error {
	if len(s.Cfg.SMTPAddrs)+len(s.Cfg.SMTPTLSAddrs) == 0 {
		return nil
	}
	r, err := smtpd.Listen(s.Cfg, s.App, s.Log)
	if err != nil {
		return err
	}
	s.relay = r
	r.Start()
	return nil
}

// RelayAddrs lists the SMTP listeners' bound addresses (STARTTLS ones first).
func (s *Server) RelayAddrs() []net.Addr {
	if s.relay == nil {
		return nil
	}
	return s.relay.Addrs()
}

// StopRelay stops accepting SMTP connections, lets transactions in flight finish and closes
// what is left when ctx ends.
func (s *Server) StopRelay(ctx context.Context) error {
	if s.relay == nil {
		return nil
	}
	err := s.relay.Shutdown(ctx)
	s.relay = nil
	return err
}
