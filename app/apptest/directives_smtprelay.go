package apptest

import (
	"context"
	"fmt"
	"strconv"

	"gatewayd/storage"
)

func init() {
	// @suppress DOMAINVAR EMAIL: put an address on the domain's suppression list. The send
	// directives define the same step; whichever file registers first is kept.
	if _, ok := Directives["suppress"]; ok {
		return
	}
	Directives["suppress"] = func(e *Env, args []string, vars map[string]string) error {
		if len(args) != 2 {
			return fmt.Errorf("@suppress DOMAINVAR EMAIL")
		}
		id, err := strconv.ParseInt(vars[args[0]], 10, 64)
		if err != nil {
			return fmt.Errorf("@suppress: %s is not a domain id", args[0])
		}
		return e.Server.DB.AddSuppression(context.Background(), id, args[1], storage.SuppressManual)
	}
}
