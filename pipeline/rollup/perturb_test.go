package rollup_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestPerturbationTable checks the published guarantee of the table as the
// lookup applies it: for every count, the noise read at evenly spread keys
// has the row's distribution, zero mean, |noise| ≤ 2, never a negative
// result, and the count is never published as itself with certainty.
func TestPerturbationTable(t *testing.T) {
	p := rollup.Perturbation
	if d := p.MaxNoise(); d != 2 {
		t.Errorf("D = %d, want 2", d)
	}
	const steps = 1 << 16
	for c := uint64(1); c <= 6; c++ {
		hist := map[int64]int{}
		for i := range steps {
			u := uint32(uint64(i) << 16)
			n := p.Noise(c, u)
			if n < -2 || n > 2 || int64(c)+n < 0 {
				t.Fatalf("count %d at %d: noise %d", c, u, n)
			}
			if p.Publish(c, u) != uint64(int64(c)+n) {
				t.Fatalf("count %d at %d: published %d, noise %d", c, u, p.Publish(c, u), n)
			}
			hist[n]++
		}
		mean, variance := 0.0, 0.0
		for n, k := range hist {
			mean += float64(n) * float64(k) / steps
			variance += float64(n*n) * float64(k) / steps
		}
		if math.Abs(mean) > 1e-3 || math.Abs(variance-p.Variance(c)) > 1e-3 {
			t.Errorf("count %d: mean %.4f, variance %.4f (table %.2f)", c, mean, variance, p.Variance(c))
		}
		if same := float64(hist[0]) / steps; same > 0.41 || math.Abs(same-p.SameProb(c)) > 1e-3 {
			t.Errorf("count %d published as itself at %.3f of keys (table %.2f)", c, same, p.SameProb(c))
		}
	}
	if p.Noise(0, 12345) != 0 || p.Publish(0, math.MaxUint32) != 0 {
		t.Error("a count of 0 must stay 0")
	}
}

// TestPerturbationSQLMatchesGo: the engine's lookup (what the dashboards
// publish) is the Go table's, at every threshold and beside it, on both
// engines.
func TestPerturbationSQLMatchesGo(t *testing.T) {
	p := rollup.Perturbation
	us := []uint64{0, 1, math.MaxUint32}
	for _, r := range p.Rows {
		cum := 0.0
		for _, pr := range r.Prob {
			cum += pr
			th := uint64(math.Round(cum * (1 << 32)))
			for _, u := range []uint64{th - 1, th, th + 1} {
				if u < 1<<32 {
					us = append(us, u)
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		us = append(us, uint64(rng.Uint32()))
	}
	counts := []uint64{0, 1, 2, 3, 7, 1000}
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		cl := make([]string, len(counts))
		for i, c := range counts {
			cl[i] = fmt.Sprint(c)
		}
		ul := make([]string, len(us))
		for i, u := range us {
			ul[i] = fmt.Sprint(u)
		}
		q := fmt.Sprintf("SELECT c, u, %s, %s FROM (SELECT toUInt64(arrayJoin([%s])) AS c, toUInt64(arrayJoin([%s])) AS u)",
			p.PublishSQL("c", "u"), p.PublishDurationSQL("toUInt64(c * 100)", "c", "u"), strings.Join(cl, ", "), strings.Join(ul, ", "))
		rows := 0
		err := st.Query(context.Background(), q, func(row store.Row) error {
			rows++
			c, u := row.Uint64(0), uint32(row.Uint64(1))
			if got, want := row.Uint64(2), p.Publish(c, u); got != want {
				t.Errorf("count %d at %d: engine %d, Go %d", c, u, got, want)
			}
			if got, want := int64(row.Uint64(3)), max(int64(c*100)+p.DurationStep*p.Noise(c, u), 0); got != want {
				t.Errorf("duration %d at %d: engine %d, Go %d", c*100, u, got, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if rows != len(counts)*len(us) {
			t.Fatalf("%d rows, want %d", rows, len(counts)*len(us))
		}
	})
}

// TestCellKeysAddUp checks what the rollup stores as a cell's key: the sum
// of its distinct visitors' record keys, for every hourly and daily total
// (computed here straight from the events), and the same whether the day
// was written at once or incrementally, late events included (every cell,
// pairs too).
func TestCellKeysAddUp(t *testing.T) {
	config, err := site.Parse([]byte(diffSites))
	if err != nil {
		t.Fatal(err)
	}
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(7, 10))
		clock := diffDay.Add(20 * time.Hour)
		now := func() time.Time { return clock }
		insert := func(evs []event.Event) {
			t.Helper()
			rows := make([][]any, len(evs))
			for i := range evs {
				rows[i] = pipeline.EventRowAt(&evs[i], "b1", clock)
			}
			if err := st.Insert(ctx, st.DB().Stats+".events", pipeline.EventColumns, rows); err != nil {
				t.Fatal(err)
			}
			clock = clock.Add(20 * time.Second)
		}
		r := rollup.New(rollup.Options{Store: st, Sites: config, Now: now, PairTopN: 3})
		first := genEvents(rng, config.Sites, 300, 0, 20*time.Hour, nil)
		insert(first)
		if _, err := r.Run(ctx, diffDay); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			insert(genEvents(rng, config.Sites, 60, 0, 24*time.Hour, first))
			if res, err := r.Run(ctx, diffDay); err != nil || !res.Incremental {
				t.Fatalf("incremental run: %+v, %v", res, err)
			}
		}
		incremental := cellKeys(t, st)
		// The totals, from the events: every visitor with an event in
		// the period, once.
		for _, s := range config.Sites {
			tz := store.Quote(s.Location.String())
			for _, g := range []struct{ table, col, period string }{
				{"agg_daily", "day", "toString(toDate(ts, " + tz + "))"},
				{"agg_hourly", "hour", "toString(toUInt32(toStartOfHour(ts, " + tz + ")))"},
			} {
				q := fmt.Sprintf(`SELECT p, toUInt64(count()), toUInt64(sum(%s)) FROM (SELECT DISTINCT %s AS p, visitor FROM %s.events WHERE site = %s) GROUP BY p`,
					rollup.RecordKeySQL("visitor"), g.period, st.DB().Stats, store.Quote(s.ID))
				n := 0
				err := st.Query(ctx, q, func(row store.Row) error {
					n++
					key := fmt.Sprintf("%s|%s|%s|||", g.table, s.ID, row.String(0))
					if got, want := incremental[key], fmt.Sprintf("%d %d", row.Uint64(1), row.Uint64(2)); got != want {
						t.Errorf("%s: stored %q, from the events %q", key, got, want)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					t.Fatalf("site %s: no %s totals", s.ID, g.table)
				}
			}
		}
		// The whole day again, from scratch, by another process.
		clock = clock.Add(time.Minute)
		if _, err := rollup.New(rollup.Options{Store: st, Sites: config, Now: now, PairTopN: 3}).Run(ctx, diffDay); err != nil {
			t.Fatal(err)
		}
		full := cellKeys(t, st)
		pairs := 0
		for k, want := range full {
			if strings.HasPrefix(k, "agg_pairs|") {
				pairs++
			}
			if incremental[k] != want {
				t.Errorf("%s: incremental %q, from scratch %q", k, incremental[k], want)
			}
		}
		if len(incremental) != len(full) || pairs < 100 {
			t.Errorf("%d cells incremental, %d from scratch, %d pair cells", len(incremental), len(full), pairs)
		}
	})
}

// cellKeys reads every non-empty cell's visitors and key.
func cellKeys(t *testing.T, st store.Store) map[string]string {
	t.Helper()
	db := st.DB().Stats
	out := map[string]string{}
	for _, q := range []string{
		"SELECT 'agg_daily', site, toString(day), '', dim, value, visitors, ckey FROM " + db + ".agg_daily FINAL WHERE visitors > 0",
		"SELECT 'agg_hourly', site, toString(toUInt32(hour)), '', dim, value, visitors, ckey FROM " + db + ".agg_hourly FINAL WHERE visitors > 0",
		"SELECT 'agg_pairs', site, toString(day), concat(fdim, '=', fvalue), dim, value, toUInt64(sum(visitors)) AS v, toUInt64(sum(ckey)) FROM " + db +
			".agg_pairs GROUP BY site, day, fdim, fvalue, dim, value HAVING v > 0",
	} {
		err := st.Query(context.Background(), q, func(row store.Row) error {
			key := strings.Join([]string{row.String(0), row.String(1), row.String(2), row.String(3), row.String(4), row.String(5)}, "|")
			out[key] = fmt.Sprintf("%d %d", row.Uint64(6), row.Uint64(7))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}
