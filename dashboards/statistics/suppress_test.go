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
