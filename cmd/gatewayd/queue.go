package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gatewayd/config"
	"gatewayd/storage"
)

const queueUsage = `Usage: gatewayd queue <command> [flags]

Commands:
  stats   count recipients by state (--all: every state, not only the queue)
  list    list queued rows, soonest due first (--state, --domain, --limit)
  retry   make deferred rows due now (--domain, or --id for chosen rows)
  purge   cancel undelivered rows (--state, --domain, --id); --delete removes rows
          instead; nothing changes without --yes

Filters: --state takes states separated by commas (scheduled, queued, sending, deferred,
delivered, bounced, failed, cancelled); --domain a domain id or name (every registration of
the name); --id recipient row ids separated by commas. Every GATEWAY_* flag applies too.
`

// queueFlags are the filters every queue subcommand understands.
type queueFlags struct {
	states, domain, ids string
	limit               int
	all, yes, remove    bool
}

func cmdQueue(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, queueUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sub := args[0]
	var summary string
	switch sub {
	case "stats":
		summary = "Count recipient rows by state."
	case "list":
		summary = "List queued recipient rows, soonest due first."
	case "retry":
		summary = "Make deferred rows (or the rows given with --id) due now."
	case "purge":
		summary = "Cancel undelivered rows (or, with --delete, remove rows). Changes nothing without --yes."
	default:
		fmt.Fprintf(stderr, "gatewayd queue: unknown command %q\n\n%s", sub, queueUsage)
		return errUsage
	}
	fs := newFlags("queue "+sub, summary, stderr)
	var qf queueFlags
	fs.StringVar(&qf.states, "state", "", "states, comma-separated")
	fs.StringVar(&qf.domain, "domain", "", "sender domain id or name")
	switch sub {
	case "stats":
		fs.BoolVar(&qf.all, "all", false, "count every state, not only the queued ones")
	case "list":
		fs.IntVar(&qf.limit, "limit", 50, "most rows listed")
	case "retry":
		fs.StringVar(&qf.ids, "id", "", "recipient row ids, comma-separated")
	case "purge":
		fs.StringVar(&qf.ids, "id", "", "recipient row ids, comma-separated")
		fs.BoolVar(&qf.remove, "delete", false, "delete the matching rows instead of cancelling them")
		fs.BoolVar(&qf.yes, "yes", false, "really change the rows")
	}
	cfg, err := config.Load(fs, args[1:], getenv)
	if err != nil {
		return err
	}
	ctx := context.Background()
	db, err := openMigrated(ctx, cfg.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	f, err := qf.filter(ctx, db)
	if err != nil {
		return err
	}
	switch sub {
	case "stats":
		return queueStats(ctx, db, f, qf.all, stdout)
	case "list":
		return queueList(ctx, db, f, stdout)
	case "retry":
		n, err := db.QueueRetry(ctx, f)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d recipients are due now\n", n)
		return nil
	}
	return queuePurge(ctx, db, f, qf, stdout)
}

// filter turns the flags into a storage filter, resolving a domain name to its ids.
func (qf queueFlags) filter(ctx context.Context, db *storage.DB) (storage.QueueFilter, error) {
	var f storage.QueueFilter
	for _, s := range splitComma(qf.states) {
		s = strings.ToLower(s)
		if !validState(s) {
			return f, fmt.Errorf("unknown state %q (want %s)", s, strings.Join(storage.AllStates, ", "))
		}
		f.States = append(f.States, s)
	}
	for _, s := range splitComma(qf.ids) {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return f, fmt.Errorf("--id %q: want positive numbers", s)
		}
		f.IDs = append(f.IDs, id)
	}
	if qf.domain != "" {
		if id, err := strconv.ParseInt(qf.domain, 10, 64); err == nil {
			if _, err := db.DomainByID(ctx, id, 0); err != nil {
				return f, fmt.Errorf("domain %d: %w", id, err)
			}
			f.DomainIDs = []int64{id}
		} else {
			ds, err := db.DomainsByName(ctx, qf.domain)
			if err != nil {
				return f, err
			}
			if len(ds) == 0 {
				return f, fmt.Errorf("domain %q: %w", qf.domain, storage.ErrNotFound)
			}
			for _, d := range ds {
				f.DomainIDs = append(f.DomainIDs, d.ID)
			}
		}
	}
	f.Limit = qf.limit
	return f, nil
}

func validState(s string) bool {
	for _, st := range storage.AllStates {
		if s == st {
			return true
		}
	}
	return false
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func queueStats(ctx context.Context, db *storage.DB, f storage.QueueFilter, all bool, w io.Writer) error {
	counts, err := db.QueueCounts(ctx, !all, f.DomainIDs)
	if err != nil {
		return err
	}
	states := storage.UndeliveredStates
	if all {
		states = storage.AllStates
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tRECIPIENTS")
	var total int64
	for _, s := range states {
		fmt.Fprintf(tw, "%s\t%d\n", s, counts[s])
		total += counts[s]
	}
	fmt.Fprintf(tw, "total\t%d\n", total)
	return tw.Flush()
}

func queueList(ctx context.Context, db *storage.DB, f storage.QueueFilter, w io.Writer) error {
	rows, err := db.QueueList(ctx, f)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMESSAGE\tDOMAIN\tRECIPIENT\tSTATE\tATTEMPTS\tNEXT ATTEMPT\tLAST REPLY")
	for _, r := range rows {
		next := "-"
		if r.NextAttemptAt > 0 {
			next = time.Unix(r.NextAttemptAt, 0).UTC().Format(time.RFC3339)
		}
		reply := r.LastReply
		if len(reply) > 60 {
			reply = reply[:57] + "..."
		}
		if reply == "" {
			reply = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.MessageUUID, r.Domain, r.Email, r.State, r.Attempts, next,
			strings.ReplaceAll(reply, "\t", " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d rows\n", len(rows))
	return nil
}

func queuePurge(ctx context.Context, db *storage.DB, f storage.QueueFilter, qf queueFlags, w io.Writer) error {
	verb, done := "cancel", "cancelled"
	if qf.remove {
		verb, done = "delete", "deleted"
	} else {
		for _, s := range f.States {
			if !isQueued(s) {
				return fmt.Errorf("%s rows are finished and cannot be cancelled; use --delete to remove them", s)
			}
		}
	}
	if !qf.yes {
		n, err := db.QueueCount(ctx, f)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "would %s %d recipients; run again with --yes to do it\n", verb, n)
		return nil
	}
	n, err := db.QueuePurge(ctx, f, qf.remove)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s %d recipients\n", done, n)
	return nil
}

func isQueued(s string) bool {
	for _, u := range storage.UndeliveredStates {
		if s == u {
			return true
		}
	}
	return false
}
