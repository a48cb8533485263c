package store

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

type namesOnly struct{ Store }

func (namesOnly) DB() Names { return DefaultNames.WithPrefix("p_") }

func TestSplitStatements(t *testing.T) {
	f := func(script string, want ...string) {
		t.Helper()
		if got := splitStatements(script); !reflect.DeepEqual(got, want) {
			t.Errorf("splitStatements(%q) = %q, want %q", script, got, want)
		}
	}
	f("")
	f("-- only a comment\n\n")
	f("SELECT 1;\nSELECT 2;", "SELECT 1", "SELECT 2")
	f("CREATE TABLE t (\n  a String -- drops trailing comments\n);\n-- x;\nSELECT ';' ;  \nSELECT 3", "CREATE TABLE t (\n  a String\n)", "SELECT ';'", "SELECT 3")
	f("SELECT '--', `a--b`, \"c--\", 'it\\'s -- x' -- why\nFROM t; -- after", "SELECT '--', `a--b`, \"c--\", 'it\\'s -- x'\nFROM t")
	// A ; inside a line does not split.
	f("SELECT 1; SELECT 2\n", "SELECT 1; SELECT 2")
}

func TestEngineTemplate(t *testing.T) {
	single := NewMigrator(namesOnly{}, MigrateOptions{})
	cluster := NewMigrator(namesOnly{}, MigrateOptions{Cluster: "main"})
	f := func(m *Migrator, args []string, want string) {
		t.Helper()
		if got := m.engine(args[0], args[1], args[2:]...); got != want {
			t.Errorf("engine %q = %q, want %q", args, got, want)
		}
	}
	f(single, []string{"MergeTree", "events"}, "MergeTree")
	f(single, []string{"ReplacingMergeTree", "agg", "version"}, "ReplacingMergeTree(version)")
	f(cluster, []string{"MergeTree", "events"}, "ReplicatedMergeTree('/clickhouse/tables/{shard}/p_sezim_stats.events', '{replica}')")
	f(cluster, []string{"ReplacingMergeTree", "agg", "version"}, "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/p_sezim_stats.agg', '{replica}', version)")
	f(cluster, []string{"MergeTree", "p_sezim_identified.consent"}, "ReplicatedMergeTree('/clickhouse/tables/{shard}/p_sezim_identified.consent', '{replica}')")
}

// TestRenderStats checks the shipped schema renders in both modes.
func TestRenderStats(t *testing.T) {
	for _, cluster := range []string{"", "main"} {
		m := NewMigrator(namesOnly{}, MigrateOptions{Cluster: cluster})
		migs, err := m.load()
		if err != nil {
			t.Fatal(err)
		}
		stmts, err := m.render(context.Background(), migs[0])
		if err != nil {
			t.Fatal(err)
		}
		if len(stmts) != 5 {
			t.Fatalf("cluster %q: %d statements, want 5", cluster, len(stmts))
		}
		all := strings.Join(stmts, "\n")
		if strings.Contains(all, "{{") || strings.Contains(all, "--") {
			t.Errorf("cluster %q: unrendered or comment left:\n%s", cluster, all)
		}
		if cluster != "" && strings.Count(all, "ON CLUSTER main") != 5 {
			t.Errorf("ON CLUSTER missing:\n%s", all)
		}
		if cluster != "" && !strings.Contains(all, "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/p_sezim_stats.agg_daily', '{replica}', version)") {
			t.Errorf("replicated engine missing:\n%s", all)
		}
	}
}
