package integration

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
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

// TestDisclosureAccuracy measures what the protective mode costs (README,
// "Disclosure control"): the benchmark's site (SEZIM_BENCH_EVENTS events
// over 90 days, default 1,000,000) and a small site of about 100 visitors
// a day over 30 days, both through the real rollup on the embedded engine,
// then every breakdown read exactly and perturbed through the Querier:
//
//   - big site: the top 10 rows of every breakdown over 30 and 90 days,
//     relative error of visitors and pageviews;
//   - small site: every count of 50 or more (visitors and pageviews of every
//     row and total of every breakdown) over each day, each week and the
//     28 days, and how many are within ±20 %.
//
// It takes minutes, so it runs only with SEZIM_BENCH_DISCLOSURE=1:
//
//	SEZIM_BENCH_DISCLOSURE=1 go test -run TestDisclosureAccuracy -timeout 0 -v ./integration/
func TestDisclosureAccuracy(t *testing.T) {
	if os.Getenv("SEZIM_BENCH_DISCLOSURE") != "1" {
		t.Skip("set SEZIM_BENCH_DISCLOSURE=1 to measure the accuracy of the protective mode (minutes)")
	}
	total := 1_000_000
	if n, err := strconv.Atoi(os.Getenv("SEZIM_BENCH_EVENTS")); err == nil && n > 0 {
		total = n
	}
	st := storetest.Embedded(t)
	ctx := context.Background()
	cfg, err := site.Parse([]byte("sites:\n  - id: bench\n    domains: [bench.example]\n    timezone: Asia/Almaty\n  - id: small\n    domains: [small.example]\n    timezone: Asia/Almaty\n"))
	if err != nil {
		t.Fatal(err)
	}
	last := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	roll := rollup.New(rollup.Options{Store: st, Sites: cfg, Settle: -1})
	big, small := loadgen.NewEventGen("bench"), loadgen.NewEventGen("small")
	start := time.Now()
	for d := range 90 {
		saltDay := last.AddDate(0, 0, d-89)
		evs := big.Day(saltDay, total/90)
		if d >= 60 {
			// About 100 visitors a day (seven events each).
			evs = append(evs, small.Day(saltDay, 700)...)
		}
		for i := 0; i < len(evs); i += 100_000 {
			rows := make([][]any, 0, 100_000)
			for j := i; j < min(i+100_000, len(evs)); j++ {
				rows = append(rows, pipeline.EventRow(&evs[j], "acc"))
			}
			if err := st.Insert(ctx, st.DB().Stats+".events", pipeline.EventColumns, rows); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := roll.Finish(ctx, saltDay); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d events over 90 days loaded and rolled up in %v", total, time.Since(start).Round(time.Second))
	q := statistics.NewQuerier(st)
	lastDay := store.DayOf(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC))
	back := func(days int, end store.Day) statistics.Range {
		return statistics.Range{From: store.DayOf(end.Time().AddDate(0, 0, -(days - 1))), To: end}
	}
	both := func(s *site.Site, r statistics.Range, dim string, limit int) (exact, pub statistics.Breakdown) {
		t.Helper()
		ex := *s
		ex.Disclosure = site.DisclosureExact
		exact, err := q.Breakdown(ctx, &ex, r, dim, limit, nil)
		if err != nil {
			t.Fatal(err)
		}
		pub, err = q.Breakdown(ctx, s, r, dim, 1000, nil)
		if err != nil {
			t.Fatal(err)
		}
		return exact, pub
	}
	rel := func(got, want uint64) float64 { return math.Abs(float64(got)-float64(want)) / float64(want) }

	// The big site: top 10 of every breakdown.
	metrics := []string{"visitors", "pageviews"}
	for _, days := range []int{30, 90} {
		r := back(days, lastDay)
		var n, within [2]int
		var worst [2]float64
		var worstAt [2]string
		for _, dim := range rollup.Dimensions {
			exact, pub := both(cfg.Site("bench"), r, dim, 10)
			got := map[string]statistics.Metrics{}
			for _, row := range pub.Rows {
				got[row.Value] = row.Metrics
			}
			for _, row := range exact.Rows {
				g := got[row.Value]
				for i, e := range [][2]uint64{{g.Visitors, row.Visitors}, {g.Pageviews, row.Pageviews}} {
					if e[1] == 0 {
						continue
					}
					n[i]++
					x := rel(e[0], e[1])
					if x <= 0.01 {
						within[i]++
					}
					if x > worst[i] {
						worst[i], worstAt[i] = x, fmt.Sprintf("%s %q: %d, exact %d", dim, row.Value, e[0], e[1])
					}
				}
			}
		}
		for i, m := range metrics {
			t.Logf("big site, %d days, %s: %d of %d top-10 rows within 1%% (%.1f%%); worst %.2f%% (%s)",
				days, m, within[i], n[i], 100*float64(within[i])/float64(n[i]), 100*worst[i], worstAt[i])
		}
	}

	// The small site: every count of 50 or more.
	type tally struct {
		n, within int
		worst     float64
		at        string
	}
	check := func(label string, r statistics.Range, out *[2]tally) {
		for _, dim := range rollup.Dimensions {
			exact, pub := both(cfg.Site("small"), r, dim, 1000)
			got := map[string]statistics.Metrics{"(total)": pub.Total}
			for _, row := range pub.Rows {
				got[row.Value] = row.Metrics
			}
			rows := append([]statistics.BreakdownRow{{Value: "(total)", Metrics: exact.Total}}, exact.Rows...)
			for _, row := range rows {
				g := got[row.Value]
				for i, e := range [][2]uint64{{g.Visitors, row.Visitors}, {g.Pageviews, row.Pageviews}} {
					if e[1] < 50 {
						continue
					}
					tl := &out[i]
					tl.n++
					x := rel(e[0], e[1])
					if x <= 0.20 {
						tl.within++
					}
					if x > tl.worst {
						tl.worst, tl.at = x, fmt.Sprintf("%s %s %q: %d, exact %d", label, dim, row.Value, e[0], e[1])
					}
				}
			}
		}
	}
	for _, c := range []struct {
		label string
		days  int
		step  int
	}{{"day", 1, 1}, {"week", 7, 7}, {"28 days", 28, 28}} {
		var sum [2]tally
		for end := 0; end+c.days <= 28; end += c.step {
			check(c.label, back(c.days, store.DayOf(lastDay.Time().AddDate(0, 0, -end))), &sum)
		}
		for i, m := range metrics {
			t.Logf("small site, ranges of a %s, %s: %d of %d counts ≥ 50 within ±20%% (%.1f%%); worst %.1f%% (%s)",
				c.label, m, sum[i].within, sum[i].n, 100*float64(sum[i].within)/float64(max(sum[i].n, 1)), 100*sum[i].worst, sum[i].at)
		}
	}
}
