package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sezim-analytics/sezim/dashboards/statistics"
	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// The aggregates of site flt (k = 5, exact mode, UTC) that the filter
// tests read. Over Nov 23–24: total 90 visitors, 110 visits, 220
// pageviews, 10 events; countries KZ 65, RU 16 and UZ 3 (hidden: below
// k); sources google.com 35, google.kz 6, vk.com 8.
var filterDaily = []aggRow{
	{"flt", "2026-10-31", "", "", 3, 3, 3, 0, 0, 0},
	{"flt", "2026-11-10", "", "", 4, 4, 4, 0, 0, 0},
	{"flt", "2026-11-16", "", "", 10, 10, 10, 0, 0, 0},
	{"flt", "2026-11-22", "", "", 7, 7, 7, 0, 0, 0},
	{"flt", "2026-11-23", "", "", 40, 50, 100, 20, 5000, 4},
	{"flt", "2026-11-23", "country", "KZ", 30, 36, 70, 14, 3600, 3},
	{"flt", "2026-11-23", "country", "RU", 6, 8, 20, 4, 900, 1},
	{"flt", "2026-11-23", "country", "UZ", 2, 2, 4, 1, 200, 0},
	{"flt", "2026-11-23", "source", "google.com", 15, 18, 40, 6, 1500, 1},
	{"flt", "2026-11-23", "page", "/", 30, 38, 70, 15, 2500, 0},
	{"flt", "2026-11-23", "page", "/pricing", 8, 9, 15, 3, 700, 0},
	{"flt", "2026-11-24", "", "", 50, 60, 120, 24, 6000, 6},
	{"flt", "2026-11-24", "country", "KZ", 35, 42, 80, 16, 4000, 4},
	{"flt", "2026-11-24", "country", "RU", 10, 12, 30, 6, 1500, 2},
	{"flt", "2026-11-24", "country", "UZ", 1, 1, 2, 0, 100, 0},
	{"flt", "2026-11-24", "source", "google.com", 20, 24, 50, 8, 2000, 1},
	{"flt", "2026-11-24", "source", "google.kz", 6, 7, 15, 2, 600, 0},
	{"flt", "2026-11-24", "source", "vk.com", 8, 9, 20, 3, 900, 1},
	{"flt", "2026-11-24", "page", "/", 40, 50, 90, 20, 3000, 0},
	{"flt", "2026-11-24", "page", "/pricing", 12, 14, 20, 4, 1000, 0},
}

// Hours of Nov 24 (visitors = visits = pageviews).
var filterHours = []struct {
	hour       int
	dim, value string
	visitors   uint64
}{
	{10, "", "", 20}, {11, "", "", 30},
	{10, "source", "google.com", 12}, {11, "source", "google.com", 8},
	{10, "source", "vk.com", 8}, {11, "source", "google.kz", 6},
}

// Pair cells of the visits from KZ, as the rollup leaves finished days:
// on Nov 23 vk.com had fewer than k of them and is inside the remainder.
var filterPairs = []struct {
	day, dim, value             string
	visitors, visits, pageviews int64
}{
	{"2026-11-23", "", "", 30, 36, 70},
	{"2026-11-23", "page", "/", 25, 30, 55},
	{"2026-11-23", "page", "/pricing", 6, 7, 12},
	{"2026-11-23", "source", "google.com", 10, 12, 30},
	{"2026-11-23", "source", "", 3, 3, 6},
	{"2026-11-24", "", "", 35, 42, 80},
	{"2026-11-24", "page", "/", 30, 36, 60},
	{"2026-11-24", "page", "/pricing", 9, 10, 16},
	{"2026-11-24", "source", "vk.com", 5, 6, 12},
	{"2026-11-24", "source", "google.com", 14, 17, 40},
}

func newFilterAPI(t *testing.T, st store.Store, now time.Time) *fiber.App {
	t.Helper()
	return newFilterAPIMode(t, st, now, site.DisclosureExact)
}

func newFilterAPIMode(t *testing.T, st store.Store, now time.Time, mode site.Disclosure) *fiber.App {
	t.Helper()
	ctx := t.Context()
	day := func(s string) store.Day {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return store.DayOf(d)
	}
	cols := []string{"site", "day", "dim", "value", "salt_day", "visitors", "visits", "pageviews", "bounces", "duration", "events", "version"}
	var rows [][]any
	for _, r := range filterDaily {
		rows = append(rows, []any{r.site, day(r.day), r.dim, r.value, day(r.day), r.visitors, r.visits, r.pageviews, r.bounces, r.duration, r.events, uint64(1)})
	}
	if err := st.Insert(ctx, st.DB().Stats+".agg_daily", cols, rows); err != nil {
		t.Fatal(err)
	}
	cols[1], rows = "hour", nil
	for _, h := range filterHours {
		rows = append(rows, []any{"flt", time.Date(2026, 11, 24, h.hour, 0, 0, 0, time.UTC), h.dim, h.value, day("2026-11-24"),
			h.visitors, h.visitors, h.visitors, uint64(0), uint64(0), uint64(0), uint64(1)})
	}
	if err := st.Insert(ctx, st.DB().Stats+".agg_hourly", cols, rows); err != nil {
		t.Fatal(err)
	}
	rows = nil
	for _, p := range filterPairs {
		rows = append(rows, []any{"flt", day(p.day), "country", "KZ", p.dim, p.value, day(p.day), p.visitors, p.visits, p.pageviews, int64(0), 10 * p.visitors, int64(0)})
	}
	if err := st.Insert(ctx, st.DB().Stats+".agg_pairs", []string{"site", "day", "fdim", "fvalue", "dim", "value", "salt_day",
		"visitors", "visits", "pageviews", "bounces", "duration", "events"}, rows); err != nil {
		t.Fatal(err)
	}
	cfg, err := site.Parse([]byte("sites:\n  - id: flt\n    domains: [flt.example]\n    timezone: UTC\n    k_threshold: 5\n    disclosure: " + string(mode) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return statistics.NewAPI(statistics.APIOptions{Sites: cfg, Store: st, Now: func() time.Time { return now }}).NewApp()
}

// filterGet asks the API and returns the status and the decoded answer.
func filterGet(t *testing.T, app *fiber.App, path string, filters ...string) (int, map[string]any) {
	t.Helper()
	for _, f := range filters {
		path += "&filter=" + url.QueryEscape(f)
	}
	resp, err := app.Test(httptest.NewRequest("GET", "/api/v1/stats/"+path, nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v: %s", path, err, b)
	}
	return resp.StatusCode, out
}

// short writes metrics as visitors/visits/pageviews/events, or "<k" when
// suppressed.
func short(m any) string {
	mm, _ := m.(map[string]any)
	if mm == nil {
		return "nil"
	}
	if mm["suppressed"] == true {
		return "<k"
	}
	return fmt.Sprintf("%v/%v/%v/%v", mm["visitors"], mm["visits"], mm["pageviews"], mm["events"])
}

// shortRows writes a breakdown as value:metrics … other= total=.
func shortRows(out map[string]any) string {
	var parts []string
	rows, _ := out["results"].([]any)
	for _, r := range rows {
		parts = append(parts, fmt.Sprintf("%v:%s", r.(map[string]any)["value"], short(r)))
	}
	if out["other"] != nil {
		parts = append(parts, "other="+short(out["other"]))
	}
	return strings.Join(append(parts, "total="+short(out["total"])), " ")
}

// shortPoints writes a series as date=metrics for the points that are not 0.
func shortPoints(out map[string]any) string {
	var parts []string
	pts, _ := out["results"].([]any)
	for _, p := range pts {
		pm := p.(map[string]any)
		if s := short(pm); s != "0/0/0/0" {
			parts = append(parts, fmt.Sprintf("%v=%s", pm["date"], s))
		}
	}
	return fmt.Sprintf("%d points: %s", len(pts), strings.Join(parts, " "))
}

// TestSeveralFilters asks the top line, the chart and breakdowns under
// is, is not, contains and two filters together, with the numbers worked
// out by hand from the cells above.
func TestSeveralFilters(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		app := newFilterAPI(t, st, time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC))
		span := "site=flt&period=custom&from=2026-11-23&to=2026-11-24"
		agg := func(filters ...string) string {
			t.Helper()
			code, out := filterGet(t, app, "aggregate?"+span, filters...)
			if code != 200 {
				return fmt.Sprintf("%d %v", code, out["error"])
			}
			return short(out["results"])
		}
		for _, c := range []struct {
			filters []string
			want    string
		}{
			// Today's single filter, unchanged.
			{[]string{"country==KZ"}, "65/78/150/7"},
			// The total minus vk.com's cells (no source is hidden).
			{[]string{"source!=vk.com"}, "82/101/200/9"},
			// google.com and google.kz, ignoring case.
			{[]string{"source~=GOOGLE"}, "41/49/105/2"},
			{[]string{"source~=google", "source!=google.kz"}, "35/42/90/2"},
			// Two values of a per-visit property: no visit has both.
			{[]string{"country==KZ", "country==RU"}, "0/0/0/0"},
			// One pair cell a day, in either order (KZ × /pricing).
			{[]string{"country==KZ", "page==/pricing"}, "15/17/28/0"},
			{[]string{"page==/pricing", "country==KZ"}, "15/17/28/0"},
			// The pair rows are kept under country==KZ only: found swapped.
			{[]string{"source==google.com", "country==KZ"}, "24/29/70/0"},
			// vk.com from KZ was below k on Nov 23 and is inside the remainder.
			{[]string{"country==KZ", "source==vk.com"}, "400 filter not available: country and source together had fewer than 5 visitors on 1 day(s) of this period, and such days are kept only inside a remainder"},
			{[]string{"page~=pricing"}, "400 filter not available: the totals and chart cannot be filtered by page with is not or contains: a visit with two matching values would count twice (filter the page breakdown instead)"},
			{[]string{"country==KZ", "source==vk.com", "page==/"}, "400 filter not available: the totals and chart can be filtered by one property (is, is not, contains) or by two with is only: other combinations are not stored"},
			{[]string{"country!=RU", "source==vk.com"}, "400 filter not available: the totals and chart can be filtered by one property (is, is not, contains) or by two with is only: other combinations are not stored"},
			{[]string{"country=KZ"}, "400 filter must be DIMENSION==VALUE, DIMENSION!=VALUE or DIMENSION~=TEXT with a dimension of: page, …"},
			{[]string{"nowhere==KZ"}, "400 filter must be DIMENSION==VALUE, DIMENSION!=VALUE or DIMENSION~=TEXT with a dimension of: page, …"},
			{[]string{"source~="}, "400 filter source~= needs some text"},
		} {
			got := agg(c.filters...)
			if want, ok := strings.CutSuffix(c.want, "…"); ok && strings.HasPrefix(got, want) {
				continue
			}
			if got != c.want {
				t.Errorf("aggregate %q:\n got %s\nwant %s", c.filters, got, c.want)
			}
		}

		series := func(q string, filters ...string) string {
			t.Helper()
			code, out := filterGet(t, app, "timeseries?"+q, filters...)
			if code != 200 {
				return fmt.Sprintf("%d %v", code, out["error"])
			}
			return fmt.Sprintf("%v %s", out["interval"], shortPoints(out))
		}
		for _, c := range []struct {
			q       string
			filters []string
			want    string
		}{
			{span, []string{"source!=vk.com"}, "day 2 points: 2026-11-23=40/50/100/4 2026-11-24=42/51/100/5"},
			{span, []string{"source~=google"}, "day 2 points: 2026-11-23=15/18/40/1 2026-11-24=26/31/65/1"},
			// UZ is below k on both days: every point that involves it is hidden.
			{span, []string{"country!=RU"}, "day 2 points: 2026-11-23=<k 2026-11-24=<k"},
			// Nov 23's cell is inside the remainder: "< k", not 0.
			{span, []string{"country==KZ", "source==vk.com"}, "day 2 points: 2026-11-23=<k 2026-11-24=5/6/12/0"},
			{span + "&interval=hour", []string{"country==KZ", "page==/"}, "400 filter not available: two filters together are kept per day: choose day, week or month"},
			// A day's chart is hourly unless asked otherwise, and daily then.
			{"site=flt&period=custom&from=2026-11-24&to=2026-11-24", []string{"country==KZ", "page==/pricing"}, "day 1 points: 2026-11-24=9/10/16/0"},
			{"site=flt&period=custom&from=2026-11-24&to=2026-11-24", []string{"source!=vk.com"},
				"hour 24 points: 2026-11-24T10:00:00Z=12/12/12/0 2026-11-24T11:00:00Z=30/30/30/0"},
			// Weeks start on Monday: the 22nd is a Sunday, the 23rd a Monday;
			// the first bucket is dated by its first day in the range.
			{"site=flt&period=custom&from=2026-11-10&to=2026-11-24&interval=week", nil,
				"week 3 points: 2026-11-10=4/4/4/0 2026-11-16=17/17/17/0 2026-11-23=90/110/220/10"},
			{"site=flt&period=custom&from=2026-10-20&to=2026-11-24&interval=month", nil,
				"month 2 points: 2026-10-20=3/3/3/0 2026-11-01=111/131/241/10"},
			{"site=flt&period=custom&from=2026-11-10&to=2026-11-24&interval=week", []string{"country==KZ"},
				"week 3 points: 2026-11-23=65/78/150/7"},
			// A week that holds UZ's hidden days is hidden.
			{"site=flt&period=custom&from=2026-11-10&to=2026-11-24&interval=week", []string{"country~=u"},
				"week 3 points: 2026-11-23=<k"},
			{"site=flt&period=custom&from=2026-11-10&to=2026-11-24&interval=hour", nil, "400 interval hour is limited to 7 days"},
			{span + "&interval=week", nil, "400 interval week needs a range of at least 14 days"},
			{span + "&interval=month", nil, "400 interval month needs a range of at least 28 days"},
			{span + "&interval=year", nil, "400 interval must be hour, day, week or month"},
		} {
			if got := series(c.q, c.filters...); got != c.want {
				t.Errorf("timeseries %s %q:\n got %s\nwant %s", c.q, c.filters, got, c.want)
			}
		}

		breakdown := func(dim string, filters ...string) string {
			t.Helper()
			code, out := filterGet(t, app, "breakdown?"+span+"&property="+dim, filters...)
			if code != 200 {
				return fmt.Sprintf("%d %v", code, out["error"])
			}
			return shortRows(out)
		}
		for _, c := range []struct {
			dim     string
			filters []string
			want    string
		}{
			{"source", []string{"source~=google"}, "google.com:35/42/90/2 google.kz:6/7/15/0 total=41/49/105/2"},
			{"source", []string{"source!=vk.com"}, "google.com:35/42/90/2 google.kz:6/7/15/0 total=41/49/105/2"},
			// A filter on the breakdown's own property reduces the pair
			// question to its row.
			{"page", []string{"country==KZ", "page==/pricing"}, "/pricing:15/17/28/0 total=15/17/28/0"},
			{"page", []string{"country==KZ", "page==/none"}, "total=0/0/0/0"},
			// vk.com from KZ is inside the remainder on Nov 23, as above.
			{"source", []string{"country==KZ", "source==vk.com"}, "400 filter not available: country and source together had fewer than 5 visitors on 1 day(s) of this period, and such days are kept only inside a remainder"},
			{"source", []string{"country==KZ", "source==google.com"}, "google.com:24/29/70/0 total=24/29/70/0"},
			{"country", []string{"country==KZ", "country==RU"}, "total=0/0/0/0"},
			{"page", []string{"country==KZ"}, "/:55/66/115/0 /pricing:15/17/28/0 total=70/83/143/0"},
			{"page", []string{"country==KZ", "source==vk.com"}, "400 filter not available: another property's breakdown can be filtered by one other property with is only: more would need counts of three properties together, and is not or contains a difference of cells that are folded when small"},
			{"page", []string{"country!=RU"}, "400 filter not available: another property's breakdown can be filtered by one other property with is only: more would need counts of three properties together, and is not or contains a difference of cells that are folded when small"},
			{"page", []string{"country==KZ", "page~=pri"}, "400 filter not available: under a filter of another property, page can be filtered with is only: its small cells are folded together per day"},
		} {
			if got := breakdown(c.dim, c.filters...); got != c.want {
				t.Errorf("breakdown %s %q:\n got %s\nwant %s", c.dim, c.filters, got, c.want)
			}
		}

		// The answers echo the filters with their operators.
		_, out := filterGet(t, app, "aggregate?"+span, "source~=google", "source!=google.kz")
		if got, _ := json.Marshal(out["filters"]); string(got) != `[{"op":"contains","property":"source","value":"google"},{"op":"is_not","property":"source","value":"google.kz"}]` || out["filter"] != nil {
			t.Errorf("filters echoed as %s, filter %v", got, out["filter"])
		}
	})
}

// TestFiltersCannotUncoverAHiddenCell tries to recover UZ's 3 visitors
// (below k = 5 over the range, 2 and 1 per day) from the public numbers
// and every filtered answer that involves it: the site total minus "is
// not UZ", "contains" of a text that UZ shares with a shown value minus
// that value, a breakdown's total under "is not" minus the unfiltered
// one, and the same per day. Each answer that would give it is suppressed.
func TestFiltersCannotUncoverAHiddenCell(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		app := newFilterAPI(t, st, time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC))
		span := "site=flt&period=custom&from=2026-11-23&to=2026-11-24"
		// What is public: the total, KZ and RU, and the breakdown's total.
		_, out := filterGet(t, app, "aggregate?"+span)
		if got := short(out["results"]); got != "90/110/220/10" {
			t.Fatalf("total %s", got)
		}
		_, out = filterGet(t, app, "breakdown?"+span+"&property=country")
		// UZ (3) is folded, and as "(other)" would be 3, RU joins it.
		if got := shortRows(out); got != "KZ:65/78/150/7 other=19/23/56/3 total=84/101/206/10" {
			t.Fatalf("countries %s", got)
		}
		attempts := []struct{ path, filter string }{
			{"aggregate?" + span, "country==UZ"},
			{"aggregate?" + span, "country!=UZ"},
			{"aggregate?" + span, "country!=RU"},
			{"aggregate?" + span, "country!=KZ"},
			{"aggregate?" + span, "country~=u"}, // RU + UZ
			{"aggregate?" + span, "country~=z"}, // KZ + UZ
			{"timeseries?" + span, "country!=UZ"},
			{"timeseries?" + span, "country~=z"},
			{"timeseries?site=flt&period=today", "country!=RU"},
			{"breakdown?property=country&" + span, "country!=RU"},
			{"breakdown?property=country&" + span, "country~=z"},
			{"breakdown?property=country&" + span, "country!=UZ"},
			{"breakdown?property=country&" + span, "country==UZ"},
		}
		for _, a := range attempts {
			code, out := filterGet(t, app, a.path, a.filter)
			if code != 200 {
				t.Errorf("%s %s: %d %v", a.path, a.filter, code, out["error"])
				continue
			}
			// Every number shown must come from cells without UZ, or from
			// the public ones: no visitors count may differ from a public
			// number by UZ's 1, 2 or 3 in a way that a shown number allows.
			var shown []string
			collect := func(m any) {
				if mm, ok := m.(map[string]any); ok && mm["suppressed"] != true && mm["visitors"] != nil {
					shown = append(shown, fmt.Sprint(mm["visitors"]))
				}
			}
			collect(out["results"])
			collect(out["total"])
			collect(out["other"])
			if rows, ok := out["results"].([]any); ok {
				for _, r := range rows {
					collect(r)
				}
			}
			for _, v := range shown {
				switch v {
				case "65", "16", "19", "0": // public: KZ, RU, the folded "(other)"; nothing
				case "90", "84", "40", "50", "20", "30": // public: the total, the breakdown's, the days', the hours'
				default:
					t.Errorf("%s %s shows %s visitors: %s", a.path, a.filter, v, shortAny(out))
				}
			}
		}
	})
}

func shortAny(out map[string]any) string {
	b, _ := json.Marshal(out)
	return string(b)
}

// TestRealtimeView reads the last 30 minutes from the raw events: by
// minute (hidden below k, and kept together at k or more), top pages and
// top sources (folded below k).
func TestRealtimeView(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		now := time.Date(2026, 11, 24, 13, 0, 30, 0, time.UTC)
		at := func(hm string, sec int) time.Time {
			d, _ := time.Parse("15:04", hm)
			return time.Date(2026, 11, 24, d.Hour(), d.Minute(), sec, 0, time.UTC)
		}
		var rows [][]any
		add := func(visitor uint64, ts time.Time, path, ref string) {
			e := event.Event{SiteID: "flt", SaltDay: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), Time: ts, Visitor: visitor,
				Kind: event.KindPageview, Path: path, RefHost: ref}
			rows = append(rows, pipeline.EventRowAt(&e, "rt", now))
		}
		for v := uint64(1); v <= 6; v++ {
			add(v, at("12:50", 10), "/", "google.com")
			if v <= 5 {
				add(v, at("12:55", 0), "/pricing", "")
			}
		}
		add(7, at("12:50", 20), "/", "")
		add(8, at("12:40", 0), "/secret", "t.me")
		for v := uint64(11); v <= 15; v++ {
			add(v, at("12:45", 0), "/", "vk.com")
		}
		add(9, at("12:20", 0), "/old", "t.me") // before the window
		if err := st.Insert(t.Context(), st.DB().Stats+".events", pipeline.EventColumns, rows); err != nil {
			t.Fatal(err)
		}
		app := newFilterAPI(t, st, now)
		code, out := filterGet(t, app, "realtime/detail?site=flt")
		if code != 200 {
			t.Fatalf("%d %v", code, out)
		}
		if out["visitors"] != 13.0 || out["minutes_window"] != 30.0 {
			t.Errorf("visitors %v, window %v", out["visitors"], out["minutes_window"])
		}
		pts := out["minutes"].([]any)
		var got []string
		for _, p := range pts {
			pm := p.(map[string]any)
			if s := short(pm); s != "0/0/0/0" {
				got = append(got, fmt.Sprintf("%s=%s", pm["date"].(string)[11:16], s))
			}
		}
		first, last := pts[0].(map[string]any)["date"], pts[len(pts)-1].(map[string]any)["date"]
		// 12:40 (one visitor) is hidden, and 12:45 joins it so that the
		// hidden minutes hold 6.
		if want := "12:40=<k 12:45=<k 12:50=7/0/7/0 12:55=5/0/5/0"; strings.Join(got, " ") != want || len(pts) != 30 ||
			first != "2026-11-24T12:31:00Z" || last != "2026-11-24T13:00:00Z" {
			t.Errorf("minutes %d from %v to %v: %s, want %s", len(pts), first, last, strings.Join(got, " "), want)
		}
		// /secret (1) is folded; as "(other)" would be 1, /pricing joins.
		if got := shortRows(out["pages"].(map[string]any)); got != "/:12/0/12/0 other=6/0/6/0 total=18/0/18/0" {
			t.Errorf("pages %s", got)
		}
		// A visitor's source is the referrer of their first event in the
		// window; t.me (1) is folded, and vk.com joins it.
		if got := shortRows(out["sources"].(map[string]any)); got != "google.com:6/0/11/0 other=6/0/6/0 total=12/0/17/0" {
			t.Errorf("sources %s", got)
		}
	})
}

// TestFiltersPublishedCells: in the protective mode a filtered answer is
// a sum or difference of the same published cells the other answers
// show, never a count: "is not vk.com" is the published total minus
// vk.com's published row, "contains google" the sum of the two google
// rows, a week the sum of its published days; and UZ's cells, published
// with noise, are no longer hidden (k is 1).
func TestFiltersPublishedCells(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		app := newFilterAPIMode(t, st, time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC), site.DisclosureCellKey)
		span := "site=flt&period=custom&from=2026-11-23&to=2026-11-24"
		visitors := func(path string, filters ...string) (float64, map[string]any) {
			t.Helper()
			code, out := filterGet(t, app, path, filters...)
			if code != 200 {
				t.Fatalf("%s %q: %d %v", path, filters, code, out["error"])
			}
			m, _ := out["results"].(map[string]any)
			v, _ := m["visitors"].(float64)
			return v, out
		}
		total, _ := visitors("aggregate?" + span)
		_, bd := visitors("breakdown?" + span + "&property=source")
		row := map[string]float64{}
		for _, r := range bd["results"].([]any) {
			rm := r.(map[string]any)
			row[rm["value"].(string)] = rm["visitors"].(float64)
		}
		if len(row) != 3 {
			t.Fatalf("source rows %v", row)
		}
		if got, _ := visitors("aggregate?"+span, "source!=vk.com"); got != total-row["vk.com"] {
			t.Errorf("is not vk.com: %v, want %v − %v", got, total, row["vk.com"])
		}
		if got, _ := visitors("aggregate?"+span, "source~=google"); got != row["google.com"]+row["google.kz"] {
			t.Errorf("contains google: %v, want %v + %v", got, row["google.com"], row["google.kz"])
		}
		if got, out := visitors("aggregate?"+span, "country!=RU"); out["results"].(map[string]any)["suppressed"] != false || got == 0 {
			t.Errorf("is not RU in the protective mode: %v", shortAny(out))
		}
		_, days := visitors("timeseries?site=flt&period=custom&from=2026-11-10&to=2026-11-24&interval=day", "source~=google")
		_, weeks := visitors("timeseries?site=flt&period=custom&from=2026-11-10&to=2026-11-24&interval=week", "source~=google")
		var sum float64
		for _, p := range days["results"].([]any) {
			if d := p.(map[string]any)["date"].(string); d >= "2026-11-23" {
				sum += p.(map[string]any)["visitors"].(float64)
			}
		}
		ws := weeks["results"].([]any)
		if last := ws[len(ws)-1].(map[string]any)["visitors"].(float64); last != sum || sum != row["google.com"]+row["google.kz"] {
			t.Errorf("the last week %v, its days %v, the rows %v", last, sum, row)
		}
		// Two filters: the pair cells, published.
		if got, _ := visitors("aggregate?"+span, "country==KZ", "page==/pricing"); got == 0 {
			t.Errorf("two filters: 0")
		}
		if code, out := filterGet(t, app, "realtime/detail?site=flt"); code != 200 || len(out["minutes"].([]any)) != 30 {
			t.Errorf("realtime: %d %v", code, out)
		}
	})
}
