package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/dashboards"
	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestBench10M is the measurement of issue 5: 10 million events of one
// site over 90 days, through the real rollup on the embedded engine (raw
// events inserted per salt day in batches of 100,000, the salt day rolled up
// and its raw partition dropped, as retention does), then every dashboard
// panel's query over 30 and 90 days, 20 runs each, p50 and p95.
//
// It takes minutes, so it runs only with SEZIM_BENCH_10M=1:
//
//	SEZIM_BENCH_10M=1 go test -run TestBench10M -timeout 0 -v ./integration/
//
// SEZIM_BENCH_EVENTS changes the event count (e.g. 1000000 for a quick try).
func TestBench10M(t *testing.T) {
	if os.Getenv("SEZIM_BENCH_10M") != "1" {
		t.Skip("set SEZIM_BENCH_10M=1 to run the 10-million-event benchmark (minutes)")
	}
	total := 10_000_000
	if n, err := strconv.Atoi(os.Getenv("SEZIM_BENCH_EVENTS")); err == nil && n > 0 {
		total = n
	}
	const days = 90
	st := storetest.Embedded(t)
	ctx := context.Background()
	cfg, err := site.Parse([]byte("sites:\n  - id: bench\n    domains: [bench.example]\n    timezone: Asia/Almaty\n"))
	if err != nil {
		t.Fatal(err)
	}
	last := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC) // the last salt day
	roll := rollup.New(rollup.Options{Store: st, Sites: cfg})
	gen := newBenchGen()
	var loadDur, rollDur time.Duration
	var events, pairRows, aggRows int
	for d := range days {
		saltDay := last.AddDate(0, 0, d-days+1)
		start := time.Now()
		evs := gen.day(saltDay, total/days)
		rows := make([][]any, 0, 100_000)
		for i := range evs {
			rows = append(rows, pipeline.EventRow(&evs[i], "bench"))
			if len(rows) == cap(rows) || i == len(evs)-1 {
				if err := st.Insert(ctx, st.DB().Stats+".events", pipeline.EventColumns, rows); err != nil {
					t.Fatal(err)
				}
				rows = rows[:0]
			}
		}
		loadDur += time.Since(start)
		events += len(evs)
		start = time.Now()
		res, err := roll.Finish(ctx, saltDay)
		if err != nil {
			t.Fatal(err)
		}
		rollDur += time.Since(start)
		aggRows += res.Rows
		pairRows += res.PairRows
		if d%10 == 9 {
			t.Logf("day %d/%d: %d events so far; load %v, rollup %v", d+1, days, events, loadDur.Round(time.Second), rollDur.Round(time.Second))
		}
	}
	t.Logf("loaded %d events in %v (generate + insert), rollup with pairs %v (%v per salt day), %d aggregate and %d pair rows written",
		events, loadDur.Round(time.Millisecond), rollDur.Round(time.Millisecond), (rollDur / days).Round(time.Millisecond), aggRows, pairRows)
	for _, table := range []string{"agg_hourly", "agg_daily", "agg_daily_pairs", "events"} {
		var rows, bytes uint64
		err := st.Query(ctx, fmt.Sprintf("SELECT toUInt64(sum(rows)), toUInt64(sum(bytes_on_disk)) FROM system.parts WHERE database = %s AND table = %s AND active",
			store.Quote(st.DB().Stats), store.Quote(table)), func(r store.Row) error {
			rows, bytes = r.Uint64(0), r.Uint64(1)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("table %-16s %11d rows %8.1f MiB on disk", table, rows, float64(bytes)/(1<<20))
	}

	q := dashboards.NewQuerier(st)
	s := cfg.Site("bench")
	lastLocal := store.DayOf(last)
	topPage := gen.paths[0]
	type panel struct {
		name string
		run  func(r dashboards.Range) error
	}
	panels := []panel{
		{"aggregate", func(r dashboards.Range) error { _, err := q.Aggregate(ctx, s, r, dashboards.Filter{}); return err }},
		{"timeseries day", func(r dashboards.Range) error {
			_, err := q.Timeseries(ctx, s, r, false, dashboards.Filter{})
			return err
		}},
		{"timeseries hour", func(r dashboards.Range) error {
			_, err := q.Timeseries(ctx, s, r, true, dashboards.Filter{})
			return err
		}},
	}
	for _, dim := range rollup.Dimensions {
		panels = append(panels, panel{"breakdown " + dim, func(r dashboards.Range) error {
			_, err := q.Breakdown(ctx, s, r, dim, 10, nil)
			return err
		}})
	}
	pageF := dashboards.Filter{Dim: rollup.DimPage, Value: topPage}
	panels = append(panels,
		panel{"aggregate page==" + topPage, func(r dashboards.Range) error { _, err := q.Aggregate(ctx, s, r, pageF); return err }},
		panel{"timeseries day page==" + topPage, func(r dashboards.Range) error { _, err := q.Timeseries(ctx, s, r, false, pageF); return err }},
		panel{"country | page==" + topPage, func(r dashboards.Range) error {
			_, err := q.FilteredBreakdown(ctx, s, r, rollup.DimCountry, 10, pageF)
			return err
		}},
		panel{"page | country==KZ", func(r dashboards.Range) error {
			_, err := q.FilteredBreakdown(ctx, s, r, rollup.DimPage, 10, dashboards.Filter{Dim: rollup.DimCountry, Value: "KZ"})
			return err
		}},
		panel{"source | channel==search", func(r dashboards.Range) error {
			_, err := q.FilteredBreakdown(ctx, s, r, rollup.DimSource, 10, dashboards.Filter{Dim: rollup.DimChannel, Value: "search"})
			return err
		}},
	)
	const runs = 20
	var report strings.Builder
	fmt.Fprintf(&report, "| panel | 30 d p50 | 30 d p95 | 90 d p50 | 90 d p95 |\n| --- | --- | --- | --- | --- |\n")
	worst := map[int]time.Duration{}
	for _, p := range panels {
		fmt.Fprintf(&report, "| %s |", p.name)
		for _, n := range []int{30, 90} {
			from := store.DayOf(lastLocal.Time().AddDate(0, 0, -(n - 1)))
			r := dashboards.Range{From: from, To: lastLocal}
			if p.name == "timeseries hour" && n > 31 {
				fmt.Fprintf(&report, " — | — |")
				continue
			}
			if err := p.run(r); err != nil { // warm-up
				t.Fatalf("%s over %d days: %v", p.name, n, err)
			}
			times := make([]time.Duration, runs)
			for i := range times {
				start := time.Now()
				if err := p.run(r); err != nil {
					t.Fatal(err)
				}
				times[i] = time.Since(start)
			}
			slices.Sort(times)
			p50, p95 := times[runs/2-1], times[(runs*95+99)/100-1]
			worst[n] = max(worst[n], p95)
			fmt.Fprintf(&report, " %.1f ms | %.1f ms |", ms(p50), ms(p95))
		}
		report.WriteString("\n")
	}
	t.Logf("panel queries, %d runs each (embedded engine):\n%s", runs, report.String())
	t.Logf("worst p95: %.1f ms over 30 days, %.1f ms over 90 days (goal 100 ms)", ms(worst[30]), ms(worst[90]))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// benchGen makes a site's traffic with realistic cardinalities: 5,000 paths
// and 300 referrers (Zipf), 30 countries, browsers with versions, OS,
// devices, screens, 15 languages, UTM campaigns on a tenth of the visits,
// 10 custom events; visits of 1–10 pageviews.
type benchGen struct {
	rng                                *rand.Rand
	path, ref, country, campaign, lang *rand.Zipf
	paths, refs, countries, campaigns  []string
	langs                              []string
}

func newBenchGen() *benchGen {
	rng := rand.New(rand.NewPCG(10, 20))
	g := &benchGen{rng: rng}
	for i := range 5000 {
		g.paths = append(g.paths, fmt.Sprintf("/%s/%d", []string{"psychologists", "articles", "tests", "help"}[i%4], i))
	}
	g.paths[0] = "/"
	for i := range 300 {
		g.refs = append(g.refs, fmt.Sprintf("site%d.example", i))
	}
	copy(g.refs, []string{"google.com", "yandex.ru", "vk.com", "t.me", "instagram.com", "facebook.com", "bing.com", "mail.ru"})
	g.countries = strings.Fields("KZ RU UZ KG US DE TR CN GB FR AE IN UA BY AZ GE AM TJ TM PL IT ES NL CA KR JP IL CZ LT LV")
	for i := range 50 {
		g.campaigns = append(g.campaigns, fmt.Sprintf("campaign-%d", i))
	}
	g.langs = strings.Fields("ru kk en uz ky de tr zh fr ar hi uk be az ka")
	g.path = rand.NewZipf(rng, 1.1, 1, uint64(len(g.paths)-1))
	g.ref = rand.NewZipf(rng, 1.2, 1, uint64(len(g.refs)-1))
	g.country = rand.NewZipf(rng, 1.3, 1, uint64(len(g.countries)-1))
	g.campaign = rand.NewZipf(rng, 1.1, 1, uint64(len(g.campaigns)-1))
	g.lang = rand.NewZipf(rng, 1.5, 1, uint64(len(g.langs)-1))
	return g
}

func channelOf(ref string) string {
	switch ref {
	case "":
		return "direct"
	case "google.com", "yandex.ru", "bing.com":
		return "search"
	case "vk.com", "t.me", "instagram.com", "facebook.com":
		return "social"
	case "mail.ru":
		return "email"
	}
	return "referral"
}

// day makes about n events of one salt day, ordered by nothing in
// particular (ClickHouse sorts them).
func (g *benchGen) day(saltDay time.Time, n int) []event.Event {
	rng := g.rng
	out := make([]event.Event, 0, n+16)
	browsers := []struct{ name, os string }{{"Chrome", "Windows"}, {"Chrome", "Android"}, {"Safari", "iOS"}, {"Safari", "macOS"},
		{"Firefox", "Windows"}, {"Edge", "Windows"}, {"Yandex Browser", "Android"}, {"Opera", "Windows"}, {"Samsung Internet", "Android"}, {"Chrome", "Linux"}}
	devices := map[string]string{"Android": "mobile", "iOS": "mobile", "Windows": "desktop", "macOS": "desktop", "Linux": "desktop"}
	screens := map[string]string{"mobile": "small", "desktop": "large", "tablet": "medium"}
	names := []string{"signup", "book", "pay", "search", "contact", "download", "share", "play", "subscribe", "call"}
	for len(out) < n {
		visitor := rng.Uint64()
		ref := ""
		if rng.IntN(10) >= 4 {
			ref = g.refs[g.ref.Uint64()]
		}
		b := browsers[rng.IntN(len(browsers))]
		device := devices[b.os]
		if b.os == "Android" && rng.IntN(8) == 0 {
			device = "tablet"
		}
		base := event.Event{SiteID: "bench", SaltDay: saltDay, Visitor: visitor, Kind: event.KindPageview,
			RefHost: ref, Channel: channelOf(ref), Country: g.countries[g.country.Uint64()],
			Browser: b.name, BrowserVersion: uint16(100 + rng.IntN(30)), OS: b.os, Device: device, Screen: screens[device],
			Language: g.langs[g.lang.Uint64()]}
		if rng.IntN(10) == 0 {
			base.UTMSource = []string{"newsletter", "vk", "telegram", "yandex", "google"}[rng.IntN(5)]
			base.UTMMedium = []string{"email", "social", "cpc", "banner"}[rng.IntN(4)]
			base.UTMCampaign = g.campaigns[g.campaign.Uint64()]
			if base.UTMMedium == "cpc" {
				base.Channel = "paid"
			}
		}
		// One or two visits a day, most in the daytime of Asia/Almaty.
		for range 1 + rng.IntN(5)/4 {
			sec := (rng.IntN(16*3600) + 2*3600 + rng.IntN(6*3600)) % 86400
			at := saltDay.Add(time.Duration(sec) * time.Second)
			pages := 1 + rng.IntN(10)
			for i := range pages {
				e := base
				e.Time = at
				e.Path = g.paths[g.path.Uint64()]
				out = append(out, e)
				if rng.IntN(12) == 0 {
					c := e
					c.Kind, c.Name = event.KindCustom, names[rng.IntN(len(names))]
					c.Time = at.Add(5 * time.Second)
					out = append(out, c)
				}
				at = at.Add(time.Duration(10+rng.IntN(170)) * time.Second)
				if at.Sub(saltDay) >= 24*time.Hour {
					break
				}
				_ = i
			}
		}
	}
	return out
}
