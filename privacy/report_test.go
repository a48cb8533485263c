package privacy

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

type history struct{ run *RetentionRun }

func (h history) LastRun(context.Context) (*RetentionRun, error) { return h.run, nil }

func outcome(t *testing.T, r *Result, name string) Outcome {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %s in %v", name, r.Checks)
	return Outcome{}
}

// TestRun runs the whole report on both engines: a store holding what the
// collector and the rollup would write passes every check; then each
// check is made to fail by what it guards against, and the report names it.
func TestRun(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		cfg, err := site.Parse([]byte("sites:\n  - id: sez\n    domains: [sez.im]\n    k_threshold: 3\n"))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
		today, yesterday, old := store.DayOf(now), store.DayOf(now.AddDate(0, 0, -1)), store.DayOf(now.AddDate(0, 0, -5))
		salts := []time.Time{yesterday.Time(), today.Time()}
		reg := prometheus.NewRegistry()
		rejected := promauto.With(reg).NewCounterVec(prometheus.CounterOpts{Name: "sezim_collector_rejected_total"}, []string{"route", "reason"})
		rejected.WithLabelValues("pixel", "bad_site").Add(3)
		hist := history{&RetentionRun{Time: now.Add(-10 * time.Minute), Destroyed: []Destruction{{Table: "events", Rows: 12, Rule: "salt lifetime"}}}}
		o := Options{Store: st, Sites: cfg, SaltDays: func() ([]time.Time, error) { return salts, nil }, Metrics: reg, History: hist,
			Now: func() time.Time { return now }}

		insert(t, st, "events", []string{"salt_day", "site", "ts", "visitor", "path"}, []any{today, "sez", now, uint64(42), "/"})
		pair := []string{"site", "day", "fdim", "fvalue", "dim", "value", "salt_day", "visitors", "visits", "pageviews"}
		insert(t, st, "agg_pairs", pair,
			[]any{"sez", old, "page", "/", "country", "KZ", old, int64(4), int64(4), int64(6)},
			[]any{"sez", old, "page", "/", "country", "KZ", old, int64(1), int64(1), int64(1)},     // one cell, summed: 5
			[]any{"sez", old, "page", "/", "country", "", old, int64(2), int64(2), int64(2)},       // the remainder
			[]any{"sez", today, "page", "/", "country", "UZ", today, int64(1), int64(1), int64(1)}) // open: folded later
		r, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK || len(r.Failed()) != 0 || len(r.Checks) != 14 {
			b, _ := json.MarshalIndent(r.Checks, "", " ")
			t.Fatalf("clean store fails %v:\n%s", r.Failed(), b)
		}
		if ev := outcome(t, r, CheckPairK).Evidence; !slices.Contains(ev, "site sez, final days: 1 cells, smallest 5, k 3, 0 below k") {
			t.Errorf("pair_k evidence %q", ev)
		}
		if ev := strings.Join(outcome(t, r, CheckDrops).Evidence, "\n"); !strings.Contains(ev, "sezim_collector_rejected{reason=bad_site,route=pixel}: 3") {
			t.Errorf("drops evidence %q", ev)
		}
		if ev := outcome(t, r, CheckRetention).Evidence; len(ev) != 2 || ev[1] != "events: 12 rows (salt lifetime)" {
			t.Errorf("retention evidence %q", ev)
		}

		// What each check guards against.
		insert(t, st, "agg_daily", []string{"site", "day", "dim", "value", "salt_day", "visitors"}, []any{"sez", old, "utm_source", "victim@mail.com", old, uint64(1)})
		insert(t, st, "agg_daily", []string{"site", "day", "dim", "value", "salt_day", "visitors"}, []any{"sez", old, "source", "203.0.113.7", old, uint64(1)})
		insert(t, st, "agg_pairs", pair, []any{"sez", old, "page", "/", "country", "RU", old, int64(2), int64(2), int64(2)})
		stale := store.DayOf(now.AddDate(0, 0, -4))
		insert(t, st, "events", []string{"salt_day", "site", "ts", "visitor", "path"}, []any{stale, "sez", stale.Time(), uint64(7), "/"})
		if err := st.Insert(t.Context(), st.DB().Identified+".consent_log", []string{"chain", "seq", "receipt", "site", "ts"},
			[][]any{{"c1", uint64(2), "r-2", "sez", now}}); err != nil {
			t.Fatal(err)
		}
		salts = []time.Time{now.AddDate(0, 0, -2).Truncate(24 * time.Hour), today.Time()}
		o.History, o.Metrics = nil, nil
		r, err = Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{CheckAddress, CheckEmail, CheckSaltAge, CheckSaltPartitions, CheckPairK, CheckConsentChains, CheckRetention, CheckDrops}
		if r.OK || !slices.Equal(r.Failed(), want) {
			t.Fatalf("failed %v, want %v", r.Failed(), want)
		}
		ev := strings.Join(outcome(t, r, CheckSaltPartitions).Evidence, "\n")
		if !strings.Contains(ev, "2026-11-20: raw partition outlives its salt by 58h0m0s") || !strings.Contains(ev, "2026-11-22: salt outlives") {
			t.Errorf("salt_partitions evidence:\n%s", ev)
		}
		if ev := outcome(t, r, CheckRetention).Evidence; !slices.Equal(ev, []string{"no history recorded"}) {
			t.Errorf("retention evidence %q", ev)
		}
		out, _ := json.Marshal(r)
		for _, secret := range []string{"victim", "mail.com", "203.0.113.7"} {
			if strings.Contains(string(out), secret) {
				t.Fatalf("the report repeats %q", secret)
			}
		}
	})
}

// TestPairKAfterTheRollup runs the real rollup: while the salt day is open
// its pair cells below k are on disk (and allowed); once the rollup
// finishes the day and drops its raw events, the check finds none below k.
func TestPairKAfterTheRollup(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		day := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
		var rows [][]any
		// 12 visitors: 9 from KZ, 2 from RU, 1 from DE; all on / and 4 on /pricing.
		for v := uint64(1); v <= 12; v++ {
			country := map[bool]string{true: "KZ", false: "RU"}[v <= 9]
			if v == 12 {
				country = "DE"
			}
			pages := []string{"/"}
			if v%3 == 0 {
				pages = append(pages, "/pricing")
			}
			for i, p := range pages {
				e := event.Event{SiteID: "sez", SaltDay: day, Visitor: v, Kind: event.KindPageview, Path: p, Country: country,
					Browser: "Chrome", OS: "Windows", Device: "desktop", Language: "ru", Channel: "direct",
					Time: day.Add(time.Duration(v)*time.Hour + time.Duration(i)*time.Minute)}
				rows = append(rows, pipeline.EventRow(&e, "test"))
			}
		}
		if err := st.Insert(ctx, st.DB().Stats+".events", pipeline.EventColumns, rows); err != nil {
			t.Fatal(err)
		}
		cfg, err := site.Parse([]byte("sites:\n  - id: sez\n    domains: [sez.im]\n    timezone: UTC\n    k_threshold: 3\n"))
		if err != nil {
			t.Fatal(err)
		}
		r := rollup.New(rollup.Options{Store: st, Sites: cfg, Settle: -1})
		if _, err := r.Run(ctx, day); err != nil {
			t.Fatal(err)
		}
		o := Options{Store: st, Sites: cfg}
		check := func() Outcome {
			t.Helper()
			out, err := checkPairK(ctx, o, day)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		open := check()
		if !open.OK || len(open.Evidence) != 1 || !strings.Contains(open.Evidence[0], "open salt days") || strings.Contains(open.Evidence[0], " 0 below k") {
			t.Fatalf("open day: %+v", open)
		}
		if _, err := r.Finish(ctx, day); err != nil {
			t.Fatal(err)
		}
		final := check()
		if !final.OK || len(final.Evidence) != 1 || !strings.Contains(final.Evidence[0], "final days") || !strings.HasSuffix(final.Evidence[0], ", k 3, 0 below k") {
			t.Fatalf("final day: %+v", final)
		}
	})
}
