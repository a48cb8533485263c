package statistics

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

const funnelConfig = `sites:
  - id: exact
    domains: [e.kz]
    disclosure: exact
    k_threshold: 5
    funnels:
      - name: signup
        steps: [{page: /pricing}, {page: "/signup/*"}, {event: signup}, {page: /welcome}]
      - name: smalldrop
        steps: [{page: /a}, {page: /b}, {page: /c}]
  - id: noisy
    domains: [n.kz]
    funnels:
      - name: signup
        steps: [{page: /pricing}, {page: "/signup/*"}, {event: signup}, {page: /welcome}]
`

// funnelRow is one stored funnel row: site, day, funnel, step, visitors,
// visits, ckey.
type funnelRow struct {
	site, day, funnel string
	step              uint8
	visitors, visits  uint64
	ckey              uint64
}

func insertFunnelRows(t *testing.T, st store.Store, rows []funnelRow) {
	t.Helper()
	var out [][]any
	for _, r := range rows {
		d, _ := time.Parse(time.DateOnly, r.day)
		out = append(out, []any{r.site, store.DayOf(d), r.funnel, r.step, store.DayOf(d), r.visitors, r.visits, r.ckey, uint64(1)})
	}
	cols := []string{"site", "day", "funnel", "step", "salt_day", "visitors", "visits", "ckey", "version"}
	if err := st.Insert(t.Context(), st.DB().Stats+"."+rollup.FunnelsTable, cols, out); err != nil {
		t.Fatal(err)
	}
}

// TestFunnelAPI reads stored funnel counts through the API on both
// engines: the list, a funnel's conversions and drop-offs over a range of
// two days, k-suppression of a small step and every step after it (and of
// a step whose drop-off is small), the published cells of a protective
// site, and the errors.
func TestFunnelAPI(t *testing.T) {
	cfg, err := site.Parse([]byte(funnelConfig))
	if err != nil {
		t.Fatal(err)
	}
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		insertFunnelRows(t, st, []funnelRow{
			{"exact", "2026-11-23", "signup", 1, 40, 50, 0},
			{"exact", "2026-11-23", "signup", 2, 20, 22, 0},
			{"exact", "2026-11-23", "signup", 3, 2, 2, 0},
			{"exact", "2026-11-24", "signup", 1, 60, 70, 0},
			{"exact", "2026-11-24", "signup", 2, 30, 38, 0},
			{"exact", "2026-11-24", "signup", 3, 1, 1, 0},
			{"exact", "2026-11-24", "signup", 4, 1, 1, 0},
			// Outside the range and a funnel not configured: not read.
			{"exact", "2026-11-20", "signup", 1, 9, 9, 0},
			{"exact", "2026-11-24", "gone", 1, 9, 9, 0},
			// 100 → 97: three visitors dropped, fewer than k.
			{"exact", "2026-11-24", "smalldrop", 1, 100, 100, 0},
			{"exact", "2026-11-24", "smalldrop", 2, 97, 97, 0},
			{"exact", "2026-11-24", "smalldrop", 3, 50, 50, 0},
			{"noisy", "2026-11-24", "signup", 1, 1000, 1200, 12345},
			{"noisy", "2026-11-24", "signup", 2, 400, 450, 99999},
			{"noisy", "2026-11-24", "signup", 3, 1, 1, 777},
		})
		now := func() time.Time { return time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC) }
		app := NewAPI(APIOptions{Sites: cfg, Store: st, Now: now}).NewApp()
		get := func(path string, wantCode int) string {
			t.Helper()
			resp, err := app.Test(httptest.NewRequest("GET", path, nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != wantCode {
				t.Fatalf("%s: %d %s, want %d", path, resp.StatusCode, b, wantCode)
			}
			return string(b)
		}
		if got, want := get("/api/v1/stats/funnels?site=exact", 200),
			`{"funnels":[{"name":"signup","steps":[{"page":"/pricing"},{"page":"/signup/*"},{"event":"signup"},{"page":"/welcome"}]},{"name":"smalldrop","steps":[{"page":"/a"},{"page":"/b"},{"page":"/c"}]}],"site":"exact"}`; got != want {
			t.Fatalf("list:\n%s\nwant\n%s", got, want)
		}
		var ans struct {
			K     int               `json:"k"`
			Steps []json.RawMessage `json:"steps"`
		}
		steps := func(path string) []string {
			t.Helper()
			if err := json.Unmarshal([]byte(get(path, 200)), &ans); err != nil {
				t.Fatal(err)
			}
			out := make([]string, len(ans.Steps))
			for i, s := range ans.Steps {
				out[i] = string(s)
			}
			return out
		}
		got := steps("/api/v1/stats/funnel?site=exact&funnel=signup&period=custom&from=2026-11-23&to=2026-11-24")
		want := []string{
			`{"step":1,"kind":"page","label":"/pricing","visitors":100,"visits":120,"conversion_from_previous":100,"conversion_from_first":100,"dropoff":0,"dropoff_rate":0,"suppressed":false}`,
			`{"step":2,"kind":"page","label":"/signup/*","visitors":50,"visits":60,"conversion_from_previous":50,"conversion_from_first":50,"dropoff":60,"dropoff_rate":50,"suppressed":false}`,
			// 3 visitors: below k; step 4 (1 visitor) too, and it would be
			// hidden even with 5 or more, as a part of step 3.
			`{"step":3,"kind":"event","label":"signup","visitors":null,"visits":null,"conversion_from_previous":null,"conversion_from_first":null,"dropoff":null,"dropoff_rate":null,"suppressed":true,"k":5}`,
			`{"step":4,"kind":"page","label":"/welcome","visitors":null,"visits":null,"conversion_from_previous":null,"conversion_from_first":null,"dropoff":null,"dropoff_rate":null,"suppressed":true,"k":5}`,
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") || ans.K != 5 {
			t.Fatalf("k %d, steps:\n%s\nwant\n%s", ans.K, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		// A drop-off of 3 visitors would be told by subtraction: step 2
		// is hidden, and step 3 (50 visitors) with it.
		got = steps("/api/v1/stats/funnel?site=exact&funnel=smalldrop&period=today")
		if !strings.Contains(got[0], `"visitors":100`) || !strings.Contains(got[1], `"suppressed":true`) || !strings.Contains(got[2], `"suppressed":true`) {
			t.Fatalf("small drop-off:\n%s", strings.Join(got, "\n"))
		}
		// One day only: steps 3 and 4 are still one visitor each.
		got = steps("/api/v1/stats/funnel?site=exact&funnel=signup&period=today")
		if !strings.Contains(got[1], `"visitors":30`) || !strings.Contains(got[2], `"suppressed":true`) || !strings.Contains(got[3], `"suppressed":true`) {
			t.Fatalf("today:\n%s", strings.Join(got, "\n"))
		}

		// The protective site: published numbers (never more than ±2 off),
		// k 1, steps never rising, the same answer twice.
		got = steps("/api/v1/stats/funnel?site=noisy&funnel=signup&period=today")
		if ans.K != 1 || len(got) != 4 {
			t.Fatalf("noisy: k %d, %d steps", ans.K, len(got))
		}
		var prev uint64 = 1 << 62
		for i, raw := range got {
			var s FunnelStep
			if err := json.Unmarshal([]byte(raw), &s); err != nil {
				t.Fatal(err)
			}
			truth := []uint64{1000, 400, 1, 0}[i]
			if s.Suppressed || s.Visitors > prev || s.Visitors+2 < truth || s.Visitors > truth+2 {
				t.Fatalf("noisy step %d: %s (true %d, previous %d)", i+1, raw, truth, prev)
			}
			prev = s.Visitors
		}
		if again := steps("/api/v1/stats/funnel?site=noisy&funnel=signup&period=today"); strings.Join(again, "") != strings.Join(got, "") {
			t.Fatalf("a second answer differs:\n%s\n%s", again, got)
		}

		get("/api/v1/stats/funnel?site=exact&funnel=nope", 404)
		get("/api/v1/stats/funnel?site=exact", 400)
		get("/api/v1/stats/funnel?site=exact&funnel=signup&filter=page==/", 400)
		get("/api/v1/stats/funnel?site=nope&funnel=signup", 404)
	})
}
