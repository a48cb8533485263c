package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

func tables(t *testing.T, s store.Store, db string) []string {
	t.Helper()
	var out []string
	q := "SELECT name FROM system.tables WHERE database = '" + db + "' ORDER BY name"
	if err := s.Query(context.Background(), q, func(r store.Row) error { out = append(out, r.String(0)); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMigrateFromEmpty(t *testing.T) {
	t.Parallel()
	storetest.ForEachEmpty(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		m := store.NewMigrator(s, store.MigrateOptions{})
		st, err := m.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st) == 0 || st[0].Name != "001_stats" || st[0].Version != 1 || st[0].Applied || !st[0].AppliedAt.IsZero() {
			t.Fatalf("status before Up = %+v", st)
		}
		if n, err := m.Pending(ctx); err != nil || n != len(st) {
			t.Fatalf("pending before Up = %d, %v; want %d", n, err, len(st))
		}
		applied, err := m.Up(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(applied) != len(st) || applied[0] != "001_stats" {
			t.Fatalf("applied = %q", applied)
		}
		st, err = m.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range st {
			if !m.Applied || m.AppliedAt.IsZero() {
				t.Errorf("after Up: %+v", m)
			}
		}
		if n, err := m.Pending(ctx); err != nil || n != 0 {
			t.Fatalf("pending after Up = %d, %v", n, err)
		}
		if again, err := m.Up(ctx); err != nil || len(again) != 0 {
			t.Fatalf("second Up = %q, %v", again, err)
		}
		got := tables(t, s, s.DB().Stats)
		for _, want := range []string{"agg_daily", "agg_hourly", "events", "schema_migrations"} {
			if !slices.Contains(got, want) {
				t.Errorf("table %s missing from %q", want, got)
			}
		}
		var records uint64
		err = s.Query(ctx, "SELECT count() FROM "+s.DB().Stats+".schema_migrations", func(r store.Row) error {
			records = r.Uint64(0)
			return nil
		})
		if err != nil || records != uint64(len(st)) {
			t.Fatalf("schema_migrations rows = %d, %v", records, err)
		}
	})
}

// TestMigrateResume shows a migration that fails halfway is re-run whole
// once fixed: its statements are idempotent, and it was not recorded.
func TestMigrateResume(t *testing.T) {
	t.Parallel()
	storetest.ForEachEmpty(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		files := fstest.MapFS{
			"001_a.sql": {Data: []byte("-- first\nCREATE DATABASE IF NOT EXISTS {{.Stats}}{{.OnCluster}};\n" +
				"CREATE TABLE IF NOT EXISTS {{.Stats}}.a{{.OnCluster}} (x UInt8)\nENGINE = {{engine \"MergeTree\" \"a\"}}\nORDER BY x;\n")},
			"002_b.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS {{.Stats}}.b (x UInt8) ENGINE = {{engine \"MergeTree\" \"b\"}} ORDER BY x;\n" +
				"CREATE TABLE broken syntax here;\n" +
				"CREATE TABLE IF NOT EXISTS {{.Stats}}.c (x UInt8) ENGINE = {{engine \"MergeTree\" \"c\"}} ORDER BY x;\n")},
		}
		m := store.NewMigrator(s, store.MigrateOptions{Files: files})
		applied, err := m.Up(ctx)
		if err == nil || !strings.Contains(err.Error(), "002_b (statement 2)") {
			t.Fatalf("Up with a broken statement: %v", err)
		}
		if len(applied) != 1 || applied[0] != "001_a" {
			t.Fatalf("applied before the failure = %q", applied)
		}
		if n, err := m.Pending(ctx); err != nil || n != 1 {
			t.Fatalf("pending after failure = %d, %v", n, err)
		}
		files["002_b.sql"].Data = []byte(strings.Replace(string(files["002_b.sql"].Data), "CREATE TABLE broken syntax here;\n", "", 1))
		applied, err = m.Up(ctx)
		if err != nil || len(applied) != 1 || applied[0] != "002_b" {
			t.Fatalf("Up after fix = %q, %v", applied, err)
		}
		if got := strings.Join(tables(t, s, s.DB().Stats), ","); got != "a,b,c,schema_migrations" {
			t.Fatalf("tables = %s", got)
		}
	})
}

func TestMigrateBadFiles(t *testing.T) {
	t.Parallel()
	// These fail before touching the store, so no engine is needed.
	f := func(files fstest.MapFS, want string) {
		t.Helper()
		m := store.NewMigrator(nilStore{}, store.MigrateOptions{Files: files})
		_, err := m.Up(context.Background())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Up = %v, want an error containing %q", err, want)
		}
	}
	f(fstest.MapFS{"1_x.sql": {}}, "want NNN_name.sql")
	f(fstest.MapFS{"001_x.sql": {}, "0001_y.sql": {}}, "version 1 is also")
	f(fstest.MapFS{"001_Bad-Name.sql": {}}, "want NNN_name.sql")
}

// nilStore fails every call; it stands in where a Store must not be used.
type nilStore struct{ store.Store }

func (nilStore) DB() store.Names { return store.DefaultNames }

func (nilStore) Query(context.Context, string, func(store.Row) error) error {
	return context.Canceled
}

// TestMigratePairSums upgrades a store with pair rows in agg_daily_pairs
// (several versions of a row, as ReplacingMergeTree keeps them until it
// merges) to agg_pairs: each cell's latest numbers, once, and the old table
// gone.
func TestMigratePairSums(t *testing.T) {
	storetest.ForEachEmpty(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		before := fstest.MapFS{}
		entries, err := os.ReadDir("migrations")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() < "011" {
				b, err := os.ReadFile(filepath.Join("migrations", e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				before[e.Name()] = &fstest.MapFile{Data: b}
			}
		}
		if _, err := store.NewMigrator(st, store.MigrateOptions{Files: before}).Up(ctx); err != nil {
			t.Fatal(err)
		}
		db := st.DB().Stats
		cols := []string{"site", "day", "fdim", "fvalue", "dim", "value", "salt_day", "visitors", "visits", "pageviews", "bounces", "duration", "events", "version"}
		d := store.Day{Year: 2026, Month: 11, Day: 24}
		rows := [][]any{
			{"s", d, "country", "KZ", "page", "/", d, uint64(3), uint64(3), uint64(5), uint64(1), uint64(60), uint64(0), uint64(1)},
			{"s", d, "country", "KZ", "page", "/", d, uint64(4), uint64(4), uint64(6), uint64(1), uint64(70), uint64(0), uint64(2)},
			{"s", d, "country", "KZ", "page", "/a", d, uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(2)},
		}
		if err := st.Insert(ctx, db+".agg_daily_pairs", cols, rows); err != nil {
			t.Fatal(err)
		}
		if _, err := store.NewMigrator(st, store.MigrateOptions{}).Up(ctx); err != nil {
			t.Fatal(err)
		}
		var got []string
		err = st.Query(ctx, "SELECT value, sum(visitors), sum(pageviews), sum(duration) FROM "+db+".agg_pairs GROUP BY value ORDER BY value", func(r store.Row) error {
			got = append(got, fmt.Sprintf("%s %d %d %d", r.String(0), r.Int64(1), r.Int64(2), r.Int64(3)))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, ",") != "/ 4 6 70" {
			t.Fatalf("agg_pairs after the upgrade: %q, want the latest version of the one non-zero cell", got)
		}
		var old uint64
		err = st.Query(ctx, "SELECT count() FROM system.tables WHERE database = "+store.Quote(db)+" AND name = 'agg_daily_pairs'", func(r store.Row) error {
			old = r.Uint64(0)
			return nil
		})
		if err != nil || old != 0 {
			t.Fatalf("agg_daily_pairs still there: %d (%v)", old, err)
		}
	})
}

// TestMigrateStaffDB upgrades a store migrated up to 017 (the staff tables
// in the identified database, a row in each) to the latest schema: the
// tables are in the staff database with their rows, gone from the
// identified one, and the identified tables are where they were. A rerun
// of 018 (a crash after the renames, before it was recorded) moves
// nothing twice.
func TestMigrateStaffDB(t *testing.T) {
	storetest.ForEachEmpty(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		migrations := func(below string) fstest.MapFS {
			files := fstest.MapFS{}
			entries, err := os.ReadDir("migrations")
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if e.Name() < below {
					b, err := os.ReadFile(filepath.Join("migrations", e.Name()))
					if err != nil {
						t.Fatal(err)
					}
					files[e.Name()] = &fstest.MapFile{Data: b}
				}
			}
			return files
		}
		if _, err := store.NewMigrator(st, store.MigrateOptions{Files: migrations("018")}).Up(ctx); err != nil {
			t.Fatal(err)
		}
		id, staff := st.DB().Identified, st.DB().Staff
		now := time.Now().UTC().Truncate(time.Second)
		rows := map[string][]any{
			"staff_users":    {"ann", "admin", "", "$argon2id$x", uint8(0), now, uint64(1)},
			"staff_tokens":   {"tok1", "hash1", "ann", "viewer", "ci", now, uint8(0), uint64(1)},
			"staff_sessions": {"sess1", "ann", now, now, uint8(0), uint64(1)},
			"audit_log":      {now, "ann", "sign_in", "ann", "ok", "192.0.2.0/24", "", "chain1", uint64(1), "", "h1", "hmac-sha256"},
		}
		cols := map[string][]string{
			"staff_users":    {"name", "role", "sites", "password", "disabled", "updated_at", "version"},
			"staff_tokens":   {"id", "hash", "user", "role", "label", "created_at", "revoked", "version"},
			"staff_sessions": {"token_hash", "user", "created", "last_seen", "ended", "version"},
			"audit_log":      {"ts", "actor", "action", "target", "outcome", "client", "detail", "chain", "seq", "prev_hash", "row_hash", "hash_alg"},
		}
		for table, row := range rows {
			if err := st.Insert(ctx, id+"."+table, cols[table], [][]any{row}); err != nil {
				t.Fatalf("%s: %v", table, err)
			}
		}
		if err := st.Insert(ctx, id+".consent_log", []string{"chain", "seq", "receipt", "site", "ts"}, [][]any{{"c", uint64(1), "r1", "s", now}}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.NewMigrator(st, store.MigrateOptions{}).Up(ctx); err != nil {
			t.Fatal(err)
		}
		check := func() {
			t.Helper()
			for table, row := range rows {
				var got string
				q := "SELECT " + strings.Join(cols[table], ", ") + " FROM " + staff + "." + table
				n := 0
				err := st.Query(ctx, q, func(r store.Row) error {
					n++
					got = r.String(1) // a String column in every table

					return nil
				})
				if err != nil || n != 1 || got != row[1] {
					t.Errorf("%s.%s after the upgrade: %d rows, %q (%v); want the row written before it", staff, table, n, got, err)
				}
			}
			left := tables(t, st, id)
			for table := range rows {
				if slices.Contains(left, table) {
					t.Errorf("%s is still in %s: %q", table, id, left)
				}
			}
			for _, want := range []string{"events", "consent_log", "subject_requests"} {
				if !slices.Contains(left, want) {
					t.Errorf("%s missing from %s: %q", want, id, left)
				}
			}
			var n uint64
			if err := st.Query(ctx, "SELECT count() FROM "+id+".consent_log", func(r store.Row) error { n = r.Uint64(0); return nil }); err != nil || n != 1 {
				t.Errorf("consent_log holds %d rows (%v), want 1", n, err)
			}
		}
		check()
		if err := st.Exec(ctx, "ALTER TABLE "+st.DB().Stats+".schema_migrations DELETE WHERE version = 18"); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			n, err := store.NewMigrator(st, store.MigrateOptions{}).Pending(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d pending after forgetting 018", n)
			}
		}
		if applied, err := store.NewMigrator(st, store.MigrateOptions{}).Up(ctx); err != nil || len(applied) != 1 {
			t.Fatalf("rerun of 018: %q, %v", applied, err)
		}
		check()
	})
}
