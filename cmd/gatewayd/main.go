// Command gatewayd is the transactional email gateway: the HTTP APIs, the SMTP relay and the
// delivery queue in one process. Subcommands: serve, migrate, user create, domain approve.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"

	"gatewayd/app"
	"gatewayd/config"
	"gatewayd/storage"
)

const usage = `gatewayd: a self-hosted transactional email gateway.

Usage:
  gatewayd serve [flags]            run the HTTP APIs, SMTP relay and delivery workers
  gatewayd migrate [flags]          apply database migrations and exit
  gatewayd user create [flags]      create a user (tenant) or, with --admin, an administrator
  gatewayd domain approve [flags]   enable a sender domain without DNS verification
  gatewayd queue <command> [flags]  inspect and steer the delivery queue (stats, list, retry, purge)

Every flag mirrors a GATEWAY_* environment variable; run "gatewayd <command> --help".
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(args[1:], stdout, stderr, getenv)
	case "migrate":
		err = cmdMigrate(args[1:], stdout, stderr, getenv)
	case "user":
		if len(args) < 2 || args[1] != "create" {
			fmt.Fprint(stderr, "usage: gatewayd user create [flags]\n")
			return 2
		}
		err = cmdUserCreate(args[2:], stdout, stderr, getenv)
	case "queue":
		err = cmdQueue(args[1:], stdout, stderr, getenv)
	case "domain":
		if len(args) < 2 || args[1] != "approve" {
			fmt.Fprint(stderr, "usage: gatewayd domain approve [flags]\n")
			return 2
		}
		err = cmdDomainApprove(args[2:], stdout, stderr, getenv)
	default:
		fmt.Fprintf(stderr, "gatewayd: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errAmbiguous):
		return 1
	}
	fmt.Fprintf(stderr, "gatewayd: %v\n", err)
	return 1
}

var errUsage = errors.New("usage")

func newFlags(name, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: gatewayd %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

func logger(cfg *config.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl}))
}

func cmdServe(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlags("serve", "Run the HTTP APIs, the SMTP relay and the delivery workers.", stderr)
	cfg, err := config.Load(fs, args, getenv)
	if err != nil {
		return err
	}
	log := logger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer s.Close()
	if s.AdminKeyGenerated {
		fmt.Fprintf(stdout, "gatewayd: generated admin API key (kept in %s/admin.key): %s\n", dirOf(cfg.SecretKeyFile), cfg.AdminAPIKey)
	} else if getenv("GATEWAY_ADMIN_API_KEY") == "" && !flagSet(fs, "admin-api-key") {
		fmt.Fprintf(stdout, "gatewayd: admin API key (from %s/admin.key): %s\n", dirOf(cfg.SecretKeyFile), cfg.AdminAPIKey)
	}
	fmt.Fprintf(stdout, "gatewayd: serving HTTP on %s (database %s)\n", cfg.HTTPAddr, redactDSN(cfg.DB))
	return s.Run(ctx)
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		return path[:i]
	}
	return "."
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// redactDSN hides a password in a DSN for display.
func redactDSN(dsn string) string {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return dsn
	}
	if at := strings.LastIndexByte(rest, '@'); at > 0 {
		if user, _, hasPass := strings.Cut(rest[:at], ":"); hasPass {
			return scheme + "://" + user + ":***" + rest[at:]
		}
	}
	return dsn
}

func cmdMigrate(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlags("migrate", "Apply the database migrations and exit.", stderr)
	cfg, err := config.Load(fs, args, getenv)
	if err != nil {
		return err
	}
	ctx := context.Background()
	db, err := storage.Open(ctx, cfg.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	for _, m := range applied {
		fmt.Fprintf(stdout, "applied %s\n", m)
	}
	if err == nil && len(applied) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
	}
	return err
}

func cmdUserCreate(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlags("user create", "Create a user (tenant) in group 1, or an administrator with --admin.", stderr)
	username := fs.String("username", "", "login name (required)")
	email := fs.String("email", "", "email address (required for users)")
	password := fs.String("password", "", "password, at least 8 characters (required)")
	first := fs.String("first-name", "", "first name")
	company := fs.String("company", "", "company name")
	group := fs.Int64("group", 1, "user group id")
	maxDomains := fs.Int("max-sender-domains", 0, "sender domain limit (0: none)")
	admin := fs.Bool("admin", false, "create an administrator who logs in with admin.login")
	cfg, err := config.Load(fs, args, getenv)
	if err != nil {
		return err
	}
	if *username == "" || len(*password) < 8 || (!*admin && *email == "") {
		fmt.Fprintln(stderr, "gatewayd user create: --username, --password (8+ characters) and, for users, --email are required")
		return errUsage
	}
	ctx := context.Background()
	s, err := app.New(ctx, cfg, logger(cfg, io.Discard))
	if err != nil {
		return err
	}
	defer s.Close()
	hash, err := bcrypt.GenerateFromPassword([]byte(*password), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	if *admin {
		a := &storage.Admin{Username: *username, Email: *email, PasswordHash: string(hash)}
		if err := s.DB.CreateAdmin(ctx, a); err != nil {
			return fmt.Errorf("create admin: %w", err)
		}
		fmt.Fprintf(stdout, "created administrator %d (%s)\n", a.ID, a.Username)
		return nil
	}
	if *first == "" && *company == "" {
		*first = *username
	}
	u := &storage.User{GroupID: *group, Username: *username, Email: *email, PasswordHash: string(hash),
		FirstName: *first, CompanyName: *company, TimeZone: "UTC", Language: "en",
		AccountStatus: "Enabled", ReputationLevel: "Trusted", Verified: true, MaxSenderDomains: *maxDomains}
	if err := s.DB.CreateUser(ctx, u); err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	fmt.Fprintf(stdout, "created user %d (%s)\n", u.ID, u.Username)
	return nil
}

func cmdDomainApprove(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlags("domain approve", "Enable a sender domain without DNS verification (the platform owner's manual approval).", stderr)
	id := fs.Int64("id", 0, "sender domain id")
	name := fs.String("name", "", "domain name (only when exactly one registration of it exists)")
	cfg, err := config.Load(fs, args, getenv)
	if err != nil {
		return err
	}
	if (*id == 0) == (*name == "") {
		fmt.Fprintln(stderr, "gatewayd domain approve: give exactly one of --id or --name")
		return errUsage
	}
	ctx := context.Background()
	db, err := openMigrated(ctx, cfg.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	var ds []storage.SenderDomain
	if *id != 0 {
		d, err := db.DomainByID(ctx, *id, 0)
		if err != nil {
			return fmt.Errorf("domain %d: %w", *id, err)
		}
		ds = append(ds, *d)
	} else if ds, err = db.DomainsByName(ctx, *name); err != nil {
		return err
	} else if len(ds) == 0 {
		return fmt.Errorf("domain %q: %w", *name, storage.ErrNotFound)
	} else if len(ds) > 1 {
		// Any tenant may register any name: approving them all would approve a squatter's
		// copy together with the owner's. The operator picks one by id.
		fmt.Fprintf(stderr, "gatewayd domain approve: %d registrations of %s; approve one with --id:\n", len(ds), *name)
		for _, d := range ds {
			fmt.Fprintf(stderr, "  --id %d  user %d  status %s  registered %s\n", d.ID, d.UserID, d.Status,
				time.Unix(d.CreatedAt, 0).UTC().Format(time.RFC3339))
		}
		return errAmbiguous
	}
	d := ds[0]
	if err := db.SetDomainStatus(ctx, d.ID, storage.DomainEnabled, time.Now().Unix()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "domain %d (%s) is Enabled\n", d.ID, d.Name)
	return nil
}

// errAmbiguous ends a subcommand that has already said why on stderr.
var errAmbiguous = errors.New("ambiguous")

// openMigrated opens the database and brings its schema up to date, for the subcommands that
// work on it directly.
func openMigrated(ctx context.Context, dsn string) (*storage.DB, error) {
	db, err := storage.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
