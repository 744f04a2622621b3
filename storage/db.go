// Package storage owns every SQL statement gatewayd runs: opening SQLite or MySQL/MariaDB,
// the embedded versioned migrations of both dialects, and one repository file per table group.
// Handlers never see SQL; they call the methods here. Times are stored as unix seconds (BIGINT)
// in both dialects so that no query depends on a dialect's date functions.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Dialect names the SQL flavour behind a DB.
type Dialect string

const (
	SQLite Dialect = "sqlite"
	MySQL  Dialect = "mysql"
)

// ErrNotFound is returned when a row does not exist (or belongs to someone else: callers never
// learn the difference).
var ErrNotFound = errors.New("not found")

// ErrDuplicate is returned when a unique constraint refuses a row.
var ErrDuplicate = errors.New("duplicate")

// DB is the store. SQLite has one writer at a time: writes go through a pool of one
// connection (so they queue in Go, not in SQLite's busy loop) and reads through a pool of
// several. MySQL uses one pool for both.
type DB struct {
	Dialect Dialect
	w       *sqlx.DB
	r       *sqlx.DB
	galera  bool      // a Galera cluster node (wsrep_on)
	ids     idMode    // how the ids of inserted rows are known (rows.go)
	hosts   *failover // MySQL: the hosts GATEWAY_DB lists
	stmts   *atomic.Int64
	// gatewayChanges counts this node's writes to gateways and their bindings
	// (GatewayChanges).
	gatewayChanges atomic.Int64
	// senderChanges counts this node's writes to what the send path checks of a sender
	// (SenderChanges).
	senderChanges atomic.Int64
}

// SenderChanges counts the writes made through this DB to accounts, sender domains, their API
// keys and SMTP credentials (after each has committed or failed): a sender read while it was n may be used
// again without reading it while it is still n (another node's writes are not counted, so
// such a reuse must also be short-lived).
func (db *DB) SenderChanges() int64 { return db.senderChanges.Load() }

// Statements is how many SQL statements this DB has sent to the database so far (each
// statement a round trip on MySQL): what the benchmarks report per message.
func (db *DB) Statements() int64 { return db.stmts.Load() }

// Open connects to dsn: sqlite://path/to/file.db (directories are created) or
// mysql://user:pass@host:port/db; a MySQL DSN may list several hosts, comma-separated
// (mysql://user:pass@db1:3306,db2:3306,db3:3306/db): the nodes of one cluster, used in that
// order of preference with failover between them (see failover in cluster.go).
func Open(ctx context.Context, dsn string) (*DB, error) {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return nil, fmt.Errorf("database %q: want sqlite://path or mysql://user:pass@host:port/db", dsn)
	}
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3":
		return openSQLite(ctx, rest)
	case "mysql", "mariadb":
		return openMySQL(ctx, dsn)
	}
	return nil, fmt.Errorf("database %q: unknown scheme %q", dsn, scheme)
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty path")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("sqlite: create %s: %w", dir, err)
		}
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	src := "file:" + path + "?" + q.Encode()
	// The registered driver, reached without connecting; each pool gets the statement cache.
	probe, err := sql.Open("sqlite", src)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	drv := probe.Driver()
	probe.Close()
	stmts := new(atomic.Int64)
	w := sqlx.NewDb(sql.OpenDB(stmtCacheConnector{dsn: src, drv: drv, stmts: stmts}), "sqlite")
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r := sqlx.NewDb(sql.OpenDB(stmtCacheConnector{dsn: src, drv: drv, stmts: stmts}), "sqlite")
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	db := &DB{Dialect: SQLite, w: w, r: r, stmts: stmts}
	if err := db.ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// MySQLConfig turns mysql://user:pass@host:port/db?opts into a driver configuration. Of a
// DSN listing several hosts, the configuration is the first host's.
func MySQLConfig(dsn string) (*mysql.Config, error) {
	dsn, _ = splitHosts(dsn)
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("mysql dsn: %w", err)
	}
	cfg := mysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr = u.Hostname() + ":3306"
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	if cfg.DBName == "" {
		return nil, errors.New("mysql dsn: missing database name")
	}
	cfg.ParseTime = false
	cfg.Collation = "utf8mb4_unicode_ci"
	// Interpolate parameters client-side: one round trip per statement instead of a
	// server-side prepare, execute and close. The driver escapes correctly for utf8mb4 and
	// refuses to interpolate for a character set it cannot escape.
	cfg.InterpolateParams = true
	cfg.Timeout = 10 * time.Second
	cfg.ReadTimeout = 60 * time.Second
	cfg.WriteTimeout = 60 * time.Second
	cfg.Params = map[string]string{}
	for k, v := range u.Query() {
		cfg.Params[k] = v[0]
	}
	return cfg, nil
}

func openMySQL(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := MySQLConfig(dsn)
	if err != nil {
		return nil, err
	}
	_, hosts := splitHosts(dsn)
	f, err := newFailover(cfg, hosts)
	if err != nil {
		return nil, err
	}
	x := sqlx.NewDb(sql.OpenDB(f), "mysql")
	x.SetMaxOpenConns(32)
	x.SetMaxIdleConns(32)
	x.SetConnMaxLifetime(time.Hour)
	if len(hosts) > 1 {
		// Connections drift back to the preferred host within a couple of minutes of its
		// return.
		x.SetConnMaxLifetime(2 * time.Minute)
	}
	db := &DB{Dialect: MySQL, w: x, r: x, hosts: f, stmts: f.stmts}
	if err := db.ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	var on string
	if err := x.QueryRowxContext(ctx, "SHOW GLOBAL VARIABLES LIKE 'wsrep_on'").Scan(new(string), &on); err == nil {
		db.galera = strings.EqualFold(on, "ON")
	}
	// Multi-row inserts only where their ids are consecutive (rows.go); row by row when the
	// server will not say.
	var lockMode int
	if err := x.QueryRowxContext(ctx, "SELECT @@innodb_autoinc_lock_mode, @@auto_increment_increment").Scan(&lockMode, &db.ids.step); err != nil || lockMode >= 2 {
		db.ids.rowByRow = true
	}
	return db, nil
}

func (db *DB) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := db.w.PingContext(ctx); err != nil {
		return fmt.Errorf("%s: connect: %w", db.Dialect, err)
	}
	return nil
}

// Close closes both pools.
func (db *DB) Close() error {
	err := db.w.Close()
	if db.r != db.w {
		err = errors.Join(err, db.r.Close())
	}
	return err
}

// Ping checks the database answers and, on a Galera node, is synced (for /healthz; see
// Health).
func (db *DB) Ping(ctx context.Context) error { return db.Health(ctx) }

// Tx runs fn in one write transaction, committing when fn returns nil.
func (db *DB) Tx(ctx context.Context, fn func(tx *sqlxTx) error) error {
	return db.txWith(ctx, nil, fn)
}

// txWith is Tx with transaction options (an isolation level).
func (db *DB) txWith(ctx context.Context, opts *sql.TxOptions, fn func(tx *sqlxTx) error) error {
	tx, err := db.w.BeginTxx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		if isConnError(err) {
			return &errCommitUnknown{err}
		}
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// now is the time stored in rows: unix seconds.
func now() int64 { return time.Now().Unix() }

// isDuplicate reports a unique-constraint violation in either dialect.
func isDuplicate(err error) bool {
	if err == nil {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// notFound maps sql.ErrNoRows to ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// affected returns ErrNotFound when a statement touched no row.
func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// sqlxTx is the transaction type repository functions receive.
type sqlxTx = sqlx.Tx

// Exec runs one statement outside any table group (administration: CREATE DATABASE, tests).
func (db *DB) Exec(ctx context.Context, stmt string, args ...any) error {
	_, err := db.w.ExecContext(ctx, stmt, args...)
	return err
}

// placeholders is n comma-separated "?" for an IN list.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
