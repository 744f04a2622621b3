package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Running on a MariaDB Galera cluster (or any multi-primary MySQL) differs from one server
// where the queue depends on it: conflicting writes from two nodes are resolved at commit by
// certification and surface as deadlocks (1213), a node that has left the cluster refuses
// every statement (1047, "WSREP has not yet prepared node for application use") until it has
// rejoined, and locks (SKIP LOCKED, GET_LOCK) are local to one node. This file holds what
// copes with that: the retry policy every write path goes through, a connector that fails
// over between the hosts GATEWAY_DB lists, and the node health /healthz reports.

// MySQL error numbers the retry policy knows.
const (
	errLockWaitTimeout = 1205 // ER_LOCK_WAIT_TIMEOUT
	errDeadlock        = 1213 // ER_LOCK_DEADLOCK; a Galera certification failure too
	errWsrepNotReady   = 1047 // ER_UNKNOWN_COM_ERROR: WSREP has not yet prepared node for application use
	errServerShutdown  = 1053 // ER_SERVER_SHUTDOWN
	errConnKilled      = 1927 // ER_CONNECTION_KILLED
	errReadOnly        = 1290 // ER_OPTION_PREVENTS_STATEMENT: a read-only (super_read_only) secondary
	errGRRollback      = 3101 // ER_TRANSACTION_ROLLBACK_DURING_COMMIT: MySQL Group Replication certification
)

// errCommitUnknown wraps a commit that failed because the connection broke: the transaction
// may or may not have committed, so it is never run again blindly.
type errCommitUnknown struct{ err error }

func (e *errCommitUnknown) Error() string { return "commit: outcome unknown: " + e.err.Error() }
func (e *errCommitUnknown) Unwrap() error { return e.err }

// IsRetryable reports a transaction the database rolled back on its own and that may simply
// be run again: a deadlock or Galera certification failure (1213), a MySQL Group Replication
// certification failure (3101), a lock wait timeout (1205), a Galera node not ready (1047),
// a server shutting down (1053) or read-only (1290: a secondary; the failover connector
// moves on), a connection lost before commit; or SQLite busy. A commit whose outcome is unknown (the connection broke during COMMIT) is not.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var cu *errCommitUnknown
	if errors.As(err, &cu) {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case errDeadlock, errLockWaitTimeout, errWsrepNotReady, errServerShutdown, errConnKilled, errReadOnly, errGRRollback:
			return true
		}
		return false
	}
	if isConnError(err) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked")
}

// isConnError reports an error that means the connection (or the server behind it) is gone.
func isConnError(err error) bool {
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// isNodeError reports an error after which the connection's server should not be used again
// for a while: it is not a synced cluster member, it is shutting down, or it is unreachable.
func isNodeError(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == errWsrepNotReady || me.Number == errServerShutdown || me.Number == errConnKilled || me.Number == errReadOnly
	}
	return isConnError(err)
}

// retryTries bounds the retry loop: enough for a burst of certification conflicts between
// nodes claiming the same rows, and for a database node to drop out of the pool.
const retryTries = 10

// retry runs fn until it succeeds, fails with an error that is not retryable, ctx ends, or
// retryTries runs are spent. fn must be a whole transaction (or one idempotent statement):
// nothing of a failed run is committed. Conflicts are retried after a short random pause (the
// nodes that collided must not collide again in step); node errors after a longer one, by
// which time the failover connector has moved the pool to another host.
func (db *DB) retry(ctx context.Context, fn func() error) error {
	var err error
	for try := 0; try < retryTries; try++ {
		if err = fn(); err == nil || !IsRetryable(err) {
			return err
		}
		pause := time.Duration(try+1)*10*time.Millisecond + time.Duration(rand.Int64N(int64(20*time.Millisecond)))
		if isNodeError(err) {
			pause = min(time.Duration(try+1)*200*time.Millisecond, time.Second)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
	return err
}

// txRetry is Tx run through the retry policy. fn may run more than once: it must reset
// whatever it fills in outside the transaction.
func (db *DB) txRetry(ctx context.Context, fn func(tx *sqlxTx) error) error {
	return db.retry(ctx, func() error { return db.Tx(ctx, fn) })
}

// execRetry runs one idempotent statement outside a transaction through the retry policy.
func (db *DB) execRetry(ctx context.Context, q string, args ...any) (int64, error) {
	var n int64
	err := db.retry(ctx, func() error {
		res, err := db.w.ExecContext(ctx, q, args...)
		n, err = queueAffected(res, err)
		return err
	})
	return n, err
}

// splitHosts takes the host list out of mysql://user:pass@host1:port,host2:port/db?opts and
// returns the DSN with the first host alone, and every host with its port.
func splitHosts(dsn string) (string, []string) {
	scheme, rest, _ := strings.Cut(dsn, "://")
	userinfo, hostpart := "", rest
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if slash := strings.Index(rest, "/"); slash < 0 || at < slash {
			userinfo, hostpart = rest[:at+1], rest[at+1:]
		}
	}
	hosts, tail := hostpart, ""
	if i := strings.IndexAny(hostpart, "/?"); i >= 0 {
		hosts, tail = hostpart[:i], hostpart[i:]
	}
	var out []string
	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if !strings.Contains(strings.TrimPrefix(h[strings.LastIndex(h, "]")+1:], "["), ":") {
			h += ":3306"
		}
		out = append(out, h)
	}
	first := ""
	if len(out) > 0 {
		first = out[0]
	}
	return scheme + "://" + userinfo + first + tail, out
}

// failover is a driver.Connector over several database hosts (GATEWAY_DB listing them
// comma-separated). A new connection goes to the first host, in the order listed, that
// answers and, on Galera, is synced (wsrep_ready ON, wsrep_local_state 4); a host that fails
// is passed over for a while. A connection whose server turns out gone or not synced is
// discarded, and so is every other pooled connection to that host.
type failover struct {
	cfgs    []*mysql.Config
	conns   []driver.Connector
	mu      sync.Mutex
	avoid   []time.Time    // host -> passed over until
	epoch   []atomic.Int64 // host -> bumped when it failed; older connections are discarded
	current atomic.Int64   // the host the last connection went to
	stmts   *atomic.Int64  // statements run (DB.Statements)
}

// hostAvoid is how long a failed host is passed over when another is available.
const hostAvoid = 5 * time.Second

func newFailover(cfg *mysql.Config, hosts []string) (*failover, error) {
	f := &failover{avoid: make([]time.Time, len(hosts)), epoch: make([]atomic.Int64, len(hosts)), stmts: new(atomic.Int64)}
	for _, h := range hosts {
		c := cfg.Clone()
		c.Addr = h
		conn, err := mysql.NewConnector(c)
		if err != nil {
			return nil, fmt.Errorf("mysql: %w", err)
		}
		f.cfgs = append(f.cfgs, c)
		f.conns = append(f.conns, conn)
	}
	return f, nil
}

func (f *failover) Driver() driver.Driver { return f.conns[0].Driver() }

func (f *failover) Connect(ctx context.Context) (driver.Conn, error) {
	now := time.Now()
	f.mu.Lock()
	var order, later []int
	for i := range f.conns {
		if now.Before(f.avoid[i]) {
			later = append(later, i)
		} else {
			order = append(order, i)
		}
	}
	f.mu.Unlock()
	var errs []error
	for _, i := range append(order, later...) {
		c, err := f.conns[i].Connect(ctx)
		if err == nil && len(f.conns) > 1 {
			if err = nodeSynced(ctx, c.(driver.QueryerContext)); err != nil {
				c.Close()
			}
		}
		if err != nil {
			f.fail(i)
			errs = append(errs, fmt.Errorf("%s: %w", f.cfgs[i].Addr, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		f.current.Store(int64(i))
		return &nodeConn{Conn: c, f: f, host: i, epoch: f.epoch[i].Load()}, nil
	}
	return nil, errors.Join(errs...)
}

// fail passes host i over for a while and retires its pooled connections.
func (f *failover) fail(i int) {
	f.mu.Lock()
	f.avoid[i] = time.Now().Add(hostAvoid)
	f.mu.Unlock()
	f.epoch[i].Add(1)
}

// Host is the address new connections currently go to.
func (f *failover) Host() string { return f.cfgs[f.current.Load()].Addr }

// nodeSynced returns an error when the server is a cluster member not fit for gatewayd
// (see memberProblem); any other server is fine.
func nodeSynced(ctx context.Context, q driver.QueryerContext) error {
	problem, err := memberProblem(ctx, func(stmt string) ([][2]string, error) {
		rows, err := q.QueryContext(ctx, stmt, nil)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out [][2]string
		vals := make([]driver.Value, len(rows.Columns()))
		for {
			if err := rows.Next(vals); err != nil {
				if err == io.EOF {
					return out, nil
				}
				return nil, err
			}
			out = append(out, [2]string{valueString(vals[0]), valueString(vals[1])})
		}
	})
	if err != nil {
		return err
	}
	if problem != "" {
		return errors.New(problem)
	}
	return nil
}

func valueString(v driver.Value) string {
	switch v := v.(type) {
	case []byte:
		return string(v)
	case string:
		return v
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// memberProblem says why the server is a cluster member gatewayd should not use ("" when it
// is fine), by one rule for both kinds of MySQL-compatible cluster:
//
//   - a Galera node (wsrep_on ON) must be ready for application use and synced with its
//     cluster (wsrep_ready ON, wsrep_local_state 4), not joining, donating, desynced or cut
//     off from the primary component;
//   - a MySQL Group Replication member (InnoDB Cluster; group_replication_group_name set)
//     must be ONLINE in performance_schema.replication_group_members (not RECOVERING,
//     OFFLINE, ERROR or UNREACHABLE), and not a SECONDARY of a single-primary group, which
//     is read-only.
//
// A server that is neither (one MariaDB or MySQL server) is fine. query runs a statement
// whose rows have two columns.
func memberProblem(ctx context.Context, query func(string) ([][2]string, error)) (string, error) {
	rows, err := query("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('wsrep_on', 'group_replication_group_name')")
	if err != nil {
		return "", err
	}
	var galera, group bool
	for _, r := range rows {
		switch strings.ToLower(r[0]) {
		case "wsrep_on":
			galera = strings.EqualFold(r[1], "ON")
		case "group_replication_group_name":
			group = r[1] != ""
		}
	}
	switch {
	case galera:
		rows, err = query("SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_local_state')")
		if err != nil {
			return "", err
		}
		var ready bool
		var state int
		for _, r := range rows {
			switch strings.ToLower(r[0]) {
			case "wsrep_ready":
				ready = strings.EqualFold(r[1], "ON")
			case "wsrep_local_state":
				state, _ = strconv.Atoi(r[1])
			}
		}
		if !ready || state != 4 {
			return fmt.Sprintf("galera node not synced: wsrep_ready %v, wsrep_local_state %d (4 is Synced)", ready, state), nil
		}
	case group:
		rows, err = query(`SELECT MEMBER_STATE, MEMBER_ROLE FROM performance_schema.replication_group_members
			WHERE MEMBER_ID = @@server_uuid`)
		if err != nil {
			return "", err
		}
		if len(rows) == 0 {
			return "group replication member not in its group (no row in performance_schema.replication_group_members)", nil
		}
		state, role := strings.ToUpper(rows[0][0]), strings.ToUpper(rows[0][1])
		if state != "ONLINE" {
			return fmt.Sprintf("group replication member %s, not ONLINE", state), nil
		}
		if role == "SECONDARY" {
			return "group replication member is a read-only SECONDARY (writes go to the PRIMARY)", nil
		}
	}
	return "", nil
}

// nodeConn is a pooled connection to one host. It notices its server failing (a node
// error) and is then discarded by the pool rather than reused; so is every connection to a
// host another connection saw fail.
type nodeConn struct {
	driver.Conn
	f     *failover
	host  int
	epoch int64
	bad   atomic.Bool
}

func (c *nodeConn) check(err error) error {
	if err != nil && err != driver.ErrSkip && isNodeError(err) && !c.bad.Swap(true) {
		c.f.fail(c.host)
	}
	return err
}

func (c *nodeConn) stale() bool { return c.bad.Load() || c.f.epoch[c.host].Load() != c.epoch }

func (c *nodeConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	c.f.stmts.Add(1)
	s, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	return s, c.check(err)
}

func (c *nodeConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, c.check(err)
	}
	return &nodeTx{Tx: tx, c: c}, nil
}

func (c *nodeConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	r, err := c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
	if err != driver.ErrSkip {
		c.f.stmts.Add(1) // on ErrSkip the statement is prepared instead (counted there)
	}
	return r, c.check(err)
}

func (c *nodeConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	r, err := c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
	if err != driver.ErrSkip {
		c.f.stmts.Add(1)
	}
	return r, c.check(err)
}

func (c *nodeConn) Ping(ctx context.Context) error {
	return c.check(c.Conn.(driver.Pinger).Ping(ctx))
}

func (c *nodeConn) ResetSession(ctx context.Context) error {
	if c.stale() {
		return driver.ErrBadConn
	}
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *nodeConn) IsValid() bool {
	if c.stale() {
		return false
	}
	v, ok := c.Conn.(driver.Validator)
	return !ok || v.IsValid()
}

func (c *nodeConn) CheckNamedValue(nv *driver.NamedValue) error {
	return c.Conn.(driver.NamedValueChecker).CheckNamedValue(nv)
}

type nodeTx struct {
	driver.Tx
	c *nodeConn
}

func (t *nodeTx) Commit() error   { return t.c.check(t.Tx.Commit()) }
func (t *nodeTx) Rollback() error { return t.c.check(t.Tx.Rollback()) }

// Galera reports whether the database is a Galera cluster node (wsrep_on).
func (db *DB) Galera() bool { return db.galera }

// Health checks the database answers and, on a cluster member, that gatewayd can use it
// (memberProblem): a Galera node that is not ready and synced (joining, donating, cut off
// from the cluster) or a Group Replication member that is not ONLINE (or is a read-only
// SECONDARY) makes /healthz unhealthy, so a load balancer stops sending work to this
// gatewayd. When GATEWAY_DB lists other hosts, the node is passed over
// and the next one checked: gatewayd is healthy while one of its hosts is.
func (db *DB) Health(ctx context.Context) error {
	if err := db.w.PingContext(ctx); err != nil {
		return err
	}
	if db.Dialect != MySQL {
		return nil
	}
	tries := 1
	if db.hosts != nil {
		tries = len(db.hosts.conns)
	}
	var err error
	for i := 0; i < tries; i++ {
		if err = db.nodeHealth(ctx); err == nil || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func (db *DB) nodeHealth(ctx context.Context) error {
	conn, err := db.w.Connx(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	problem, err := memberProblem(ctx, func(q string) ([][2]string, error) {
		var out [][2]string
		rows, err := conn.QueryContext(ctx, q)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var r [2]sql.NullString
			if err := rows.Scan(&r[0], &r[1]); err != nil {
				return nil, err
			}
			out = append(out, [2]string{r[0].String, r[1].String})
		}
		return out, rows.Err()
	})
	if err != nil {
		return err
	}
	if problem != "" {
		err = errors.New(problem)
		conn.Raw(func(dc any) error {
			if c, ok := dc.(*nodeConn); ok && len(c.f.conns) > 1 && !c.bad.Swap(true) {
				c.f.fail(c.host)
			}
			return nil
		})
		return err
	}
	return nil
}
