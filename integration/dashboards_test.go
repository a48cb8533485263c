package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/dashboards"
	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/dashboards/statistics"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// dashFixture is the dashboards server over a fixed set of aggregates:
// site alpha (k = 5) with two days of numbers, site beta with one, a
// viewer of alpha (ann) and an admin.
type dashFixture struct {
	srv  *dashboards.Server
	ann  *http.Cookie
	root *http.Cookie
}

type aggRow struct {
	site, day, dim, value                                  string
	visitors, visits, pageviews, bounces, duration, events uint64
}

var dashData = []aggRow{
	{"alpha", "2026-11-23", "", "", 20, 25, 60, 10, 2500, 4},
	{"alpha", "2026-11-24", "", "", 30, 35, 70, 14, 3500, 6},
	{"alpha", "2026-11-23", "page", "/", 10, 12, 30, 4, 900, 0},
	{"alpha", "2026-11-23", "page", "/pricing", 3, 3, 10, 1, 100, 0},
	{"alpha", "2026-11-23", "page", "/secret", 1, 1, 1, 1, 0, 0},
	{"alpha", "2026-11-24", "page", "/", 12, 14, 30, 6, 1200, 0},
	{"alpha", "2026-11-24", "page", "/pricing", 8, 9, 20, 2, 600, 0},
	{"alpha", "2026-11-24", "page", "/secret", 4, 4, 4, 4, 0, 0},
	{"alpha", "2026-11-24", "page", "/rare", 1, 1, 1, 1, 0, 0},
	{"alpha", "2026-11-24", "country", "KZ", 25, 29, 60, 10, 3000, 5},
	{"alpha", "2026-11-24", "country", "RU", 3, 4, 7, 2, 400, 1},
	{"alpha", "2026-11-24", "country", "DE", 2, 2, 3, 2, 100, 0},
	{"alpha", "2026-11-24", "event", "signup", 6, 6, 0, 0, 0, 6},
	{"beta", "2026-11-24", "", "", 9, 9, 9, 9, 0, 0},
}

// Hourly rows of alpha on 2026-11-24 (UTC): the total and /pricing.
var dashHours = []struct {
	hour, dim, value string
	visitors         uint64
}{
	{"10", "", "", 20}, {"11", "", "", 8}, {"12", "", "", 2},
	{"10", "page", "/pricing", 5}, {"11", "page", "/pricing", 2}, {"12", "page", "/pricing", 1},
}

func newDashFixture(t *testing.T, st store.Store) *dashFixture {
	t.Helper()
	ctx := t.Context()
	cols := []string{"site", "day", "dim", "value", "salt_day", "visitors", "visits", "pageviews", "bounces", "duration", "events", "version"}
	var rows [][]any
	for _, r := range dashData {
		d, _ := time.Parse(time.DateOnly, r.day)
		rows = append(rows, []any{r.site, store.DayOf(d), r.dim, r.value, store.DayOf(d), r.visitors, r.visits, r.pageviews, r.bounces, r.duration, r.events, uint64(1)})
	}
	if err := st.Insert(ctx, st.DB().Stats+".agg_daily", cols, rows); err != nil {
		t.Fatal(err)
	}
	cols[1] = "hour"
	rows = rows[:0]
	day := store.Day{Year: 2026, Month: 11, Day: 24}
	for _, h := range dashHours {
		n, _ := strconv.Atoi(h.hour)
		at := time.Date(2026, 11, 24, n, 0, 0, 0, time.UTC)
		rows = append(rows, []any{"alpha", at, h.dim, h.value, day, h.visitors, h.visitors, h.visitors, uint64(0), uint64(0), uint64(0), uint64(1)})
	}
	if err := st.Insert(ctx, st.DB().Stats+".agg_hourly", cols, rows); err != nil {
		t.Fatal(err)
	}
	cfg, err := site.Parse([]byte(`
sites:
  - id: alpha
    domains: [alpha.example]
    timezone: UTC
    disclosure: exact # these tests check k-suppression on exact counts
  - id: beta
    domains: [beta.example]
    timezone: UTC
    disclosure: exact
`))
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC) }
	dir := staff.NewDirectory(staff.DirectoryOptions{Store: st, Now: now})
	hash, err := staff.HashPassword("a long enough password", staff.HashParams{MemoryKiB: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []*staff.User{{Name: "ann", Role: staff.RoleViewer, Sites: []string{"alpha"}}, {Name: "root", Role: staff.RoleAdmin}} {
		if err := dir.PutUser(ctx, u, hash); err != nil {
			t.Fatal(err)
		}
	}
	f := &dashFixture{srv: dashboards.New(dashboards.Options{Sites: cfg, Store: st, Directory: dir, Now: now})}
	login := func(name string) *http.Cookie {
		form := url.Values{"user": {name}, "password": {"a long enough password"}}
		req := httptest.NewRequest("POST", "https://dash.test/app/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://dash.test")
		resp, err := f.srv.App().Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range resp.Cookies() {
			if c.Name == dashboards.CookieName && c.Secure {
				return c
			}
		}
		t.Fatalf("sign-in of %s: %d, no secure session cookie", name, resp.StatusCode)
		return nil
	}
	f.ann, f.root = login("ann"), login("root")
	return f
}

func (f *dashFixture) get(t *testing.T, c *http.Cookie, path string) (int, []byte) {
	t.Helper()
	req := httptest.NewRequest("GET", "https://dash.test"+path, nil)
	req.AddCookie(c)
	resp, err := f.srv.App().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, b
}

func (f *dashFixture) getJSON(t *testing.T, path string, out any) []byte {
	t.Helper()
	code, b := f.get(t, f.ann, path)
	if code != 200 {
		t.Fatalf("%s: %d %s", path, code, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

type cell struct {
	Value      string   `json:"value"`
	Other      bool     `json:"other"`
	Visitors   *uint64  `json:"visitors"`
	Visits     *uint64  `json:"visits"`
	Pageviews  *uint64  `json:"pageviews"`
	Events     *uint64  `json:"events"`
	Views      *float64 `json:"views_per_visit"`
	Bounce     *float64 `json:"bounce_rate"`
	Duration   *float64 `json:"visit_duration"`
	Suppressed bool     `json:"suppressed"`
	K          int      `json:"k"`
}

func (c cell) String() string {
	if c.Suppressed {
		return c.Value + ":<" + strconv.Itoa(c.K)
	}
	s := c.Value + ":" + strconv.FormatUint(*c.Visitors, 10) + "/" + strconv.FormatUint(*c.Visits, 10) + "/" + strconv.FormatUint(*c.Pageviews, 10)
	return strings.TrimPrefix(s, ":")
}

// TestDashboardsAPIExactNumbers reads the fixed aggregates through the
// signed-in API on both engines.
func TestDashboardsAPIExactNumbers(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		f := newDashFixture(t, st)
		var agg struct {
			K        int  `json:"k"`
			Results  cell `json:"results"`
			Previous struct {
				Range   struct{ From, To string } `json:"range"`
				Results cell                      `json:"results"`
			} `json:"previous"`
		}
		f.getJSON(t, "/api/v1/stats/aggregate?site=alpha&period=today&compare=previous", &agg)
		r := agg.Results
		if r.String() != "30/35/70" || *r.Events != 6 || *r.Views != 2 || *r.Bounce != 40 || *r.Duration != 100 || r.Suppressed || agg.K != 5 {
			t.Fatalf("today %v %+v", r, agg)
		}
		p := agg.Previous.Results
		if p.String() != "20/25/60" || *p.Views != 2.4 || *p.Bounce != 40 || *p.Duration != 100 || agg.Previous.Range.From != "2026-11-23" {
			t.Fatalf("yesterday %v", p)
		}
		f.getJSON(t, "/api/v1/stats/aggregate?site=alpha&period=7d", &agg)
		if agg.Results.String() != "50/60/130" {
			t.Fatalf("7d: %v", agg.Results)
		}
		// A filtered total is a cell: /secret has 4 visitors today.
		f.getJSON(t, "/api/v1/stats/aggregate?site=alpha&period=today&filter=page==/secret", &agg)
		if !agg.Results.Suppressed || agg.Results.Visitors != nil || agg.Results.K != 5 {
			t.Fatalf("filtered /secret: %+v", agg.Results)
		}
		f.getJSON(t, "/api/v1/stats/aggregate?site=alpha&period=today&filter=page==/pricing", &agg)
		if agg.Results.String() != "8/9/20" {
			t.Fatalf("filtered /pricing: %v", agg.Results)
		}

		type breakdown struct {
			Results []cell `json:"results"`
			Other   *cell  `json:"other"`
			Total   cell   `json:"total"`
		}
		bd := func(q string) string {
			t.Helper()
			var b breakdown
			f.getJSON(t, "/api/v1/stats/breakdown?site=alpha&"+q, &b)
			var out []string
			for _, r := range b.Results {
				out = append(out, r.String())
			}
			if b.Other != nil {
				if b.Other.Value != statistics.OtherValue || !b.Other.Other {
					t.Fatalf("other row %+v", b.Other)
				}
				out = append(out, "other="+b.Other.String())
			}
			return strings.Join(out, " ") + " total=" + b.Total.String()
		}
		for q, want := range map[string]string{
			// Small rows fold into "other", which reaches k.
			"period=today&property=page": "/:12/14/30 /pricing:8/9/20 other=(other):5/5/5 total=25/28/55",
			// The limit folds a row above k too.
			"period=today&property=page&limit=1": "/:12/14/30 other=(other):13/14/25 total=25/28/55",
			// Over two days /secret (5) reaches k; /rare (1) alone would
			// be a small "other", so /secret joins it.
			"period=7d&property=page":       "/:22/26/60 /pricing:11/12/30 other=(other):6/6/6 total=39/44/96",
			"period=today&property=country": "KZ:25/29/60 other=(other):5/6/10 total=30/35/70",
			// Yesterday: /pricing (3) and /secret (1) fold, and as 4 < k the
			// shown / (10) joins them: nothing is shown but the total.
			"period=yesterday&property=page": "other=(other):14/16/41 total=14/16/41",
			// Same-property filter: the row itself, suppressed if small.
			"period=today&property=page&filter=page==/secret":  "/secret:<5 total=:<5",
			"period=today&property=page&filter=page==/pricing": "/pricing:8/9/20 total=8/9/20",
			"period=today&property=event":                      "signup:6/6/0 total=6/6/0",
		} {
			if got := bd(q); got != want {
				t.Errorf("%s:\n got %s\nwant %s", q, got, want)
			}
		}

		// The filtered hourly series: 5, 2 and 1 visitors; 2 and 1 are
		// hidden, and as they add up to less than k the 5 is hidden too.
		var ts struct {
			Interval string `json:"interval"`
			Results  []struct {
				Date string `json:"date"`
				cell
			} `json:"results"`
		}
		f.getJSON(t, "/api/v1/stats/timeseries?site=alpha&period=today", &ts)
		if ts.Interval != "hour" || len(ts.Results) != 24 || *ts.Results[10].Visitors != 20 || *ts.Results[12].Visitors != 2 {
			t.Fatalf("unfiltered series: %+v", ts.Results[10:13])
		}
		f.getJSON(t, "/api/v1/stats/timeseries?site=alpha&period=today&filter=page==/pricing", &ts)
		for _, h := range []int{10, 11, 12} {
			if !ts.Results[h].Suppressed {
				t.Fatalf("filtered hour %d shown: %+v", h, ts.Results[h])
			}
		}
		if ts.Results[9].Suppressed || *ts.Results[9].Visitors != 0 {
			t.Fatalf("an empty hour: %+v", ts.Results[9])
		}
		var daily struct {
			Results []struct {
				Date string `json:"date"`
				cell
			} `json:"results"`
		}
		f.getJSON(t, "/api/v1/stats/timeseries?site=alpha&period=7d", &daily)
		if len(daily.Results) != 7 || daily.Results[5].Date != "2026-11-23" || *daily.Results[5].Visitors != 20 || *daily.Results[6].Visitors != 30 {
			t.Fatalf("daily series: %+v", daily.Results)
		}

		// CSV: the same rows, "< k" where hidden, formulas defused.
		code, csv := f.get(t, f.ann, "/api/v1/stats/breakdown?site=alpha&period=today&property=page&format=csv")
		want := "page,visitors,visits,pageviews,events,views_per_visit,bounce_rate,visit_duration\n" +
			"/,12,14,30,0,2.14,42.86,85.71\n/pricing,8,9,20,0,2.22,22.22,66.67\n(other),5,5,5,0,1,100,0\n(total),25,28,55,0,1.96,46.43,64.29\n"
		if code != 200 || string(csv) != want {
			t.Fatalf("csv %d:\n%s\nwant\n%s", code, csv, want)
		}
		_, csv = f.get(t, f.ann, "/api/v1/stats/breakdown?site=alpha&period=today&property=page&filter=page==/secret&format=csv")
		if !strings.Contains(string(csv), "/secret,< 5,< 5") {
			t.Fatalf("suppressed csv: %s", csv)
		}

		// Site authorisation: ann sees alpha only, root sees both.
		if code, b := f.get(t, f.ann, "/api/v1/stats/aggregate?site=beta&period=today"); code != 404 {
			t.Fatalf("ann on beta: %d %s", code, b)
		}
		if code, b := f.get(t, f.root, "/api/v1/stats/aggregate?site=beta&period=today"); code != 200 || !strings.Contains(string(b), `"visitors":9`) {
			t.Fatalf("root on beta: %d %s", code, b)
		}
		var me struct {
			Sites []struct{ ID string } `json:"sites"`
		}
		f.getJSON(t, "/api/v1/me", &me)
		if len(me.Sites) != 1 || me.Sites[0].ID != "alpha" {
			t.Fatalf("ann's sites: %+v", me.Sites)
		}
	})
}

// TestDashboardsNeverShowSmallCounts asks every breakdown of every
// property over several periods and limits, and every filtered total and
// series, and checks that no visitors count below k is in any answer.
func TestDashboardsNeverShowSmallCounts(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		f := newDashFixture(t, st)
		periods := []string{"period=today", "period=yesterday", "period=7d", "period=custom&from=2026-11-24&to=2026-11-24"}
		var values []string
		for _, r := range dashData {
			if r.dim != "" {
				values = append(values, r.dim+"=="+r.value)
			}
		}
		checked := 0
		for _, p := range periods {
			for _, dim := range rollup.Dimensions {
				for _, limit := range []string{"1", "2", "3", "100"} {
					code, b := f.get(t, f.ann, "/api/v1/stats/breakdown?site=alpha&"+p+"&property="+dim+"&limit="+limit)
					if code != 200 {
						t.Fatalf("%s %s: %d %s", p, dim, code, b)
					}
					noSmallVisitors(t, b, 5)
					code, b = f.get(t, f.ann, "/api/v1/stats/breakdown?site=alpha&"+p+"&property="+dim+"&limit="+limit+"&format=csv")
					if code != 200 {
						t.Fatalf("csv %d", code)
					}
					for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
						fields := strings.Split(line, ",")
						if n, err := strconv.Atoi(fields[1]); err == nil && n > 0 && n < 5 {
							t.Fatalf("csv line %q", line)
						}
					}
					checked++
				}
			}
			for _, v := range values {
				for _, ep := range []string{"aggregate", "timeseries"} {
					code, b := f.get(t, f.ann, "/api/v1/stats/"+ep+"?site=alpha&"+p+"&filter="+url.QueryEscape(v))
					if code != 200 {
						t.Fatalf("%s %s: %d %s", ep, v, code, b)
					}
					noSmallVisitors(t, b, 5)
					checked++
				}
			}
		}
		if checked < 300 {
			t.Fatalf("only %d answers checked", checked)
		}
	})
}

func noSmallVisitors(t *testing.T, body []byte, k float64) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			if n, ok := x["visitors"].(float64); ok && n > 0 && n < k {
				t.Fatalf("a cell shows %v visitors (k=%v): %s", n, k, body)
			}
			for _, y := range x {
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	walk(v)
}
