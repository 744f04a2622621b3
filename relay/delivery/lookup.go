package delivery

import (
	"context"
	"errors"
	"net"

	"gatewayd/relay/resolve"
)

// Lookups adapts a resolve.Resolver to the lookup functions relay/outbound takes: "no such
// record" becomes a not-found *net.DNSError (so a domain without MX falls back to its
// address records, and one without either bounces) and a null MX becomes the "." record
// outbound treats as "accepts no mail".
func Lookups(r *resolve.Resolver) (lookupMX func(ctx context.Context, domain string) ([]*net.MX, error),
	lookupHost func(ctx context.Context, host string) ([]string, error)) {
	lookupMX = func(ctx context.Context, domain string) ([]*net.MX, error) {
		mxs, err := r.LookupMX(ctx, domain)
		switch {
		case errors.Is(err, resolve.ErrNullMX):
			return []*net.MX{{Host: ".", Pref: 0}}, nil
		case errors.Is(err, resolve.ErrNotFound):
			return nil, &net.DNSError{Err: "no such host", Name: domain, IsNotFound: true}
		}
		return mxs, err
	}
	lookupHost = func(ctx context.Context, host string) ([]string, error) {
		addrs, err := r.LookupHost(ctx, host)
		if errors.Is(err, resolve.ErrNotFound) {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return addrs, err
	}
	return lookupMX, lookupHost
}
