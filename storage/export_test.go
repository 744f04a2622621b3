package storage

// InsertRowByRow makes db insert every row on its own, as it does on a server whose
// auto-increment values may interleave (rows.go), so both ways are tested on each dialect.
func InsertRowByRow(db *DB) { db.ids.rowByRow = true }
