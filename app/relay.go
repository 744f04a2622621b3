package app

import (
	"context"
	"errors"
	"net"

	"gatewayd/commands"
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
	r, err := smtpd.Listen(s.Cfg, RelayBackend(s.App), s.Log)
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

// RelayBackend wires the acceptance path of a into the SMTP server: the credential checks and
// the envelope policy of the commands layer, and AcceptRaw, which commits through the same
// group commit as every other send. Its refusals become the replies of commands.RelayReplyFor.
func RelayBackend(a *commands.App) smtpd.Backend { return relayBackend{a} }

type relayBackend struct{ a *commands.App }

// relaySender is a commands.RelaySender as the SMTP server sees it.
type relaySender struct{ *commands.RelaySender }

func (s relaySender) CredentialID() int64 { return s.Credential.ID }
func (s relaySender) DomainName() string  { return s.Domain.Name }

func unwrapSender(s smtpd.Sender) *commands.RelaySender { return s.(relaySender).RelaySender }

func (b relayBackend) Login(ctx context.Context, username, password string) (smtpd.Sender, error) {
	s, err := b.a.RelayLogin(ctx, username, password)
	if errors.Is(err, commands.ErrSMTPAuth) {
		return nil, smtpd.ErrAuthFailed
	}
	if errors.Is(err, commands.ErrAccountDisabled) {
		// An AUTH failure (RFC 4954's 535), saying why: the credentials were right.
		return nil, &smtpd.Reply{Code: 535, Enhanced: [3]int{5, 7, 8}, Text: "Authentication refused: the account is disabled"}
	}
	if err != nil {
		return nil, relayRefusal(err)
	}
	return relaySender{s}, nil
}

func (b relayBackend) NetworkSenders(ctx context.Context, ip net.IP) ([]smtpd.Sender, error) {
	ss, err := b.a.RelayNetworkSenders(ctx, ip)
	if err != nil {
		return nil, relayRefusal(err)
	}
	out := make([]smtpd.Sender, len(ss))
	for i, s := range ss {
		out[i] = relaySender{s}
	}
	return out, nil
}

func (b relayBackend) Mail(ctx context.Context, candidates []smtpd.Sender, from string, fresh bool) (smtpd.Sender, error) {
	cs := make([]*commands.RelaySender, len(candidates))
	for i, c := range candidates {
		cs[i] = unwrapSender(c)
	}
	s, err := b.a.RelayMail(ctx, cs, from, fresh)
	if err != nil {
		return nil, relayRefusal(err)
	}
	return relaySender{s}, nil
}

func (b relayBackend) Rcpt(ctx context.Context, s smtpd.Sender, to string) error {
	return relayRefusal(b.a.RelayRcpt(ctx, unwrapSender(s), to))
}

func (b relayBackend) Accept(ctx context.Context, m *smtpd.Message) (string, error) {
	msg, err := b.a.AcceptRaw(ctx, &commands.RawSubmission{
		Sender: unwrapSender(m.Sender), MailFrom: m.MailFrom, Rcpts: m.Rcpts, Raw: m.Raw, Trace: m.Trace,
		RcptsChecked: true,
	})
	if err != nil {
		return "", relayRefusal(err)
	}
	return msg.UUID, nil
}

// relayRefusal turns a refusal of the relay path into the SMTP server's *smtpd.Reply;
// anything else (a failure of ours) passes unchanged.
func relayRefusal(err error) error {
	r, ok := commands.RelayReplyFor(err)
	if !ok {
		return err
	}
	return &smtpd.Reply{Code: r.Code, Enhanced: r.Enhanced, Text: r.Text}
}
