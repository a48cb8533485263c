package rollup

import (
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/site"
)

func testSite(t *testing.T) *site.Site {
	t.Helper()
	cfg, err := site.Parse([]byte("sites:\n  - id: s\n    domains: [s.kz]\n    timezone: Asia/Almaty\n"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Site("s")
}

// t0 is 10:00 UTC, 15:00 in Almaty.
var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func pv(visitor uint64, at time.Duration, path, ref string) event.Event {
	return event.Event{Visitor: visitor, Time: t0.Add(at), Kind: event.KindPageview, Path: path, RefHost: ref,
		Channel: map[bool]string{true: "referral", false: "direct"}[ref != ""], Country: "KZ", Browser: "Chrome", BrowserVersion: 131}
}

func TestAccumulatorCountsVisits(t *testing.T) {
	s := testSite(t)
	a := newAccumulator(s)
	custom := pv(1, 2*time.Minute, "/b", "")
	custom.Kind, custom.Name = event.KindCustom, "signup"
	for _, e := range []event.Event{
		// visitor 1: a visit of three pages and an event, then after 40
		// minutes a second, bounced visit.
		pv(1, 0, "/", "google.com"), pv(1, time.Minute, "/b", "google.com"), custom,
		pv(1, 3*time.Minute, "/", "google.com"),
		pv(1, 43*time.Minute, "/c", ""),
		// visitor 2: one bounced visit on /.
		pv(2, 5*time.Minute, "/", ""),
	} {
		a.add(e)
	}
	a.flushVisitor()
	hour := s.HourStart(t0).Unix()
	want := map[aggKey]counts{
		{hour, DimTotal, ""}:                    {visitors: 2, visits: 3, pageviews: 5, bounces: 2, duration: 180, events: 1},
		{hour, DimPage, "/"}:                    {visitors: 2, visits: 2, pageviews: 3, bounces: 1, duration: 60},
		{hour, DimPage, "/b"}:                   {visitors: 1, visits: 1, pageviews: 1, duration: 60},
		{hour, DimPage, "/c"}:                   {visitors: 1, visits: 1, pageviews: 1, bounces: 1},
		{hour, DimEntryPage, "/"}:               {visitors: 2, visits: 2, bounces: 1, duration: 180},
		{hour, DimEntryPage, "/c"}:              {visitors: 1, visits: 1, bounces: 1},
		{hour, DimExitPage, "/"}:                {visitors: 2, visits: 2, bounces: 1, duration: 180},
		{hour, DimExitPage, "/c"}:               {visitors: 1, visits: 1, bounces: 1},
		{hour, DimSource, "google.com"}:         {visitors: 1, visits: 1, pageviews: 3, duration: 180, events: 1},
		{hour, DimChannel, "direct"}:            {visitors: 2, visits: 2, pageviews: 2, bounces: 2},
		{hour, DimChannel, "referral"}:          {visitors: 1, visits: 1, pageviews: 3, duration: 180, events: 1},
		{hour, DimEvent, "signup"}:              {visitors: 1, visits: 1, events: 1},
		{hour, DimCountry, "KZ"}:                {visitors: 2, visits: 3, pageviews: 5, bounces: 2, duration: 180, events: 1},
		{hour, DimBrowserVersion, "Chrome 131"}: {visitors: 2, visits: 3, pageviews: 5, bounces: 2, duration: 180, events: 1},
	}
	for k, w := range want {
		got := a.byGran[hourly][k]
		if got == nil {
			t.Errorf("no row for %+v", k)
			continue
		}
		g := *got
		g.lastVisitor = 0
		if g != w {
			t.Errorf("%+v: got %+v, want %+v", k, g, w)
		}
	}
	// The daily total agrees with the hourly one when all is in one hour.
	day := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC).Unix()
	if d := a.byGran[daily][aggKey{day, DimTotal, ""}]; d == nil || d.visits != 3 || d.visitors != 2 || d.pageviews != 5 {
		t.Errorf("daily total %+v", d)
	}
}

func TestAccumulatorUsesSiteLocalDay(t *testing.T) {
	s := testSite(t)
	a := newAccumulator(s)
	// 20:00 UTC on the 24th is 01:00 on the 25th in Almaty.
	e := pv(7, 10*time.Hour, "/", "")
	a.add(e)
	a.flushVisitor()
	day := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC).Unix()
	if a.byGran[daily][aggKey{day, DimTotal, ""}] == nil {
		t.Fatalf("no row for the site-local day: %v", a.byGran[daily])
	}
}
