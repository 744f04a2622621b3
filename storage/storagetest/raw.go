package storagetest

import (
	"bytes"
	"database/sql"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"gatewayd/storage"
)

// Raw opens dsn with the plain database/sql driver, past the storage layer: what someone
// looking at the database would see. Closed when the test ends.
func Raw(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	var db *sql.DB
	if path, ok := strings.CutPrefix(dsn, "sqlite://"); ok {
		var err error
		if db, err = sql.Open("sqlite", "file:"+path); err != nil {
			t.Fatal(err)
		}
	} else {
		cfg, err := storage.MySQLConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		db = sql.OpenDB(conn)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Dump returns every value of every row of the named tables (every table when none is
// named), one "table:v1|v2|...|" line per row, for tests that look for what must not be
// stored (secrets in clear).
func Dump(t testing.TB, dsn string, tables ...string) []byte {
	t.Helper()
	db := Raw(t, dsn)
	if len(tables) == 0 {
		q := "SHOW TABLES"
		if strings.HasPrefix(dsn, "sqlite://") {
			q = "SELECT name FROM sqlite_master WHERE type = 'table'"
		}
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				t.Fatal(err)
			}
			tables = append(tables, name)
		}
		rows.Close()
	}
	var out bytes.Buffer
	for _, table := range tables {
		rows, err := db.Query("SELECT * FROM " + table)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.RawBytes, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("%s: %v", table, err)
			}
			out.WriteString(table + ":")
			for _, v := range vals {
				out.Write(v)
				out.WriteByte('|')
			}
			out.WriteByte('\n')
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		rows.Close()
	}
	return out.Bytes()
}
