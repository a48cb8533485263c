package integration

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
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

// TestBench10M is the measurement of issue 5: 10 million events of one
// site over 90 days, through the real rollup on the embedded engine (raw
// events inserted per salt day in batches of 100,000, the salt day rolled up
// and its raw partition dropped, as retention does), then every dashboard
// panel's query over 30 and 90 days, 20 runs each, p50 and p95: first with
// every month read FINAL, then after Compact, then with the published sums
// of final days (rollup.Publish).
//
// It takes minutes, so it runs only with SEZIM_BENCH_10M=1:
//
//	SEZIM_BENCH_10M=1 go test -run TestBench10M -timeout 0 -v ./integration/
//
// SEZIM_BENCH_EVENTS changes the event count (e.g. 1000000 for a quick try).
// SEZIM_BENCH_DIR keeps the embedded store in that folder: a run that finds
// the events already rolled up and published there skips to the last
// pass (after a Publish of what is stale), so that a change to the read
// path is measured in minutes;
// SEZIM_BENCH_PANELS (a regular expression) then picks the panels.
func TestBench10M(t *testing.T) {
	if os.Getenv("SEZIM_BENCH_10M") != "1" {
		t.Skip("set SEZIM_BENCH_10M=1 to run the 10-million-event benchmark (minutes)")
	}
	total := 10_000_000
	if n, err := strconv.Atoi(os.Getenv("SEZIM_BENCH_EVENTS")); err == nil && n > 0 {
		total = n
	}
	const days = 90
	ctx := context.Background()
	var st store.Store
	kept := false
	if dir := os.Getenv("SEZIM_BENCH_DIR"); dir != "" {
		var err error
		if st, err = store.OpenEmbedded(dir, store.DefaultNames.WithPrefix("bench_")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		if _, err := store.NewMigrator(st, store.MigrateOptions{}).Up(ctx); err != nil {
			t.Fatal(err)
		}
		n, err := store.CountWhere(ctx, st, st.DB().Stats+"."+rollup.PublishedBlocksTable, "1")
		if err != nil {
			t.Fatal(err)
		}
		kept = n > 0
	} else {
		st = storetest.Embedded(t)
	}
	cfg, err := site.Parse([]byte("sites:\n  - id: bench\n    domains: [bench.example]\n    timezone: Asia/Almaty\n"))
	if err != nil {
		t.Fatal(err)
	}
	last := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC) // the last salt day
	roll := rollup.New(rollup.Options{Store: st, Sites: cfg, Settle: -1})
	gen := loadgen.NewEventGen("bench")
	var loadDur, rollDur time.Duration
	var events, pairRows, aggRows int
	for d := range days {
		if kept {
			break
		}
		saltDay := last.AddDate(0, 0, d-days+1)
		start := time.Now()
		evs := gen.Day(saltDay, total/days)
		rows := make([][]any, 0, 100_000)
		for i := range evs {
			rows = append(rows, pipeline.EventRow(&evs[i], "bench"))
			if len(rows) == cap(rows) || i == len(evs)-1 {
				if err := st.Insert(ctx, st.DB().Stats+".events", pipeline.EventColumns, rows); err != nil {
					t.Fatal(err)
				}
				rows = rows[:0]
			}
		}
		loadDur += time.Since(start)
		events += len(evs)
		start = time.Now()
		res, err := roll.Finish(ctx, saltDay)
		if err != nil {
			t.Fatal(err)
		}
		rollDur += time.Since(start)
		aggRows += res.Rows
		pairRows += res.PairRows
		if d%10 == 9 {
			t.Logf("day %d/%d: %d events so far; load %v, rollup %v", d+1, days, events, loadDur.Round(time.Second), rollDur.Round(time.Second))
		}
	}
	t.Logf("loaded %d events in %v (generate + insert), rollup with pairs %v (%v per salt day), %d aggregate and %d pair rows written",
		events, loadDur.Round(time.Millisecond), rollDur.Round(time.Millisecond), (rollDur / days).Round(time.Millisecond), aggRows, pairRows)
	if kept {
		t.Logf("the store in SEZIM_BENCH_DIR is already built: only the last pass is measured")
	}
	for _, table := range []string{"agg_hourly", "agg_daily", "agg_pairs", "events"} {
		var rows, bytes uint64
		err := st.Query(ctx, fmt.Sprintf("SELECT toUInt64(sum(rows)), toUInt64(sum(bytes_on_disk)) FROM system.parts WHERE database = %s AND table = %s AND active",
			store.Quote(st.DB().Stats), store.Quote(table)), func(r store.Row) error {
			rows, bytes = r.Uint64(0), r.Uint64(1)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("table %-16s %11d rows %8.1f MiB on disk", table, rows, float64(bytes)/(1<<20))
	}

	q := statistics.NewQuerier(st)
	s := cfg.Site("bench")
	lastLocal := store.DayOf(last)
	topPage := gen.Paths[0]
	type panel = benchPanel
	panels := []panel{
		{"aggregate", func(r statistics.Range) error { _, err := q.Aggregate(ctx, s, r, statistics.Filter{}); return err }},
		{"timeseries day", func(r statistics.Range) error {
			_, err := q.Timeseries(ctx, s, r, false, statistics.Filter{})
			return err
		}},
		{"timeseries hour", func(r statistics.Range) error {
			_, err := q.Timeseries(ctx, s, r, true, statistics.Filter{})
			return err
		}},
	}
	for _, dim := range rollup.Dimensions {
		panels = append(panels, panel{"breakdown " + dim, func(r statistics.Range) error {
			_, err := q.Breakdown(ctx, s, r, dim, 10, nil)
			return err
		}})
	}
	pageF := statistics.Filter{Dim: rollup.DimPage, Value: topPage}
	panels = append(panels,
		panel{"aggregate page==" + topPage, func(r statistics.Range) error { _, err := q.Aggregate(ctx, s, r, pageF); return err }},
		panel{"timeseries day page==" + topPage, func(r statistics.Range) error { _, err := q.Timeseries(ctx, s, r, false, pageF); return err }},
		panel{"country | page==" + topPage, func(r statistics.Range) error {
			_, err := q.FilteredBreakdown(ctx, s, r, rollup.DimCountry, 10, pageF)
			return err
		}},
		panel{"page | country==KZ", func(r statistics.Range) error {
			_, err := q.FilteredBreakdown(ctx, s, r, rollup.DimPage, 10, statistics.Filter{Dim: rollup.DimCountry, Value: "KZ"})
			return err
		}},
		panel{"source | channel==search", func(r statistics.Range) error {
			_, err := q.FilteredBreakdown(ctx, s, r, rollup.DimSource, 10, statistics.Filter{Dim: rollup.DimChannel, Value: "search"})
			return err
		}},
	)
	if re := os.Getenv("SEZIM_BENCH_PANELS"); re != "" {
		match := regexp.MustCompile(re)
		panels = slices.DeleteFunc(panels, func(p panel) bool { return !match.MatchString(p.name) })
	}
	if kept {
		// What a new build of the code may have to build again (a migration
		// can mark blocks stale), as the retention job would.
		start := time.Now()
		if err := roll.Publish(ctx, last.AddDate(0, 0, 1)); err != nil {
			t.Fatal(err)
		}
		t.Logf("published what was stale in %v", time.Since(start).Round(time.Millisecond))
		measure(t, panels, lastLocal, "final days published")
		return
	}
	measure(t, panels, lastLocal, "every month read FINAL")
	// As the retention job does once the salt days are finished: the months
	// that ended before the day before "now" are merged and read plainly,
	// the last one (November) still FINAL.
	start := time.Now()
	if err := roll.Compact(ctx, last.AddDate(0, 0, 2)); err != nil {
		t.Fatal(err)
	}
	t.Logf("compacted the closed months in %v", time.Since(start).Round(time.Millisecond))
	measure(t, panels, lastLocal, "closed months compacted")
	// As the retention job does next: the published sums of every final
	// day. "Now" is the day after the last salt day, so that the range's
	// last day is still open and published at read time, as in use.
	start = time.Now()
	if err := roll.Publish(ctx, last.AddDate(0, 0, 1)); err != nil {
		t.Fatal(err)
	}
	t.Logf("published the final days in %v", time.Since(start).Round(time.Millisecond))
	for _, table := range []string{rollup.PublishedTable, rollup.PairsPublishedTable, rollup.HourlyPublishedTable, rollup.PublishedBlocksTable} {
		n, err := store.CountWhere(ctx, st, st.DB().Stats+"."+table, "1")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("table %-20s %11d rows", table, n)
	}
	measure(t, panels, lastLocal, "final days published")
}

type benchPanel struct {
	name string
	run  func(r statistics.Range) error
}

// measure runs each panel over the last 30 and 90 days, 20 times after a
// warm-up, and logs p50 and p95.
func measure(t *testing.T, panels []benchPanel, lastLocal store.Day, label string) {
	const runs = 20
	var report strings.Builder
	fmt.Fprintf(&report, "| panel | 30 d p50 | 30 d p95 | 90 d p50 | 90 d p95 |\n| --- | --- | --- | --- | --- |\n")
	worst := map[int]time.Duration{}
	for _, p := range panels {
		fmt.Fprintf(&report, "| %s |", p.name)
		for _, n := range []int{30, 90} {
			from := store.DayOf(lastLocal.Time().AddDate(0, 0, -(n - 1)))
			r := statistics.Range{From: from, To: lastLocal}
			if p.name == "timeseries hour" && n > 31 {
				fmt.Fprintf(&report, " — | — |")
				continue
			}
			if err := p.run(r); err != nil { // warm-up
				t.Fatalf("%s over %d days: %v", p.name, n, err)
			}
			times := make([]time.Duration, runs)
			for i := range times {
				start := time.Now()
				if err := p.run(r); err != nil {
					t.Fatal(err)
				}
				times[i] = time.Since(start)
			}
			slices.Sort(times)
			p50, p95 := times[runs/2-1], times[(runs*95+99)/100-1]
			worst[n] = max(worst[n], p95)
			fmt.Fprintf(&report, " %.1f ms | %.1f ms |", ms(p50), ms(p95))
		}
		report.WriteString("\n")
	}
	t.Logf("panel queries, %s, %d runs each (embedded engine):\n%s", label, runs, report.String())
	t.Logf("worst p95, %s: %.1f ms over 30 days, %.1f ms over 90 days (goal 100 ms)", label, ms(worst[30]), ms(worst[90]))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
