package netpolicy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// DefaultTimeout is the total time one request may take when HTTPClient is
// given no timeout: connect, TLS, request and response.
const DefaultTimeout = 15 * time.Second

// HTTPClient returns an *http.Client for calling tenant-named URLs (webhook
// and callback deliveries). A request may take timeout in all
// (DefaultTimeout when timeout <= 0).
// Redirects are not followed: a 3xx comes back as the response. No proxy is
// taken from the environment. Host names are resolved with the Policy's
// LookupHost, and unless AllowPrivate every address is checked again in the
// dialer's Control hook, just before the connection is made, so a name that
// passed ValidateURL and later resolves to a refused address (DNS rebinding)
// fails with an error wrapping ErrRefused.
//
// Each call builds its own connection pool; keep and reuse the client.
func (p Policy) HTTPClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.Control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           p.dialer(d),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Control is a net.Dialer Control hook: it runs after the socket is made and
// before it connects, with the exact address being dialled, and refuses an
// address p refuses (nothing when AllowPrivate). Every dial to a tenant-named
// destination goes through it, so a name that passed the registration check
// and later resolves to a refused address (DNS rebinding) fails with an
// error wrapping ErrRefused.
func (p Policy) Control(network, address string, _ syscall.RawConn) error {
	if p.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot check address %q", ErrRefused, address)
	}
	if r := p.reason(ap.Addr()); r != "" {
		return fmt.Errorf("%w: %s is %s", ErrRefused, ap.Addr(), r)
	}
	return nil
}

// dialer returns the Transport's DialContext: it reads the host the way
// ValidateURL does, resolves names with the Policy's lookup, and dials the
// addresses in turn, each through d (and so through its Control hook).
func (p Policy) dialer(d *net.Dialer) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		hostname, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", address, err)
		}
		h, err := parseHost(hostname)
		if err != nil {
			return nil, fmt.Errorf("dial %s: %s", address, err)
		}
		var addrs []netip.Addr
		if h.isIP {
			addrs = []netip.Addr{h.addr}
		} else {
			if !p.AllowPrivate {
				if r := refusedName(h.name); r != "" {
					return nil, fmt.Errorf("dial %s: %w: host %s is %s", address, ErrRefused, h.name, r)
				}
			}
			addrs, err = p.resolve(ctx, h.name)
			if err != nil {
				return nil, fmt.Errorf("dial %s: %w", address, err)
			}
		}
		var errs []error
		for _, a := range addrs {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
		return nil, errors.Join(errs...)
	}
}
