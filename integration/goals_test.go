package integration

import (
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// convRow is a row of an answer with goal=: its numbers (nil when
// suppressed) and conversions.
type convRow struct {
	Value       string   `json:"value"`
	Other       bool     `json:"other"`
	Visitors    *uint64  `json:"visitors"`
	Events      *uint64  `json:"events"`
	Suppressed  bool     `json:"suppressed"`
	Conversions *uint64  `json:"conversions"`
	Rate        *float64 `json:"conversion_rate"`
}

func (r convRow) String() string {
	s := func(v *uint64) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprint(*v)
	}
	rate := "-"
	if r.Rate != nil {
		rate = fmt.Sprint(*r.Rate)
	}
	return fmt.Sprintf("%s:%s/%s/%s", r.Value, s(r.Visitors), s(r.Conversions), rate)
}

type convBreakdown struct {
	Results []convRow `json:"results"`
	Other   *convRow  `json:"other"`
	Total   convRow   `json:"total"`
}

func (b convBreakdown) String() string {
	var parts []string
	for _, r := range b.Results {
		parts = append(parts, r.String())
	}
	if b.Other != nil {
		parts = append(parts, "other="+b.Other.String())
	}
	return strings.Join(parts, " ") + " total=" + b.Total.String()
}

// TestGoalsAndProperties sends visits through the collector's beacon and
// Plausible's drop-in API, rolls them up and reads conversions and
// property breakdowns back from the stats API, on both engines: 11
// visitors (8 from KZ, 3 from RU), 4 of them on a /pricing/ page, 8
// sending signup with a plan property (one an e-mail address, one with a
// key the site does not list); the site's k is 3.
func TestGoalsAndProperties(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		s := newStack(t, st)
		// One /24 per country: the build of the browser tells the
		// visitors apart (the hash is of the truncated address).
		send := func(ip, target, body string) {
			t.Helper()
			visitor := ip[strings.LastIndexByte(ip, '.')+1:]
			req := httptest.NewRequest("POST", target, strings.NewReader(body))
			req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
			req.Header.Set("Origin", "https://gk.example")
			if code := s.send(t, req, ip, strings.Replace(chromeWin, "131.0.0.0", "131.0.0."+visitor, 1)); code != 202 {
				t.Fatalf("%s %s: %d", target, body, code)
			}
		}
		beacon := func(ip, page, name, props string) {
			t.Helper()
			send(ip, "/e", fmt.Sprintf(`{"s":"gk","u":"https://gk.example%s","n":%q,"p":%s}`, page, name, props))
		}
		plans := []string{"pro", "pro", "pro", "pro", "team", "team", "someone@example.com", "pro"}
		for i := 1; i <= 11; i++ {
			ip := fmt.Sprintf("203.0.113.%d", i)
			if i > 8 {
				ip = fmt.Sprintf("198.51.100.%d", i)
			}
			s.at(time.Duration(i) * time.Minute)
			beacon(ip, "/", "", "null")
			if i <= 4 {
				s.at(time.Duration(i)*time.Minute + 10*time.Second)
				beacon(ip, "/pricing/a", "", "null")
			}
			if i <= 8 {
				s.at(time.Duration(i)*time.Minute + 20*time.Second)
				props := fmt.Sprintf(`{"plan":%q}`, plans[i-1])
				if i == 8 {
					props = `{"plan":"pro","colour":"red"}`
				}
				if i == 7 {
					// Through Plausible's API: its props take the same path.
					send(ip, "/api/event", fmt.Sprintf(`{"n":"signup","u":"https://gk.example/","d":"gk.example","props":%s}`, props))
					continue
				}
				beacon(ip, "/", "signup", props)
			}
		}
		s.flushAndRollup(t)

		get := func(path string, out any) {
			t.Helper()
			if code := s.getJSON(t, path, out); code != 200 {
				t.Fatalf("%s: %d", path, code)
			}
		}
		// The top line: 8 of 11 visitors converted.
		var agg struct {
			Goal    string  `json:"goal"`
			Results convRow `json:"results"`
		}
		get("/api/v1/stats/aggregate?site=gk&period=day&date=2026-11-24&goal=Signup", &agg)
		if got := agg.Results.String(); agg.Goal != "Signup" || got != ":11/8/72.73" {
			t.Errorf("aggregate with goal: %s %s, want :11/8/72.73", agg.Goal, got)
		}
		// The goals panel: each goal's conversions and rate.
		var goals convBreakdown
		get("/api/v1/stats/breakdown?site=gk&period=day&date=2026-11-24&property=goal", &goals)
		if got, want := goals.String(), "Signup:8/8/72.73 Pricing page:4/4/36.36 total=:12/-/-"; got != want {
			t.Errorf("goals panel: %s, want %s", got, want)
		}
		// Conversions by country: RU's visitors converted none, and as
		// nothing was folded that is a 0, not an unknown.
		var byCountry convBreakdown
		get("/api/v1/stats/breakdown?site=gk&period=day&date=2026-11-24&property=country&goal=Signup", &byCountry)
		if got, want := byCountry.String(), "KZ:8/8/100 RU:3/0/0 total=:11/8/72.73"; got != want {
			t.Errorf("conversions by country: %s, want %s", got, want)
		}
		// Conversions by page: the pair cells of (goal, page).
		var byPage convBreakdown
		get("/api/v1/stats/breakdown?site=gk&period=day&date=2026-11-24&property=page&goal=Pricing+page", &byPage)
		if got, want := byPage.String(), "/:11/4/36.36 /pricing/a:4/4/100 total=:15/8/53.33"; got != want {
			t.Errorf("conversions by page: %s, want %s", got, want)
		}
		// The chart with a goal.
		var series struct {
			Results []convRow `json:"results"`
		}
		get("/api/v1/stats/timeseries?site=gk&period=day&date=2026-11-24&goal=Signup", &series)
		converted := uint64(0)
		for _, p := range series.Results {
			if p.Conversions != nil {
				converted += *p.Conversions
			}
		}
		if converted != 8 {
			t.Errorf("the hourly series converts %d visitors, want 8: %+v", converted, series.Results)
		}

		// Properties: pro 5 (one sent with a key the site does not list),
		// team 2, the e-mail address scrubbed to :email (1). team and
		// :email are below k = 3 and fold into (other), which holds 3.
		var plan convBreakdown
		get("/api/v1/stats/breakdown?site=gk&period=day&date=2026-11-24&property=prop:plan", &plan)
		if got, want := plan.String(), "pro:5/-/- other=(other):3/-/- total=:8/-/-"; got != want {
			t.Errorf("plan breakdown: %s, want %s", got, want)
		}
		var stored []string
		if err := st.Query(t.Context(), "SELECT arrayStringConcat(prop_values, ',') FROM "+st.DB().Stats+".events WHERE site = 'gk' AND notEmpty(prop_keys) ORDER BY ts", func(r store.Row) error {
			stored = append(stored, r.String(0))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(stored, " "); got != "pro pro pro pro team team :email pro" {
			t.Errorf("stored plans %q", got)
		}
		for table, cols := range map[string]string{"events": "arrayStringConcat(prop_keys), arrayStringConcat(prop_values), name, path",
			"agg_daily": "dim, value", "agg_hourly": "dim, value", "agg_pairs": "dim, value, fdim, fvalue"} {
			var n uint64
			q := fmt.Sprintf("SELECT count() FROM %s.%s WHERE position(concat(%s), 'someone@') > 0 OR position(concat(%s), 'colour') > 0", st.DB().Stats, table, cols, cols)
			if err := st.Query(t.Context(), q, func(r store.Row) error { n = r.Uint64(0); return nil }); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%s holds the e-mail address or the unlisted key in %d rows", table, n)
			}
		}
		if n := counterValue(t, s, "sezim_pipeline_properties_dropped_total", "reason", "unknown_key"); n != 1 {
			t.Errorf("unknown property keys counted %v, want 1", n)
		}
		// An unknown property is refused like any unknown breakdown.
		if code := s.getJSON(t, "/api/v1/stats/breakdown?site=gk&period=day&property=prop:Plan-X", nil); code != 400 {
			t.Errorf("a bad property name: %d, want 400", code)
		}

		// A goal made in the console counts from the next run on, for
		// every day whose events are still there.
		app := s.api.NewApp()
		req := httptest.NewRequest("PUT", "/api/v1/stats/goals", strings.NewReader(`{"site":"gk","name":"Home","page":"/"}`))
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("PUT goal: %d %s", resp.StatusCode, body)
		}
		resp, err = app.Test(httptest.NewRequest("PUT", "/api/v1/stats/goals", strings.NewReader(`{"site":"gk","name":"Signup","page":"/x"}`)), -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 409 {
			t.Errorf("redefining a goal of the site file: %d, want 409", resp.StatusCode)
		}
		s.at(time.Hour)
		s.flushAndRollup(t)
		get("/api/v1/stats/breakdown?site=gk&period=day&date=2026-11-24&property=goal", &goals)
		if got, want := goals.String(), "Home:11/11/100 Signup:8/8/72.73 Pricing page:4/4/36.36 total=:23/-/-"; got != want {
			t.Errorf("goals panel after a console goal: %s, want %s", got, want)
		}
		var list struct {
			Goals []struct {
				Name   string `json:"name"`
				Source string `json:"source"`
			} `json:"goals"`
		}
		get("/api/v1/stats/goals?site=gk", &list)
		if fmt.Sprint(list.Goals) != "[{Signup file} {Pricing page file} {Home console}]" {
			t.Errorf("goals list %v", list.Goals)
		}
		if code := s.getJSON(t, "/api/v1/stats/aggregate?site=gk&period=day&goal=Nope", nil); code != 400 {
			t.Errorf("an unknown goal: %d, want 400", code)
		}
		// Under one filter: the pair cell of KZ and the goal, over KZ's
		// visitors (RU converted none, so nothing is folded).
		get("/api/v1/stats/aggregate?site=gk&period=day&date=2026-11-24&goal=Signup&filter="+url.QueryEscape("country==KZ"), &agg)
		if got := agg.Results.String(); got != ":8/8/100" {
			t.Errorf("aggregate with goal under country==KZ: %s, want :8/8/100", got)
		}
	})
}

// counterValue is the value of a counter of the stack's registry with one
// label's value.
func counterValue(t *testing.T, s *stack, name, label, value string) float64 {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
