package integration

import (
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/dashboards/statistics"
	"github.com/sezim-analytics/sezim/loadgen"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestCompactedMonthsReadTheSame rolls up four salt days across a month's
// end (Sep 29 to Oct 2, site in UTC+5), reads every kind of panel, and
// checks that Compact leaves a month alone while a salt day that can write
// to it still has raw events, compacts the months once they are finished,
// that every answer is the same afterwards and that compacted months are
// read without FINAL where that pays (ClickHouse 18.16); then that Reopen
// brings FINAL back.
func TestCompactedMonthsReadTheSame(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		cfg, err := site.Parse([]byte("sites:\n  - id: cmp\n    domains: [cmp.example]\n    timezone: Asia/Almaty\n    k_threshold: 3\n    disclosure: exact\n"))
		if err != nil {
			t.Fatal(err)
		}
		first := time.Date(2026, 9, 29, 0, 0, 0, 0, time.UTC)
		var saltDays []time.Time
		gen := loadgen.NewEventGen("cmp")
		for d := range 4 {
			saltDay := first.AddDate(0, 0, d)
			saltDays = append(saltDays, saltDay)
			var rows [][]any
			evs := gen.Day(saltDay, 1500)
			for i := range evs {
				rows = append(rows, pipeline.EventRow(&evs[i], "test"))
			}
			if err := st.Insert(ctx, st.DB().Stats+".events", pipeline.EventColumns, rows); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
		roll := rollup.New(rollup.Options{Store: st, Sites: cfg, Now: func() time.Time { return now }, Settle: -1})
		// Two runs per salt day, as the minutely rollup makes: each key has
		// two versions in two parts until a merge.
		for range 2 {
			for _, d := range saltDays {
				if _, err := roll.Run(ctx, d); err != nil {
					t.Fatal(err)
				}
			}
		}

		app := statistics.NewAPI(statistics.APIOptions{Sites: cfg, Store: st, Now: func() time.Time { return now }}).NewApp()
		get := func(q string) string {
			t.Helper()
			resp, err := app.Test(httptest.NewRequest("GET", "/api/v1/stats/"+q, nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%s: %d %s (%v)", q, resp.StatusCode, b, err)
			}
			return string(b)
		}
		topPage := gen.Paths[0]
		span := "site=cmp&period=custom&from=2026-09-28&to=2026-10-03"
		queries := []string{
			"aggregate?" + span,
			"aggregate?" + span + "&filter=" + url.QueryEscape("page=="+topPage),
			"timeseries?" + span,
			"timeseries?" + span + "&interval=hour",
			"timeseries?" + span + "&filter=" + url.QueryEscape("country==KZ"),
			"breakdown?" + span + "&property=page&limit=20",
			"breakdown?" + span + "&property=country",
			"breakdown?" + span + "&property=event",
			"breakdown?" + span + "&property=country&filter=" + url.QueryEscape("page=="+topPage),
			"breakdown?" + span + "&property=page&limit=20&filter=" + url.QueryEscape("country==KZ"),
			"breakdown?" + span + "&property=source&filter=" + url.QueryEscape("channel==search"),
		}
		answers := func() []string {
			var out []string
			for _, q := range queries {
				out = append(out, get(q))
			}
			return out
		}
		same := func(stage string, want []string) {
			t.Helper()
			for i, got := range answers() {
				if got != want[i] {
					t.Errorf("%s, %s:\n got %s\nwant %s", stage, queries[i], got, want[i])
				}
			}
		}
		want := answers()
		if !strings.Contains(want[0], `"visitors":`) || strings.Contains(want[0], `"visitors":0`) {
			t.Fatalf("no traffic in the fixture: %s", want[0])
		}
		recorded := func() string {
			t.Helper()
			var out []string
			err := st.Query(ctx, fmt.Sprintf("SELECT table_name, toString(month) FROM %s.agg_compacted FINAL WHERE compacted = 1 ORDER BY table_name, month", st.DB().Stats),
				func(r store.Row) error { out = append(out, r.String(0)+":"+r.String(1)); return nil })
			if err != nil {
				t.Fatal(err)
			}
			return strings.Join(out, " ")
		}

		// Sep 29 and 30 finished, but Oct 1 (which writes Sep 30) is open:
		// no month is closed.
		for _, d := range saltDays[:2] {
			if _, err := roll.Finish(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		if err := roll.Compact(ctx, now); err != nil {
			t.Fatal(err)
		}
		if got := recorded(); got != "" {
			t.Fatalf("compacted with salt days open: %s", got)
		}
		for _, d := range saltDays[2:] {
			if _, err := roll.Finish(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		same("after finishing every salt day", want)
		if err := roll.Compact(ctx, now); err != nil {
			t.Fatal(err)
		}
		all := "agg_daily:202609 agg_daily:202610 agg_hourly:202609 agg_hourly:202610 agg_pairs:202609 agg_pairs:202610"
		if got := recorded(); got != all {
			t.Fatalf("compacted %q, want %q", got, all)
		}
		var parts uint64
		err = st.Query(ctx, fmt.Sprintf("SELECT count() FROM system.parts WHERE database = %s AND table LIKE 'agg_%%' AND table != 'agg_compacted' AND active", store.Quote(st.DB().Stats)),
			func(r store.Row) error { parts = r.Uint64(0); return nil })
		if err != nil || parts != 6 {
			t.Fatalf("%d active parts after compaction, want one per table and month (%v)", parts, err)
		}
		same("after compaction", want)
		// A second call has nothing to do.
		if err := roll.Compact(ctx, now); err != nil {
			t.Fatal(err)
		}

		// The compacted months are read plainly: a stale copy of the
		// total's row (a lower version, which FINAL would drop) is counted.
		stale := fmt.Sprintf(`INSERT INTO %s.agg_daily (site, day, dim, value, salt_day, visitors, visits, pageviews, bounces, duration, events, version)
 SELECT site, day, dim, value, salt_day, visitors, visits, pageviews, bounces, duration, events, toUInt64(0) FROM %s.agg_daily
 WHERE site = 'cmp' AND dim = '' AND day = '2026-09-29'`, st.DB().Stats, st.DB().Stats)
		if err := st.Exec(ctx, stale); err != nil {
			t.Fatal(err)
		}
		// Where the engine pays for FINAL over one part (18.16), the
		// compacted months are read plainly and the stale row counts; on
		// 26.x every month is read FINAL (dashboards/statistics/query.go, from).
		v, err := st.Version(ctx)
		if err != nil {
			t.Fatal(err)
		}
		major, _ := strconv.Atoi(strings.Split(v, ".")[0])
		if got := get(queries[0]); (got != want[0]) != (major < 24) {
			t.Fatalf("ClickHouse %s, a stale row in a compacted month: counted %v, want %v: %s", v, got != want[0], major < 24, got)
		}
		// A late write for Sep 29 reopens September (its salt day ±1) and
		// FINAL drops the stale row again; October stays compacted.
		if err := roll.Reopen(ctx, saltDays[0]); err != nil {
			t.Fatal(err)
		}
		if got, want := recorded(), "agg_daily:202610 agg_hourly:202610 agg_pairs:202610"; got != want {
			t.Fatalf("after Reopen compacted %q, want %q", got, want)
		}
		same("after Reopen", want)
		// Compacted again, the stale row is merged away.
		if err := roll.Compact(ctx, now); err != nil {
			t.Fatal(err)
		}
		if got := recorded(); got != all {
			t.Fatalf("compacted again %q, want %q", got, all)
		}
		same("compacted again", want)

		// Raw events of a late import for Sep 15 that no rollup has seen:
		// Compact itself records September open again, and compacts it once
		// the day is finished.
		var late [][]any
		sep15 := time.Date(2026, 9, 15, 0, 0, 0, 0, time.UTC)
		evs := gen.Day(sep15, 300)
		for i := range evs {
			late = append(late, pipeline.EventRow(&evs[i], "test"))
		}
		if err := st.Insert(ctx, st.DB().Stats+".events", pipeline.EventColumns, late); err != nil {
			t.Fatal(err)
		}
		if err := roll.Compact(ctx, now); err != nil {
			t.Fatal(err)
		}
		if got, want := recorded(), "agg_daily:202610 agg_hourly:202610 agg_pairs:202610"; got != want {
			t.Fatalf("with Sep 15 open compacted %q, want %q", got, want)
		}
		if _, err := roll.Finish(ctx, sep15); err != nil {
			t.Fatal(err)
		}
		if err := roll.Compact(ctx, now); err != nil {
			t.Fatal(err)
		}
		if got := recorded(); got != all {
			t.Fatalf("after Sep 15 finished compacted %q, want %q", got, all)
		}
	})
}
