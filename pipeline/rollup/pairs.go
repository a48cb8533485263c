package rollup

// Pair rows: the aggregates that let one filter cut every other breakdown.
//
// What they are. agg_daily holds one property at a time: "visits from KZ"
// and "visits that include /pricing", never "visits that include /pricing,
// by country". agg_pairs adds, per site-local day and salt day, the
// counts of every (dim, value) over the visits that have one filter value
// (fdim, fvalue): the same numbers agg_daily has, computed over that subset
// of visits. A visit "has" a filter value when:
//
//   - page P: the visit viewed P (at any point);
//   - event E: the visit sent custom event E;
//   - entry_page, exit_page: its first or last page is the value;
//   - source, channel, utm_source, utm_medium, utm_campaign, country,
//     browser, os, device, language: its value (taken, like agg_daily's,
//     from the visit's first page) is the value.
//
// Each row then counts, over those visits only, what agg_daily counts over
// all visits: distinct visitors of the day touching the key, visits started
// that day, pageviews and events that happened that day, bounces and
// durations of the visits started that day (for page rows, time on that
// page). So the (page, /pricing) × (country, KZ) row is "visits that
// include /pricing and came from KZ", and the (page, /pricing) × (page, /)
// row is "pageviews of / in visits that include /pricing". dim = '' is the
// total of the filtered visits.
//
// Why pairs and not another mechanism. Plain counts per combination keep
// the stats database free of anything that links a visitor's events once
// the salt day's raw events are dropped: no per-visit rows, no sketches of
// visitor ids (uniqState would keep hashes forever). Reading pairs is a
// primary-key range scan, like agg_daily.
//
// Bounded cost. A visit with f filter values and n keys adds f×n pair
// counts, so pair rows are kept only for the filter values in the salt
// day's top TopN by visitors per filter dimension (Options.PairTopN,
// default 100); the ranking query (topValues) decides which values get
// rows, and the rows of a chosen value are exact. A salt day on which a
// value was not chosen has no pair rows for it, and the dashboards refuse
// (400, with the reason) a filtered breakdown whose range needs such a
// day, rather than show a partial number.
//
// Small cells are not stored. A pair cell counts a conjunction of two
// attributes of visits; where a filter value has very few visits, its
// cells together would describe those visits one attribute after another
// (country, browser, language, the other pages viewed), which the
// one-property tables never allow. So before a salt day's pairs are
// written, every cell of a (day, fdim, fvalue, dim) with fewer than the
// site's k visitors is folded into that group's remainder row, value ''
// (a value no breakdown stores: empty values are never rows). The
// remainder keeps the sums exact (a breakdown's total is its rows plus
// the remainder) and says only "visits of this filter with a value of dim
// too rare to show". Over a range, a value that is small on each day but
// not over the range stays in the remainder ("(other)" on the page); this
// is the price of never storing a small conjunction. The filter's own total
// (dim = '') is stored whatever its size: it is what the dashboards
// suppress below k at read time, like agg_daily's rows.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// PairFilterDims are the dimensions a pair row can be filtered by. The names
// are stored: never rename. Region, browser version, screen, UTM content and
// term are breakdowns under a filter but not filters of other breakdowns
// (their values are many and rarely asked for together).
var PairFilterDims = []string{
	DimPage, DimEntryPage, DimExitPage, DimSource, DimChannel,
	DimUTMSource, DimUTMMedium, DimUTMCampaign, DimCountry,
	DimBrowser, DimOS, DimDevice, DimLanguage, DimEvent, DimGoal,
}

// pairsTable holds the pair cells as sums of changes: a cell is the sum of
// its rows (migration 011), so that a run adds what it changes without
// reading the cell first.
const pairsTable = "agg_pairs"

// DefaultPairTopN is how many values per filter dimension and salt day get
// pair rows.
const DefaultPairTopN = 100

// IsPairFilterDim reports whether dim can filter other breakdowns.
func IsPairFilterDim(dim string) bool {
	for _, d := range PairFilterDims {
		if d == dim {
			return true
		}
	}
	return false
}

type dimValue struct{ dim, value string }

// pairKey addresses one daily pair row.
type pairKey struct {
	period       int64
	fdim, fvalue string
	dim, value   string
}

// mergeSession adds the visit in a.sess to the daily rows and to the pair
// rows of each chosen filter value it has, then clears a.sess.
func (a *accumulator) mergeSession() {
	day := a.byGran[daily]
	var filters []dimValue
	for k, d := range a.sess {
		addCounts(day, k, d, a.seq)
		if a.pairs != nil && k.value != "" {
			f := dimValue{k.dim, k.value}
			if (a.top[f] || a.allPairs && IsPairFilterDim(k.dim)) && !containsDV(filters, f) {
				filters = append(filters, f)
			}
		}
	}
	for _, f := range filters {
		for k, d := range a.sess {
			pk := pairKey{k.period, f.dim, f.value, k.dim, k.value}
			c := a.pairs[pk]
			if c == nil {
				c = &counts{}
				a.pairs[pk] = c
			}
			c.add(d, a.seq)
		}
	}
	clear(a.sess)
}

func containsDV(s []dimValue, v dimValue) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func addCounts(m map[aggKey]*counts, k aggKey, d *counts, seq uint64) {
	c := m[k]
	if c == nil {
		c = &counts{}
		m[k] = c
	}
	c.add(d, seq)
}

// add adds one visit's counts d; seq is its visitor's sequence number.
func (c *counts) add(d *counts, seq uint64) {
	if c.lastVisitor != seq {
		c.lastVisitor = seq
		c.visitors++
	}
	c.visits += d.visits
	c.pageviews += d.pageviews
	c.bounces += d.bounces
	c.duration += d.duration
	c.events += d.events
}

// foldSmallPairs moves every pair cell with fewer than k visitors into its
// group's remainder row (value ”); see the package comment above.
func foldSmallPairs(pairs map[pairKey]*counts, k int) {
	for pk, c := range pairs {
		if pk.dim == DimTotal || pk.value == "" || c.visitors >= uint64(k) {
			continue
		}
		rk := pk
		rk.value = ""
		r := pairs[rk]
		if r == nil {
			r = &counts{}
			pairs[rk] = r
		}
		r.visitors += c.visitors
		r.visits += c.visits
		r.pageviews += c.pageviews
		r.bounces += c.bounces
		r.duration += c.duration
		r.events += c.events
		delete(pairs, pk)
	}
}

// topValues ranks, for one salt day of one site, the values of every pair
// filter dimension by their distinct visitors and returns the first n of
// each. Session properties are ranked by the visitor's first page of the
// day, entry and exit pages by its first and last: the ranking only
// chooses which values get pair rows, and those rows are then exact.
func (r *Rollup) topValues(ctx context.Context, where string, n int) (map[dimValue]bool, error) {
	first := func(dim, col string) string {
		return fmt.Sprintf("('%s', argMinIf(%s, ts, kind = 1))", dim, col)
	}
	sess := []string{
		fmt.Sprintf("('%s', argMinIf(path, ts, kind = 1))", DimEntryPage),
		fmt.Sprintf("('%s', argMaxIf(path, ts, kind = 1))", DimExitPage),
		first(DimSource, "ref_host"), first(DimChannel, "channel"),
		first(DimUTMSource, "utm_source"), first(DimUTMMedium, "utm_medium"), first(DimUTMCampaign, "utm_campaign"),
		first(DimCountry, "country"), first(DimBrowser, "browser"), first(DimOS, "os"),
		first(DimDevice, "device"), first(DimLanguage, "language"),
	}
	q := fmt.Sprintf(`SELECT d, v FROM (
 SELECT tupleElement(dv, 1) AS d, tupleElement(dv, 2) AS v, count() AS n FROM (
  SELECT arrayJoin(arrayConcat([%s],
   arrayMap(x -> ('%s', x), groupUniqArrayIf(path, kind = 1)),
   arrayMap(x -> ('%s', x), groupUniqArrayIf(name, kind != 1 AND name != '')))) AS dv
  FROM %s.events WHERE %s GROUP BY visitor)
 WHERE v != '' GROUP BY d, v ORDER BY d, n DESC, v LIMIT %d BY d)`,
		strings.Join(sess, ", "), DimPage, DimEvent, r.st.DB().Stats, where, n)
	top := map[dimValue]bool{}
	err := r.st.Query(ctx, q, func(row store.Row) error {
		top[dimValue{row.String(0), row.String(1)}] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot rank the filter values: %w", err)
	}
	return top, nil
}

// writePairs brings the pair rows of a salt day to pairs: it writes, per
// cell, the difference between pairs and what is stored (a value that left
// the top N, a cell that became small: taken away).
func (r *Rollup) writePairs(ctx context.Context, s *site.Site, day store.Day, pairs map[pairKey]*counts) (int, error) {
	db := r.st.DB().Stats
	stored := map[pairKey][6]int64{}
	q := fmt.Sprintf("SELECT toUInt32(day), fdim, fvalue, dim, value, visitors, visits, pageviews, bounces, duration, events FROM (%s)", r.storedPairsSQL(s, day))
	err := r.st.Query(ctx, q, func(row store.Row) error {
		// toUInt32(Date) is days since the epoch.
		k := pairKey{period: int64(row.Uint64(0)) * 86400, fdim: row.String(1), fvalue: row.String(2), dim: row.String(3), value: row.String(4)}
		var v [6]int64
		for i := range v {
			v[i] = row.Int64(5 + i)
		}
		stored[k] = v
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cannot read earlier pair aggregates of %s for site %q: %w", day, s.ID, err)
	}
	cols := []string{"site", "day", "fdim", "fvalue", "dim", "value", "salt_day", "visitors", "visits", "pageviews", "bounces", "duration", "events"}
	rows := make([][]any, 0, min(len(pairs)+len(stored), r.insert))
	written := 0
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		if err := r.st.Insert(ctx, db+"."+pairsTable, cols, rows); err != nil {
			return fmt.Errorf("cannot write pair aggregates of %s for site %q: %w", day, s.ID, err)
		}
		written += len(rows)
		rows = rows[:0]
		return nil
	}
	add := func(k pairKey, want [6]int64) error {
		have := stored[k]
		if want == have {
			return nil
		}
		row := []any{s.ID, store.DayOf(time.Unix(k.period, 0).UTC()), k.fdim, k.fvalue, k.dim, k.value, day}
		for i := range want {
			row = append(row, want[i]-have[i])
		}
		rows = append(rows, row)
		if len(rows) == r.insert {
			return flush()
		}
		return nil
	}
	for k, c := range pairs {
		if err := add(k, [6]int64{int64(c.visitors), int64(c.visits), int64(c.pageviews), int64(c.bounces), int64(c.duration), int64(c.events)}); err != nil {
			return written, err
		}
	}
	for k := range stored {
		if _, ok := pairs[k]; !ok {
			if err := add(k, [6]int64{}); err != nil {
				return written, err
			}
		}
	}
	return written, flush()
}
