package statistics

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestBreakdownsFromPublishedBlocks checks that protective-mode answers
// read from the published sums of final days (blocks) are the ones
// published at read time, number for number: breakdowns, filtered
// breakdowns (pair cells), one value's row, aggregates, daily and hourly
// series, filtered or not, over random ranges, after the first build, after a late write into a built day
// (stale blocks read at read time until rebuilt) and after the rebuild,
// and after retention cuts a block; on both engines.
func TestBreakdownsFromPublishedBlocks(t *testing.T) {
	cfg, err := site.Parse([]byte(`
sites:
  - {id: guarded, domains: [g.example], timezone: Asia/Almaty, retention: {agg_daily_days: 400, agg_hourly_days: 380}}
  - {id: other, domains: [o.example], timezone: UTC}
`))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(11, 3))
	count := func() uint64 { return []uint64{0, 1, 1, 2, 3, 7, uint64(rng.IntN(3000))}[rng.IntN(7)] }
	first := store.Day{Year: 2026, Month: 6, Day: 20}
	const days = 110
	row := func(id string, day store.Day, dim, value string, salt int) []any {
		visits := count()
		return []any{id, day, dim, value, store.DayOf(day.Time().AddDate(0, 0, salt)),
			count(), visits, count(), uint64(rng.IntN(int(visits) + 1)), uint64(rng.IntN(100000)), count(), rng.Uint64() >> 20, uint64(1)}
	}
	// Pair cells of country==KZ: its totals (dim '') on every day and salt
	// day on which agg_daily has KZ, so that the filter is available, and
	// page rows under it, some of them twice (two rows of one cell add up).
	pair := func(id string, day store.Day, fvalue, dim, value string, salt int) []any {
		r := row(id, day, dim, value, salt)
		out := []any{id, day, "country", fvalue, dim, value, r[4]}
		for _, n := range r[5:11] {
			out = append(out, int64(n.(uint64)))
		}
		if dim == "" {
			out[7] = out[7].(int64) + 1
		}
		return append(out, r[11])
	}
	// Hourly cells of a few hours of each day, the first and last hour of
	// the local day among them, for the total and page /p1.
	hourRow := func(id string, day store.Day, h int, dim, value string, salt int) []any {
		r := row(id, day, dim, value, salt)
		return append([]any{id, time.Date(day.Year, day.Month, day.Day, h, 0, 0, 0, cfg.Site(id).Location).UTC()}, r[2:]...)
	}
	var rows, pairRows, hourRows [][]any
	for d := range days {
		day := store.DayOf(first.Time().AddDate(0, 0, d))
		for _, id := range []string{"guarded", "other"} {
			for salt := range 2 {
				for _, h := range []int{0, rng.IntN(24), 23} {
					hourRows = append(hourRows, hourRow(id, day, h, "", "", salt))
					if rng.IntN(2) == 0 {
						hourRows = append(hourRows, hourRow(id, day, h, "page", "/p1", salt))
					}
				}
				rows = append(rows, row(id, day, "", "", salt))
				for v := range rng.IntN(12) {
					rows = append(rows, row(id, day, "page", fmt.Sprintf("/p%d", v), salt))
				}
				for v := range rng.IntN(4) {
					rows = append(rows, row(id, day, "country", []string{"KZ", "RU", "US", "DE"}[v], salt))
					if v == 0 {
						pairRows = append(pairRows, pair(id, day, "KZ", "", "", salt))
						for p := range rng.IntN(8) {
							for range 1 + rng.IntN(2) {
								pairRows = append(pairRows, pair(id, day, "KZ", "page", fmt.Sprintf("/p%d", p), salt))
							}
						}
					}
					// US has pair rows but on some days: a filtered answer
					// over those is refused, saying on how many days.
					if v == 2 && (d%9 != 0 || salt == 0) {
						pairRows = append(pairRows, pair(id, day, "US", "", "", salt), pair(id, day, "US", "page", "/p1", salt))
					}
				}
			}
		}
	}
	ranges := []Range{
		{From: first, To: store.DayOf(first.Time().AddDate(0, 0, days+3))},
		{From: store.Day{Year: 2026, Month: 7, Day: 9}, To: store.Day{Year: 2026, Month: 10, Day: 6}},
		{From: store.Day{Year: 2026, Month: 8, Day: 1}, To: store.Day{Year: 2026, Month: 8, Day: 1}},
	}
	for range 5 {
		a := rng.IntN(days + 5)
		ranges = append(ranges, Range{From: store.DayOf(first.Time().AddDate(0, 0, a)), To: store.DayOf(first.Time().AddDate(0, 0, a+rng.IntN(days+5-a)))})
	}
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		cols := []string{"site", "day", "dim", "value", "salt_day", "visitors", "visits", "pageviews", "bounces", "duration", "events", "ckey", "version"}
		if err := st.Insert(ctx, st.DB().Stats+".agg_daily", cols, rows); err != nil {
			t.Fatal(err)
		}
		hourCols := append([]string{"site", "hour"}, cols[2:]...)
		if err := st.Insert(ctx, st.DB().Stats+".agg_hourly", hourCols, hourRows); err != nil {
			t.Fatal(err)
		}
		pairCols := []string{"site", "day", "fdim", "fvalue", "dim", "value", "salt_day", "visitors", "visits", "pageviews", "bounces", "duration", "events", "ckey"}
		if err := st.Insert(ctx, st.DB().Stats+".agg_pairs", pairCols, pairRows); err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 10, 20, 12, 0, 0, 0, time.UTC)
		s := cfg.Site("guarded")
		q, ref := NewQuerier(st), NewQuerier(st)
		q.now, ref.now = func() time.Time { return now }, func() time.Time { return now }
		ref.noBlocks = true
		compare := func(when string) {
			t.Helper()
			filtered, refused := 0, 0 // filtered breakdowns with rows, and refused for days without pair rows
			hours := 0                // hours with visitors in the hourly series compared
			defer func() {
				if filtered < 3 || refused < 3 || hours < 100 {
					t.Errorf("%s: %d filtered breakdowns with rows, %d refused, %d hours with visitors: the test compares too little", when, filtered, refused, hours)
				}
			}()
			for _, r := range ranges {
				for _, dim := range []string{"page", "country"} {
					want, err := ref.Breakdown(ctx, s, r, dim, 4, nil)
					if err != nil {
						t.Fatal(err)
					}
					got, err := q.Breakdown(ctx, s, r, dim, 4, nil)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s: %s breakdown of %v from blocks\n%+v\nat read time\n%+v", when, dim, r, got, want)
					}
				}
				for _, f := range []Filter{{}, {Dim: "page", Value: "/p1"}, {Dim: "country", Value: "KZ"}} {
					want, err := ref.Aggregates(ctx, s, []Range{r, ranges[2]}, f)
					if err != nil {
						t.Fatal(err)
					}
					got, err := q.Aggregates(ctx, s, []Range{r, ranges[2]}, f)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s: aggregates of %v under %+v from blocks %+v, at read time %+v", when, r, f, got, want)
					}
					for _, hourly := range []bool{false, true} {
						if hourly && f.Dim == "country" {
							continue // no hourly cells
						}
						want, err := ref.Timeseries(ctx, s, r, hourly, f)
						if err != nil {
							t.Fatal(err)
						}
						got, err := q.Timeseries(ctx, s, r, hourly, f)
						if err != nil {
							t.Fatal(err)
						}
						if !reflect.DeepEqual(got, want) {
							t.Errorf("%s: series of %v (hourly: %v) under %+v from blocks differs from the one at read time", when, r, hourly, f)
						}
						for _, p := range want {
							if hourly && p.Visitors > 0 {
								hours++
							}
						}
					}
				}
				for _, v := range []string{"KZ", "US", "RU"} {
					f := Filter{Dim: "country", Value: v}
					wantF, errW := ref.FilteredBreakdown(ctx, s, r, "page", 4, f)
					gotF, errG := q.FilteredBreakdown(ctx, s, r, "page", 4, f)
					if fmt.Sprint(errW) != fmt.Sprint(errG) {
						t.Errorf("%s: page breakdown of %v under %+v from blocks: %v, at read time: %v", when, r, f, errG, errW)
					}
					if !reflect.DeepEqual(gotF, wantF) {
						t.Errorf("%s: page breakdown of %v under %+v from blocks\n%+v\nat read time\n%+v", when, r, f, gotF, wantF)
					}
					if errW == nil && len(wantF.Rows) > 0 {
						filtered++
					}
					if errW != nil && v == "US" {
						refused++
					}
				}
				only := "/p2"
				want, err := ref.Breakdown(ctx, s, r, "page", 4, &only)
				if err != nil {
					t.Fatal(err)
				}
				got, err := q.Breakdown(ctx, s, r, "page", 4, &only)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: page %s over %v from blocks %+v, at read time %+v", when, only, r, got, want)
				}
			}
		}
		compare("before any build")
		roll := rollup.New(rollup.Options{Store: st, Sites: cfg})
		// First as on the day after the last one: the last days are still
		// open, and answers publish them at read time (in Go, for
		// breakdowns) beside the blocks.
		if err := roll.Publish(ctx, first.Time().AddDate(0, 0, days).Add(12*time.Hour)); err != nil {
			t.Fatal(err)
		}
		compare("with the last days open")
		if err := roll.Publish(ctx, now); err != nil {
			t.Fatal(err)
		}
		whole := ranges[1] // 90 days, all final
		valid, err := rollup.ValidBlocks(ctx, st, s.ID, whole.From, whole.To)
		if err != nil {
			t.Fatal(err)
		}
		blocks, rest := rollup.Cover(valid, whole.From, whole.To)
		if len(rest) != 0 || len(blocks) == 0 || len(blocks) > 2*(rollup.MaxPublishedLevel+1) {
			t.Fatalf("90 final days covered by %d blocks, %v left to read time", len(blocks), rest)
		}
		t.Logf("90 days: %d blocks", len(blocks))
		compare("after the first build")
		published := func() uint64 {
			n, err := store.CountWhere(ctx, st, st.DB().Stats+"."+rollup.PublishedTable, "1")
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		n := published()
		if err := roll.Publish(ctx, now); err != nil {
			t.Fatal(err)
		}
		if m := published(); m != n {
			t.Errorf("a second build with nothing new wrote %d rows", m-n)
		}

		// A late write into salt day 2026-08-15: its days' blocks are stale
		// before the new numbers are written, then built again.
		late := time.Date(2026, 8, 15, 0, 0, 0, 0, time.UTC)
		if err := roll.Unpublish(ctx, s, late); err != nil {
			t.Fatal(err)
		}
		lateRows := [][]any{row("guarded", store.Day{Year: 2026, Month: 8, Day: 15}, "page", "/late", 0),
			row("guarded", store.Day{Year: 2026, Month: 8, Day: 14}, "country", "KZ", 1)}
		lateRows[0][5], lateRows[1][5] = uint64(900), uint64(700)
		lateRows[0][12], lateRows[1][12] = uint64(2), uint64(2)
		if err := st.Insert(ctx, st.DB().Stats+".agg_daily", cols, lateRows); err != nil {
			t.Fatal(err)
		}
		lateHour := hourRow("guarded", store.Day{Year: 2026, Month: 8, Day: 15}, 5, "", "", 0)
		lateHour[5], lateHour[12] = uint64(800), uint64(2)
		if err := st.Insert(ctx, st.DB().Stats+".agg_hourly", hourCols, [][]any{lateHour}); err != nil {
			t.Fatal(err)
		}
		if _, rest := rollup.Cover(mustValid(t, st, s.ID, whole), whole.From, whole.To); len(rest) == 0 {
			t.Error("after a late write every day of the range is still read from blocks")
		}
		compare("after a late write")
		if err := roll.Publish(ctx, now); err != nil {
			t.Fatal(err)
		}
		if _, rest := rollup.Cover(mustValid(t, st, s.ID, whole), whole.From, whole.To); len(rest) != 0 {
			t.Errorf("after the rebuild %v are read at read time", rest)
		}
		compare("after the rebuild")

		// Retention: the site keeps 400 days; a year later the first days
		// go, with every block that starts before them.
		later := now.AddDate(0, 0, 400-days+40)
		if err := roll.Retention(ctx, later); err != nil {
			t.Fatal(err)
		}
		cutoff := store.DayOf(later.In(s.Location).AddDate(0, 0, -400))
		left, err := store.CountWhere(ctx, st, st.DB().Stats+"."+rollup.PublishedTable,
			fmt.Sprintf("site = 'guarded' AND day < %s", store.Quote(cutoff.String())))
		if err != nil {
			t.Fatal(err)
		}
		if left != 0 {
			t.Errorf("%d published rows of blocks before the retention cutoff %s are left", left, cutoff)
		}
		hourCutoff := store.DayOf(later.In(s.Location).AddDate(0, 0, -s.Retention.HourlyDays))
		left, err = store.CountWhere(ctx, st, st.DB().Stats+"."+rollup.HourlyPublishedTable,
			fmt.Sprintf("site = 'guarded' AND hour < toDateTime(%d)", hourCutoff.Time().Unix()))
		if err != nil {
			t.Fatal(err)
		}
		if left != 0 {
			t.Errorf("%d published hourly cells before the hourly retention cutoff %s are left", left, hourCutoff)
		}
		if err := roll.Publish(ctx, later); err != nil {
			t.Fatal(err)
		}
		q.now, ref.now = func() time.Time { return later }, func() time.Time { return later }
		ranges = append(ranges, Range{From: cutoff, To: store.DayOf(later)})
		compare("after retention")
	})
}

func mustValid(t *testing.T, st store.Store, id string, r Range) map[[2]int64]uint64 {
	t.Helper()
	v, err := rollup.ValidBlocks(t.Context(), st, id, r.From, r.To)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
