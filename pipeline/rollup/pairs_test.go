package rollup

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/site"
)

// visitsOfTest are TestAccumulatorCountsVisits' events: visitor 1 with a
// visit of three pages and a signup from google.com, then a bounce on /c;
// visitor 2 with a bounce on /.
func visitsOfTest() []event.Event {
	custom := pv(1, 2*time.Minute, "/b", "")
	custom.Kind, custom.Name = event.KindCustom, "signup"
	return []event.Event{
		pv(1, 0, "/", "google.com"), pv(1, time.Minute, "/b", "google.com"), custom,
		pv(1, 3*time.Minute, "/", "google.com"),
		pv(1, 43*time.Minute, "/c", ""),
		pv(2, 5*time.Minute, "/", ""),
	}
}

func TestAccumulatorPairs(t *testing.T) {
	a := newAccumulator(testSite(t))
	a.top = map[dimValue]bool{{DimPage, "/"}: true, {DimPage, "/b"}: true, {DimEvent, "signup"}: true, {DimCountry, "KZ"}: true}
	a.pairs = map[pairKey]*counts{}
	for _, e := range visitsOfTest() {
		a.add(e)
	}
	a.flushVisitor()
	day := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC).Unix()
	want := map[pairKey]counts{
		// Visits that include /b: the first visit of visitor 1.
		{day, DimPage, "/b", DimTotal, ""}:                {visitors: 1, visits: 1, pageviews: 3, duration: 180, events: 1},
		{day, DimPage, "/b", DimPage, "/"}:                {visitors: 1, visits: 1, pageviews: 2, duration: 60},
		{day, DimPage, "/b", DimSource, "google.com"}:     {visitors: 1, visits: 1, pageviews: 3, duration: 180, events: 1},
		{day, DimPage, "/b", DimEvent, "signup"}:          {visitors: 1, visits: 1, events: 1},
		{day, DimPage, "/b", DimEntryPage, "/"}:           {visitors: 1, visits: 1, duration: 180},
		{day, DimEvent, "signup", DimChannel, "referral"}: {visitors: 1, visits: 1, pageviews: 3, duration: 180, events: 1},
		// Visits that include /: both visitors; visitor 1 counts once.
		{day, DimPage, "/", DimTotal, ""}:         {visitors: 2, visits: 2, pageviews: 4, bounces: 1, duration: 180, events: 1},
		{day, DimPage, "/", DimChannel, "direct"}: {visitors: 1, visits: 1, pageviews: 1, bounces: 1},
		{day, DimPage, "/", DimPage, "/"}:         {visitors: 2, visits: 2, pageviews: 3, bounces: 1, duration: 60},
		// A session property as a filter equals agg_daily's own rows.
		{day, DimCountry, "KZ", DimTotal, ""}:  {visitors: 2, visits: 3, pageviews: 5, bounces: 2, duration: 180, events: 1},
		{day, DimCountry, "KZ", DimPage, "/c"}: {visitors: 1, visits: 1, pageviews: 1, bounces: 1},
	}
	for k, w := range want {
		got := a.pairs[k]
		if got == nil {
			t.Errorf("no pair row %+v", k)
			continue
		}
		g := *got
		g.lastVisitor = 0
		if g != w {
			t.Errorf("%+v: got %+v, want %+v", k, g, w)
		}
	}
	// /c is not chosen: no rows filtered by it.
	for k := range a.pairs {
		if k.fdim == DimPage && k.fvalue == "/c" {
			t.Fatalf("a pair row for an unchosen value: %+v", k)
		}
	}
	// The filter by a session property is agg_daily's row, key by key.
	for k, c := range a.byGran[daily] {
		p := a.pairs[pairKey{k.period, DimCountry, "KZ", k.dim, k.value}]
		if p == nil || p.visitors != c.visitors || p.visits != c.visits || p.pageviews != c.pageviews || p.duration != c.duration {
			t.Errorf("country KZ × %+v: %+v, agg_daily %+v", k, p, c)
		}
	}
}

func TestFoldSmallPairs(t *testing.T) {
	p := map[pairKey]*counts{
		{1, DimPage, "/", DimTotal, ""}:          {visitors: 2, visits: 2},
		{1, DimPage, "/", DimCountry, "KZ"}:      {visitors: 7, visits: 8},
		{1, DimPage, "/", DimCountry, "DE"}:      {visitors: 1, visits: 1, pageviews: 3},
		{1, DimPage, "/", DimCountry, "RU"}:      {visitors: 2, visits: 2, pageviews: 2},
		{1, DimPage, "/", DimBrowser, "Firefox"}: {visitors: 4, visits: 4},
		{2, DimPage, "/", DimCountry, "FR"}:      {visitors: 1, visits: 1},
	}
	foldSmallPairs(p, 5)
	got := map[string]string{}
	for k, c := range p {
		got[fmt.Sprint(k.period, k.dim, "=", k.value)] = fmt.Sprint(c.visitors, "/", c.visits, "/", c.pageviews)
	}
	want := map[string]string{
		"1=": "2/2/0", "1country=KZ": "7/8/0", "1country=": "3/3/5", "1browser=": "4/4/0", "2country=": "1/1/0",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("folded %v, want %v", got, want)
	}
}

// synthEvents makes n visitors' events ordered by (visitor, time): 1 to 10
// pageviews each over a few thousand Zipf-distributed paths.
func synthEvents(n int) []event.Event {
	rng := rand.New(rand.NewPCG(3, 4))
	zipf := rand.NewZipf(rand.New(rand.NewPCG(5, 6)), 1.1, 1, 2999)
	countries := []string{"KZ", "RU", "UZ", "KG", "DE", "US", "TR", "CN"}
	refs := []string{"", "", "google.com", "yandex.ru", "vk.com", "t.me", "instagram.com"}
	var out []event.Event
	for v := range n {
		at := time.Duration(rng.IntN(20*3600)) * time.Second
		base := pv(uint64(v+1), at, "", refs[rng.IntN(len(refs))])
		base.Country = countries[rng.IntN(len(countries))]
		for i := range 1 + rng.IntN(10) {
			e := base
			e.Time = base.Time.Add(time.Duration(i) * time.Minute)
			e.Path = fmt.Sprintf("/p/%d", zipf.Uint64())
			if rng.IntN(20) == 0 {
				e.Kind, e.Name = event.KindCustom, "signup"
			}
			out = append(out, e)
		}
	}
	return out
}

// BenchmarkAccumulate measures the rollup's CPU per event without and with
// pair rows (top 100 values per filter dimension).
func BenchmarkAccumulate(b *testing.B) {
	cfg, err := site.Parse([]byte("sites:\n  - id: s\n    domains: [s.kz]\n    timezone: Asia/Almaty\n"))
	if err != nil {
		b.Fatal(err)
	}
	s := cfg.Site("s")
	evs := synthEvents(20_000)
	top := map[dimValue]bool{}
	freq := map[dimValue]int{}
	for i := range evs {
		freq[dimValue{DimPage, evs[i].Path}]++
	}
	for dv, c := range freq {
		if c > len(evs)/3000 {
			top[dv] = true
		}
	}
	for _, c := range []string{"KZ", "RU", "UZ", "KG", "DE", "US", "TR", "CN"} {
		top[dimValue{DimCountry, c}] = true
	}
	for _, r := range []string{"google.com", "yandex.ru", "vk.com", "t.me", "instagram.com"} {
		top[dimValue{DimSource, r}] = true
	}
	top[dimValue{DimChannel, "direct"}], top[dimValue{DimChannel, "referral"}] = true, true
	top[dimValue{DimEvent, "signup"}], top[dimValue{DimBrowser, "Chrome"}] = true, true
	for _, withPairs := range []bool{false, true} {
		b.Run(fmt.Sprintf("pairs=%v", withPairs), func(b *testing.B) {
			rows := 0
			for b.Loop() {
				a := newAccumulator(s)
				if withPairs {
					a.top, a.pairs = top, map[pairKey]*counts{}
				}
				for _, e := range evs {
					a.add(e)
				}
				a.flushVisitor()
				foldSmallPairs(a.pairs, 5)
				rows = len(a.byGran[0]) + len(a.byGran[1]) + len(a.pairs)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
			b.ReportMetric(float64(rows), "rows")
		})
	}
}
