package statistics

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func rowOf(value string, visitors, pageviews uint64) BreakdownRow {
	return BreakdownRow{Value: value, Metrics: Metrics{Visitors: visitors, Visits: visitors, Pageviews: pageviews}}
}

func TestFoldBreakdown(t *testing.T) {
	f := func(rows []BreakdownRow, limit, k int, wantShown string, wantOther string) {
		t.Helper()
		var total Metrics
		for _, r := range rows {
			total.add(r.Metrics)
		}
		shown, other := foldBreakdown(rows, total, limit, k)
		var got []string
		for _, r := range shown {
			got = append(got, fmt.Sprintf("%s:%d", r.Value, r.Visitors))
		}
		if s := strings.Join(got, " "); s != wantShown {
			t.Fatalf("shown %q, want %q", s, wantShown)
		}
		o := "none"
		if other != nil {
			o = fmt.Sprintf("%d/%d", other.Visitors, other.Pageviews)
			if other.Suppressed {
				o = "suppressed"
			}
		}
		if o != wantOther {
			t.Fatalf("other %s, want %s", o, wantOther)
		}
	}
	// Everything at or above k, within the limit: nothing folded.
	f([]BreakdownRow{rowOf("/a", 9, 20), rowOf("/b", 5, 5)}, 10, 5, "/a:9 /b:5", "none")
	// Small rows fold; together they reach k.
	f([]BreakdownRow{rowOf("/a", 9, 20), rowOf("/b", 3, 4), rowOf("/c", 2, 2)}, 10, 5, "/a:9", "5/6")
	// Small rows below k together: the smallest shown row joins them.
	f([]BreakdownRow{rowOf("/a", 9, 20), rowOf("/b", 6, 6), rowOf("/c", 2, 2)}, 10, 5, "/a:9", "8/8")
	// The limit folds rows above k too.
	f([]BreakdownRow{rowOf("/a", 9, 20), rowOf("/b", 6, 6), rowOf("/c", 5, 5)}, 2, 5, "/a:9 /b:6", "5/5")
	// All below k: nothing shown, "other" is the (small) total.
	f([]BreakdownRow{rowOf("/a", 2, 2), rowOf("/b", 1, 1)}, 10, 5, "", "suppressed")
	// k = 1 hides nothing.
	f([]BreakdownRow{rowOf("/a", 2, 2), rowOf("/b", 1, 1)}, 10, 1, "/a:2 /b:1", "none")
	// The channels: a dominant row is never folded to protect a
	// small remainder (rounding protects it instead: TestCoarsen).
	f([]BreakdownRow{rowOf("direct", 4825, 9000), rowOf("email", 2, 2), rowOf("social", 1, 1)}, 10, 5, "direct:4825", "suppressed")
	// Rows below the dominant size still fold, the smallest first, and a
	// dominant row is skipped even where it is not the last.
	f([]BreakdownRow{rowOf("direct", 4825, 9000), rowOf("search", 499, 600), rowOf("email", 2, 2)}, 10, 5, "direct:4825", "501/602")
	f([]BreakdownRow{rowOf("a", 600, 600), rowOf("b", 500, 500), rowOf("c", 7, 7), rowOf("d", 1, 1)}, 10, 5, "a:600 b:500", "8/8")
	f([]BreakdownRow{rowOf("a", 600, 600), rowOf("b", 500, 500), rowOf("d", 3, 3)}, 10, 5, "a:600 b:500", "suppressed")
}

// TestCoarsen: a dominant cell has every count rounded half up to a
// multiple of 2k and its rates derived from the rounded counts; other
// cells, and every cell when k is 1, stay exact.
func TestCoarsen(t *testing.T) {
	f := func(m Metrics, k int, want string) {
		t.Helper()
		m.derive()
		m.coarsen(k)
		got := fmt.Sprintf("%d/%d/%d/%d/%d/%d %v %v", m.Visitors, m.Visits, m.Pageviews, m.Events, m.bounces, m.duration, m.BounceRate, m.Rounded)
		if got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	f(Metrics{Visitors: 4825, Visits: 5004, Pageviews: 9000, Events: 3, bounces: 1234, duration: 123456}, 5,
		"4830/5000/9000/0/1230/123460 24.6 true")
	f(Metrics{Visitors: 500, Visits: 504, Pageviews: 505}, 5, "500/500/510/0/0/0 0 true")
	f(Metrics{Visitors: 499, Visits: 504, Pageviews: 505}, 5, "499/504/505/0/0/0 0 false")
	f(Metrics{Visitors: 4825, Visits: 5004}, 1, "4825/5004/0/0/0/0 0 false")
	f(Metrics{Visitors: 2013, Visits: 2013}, 10, "2020/2020/0/0/0/0 0 true")
}

// TestRoundingHidesRemainder is the proof of the rounding rule for one
// panel. A viewer sees a panel's total T' and its n dominant rows R_i',
// each the true count rounded to a multiple of 2k, and knows the hidden
// remainder r = T − ΣR_i is from 1 to k−1 ("< k"). Every true count lies
// within [x' − k, x' + k − 1], so r lies within
// [T' − k − Σ(R_i' + k − 1), T' + k − 1 − Σ(R_i' − k)]. The test tries every
// remainder, every position of every row within its rounding step (which
// is all that matters: adding 2k to a row adds 2k to its rounded value and
// the total's) and up to eight rows, and requires that the values left for
// r are never just one. For an odd k that holds; for an even k the same
// attacker pins r when k − 1 rows all sit at the top of their step, so the
// test also checks that it can fail.
func TestRoundingHidesRemainder(t *testing.T) {
	pinned := func(k, maxRows int) (string, int) {
		b := uint64(2 * k)
		base := uint64(DominantFactor * k) // every row dominant
		narrowest := k - 1
		var pos []uint64
		var try func() string
		try = func() string {
			if n := len(pos); n > 0 {
				for r := uint64(1); r < uint64(k); r++ {
					var sumR, sumShown uint64
					for i, p := range pos {
						v := base + uint64(i)*b*7 + p
						sumR += v
						sumShown += roundTo(v, b)
					}
					T := roundTo(sumR+r, b)
					lo := int64(T) - int64(k) - int64(sumShown) - int64(n)*int64(k-1)
					hi := int64(T) + int64(k-1) - int64(sumShown) + int64(n)*int64(k)
					lo, hi = max(lo, 1), min(hi, int64(k-1))
					if int64(r) < lo || int64(r) > hi {
						t.Fatalf("k=%d rows %v r=%d: the truth is outside [%d, %d]", k, pos, r, lo, hi)
					}
					narrowest = min(narrowest, int(hi-lo+1))
					if lo == hi {
						return fmt.Sprintf("rows at %v of their step, r=%d", pos, r)
					}
				}
			}
			if len(pos) == maxRows {
				return ""
			}
			for p := uint64(0); p < b; p++ {
				pos = append(pos, p)
				if s := try(); s != "" {
					return s
				}
				pos = pos[:len(pos)-1]
			}
			return ""
		}
		return try(), narrowest
	}
	for _, k := range []int{3, 5, 7} {
		rows := 5
		if k > 5 {
			rows = 4
		}
		if how, narrowest := pinned(k, rows); how != "" {
			t.Errorf("k=%d: the remainder is pinned: %s", k, how)
		} else {
			t.Logf("k=%d, up to %d dominant rows: r is never pinned; at worst %d values are left of %d", k, rows, narrowest, k-1)
		}
	}
	if how, _ := pinned(4, 3); how == "" {
		t.Errorf("k=4: the attacker never pins the remainder, so this test could not fail")
	}
}

// TestNoSmallCountLeaves: over random breakdowns and series, no visitors
// number in the JSON is between 1 and k-1, and shown + other = total.
func TestNoSmallCountLeaves(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 2000 {
		k := 1 + rng.IntN(10)
		n := rng.IntN(30)
		rows := make([]BreakdownRow, n)
		var total Metrics
		for i := range rows {
			v := uint64(1 + rng.IntN(3*k))
			rows[i] = rowOf(fmt.Sprint("/p", i), v, v+uint64(rng.IntN(5)))
			total.add(rows[i].Metrics)
		}
		sortRows(rows)
		limit := 1 + rng.IntN(12)
		shown, other := foldBreakdown(rows, total, limit, k)
		var sum Metrics
		for _, r := range shown {
			sum.add(r.Metrics)
		}
		if other != nil {
			sum.add(other.Metrics)
		}
		if sum.Visitors != total.Visitors || sum.Pageviews != total.Pageviews {
			t.Fatalf("iter %d: shown + other = %+v, total %+v", iter, sum, total)
		}
		total.derive()
		total.suppressUnder(k)
		b, err := json.Marshal(map[string]any{"results": shown, "other": other})
		if err != nil {
			t.Fatal(err)
		}
		assertNoSmallCount(t, b, k)

		pts := make([]Point, rng.IntN(30))
		for i := range pts {
			if rng.IntN(3) > 0 {
				v := uint64(rng.IntN(3 * k))
				pts[i].Visitors, pts[i].Pageviews = v, v
			}
		}
		protectSeries(pts, k)
		var hidden uint64
		for _, p := range pts {
			if p.Suppressed {
				hidden += p.Visitors
			}
		}
		if hidden > 0 && hidden < uint64(k) {
			var all uint64
			for _, p := range pts {
				all += p.Visitors
			}
			if hidden != all {
				t.Fatalf("iter %d: suppressed points add up to %d < k=%d", iter, hidden, k)
			}
		}
		b, _ = json.Marshal(pts)
		assertNoSmallCount(t, b, k)
	}
}

func sortRows(rows []BreakdownRow) {
	for i := 1; i < len(rows); i++ {
		for j := i; j > 0 && rows[j].Visitors > rows[j-1].Visitors; j-- {
			rows[j], rows[j-1] = rows[j-1], rows[j]
		}
	}
}

// assertNoSmallCount walks decoded JSON for "visitors" numbers below k,
// and for suppressed cells that still carry a number.
func assertNoSmallCount(t *testing.T, body []byte, k int) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			if n, ok := x["visitors"].(float64); ok && n > 0 && n < float64(k) {
				t.Fatalf("a cell shows %v visitors with k=%d: %s", n, k, body)
			}
			if x["suppressed"] == true {
				for _, key := range []string{"visitors", "visits", "pageviews", "events", "bounce_rate"} {
					if x[key] != nil {
						t.Fatalf("suppressed cell carries %s: %s", key, body)
					}
				}
			}
			for _, y := range x {
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	walk(v)
}
