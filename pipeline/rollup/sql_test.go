package rollup_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// diffSites spans time zones whose offsets are whole hours on either side
// of UTC, half and quarter hours, so that site-local hours and days start
// at other instants than UTC's. None changes its offset near diffDay (the
// repeated hour of a DST change is where the two paths differ, see sql.go).
const diffSites = `sites:
  - id: almaty
    domains: [a.kz]
    timezone: Asia/Almaty
    goals:
      - {name: Signed up, event: signup}
      - {name: Read the blog, page: "/blog/*"}
    properties: [plan, seats]
  - id: kolkata
    domains: [k.in]
    timezone: Asia/Kolkata
  - id: kathmandu
    domains: [k.np]
    timezone: Asia/Kathmandu
  - id: newyork
    domains: [n.us]
    timezone: America/New_York
  - id: utc
    domains: [u.org]
    goals:
      - {name: Pricing, page: /pricing}
`

// diffDay is the salt day of the generated events.
var diffDay = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)

// genEvents makes a random day of events for the sites: visitors with one
// or more visits, gaps around SessionTimeout, several events in one second,
// visits across site-local midnights and hours, custom events with and
// without a name, and every dimension drawn from small pools that include
// the empty value. from and to bound the events' times within the day.
// Half of the visitors are taken from late, when given: their events arrive
// after the ones already counted.
func genEvents(rng *rand.Rand, sites []*site.Site, visitors int, from, to time.Duration, late []event.Event) []event.Event {
	pick := func(pool ...string) string { return pool[rng.IntN(len(pool))] }
	var evs []event.Event
	for range visitors {
		s := sites[rng.IntN(len(sites))]
		v := rng.Uint64()
		if len(late) > 0 && rng.IntN(2) == 0 {
			e := late[rng.IntN(len(late))]
			s, v = cfg(sites, e.SiteID), e.Visitor
		}
		at := diffDay.Add(from + time.Duration(rng.Int64N(int64(to-from)))).Truncate(time.Second)
		// A visitor's attributes stay mostly the same over a day, but a
		// change within a visit must follow the visit's first page.
		base := event.Event{SiteID: s.ID, SaltDay: diffDay, Visitor: v,
			Country: pick("KZ", "IN", "US", ""), Region: pick("KZ-ALA", "IN-MH", ""),
			Browser: pick("Chrome", "Firefox", "Safari", ""), OS: pick("Android", "iOS", "Windows", ""),
			Device: pick("mobile", "desktop", ""), Screen: pick("360x800", "1920x1080", ""),
			Language: pick("kk", "ru", "en", ""), BrowserVersion: uint16(rng.IntN(3) * 60)}
		for range 1 + rng.IntN(12) {
			if at.Sub(diffDay) >= to {
				break
			}
			e := base
			e.Time = at
			e.Kind = event.KindPageview
			e.Path = pick("/", "/pricing", "/blog/a", "/қала", "/docs")
			if rng.IntN(4) == 0 {
				e.Kind, e.Name = event.KindCustom, pick("signup", "download", "")
			}
			// Properties on some events; sites that list no
			// properties must ignore them on both paths.
			switch rng.IntN(4) {
			case 0:
				e.PropKeys, e.PropValues = []string{"plan"}, []string{pick("pro", "team")}
			case 1:
				e.PropKeys, e.PropValues = []string{"plan", "seats"}, []string{pick("pro", "free"), pick("1", "5")}
			}
			e.RefHost = pick("google.com", "", "", "t.co")
			e.Channel = map[bool]string{true: "direct", false: "referral"}[e.RefHost == ""]
			e.UTMSource, e.UTMMedium = pick("", "", "newsletter"), pick("", "email")
			e.UTMCampaign, e.UTMContent, e.UTMTerm = pick("", "autumn"), pick("", "top"), pick("", "kz")
			if rng.IntN(5) == 0 {
				e.Country = pick("KZ", "DE")
			}
			evs = append(evs, e)
			switch rng.IntN(6) {
			case 0: // the same second
			case 1: // just inside and just outside a visit's gap
				at = at.Add(rollup.SessionTimeout + time.Duration(rng.IntN(2))*time.Second)
			case 2: // a new visit
				at = at.Add(time.Duration(31+rng.IntN(300)) * time.Minute)
			default:
				at = at.Add(time.Duration(1+rng.IntN(1500)) * time.Second)
			}
		}
	}
	return evs
}

func cfg(sites []*site.Site, id string) *site.Site {
	for _, s := range sites {
		if s.ID == id {
			return s
		}
	}
	panic("no site " + id)
}

func insertEvents(t *testing.T, st store.Store, evs []event.Event) {
	t.Helper()
	rows := make([][]any, len(evs))
	for i := range evs {
		rows[i] = pipeline.EventRow(&evs[i], "b1")
	}
	if err := st.Insert(context.Background(), st.DB().Stats+".events", pipeline.EventColumns, rows); err != nil {
		t.Fatal(err)
	}
}

// snapshot reads every non-zero aggregate row, keyed by table and key.
func snapshot(t *testing.T, st store.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	db := st.DB().Stats
	for _, q := range []string{
		"SELECT 'hourly', site, toString(hour), '', '', dim, value, visitors, visits, pageviews, bounces, duration, events FROM " + db + ".agg_hourly FINAL",
		"SELECT 'daily', site, toString(day), '', '', dim, value, visitors, visits, pageviews, bounces, duration, events FROM " + db + ".agg_daily FINAL",
		"SELECT 'pairs', site, toString(day), fdim, fvalue, dim, value, sum(visitors), sum(visits), sum(pageviews), sum(bounces), sum(duration), sum(events) FROM " + db + ".agg_pairs GROUP BY site, day, fdim, fvalue, dim, value",
	} {
		err := st.Query(context.Background(), q, func(row store.Row) error {
			var key, val []string
			for i := range 7 {
				key = append(key, row.String(i))
			}
			zero := true
			for i := 7; i < 13; i++ {
				val = append(val, row.String(i))
				zero = zero && row.Uint64(i) == 0
			}
			if !zero {
				out[strings.Join(key, "|")] = strings.Join(val, " ")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// diff reports how got differs from want, at most a few keys.
func diff(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	var bad []string
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			bad = append(bad, fmt.Sprintf("%s: go %q, sql %q", k, w, g))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			bad = append(bad, fmt.Sprintf("%s: go none, sql %q", k, g))
		}
	}
	if len(bad) == 0 {
		return
	}
	sort.Strings(bad)
	t.Errorf("%s: %d of %d rows differ, e.g.:\n%s", what, len(bad), len(want), strings.Join(bad[:min(len(bad), 15)], "\n"))
}

// TestSQLMatchesAccumulator is the differential test of the SQL path
// against the Go accumulator: a random day of events, then several rounds
// of late events that change visits already counted (an earlier first
// page, a gap filled), which the SQL path adds incrementally; an insert
// that commits below the last cut, which it must notice; and the final run
// of the day (top values, small cells folded). Each path runs after the
// other, so each must zero what the other wrote and no longer holds.
func TestSQLMatchesAccumulator(t *testing.T) {
	config, err := site.Parse([]byte(diffSites))
	if err != nil {
		t.Fatal(err)
	}
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { diffRun(t, config, seed) })
	}
}

func diffRun(t *testing.T, cfg *site.Config, seed uint64) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(seed, 10))
		// The inserts are stamped with this clock, and both paths read it.
		clock := diffDay.Add(20 * time.Hour)
		now := func() time.Time { return clock }
		// Few pair values, so that some values of a dimension have pair
		// rows at the end of the day and others not.
		goPath := rollup.New(rollup.Options{Store: st, Sites: cfg, Now: now, PairTopN: 3, InGo: true})
		// The second seed caps the engine's threads, as serve does on the
		// embedded store: every statement then carries the settings.
		sqlPath := rollup.New(rollup.Options{Store: st, Sites: cfg, Now: now, PairTopN: 3, Threads: int(seed - 1)})
		run := func(r *rollup.Rollup, incremental bool) map[string]string {
			t.Helper()
			res, err := r.Run(ctx, diffDay)
			if err != nil {
				t.Fatal(err)
			}
			if r == sqlPath && res.Incremental != incremental {
				t.Fatalf("seed %d: run incremental: %v, want %v (%+v)", seed, res.Incremental, incremental, res)
			}
			return snapshot(t, st)
		}
		insert := func(evs []event.Event, stamp time.Time) {
			t.Helper()
			rows := make([][]any, len(evs))
			for i := range evs {
				rows[i] = pipeline.EventRowAt(&evs[i], "b1", stamp)
			}
			if err := st.Insert(ctx, st.DB().Stats+".events", pipeline.EventColumns, rows); err != nil {
				t.Fatal(err)
			}
		}
		first := genEvents(rng, cfg.Sites, 400, 0, 20*time.Hour, nil)
		insert(first, clock)
		clock = clock.Add(20 * time.Second)
		s1 := run(sqlPath, false)
		g1 := run(goPath, false)
		pairs := 0
		for k := range g1 {
			if strings.HasPrefix(k, "pairs|") {
				pairs++
			}
		}
		if len(g1) < 1000 || pairs < 500 {
			t.Fatalf("seed %d: %d aggregate rows, %d pair rows: the generator is too thin", seed, len(g1), pairs)
		}
		goalRows, goalPairs := 0, 0
		for k := range s1 {
			f := strings.Split(k, "|")
			if f[0] == "daily" && f[5] == rollup.DimGoal {
				goalRows++
			}
			if f[0] == "pairs" && f[3] == rollup.DimGoal {
				goalPairs++
			}
		}
		if goalRows == 0 || goalPairs == 0 {
			t.Fatalf("seed %d: %d goal rows, %d pair rows under a goal: goals are not tested", seed, goalRows, goalPairs)
		}
		propRows := map[string]int{}
		for k := range s1 {
			if f := strings.Split(k, "|"); f[0] == "daily" && strings.HasPrefix(f[5], rollup.PropDimPrefix) {
				propRows[f[1]]++
			}
		}
		if propRows["almaty"] == 0 || len(propRows) != 1 {
			t.Fatalf("seed %d: property rows by site %v, want almaty's only", seed, propRows)
		}
		diff(t, fmt.Sprintf("seed %d, first run", seed), g1, s1)
		// Late events, in rounds: some for visitors already counted (the
		// whole day again: earlier pages, gaps filled), some new.
		var last map[string]string
		var stamp time.Time
		for round := range 3 {
			stamp = clock
			insert(genEvents(rng, cfg.Sites, 60, 0, 24*time.Hour, first), stamp)
			clock = clock.Add(20 * time.Second)
			s := run(sqlPath, true)
			last = run(goPath, false)
			diff(t, fmt.Sprintf("seed %d, round %d of late events", seed, round), last, s)
		}
		gone := 0
		for k := range s1 {
			if _, ok := last[k]; !ok {
				gone++
			}
		}
		if gone == 0 {
			t.Errorf("seed %d: the late events removed no key: the zeroing of stale keys is not tested", seed)
		}
		// An insert stamped before the last cut that commits after the
		// run read the day: the next run must notice and recompute it.
		insert(genEvents(rng, cfg.Sites, 30, 0, 24*time.Hour, first), stamp)
		clock = clock.Add(20 * time.Second)
		s := run(sqlPath, false)
		g := run(goPath, false)
		diff(t, fmt.Sprintf("seed %d, after a late commit", seed), g, s)
		// Nothing new: nothing to do, and nothing changes.
		clock = clock.Add(20 * time.Second)
		diff(t, fmt.Sprintf("seed %d, rerun", seed), g, run(sqlPath, true))

		// The day's last run: top values only, small cells folded.
		if _, err := sqlPath.RunFinal(ctx, diffDay); err != nil {
			t.Fatal(err)
		}
		sf := snapshot(t, st)
		if _, err := goPath.RunFinal(ctx, diffDay); err != nil {
			t.Fatal(err)
		}
		gf := snapshot(t, st)
		folded := 0
		for k := range gf {
			if f := strings.Split(k, "|"); f[0] == "pairs" && f[5] != "" && f[6] == "" {
				folded++
			}
		}
		if folded == 0 || len(gf) >= len(g) {
			t.Errorf("seed %d: the final run folded %d cells and kept %d of %d rows: folding and top values are not tested", seed, folded, len(gf), len(g))
		}
		diff(t, fmt.Sprintf("seed %d, final run", seed), gf, sf)
	})
}

// TestMetrics checks what a run reports: its duration, the events it read,
// and the lag of the aggregates behind the newest event, which grows with
// the clock while no run brings newer events in.
func TestMetrics(t *testing.T) {
	config, err := site.Parse([]byte(diffSites))
	if err != nil {
		t.Fatal(err)
	}
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		evs := genEvents(rand.New(rand.NewPCG(3, 10)), config.Sites, 50, 0, 20*time.Hour, nil)
		insertEvents(t, st, evs)
		newest := evs[0].Time
		for _, e := range evs {
			if e.Time.After(newest) {
				newest = e.Time
			}
		}
		for _, sql := range []bool{false, true} {
			t.Run(fmt.Sprint("sql=", sql), func(t *testing.T) { testMetrics(t, st, config, evs, newest, sql) })
		}
	})
}

func testMetrics(t *testing.T, st store.Store, config *site.Config, evs []event.Event, newest time.Time, sql bool) {
	clock := diffDay.Add(30 * time.Hour)
	reg := prometheus.NewRegistry()
	r := rollup.New(rollup.Options{Store: st, Sites: config, Now: func() time.Time { return clock }, Reg: reg, InGo: !sql, Settle: -1})
	if got := gauge(t, reg, "sezim_rollup_lag_seconds"); got != 0 {
		t.Errorf("lag before any run: %v, want 0", got)
	}
	res, err := r.Run(context.Background(), diffDay)
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != len(evs) || !res.Newest.Equal(newest) {
		t.Errorf("result %+v, want %d events, newest %v", res, len(evs), newest)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(fmt.Sprintf(`
# HELP sezim_rollup_rows_read_total Events the recomputations read.
# TYPE sezim_rollup_rows_read_total counter
sezim_rollup_rows_read_total %d
# HELP sezim_rollup_lag_seconds Now minus the time of the newest event the aggregates include; 0 before the first event.
# TYPE sezim_rollup_lag_seconds gauge
sezim_rollup_lag_seconds %d
`, len(evs), int(clock.Sub(newest).Seconds()))), "sezim_rollup_rows_read_total", "sezim_rollup_lag_seconds"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "sezim_rollup_duration_seconds"); n != 1 {
		t.Errorf("duration histogram: %d series, want 1", n)
	}
	clock = clock.Add(time.Minute)
	if got, want := gauge(t, reg, "sezim_rollup_lag_seconds"), clock.Sub(newest).Seconds(); got != want {
		t.Errorf("lag a minute later: %v, want %v", got, want)
	}
}

// gauge reads a gauge from the registry as /metrics would show it.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestRetentionDropsLeftoverRunTables: a run that died leaves its tables
// of visits behind; the retention job drops them once they are older than
// any run, and leaves a young one (a run in progress) alone.
func TestRetentionDropsLeftoverRunTables(t *testing.T) {
	config, err := site.Parse([]byte(diffSites))
	if err != nil {
		t.Fatal(err)
	}
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		db := st.DB().Stats
		if err := st.Exec(ctx, "CREATE TABLE "+db+".rollup_visits_7_full ENGINE = Memory AS SELECT toUInt64(1) AS visitor"); err != nil {
			t.Fatal(err)
		}
		tables := func() int {
			n := 0
			err := st.Query(ctx, "SELECT count() FROM system.tables WHERE database = "+store.Quote(db)+" AND name = 'rollup_visits_7_full'", func(row store.Row) error {
				n = int(row.Uint64(0))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		r := rollup.New(rollup.Options{Store: st, Sites: config})
		if err := r.Retention(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
		if tables() != 1 {
			t.Fatal("a young run table was dropped")
		}
		if err := r.Retention(ctx, time.Now().Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if tables() != 0 {
			t.Fatal("a left-over run table is still there after an hour")
		}
	})
}
