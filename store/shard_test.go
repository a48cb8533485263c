package store

import (
	"context"
	"testing"
)

// recordingStore keeps the last statement and table it was given.
type recordingStore struct {
	Store
	last string
}

func (r *recordingStore) DB() Names {
	return Names{Stats: "p_sezim_stats", Identified: "p_sezim_identified"}
}
func (r *recordingStore) Exec(_ context.Context, q string) error {
	r.last = q
	return nil
}
func (r *recordingStore) Query(_ context.Context, q string, _ func(Row) error) error {
	r.last = q
	return nil
}
func (r *recordingStore) Insert(_ context.Context, table string, _ []string, _ [][]any) error {
	r.last = table
	return nil
}

func TestShardLocal(t *testing.T) {
	rec := &recordingStore{}
	l := ShardLocal(rec)
	ctx := context.Background()
	f := func(in, want string) {
		t.Helper()
		for _, call := range []func() error{
			func() error { return l.Exec(ctx, in) },
			func() error { return l.Query(ctx, in, nil) },
			func() error { return l.Insert(ctx, in, nil, nil) },
		} {
			if err := call(); err != nil {
				t.Fatal(err)
			}
			if rec.last != want {
				t.Fatalf("%q became %q, want %q", in, rec.last, want)
			}
		}
	}
	f("p_sezim_stats.events", "p_sezim_stats.events_local")
	f("SELECT count() FROM p_sezim_stats.events WHERE visitor IN (SELECT visitor FROM p_sezim_stats.events)",
		"SELECT count() FROM p_sezim_stats.events_local WHERE visitor IN (SELECT visitor FROM p_sezim_stats.events_local)")
	f("INSERT INTO p_sezim_stats.agg_daily SELECT * FROM p_sezim_stats.agg_hourly FINAL",
		"INSERT INTO p_sezim_stats.agg_daily_local SELECT * FROM p_sezim_stats.agg_hourly_local FINAL")
	f("ALTER TABLE p_sezim_stats.agg_pairs DROP PARTITION 202611", "ALTER TABLE p_sezim_stats.agg_pairs_local DROP PARTITION 202611")
	// Not sharded, or another database, or already local: unchanged.
	f("SELECT * FROM p_sezim_stats.rollup_state FINAL", "SELECT * FROM p_sezim_stats.rollup_state FINAL")
	f("SELECT * FROM p_sezim_stats.events_local", "SELECT * FROM p_sezim_stats.events_local")
	f("SELECT * FROM p_sezim_identified.events", "SELECT * FROM p_sezim_identified.events")
	f("SELECT * FROM x_p_sezim_stats.events", "SELECT * FROM x_p_sezim_stats.events")
	f("SELECT * FROM p_sezim_stats.agg_daily_pairs", "SELECT * FROM p_sezim_stats.agg_daily_pairs")
	f("SELECT table FROM system.parts WHERE table IN ('agg_daily')", "SELECT table FROM system.parts WHERE table IN ('agg_daily')")
}
