package integration

import (
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestEventsToAggregates sends a scripted morning of visits through HTTP and
// checks every number the stats API gives, on both engines.
func TestEventsToAggregates(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		s := newStack(t, st)
		const (
			ipA = "203.0.113.10"
			ipB = "2001:db8:1::5"
			ipC = "198.51.100.20"
		)
		expect := func(code, want int) {
			t.Helper()
			if code != want {
				t.Fatalf("status %d, want %d", code, want)
			}
		}
		// Visitor A: two pages and a custom event from a Google search.
		s.at(0)
		expect(s.pixel(t, ipA, chromeWin, "https://sez.im/", "https://www.google.com/", ""), 200)
		s.at(time.Minute)
		expect(s.pixel(t, ipA, chromeWin, "https://sez.im/psychologists", "https://sez.im/", ""), 200)
		s.at(2 * time.Minute)
		expect(s.beacon(t, ipA, chromeWin, `{"s":"sez","u":"https://sez.im/psychologists","n":"signup"}`), 202)
		// Visitor B: one page from a VK campaign: a bounce.
		s.at(5 * time.Minute)
		expect(s.beacon(t, ipB, firefoxLin, `{"s":"sez","u":"https://sez.im/psychologists?utm_source=vk&utm_medium=social&utm_campaign=autumn","r":"https://vk.com/"}`), 202)
		// Visitor C: two pages, typed in.
		s.at(10 * time.Minute)
		expect(s.pixel(t, ipC, safariIOS, "https://sez.im/", "", ""), 200)
		s.at(11 * time.Minute)
		expect(s.pixel(t, ipC, safariIOS, "https://sez.im/about", "https://sez.im/", ""), 200)
		// A robot and a malformed event count nowhere.
		expect(s.pixel(t, "192.0.2.1", gptBot, "https://sez.im/", "", ""), 200)
		expect(s.beacon(t, ipA, chromeWin, `{"s":"sez","u":`), 400)
		// Visitor A again an hour later, from another address of its /24:
		// the same visitor, a new visit (a bounce) in the next hour.
		s.at(60 * time.Minute)
		expect(s.pixel(t, "203.0.113.99", chromeWin, "https://sez.im/about", "", ""), 200)

		s.flushAndRollup(t)
		// A second rollup changes nothing: recomputation is idempotent.
		s.flushAndRollup(t)

		var agg struct {
			Results  metrics `json:"results"`
			Previous struct {
				Results metrics `json:"results"`
			} `json:"previous"`
		}
		s.getJSON(t, "/api/v1/stats/aggregate?site=sez&period=day&date=2026-11-24&compare=previous", &agg)
		want := metrics{Visitors: 3, Visits: 4, Pageviews: 6, Events: 1, ViewsPerVisit: 1.5, BounceRate: 50, VisitDuration: 45}
		if agg.Results != want {
			t.Fatalf("aggregate %v, want %v", agg.Results, want)
		}
		if agg.Previous.Results != (metrics{}) {
			t.Fatalf("previous day %v, want zeros", agg.Previous.Results)
		}

		var ts struct {
			Interval string `json:"interval"`
			Results  []struct {
				Date string `json:"date"`
				metrics
			} `json:"results"`
		}
		s.getJSON(t, "/api/v1/stats/timeseries?site=sez&period=day&date=2026-11-24", &ts)
		if ts.Interval != "hour" || len(ts.Results) != 24 {
			t.Fatalf("timeseries interval %q with %d points", ts.Interval, len(ts.Results))
		}
		// Hours are in Almaty time: 10:00 UTC is 15:00.
		h15, h16 := ts.Results[15], ts.Results[16]
		if h15.Date != "2026-11-24T15:00:00+05:00" || h15.Visitors != 3 || h15.Visits != 3 || h15.Pageviews != 5 || h15.Events != 1 {
			t.Fatalf("15:00 point %+v", h15)
		}
		if h16.Visitors != 1 || h16.Visits != 1 || h16.Pageviews != 1 || h16.BounceRate != 100 {
			t.Fatalf("16:00 point %+v", h16)
		}
		var total uint64
		for _, p := range ts.Results {
			total += p.Pageviews
		}
		if total != 6 {
			t.Fatalf("hourly pageviews add up to %d", total)
		}

		type row struct {
			Value string `json:"value"`
			metrics
		}
		breakdown := func(prop string) map[string]metrics {
			t.Helper()
			var b struct {
				Results []row `json:"results"`
			}
			if code := s.getJSON(t, "/api/v1/stats/breakdown?site=sez&period=day&date=2026-11-24&property="+prop, &b); code != 200 {
				t.Fatalf("breakdown %s: %d", prop, code)
			}
			out := map[string]metrics{}
			for _, r := range b.Results {
				out[r.Value] = r.metrics
			}
			return out
		}
		check := func(prop, value string, visitors, visits, pageviews uint64) {
			t.Helper()
			m, ok := breakdown(prop)[value]
			if !ok || m.Visitors != visitors || m.Visits != visits || m.Pageviews != pageviews {
				t.Fatalf("%s=%q: %v (present %v), want visitors %d visits %d pageviews %d", prop, value, m, ok, visitors, visits, pageviews)
			}
		}
		check("page", "/", 2, 2, 2)
		check("page", "/psychologists", 2, 2, 2)
		check("page", "/about", 2, 2, 2)
		check("entry_page", "/", 2, 2, 0)
		check("entry_page", "/about", 1, 1, 0)
		check("exit_page", "/psychologists", 2, 2, 0)
		check("source", "google.com", 1, 1, 2)
		check("source", "vk.com", 1, 1, 1)
		check("channel", "search", 1, 1, 2)
		check("channel", "social", 1, 1, 1)
		check("channel", "direct", 2, 2, 3)
		check("utm_campaign", "autumn", 1, 1, 1)
		check("country", "KZ", 1, 2, 3)
		check("country", "RU", 1, 1, 2)
		check("country", "DE", 1, 1, 1)
		check("browser", "Chrome", 1, 2, 3)
		check("browser", "Firefox", 1, 1, 1)
		check("browser", "Safari", 1, 1, 2)
		check("os", "iOS", 1, 1, 2)
		check("device", "mobile", 1, 1, 2)
		check("language", "ru", 3, 4, 6)
		if len(breakdown("page")) != 3 || len(breakdown("country")) != 3 {
			t.Fatal("unexpected extra breakdown rows")
		}
		if ev := breakdown("event")["signup"]; ev.Events != 1 || ev.Visitors != 1 {
			t.Fatalf("event signup %v", ev)
		}

		// Realtime counts distinct visitors of the last five minutes.
		var rt struct {
			Visitors uint64 `json:"visitors"`
		}
		s.at(62 * time.Minute)
		s.getJSON(t, "/api/v1/stats/realtime?site=sez", &rt)
		if rt.Visitors != 1 {
			t.Fatalf("realtime %d, want 1", rt.Visitors)
		}

		// Bad requests get JSON errors.
		for _, q := range []string{"?period=day", "?site=nope", "?site=sez&period=week", "?site=sez&property=ip"} {
			if code := s.getJSON(t, "/api/v1/stats/breakdown"+q, nil); code != 400 && code != 404 {
				t.Fatalf("%s: status %d", q, code)
			}
		}
	})
}

// TestExpiredSaltDayIsFinishedAndDropped: after 48 hours the raw events of a
// salt day are gone, and the aggregates made from them stay.
func TestExpiredSaltDayIsFinishedAndDropped(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		s := newStack(t, st)
		s.pixel(t, "203.0.113.10", chromeWin, "https://sez.im/", "", "")
		s.pixel(t, "198.51.100.20", safariIOS, "https://sez.im/", "", "")
		if err := s.wal.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		saltDay := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
		days, err := s.roll.Expired(t.Context(), saltDay.Add(48*time.Hour-time.Second))
		if err != nil || len(days) != 0 {
			t.Fatalf("expired before 48h: %v %v", days, err)
		}
		days, err = s.roll.Expired(t.Context(), saltDay.Add(48*time.Hour))
		if err != nil || len(days) != 1 || !days[0].Equal(saltDay) {
			t.Fatalf("expired at 48h: %v %v", days, err)
		}
		if _, err := s.roll.Finish(t.Context(), days[0]); err != nil {
			t.Fatal(err)
		}
		var n uint64
		if err := st.Query(t.Context(), "SELECT count() FROM "+st.DB().Stats+".events", func(r store.Row) error { n = r.Uint64(0); return nil }); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("%d raw events left after the salt day expired", n)
		}
		var agg struct {
			Results metrics `json:"results"`
		}
		s.getJSON(t, "/api/v1/stats/aggregate?site=sez&period=day&date=2026-11-24", &agg)
		if agg.Results.Visitors != 2 || agg.Results.Pageviews != 2 {
			t.Fatalf("aggregates after the drop: %v", agg.Results)
		}
	})
}

// TestLateEventReplacesStaleKeys: an event that arrives late (from another
// collector, or a replayed log) changes a visit's entry page; the next
// rollup must zero the old entry page's rows, hourly and daily, so nothing
// counts twice.
func TestLateEventReplacesStaleKeys(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		s := newStack(t, st)
		s.at(5 * time.Minute)
		s.pixel(t, "203.0.113.10", chromeWin, "https://sez.im/b", "", "")
		s.flushAndRollup(t)
		s.at(0) // the visit's first page, arriving after its second
		s.pixel(t, "203.0.113.10", chromeWin, "https://sez.im/a", "", "")
		s.flushAndRollup(t)
		var b struct {
			Results []struct {
				Value  string `json:"value"`
				Visits uint64 `json:"visits"`
			} `json:"results"`
		}
		s.getJSON(t, "/api/v1/stats/breakdown?site=sez&period=day&date=2026-11-24&property=entry_page", &b)
		if len(b.Results) != 1 || b.Results[0].Value != "/a" || b.Results[0].Visits != 1 {
			t.Fatalf("entry pages after the late event: %+v", b.Results)
		}
		for _, table := range []string{"agg_daily", "agg_hourly"} {
			var visits uint64
			q := "SELECT sum(visits) FROM " + st.DB().Stats + "." + table + " FINAL WHERE dim = 'entry_page' AND value = '/b'"
			if err := st.Query(t.Context(), q, func(r store.Row) error { visits = r.Uint64(0); return nil }); err != nil {
				t.Fatal(err)
			}
			if visits != 0 {
				t.Fatalf("%s still counts %d visits entering on /b", table, visits)
			}
		}
	})
}
