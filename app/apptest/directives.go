package apptest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"gatewayd/storage"
)

func init() {
	// @thismonth VAR: the current month in UTC, YYYY-MM.
	Directives["thismonth"] = func(e *Env, args []string, vars map[string]string) error {
		if len(args) != 1 {
			return fmt.Errorf("@thismonth VAR")
		}
		vars[args[0]] = time.Now().UTC().Format("2006-01")
		return nil
	}
	Directives["admin"] = func(e *Env, args []string, vars map[string]string) error {
		if len(args) != 2 {
			return fmt.Errorf("@admin NAME PASSWORD")
		}
		h, _ := bcrypt.GenerateFromPassword([]byte(args[1]), bcrypt.MinCost)
		return e.Server.DB.CreateAdmin(context.Background(), &storage.Admin{Username: args[0], PasswordHash: string(h)})
	}
	Directives["group"] = func(e *Env, args []string, vars map[string]string) error {
		if len(args) != 3 {
			return fmt.Errorf("@group VAR NAME PERMISSIONS")
		}
		g := &storage.UserGroup{Name: args[1], Permissions: args[2]}
		if err := e.Server.DB.CreateGroup(context.Background(), g); err != nil {
			return err
		}
		vars[args[0]] = strconv.FormatInt(g.ID, 10)
		return nil
	}
	Directives["usergroup"] = func(e *Env, args []string, vars map[string]string) error {
		if len(args) != 2 {
			return fmt.Errorf("@usergroup USER GROUPVAR (moves a user created with @user)")
		}
		ctx := context.Background()
		u, err := e.Server.DB.UserByUsername(ctx, args[0])
		if err != nil {
			return err
		}
		u.GroupID, _ = strconv.ParseInt(vars[args[1]], 10, 64)
		return e.Server.DB.UpdateUserFlags(ctx, u)
	}
	// @publish DOMAINVAR [spf] [dkim] [returnpath] [tracking]: publish the domain's records
	// in the fake DNS as the customer would; sets DOMAINVAR_selector and DOMAINVAR_dkim.
	Directives["publish"] = func(e *Env, args []string, vars map[string]string) error {
		if len(args) < 1 {
			return fmt.Errorf("@publish DOMAINVAR KINDS...")
		}
		id, _ := strconv.ParseInt(vars[args[0]], 10, 64)
		d, err := e.Server.DB.DomainByID(context.Background(), id, 0)
		if err != nil {
			return err
		}
		recs := e.Server.App.DomainRecords(d)
		vars[args[0]+"_selector"] = d.DKIMSelector
		vars[args[0]+"_dkim"] = recs[1].Value
		want := map[string]bool{}
		for _, k := range args[1:] {
			want[k] = true
		}
		kinds := []string{"spf", "dkim", "returnpath", "tracking"}
		for i, r := range recs {
			if !want[kinds[i]] {
				continue
			}
			if r.Type == "TXT" {
				e.DNS.AddTXT(r.Name, r.Value)
			} else {
				e.DNS.AddCNAME(r.Name, r.Value)
			}
		}
		return nil
	}
	Directives["flags"] = func(e *Env, args []string, vars map[string]string) error {
		if len(args) < 2 {
			return fmt.Errorf("@flags USER key=value... (status, reputation, verified, maxdomains, monthlylimit)")
		}
		ctx := context.Background()
		u, err := e.Server.DB.UserByUsername(ctx, args[0])
		if err != nil {
			return err
		}
		for _, kv := range args[1:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "status":
				u.AccountStatus = v
			case "reputation":
				u.ReputationLevel = v
			case "verified":
				u.Verified = v == "1" || v == "true"
			case "maxdomains":
				u.MaxSenderDomains, _ = strconv.Atoi(v)
			case "monthlylimit":
				u.MonthlySendLimit, _ = strconv.ParseInt(v, 10, 64)
			default:
				return fmt.Errorf("@flags: unknown %s", k)
			}
		}
		return e.Server.DB.UpdateUserFlags(ctx, u)
	}
}
