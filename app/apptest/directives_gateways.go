package apptest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"gatewayd/relay/smtptest"
	"gatewayd/storage"
)

func init() {
	// @gateway OWNER VAR key=value...: store a gateway directly (OWNER is a user made with
	// @user, or "platform"), as an operator's tooling would; sets VAR to its id. Values are
	// URL-unescaped (label=Paas%20gate). Keys: label,
	// provider, interface, host, port, sslport, username, password, encryption, from, fromname,
	// enabled, leasable, trust, timeout, conntimeout.
	Directives["gateway"] = func(e *Env, args []string, vars map[string]string) error {
		if len(args) < 2 {
			return fmt.Errorf("@gateway OWNER VAR key=value...")
		}
		ctx := context.Background()
		g := &storage.Gateway{Interface: "email", Provider: "smtp", Port: 25, SSLPort: 465, Encryption: "starttls",
			Enabled: true, TimeoutMS: 60000, ConnectTimeoutMS: 60000}
		if args[0] != "platform" {
			u, err := e.Server.DB.UserByUsername(ctx, args[0])
			if err != nil {
				return fmt.Errorf("user %s: %w", args[0], err)
			}
			g.OwnerID = u.ID
		}
		for _, kv := range args[2:] {
			k, v, _ := strings.Cut(kv, "=")
			if u, err := url.PathUnescape(v); err == nil {
				v = u // label=Paas%20gate
			}
			n, _ := strconv.Atoi(v)
			b := v == "1" || v == "true"
			switch k {
			case "label":
				g.Label = v
			case "provider":
				g.Provider = v
			case "interface":
				g.Interface = v
			case "host":
				g.Host = v
			case "port":
				g.Port = n
			case "sslport":
				g.SSLPort = n
			case "username":
				g.Username = v
			case "password":
				sealed, err := e.Server.Keys.Encrypt([]byte(v))
				if err != nil {
					return err
				}
				g.PasswordEnc = sealed
			case "encryption":
				g.Encryption = v
			case "from":
				g.FromAddress = v
			case "fromname":
				g.FromName = v
			case "enabled":
				g.Enabled = b
			case "leasable":
				g.Leasable = b
			case "trust":
				g.TrustAllHosts = b
			case "timeout":
				g.TimeoutMS = n
			case "conntimeout":
				g.ConnectTimeoutMS = n
			default:
				return fmt.Errorf("@gateway: unknown key %s", k)
			}
		}
		if err := e.Server.DB.CreateGateway(ctx, g); err != nil {
			return err
		}
		vars[args[1]] = strconv.FormatInt(g.ID, 10)
		return nil
	}

	// @upstream VAR [starttls] [implicit] [auth=USER:PASS] [insecureauth]: start a fake
	// SMTP server on 127.0.0.1 for the rest of the test; sets VAR_port.
	Directives["upstream"] = func(e *Env, args []string, vars map[string]string) error {
		if len(args) < 1 {
			return fmt.Errorf("@upstream VAR [starttls] [implicit] [auth=USER:PASS] [insecureauth]")
		}
		var opts smtptest.Options
		for _, o := range args[1:] {
			switch {
			case o == "starttls":
				opts.TLS, _ = smtptest.SelfSigned(e.T)
			case o == "implicit":
				opts.TLS, _ = smtptest.SelfSigned(e.T)
				opts.Implicit = true
			case o == "insecureauth":
				opts.AllowInsecureAuth = true
			case strings.HasPrefix(o, "auth="):
				user, pass, _ := strings.Cut(strings.TrimPrefix(o, "auth="), ":")
				opts.AuthUsers = map[string]string{user: pass}
			default:
				return fmt.Errorf("@upstream: unknown option %s", o)
			}
		}
		s := smtptest.Start(e.T, opts)
		_, port, _ := net.SplitHostPort(s.Addr)
		vars[args[0]+"_port"] = port
		return nil
	}

	// @closedport VAR: a loopback port nothing listens on.
	Directives["closedport"] = func(e *Env, args []string, vars map[string]string) error {
		if len(args) != 1 {
			return fmt.Errorf("@closedport VAR")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		_, port, _ := net.SplitHostPort(l.Addr().String())
		l.Close()
		vars[args[0]] = port
		return nil
	}
}
