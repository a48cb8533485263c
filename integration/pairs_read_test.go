package integration

import (
	"io"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/dashboards/statistics"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestFilteredBreakdownFoldsOpenCells stores the pair rows of /pricing as
// the rollup leaves them: salt day Nov 23 finished (cells below k = 3
// folded into value ”), salt day Nov 24 still open (every cell exact,
// DE and UZ with one visitor each). The filtered breakdown must fold the
// open day's small cells itself, per salt day and day, before adding the
// days up: DE has 3 on the 23rd and 1 on the 24th, which is folded there
// (as it will be when the day finishes), not added to the 3.
func TestFilteredBreakdownFoldsOpenCells(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		d23, d24 := store.Day{Year: 2026, Month: 11, Day: 23}, store.Day{Year: 2026, Month: 11, Day: 24}
		daily := [][]any{
			{"fold", d23, "page", "/pricing", d23, uint64(9), uint64(9), uint64(11), uint64(1), uint64(60), uint64(0), uint64(1)},
			{"fold", d24, "page", "/pricing", d24, uint64(11), uint64(11), uint64(15), uint64(2), uint64(90), uint64(0), uint64(1)},
		}
		if err := st.Insert(ctx, st.DB().Stats+".agg_daily", []string{"site", "day", "dim", "value", "salt_day",
			"visitors", "visits", "pageviews", "bounces", "duration", "events", "version"}, daily); err != nil {
			t.Fatal(err)
		}
		// agg_pairs adds rows up: a cell may be several rows until the
		// table merges them (KZ on the 24th is 4 + 2).
		pair := func(day store.Day, dim, value string, visitors, pageviews int64) []any {
			return []any{"fold", day, "page", "/pricing", dim, value, day, visitors, visitors, pageviews, int64(0), 10 * visitors, int64(0)}
		}
		pairs := [][]any{
			pair(d23, "", "", 9, 21),
			pair(d23, "country", "RU", 4, 9),
			pair(d23, "country", "DE", 3, 7),
			pair(d23, "country", "", 2, 5), // KZ 2, folded when the day finished
			pair(d24, "", "", 11, 24),
			pair(d24, "country", "KZ", 4, 8),
			pair(d24, "country", "KZ", 2, 4),
			pair(d24, "country", "RU", 3, 6),
			pair(d24, "country", "DE", 1, 3),
			pair(d24, "country", "UZ", 1, 3),
		}
		if err := st.Insert(ctx, st.DB().Stats+".agg_pairs", []string{"site", "day", "fdim", "fvalue", "dim", "value", "salt_day",
			"visitors", "visits", "pageviews", "bounces", "duration", "events"}, pairs); err != nil {
			t.Fatal(err)
		}
		cfg, err := site.Parse([]byte("sites:\n  - id: fold\n    domains: [fold.example]\n    timezone: UTC\n    k_threshold: 3\n    disclosure: exact\n"))
		if err != nil {
			t.Fatal(err)
		}
		now := func() time.Time { return time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC) }
		app := statistics.NewAPI(statistics.APIOptions{Sites: cfg, Store: st, Now: now}).NewApp()
		bd := func(period string) string {
			t.Helper()
			resp, err := app.Test(httptest.NewRequest("GET", "/api/v1/stats/breakdown?site=fold&property=country&period="+period+"&filter="+url.QueryEscape("page==/pricing"), nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			return breakdownLine(t, body, 3)
		}
		for _, c := range []struct{ period, want string }{
			// The open day alone: DE and UZ (1 each) folded, and as that
			// remainder (2) is below k, RU joins it.
			{"today", "KZ:6/6/12 other=:5/5/12 total=11/11/24"},
			// Both days: RU 4 + 3, KZ only 6 (its 2 were folded on the 23rd),
			// DE only its 3 of the 23rd: its 1 of the 24th is folded on that
			// day, as the rollup will fold it, so the remainder is 2 + 1 + 1.
			{"7d", "RU:7/7/15 KZ:6/6/12 DE:3/3/7 other=:4/4/11 total=20/20/45"},
		} {
			if got := bd(c.period); got != c.want {
				t.Errorf("%s: got %s, want %s", c.period, got, c.want)
			}
		}
	})
}
