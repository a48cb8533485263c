package hashchain

import (
	"context"
	"fmt"
	"time"

	"github.com/sezim-analytics/sezim/store"
)

// Anchor records, before retention destroys the rows of table (a chained
// log of log: consent_log or audit_log) older than before, where each
// chain will go on: the seq and row_hash of its newest row older than
// before, as a pruned checkpoint. Verify then accepts a chain that starts
// right after its anchor, and still reports any other gap. Call it before
// dropping the partitions, with before at or after their end; rows of a
// chain written out of time order across that boundary would show as a
// gap. It returns how many chains were anchored.
func Anchor(ctx context.Context, st store.Store, table, log string, cps *Checkpoints, before time.Time) (int, error) {
	q := fmt.Sprintf("SELECT chain, max(seq), argMax(row_hash, seq), argMax(hash_alg, seq) FROM %s WHERE chain != '' AND ts < toDateTime(%d, 'UTC') GROUP BY chain",
		table, before.Unix())
	var anchors []Checkpoint
	if err := st.Query(ctx, q, func(r store.Row) error {
		anchors = append(anchors, Checkpoint{Pruned: true, Log: log, Chain: r.String(0), Seq: r.Uint64(1), Hash: r.String(2), Alg: r.String(3)})
		return nil
	}); err != nil {
		return 0, fmt.Errorf("cannot read the heads of %s before %s: %w", table, before.UTC().Format(time.DateOnly), err)
	}
	if err := cps.Write(anchors...); err != nil {
		return 0, err
	}
	return len(anchors), nil
}
