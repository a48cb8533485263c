package retention_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/hashchain"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/privacy/retention"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestRetentionDeletesWhatIsPastItsPeriodAndRecordsIt: on both engines,
// every identified table loses exactly its rows older than the period
// its site (or the global retention) gives, keeps the rest, and each
// destruction is written to the history, which reads newest first.
func TestRetentionDeletesWhatIsPastItsPeriodAndRecordsIt(t *testing.T) {
	cfg, err := site.Parse([]byte(`retention: {audit_log_days: 100, subject_requests_days: 200}
sites:
  - id: sez
    domains: [sez.im]
    retention: {identified_days: 30, consent_log_days: 60}
  - id: other
    domains: [other.kz]
    timezone: Asia/Almaty
    retention: {identified_days: 10}
`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	ago := func(days int) time.Time { return now.AddDate(0, 0, -days) }
	storetest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		// The audit log is in the staff database (migration 018), the
		// rest in the identified one.
		tableOf := func(table string) string {
			if table == "audit_log" {
				return s.DB().Staff + "." + table
			}
			return s.DB().Identified + "." + table
		}
		insert := func(table string, cols []string, rows [][]any) {
			t.Helper()
			if err := s.Insert(ctx, tableOf(table), cols, rows); err != nil {
				t.Fatal(err)
			}
		}
		ev := func(siteID string, at time.Time) []any {
			return []any{siteID, at, "AAAAAAAAAAAAAAAAAAAAAA", "", "", uint8(1), "", "/", "", "", "", "", "", ""}
		}
		// sez keeps 30 days: 31 and 45 days old go, 29 and today stay;
		// other keeps 10: 12 goes, 9 stays.
		insert("events", pipeline.IdentifiedColumns, [][]any{ev("sez", ago(45)), ev("sez", ago(31)), ev("sez", ago(29)), ev("sez", now),
			ev("other", ago(12)), ev("other", ago(9))})
		insert("consent_visitors", []string{"site", "receipt", "visitor_id", "ts"}, [][]any{{"sez", "r1", "v", ago(40)}, {"sez", "r2", "v", ago(3)}})
		insert("consent_log", []string{"chain", "seq", "receipt", "site", "ts"}, [][]any{{"c", uint64(1), "r1", "sez", ago(70)}, {"c", uint64(2), "r2", "sez", ago(50)},
			{"c", uint64(3), "r3", "other", ago(70)}}) // other keeps 5 years, so the one chain does
		insert("audit_log", []string{"ts", "actor", "action"}, [][]any{{ago(101), "a", "sign_in"}, {ago(99), "a", "sign_in"}})
		insert("subject_requests", []string{"id", "ts", "kind"}, [][]any{{"q1", ago(201), "export"}, {"q2", ago(199), "erase"}})

		hist := retention.NewHistory(s, "test process", nil)
		job := retention.NewJob(retention.Options{Store: s, Sites: cfg, History: hist, Logger: slog.New(slog.DiscardHandler)})
		done, err := job.Apply(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		left := func(table, where string) uint64 {
			t.Helper()
			n, err := store.CountWhere(ctx, s, tableOf(table), where)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, c := range []struct {
			table, where string
			want         uint64
		}{
			{"events", "site = 'sez'", 2},
			{"events", "site = 'sez' AND ts < toDateTime(" + store.Quote(itoa(ago(30).Unix())) + ", 'UTC')", 0},
			{"events", "site = 'other'", 1},
			{"consent_visitors", "1", 1},
			// One chain spans both sites: it loses only its oldest rows,
			// by the longest period (other's 5 years), so all stay.
			{"consent_log", "site = 'sez'", 2},
			{"consent_log", "site = 'other'", 1},
			{"audit_log", "1", 1},
			{"subject_requests", "1", 1},
		} {
			if n := left(c.table, c.where); n != c.want {
				t.Errorf("%s where %s: %d rows left, want %d", c.table, c.where, n, c.want)
			}
		}
		want := map[[2]string]uint64{
			{"events", "sez"}: 2, {"events", "other"}: 1, {"consent_visitors", "sez"}: 1,
			{"audit_log", ""}: 1, {"subject_requests", ""}: 1,
		}
		if len(done) != len(want) {
			t.Fatalf("destructions %+v", done)
		}
		for _, d := range done {
			if want[[2]string{d.Table, d.Site}] != d.Rows || d.Rule == "" || d.Cutoff == "" || tableOf(d.Table) != d.DB+"."+d.Table {
				t.Errorf("destruction %+v", d)
			}
		}

		// A second run destroys nothing and records only that it ran; one
		// two days later finds four rows past their period (sez's
		// 29-day-old event, other's 9-day-old one, the 99-day-old audit
		// row and the 199-day-old request) and its records read first.
		// Each of the three runs has its own row (RunRule).
		if again, err := job.Apply(ctx, now); err != nil || len(again) != 0 {
			t.Fatalf("second run: %v, %+v", err, again)
		}
		later := now.Add(48 * time.Hour)
		if _, err := job.Apply(ctx, later); err != nil {
			t.Fatal(err)
		}
		recent, err := hist.Recent(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(recent) != len(want)+4+3 {
			t.Fatalf("history %+v", recent)
		}
		runs := 0
		for i, r := range recent {
			if r.Rule == retention.RunRule {
				runs++
			}
			if wantTime := map[bool]time.Time{true: later, false: now}[i < 5]; !r.Time.Equal(wantTime) {
				t.Fatalf("history row %d at %v, want %v: %+v", i, r.Time, wantTime, recent)
			}
			if r.Rule == "" || r.Process != "test process" || (r.Table != "" && tableOf(r.Table) != r.DB+"."+r.Table) || (r.Table == "" && r.DB != s.DB().Identified) {
				t.Fatalf("history row %+v", r)
			}
		}
		if runs != 3 {
			t.Fatalf("%d run rows, want 3: %+v", runs, recent)
		}
	})
}

func itoa(n int64) string { return time.Unix(n, 0).UTC().Format("2006-01-02 15:04:05") }

// TestRetentionAnchorsChainsBeforeItDeletes: when the consent log's and the
// audit log's oldest rows go, the job first writes each chain's anchor (its
// newest row before the cut) to the checkpoints, so that verify accepts
// the chains as starting there.
func TestRetentionAnchorsChainsBeforeItDeletes(t *testing.T) {
	cfg, err := site.Parse([]byte(`retention: {audit_log_days: 100}
sites:
  - id: sez
    domains: [sez.im]
    retention: {consent_log_days: 60}
`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	ago := func(days int) time.Time { return now.AddDate(0, 0, -days) }
	storetest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		id := s.DB().Identified
		if err := s.Insert(ctx, id+".consent_log", []string{"chain", "seq", "receipt", "site", "ts", "row_hash"}, [][]any{
			{"c", uint64(1), "r1", "sez", ago(90), "h1"}, {"c", uint64(2), "r2", "sez", ago(70), "h2"}, {"c", uint64(3), "r3", "sez", ago(10), "h3"}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Insert(ctx, s.DB().Staff+".audit_log", []string{"ts", "actor", "action", "chain", "seq", "row_hash"}, [][]any{
			{ago(120), "a", "sign_in", "a1", uint64(1), "x1"}, {ago(5), "a", "sign_in", "a1", uint64(2), "x2"}}); err != nil {
			t.Fatal(err)
		}
		key := hashchain.RandomKey()
		path := filepath.Join(t.TempDir(), "checkpoints")
		cps, err := hashchain.OpenCheckpoints(path, key)
		if err != nil {
			t.Fatal(err)
		}
		defer cps.Close()
		job := retention.NewJob(retention.Options{Store: s, Sites: cfg, History: retention.NewHistory(s, "test", nil), Checkpoints: cps})
		if _, err := job.Apply(ctx, now); err != nil {
			t.Fatal(err)
		}
		heads, err := hashchain.ReadHeads(key, path)
		if err != nil {
			t.Fatal(err)
		}
		if a, ok := heads.PrunedOf(hashchain.LogConsent, "c"); !ok || a.Seq != 2 || a.Hash != "h2" {
			t.Fatalf("consent chain anchor %+v %v, want seq 2 (its newest row before the cut)", a, ok)
		}
		if a, ok := heads.PrunedOf(hashchain.LogAudit, "a1"); !ok || a.Seq != 1 {
			t.Fatalf("audit chain anchor %+v %v, want seq 1", a, ok)
		}
		if n, _ := store.CountWhere(ctx, s, id+".consent_log", "1"); n != 1 {
			t.Fatalf("%d consent rows left, want 1", n)
		}
	})
}
