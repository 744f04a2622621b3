package storage

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func TestSplitHostsListsEveryHostWithItsPort(t *testing.T) {
	for _, c := range []struct {
		dsn, first string
		hosts      []string
	}{
		{"mysql://root@127.0.0.1:3306/gw", "mysql://root@127.0.0.1:3306/gw", []string{"127.0.0.1:3306"}},
		{"mysql://u:p@db1,db2:3307, db3:3308/gw?tls=false", "mysql://u:p@db1:3306/gw?tls=false", []string{"db1:3306", "db2:3307", "db3:3308"}},
		{"mysql://u:p%40x@[::1]:3311,[::1]/gw", "mysql://u:p%40x@[::1]:3311/gw", []string{"[::1]:3311", "[::1]:3306"}},
	} {
		first, hosts := splitHosts(c.dsn)
		if first != c.first || !slices.Equal(hosts, c.hosts) {
			t.Errorf("splitHosts(%q) = %q %q; want %q %q", c.dsn, first, hosts, c.first, c.hosts)
		}
	}
	cfg, err := MySQLConfig("mysql://u:p@db1:3311,db2:3312/gw")
	if err != nil || cfg.Addr != "db1:3311" || cfg.DBName != "gw" || cfg.User != "u" || cfg.Passwd != "p" {
		t.Fatalf("MySQLConfig of a host list: %+v %v", cfg, err)
	}
}

func TestRetryableCoversGaleraAndNeverAnUnknownCommit(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}, true},
		{fmt.Errorf("commit: %w", &mysql.MySQLError{Number: 1213}), true},
		{&mysql.MySQLError{Number: 1205}, true},
		{&mysql.MySQLError{Number: 1047, Message: "WSREP has not yet prepared node for application use"}, true},
		{&mysql.MySQLError{Number: 1053}, true},
		{&mysql.MySQLError{Number: 3101, Message: "Plugin instructed the server to rollback the current transaction."}, true},
		{&mysql.MySQLError{Number: 1290, Message: "The MySQL server is running with the --super-read-only option"}, true},
		{fmt.Errorf("insert: %w", mysql.ErrInvalidConn), true},
		{driver.ErrBadConn, true},
		{&errCommitUnknown{mysql.ErrInvalidConn}, false},
		{&mysql.MySQLError{Number: 1062}, false},
		{errors.New("SQLITE_BUSY"), true},
		{errors.New("syntax"), false},
	} {
		if got := IsRetryable(c.err); got != c.want {
			t.Errorf("IsRetryable(%v) = %v; want %v", c.err, got, c.want)
		}
	}
}
