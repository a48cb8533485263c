package statistics

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/privacy"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// Disclosure control at read time.
//
// In a site's protective mode (site.Site.Perturbed) every read of an
// aggregate table goes through published: each cell (one key: a site-local
// hour or day, a dimension and value, and a filter for pairs) is replaced
// by its published numbers, the counts plus the noise its cell key fixes
// (pipeline/rollup/perturb.go), before any sum. So every answer (a range,
// a filter, a breakdown, its total, an hour, CSV or JSON, asked once or a
// hundred times) is a sum of the same published cells, and a difference of
// answers is a sum of published cells too, never a count.
//
// Hours and days are cells of their own: an hour is published from the
// visitors of that hour, a day from the visitors of that day, and the sum
// of a day's published hours is not its published day (visitors are
// distinct per hour and per day, so they never added up). Where an hour
// and a day hold the same visitors (a day with one visitor), they have the
// same key and count and are published with the same numbers, so the two
// grains add no second noisy copy of a small count.
//
// What stays hidden: a row whose visitors are published as 0 is not
// listed (its other numbers still count in the totals), and nothing else.
// Noise replaces k: the threshold that suppression and the "other" fold
// apply is 1 (kOf), so a row is shown whenever its published visitors
// are, and no large row is ever hidden to protect a small remainder.

// kOf is the suppression threshold of a site's answers: its k in the exact
// mode, 1 (only what is published as 0 is hidden) in the protective one.
func kOf(s *site.Site) int {
	if s.Perturbed() {
		return 1
	}
	return s.KThreshold
}

// cellKeys are the key columns of each aggregate table's published cells:
// a site-local hour or day, without the salt day. A day holds two salt days
// where the site is not on UTC; their rows are one cell (their visitors
// are distinct, so counts and keys add up), so that a day is one draw of
// noise and not two.
var cellKeys = map[string]string{
	"agg_hourly": "site, hour, dim, value",
	"agg_daily":  "site, day, dim, value",
	"agg_pairs":  "site, day, fdim, fvalue, dim, value",
}

// published returns src, a FROM of table's stored rows (one row per key
// and salt day, with its ckey: Querier.from, Querier.pairCells), as the
// site publishes them: unchanged in the exact mode, else one row per cell
// with the perturbed numbers under the same names, and no salt_day. A cell
// without a key (stored before migration 016, whose events are gone) is
// keyed by a hash of its coordinates instead: a key of 0 would move every
// such cell by the same −2 or −1. That key is not secret, so such cells
// are protected in name only, and CheckDisclosure reports them.
//
// Each number gets its own noise from the one key, without zeroing the
// others when visitors are published as 0: zeroing would take the
// pageviews of every hidden one-visitor cell out of every sum, a bias that
// grows with the range (measured: a week's pageviews of a small country at
// a fifth of the truth).
func published(s *site.Site, table, src string) string {
	if !s.Perturbed() {
		return src
	}
	return publishBy(cellKeys[table], src)
}

// wholePart is, in the protective mode, the panel part of a breakdown's
// whole-breakdown cells (partWhole): one row per day (and filter, for
// pairs) of cells, a FROM of table's stored rows as published takes it,
// with the sums of every value's counts and, in val, the reduced key of
// the sum of their keys. panelAnswer publishes each (publishCell) and adds
// them up as the breakdown's total. "" in the exact mode, where the total is
// the sum of the rows.
//
// Why a cell of its own. A sum of the rows' published cells moves by
// about 1.1·√n for n values: a small site's day of fifty one-visitor
// browser versions is off by about 8, more than the ±20 % its total of 50
// may move. The whole breakdown of a day moves by at most ±2 like any
// cell. Adding these cells publishes nothing averaging could use: there is
// one per day and dimension (and filter), fixed like every other cell, and
// for a dimension each visitor has one value of per day (browser, country)
// its visitors and key are the day's, so it is the same cell as the site's
// total and shows the same number.
//
// Why in Go. A protective-mode query has a large fixed cost on the
// embedded engine (a breakdown over an empty table takes 34–39 ms), part of
// it the noise expressions. With these few cells published in the engine
// too, a country breakdown over 30 days took 92 ms p50 on 3M events; looked
// up in Go, 84 ms (62 ms for a total summed from the rows).
func wholePart(s *site.Site, table, cells string) string {
	if !s.Perturbed() {
		return ""
	}
	keys, ok := strings.CutSuffix(cellKeys[table], ", value")
	if !ok {
		panic("dashboards: cell keys that do not end with the value")
	}
	return fmt.Sprintf(`SELECT toUInt8(%d) AS part, toString(if(ck = 0, %s, %s)) AS val, c0 AS v, c1 AS n, c2 AS p, c3 AS b, c4 AS d, c5 AS e
 FROM (SELECT %s, sum(visitors) AS c0, sum(visits) AS c1, sum(pageviews) AS c2, sum(bounces) AS c3, sum(duration) AS c4,
  sum(events) AS c5, sum(ckey) AS ck FROM %s GROUP BY %s)`,
		partWhole, rollup.ReduceKeySQL("cityHash64("+keys+")"), rollup.ReduceKeySQL("ck"), keys, cells, keys)
}

// blockSources is, in the protective mode, what a read of site s's cells
// of table (agg_daily, or agg_pairs with fdim set) over r reads: src, the
// published cells of dim (only those of value, when set) as a FROM with
// day, value and the six numbers, and wholes, the panel parts of dim's
// whole-breakdown cells. The days of r that agg_published (or
// agg_pairs_published) holds as current blocks are read from them,
// already published and summed (pipeline/rollup/published.go); only the
// others (today, yesterday, a day a late write reopened, or all of them
// before the first build) are published here. Both give the same numbers:
// a block is the sum of its days' published cells. With daily set, only
// blocks of one day are read, so that day is each row's own (a block's rows
// carry its first day). A pair cell published with no visitor has the
// empty value in src, the remainder FilteredBreakdown folds it into.
//
// What it saves: the page breakdown of 90 days publishes some 400,000 day
// cells at read time; from blocks it adds up at most two blocks per level,
// and a range of final days alone has none of the noise expressions,
// whose fixed cost per query is tens of milliseconds on the embedded
// engine (see wholePart).
func (q *Querier) blockSources(ctx context.Context, s *site.Site, r Range, c cellRead) (out blockParts, err error) {
	blocks, rest, err := q.cover(ctx, s, r, c.daily)
	if err != nil {
		return out, err
	}
	out.blocks, out.rest = blocks, rest
	id, db := store.Quote(s.ID), q.st.DB().Stats
	dimCond := "dim = " + store.Quote(c.dim)
	pub := rollup.PublishedTable
	if c.table == "agg_pairs" {
		dimCond = fmt.Sprintf("fdim = %s AND fvalue = %s AND %s", store.Quote(c.fdim), store.Quote(c.fvalue), dimCond)
		pub = rollup.PairsPublishedTable
	}
	cond := dimCond
	if c.value != nil {
		cond += " AND value = " + store.Quote(*c.value)
	}
	const nums = "visitors, visits, pageviews, bounces, duration, events"
	var srcs []string
	if len(blocks) > 0 {
		in := fmt.Sprintf("FROM %s.%s WHERE site = %s AND day >= %s AND day <= %s AND %s",
			db, pub, id, store.Quote(r.From.String()), store.Quote(r.To.String()), rollup.BlocksSQL(blocks))
		srcs = append(srcs, fmt.Sprintf("SELECT day, value, %s %s AND %s AND whole = 0", nums, in, cond))
		out.wholes = append(out.wholes, fmt.Sprintf("SELECT toUInt8(%d) AS part, toString('') AS val, %s %s AND %s AND whole = 1", partSummed, partSums, in, dimCond))
	}
	if len(rest) > 0 || len(blocks) == 0 {
		rr, days := r, "1"
		if len(rest) > 0 {
			rr.From, rr.To = rollup.DayRangesSpan(rest)
			days = rollup.DaysSQL("day", rest)
		}
		where := fmt.Sprintf("site = %s AND %s AND day >= %s AND day <= %s AND %s", id, cond, store.Quote(rr.From.String()), store.Quote(rr.To.String()), days)
		cells := q.from("agg_daily", rr, where)
		value := "value"
		if c.table == "agg_pairs" {
			cells, value = q.pairCells(where), "if(visitors < 1, '', value)"
		}
		out.wholes = append(out.wholes, wholePart(s, c.table, cells))
		srcs = append(srcs, fmt.Sprintf("SELECT day, fv AS value, %s FROM (SELECT day, %s AS fv, %s FROM %s)", nums, value, nums, published(s, c.table, cells)))
	}
	out.src = "(" + strings.Join(srcs, " UNION ALL ") + ")"
	return out, nil
}

// cover splits r into site s's current blocks and the days left to read
// time (rollup.Cover); with days, blocks of one day only, so that each row
// of a block keeps its own day.
func (q *Querier) cover(ctx context.Context, s *site.Site, r Range, days bool) ([]rollup.Block, []rollup.DayRange, error) {
	valid, err := rollup.ValidBlocks(ctx, q.st, s.ID, r.From, r.To)
	if err != nil {
		return nil, nil, err
	}
	if days {
		for k := range valid {
			if k[0] != 0 {
				delete(valid, k)
			}
		}
	}
	blocks, rest := rollup.Cover(valid, r.From, r.To)
	return blocks, rest, nil
}

// blockParts is what blockSources returns: src and wholes, and the
// blocks read and the days left to read time (for the pair coverage).
type blockParts struct {
	src    string
	wholes []string
	blocks []rollup.Block
	rest   []rollup.DayRange
}

// cellRead is what blockSources reads: the cells of dim in table (of the
// filter fdim == fvalue in agg_pairs), only value's when set, and with
// daily, one row per day.
type cellRead struct {
	table, fdim, fvalue, dim string
	value                    *string
	daily                    bool
}

// dailyCells is the FROM of site s's agg_daily cells of f's value over r,
// as published: through the published sums of final days in the protective
// mode (blockSources), else as q.from reads them.
func (q *Querier) dailyCells(ctx context.Context, s *site.Site, r Range, f Filter, daily bool) (string, error) {
	if s.Perturbed() && !q.noBlocks {
		b, err := q.blockSources(ctx, s, r, cellRead{table: "agg_daily", dim: f.Dim, value: &f.Value, daily: daily})
		return b.src, err
	}
	where := fmt.Sprintf("site = %s AND day >= %s AND day <= %s AND %s", store.Quote(s.ID), store.Quote(r.From.String()), store.Quote(r.To.String()), dimWhere(f))
	return published(s, "agg_daily", q.from("agg_daily", r, where)), nil
}

// hourlyCells is the FROM of site s's hourly cells of f's value over r
// (the hours from..to), as published. In the protective mode the final days' come from
// agg_hourly_published, where they were published once with their day's
// block (rollup.Publish), and the other days' are published here from
// agg_hourly. Both give the same numbers. The first is ordered by
// dimension and value, so a chart reads its own rows only, where
// agg_hourly's order by hour makes a month's chart read every dimension's
// rows of its hours.
func (q *Querier) hourlyCells(ctx context.Context, s *site.Site, r Range, from, to time.Time, f Filter) (string, error) {
	where := fmt.Sprintf("site = %s AND %s", store.Quote(s.ID), dimWhere(f))
	if !s.Perturbed() || q.noBlocks {
		where += fmt.Sprintf(" AND hour >= toDateTime(%d) AND hour < toDateTime(%d)", from.Unix(), to.Unix())
		return published(s, "agg_hourly", q.from("agg_hourly", r, where)), nil
	}
	blocks, rest, err := q.cover(ctx, s, r, true)
	if err != nil {
		return "", err
	}
	id, db := store.Quote(s.ID), q.st.DB().Stats
	const nums = "visitors, visits, pageviews, bounces, duration, events"
	var srcs []string
	if len(blocks) > 0 {
		days := make([]string, len(blocks))
		for i, b := range blocks {
			days[i] = fmt.Sprintf("(%d, %d)", b.Day, b.Gen)
		}
		srcs = append(srcs, fmt.Sprintf("SELECT hour, %s FROM %s.%s WHERE site = %s AND %s AND day >= %s AND day <= %s AND (toUInt32(day), gen) IN (%s)",
			nums, db, rollup.HourlyPublishedTable, id, dimWhere(f), store.Quote(r.From.String()), store.Quote(r.To.String()), strings.Join(days, ", ")))
	}
	if len(rest) > 0 {
		where += " AND " + rollup.HoursOfDaysSQL(s, rest)
		srcs = append(srcs, fmt.Sprintf("SELECT hour, %s FROM %s", nums, published(s, "agg_hourly", q.from("agg_hourly", r, where))))
	}
	return "(" + strings.Join(srcs, " UNION ALL ") + ")", nil
}

// publishCell is the published numbers of a cell of counts m at reduced
// key u, as publishBy computes them in the engine.
func publishCell(m Metrics, u uint32) Metrics {
	p := rollup.Perturbation
	out := Metrics{Visitors: p.Publish(m.Visitors, u), Visits: p.Publish(m.Visits, u),
		Pageviews: p.Publish(m.Pageviews, u), Events: p.Publish(m.Events, u)}
	out.bounces = min(p.Publish(m.bounces, u), out.Visits)
	out.duration = uint64(max(int64(m.duration)+p.DurationStep*p.Noise(m.Visits, u), 0))
	return out
}

// publishedRows is published with the salt day kept: one cell per stored
// row, for the read that asks which salt days have numbers (coverPart).
func publishedRows(s *site.Site, table, src string) string {
	if !s.Perturbed() {
		return src
	}
	return publishBy(cellKeys[table]+", salt_day", src)
}

// publishBy publishes the rows of src as cells of the key columns keys.
func publishBy(keys, src string) string { return rollup.PublishCellsSQL(keys, src) }

// realtimeKeySQL is the reduced cell key of the distinct visitors of a
// read of the events: the last five minutes' visitors are a cell too.
var realtimeKeySQL = rollup.ReduceKeySQL(fmt.Sprintf("arraySum(arrayMap(x -> %s, groupUniqArray(visitor)))", rollup.RecordKeySQL("x")))

// realtimeSelect is what Realtime selects: the distinct visitors, and in
// the protective mode their cell key; publishRealtime reads it back.
func realtimeSelect(s *site.Site) string {
	if s.Perturbed() {
		return "toUInt64(uniqExact(visitor)), " + realtimeKeySQL
	}
	return "toUInt64(uniqExact(visitor))"
}

// publishRealtime is the published number of a realtimeSelect row. In the
// exact mode a dominant count is rounded like every other (suppress.go): on
// a quiet day the last five minutes can hold the day's visitors, and an
// exact count of them would undo the rounding of the day's total.
func publishRealtime(s *site.Site, row store.Row) uint64 {
	if s.Perturbed() {
		return rollup.Perturbation.Publish(row.Uint64(0), uint32(row.Uint64(1)))
	}
	m := Metrics{Visitors: row.Uint64(0)}
	m.coarsen(kOf(s))
	return m.Visitors
}

// DisclosureStatus is one site's publishing mode and what a check of the
// stats API found, for the privacy report.
type DisclosureStatus struct {
	Site string          `json:"site"`
	Mode site.Disclosure `json:"mode"`
	// K is the suppression threshold the answers apply (1 when perturbed).
	K int `json:"k"`
	// The perturbation table's parameters, in the protective mode: the
	// largest noise (D), the noise variance of counts of 2 or more (V),
	// and how often a count of 1 is published as 1.
	MaxNoise    int64   `json:"max_noise,omitempty"`
	Variance    float64 `json:"variance,omitempty"`
	SameProbOne float64 `json:"same_prob_one,omitempty"`
	// Probed is how many answers of the last 30 days were compared with
	// the stored cells: the daily site totals, the top pages and their
	// total, except those that include an unkeyed cell.
	Probed int `json:"probed"`
	// Mismatched answers are not the sum of their published cells;
	// Exposed ones are the exact count where the published sum differs
	// from it: an unperturbed number readable through the API.
	Mismatched int `json:"mismatched"`
	Exposed    int `json:"exposed"`
	// Unkeyed cells have visitors but no cell key (written before
	// migration 016, or by the in-Go rollup): their noise is the same for
	// every cell of a count, so it could be undone. Recomputing the salt
	// day gives them a key.
	Unkeyed uint64 `json:"unkeyed"`
	// OK: the exact mode (nothing to check), or no answer exposed or
	// mismatched and no cell unkeyed.
	OK bool `json:"ok"`
}

// CheckDisclosure returns every site's publishing mode and parameters and,
// for the sites in the protective mode, checks through the Querier (the
// code that answers the stats API, CSV and the pages) that the answers of
// the last 30 days before now are sums of published cells and never the
// exact counts. It fails only when the store cannot be read.
func CheckDisclosure(ctx context.Context, st store.Store, sites *site.Config, now time.Time) ([]DisclosureStatus, error) {
	q := NewQuerier(st)
	q.now = func() time.Time { return now }
	var out []DisclosureStatus
	for _, s := range sites.Sites {
		ds := DisclosureStatus{Site: s.ID, Mode: s.Disclosure, K: kOf(s), OK: true}
		if !s.Perturbed() {
			ds.Mode = site.DisclosureExact
			out = append(out, ds)
			continue
		}
		ds.Mode = site.DisclosureCellKey
		p := rollup.Perturbation
		ds.MaxNoise, ds.Variance, ds.SameProbOne = p.MaxNoise(), p.Variance(2), p.SameProb(1)
		if err := q.checkSite(ctx, s, now, &ds); err != nil {
			return nil, err
		}
		ds.OK = ds.Mismatched == 0 && ds.Exposed == 0 && ds.Unkeyed == 0
		out = append(out, ds)
	}
	return out, nil
}

// checkSite compares a perturbed site's daily totals, top pages and the
// page breakdown's total of the 30 days before now, as the Querier answers
// them, with the stored cells.
func (q *Querier) checkSite(ctx context.Context, s *site.Site, now time.Time, ds *DisclosureStatus) error {
	today := store.DayOf(now.In(s.Location))
	r := Range{From: store.DayOf(today.Time().AddDate(0, 0, -29)), To: today}
	type sums struct {
		exact, published uint64
		unkeyed          bool // its published value is not computed here
	}
	// A cell is a day, dimension and value, its salt days added up.
	type cellKey struct{ day, dim, value string }
	type cell struct {
		count, key uint64
		unkeyed    bool
	}
	cells := map[cellKey]*cell{}
	sql := fmt.Sprintf(`SELECT toString(day), dim, value, visitors, ckey FROM %s.agg_daily FINAL
 WHERE site = %s AND day >= %s AND day <= %s AND (dim = '' OR dim = %s)`,
		q.st.DB().Stats, store.Quote(s.ID), store.Quote(r.From.String()), store.Quote(r.To.String()), store.Quote(rollup.DimPage))
	err := q.st.Query(ctx, sql, func(row store.Row) error {
		k := cellKey{row.String(0), row.String(1), row.String(2)}
		c := cells[k]
		if c == nil {
			c = &cell{}
			cells[k] = c
		}
		c.count += row.Uint64(3)
		c.key += row.Uint64(4)
		if row.Uint64(4) == 0 && row.Uint64(3) > 0 {
			c.unkeyed = true
			ds.Unkeyed++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot read the stored cells of site %q: %w", s.ID, err)
	}
	days, pages := map[string]*sums{}, map[string]*sums{}
	pageDays := map[string]*cell{} // each day's whole page dimension: a cell of its own
	add := func(sm *sums, c *cell) {
		sm.exact += c.count
		sm.published += rollup.Perturbation.Publish(c.count, uint32(c.key))
		sm.unkeyed = sm.unkeyed || c.unkeyed
	}
	of := func(m map[string]*sums, key string) *sums {
		if m[key] == nil {
			m[key] = &sums{}
		}
		return m[key]
	}
	for k, c := range cells {
		if k.dim == "" {
			add(of(days, k.day), c)
			continue
		}
		add(of(pages, k.value), c)
		d := pageDays[k.day]
		if d == nil {
			d = &cell{}
			pageDays[k.day] = d
		}
		d.count += c.count
		d.key += c.key
		d.unkeyed = d.unkeyed || c.unkeyed
	}
	var pageTotal *sums
	if len(pageDays) > 0 {
		pageTotal = &sums{}
		for _, d := range pageDays {
			add(pageTotal, d)
		}
	}
	compare := func(got uint64, want *sums) {
		if want != nil && want.unkeyed {
			return // counted in Unkeyed
		}
		ds.Probed++
		switch {
		case want == nil || got != want.published:
			ds.Mismatched++
			if want != nil && got == want.exact {
				ds.Exposed++
			}
		}
	}
	pts, err := q.Timeseries(ctx, s, r, false, Filter{})
	if err != nil {
		return err
	}
	for _, p := range pts {
		if w := days[p.Date]; w != nil {
			compare(p.Visitors, w)
		}
	}
	b, err := q.Breakdown(ctx, s, r, rollup.DimPage, 20, nil)
	if err != nil {
		return err
	}
	for _, row := range b.Rows {
		compare(row.Visitors, pages[row.Value])
	}
	if pageTotal != nil {
		compare(b.Total.Visitors, pageTotal)
	}
	return nil
}

// CheckDisclosureNow is the privacy report's check (issue: "disclosure"):
// each site's mode and parameters as evidence, red when a protected site
// answers an exact count the published cells do not give, or an answer
// that is not the sum of its published cells.
func CheckDisclosureNow(st store.Store, sites *site.Config) func(ctx context.Context, now time.Time) (privacy.Outcome, error) {
	return func(ctx context.Context, now time.Time) (privacy.Outcome, error) {
		out := privacy.Outcome{Name: "disclosure", What: "each site's published-numbers mode; in the protective mode no exact count is readable through the stats API", OK: true}
		statuses, err := CheckDisclosure(ctx, st, sites, now)
		if err != nil {
			return out, err
		}
		for _, d := range statuses {
			line := fmt.Sprintf("%s: %s, k %d", d.Site, d.Mode, d.K)
			if d.Mode != site.DisclosureExact {
				line += fmt.Sprintf(", noise at most ±%d (variance %.1f; a count of 1 shown as 1 %.0f %% of the time); %d answers probed, %d exposed, %d not the sum of their cells, %d cells without a key",
					d.MaxNoise, d.Variance, 100*d.SameProbOne, d.Probed, d.Exposed, d.Mismatched, d.Unkeyed)
			}
			out.Evidence = append(out.Evidence, line)
			out.OK = out.OK && d.OK
		}
		return out, nil
	}
}
