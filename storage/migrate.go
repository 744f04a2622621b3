package storage

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Migrations are files migrations/<dialect>/NNNN_name.sql, applied in order of NNNN and
// recorded in schema_migrations. Both dialects carry the same versions. Statements are
// separated by a line ending in ";".
//
//go:embed migrations
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func (db *DB) migrations() ([]migration, error) {
	dir := path.Join("migrations", string(db.Dialect))
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	seen := map[int]string{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := migrationFS.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// Migrate applies every migration not yet recorded. Safe to run on every start, and on
// several nodes starting together: on MySQL they serialise on a lock row (see lockMigrations),
// so one applies what is missing and the others find it done.
func (db *DB) Migrate(ctx context.Context) (applied []string, err error) {
	ms, err := db.migrations()
	if err != nil {
		return nil, err
	}
	if db.Dialect == MySQL {
		unlock, err := db.lockMigrations(ctx)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var done []int
	if err := db.w.SelectContext(ctx, &done, "SELECT version FROM schema_migrations"); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	have := map[int]bool{}
	for _, v := range done {
		have[v] = true
	}
	for _, m := range ms {
		if have[m.version] {
			continue
		}
		ran, err := db.apply(ctx, m)
		if err != nil {
			return applied, err
		}
		if ran {
			applied = append(applied, m.name)
		}
	}
	return applied, nil
}

// migrateLockTTL is how long a migration lock holds without its owner renewing it: a node
// that died while migrating does not block the others for longer.
const migrateLockTTL = 10 * time.Minute

// lockMigrations takes the migration lock of a MySQL database and returns its release. The
// lock is a row (schema_lock, name 'migrate') that an UPDATE claims when it is free or
// expired: a replicated write, so it holds across the nodes of a Galera cluster, where
// GET_LOCK is local to one node (two nodes claiming it at once collide at commit and
// certification fails one; a claim is then read back by owner). Nodes that find it held wait,
// up to the TTL.
func (db *DB) lockMigrations(ctx context.Context) (func(), error) {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_lock (name VARCHAR(64) NOT NULL PRIMARY KEY,
		owner VARCHAR(64) NOT NULL DEFAULT '', expires_at BIGINT NOT NULL DEFAULT 0)`); err != nil {
		return nil, fmt.Errorf("migrate: lock table: %w", err)
	}
	if _, err := db.execRetry(ctx, "INSERT IGNORE INTO schema_lock (name, owner, expires_at) VALUES ('migrate', '', 0)"); err != nil {
		return nil, fmt.Errorf("migrate: lock row: %w", err)
	}
	owner := lockOwner()
	deadline := time.Now().Add(migrateLockTTL + time.Minute)
	for {
		err := db.Tx(ctx, func(tx *sqlxTx) error {
			t := now()
			_, err := tx.ExecContext(ctx, "UPDATE schema_lock SET owner = ?, expires_at = ? WHERE name = 'migrate' AND (owner = '' OR expires_at < ?)",
				owner, t+int64(migrateLockTTL/time.Second), t)
			return err
		})
		if err != nil && !IsRetryable(err) {
			return nil, fmt.Errorf("migrate: lock: %w", err)
		}
		var holder string
		if err == nil {
			if err := db.w.GetContext(ctx, &holder, "SELECT owner FROM schema_lock WHERE name = 'migrate'"); err != nil {
				return nil, fmt.Errorf("migrate: lock: %w", err)
			}
		}
		if holder == owner {
			return func() {
				db.execRetry(context.Background(), "UPDATE schema_lock SET owner = '', expires_at = 0 WHERE name = 'migrate' AND owner = ?", owner)
			}, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("migrate: the migration lock is still held by %s", holder)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200*time.Millisecond + time.Duration(rand.Int64N(int64(200*time.Millisecond)))):
		}
	}
}

// lockOwner names this process in the lock row: host, pid and a random part.
func lockOwner() string {
	host, _ := os.Hostname()
	if len(host) > 40 {
		host = host[:40]
	}
	return fmt.Sprintf("%s-%d-%08x", host, os.Getpid(), rand.Uint32())
}

// apply runs m unless another process recorded it first, and reports whether it ran. The
// check is inside m's transaction: on SQLite that transaction holds the write lock, so two
// processes migrating one file at once apply each migration once; on MySQL the migration lock
// row has serialised them already.
func (db *DB) apply(ctx context.Context, m migration) (ran bool, err error) {
	// MySQL commits DDL implicitly, so a migration there is only as atomic as its statements;
	// each file is written to be re-runnable up to its first failure.
	err = db.Tx(ctx, func(tx *sqlxTx) error {
		var n int
		if err := tx.GetContext(ctx, &n, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.version); err != nil {
			return err
		}
		if ran = n == 0; !ran {
			return nil
		}
		for _, stmt := range splitStatements(m.sql) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migration %s: %w\n%s", m.name, err, stmt)
			}
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", m.version, m.name, now())
		return err
	})
	return ran, err
}

func splitStatements(s string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") || (t == "" && cur.Len() == 0) {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}
