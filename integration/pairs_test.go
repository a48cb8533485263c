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

	"github.com/sezim-analytics/sezim/dashboards/statistics"
	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// pairVisits is a fixed day of fifteen one-visit visitors (k = 3):
//
//	v1–v6    KZ Chrome, from google.com (search): / then /pricing
//	v7–v9    RU Firefox, direct: / then /pricing then /signup, and "signup"
//	v10–v13  KZ Safari, direct: / only (bounces)
//	v14      DE Chrome, direct: /pricing then /secret
//	v15      UZ Chrome, direct: /pricing only (a bounce)
func pairVisits() []event.Event {
	day := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	var out []event.Event
	visit := func(v uint64, country, browser, ref, channel string, pages []string, custom string) {
		at := day.Add(time.Duration(8+v%6)*time.Hour + time.Duration(v)*time.Minute)
		base := event.Event{SiteID: "pairs", SaltDay: day, Visitor: v, Kind: event.KindPageview, RefHost: ref, Channel: channel,
			Country: country, Browser: browser, OS: "Windows", Device: "desktop", Language: "ru"}
		for i, p := range pages {
			e := base
			e.Time, e.Path = at.Add(time.Duration(i)*time.Minute), p
			out = append(out, e)
		}
		if custom != "" {
			e := base
			e.Time, e.Path, e.Kind, e.Name = at.Add(time.Duration(len(pages))*time.Minute), pages[len(pages)-1], event.KindCustom, custom
			out = append(out, e)
		}
	}
	for v := uint64(1); v <= 6; v++ {
		visit(v, "KZ", "Chrome", "google.com", "search", []string{"/", "/pricing"}, "")
	}
	for v := uint64(7); v <= 9; v++ {
		visit(v, "RU", "Firefox", "", "direct", []string{"/", "/pricing", "/signup"}, "signup")
	}
	for v := uint64(10); v <= 13; v++ {
		visit(v, "KZ", "Safari", "", "direct", []string{"/"}, "")
	}
	visit(14, "DE", "Chrome", "", "direct", []string{"/pricing", "/secret"}, "")
	visit(15, "UZ", "Chrome", "", "direct", []string{"/pricing"}, "")
	return out
}

// TestFilteredBreakdowns runs the real rollup over pairVisits and reads
// every filtered breakdown through the API, on both engines.
func TestFilteredBreakdowns(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		var rows [][]any
		for _, e := range pairVisits() {
			rows = append(rows, pipeline.EventRow(&e, "test"))
		}
		if err := st.Insert(ctx, st.DB().Stats+".events", pipeline.EventColumns, rows); err != nil {
			t.Fatal(err)
		}
		cfg, err := site.Parse([]byte("sites:\n  - id: pairs\n    domains: [pairs.example]\n    timezone: UTC\n    k_threshold: 3\n    disclosure: exact\n"))
		if err != nil {
			t.Fatal(err)
		}
		saltDay := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
		// Two values per filter property get pair rows: / and /pricing,
		// KZ and RU, google.com, search and direct, signup, …
		if _, err := rollup.New(rollup.Options{Store: st, Sites: cfg, PairTopN: 2, Settle: -1}).Run(ctx, saltDay); err != nil {
			t.Fatal(err)
		}
		now := func() time.Time { return time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC) }
		app := statistics.NewAPI(statistics.APIOptions{Sites: cfg, Store: st, Now: now}).NewApp()
		get := func(q string) (int, []byte) {
			t.Helper()
			resp, err := app.Test(httptest.NewRequest("GET", "/api/v1/stats/"+q, nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, b
		}
		bd := func(prop, filter string) string {
			t.Helper()
			code, body := get("breakdown?site=pairs&period=today&property=" + prop + "&filter=" + url.QueryEscape(filter))
			if code != 200 {
				t.Fatalf("%s under %s: %d %s", prop, filter, code, body)
			}
			return breakdownLine(t, body, 3)
		}
		for _, c := range []struct{ prop, filter, want string }{
			// Visits that include /pricing, by country: KZ 6, RU 3; DE and
			// UZ (1 each) were folded at rollup, and as that remainder (2)
			// is below k, RU joins it in "other".
			{"country", "page==/pricing", "KZ:6/6/12 other=:5/5/12 total=11/11/24"},
			{"browser", "page==/pricing", "Chrome:8/8/15 Firefox:3/3/9 total=11/11/24"},
			// Entry pages of those visits: / 9, /pricing 2 (folded): the
			// remainder pulls / in, and only the total is left.
			{"entry_page", "page==/pricing", "other=:11/11/0 total=11/11/0"},
			// Pages of the visits from KZ: / in all 10, /pricing in 6.
			{"page", "country==KZ", "/:10/10/10 /pricing:6/6/6 total=16/16/16"},
			{"channel", "country==KZ", "search:6/6/12 direct:4/4/4 total=10/10/16"},
			{"event", "country==RU", "signup:3/3/0 total=3/3/0"},
			{"country", "event==signup", "RU:3/3/9 total=3/3/9"},
			{"browser", "source==google.com", "Chrome:6/6/12 total=6/6/12"},
			// A filter on the breakdown's own property is the value's row.
			{"country", "country==KZ", "KZ:10/10/16 total=10/10/16"},
		} {
			if got := bd(c.prop, c.filter); got != c.want {
				t.Errorf("%s under %s:\n got %s\nwant %s", c.prop, c.filter, got, c.want)
			}
		}
		// The top line under a filter is the value's own row, as before.
		code, body := get("aggregate?site=pairs&period=today&filter=" + url.QueryEscape("page==/pricing"))
		if code != 200 || !strings.Contains(string(body), `"visitors":11,"visits":11,"pageviews":11`) {
			t.Fatalf("filtered aggregate: %d %s", code, body)
		}
		// A property that cannot filter others: 400. While the day is
		// open, every value of a filter property has its pair rows.
		for _, f := range []string{"region==x", "screen==large"} {
			code, body := get("breakdown?site=pairs&period=today&property=browser&filter=" + url.QueryEscape(f))
			if code != 400 || !strings.Contains(string(body), "not available") {
				t.Errorf("%s: %d %s", f, code, body)
			}
		}
		if code, body := get("breakdown?site=pairs&period=today&property=browser&filter=" + url.QueryEscape("page==/signup")); code != 200 {
			t.Errorf("page==/signup on an open day: %d %s", code, body)
		}
		// Every filter × property answers 200 or 400, never a small count.
		values := map[string][]string{
			"page": {"/", "/pricing", "/secret"}, "entry_page": {"/", "/pricing"}, "exit_page": {"/pricing", "/signup"},
			"source": {"google.com"}, "channel": {"search", "direct"}, "country": {"KZ", "RU", "UZ"}, "browser": {"Chrome", "Firefox"},
			"os": {"Windows"}, "device": {"desktop"}, "language": {"ru"}, "event": {"signup"}, "utm_source": {"x"},
		}
		for _, fdim := range rollup.PairFilterDims {
			for _, v := range values[fdim] {
				for _, prop := range []string{"page", "entry_page", "exit_page", "country", "browser", "channel", "event"} {
					code, body := get("breakdown?site=pairs&period=7d&property=" + prop + "&filter=" + url.QueryEscape(fdim+"=="+v))
					if code != 200 && code != 400 {
						t.Fatalf("%s under %s==%s: %d %s", prop, fdim, v, code, body)
					}
					noSmallVisitors(t, body, 3)
				}
			}
		}

		// The day's last run, with one value per property: RU, /signup and
		// DE are not in the top, their pair rows go and their filters are
		// refused; KZ's numbers stay.
		if _, err := rollup.New(rollup.Options{Store: st, Sites: cfg, PairTopN: 1, Settle: -1}).Finish(ctx, saltDay); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"country==RU", "page==/signup", "country==DE"} {
			if code, body := get("breakdown?site=pairs&period=today&property=browser&filter=" + url.QueryEscape(f)); code != 400 || !strings.Contains(string(body), "not available") {
				t.Errorf("%s after the day's last run: %d %s", f, code, body)
			}
		}
		if got, want := bd("channel", "country==KZ"), "search:6/6/12 direct:4/4/4 total=10/10/16"; got != want {
			t.Fatalf("KZ after the day's last run: %s, want %s", got, want)
		}
		// No pair cell below k is left, in the sums or on disk.
		var small uint64
		err = st.Query(ctx, "SELECT count() FROM "+st.DB().Stats+".agg_pairs WHERE dim != '' AND value != '' AND visitors != 0 AND visitors < 3",
			func(r store.Row) error { small = r.Uint64(0); return nil })
		if err != nil || small != 0 {
			t.Fatalf("%d pair rows below k stored (%v)", small, err)
		}
		// The one-property rows are what they were.
		var n uint64
		err = st.Query(ctx, fmt.Sprintf("SELECT sum(visits) FROM %s.agg_daily FINAL WHERE site = 'pairs' AND dim = ''", st.DB().Stats),
			func(r store.Row) error { n = r.Uint64(0); return nil })
		if err != nil || n != 15 {
			t.Fatalf("total visits %d (%v)", n, err)
		}
	})
}

// breakdownLine is a breakdown answer as one line, "value:visitors/visits/
// pageviews …  other=… total=…", after checking that no cell shows fewer
// than k visitors.
func breakdownLine(t *testing.T, body []byte, k float64) string {
	t.Helper()
	noSmallVisitors(t, body, k)
	var b struct {
		Results []cell `json:"results"`
		Other   *cell  `json:"other"`
		Total   cell   `json:"total"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range b.Results {
		out = append(out, r.String())
	}
	if b.Other != nil {
		out = append(out, "other="+strings.TrimPrefix(b.Other.String(), statistics.OtherValue))
	}
	return strings.Join(out, " ") + " total=" + b.Total.String()
}
