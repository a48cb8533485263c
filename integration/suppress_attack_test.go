package integration

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/dashboards/statistics"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// The subtraction attack on breakdown remainders (issue 12, point 9).
//
// Two data sets, each served by a site in both disclosure modes: alpha's
// numbers of dashboards_test.go (no dominant row) and "dom", the issue's
// case (on 2026-11-24 the channel direct has 4,825 visitors, email 2 and
// social 1; the day before, 619 and 1). The viewer asks what
// TestDashboardsNeverShowSmallCounts asks (every breakdown over every
// period and limit, every filtered and unfiltered total and chart, and the
// breakdown of each value alone) and turns every number into what it says
// about the stored cells (a site-day-property-value, or an hour): a sum of
// cells equal to a shown count, within ±k of a rounded one, from 1 to k−1
// for a suppressed one, and in the cellkey mode equal to a sum of
// published cells, each within ±2 of its count. Knowing which cells exist,
// and that a day's channels and countries add up to its visitors, it then
// solves the whole system exactly (an integer search, not a heuristic):
// a cell, or a suppressed sum, of fewer than k visitors is recovered when
// every solution gives it the same value.
//
// It must recover nothing in the cellkey mode, and nothing from dom in the
// exact mode, from all the answers together. The same attacker against
// dom's answers as the rule without rounding would give them (every
// rounded number exact) recovers the remainder, so the test can
// fail. alpha in the exact mode shows what the exact mode never prevented
// and still does not (README, "Small counts are hidden"): overlapping
// ranges of exact counts (7d minus today gives yesterday), and a row that
// joined "other" to cover a small one, whose own filtered total is shown
// (other minus it gives the small one). There the test checks only that
// the rounded numbers add nothing to what the exact ones give away.

var subtractionNow = time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC)

// domData is the case on site dom (k = 5, so 500 is dominant):
// every row is dominant or tiny, as on the site that reported it.
var domData = []aggRow{
	{"dom", "2026-11-23", "", "", 620, 620, 1240, 0, 0, 0},
	{"dom", "2026-11-23", "channel", "direct", 619, 619, 1238, 0, 0, 0},
	{"dom", "2026-11-23", "channel", "email", 1, 1, 2, 0, 0, 0},
	{"dom", "2026-11-23", "country", "KZ", 620, 620, 1240, 0, 0, 0},
	{"dom", "2026-11-23", "page", "/", 620, 620, 620, 0, 0, 0},
	{"dom", "2026-11-23", "page", "/secret", 2, 2, 2, 0, 0, 0},
	{"dom", "2026-11-24", "", "", 4828, 4828, 9656, 0, 0, 0},
	{"dom", "2026-11-24", "channel", "direct", 4825, 4825, 9650, 0, 0, 0},
	{"dom", "2026-11-24", "channel", "email", 2, 2, 4, 0, 0, 0},
	{"dom", "2026-11-24", "channel", "social", 1, 1, 2, 0, 0, 0},
	{"dom", "2026-11-24", "country", "KZ", 4826, 4826, 9652, 0, 0, 0},
	{"dom", "2026-11-24", "country", "DE", 2, 2, 4, 0, 0, 0},
	{"dom", "2026-11-24", "page", "/", 4828, 4828, 4828, 0, 0, 0},
	{"dom", "2026-11-24", "page", "/pricing", 700, 700, 700, 0, 0, 0},
	{"dom", "2026-11-24", "page", "/help", 3, 3, 3, 0, 0, 0},
	{"dom", "2026-11-24", "event", "signup", 480, 480, 0, 0, 0, 480},
}

// domHours: dom's hours on 2026-11-24, the total and the small channels.
var domHours = []struct {
	hour, dim, value string
	visitors         uint64
}{
	{"10", "", "", 3000}, {"11", "", "", 1828},
	{"10", "channel", "email", 1}, {"11", "channel", "email", 1}, {"11", "channel", "social", 1},
	{"10", "channel", "direct", 3000}, {"11", "channel", "direct", 1825},
}

// partitions are the (day, property) whose values add up to the day's
// visitors in the data above: the attacker may use it.
var partitions = map[string][]string{
	"alpha": {"2026-11-24|country"},
	"dom":   {"2026-11-23|channel", "2026-11-23|country", "2026-11-24|channel", "2026-11-24|country"},
}

func TestSubtractionAttack(t *testing.T) {
	cfg, err := site.Parse([]byte(`
sites:
  - {id: alpha-exact, domains: [ax.example], timezone: UTC, disclosure: exact}
  - {id: alpha-cellkey, domains: [ac.example], timezone: UTC}
  - {id: dom-exact, domains: [dx.example], timezone: UTC, disclosure: exact}
  - {id: dom-cellkey, domains: [dc.example], timezone: UTC}
`))
	if err != nil {
		t.Fatal(err)
	}
	type hourRow = struct {
		hour, dim, value string
		visitors         uint64
	}
	data := map[string][]aggRow{"alpha": dashData[:13], "dom": domData}
	hours := map[string][]hourRow{"alpha": dashHours[:], "dom": domHours}
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		rng := rand.New(rand.NewPCG(12, 9))
		cols := []string{"site", "day", "dim", "value", "salt_day", "visitors", "visits", "pageviews", "bounces", "duration", "events", "ckey", "version"}
		var days, hrs [][]any
		for _, set := range []string{"alpha", "dom"} {
			for _, mode := range []string{"-exact", "-cellkey"} {
				keys := cellKeysOf(data[set], partitions[set], rng)
				for i, r := range data[set] {
					d, _ := time.Parse(time.DateOnly, r.day)
					days = append(days, []any{set + mode, store.DayOf(d), r.dim, r.value, store.DayOf(d), r.visitors, r.visits, r.pageviews, r.bounces, r.duration, r.events, keys[i], uint64(1)})
				}
				for _, h := range hours[set] {
					n, _ := strconv.Atoi(h.hour)
					at := time.Date(2026, 11, 24, n, 0, 0, 0, time.UTC)
					hrs = append(hrs, []any{set + mode, at, h.dim, h.value, store.DayOf(at), h.visitors, h.visitors, h.visitors, uint64(0), uint64(0), uint64(0), rng.Uint64(), uint64(1)})
				}
			}
		}
		if err := st.Insert(ctx, st.DB().Stats+".agg_daily", cols, days); err != nil {
			t.Fatal(err)
		}
		cols[1] = "hour"
		if err := st.Insert(ctx, st.DB().Stats+".agg_hourly", cols, hrs); err != nil {
			t.Fatal(err)
		}
		app := statistics.NewAPI(statistics.APIOptions{Sites: cfg, Store: st, Now: func() time.Time { return subtractionNow }}).NewApp()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = app.Listener(ln) }()
		t.Cleanup(func() { _ = app.Shutdown() })
		base := "http://" + ln.Addr().String() + "/api/v1/stats"

		// The panel: the dominant row is shown (rounded in the
		// exact mode, noisy in the cellkey one).
		for _, id := range []string{"dom-exact", "dom-cellkey"} {
			var b struct {
				Results []struct {
					Value    string  `json:"value"`
					Visitors *uint64 `json:"visitors"`
					Rounded  bool    `json:"rounded"`
				} `json:"results"`
				Other *struct {
					Suppressed bool `json:"suppressed"`
				} `json:"other"`
			}
			mustJSON(t, httpGet(t, base+"/breakdown?site="+id+"&period=today&property=channel"), &b)
			if len(b.Results) == 0 || b.Results[0].Value != "direct" || b.Results[0].Visitors == nil || *b.Results[0].Visitors < 4815 || *b.Results[0].Visitors > 4835 {
				t.Fatalf("%s: the channels panel does not show direct: %+v", id, b)
			}
			if id == "dom-exact" && (*b.Results[0].Visitors != 4830 || !b.Results[0].Rounded || len(b.Results) != 1 || b.Other == nil || !b.Other.Suppressed) {
				t.Fatalf("dom-exact: want direct 4830 (rounded) and a suppressed remainder, got %+v other %+v", b.Results, b.Other)
			}
		}

		for _, set := range []string{"alpha", "dom"} {
			truth := cellTruth(data[set], hours[set])
			periods := []string{"period=today", "period=yesterday", "period=7d", "period=custom&from=2026-11-24&to=2026-11-24"}
			id := set + "-cellkey"
			obs := askEverything(t, base, id, periods, truth)
			t.Logf("%s: %d numbers of every answer, each of its two modes", set, len(obs))
			if got := attackCells(t, obs, truth, published, partitions[set]); len(got) > 0 {
				t.Errorf("%s: the attacker recovered %d small cells: %v", id, len(got), got)
			}
			id = set + "-exact"
			obs = askEverything(t, base, id, periods, truth)
			got := attackCells(t, obs, truth, published, partitions[set])
			exact := attackCells(t, obs, truth, withoutRounded, partitions[set])
			if !slices.Equal(got, exact) {
				t.Errorf("%s: the rounded numbers let the attacker recover more: %v, without them %v", id, got, exact)
			}
			if set == "alpha" {
				// The teeth of the cellkey check above: the attacker that
				// found nothing there finds these in the same data exact.
				if len(exact) == 0 {
					t.Errorf("%s: the attacker recovered nothing from exact counts, so finding nothing in the cellkey mode proves nothing", id)
				}
				t.Logf("%s: recovered from exact counts below the dominant size (overlapping ranges, a filtered total against \"other\"; not prevented in the exact mode): %v", id, exact)
			}
			if set == "dom" {
				if len(got) > 0 {
					t.Errorf("%s: the attacker recovered %d small cells: %v", id, len(got), got)
				}
				naive := attackCells(t, obs, truth, naive, partitions[set])
				if !slices.ContainsFunc(naive, func(s string) bool { return strings.Contains(s, "2026-11-24|channel") }) {
					t.Errorf("%s: with the dominant numbers exact the attacker should recover the channels' remainder of 2026-11-24, recovered %v", id, naive)
				}
				t.Logf("%s: recovered with the dominant numbers exact (no rounding): %v", id, naive)
			}
		}
	})
}

// cellKeysOf draws the rows' cell keys as the rollup's would be: random,
// except that where a day's values of a property are its visitors
// (partitions) the keys add up to the day's, since a cell's key is the sum
// of its visitors' keys. Then that property's whole-dimension cell is the
// day's own cell, with the same number, and the attacker knows it.
func cellKeysOf(rows []aggRow, parts []string, rng *rand.Rand) []uint64 {
	keys := make([]uint64, len(rows))
	dayKey := map[string]uint64{}
	for i, r := range rows {
		keys[i] = rng.Uint64()
		if r.dim == "" {
			dayKey[r.day] = keys[i]
		}
	}
	for _, p := range parts {
		day, dim, _ := strings.Cut(p, "|")
		last, sum := -1, uint64(0)
		for i, r := range rows {
			if r.day == day && r.dim == dim {
				last, sum = i, sum+keys[i]
			}
		}
		keys[last] += dayKey[day] - sum
	}
	return keys
}

func httpGet(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", u, resp.StatusCode, body)
	}
	return body
}

// A cell is "d|DAY|DIM|VALUE" or "h|HOUR|DIM|VALUE" (DIM "" the total).
type cellTruths struct {
	visitors map[string]int64
	days     []string // the days that have cells
	values   map[string][]string
}

func cellTruth(rows []aggRow, hrs []struct {
	hour, dim, value string
	visitors         uint64
}) cellTruths {
	c := cellTruths{visitors: map[string]int64{}, values: map[string][]string{}}
	for _, r := range rows {
		c.visitors["d|"+r.day+"|"+r.dim+"|"+r.value] = int64(r.visitors)
		if !slices.Contains(c.days, r.day) {
			c.days = append(c.days, r.day)
		}
		if r.dim != "" && !slices.Contains(c.values[r.dim], r.value) {
			c.values[r.dim] = append(c.values[r.dim], r.value)
		}
	}
	for _, h := range hrs {
		c.visitors["h|2026-11-24T"+h.hour+"|"+h.dim+"|"+h.value] = int64(h.visitors)
	}
	return c
}

// observation is what one published visitors number says: the sum of the
// cells is in [lo, hi] (exact: lo = hi; suppressed: 1 to k−1). rounded
// marks a number published rounded; suppressed one published as "< k".
//
// In the cellkey mode a breakdown's total is the sum of whole-dimension
// cells ("DAY|DIM": each published from the sum of the day's value cells),
// and its "other" that sum minus the rows shown: then whole names them and
// minus the cells subtracted.
type observation struct {
	cells      []string
	whole      []string
	minus      []string
	lo, hi     int64
	rounded    bool
	suppressed bool
	k          int // the answer's
	what       string
}

// askEverything asks the site every question of the periods given and
// returns what the answers say.
func askEverything(t *testing.T, base, id string, periods []string, truth cellTruths) []observation {
	t.Helper()
	var obs []observation
	rangeOf := func(p string) []string {
		var b struct {
			Range struct{ From, To string } `json:"range"`
		}
		mustJSON(t, httpGet(t, base+"/aggregate?site="+id+"&"+p), &b)
		var out []string
		for _, d := range truth.days {
			if d >= b.Range.From && d <= b.Range.To {
				out = append(out, d)
			}
		}
		return out
	}
	type num struct {
		Visitors   *uint64 `json:"visitors"`
		Suppressed bool    `json:"suppressed"`
		Rounded    bool    `json:"rounded"`
		K          int     `json:"k"`
	}
	// stored keeps the cells that exist (the attacker knows the others are
	// empty).
	stored := func(cells []string) []string {
		var have []string
		for _, c := range cells {
			if _, ok := truth.visitors[c]; ok {
				have = append(have, c)
			}
		}
		return have
	}
	add := func(what string, cells []string, n num, k int) {
		have := stored(cells)
		if len(have) == 0 {
			return // the attacker knows these cells are empty
		}
		o := observation{cells: have, what: what, rounded: n.Rounded, suppressed: n.Suppressed, k: k}
		switch {
		case n.Suppressed:
			o.lo, o.hi = 1, int64(n.K)-1
		case n.Visitors == nil:
			t.Fatalf("%s: no number and not suppressed", what)
		case n.Rounded:
			o.lo, o.hi = int64(*n.Visitors)-int64(k), int64(*n.Visitors)+int64(k)-1
		default:
			o.lo, o.hi = int64(*n.Visitors), int64(*n.Visitors)
		}
		obs = append(obs, o)
	}
	// addWhole adds a cellkey answer over whole-dimension cells: their sum
	// minus the cells of minus (see observation), which is n, or at most
	// 0 when n is 0 (a difference is published floored at 0).
	addWhole := func(what string, whole, minus []string, n num) {
		o := observation{whole: whole, minus: stored(minus), what: what, k: 1, lo: int64(*n.Visitors), hi: int64(*n.Visitors)}
		if o.lo == 0 {
			o.lo = -1 << 30
		}
		obs = append(obs, o)
	}
	dayCells := func(days []string, dim, value string) []string {
		var out []string
		for _, d := range days {
			out = append(out, "d|"+d+"|"+dim+"|"+value)
		}
		return out
	}
	for _, p := range periods {
		days := rangeOf(p)
		var dims []string
		for dim := range truth.values {
			dims = append(dims, dim)
		}
		sort.Strings(dims)
		for _, dim := range dims {
			for _, limit := range []string{"1", "2", "3", "100"} {
				q := id + "&" + p + "&property=" + dim + "&limit=" + limit
				var b struct {
					K       int `json:"k"`
					Results []struct {
						Value string `json:"value"`
						num
					} `json:"results"`
					Other *num `json:"other"`
					Total num  `json:"total"`
				}
				mustJSON(t, httpGet(t, base+"/breakdown?site="+q), &b)
				var all, shown, whole []string
				for _, v := range truth.values[dim] {
					all = append(all, dayCells(days, dim, v)...)
				}
				for _, d := range days {
					whole = append(whole, d+"|"+dim)
				}
				perturbed := b.K == 1
				if perturbed {
					addWhole(q+" total", whole, nil, b.Total)
				} else {
					add(q+" total", all, b.Total, b.K)
				}
				rest := slices.Clone(all)
				for _, r := range b.Results {
					cells := dayCells(days, dim, r.Value)
					add(q+" "+r.Value, cells, r.num, b.K)
					shown = append(shown, cells...)
					rest = slices.DeleteFunc(rest, func(c string) bool { return slices.Contains(cells, c) })
				}
				switch {
				case perturbed:
					other := num{Visitors: new(uint64)}
					if b.Other != nil {
						other = *b.Other
					}
					addWhole(q+" other", whole, shown, other)
				case b.Other != nil:
					add(q+" other", rest, *b.Other, b.K)
				}
			}
		}
		// Totals and charts, unfiltered and filtered by every value.
		filters := []string{""}
		for _, dim := range dims {
			for _, v := range truth.values[dim] {
				filters = append(filters, dim+"=="+v)
			}
		}
		for _, f := range filters {
			dim, value, _ := strings.Cut(f, "==")
			q := id + "&" + p
			if f != "" {
				q += "&filter=" + url.QueryEscape(f)
			}
			var a struct {
				K       int `json:"k"`
				Results num `json:"results"`
			}
			mustJSON(t, httpGet(t, base+"/aggregate?site="+q), &a)
			add(q+" aggregate", dayCells(days, dim, value), a.Results, a.K)
			var ts struct {
				K        int    `json:"k"`
				Interval string `json:"interval"`
				Results  []struct {
					Date string `json:"date"`
					num
				} `json:"results"`
			}
			mustJSON(t, httpGet(t, base+"/timeseries?site="+q), &ts)
			for _, pt := range ts.Results {
				cell := "d|" + pt.Date + "|" + dim + "|" + value
				if ts.Interval == "hour" {
					at, err := time.Parse(time.RFC3339, pt.Date)
					if err != nil {
						t.Fatal(err)
					}
					cell = fmt.Sprintf("h|%sT%02d|%s|%s", at.UTC().Format(time.DateOnly), at.UTC().Hour(), dim, value)
				}
				n := len(obs)
				add(q+" point "+pt.Date, []string{cell}, pt.num, ts.K)
				if len(obs) > n && pt.Suppressed {
					// A hidden point is below k, or the smallest point
					// that joined the hidden ones (protectSeries).
					obs[n].hi = 1 << 20
				}
			}
			if f != "" {
				var b struct {
					K       int   `json:"k"`
					Results []num `json:"results"`
					Total   num   `json:"total"`
				}
				mustJSON(t, httpGet(t, base+"/breakdown?site="+q+"&property="+dim), &b)
				add(q+" breakdown total", dayCells(days, dim, value), b.Total, b.K)
			}
		}
	}
	return obs
}

// How attackCells reads the answers.
type reading int

const (
	published      reading = iota // as published
	withoutRounded                // with every rounded number left out
	naive                         // with every rounded number read as the exact count it was rounded from
)

// attackCells solves what obs say about the cells and returns the small
// things (a cell, or the cells of a suppressed number, from 1 to 4
// visitors) that every solution agrees on. In the cellkey mode (a number
// with k 1) obs are sums of published cells, each its count ±2. The exact
// mode's site totals are not cells (README) and are not targets.
func attackCells(t *testing.T, obs []observation, truth cellTruths, how reading, parts []string) []string {
	t.Helper()
	perturbed := len(obs) > 0 && obs[0].k == 1
	const small = 5
	sys := &intSystem{}
	count := map[string]int{} // the cells' counts
	pub := map[string]int{}   // their published values
	for c := range truth.visitors {
		count[c] = sys.newVar(1, 1<<20) // a stored cell has a visitor
		if perturbed {
			pub[c] = sys.newVar(0, 1<<20)
			sys.add([]int{pub[c], count[c]}, []int64{1, -1}, -2, 2)
		} else {
			pub[c] = count[c]
		}
	}
	sum := func(cells []string, m map[string]int) (vars []int, coefs []int64, v int64) {
		for _, c := range cells {
			vars, coefs, v = append(vars, m[c]), append(coefs, 1), v+truth.visitors[c]
		}
		return
	}
	wholes := map[string]int{} // the whole-dimension cells' published values
	wholeOf := func(dayDim string) int {
		if w, ok := wholes[dayDim]; ok {
			return w
		}
		w := sys.newVar(0, 1<<20)
		wholes[dayDim] = w
		vars, coefs := []int{w}, []int64{1}
		for c := range truth.visitors {
			if strings.HasPrefix(c, "d|"+dayDim+"|") {
				vars, coefs = append(vars, count[c]), append(coefs, -1)
			}
		}
		sys.add(vars, coefs, -2, 2)
		return w
	}
	for _, p := range parts {
		day, dim, _ := strings.Cut(p, "|")
		if perturbed {
			// The same visitors and key: the same published cell.
			sys.add([]int{wholeOf(p), pub["d|"+day+"||"]}, []int64{1, -1}, 0, 0)
		}
		vars, coefs := []int{count["d|"+day+"||"]}, []int64{-1}
		for c := range truth.visitors {
			if strings.HasPrefix(c, "d|"+day+"|"+dim+"|") {
				vars, coefs = append(vars, count[c]), append(coefs, 1)
			}
		}
		sys.add(vars, coefs, 0, 0)
	}
	type target struct {
		name  string
		cells []string
	}
	var targets []target
	for _, o := range obs {
		vars, coefs, v := sum(o.cells, pub)
		for _, w := range o.whole {
			vars, coefs = append(vars, wholeOf(w)), append(coefs, 1)
		}
		for _, c := range o.minus {
			vars, coefs = append(vars, pub[c]), append(coefs, -1)
		}
		lo, hi := o.lo, o.hi
		if o.rounded && how == withoutRounded {
			continue
		}
		if o.rounded && how == naive {
			lo, hi = v, v
		}
		if !perturbed && (v < lo || v > hi) {
			t.Fatalf("%s: the truth %d is outside what the answer says, [%d, %d]", o.what, v, lo, hi)
		}
		sys.add(vars, coefs, lo, hi)
		if o.suppressed && v < small {
			targets = append(targets, target{o.what, o.cells})
		}
	}
	for c, v := range truth.visitors {
		if v < small && (perturbed || !strings.Contains(c, "||")) {
			targets = append(targets, target{c, []string{c}})
		}
	}
	var found []string
	seen := map[string]bool{}
	for _, tg := range targets {
		key := strings.Join(tg.cells, " ")
		if seen[key] {
			continue
		}
		seen[key] = true
		vars, coefs, v := sum(tg.cells, count)
		if !sys.otherValuePossible(vars, coefs, v) {
			found = append(found, fmt.Sprintf("%s = %d", key, v))
		}
	}
	sort.Strings(found)
	return found
}

// intSystem is a set of integer variables with bounds and constraints
// lo ≤ Σ coef·var ≤ hi, solved exactly by bound propagation and search.
type intSystem struct {
	lo, hi []int64
	cons   []intCons
}

type intCons struct {
	vars   []int
	coefs  []int64
	lo, hi int64
}

func (s *intSystem) newVar(lo, hi int64) int {
	s.lo, s.hi = append(s.lo, lo), append(s.hi, hi)
	return len(s.lo) - 1
}

func (s *intSystem) add(vars []int, coefs []int64, lo, hi int64) {
	s.cons = append(s.cons, intCons{vars, coefs, lo, hi})
}

// propagate narrows the bounds until nothing changes, or for a bounded
// number of passes (bounds can creep by one a pass; the search then splits
// them); false: no solution.
func (s *intSystem) propagate(lo, hi []int64) bool {
	for changed, pass := true, 0; changed && pass < 100; pass++ {
		changed = false
		for _, c := range s.cons {
			var min, max int64
			for i, v := range c.vars {
				if c.coefs[i] > 0 {
					min, max = min+lo[v], max+hi[v]
				} else {
					min, max = min-hi[v], max-lo[v]
				}
			}
			if min > c.hi || max < c.lo {
				return false
			}
			for i, v := range c.vars {
				// The others' range leaves this term within
				// [c.lo − (max − its max), c.hi − (min − its min)].
				var tmin, tmax int64
				if c.coefs[i] > 0 {
					tmin, tmax = lo[v], hi[v]
				} else {
					tmin, tmax = -hi[v], -lo[v]
				}
				nlo, nhi := c.lo-(max-tmax), c.hi-(min-tmin)
				if c.coefs[i] < 0 {
					nlo, nhi = -nhi, -nlo
				}
				if nlo > lo[v] {
					lo[v], changed = nlo, true
				}
				if nhi < hi[v] {
					hi[v], changed = nhi, true
				}
				if lo[v] > hi[v] {
					return false
				}
			}
		}
	}
	return true
}

// solvable reports whether some assignment within lo, hi meets every
// constraint.
func (s *intSystem) solvable(lo, hi []int64, budget *int) bool {
	*budget--
	if *budget < 0 {
		panic("the attacker's search ran out of budget: the answer is unknown")
	}
	if !s.propagate(lo, hi) {
		return false
	}
	best := -1
	for v := range lo {
		if lo[v] < hi[v] && (best < 0 || hi[v]-lo[v] < hi[best]-lo[best]) {
			best = v
		}
	}
	if best < 0 {
		return s.holds(lo) // every variable fixed
	}
	mid := lo[best] + (hi[best]-lo[best])/2
	for _, half := range [][2]int64{{lo[best], mid}, {mid + 1, hi[best]}} {
		l, h := slices.Clone(lo), slices.Clone(hi)
		l[best], h[best] = half[0], half[1]
		if s.solvable(l, h, budget) {
			return true
		}
	}
	return false
}

// holds reports whether the assignment x meets every constraint.
func (s *intSystem) holds(x []int64) bool {
	for _, c := range s.cons {
		var sum int64
		for i, v := range c.vars {
			sum += c.coefs[i] * x[v]
		}
		if sum < c.lo || sum > c.hi {
			return false
		}
	}
	return true
}

// otherValuePossible reports whether a solution gives Σ coef·var a value
// other than v.
func (s *intSystem) otherValuePossible(vars []int, coefs []int64, v int64) bool {
	for _, side := range [][2]int64{{-1 << 40, v - 1}, {v + 1, 1 << 40}} {
		t := *s
		t.lo, t.hi = slices.Clone(s.lo), slices.Clone(s.hi)
		t.cons = append(slices.Clone(s.cons), intCons{vars, coefs, side[0], side[1]})
		budget := 200000
		if t.solvable(t.lo, t.hi, &budget) {
			return true
		}
	}
	return false
}
