package apptest

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"gatewayd/commands"
)

func init() {
	// @enqueue USER DOMAINVAR N: accept N messages (one recipient each) from the user's domain
	// through the acceptance path. The test server runs no delivery workers, so they stay queued.
	Directives["enqueue"] = func(e *Env, args []string, vars map[string]string) error {
		if len(args) != 3 {
			return fmt.Errorf("@enqueue USER DOMAINVAR N")
		}
		ctx := context.Background()
		u, err := e.Server.DB.UserByUsername(ctx, args[0])
		if err != nil {
			return err
		}
		id, _ := strconv.ParseInt(vars[args[1]], 10, 64)
		d, err := e.Server.DB.DomainByID(ctx, id, u.ID)
		if err != nil {
			return fmt.Errorf("domain %s: %w", args[1], err)
		}
		n, err := strconv.Atoi(args[2])
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			to := fmt.Sprintf("rcpt%d@dest.example", i)
			raw := "From: <news@" + d.Name + ">\r\nTo: <" + to + ">\r\nSubject: queued\r\nDate: " +
				time.Now().UTC().Format(time.RFC1123Z) + "\r\nMessage-ID: <" + strconv.Itoa(i) + "." + d.Name + "@queue.test>\r\n\r\nhello\r\n"
			_, err := e.Server.App.Accept(ctx, &commands.Submission{User: u, Domain: d, Source: "api", MailFrom: "news@" + d.Name,
				Subject: "queued", Raw: []byte(raw), Recipients: []commands.Rcpt{{Email: to, Kind: "to"}}})
			if err != nil {
				return err
			}
		}
		return nil
	}
	// @queue DOMAINVAR STATE N: the domain has exactly N recipient rows in STATE.
	Directives["queue"] = func(e *Env, args []string, vars map[string]string) error {
		if len(args) != 3 {
			return fmt.Errorf("@queue DOMAINVAR STATE N")
		}
		id, _ := strconv.ParseInt(vars[args[0]], 10, 64)
		counts, err := e.Server.DB.QueueCounts(context.Background(), false, []int64{id})
		if err != nil {
			return err
		}
		want, _ := strconv.ParseInt(args[2], 10, 64)
		if got := counts[args[1]]; got != want {
			return fmt.Errorf("domain %s has %d %s recipients, want %d (all: %v)", args[0], got, args[1], want, counts)
		}
		return nil
	}
}
