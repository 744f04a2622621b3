package storage

import (
	"context"
	"fmt"
	"strings"
)

// Multi-row inserts whose ids are known without reading them back.
//
// The ids a multi-row INSERT ... VALUES gives its rows follow from the one id the database
// reports: SQLite (the write lock held, INTEGER PRIMARY KEY) gives max(rowid)+1 onwards and
// reports the last; InnoDB, in its "traditional" and "consecutive" auto-increment lock modes
// (innodb_autoinc_lock_mode 0 and 1, MariaDB's default), gives a simple insert consecutive
// values, auto_increment_increment apart, and reports the first. In the "interleaved" mode
// (2, which Galera requires) a concurrent INSERT ... SELECT may take values in between, so
// there every row is inserted on its own and reports its own id.

// idMode is how a DB learns the ids of the rows it inserts.
type idMode struct {
	rowByRow bool  // one INSERT per row
	step     int64 // MySQL: auto_increment_increment
}

// insertChunkRows and insertChunkBytes bound one multi-row INSERT: under SQLite's limit of
// bound parameters (32,766) at 23 columns a row, and far under MySQL's max_allowed_packet.
const (
	insertChunkRows  = 500
	insertChunkBytes = 4 << 20
)

// insertRows writes rows (each len(cols) values) into table and returns their ids, in
// order: one multi-row INSERT per chunk, or one INSERT per row when m.rowByRow.
func insertRows(ctx context.Context, tx *sqlxTx, m idMode, table string, cols []string, rows [][]any) ([]int64, error) {
	ids := make([]int64, 0, len(rows))
	head := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES "
	tuple := "(" + placeholders(len(cols)) + ")"
	for len(rows) > 0 {
		n, size := 1, rowBytes(rows[0])
		if !m.rowByRow {
			for n < len(rows) && n < insertChunkRows && size+rowBytes(rows[n]) <= insertChunkBytes {
				size += rowBytes(rows[n])
				n++
			}
		}
		chunk := rows[:n]
		rows = rows[n:]
		var q strings.Builder
		q.WriteString(head)
		args := make([]any, 0, n*len(cols))
		for i, r := range chunk {
			if len(r) != len(cols) {
				return nil, fmt.Errorf("insert %s: %d values for %d columns", table, len(r), len(cols))
			}
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(tuple)
			args = append(args, r...)
		}
		res, err := tx.ExecContext(ctx, q.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("insert %s: %w", table, err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return nil, fmt.Errorf("insert %s: %w", table, err)
		}
		if tx.DriverName() == "mysql" {
			step := max(m.step, 1)
			for i := range chunk {
				ids = append(ids, id+int64(i)*step) // the first row's id is reported
			}
		} else {
			for i := range chunk {
				ids = append(ids, id-int64(len(chunk)-1-i)) // the last row's id is reported
			}
		}
	}
	return ids, nil
}

// rowBytes is about how many bytes a row's values take in a statement.
func rowBytes(r []any) int {
	n := 0
	for _, v := range r {
		switch v := v.(type) {
		case string:
			n += len(v) + 3
		case []byte:
			n += 2*len(v) + 3 // escaped, at worst doubled
		default:
			n += 21
		}
	}
	return n
}

// splitCols turns a column list as the queries write it ("id, uuid,\n\tdomain_id") into names.
func splitCols(list string) []string {
	cols := strings.Split(list, ",")
	for i, c := range cols {
		cols[i] = strings.TrimSpace(c)
	}
	return cols
}
