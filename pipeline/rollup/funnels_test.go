package rollup_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// funnelSites has one site on UTC and one in Almaty (UTC+5: its midnight
// is 19:00 UTC, inside the salt day), with a page, a page pattern and an
// event step, and funnels over genEvents' paths and names.
const funnelSites = `sites:
  - id: almaty
    domains: [a.kz]
    timezone: Asia/Almaty
    funnels:
      - name: signup
        steps: [{page: /pricing}, {page: "/signup/*"}, {event: signup}]
      - name: ab
        steps: [{page: /a}, {page: /b}]
      - name: random
        steps: [{page: /pricing}, {page: "/blog/*"}, {event: signup}, {page: /}]
  - id: utc
    domains: [u.org]
    funnels:
      - name: random
        steps: [{page: /}, {page: /docs}, {page: /}]
`

// funnelRows reads every non-zero funnel row, added up over salt days:
// "site|day|funnel|step" → "visitors visits".
func funnelRows(t *testing.T, st store.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	q := "SELECT site, toString(day), funnel, step, sum(visitors), sum(visits) FROM " + st.DB().Stats +
		".funnels FINAL GROUP BY site, day, funnel, step HAVING sum(visitors) + sum(visits) > 0"
	err := st.Query(context.Background(), q, func(row store.Row) error {
		out[fmt.Sprintf("%s|%s|%s|%d", row.String(0), row.String(1), row.String(2), row.Uint64(3))] =
			fmt.Sprintf("%d %d", row.Uint64(4), row.Uint64(5))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// funnelOracle counts the funnels of evs in Go, independently of the SQL:
// each visitor's events in order, cut into visits at gaps over
// SessionTimeout, each visit's furthest step found by trying every way of
// matching the steps in order (not only the earliest match), counted on the
// site-local day the visit started.
func funnelOracle(cfg *site.Config, evs []event.Event) map[string]string {
	type vkey struct {
		site    string
		visitor uint64
	}
	byVisitor := map[vkey][]event.Event{}
	for _, e := range evs {
		k := vkey{e.SiteID, e.Visitor}
		byVisitor[k] = append(byVisitor[k], e)
	}
	visitors := map[string]map[uint64]bool{}
	visits := map[string]int{}
	for k, es := range byVisitor {
		s := cfg.Site(k.site)
		slices.SortFunc(es, func(a, b event.Event) int {
			return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Path, b.Path))
		})
		start := 0
		for i := 1; i <= len(es); i++ {
			if i < len(es) && es[i].Time.Sub(es[i-1].Time) <= rollup.SessionTimeout {
				continue
			}
			visit := es[start:i]
			day := visit[0].Time.In(s.Location).Format(time.DateOnly)
			for _, f := range s.Funnels {
				for step := 1; step <= furthest(f.Steps, visit); step++ {
					key := fmt.Sprintf("%s|%s|%s|%d", s.ID, day, f.Name, step)
					if visitors[key] == nil {
						visitors[key] = map[uint64]bool{}
					}
					visitors[key][k.visitor] = true
					visits[key]++
				}
			}
			start = i
		}
	}
	out := map[string]string{}
	for key, n := range visits {
		out[key] = fmt.Sprintf("%d %d", len(visitors[key]), n)
	}
	return out
}

// furthest is how many of steps the events go through in order, by
// exhaustive search.
func furthest(steps []site.FunnelStep, evs []event.Event) int {
	best := 0
	var walk func(step, from int)
	walk = func(step, from int) {
		best = max(best, step)
		if step == len(steps) {
			return
		}
		for i := from; i < len(evs); i++ {
			e := evs[i]
			if steps[step].Matches(e.Kind == event.KindPageview, e.Path, e.Name) {
				walk(step+1, i+1)
			}
		}
	}
	walk(0, 0)
	return best
}

// TestFunnelCases checks the rules of a funnel on hand-made visits: order
// matters, a 30-minute gap ends the visit, events in between are fine, a
// page pattern and an event step, a visit across the site's midnight
// counts on the day it started, and a visitor with two visits is one
// visitor and two visits.
func TestFunnelCases(t *testing.T) {
	cfg, err := site.Parse([]byte(funnelSites))
	if err != nil {
		t.Fatal(err)
	}
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		at := func(hh, mm, ss int) time.Time { return diffDay.Add(time.Duration(hh*3600+mm*60+ss) * time.Second) }
		var evs []event.Event
		page := func(v uint64, t time.Time, path string) {
			evs = append(evs, event.Event{SiteID: "almaty", SaltDay: diffDay, Visitor: v, Time: t, Kind: event.KindPageview, Path: path})
		}
		custom := func(v uint64, t time.Time, name string) {
			evs = append(evs, event.Event{SiteID: "almaty", SaltDay: diffDay, Visitor: v, Time: t, Kind: event.KindCustom, Name: name})
		}
		// 1: the whole signup funnel, with a page and an event between
		// the steps; the pattern's page is one segment below /signup/.
		page(1, at(5, 0, 0), "/pricing")
		page(1, at(5, 1, 0), "/blog/a")
		custom(1, at(5, 2, 0), "download")
		page(1, at(5, 3, 0), "/signup/plan")
		custom(1, at(5, 4, 0), "signup")
		// 2: B before A: only step 1.
		page(2, at(6, 0, 0), "/b")
		page(2, at(6, 1, 0), "/a")
		// 3: A, then B after a gap of 30 minutes and a second: two visits,
		// step 1 in the first only. 4: a gap of exactly 30 minutes is
		// within the visit.
		page(3, at(7, 0, 0), "/a")
		page(3, at(7, 30, 1), "/b")
		page(4, at(7, 0, 0), "/a")
		page(4, at(7, 30, 0), "/b")
		// 5: the pattern does not span segments, and a pageview named
		// like the event is not the event: step 1 only.
		page(5, at(8, 0, 0), "/pricing")
		page(5, at(8, 1, 0), "/signup/a/b")
		page(5, at(8, 2, 0), "signup")
		// 6: signup's steps 1 and 2 then the event in a later visit.
		page(6, at(9, 0, 0), "/pricing")
		page(6, at(9, 5, 0), "/signup/")
		custom(6, at(10, 0, 0), "signup")
		// 7: across Almaty's midnight (19:00 UTC): 23:50 and 00:10 local,
		// counted on the 24th.
		page(7, at(18, 50, 0), "/a")
		page(7, at(19, 10, 0), "/b")
		// 8: a visit that starts after midnight counts on the 25th.
		page(8, at(19, 20, 0), "/a")
		page(8, at(19, 21, 0), "/b")
		clock := diffDay.Add(23 * time.Hour)
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
		insert(evs)
		r := rollup.New(rollup.Options{Store: st, Sites: cfg, Now: func() time.Time { return clock }})
		if _, err := r.Run(ctx, diffDay); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"almaty|2026-11-24|signup|1": "3 3", // 1, 5, 6
			"almaty|2026-11-24|signup|2": "2 2", // 1, 6
			"almaty|2026-11-24|signup|3": "1 1", // 1
			"almaty|2026-11-24|ab|1":     "4 4", // 2, 3, 4, 7
			"almaty|2026-11-24|ab|2":     "2 2", // 4, 7
			"almaty|2026-11-25|ab|1":     "1 1", // 8
			"almaty|2026-11-25|ab|2":     "1 1",
			"almaty|2026-11-24|random|1": "3 3", // 1, 5, 6
			"almaty|2026-11-24|random|2": "1 1", // 1
			"almaty|2026-11-24|random|3": "1 1",
		}
		diff(t, "hand-made visits", want, funnelRows(t, st))
		diff(t, "the oracle on hand-made visits", want, funnelOracle(cfg, evs))

		// A visitor with two visits that both reach a step: one visitor,
		// two visits; incrementally, on top of the rows above.
		page(9, at(20, 0, 0), "/a")
		page(9, at(21, 0, 0), "/a")
		insert(evs[len(evs)-2:])
		res, err := r.Run(ctx, diffDay)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Incremental {
			t.Fatalf("the second run was not incremental: %+v", res)
		}
		want["almaty|2026-11-25|ab|1"] = "2 3"
		diff(t, "a visitor with two visits", want, funnelRows(t, st))
	})
}

// TestFunnelsIncrementalEqualsFull checks the funnels of a random day on
// both engines: after a first run, after rounds of late events added
// incrementally (earlier pages, gaps filled, visits joined), and after a
// recomputation of the whole day by another process, against the Go
// oracle; and that removing a funnel from the config zeroes its rows when
// the day is recomputed.
func TestFunnelsIncrementalEqualsFull(t *testing.T) {
	cfg, err := site.Parse([]byte(funnelSites))
	if err != nil {
		t.Fatal(err)
	}
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(7, 12))
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
		r := rollup.New(rollup.Options{Store: st, Sites: cfg, Now: now, PairTopN: -1})
		run := func(r *rollup.Rollup, incremental bool) map[string]string {
			t.Helper()
			res, err := r.Run(ctx, diffDay)
			if err != nil {
				t.Fatal(err)
			}
			if res.Incremental != incremental {
				t.Fatalf("run incremental: %v, want %v", res.Incremental, incremental)
			}
			return funnelRows(t, st)
		}
		all := genEvents(rng, cfg.Sites, 300, 0, 20*time.Hour, nil)
		insert(all)
		first := run(r, false)
		reached := 0
		for k := range first {
			if k[len(k)-2:] != "|1" {
				reached++
			}
		}
		if reached < 3 {
			t.Fatalf("%d funnel rows past step 1: the generator is too thin for funnels:\n%v", reached, first)
		}
		diff(t, "first run", funnelOracle(cfg, all), first)
		changed := false
		for round := range 3 {
			late := genEvents(rng, cfg.Sites, 40, 0, 24*time.Hour, all)
			all = append(all, late...)
			insert(late)
			got := run(r, true)
			want := funnelOracle(cfg, all)
			diff(t, fmt.Sprintf("round %d of late events, incremental", round), want, got)
			changed = changed || fmt.Sprint(got) != fmt.Sprint(first)
		}
		if !changed {
			t.Error("the late events changed no funnel row: the incremental path is not tested")
		}
		incremental := funnelRows(t, st)
		// Another process recomputes the whole day.
		full := run(rollup.New(rollup.Options{Store: st, Sites: cfg, Now: now, PairTopN: -1}), false)
		diff(t, "full recomputation against the incremental runs", incremental, full)

		// The almaty site without its "ab" funnel: a recomputation zeroes
		// the funnel's rows of the salt day.
		fewer, err := site.Parse([]byte(funnelSites))
		if err != nil {
			t.Fatal(err)
		}
		fewer.Site("almaty").Funnels = slices.DeleteFunc(fewer.Site("almaty").Funnels, func(f site.Funnel) bool { return f.Name == "ab" })
		clock = clock.Add(time.Minute)
		got := run(rollup.New(rollup.Options{Store: st, Sites: fewer, Now: now, PairTopN: -1}), false)
		diff(t, "a funnel taken out of the config", funnelOracle(fewer, all), got)
	})
}

// TestFunnelRetention checks that the retention job deletes funnel rows
// past the site's agg_daily_days like agg_daily's.
func TestFunnelRetention(t *testing.T) {
	cfg, err := site.Parse([]byte(funnelSites))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Site("almaty").Retention.DailyDays = 30
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		rows := [][]any{
			{"almaty", store.DayOf(diffDay.AddDate(0, 0, -40)), "ab", uint8(1), store.DayOf(diffDay.AddDate(0, 0, -40)), uint64(1), uint64(1), uint64(7), uint64(1)},
			{"almaty", store.DayOf(diffDay.AddDate(0, 0, -10)), "ab", uint8(1), store.DayOf(diffDay.AddDate(0, 0, -10)), uint64(2), uint64(2), uint64(7), uint64(1)},
		}
		cols := []string{"site", "day", "funnel", "step", "salt_day", "visitors", "visits", "ckey", "version"}
		if err := st.Insert(ctx, st.DB().Stats+"."+rollup.FunnelsTable, cols, rows); err != nil {
			t.Fatal(err)
		}
		var destroyed []rollup.Destruction
		r := rollup.New(rollup.Options{Store: st, Sites: cfg, Destroyed: func(_ context.Context, d rollup.Destruction) { destroyed = append(destroyed, d) }})
		if err := r.Retention(ctx, diffDay); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"almaty|2026-11-14|ab|1": "2 2"}
		// A mutation on the server may apply after the ALTER returns.
		deadline := time.Now().Add(30 * time.Second)
		for got := funnelRows(t, st); fmt.Sprint(got) != fmt.Sprint(want); got = funnelRows(t, st) {
			if time.Now().After(deadline) {
				diff(t, "funnel rows after retention", want, got)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		found := false
		for _, d := range destroyed {
			found = found || (d.Table == rollup.FunnelsTable && d.Site == "almaty" && d.Rows == 1 && d.Rule == "agg_daily_days=30")
		}
		if !found {
			t.Fatalf("destructions %+v: none of the funnels table", destroyed)
		}
	})
}
