// Package statistics answers questions about visits from the aggregates in
// the stats database only: queries, k-suppression, disclosure control, the
// stats JSON API with CSV, and the dashboard page. It never reads the
// identified database.
package statistics

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// Metrics are the numbers every answer carries. Visitors over more than one
// day is the sum of each day's unique visitors: visitor hashes change every
// day by design, so the same person on two days cannot be recognised (see
// the README).
type Metrics struct {
	Visitors      uint64  `json:"visitors"`
	Visits        uint64  `json:"visits"`
	Pageviews     uint64  `json:"pageviews"`
	Events        uint64  `json:"events"`
	ViewsPerVisit float64 `json:"views_per_visit"`
	BounceRate    float64 `json:"bounce_rate"`    // percent of visits
	VisitDuration float64 `json:"visit_duration"` // mean seconds per visit
	// Suppressed cells are sent with null numbers (see suppress.go); K is
	// the threshold they fell under.
	Suppressed bool `json:"suppressed"`
	K          int  `json:"k,omitempty"`
	// Rounded cells are dominant ones published rounded (see suppress.go).
	Rounded  bool `json:"rounded,omitempty"`
	bounces  uint64
	duration uint64
}

func (m *Metrics) derive() {
	if m.Visits > 0 {
		m.ViewsPerVisit = round2(float64(m.Pageviews) / float64(m.Visits))
		m.BounceRate = round2(100 * float64(m.bounces) / float64(m.Visits))
		m.VisitDuration = round2(float64(m.duration) / float64(m.Visits))
	}
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// sums is the SELECT list that every query shares.
const sums = "sum(visitors), sum(visits), sum(pageviews), sum(bounces), sum(duration), sum(events)"

func scanMetrics(row store.Row, at int) Metrics {
	m := Metrics{
		Visitors: row.Uint64(at), Visits: row.Uint64(at + 1), Pageviews: row.Uint64(at + 2),
		bounces: row.Uint64(at + 3), duration: row.Uint64(at + 4), Events: row.Uint64(at + 5),
	}
	m.derive()
	return m
}

// Range is a span of whole site-local days, both ends included.
type Range struct {
	From, To store.Day
}

// Filter restricts an answer to one dimension's value: Op is how (the
// zero Op is "is"; see filters.go for the others and what they answer).
type Filter struct {
	Dim, Value string
	Op         Op
}

// Querier runs the stats queries.
type Querier struct {
	st   store.Store
	now  func() time.Time
	mode atomic.Int32 // see prepare
	// noBlocks publishes every cell at read time, never reading the
	// published sums (blockSources): the reference the tests compare with.
	noBlocks bool
}

// NewQuerier returns a Querier over st's stats database.
func NewQuerier(st store.Store) *Querier { return &Querier{st: st, now: time.Now} }

func dimWhere(f Filter) string {
	return fmt.Sprintf("dim = %s AND value = %s", store.Quote(f.Dim), store.Quote(f.Value))
}

// from is the FROM of a read of one aggregate table (agg_hourly, agg_daily
// or agg_pairs, whose rows add up and need no FINAL: see pairCells): the
// table's current rows matching where, one per key.
// Merging a key's versions at read time (FINAL) is what long ranges cost;
// the rollup compacts closed months to one row per key
// (pipeline/rollup/compact.go). Measured on 2 cores with 60 days of
// aggregates, a breakdown after compaction took on ClickHouse 18.16 about
// 125 ms read FINAL and 70 ms with the compacted months read plainly; on
// 26.7 FINAL over months of one part costs nothing more than a plain read
// (about 40 ms either way), while the split below added 30 ms. So the split
// is made only where it pays, on versions before 24 (only 18.16 and 26.7
// were measured), and the months to read plainly are read in the same
// query, so that a month reopened by a late write is read FINAL from the
// next query on.
func (q *Querier) from(table string, r Range, where string) string {
	db := q.st.DB().Stats
	if q.mode.Load() != splitReads || !q.mayBeCompacted(r) {
		return fmt.Sprintf("(SELECT * FROM %s.%s FINAL WHERE %s)", db, table, where)
	}
	col := "day"
	if table == "agg_hourly" {
		col = "hour"
	}
	before := rollup.PlainBefore(db, table)
	return fmt.Sprintf("(SELECT * FROM %s.%s WHERE %s AND toYYYYMM(%s) < %s UNION ALL SELECT * FROM %s.%s FINAL WHERE %s AND toYYYYMM(%s) >= %s)",
		db, table, where, col, before, db, table, where, col, before)
}

// mayBeCompacted reports whether r reaches back into a month that can be
// compacted, one that ended before yesterday (UTC, a day of slack for the
// site's time zone): the split costs 18.16 its boundary subqueries (tens of
// ms) and buys nothing for a range of recent days.
func (q *Querier) mayBeCompacted(r Range) bool {
	y := q.now().UTC().AddDate(0, 0, -1)
	return r.From.Time().AddDate(0, 0, -1).Before(time.Date(y.Year(), y.Month(), 1, 0, 0, 0, 0, time.UTC))
}

// How from reads compacted months; learnt from the engine's version once.
const (
	readsUnknown = iota
	finalReads   // every month FINAL
	splitReads   // compacted months plainly, the others FINAL
)

// prepare learns the read mode. When the version cannot be read it stays
// unknown (reads are FINAL, which is right on every version) and is asked
// again by the next query.
func (q *Querier) prepare(ctx context.Context) {
	if q.mode.Load() != readsUnknown {
		return
	}
	v, err := q.st.Version(ctx)
	if err != nil {
		return
	}
	major, _, _ := strings.Cut(v, ".")
	if n, err := strconv.Atoi(major); err == nil && n < 24 {
		q.mode.Store(splitReads)
	} else {
		q.mode.Store(finalReads)
	}
}

// Aggregate returns the totals of a range, or of one dimension value:
// then suppressed below the site's k.
func (q *Querier) Aggregate(ctx context.Context, s *site.Site, r Range, f Filter) (Metrics, error) {
	ms, err := q.Aggregates(ctx, s, []Range{r}, f)
	if err != nil {
		return Metrics{}, err
	}
	return ms[0], nil
}

// Aggregates is Aggregate for several ranges (a period and the one it is
// compared with) in one query.
func (q *Querier) Aggregates(ctx context.Context, s *site.Site, rs []Range, f Filter) ([]Metrics, error) {
	out, err := q.aggregates(ctx, s, rs, f)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].coarsen(kOf(s))
	}
	return out, nil
}

// aggregates is Aggregates before a dominant total is rounded, so that a
// number derived from it (filters.go) is rounded once, as published.
func (q *Querier) aggregates(ctx context.Context, s *site.Site, rs []Range, f Filter) ([]Metrics, error) {
	q.prepare(ctx)
	parts := make([]string, len(rs))
	for i, r := range rs {
		src, err := q.dailyCells(ctx, s, r, f, false)
		if err != nil {
			return nil, err
		}
		parts[i] = fmt.Sprintf("SELECT toUInt8(%d) AS part, %s FROM %s", i, sums, src)
	}
	out := make([]Metrics, len(rs))
	err := q.st.Query(ctx, strings.Join(parts, " UNION ALL "), func(row store.Row) error {
		if i := int(row.Uint64(0)); i < len(out) {
			out[i] = scanMetrics(row, 1)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot query the aggregate of site %q: %w", s.ID, err)
	}
	if f.Dim != "" {
		for i := range out {
			out[i].suppressUnder(kOf(s))
		}
	}
	return out, nil
}

// Point is one bucket of a time series; Date is the bucket's start in the
// site's time zone (RFC 3339 for hours, YYYY-MM-DD for days).
type Point struct {
	Date string `json:"date"`
	Metrics
}

// Timeseries returns one point per hour or per day of the range, with
// zero points where nothing happened. A filtered series is protected
// against small counts (see protectSeries).
func (q *Querier) Timeseries(ctx context.Context, s *site.Site, r Range, hourly bool, f Filter) ([]Point, error) {
	out, err := q.series(ctx, s, r, hourly, f)
	if err != nil {
		return nil, err
	}
	if f.Dim != "" {
		protectSeries(out, kOf(s))
	}
	coarsenPoints(out, kOf(s))
	return out, nil
}

// series is Timeseries before the protection of a filtered series, so
// that buckets of a week or a month (interval.go) are protected as summed.
func (q *Querier) series(ctx context.Context, s *site.Site, r Range, hourly bool, f Filter) ([]Point, error) {
	q.prepare(ctx)
	var sql string
	from := time.Date(r.From.Year, r.From.Month, r.From.Day, 0, 0, 0, 0, s.Location)
	to := time.Date(r.To.Year, r.To.Month, r.To.Day+1, 0, 0, 0, 0, s.Location)
	if hourly {
		src, err := q.hourlyCells(ctx, s, r, from, to, f)
		if err != nil {
			return nil, err
		}
		sql = fmt.Sprintf("SELECT toUInt32(hour) AS t, %s FROM %s GROUP BY t ORDER BY t", sums, src)
	} else {
		src, err := q.dailyCells(ctx, s, r, f, true)
		if err != nil {
			return nil, err
		}
		sql = fmt.Sprintf("SELECT toString(day) AS t, %s FROM %s GROUP BY t ORDER BY t", sums, src)
	}
	got := map[string]Metrics{}
	err := q.st.Query(ctx, sql, func(row store.Row) error {
		key := row.String(0)
		if hourly {
			key = time.Unix(int64(row.Uint64(0)), 0).In(s.Location).Format(time.RFC3339)
		}
		got[key] = scanMetrics(row, 1)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot query the time series of site %q: %w", s.ID, err)
	}
	var out []Point
	// Buckets are made in Go: ClickHouse 18.16 has no WITH FILL.
	for t := from; t.Before(to); {
		var key string
		if hourly {
			key = t.Format(time.RFC3339)
		} else {
			key = t.Format(time.DateOnly)
		}
		out = append(out, Point{Date: key, Metrics: got[key]})
		if hourly {
			t = t.Add(time.Hour)
		} else {
			t = t.AddDate(0, 0, 1)
		}
	}
	return out, nil
}

// BreakdownRow is one value of a breakdown; Other marks the row holding
// every value not shown.
type BreakdownRow struct {
	Value string `json:"value"`
	Other bool   `json:"other,omitempty"`
	Metrics
}

// Breakdown is a breakdown after small-count suppression: Rows (each from
// at least k visitors), Other (every other value together; nil when there
// is none) and Total (Rows plus Other, count by count).
type Breakdown struct {
	Rows  []BreakdownRow
	Other *BreakdownRow
	Total Metrics
}

// Breakdown returns the top values of one dimension (by visitors; events
// by events) with at least k visitors each, at most limit of them, and the
// rest folded into "other" (see suppress.go). With only set, the answer
// holds that value alone (and nothing else is folded into "other").
func (q *Querier) Breakdown(ctx context.Context, s *site.Site, r Range, dim string, limit int, only *string) (Breakdown, error) {
	q.prepare(ctx)
	where := fmt.Sprintf("site = %s AND day >= %s AND day <= %s AND dim = %s",
		store.Quote(s.ID), store.Quote(r.From.String()), store.Quote(r.To.String()), store.Quote(dim))
	if only == nil {
		cells := q.from("agg_daily", r, where)
		src, wholes := published(s, "agg_daily", cells), []string{wholePart(s, "agg_daily", cells)}
		if s.Perturbed() && !q.noBlocks {
			b, err := q.blockSources(ctx, s, r, cellRead{table: "agg_daily", dim: dim})
			if err != nil {
				return Breakdown{}, err
			}
			src, wholes = b.src, b.wholes
		}
		p, err := q.panel(ctx, breakdownParts(src, wholes, "value", dim, kOf(s), limit))
		if err != nil {
			return Breakdown{}, fmt.Errorf("cannot query the %s breakdown of site %q: %w", dim, s.ID, err)
		}
		return p.breakdown(dim, limit, kOf(s)), nil
	}
	src, err := q.dailyCells(ctx, s, r, Filter{Dim: dim, Value: *only}, false)
	if err != nil {
		return Breakdown{}, err
	}
	var total Metrics
	err = q.st.Query(ctx, fmt.Sprintf("SELECT %s FROM %s", sums, src), func(row store.Row) error {
		total = scanMetrics(row, 0)
		return nil
	})
	if err != nil {
		return Breakdown{}, fmt.Errorf("cannot query the %s total of site %q: %w", dim, s.ID, err)
	}
	// One value: its row is the total, shown or suppressed as a whole.
	total.suppressUnder(kOf(s))
	total.coarsen(kOf(s))
	b := Breakdown{Rows: []BreakdownRow{}, Total: total}
	if !total.zero() {
		b.Rows = append(b.Rows, BreakdownRow{Value: *only, Metrics: total})
	}
	return b, nil
}

// A panel that needs several answers asks for them in one query, a UNION
// ALL of parts of one shape: the part's kind, a value and the six sums. One
// round trip instead of two to four: on the embedded engine each query has
// a fixed cost of its own (README, "Dashboards").
const (
	partTotal   = 0 // the sums over every row: value ''
	partRow     = 1 // a top value and its sums, at most limit of them
	partMissing = 2 // visitors holds a count (see FilteredBreakdown)
	partWhole   = 3 // a whole-breakdown cell's counts, its key in val (wholePart)
	partSummed  = 4 // published whole-breakdown cells, added up (blockSources)
	partCover   = 5 // a cell of the filter value: "day key paired" in val (coverPart)
)

// partSums are the sums every part selects, named for HAVING and ORDER BY.
const partSums = "sum(visitors) AS v, sum(visits) AS n, sum(pageviews) AS p, sum(bounces) AS b, sum(duration) AS d, sum(events) AS e"

// breakdownParts is the part of a breakdown: the total of src and its top
// values, where valueExpr is the value a row counts under (empty: none).
// Rows with at least k visitors (events: by events) are the candidates;
// the top ones are chosen in the engine so that a dimension with many
// values (pages) never comes back whole. One pass over src gives both: the
// rows per value are made once, and the total is their sum. In the
// protective mode src publishes every cell of the range (a table lookup per
// count), which two passes, one for the total and one for the rows, paid
// twice (README, "Dashboards over 10 million events").
//
// With wholes set (the protective mode's wholePart and blockSources), the
// total is instead the sum of the days' whole-breakdown cells, whose noise
// does not grow with the number of values.
func breakdownParts(src string, wholes []string, valueExpr, dim string, k, limit int) []string {
	wholes = slices.DeleteFunc(slices.Clone(wholes), func(w string) bool { return w == "" })
	// t is (val, v, n, p, b, d, e); a UNION ALL keeps no order, so the rows
	// are sorted again in Go.
	order := "-toInt64(t.2)"
	if dim == rollup.DimEvent {
		order = "-toInt64(t.7)"
	}
	xs := fmt.Sprintf(`arrayMap(t -> (toUInt8(%d), t.1, t.2, t.3, t.4, t.5, t.6, t.7),
   arraySlice(arraySort(t -> (%s, t.1), groupArrayIf((val, v, n, p, b, d, e), val != '' AND v >= %d)), 1, %d))`,
		partRow, order, max(k, 1), limit)
	if len(wholes) == 0 {
		xs = fmt.Sprintf("arrayConcat([(toUInt8(%d), toString(''), sum(v), sum(n), sum(p), sum(b), sum(d), sum(e))],\n  %s)", partTotal, xs)
	}
	parts := []string{fmt.Sprintf(`SELECT x.1 AS part, x.2 AS val, x.3 AS v, x.4 AS n, x.5 AS p, x.6 AS b, x.7 AS d, x.8 AS e FROM (
 SELECT %s AS xs
 FROM (SELECT %s AS val, %s FROM %s GROUP BY val)) ARRAY JOIN xs AS x`, xs, valueExpr, partSums, src)}
	return append(parts, wholes...)
}

// panelAnswer is what the parts of one panel query returned.
type panelAnswer struct {
	total   Metrics
	rows    []BreakdownRow
	missing uint64
}

// panel runs parts as one query.
func (q *Querier) panel(ctx context.Context, parts []string) (panelAnswer, error) {
	var a panelAnswer
	var uncovered map[string]bool // days (partCover)
	err := q.st.Query(ctx, strings.Join(parts, " UNION ALL "), func(row store.Row) error {
		switch row.Uint64(0) {
		case partTotal:
			a.total = scanMetrics(row, 2)
		case partRow:
			a.rows = append(a.rows, BreakdownRow{Value: row.String(1), Metrics: scanMetrics(row, 2)})
		case partMissing:
			a.missing += row.Uint64(2) // of the blocks and of the other days
		case partWhole:
			u, err := strconv.ParseUint(row.String(1), 10, 32)
			if err != nil {
				return fmt.Errorf("a whole-breakdown cell's key %q: %w", row.String(1), err)
			}
			a.total.add(publishCell(scanMetrics(row, 2), uint32(u)))
		case partSummed:
			a.total.add(scanMetrics(row, 2))
		case partCover:
			day, u, paired, err := coverCell(row.String(1))
			if err != nil {
				return err
			}
			if m := publishCell(scanMetrics(row, 2), u); !paired && m.Visitors+m.Visits+m.Pageviews+m.Events > 0 {
				if uncovered == nil {
					uncovered = map[string]bool{}
				}
				uncovered[day] = true
			}
		}
		return nil
	})
	a.missing += uint64(len(uncovered))
	a.total.derive() // the rates of a total added up from whole cells
	return a, err
}

// coverCell splits a partCover row's val: its day, reduced key and whether
// the pair totals have its salt day.
func coverCell(val string) (day string, u uint32, paired bool, err error) {
	f := strings.Fields(val)
	if len(f) != 3 {
		return "", 0, false, fmt.Errorf("a coverage cell %q", val)
	}
	k, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil {
		return "", 0, false, fmt.Errorf("a coverage cell's key %q: %w", val, err)
	}
	return f[0], uint32(k), f[2] == "1", nil
}

// breakdown applies k to the answer (see foldBreakdown), its rows put back
// in the order breakdownParts chose them by.
func (a panelAnswer) breakdown(dim string, limit, k int) Breakdown {
	slices.SortFunc(a.rows, func(x, y BreakdownRow) int {
		by := cmp.Compare(y.Visitors, x.Visitors)
		if dim == rollup.DimEvent {
			by = cmp.Compare(y.Events, x.Events)
		}
		return cmp.Or(by, strings.Compare(x.Value, y.Value))
	})
	shown, other := foldBreakdown(a.rows, a.total, limit, k)
	// Other is suppressed only when nothing is shown, and then it is the
	// total, or when only dominant rows are, and then they and the total
	// are rounded (see foldBreakdown).
	total := a.total
	total.suppressUnder(k)
	b := Breakdown{Rows: shown, Other: other, Total: total}
	b.coarsen(k)
	return b
}

// Realtime is the number of distinct visitors with an event in the last
// five minutes, read from the raw events (the aggregates lag behind).
func (q *Querier) Realtime(ctx context.Context, s *site.Site, now time.Time) (uint64, error) {
	sql := fmt.Sprintf("SELECT %s FROM %s.events WHERE site = %s AND ts >= toDateTime(%d)",
		realtimeSelect(s), q.st.DB().Stats, store.Quote(s.ID), now.Add(-5*time.Minute).Unix())
	var n uint64
	err := q.st.Query(ctx, sql, func(row store.Row) error {
		n = publishRealtime(s, row)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cannot query realtime visitors of site %q: %w", s.ID, err)
	}
	return n, nil
}

// validDim reports whether dim is a breakdown the aggregates hold.
func validDim(dim string) bool {
	if key, ok := strings.CutPrefix(dim, rollup.PropDimPrefix); ok {
		return site.ValidPropertyKey(key)
	}
	for _, d := range rollup.Dimensions {
		if d == dim {
			return true
		}
	}
	return false
}

// dimList is for error messages.
func dimList() string {
	return strings.Join(rollup.Dimensions, ", ") + ", " + rollup.PropDimPrefix + "<property key>"
}
