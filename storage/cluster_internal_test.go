package storage

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// fakeServer answers the statements memberProblem runs from canned rows, as a Galera node, a
// MySQL 8 Group Replication member or a lone server would.
type fakeServer map[string][][2]string

func (f fakeServer) query(stmt string) ([][2]string, error) {
	for prefix, rows := range f {
		if strings.HasPrefix(stmt, prefix) {
			return rows, nil
		}
	}
	return nil, fmt.Errorf("fake server: unexpected statement %q", stmt)
}

func groupMember(state, role string) fakeServer {
	return fakeServer{
		"SHOW GLOBAL VARIABLES": {{"group_replication_group_name", "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"}},
		"SELECT MEMBER_STATE":   {{state, role}},
	}
}

func TestMemberProblemByTheSameRuleOnGaleraAndGroupReplication(t *testing.T) {
	galera := func(ready string, state string) fakeServer {
		return fakeServer{
			"SHOW GLOBAL VARIABLES": {{"wsrep_on", "ON"}},
			"SHOW GLOBAL STATUS":    {{"wsrep_local_state", state}, {"wsrep_ready", ready}},
		}
	}
	for _, c := range []struct {
		name    string
		server  fakeServer
		problem string // "" when fine, else a part of the message
	}{
		{"one MariaDB server", fakeServer{"SHOW GLOBAL VARIABLES": nil}, ""},
		{"MariaDB with wsrep off", fakeServer{"SHOW GLOBAL VARIABLES": {{"wsrep_on", "OFF"}}}, ""},
		{"MySQL with the group replication plugin, no group", fakeServer{"SHOW GLOBAL VARIABLES": {{"group_replication_group_name", ""}}}, ""},
		{"galera synced", galera("ON", "4"), ""},
		{"galera donor", galera("ON", "2"), "galera node not synced"},
		{"galera not ready", galera("OFF", "0"), "galera node not synced"},
		{"group member online, multi-primary", groupMember("ONLINE", "PRIMARY"), ""},
		{"group member online, no role column value", groupMember("ONLINE", ""), ""},
		{"group member recovering", groupMember("RECOVERING", "SECONDARY"), "RECOVERING, not ONLINE"},
		{"group member in error", groupMember("ERROR", ""), "ERROR, not ONLINE"},
		{"group member unreachable", groupMember("UNREACHABLE", "PRIMARY"), "UNREACHABLE, not ONLINE"},
		{"group member offline", groupMember("OFFLINE", ""), "OFFLINE, not ONLINE"},
		{"single-primary secondary", groupMember("ONLINE", "SECONDARY"), "read-only SECONDARY"},
		{"member left the group", fakeServer{
			"SHOW GLOBAL VARIABLES": {{"group_replication_group_name", "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"}},
			"SELECT MEMBER_STATE":   nil,
		}, "not in its group"},
	} {
		problem, err := memberProblem(context.Background(), c.server.query)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if (c.problem == "") != (problem == "") || !strings.Contains(problem, c.problem) {
			t.Errorf("%s: problem %q; want %q", c.name, problem, c.problem)
		}
	}
	// A server that cannot say is an error, not a verdict.
	broken := fakeServer{"SHOW GLOBAL VARIABLES": {{"group_replication_group_name", "g"}}}
	if _, err := memberProblem(context.Background(), broken.query); err == nil {
		t.Error("a failing performance_schema query gave no error")
	}
}
