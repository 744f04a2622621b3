package outbound

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-smtp"
)

// reply is an outcome shared by several recipients.
type reply struct {
	code     int
	enhanced string
	message  string
	class    Class
}

func classify(code int) Class {
	switch code / 100 {
	case 2:
		return Delivered
	case 5:
		return Bounced
	}
	return Deferred
}

// fromCheck: a route that cannot be opened defers every recipient, whatever
// the server said (a refused AUTH or greeting is the route's problem, not the
// recipient's).
func fromCheck(e *CheckError) reply {
	msg := e.Message
	if e.Code != 0 && e.Stage != StageConnect {
		msg = fmt.Sprintf("%s: %s", strings.ToUpper(e.Stage), msg)
	}
	return reply{code: e.Code, enhanced: e.Enhanced, message: msg, class: Deferred}
}

// fromErr classifies the error of one SMTP command. fatal means the
// connection cannot carry another command (network error, 421).
func fromErr(ctx context.Context, err error) (r reply, fatal bool) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return reply{code: se.Code, enhanced: enhanced(se.EnhancedCode), message: oneLine(se.Message), class: classify(se.Code)},
			se.Code == 421
	}
	msg := err.Error()
	if cerr := ctx.Err(); cerr != nil {
		msg = fmt.Sprintf("delivery interrupted: %v", cerr)
	}
	return reply{enhanced: "4.4.2", message: msg, class: Deferred}, true
}

func results(env Envelope, r reply) []Result {
	out := make([]Result, len(env.To))
	for i, to := range env.To {
		out[i] = Result{Recipient: to, Code: r.code, Enhanced: r.enhanced, Message: r.message, Class: r.class}
	}
	return out
}

func set(out []Result, idx []int, r reply) {
	for _, i := range idx {
		out[i] = Result{Recipient: out[i].Recipient, Code: r.code, Enhanced: r.enhanced, Message: r.message, Class: r.class}
	}
}

// Send delivers env through route and returns one Result per recipient, in
// the order of env.To. A rejection of MAIL FROM or of the message (DATA)
// applies to every recipient concerned; RCPT rejections are per recipient;
// recipients accepted at RCPT get the reply to DATA. A route that cannot be
// opened (connection, TLS, EHLO, AUTH) defers everyone. The error is only for
// an invalid route or envelope, or a closed Client.
func (c *Client) Send(ctx context.Context, route Route, env Envelope) ([]Result, error) {
	rt, err := route.normalize()
	if err != nil {
		return nil, err
	}
	if err := env.validate(); err != nil {
		return nil, err
	}
	res, cerr, err := c.attempt(ctx, rt, env)
	if err != nil {
		return nil, err
	}
	if cerr != nil {
		return results(env, fromCheck(cerr)), nil
	}
	return res, nil
}

// attempt runs one transaction on a pooled connection to rt. It returns the
// per-recipient results, or a CheckError when no connection could be
// opened, or ErrClosed.
func (c *Client) attempt(ctx context.Context, rt Route, env Envelope) ([]Result, *CheckError, error) {
	if err := ctx.Err(); err != nil {
		return nil, &CheckError{Stage: StageConnect, Enhanced: "4.4.5", Message: err.Error(), Err: err}, nil
	}
	p, err := c.acquire(ctx, rt)
	if errors.Is(err, ErrClosed) {
		return nil, nil, err
	}
	if err != nil {
		return nil, &CheckError{Stage: StageConnect, Enhanced: "4.4.5",
			Message: fmt.Sprintf("waiting for a connection to %s: %v", rt, err), Err: err}, nil
	}
	cn, cerr := c.checkout(ctx, p, rt)
	if cerr != nil {
		c.release(p, nil, false)
		return nil, cerr, nil
	}
	res, reusable := c.transact(ctx, cn, env)
	c.release(p, cn, reusable)
	return res, nil, nil
}

// transact runs MAIL, RCPT and DATA on cn. reusable is false when the
// connection must not carry another transaction.
func (c *Client) transact(ctx context.Context, cn *conn, env Envelope) (out []Result, reusable bool) {
	out = results(env, reply{})
	stop := context.AfterFunc(ctx, func() { cn.raw.Close() })
	reusable = true
	defer func() {
		if !stop() {
			reusable = false
		}
	}()
	all := make([]int, len(env.To))
	for i := range all {
		all[i] = i
	}

	needUTF8 := !isASCII(env.From) || slices.ContainsFunc(env.To, func(s string) bool { return !isASCII(s) })
	if needUTF8 {
		if ok, _ := cn.sc.Extension("SMTPUTF8"); !ok {
			set(out, all, reply{enhanced: "5.6.7", class: Bounced,
				message: "the receiving server does not support SMTPUTF8, needed for internationalized addresses"})
			return out, true
		}
	}

	if err := cn.sc.Mail(env.From, &smtp.MailOptions{Size: int64(len(env.Data)), UTF8: needUTF8}); err != nil {
		r, fatal := fromErr(ctx, err)
		set(out, all, r)
		return out, !fatal
	}

	var accepted []int
	for i, to := range env.To {
		err := cn.sc.Rcpt(to, nil)
		if err == nil {
			accepted = append(accepted, i)
			continue
		}
		r, fatal := fromErr(ctx, err)
		if fatal {
			set(out, append(accepted, all[i:]...), r)
			return out, false
		}
		set(out, []int{i}, r)
	}
	if len(accepted) == 0 {
		return out, true
	}

	w, err := cn.sc.Data()
	if err != nil {
		r, fatal := fromErr(ctx, err)
		set(out, accepted, r)
		return out, !fatal
	}
	if err := cn.wire.SetDeadline(time.Now().Add(c.cfg.DataTimeout)); err != nil {
		r, _ := fromErr(ctx, err)
		set(out, accepted, r)
		return out, false
	}
	if _, err := w.Write(env.Data); err != nil {
		r, _ := fromErr(ctx, err)
		set(out, accepted, r)
		return out, false
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		r, fatal := fromErr(ctx, err)
		set(out, accepted, r)
		return out, !fatal
	}
	enh, msg := splitEnhanced(resp.StatusText)
	set(out, accepted, reply{code: 250, enhanced: enh, message: msg, class: Delivered})
	return out, true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// SendMX delivers env to the MX hosts of domain (the recipients' domain) in
// preference order, equal preferences shuffled, on port Config.MXPort. A
// domain without MX records is its own mail host (RFC 5321 section 5.1); a
// null MX (RFC 7505) bounces. The next host is tried when a host cannot be
// reached or answers 4xx to the greeting or EHLO; once a transaction starts,
// its replies are final. TLS is opportunistic and unverified, as between
// MTAs: STARTTLS when offered, and when STARTTLS fails the same host is
// tried once more in clear text. Unless Config.MXAllowLocal, a host whose
// addresses are all loopback, unspecified, link-local or metadata addresses
// is not connected to (internal/netpolicy, checked on the address dialled);
// when that is true of every MX host the recipients bounce (5.4.4), as
// Postfix bounces mail whose MX loops back to itself.
func (c *Client) SendMX(ctx context.Context, domain string, env Envelope) ([]Result, error) {
	domain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), "."))
	if domain == "" {
		return nil, errors.New("outbound: empty recipient domain")
	}
	if err := env.validate(); err != nil {
		return nil, err
	}
	hosts, r := c.mxHosts(ctx, domain)
	if r != nil {
		return results(env, *r), nil
	}

	last := reply{enhanced: "4.4.1", message: "no MX host tried", class: Deferred}
	allRefused := true
	for _, h := range hosts {
		rt := Route{Host: h, Port: c.cfg.MXPort, Encryption: EncryptionSTARTTLS, InsecureSkipVerify: true, mx: true}
		res, cerr, err := c.attempt(ctx, rt, env)
		if err != nil {
			return nil, err
		}
		if cerr != nil && cerr.tlsFailed {
			rt.Encryption = EncryptionNone
			res, cerr, err = c.attempt(ctx, rt, env)
			if err != nil {
				return nil, err
			}
		}
		if cerr == nil {
			return res, nil
		}
		if cerr.Code >= 500 && cerr.Code < 600 {
			// The host refuses us outright at the greeting or EHLO.
			return results(env, reply{code: cerr.Code, enhanced: cerr.Enhanced,
				message: fmt.Sprintf("%s: %s", h, cerr.Message), class: Bounced}), nil
		}
		allRefused = allRefused && cerr.refused
		last = fromCheck(cerr)
		if !cerr.refused { // a refusal names its host already
			last.message = fmt.Sprintf("%s: %s", h, last.message)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(hosts) > 1 {
		last.message = fmt.Sprintf("all %d MX hosts of %s failed; last: %s", len(hosts), domain, last.message)
	}
	if allRefused && len(hosts) > 0 && ctx.Err() == nil {
		last = reply{enhanced: "5.4.4", class: Bounced, message: fmt.Sprintf(
			"the MX hosts of %s are local or link-local addresses, which direct delivery does not connect to (%s)",
			domain, last.message)}
	}
	return results(env, last), nil
}

// mxHosts lists the hosts to try for domain, or the reply that ends the
// attempt (DNS failure, null MX, no such domain).
func (c *Client) mxHosts(ctx context.Context, domain string) ([]string, *reply) {
	lctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	mxs, err := c.cfg.LookupMX(lctx, domain)
	if err != nil && !isNotFound(err) {
		return nil, &reply{enhanced: "4.4.3", message: fmt.Sprintf("MX lookup for %s: %v", domain, err), class: Deferred}
	}
	var usable []*net.MX
	null := false
	for _, mx := range mxs {
		if mx == nil {
			continue
		}
		if h := strings.TrimSuffix(mx.Host, "."); h == "" {
			null = true
			continue
		}
		usable = append(usable, mx)
	}
	if len(usable) == 0 && null {
		return nil, &reply{enhanced: "5.1.10", message: fmt.Sprintf("%s does not accept mail (null MX)", domain), class: Bounced}
	}
	if len(usable) == 0 {
		addrs, err := c.cfg.LookupHost(lctx, domain)
		switch {
		case err != nil && !isNotFound(err):
			return nil, &reply{enhanced: "4.4.3", message: fmt.Sprintf("address lookup for %s: %v", domain, err), class: Deferred}
		case err != nil || len(addrs) == 0:
			return nil, &reply{enhanced: "5.1.2", message: fmt.Sprintf("%s has no MX and no address record", domain), class: Bounced}
		}
		return []string{domain}, nil
	}
	rand.Shuffle(len(usable), func(i, j int) { usable[i], usable[j] = usable[j], usable[i] })
	slices.SortStableFunc(usable, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	hosts := make([]string, 0, len(usable))
	for _, mx := range usable {
		h := strings.ToLower(strings.TrimSuffix(mx.Host, "."))
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts, nil
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}
