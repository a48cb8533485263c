package integration

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
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

// The attack: a curious viewer of the stats API who knows the shape of the
// traffic tries to learn the planted one-visitor cells. Two kinds:
//
//   - page cells: on day 1 each of the pages /p/0 … /p/N-1 has five
//     visitors, on day 2 exactly one (and the site other traffic);
//   - one-visitor days: days on which the whole site had one visitor.
//
// For each, the viewer tries every differencing the API allows: nested and
// overlapping ranges of a breakdown, a filtered aggregate against its
// sub-range, a filtered breakdown's total, the hours against the day, the
// CSV export, and the same question three times. A planted cell counts as
// recovered when any route gives its true count, 1.
const (
	attackPages  = 24
	attackSingle = 6
)

var (
	attackDay1 = time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	attackDay2 = attackDay1.AddDate(0, 0, 1)
	attackNow  = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
)

func TestDisclosureAttack(t *testing.T) {
	cfg, err := site.Parse([]byte(`
sites:
  - id: open
    domains: [open.example]
    timezone: UTC
    k_threshold: 5
    disclosure: exact
  - id: guarded
    domains: [guarded.example]
    timezone: UTC
    k_threshold: 5
`))
	if err != nil {
		t.Fatal(err)
	}
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		rng := rand.New(rand.NewPCG(14, 14))
		var rows [][]any
		for _, s := range cfg.Sites {
			for _, e := range attackEvents(rng, s.ID) {
				rows = append(rows, pipeline.EventRowAt(&e, "b1", attackNow))
			}
		}
		if err := st.Insert(ctx, st.DB().Stats+".events", pipeline.EventColumns, rows); err != nil {
			t.Fatal(err)
		}
		now := func() time.Time { return attackNow }
		r := rollup.New(rollup.Options{Store: st, Sites: cfg, Now: now, Settle: -1})
		for d := 0; d < 2+attackSingle; d++ {
			if _, err := r.Finish(ctx, attackDay1.AddDate(0, 0, d)); err != nil {
				t.Fatal(err)
			}
		}
		app := statistics.NewAPI(statistics.APIOptions{Sites: cfg, Store: st, Now: now}).NewApp()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = app.Listener(ln) }()
		t.Cleanup(func() { _ = app.Shutdown() })
		base := "http://" + ln.Addr().String() + "/api/v1/stats"

		exact := attack(t, base, "open")
		if exact.recovered != exact.planted {
			t.Errorf("exact mode: the attack recovered %d of %d planted cells; it must recover all, or it proves nothing (%v)",
				exact.recovered, exact.planted, exact.misses)
		}
		guarded := attack(t, base, "guarded")
		// The guarantee: a count of 1 is published as 1 with probability
		// SameProb(1), and every route reads the same published cell, so
		// the rate may not exceed that beyond chance (4 standard
		// deviations: the visitor hashes are seeded, so this is one fixed
		// draw, not a flaky one).
		p := rollup.Perturbation.SameProb(1)
		n := float64(guarded.planted)
		bound := int(n*p + 4*math.Sqrt(n*p*(1-p)))
		t.Logf("recovered: exact %d of %d, cellkey %d of %d (guarantee %.0f%%, bound %d); routes that disagreed: %d",
			exact.recovered, exact.planted, guarded.recovered, guarded.planted, 100*p, bound, guarded.disagreed)
		if guarded.recovered > bound {
			t.Errorf("cellkey mode: the attack recovered %d of %d planted cells, more than the %d the guarantee allows", guarded.recovered, guarded.planted, bound)
		}
		if guarded.disagreed > 0 {
			t.Errorf("cellkey mode: %d planted cells read differently through different routes: a viewer could average them", guarded.disagreed)
		}
	})
}

// attackEvents makes one site's traffic: day 1 five visitors of each
// planted page and some of the home page; day 2 one visitor of each
// planted page and the same background; then attackSingle days of one
// visitor each.
func attackEvents(rng *rand.Rand, id string) []event.Event {
	var evs []event.Event
	view := func(day time.Time, at time.Duration, path string) uint64 {
		v := rng.Uint64()
		evs = append(evs, event.Event{SiteID: id, SaltDay: day, Time: day.Add(at), Visitor: v, Kind: event.KindPageview,
			Path: path, Channel: "direct", Country: "KZ", Browser: "Chrome", BrowserVersion: 131, OS: "Android", Device: "phone"})
		return v
	}
	for i := range attackPages {
		for j := range 5 {
			view(attackDay1, time.Duration(8*60+i*5+j)*time.Minute, fmt.Sprintf("/p/%d", i))
		}
		view(attackDay2, time.Duration(8*60+i*5)*time.Minute, fmt.Sprintf("/p/%d", i))
	}
	for _, day := range []time.Time{attackDay1, attackDay2} {
		for j := range 30 {
			view(day, time.Duration(6*60+j*20)*time.Minute, "/")
		}
	}
	for d := range attackSingle {
		view(attackDay2.AddDate(0, 0, 1+d), 9*time.Hour, "/")
	}
	return evs
}

type attackResult struct {
	planted, recovered, disagreed int
	misses                        []string
}

// attack plays the viewer against one site and scores it.
func attack(t *testing.T, base, id string) attackResult {
	t.Helper()
	day := func(d time.Time) string { return d.Format(time.DateOnly) }
	span := func(from, to time.Time) string { return "period=custom&from=" + day(from) + "&to=" + day(to) }
	// Answers are remembered by URL (many pages share one breakdown);
	// the repeated questions below ask again on purpose.
	seen := map[string][]byte{}
	fresh := false
	get := func(path string, q string) []byte {
		t.Helper()
		u := base + path + "?site=" + id + "&" + q
		if b, ok := seen[u]; ok && !fresh {
			return b
		}
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s?%s: %d %s", path, q, resp.StatusCode, body)
		}
		seen[u] = body
		return body
	}
	// Each read returns a visitors number, or nil where the answer hides
	// it. A value missing from a breakdown reads as 0 (a published 0),
	// but a suppressed one as nil.
	row := func(q, value string) *int64 {
		var b struct {
			Results []struct {
				Value    string  `json:"value"`
				Visitors *uint64 `json:"visitors"`
			} `json:"results"`
		}
		mustJSON(t, get("/breakdown", q), &b)
		for _, r := range b.Results {
			if r.Value == value {
				return ptr(r.Visitors)
			}
		}
		var zero int64
		return &zero
	}
	csvRow := func(q, value string) *int64 {
		recs, err := csv.NewReader(strings.NewReader(string(get("/breakdown", q+"&format=csv")))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs[1:] {
			if r[0] == value {
				n, err := strconv.ParseInt(r[1], 10, 64)
				if err != nil {
					return nil // "< k"
				}
				return &n
			}
		}
		var zero int64
		return &zero
	}
	total := func(q string) *int64 {
		// An aggregate's number is its results, a breakdown's its total.
		var b struct {
			Results json.RawMessage `json:"results"`
			Total   *struct {
				Visitors *uint64 `json:"visitors"`
			} `json:"total"`
		}
		path, query, _ := strings.Cut(q, "?")
		mustJSON(t, get(path, query), &b)
		if b.Total != nil {
			return ptr(b.Total.Visitors)
		}
		var m struct {
			Visitors *uint64 `json:"visitors"`
		}
		mustJSON(t, b.Results, &m)
		return ptr(m.Visitors)
	}
	series := func(q string) *int64 {
		var b struct {
			Results []struct {
				Visitors *uint64 `json:"visitors"`
			} `json:"results"`
		}
		mustJSON(t, get("/timeseries", q), &b)
		var sum int64
		for _, p := range b.Results {
			if p.Visitors == nil {
				return nil
			}
			sum += int64(*p.Visitors)
		}
		return &sum
	}
	sub := func(a, b *int64) *int64 {
		if a == nil || b == nil {
			return nil
		}
		d := *a - *b
		return &d
	}
	add := func(a, b *int64) *int64 {
		if a == nil || b == nil {
			return nil
		}
		s := *a + *b
		return &s
	}
	var res attackResult
	score := func(name string, routes map[string]*int64) {
		res.planted++
		seen := map[int64]bool{}
		hit := false
		for _, v := range routes {
			if v == nil {
				continue
			}
			seen[*v] = true
			hit = hit || *v == 1
		}
		if hit {
			res.recovered++
		} else {
			res.misses = append(res.misses, name)
		}
		if len(seen) > 1 {
			res.disagreed++
		}
	}
	d0, d1, d2, d3 := attackDay1.AddDate(0, 0, -1), attackDay1, attackDay2, attackDay2.AddDate(0, 0, 1)
	for i := range attackPages {
		page := fmt.Sprintf("/p/%d", i)
		filter := "&filter=" + url.QueryEscape("page=="+page)
		both, first := "property=page&limit=1000&"+span(d1, d2), "property=page&limit=1000&"+span(d1, d1)
		routes := map[string]*int64{
			"nested ranges":      sub(row(both, page), row(first, page)),
			"overlapping ranges": sub(add(row("property=page&limit=1000&"+span(d0, d2), page), row("property=page&limit=1000&"+span(d2, d3), page)), row("property=page&limit=1000&"+span(d0, d3), page)),
			"filter vs range":    sub(total("/aggregate?"+span(d1, d2)+filter), total("/aggregate?"+span(d1, d1)+filter)),
			"filtered breakdown": sub(total("/breakdown?property=country&"+span(d1, d2)+filter), total("/breakdown?property=country&"+span(d1, d1)+filter)),
			"hours of the day":   series("interval=hour&" + span(d2, d2) + filter),
			"csv":                sub(csvRow(both, page), csvRow(first, page)),
		}
		var sum int64
		fresh = i < 3 // asking again for every page would only cost time
		for range 3 {
			if d := sub(row(both, page), row(first, page)); d != nil {
				sum += *d
			}
		}
		fresh = false
		mean := int64(math.Round(float64(sum) / 3))
		routes["repeated, averaged"] = &mean
		score(page, routes)
	}
	for j := range attackSingle {
		d := attackDay2.AddDate(0, 0, 1+j)
		routes := map[string]*int64{
			"site total":          total("/aggregate?" + span(d, d)),
			"range difference":    sub(total("/aggregate?"+span(d2, d)), total("/aggregate?"+span(d2, d.AddDate(0, 0, -1)))),
			"hours of the day":    series("interval=hour&" + span(d, d)),
			"breakdown total":     total("/breakdown?property=country&" + span(d, d)),
			"filter vs no filter": total("/aggregate?" + span(d, d) + "&filter=" + url.QueryEscape("country==KZ")),
			"csv total":           csvRow("property=page&"+span(d, d), "(total)"),
		}
		score(day(d), routes)
	}
	return res
}

func ptr(v *uint64) *int64 {
	if v == nil {
		return nil
	}
	n := int64(*v)
	return &n
}

func mustJSON(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
}
