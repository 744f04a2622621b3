// Package storagetest gives tests a fresh, migrated database of the dialect under test.
//
// GATEWAY_TEST_DB selects it: unset or "sqlite" gives a SQLite file in the test's temp dir;
// "mysql://user:pass@host:port/" (no database name) creates a throwaway database on that
// server and drops it when the test ends. A MySQL server that cannot be reached fails the
// test; it never skips, so a CI run without MariaDB is red, not silently half-tested.
package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatewayd/storage"
)

// Env is the variable that selects the dialect.
const Env = "GATEWAY_TEST_DB"

// DSN returns a DSN for a fresh database of the dialect under test, and a function that drops
// it. Tests that start their own gatewayd process use this; others use Open.
func DSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(Env)
	if base == "" || base == "sqlite" {
		return "sqlite://" + filepath.Join(t.TempDir(), "gatewayd.db")
	}
	if !strings.HasPrefix(base, "mysql://") {
		t.Fatalf("%s=%q: want sqlite or mysql://user:pass@host:port/", Env, base)
	}
	return mysqlDatabase(t, base)
}

// MySQLDSN returns a fresh MySQL/MariaDB database whatever the dialect under test, for tests
// of what only MySQL has (host lists): on GATEWAY_TEST_DB's server when that is MySQL, else on
// MYSQL_DSN or mysql://root@127.0.0.1:3306/ (make test has started it).
func MySQLDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(Env)
	if !strings.HasPrefix(base, "mysql://") {
		base = os.Getenv("MYSQL_DSN")
	}
	if base == "" {
		base = "mysql://root@127.0.0.1:3306/"
	}
	return mysqlDatabase(t, base)
}

// mysqlDatabase creates a throwaway database on the server base names, dropped when the test
// ends, and returns its DSN.
func mysqlDatabase(t testing.TB, base string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "gwtest_" + hex.EncodeToString(b)
	admin := strings.TrimRight(base, "/") + "/mysql"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := storage.Open(ctx, admin)
	if err != nil {
		t.Fatalf("MySQL under test is not reachable (%s): %v", Env, err)
	}
	if err := db.Exec(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		db.Close()
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
		db.Close()
	})
	return strings.TrimRight(base, "/") + "/" + name
}

// Open returns a migrated database for the dialect under test, closed when the test ends.
func Open(t testing.TB) *storage.DB {
	t.Helper()
	return OpenDSN(t, DSN(t))
}

// OpenDSN opens and migrates the database at dsn (from DSN, for a test that also reads it
// with Raw), closed when the test ends.
func OpenDSN(t testing.TB, dsn string) *storage.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db, err := storage.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

// Dialect names the dialect under test, for test names and logs.
func Dialect() string {
	if v := os.Getenv(Env); strings.HasPrefix(v, "mysql://") {
		return "mysql"
	}
	return "sqlite"
}
