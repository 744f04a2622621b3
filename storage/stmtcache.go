package storage

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"
	"sync/atomic"
)

// SQLite parses and plans a statement on every prepare, and database/sql prepares every
// statement it runs on a connection anew: on the acceptance and delivery paths that was about
// a fifth of all CPU (a third on SMTP acceptance). stmtCacheConnector keeps each
// connection's prepared statements by their text and runs a statement again from the cache:
// bind, step, reset. A connection is used by one goroutine at a time, so each has its own
// cache; a statement whose rows are still open when the same text is run again (a query
// inside another's loop) runs uncached.

// stmtCacheSize bounds how many statements one connection keeps prepared.
const stmtCacheSize = 256

type stmtCacheConnector struct {
	dsn   string
	drv   driver.Driver
	stmts *atomic.Int64 // statements run (DB.Statements)
}

func (c stmtCacheConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &stmtCacheConn{conn: conn, stmts: map[string]*cachedStmt{}, count: c.stmts}, nil
}

func (c stmtCacheConnector) Driver() driver.Driver { return c.drv }

// sqliteConn is what the SQLite driver's connection offers and the cache passes through.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type cachedStmt struct {
	stmt interface {
		driver.StmtExecContext
		driver.StmtQueryContext
		Close() error
	}
	busy bool // its rows are open
}

type stmtCacheConn struct {
	conn  driver.Conn
	stmts map[string]*cachedStmt
	count *atomic.Int64
}

func (c *stmtCacheConn) sqlite() (sqliteConn, error) {
	sc, ok := c.conn.(sqliteConn)
	if !ok {
		return nil, errors.New("sqlite: the driver's connection lacks the context methods")
	}
	return sc, nil
}

// cached returns the prepared statement for query, preparing it on first use; nil when the
// query is not cached (a script of several statements, or the statement is busy).
func (c *stmtCacheConn) cached(ctx context.Context, query string) (*cachedStmt, error) {
	if s, ok := c.stmts[query]; ok {
		if s.busy {
			return nil, nil
		}
		return s, nil
	}
	if strings.Contains(strings.TrimRight(strings.TrimSpace(query), ";"), ";") {
		return nil, nil // a script: the driver runs it statement by statement
	}
	sc, err := c.sqlite()
	if err != nil {
		return nil, err
	}
	ds, err := sc.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := ds.(interface {
		driver.StmtExecContext
		driver.StmtQueryContext
		Close() error
	})
	if !ok {
		ds.Close()
		return nil, nil
	}
	if len(c.stmts) >= stmtCacheSize {
		for q, s := range c.stmts {
			if !s.busy {
				s.stmt.Close()
				delete(c.stmts, q)
				break
			}
		}
	}
	s := &cachedStmt{stmt: st}
	c.stmts[query] = s
	return s, nil
}

func (c *stmtCacheConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.count.Add(1)
	s, err := c.cached(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		sc, err := c.sqlite()
		if err != nil {
			return nil, err
		}
		return sc.ExecContext(ctx, query, args)
	}
	return s.stmt.ExecContext(ctx, args)
}

func (c *stmtCacheConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.count.Add(1)
	s, err := c.cached(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		sc, err := c.sqlite()
		if err != nil {
			return nil, err
		}
		return sc.QueryContext(ctx, query, args)
	}
	rows, err := s.stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	r, ok := rows.(sqliteRows)
	if !ok {
		rows.Close()
		return nil, errors.New("sqlite: the driver's rows lack the column type methods")
	}
	s.busy = true
	return &cachedRows{sqliteRows: r, s: s}, nil
}

// sqliteRows is what the SQLite driver's rows offer.
type sqliteRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

// cachedRows frees its statement for the next use when closed (the driver resets it).
type cachedRows struct {
	sqliteRows
	s *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.sqliteRows.Close()
	r.s.busy = false
	return err
}

func (c *stmtCacheConn) Prepare(query string) (driver.Stmt, error) { return c.conn.Prepare(query) }

func (c *stmtCacheConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	sc, err := c.sqlite()
	if err != nil {
		return nil, err
	}
	return sc.PrepareContext(ctx, query)
}

func (c *stmtCacheConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *stmtCacheConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	sc, err := c.sqlite()
	if err != nil {
		return nil, err
	}
	return sc.BeginTx(ctx, opts)
}

func (c *stmtCacheConn) Ping(ctx context.Context) error {
	sc, err := c.sqlite()
	if err != nil {
		return err
	}
	return sc.Ping(ctx)
}

func (c *stmtCacheConn) ResetSession(ctx context.Context) error {
	sc, err := c.sqlite()
	if err != nil {
		return err
	}
	return sc.ResetSession(ctx)
}

func (c *stmtCacheConn) IsValid() bool {
	sc, err := c.sqlite()
	return err == nil && sc.IsValid()
}

// Close finalizes the cached statements, then closes the connection.
func (c *stmtCacheConn) Close() error {
	for q, s := range c.stmts {
		s.stmt.Close()
		delete(c.stmts, q)
	}
	return c.conn.Close()
}
