package store

import (
	"context"
	"fmt"
	"time"
)

// DeleteWhere deletes the rows of table (db.name) that match where and
// waits until none is left, so a caller can say "destroyed" and mean it.
// It returns how many rows matched before the delete. ClickHouse deletes
// by mutation, which runs in the background on both 18.16 and 26.x; the
// embedded engine is asked to run it synchronously (mutations_sync = 2),
// and on both the remaining rows are counted until they are 0. A ctx
// deadline bounds the wait; when it passes, the error says how many rows
// were still there.
func DeleteWhere(ctx context.Context, st Store, table, where string) (uint64, error) {
	if !isQualifiedIdent(table) {
		return 0, fmt.Errorf("cannot delete rows: invalid table name")
	}
	n, err := CountWhere(ctx, st, table, where)
	if err != nil || n == 0 {
		return 0, err
	}
	q := "ALTER TABLE " + table + " DELETE WHERE " + where
	if st.Engine() == "chdb" {
		// 18.16 knows no mutations_sync; there the loop below waits.
		q += " SETTINGS mutations_sync = 2"
	}
	if err := st.Exec(ctx, q); err != nil {
		return 0, fmt.Errorf("cannot delete rows of %s: %w", table, err)
	}
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		left, err := CountWhere(ctx, st, table, where)
		if err != nil {
			return 0, err
		}
		if left == 0 {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("cannot confirm the delete from %s (%d of %d rows left): %w", table, left, n, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// CountWhere counts the rows of table (db.name) that match where.
func CountWhere(ctx context.Context, st Store, table, where string) (uint64, error) {
	if !isQualifiedIdent(table) {
		return 0, fmt.Errorf("cannot count rows: invalid table name")
	}
	var n uint64
	err := st.Query(ctx, "SELECT count() FROM "+table+" WHERE "+where, func(r Row) error {
		n = r.Uint64(0)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cannot count rows of %s: %w", table, err)
	}
	return n, nil
}
