package statistics

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestCheckDisclosure stores cells whose keys move them by known noises
// and checks the privacy report's hook: the guarded site's answers are
// the published sums (checked here against the table, and by the hook), the
// exact site is reported as such, and a cell without a key is found.
func TestCheckDisclosure(t *testing.T) {
	cfg, err := site.Parse([]byte(`
sites:
  - id: guarded
    domains: [guarded.example]
    timezone: UTC
  - id: open
    domains: [open.example]
    timezone: UTC
    disclosure: exact
`))
	if err != nil {
		t.Fatal(err)
	}
	// Keys (mod 2^32) at a fraction of the key space: the table's rows
	// for counts of 2 or more are −2 below 0.1, −1 below 0.3, 0 below 0.7,
	// +1 below 0.9, else +2.
	at := func(f float64) uint64 { return uint64(f * (1 << 32)) }
	d23, d24 := store.Day{Year: 2026, Month: 11, Day: 23}, store.Day{Year: 2026, Month: 11, Day: 24}
	cells := []struct {
		site    string
		day     store.Day
		dim     string
		value   string
		count   uint64
		ckey    uint64
		publish uint64
	}{
		{"guarded", d23, "", "", 10, 7<<32 + at(0.05), 8},
		{"guarded", d24, "", "", 20, at(0.95), 22},
		{"guarded", d24, "page", "/a", 7, 3<<32 + at(0.2), 6},
		{"guarded", d24, "page", "/b", 3, at(0.8), 4},
		{"open", d24, "", "", 5, 0, 5}, // exact: published as counted
	}
	for _, c := range cells[:4] {
		if got := rollup.Perturbation.Publish(c.count, uint32(c.ckey)); got != c.publish {
			t.Fatalf("the table publishes %d at %x as %d, the test expects %d", c.count, c.ckey, got, c.publish)
		}
	}
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		cols := []string{"site", "day", "dim", "value", "salt_day", "visitors", "visits", "pageviews", "bounces", "duration", "events", "ckey", "version"}
		var rows [][]any
		for _, c := range cells {
			rows = append(rows, []any{c.site, c.day, c.dim, c.value, c.day, c.count, c.count, c.count, uint64(0), uint64(0), uint64(0), c.ckey, uint64(1)})
		}
		if err := st.Insert(ctx, st.DB().Stats+".agg_daily", cols, rows); err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
		q := NewQuerier(st)
		q.now = func() time.Time { return now }
		r := Range{From: d23, To: d24}
		guarded := cfg.Site("guarded")
		m, err := q.Aggregate(ctx, guarded, r, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := q.Breakdown(ctx, guarded, r, "page", 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The breakdown's total is the 24th's whole page dimension, a cell
		// of its own: 7 + 3 visitors at key 0.2 + 0.8 (just below 1 mod
		// 2^32), so 10 + 2, not 6 + 4; "(other)" holds the difference.
		if m.Visitors != 30 || len(b.Rows) != 2 || b.Rows[0].Visitors != 6 || b.Rows[1].Visitors != 4 ||
			b.Total.Visitors != 12 || b.Other == nil || b.Other.Visitors != 2 {
			t.Fatalf("guarded answers: total %d, rows %+v, breakdown total %d, other %+v; want 8 + 22, /a 6, /b 4 (shown below k: noise replaces it), 12 and 2",
				m.Visitors, b.Rows, b.Total.Visitors, b.Other)
		}

		check := func(want map[string]DisclosureStatus) {
			t.Helper()
			got, err := CheckDisclosure(ctx, st, cfg, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d sites reported, want %d", len(got), len(want))
			}
			for _, g := range got {
				if w := want[g.Site]; g != w {
					t.Errorf("site %s:\n got %+v\nwant %+v", g.Site, g, w)
				}
			}
		}
		p := rollup.Perturbation
		ok := DisclosureStatus{Site: "guarded", Mode: site.DisclosureCellKey, K: 1, MaxNoise: 2, Variance: p.Variance(2), SameProbOne: p.SameProb(1),
			Probed: 5, OK: true}
		open := DisclosureStatus{Site: "open", Mode: site.DisclosureExact, K: 5, OK: true}
		check(map[string]DisclosureStatus{"guarded": ok, "open": open})

		// A cell without a key: its noise would be the same for every
		// cell of its count, so it can be undone.
		if err := st.Insert(ctx, st.DB().Stats+".agg_daily", cols, [][]any{{"guarded", d24, "page", "/c", d24, uint64(4), uint64(4), uint64(4),
			uint64(0), uint64(0), uint64(0), uint64(0), uint64(1)}}); err != nil {
			t.Fatal(err)
		}
		bad := ok
		bad.Unkeyed, bad.OK = 1, false
		bad.Probed-- // the page total holds the unkeyed cell
		check(map[string]DisclosureStatus{"guarded": bad, "open": open})
	})
}

// TestWholeCellsPublishedInGo checks that a breakdown's total, whose
// whole-breakdown cells are looked up in Go (publishCell), is what the
// engine's publishBy gives the same cells: random counts (0, 1, 2 and
// large, bounces up to the visits) and keys, one day of two salt days.
func TestWholeCellsPublishedInGo(t *testing.T) {
	cfg, err := site.Parse([]byte("sites:\n  - {id: guarded, domains: [g.example], timezone: Asia/Almaty}\n"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	count := func() uint64 { return []uint64{0, 1, 1, 2, 3, uint64(rng.IntN(5000))}[rng.IntN(6)] }
	var rows [][]any
	for d := range 40 {
		day := store.Day{Year: 2026, Month: 10, Day: 1}.Time().AddDate(0, 0, d)
		for v := range 1 + rng.IntN(6) {
			for salt := range 2 {
				visits := count()
				rows = append(rows, []any{"guarded", store.DayOf(day), "page", fmt.Sprintf("/%d", v), store.DayOf(day.AddDate(0, 0, salt)),
					count(), visits, count(), uint64(rng.IntN(int(visits) + 1)), uint64(rng.IntN(100000)), count(), rng.Uint64() >> 20, uint64(1)})
			}
		}
	}
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		cols := []string{"site", "day", "dim", "value", "salt_day", "visitors", "visits", "pageviews", "bounces", "duration", "events", "ckey", "version"}
		if err := st.Insert(ctx, st.DB().Stats+".agg_daily", cols, rows); err != nil {
			t.Fatal(err)
		}
		q := NewQuerier(st)
		s := cfg.Site("guarded")
		for _, r := range []Range{{From: store.Day{Year: 2026, Month: 10, Day: 3}, To: store.Day{Year: 2026, Month: 10, Day: 3}},
			{From: store.Day{Year: 2026, Month: 10, Day: 1}, To: store.Day{Year: 2026, Month: 11, Day: 9}}} {
			b, err := q.Breakdown(ctx, s, r, "page", 3, nil)
			if err != nil {
				t.Fatal(err)
			}
			where := fmt.Sprintf("site = 'guarded' AND dim = 'page' AND day >= %s AND day <= %s", store.Quote(r.From.String()), store.Quote(r.To.String()))
			var want Metrics
			err = st.Query(ctx, "SELECT "+sums+" FROM "+publishBy("site, day, dim", q.from("agg_daily", r, where)), func(row store.Row) error {
				want = scanMetrics(row, 0)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if b.Total != want {
				t.Errorf("%v: total published in Go %+v, in the engine %+v", r, b.Total, want)
			}
		}
	})
}
