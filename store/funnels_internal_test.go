package store

import (
	"context"
	"strings"
	"testing"
)

// TestRenderFunnelsOnCluster checks, on a fresh cluster (no local parts
// yet), that migration 019 leaves the funnels table alone (it does not
// exist then) and that 020 makes it and shards it like agg_daily; and that
// a shard's rollup writes its local part.
func TestRenderFunnelsOnCluster(t *testing.T) {
	m := NewMigrator(&recordingStore{}, MigrateOptions{Cluster: "main"})
	migs, err := m.load()
	if err != nil {
		t.Fatal(err)
	}
	rendered := map[uint32]string{}
	for _, mig := range migs {
		if mig.version == 19 || mig.version == 20 {
			stmts, err := m.render(context.Background(), mig)
			if err != nil {
				t.Fatal(err)
			}
			rendered[mig.version] = strings.Join(stmts, ";\n")
		}
	}
	if strings.Contains(rendered[19], "funnels") || !strings.Contains(rendered[19], "p_sezim_stats.agg_daily_local") {
		t.Errorf("019:\n%s", rendered[19])
	}
	for _, want := range []string{
		"CREATE TABLE IF NOT EXISTS p_sezim_stats.funnels ON CLUSTER main (",
		"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/p_sezim_stats.funnels', '{replica}', version)",
		"RENAME TABLE p_sezim_stats.funnels TO p_sezim_stats.funnels_local ON CLUSTER main",
		"CREATE TABLE IF NOT EXISTS p_sezim_stats.funnels ON CLUSTER main AS p_sezim_stats.funnels_local\nENGINE = Distributed(main, p_sezim_stats, funnels_local)",
	} {
		if !strings.Contains(rendered[20], want) {
			t.Errorf("020 lacks %q:\n%s", want, rendered[20])
		}
	}
	rec := &recordingStore{}
	if err := ShardLocal(rec).Exec(context.Background(), "INSERT INTO p_sezim_stats.funnels SELECT * FROM p_sezim_stats.funnels FINAL"); err != nil {
		t.Fatal(err)
	}
	if want := "INSERT INTO p_sezim_stats.funnels_local SELECT * FROM p_sezim_stats.funnels_local FINAL"; rec.last != want {
		t.Errorf("shard-local: %q, want %q", rec.last, want)
	}
}
