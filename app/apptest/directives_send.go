package apptest

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"gatewayd/secret"
	"gatewayd/storage"
)

// SenderKey stores a sender API key (eg_live_...) for a domain, as emailgateway.addapi does,
// and returns it.
func (e *Env) SenderKey(domainID int64) string {
	e.T.Helper()
	ctx := context.Background()
	d, err := e.Server.DB.DomainByID(ctx, domainID, 0)
	if err != nil {
		e.T.Fatalf("sender key: domain %d: %v", domainID, err)
	}
	key := secret.Token("eg_live_", 32)
	enc, err := e.Server.Keys.Encrypt([]byte(key))
	if err != nil {
		e.T.Fatal(err)
	}
	if err := e.Server.DB.CreateDomainAPIKey(ctx, &storage.DomainAPIKey{DomainID: d.ID, UserID: d.UserID,
		KeyHash: secret.Hash(key), KeyEnc: enc, Description: "test"}); err != nil {
		e.T.Fatal(err)
	}
	return key
}

func init() {
	// @senderkey DOMAINVAR VAR: a sender API key for the domain; sets VAR to the key and
	// VAR_basic to base64("<key>:") for HTTP Basic authentication (GatewayAPI's token).
	Directives["senderkey"] = func(e *Env, args []string, vars map[string]string) error {
		if len(args) != 2 {
			return fmt.Errorf("@senderkey DOMAINVAR VAR")
		}
		id, err := strconv.ParseInt(vars[args[0]], 10, 64)
		if err != nil {
			return fmt.Errorf("@senderkey: %s is not a domain id", args[0])
		}
		key := e.SenderKey(id)
		vars[args[1]] = key
		vars[args[1]+"_basic"] = base64.StdEncoding.EncodeToString([]byte(key + ":"))
		return nil
	}
	// @suppress DOMAINVAR EMAIL [SOURCE]: put an address on the domain's suppression list, as
	// delivery does (SOURCE is a SuppressionSource such as "Hard Bounced"; default "User").
	Directives["suppress"] = func(e *Env, args []string, vars map[string]string) error {
		if len(args) < 2 {
			return fmt.Errorf("@suppress DOMAINVAR EMAIL [SOURCE]")
		}
		source := storage.SuppressManual
		if len(args) > 2 {
			source = strings.Join(args[2:], " ")
		}
		id, err := strconv.ParseInt(vars[args[0]], 10, 64)
		if err != nil {
			return fmt.Errorf("@suppress: %s is not a domain id", args[0])
		}
		return e.Server.DB.AddSuppression(context.Background(), id, args[1], source)
	}
}
