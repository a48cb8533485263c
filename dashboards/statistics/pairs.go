package statistics

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// Filtered breakdowns: a breakdown of one property over the visits that
// have another property's value, read from agg_pairs (see
// pipeline/rollup/pairs.go for how the rows are made).
//
// What a filtered number means. A filter selects visits: filter=page==P the
// visits that viewed P, filter=event==E those that sent E, filter=country==KZ
// (and every other session property, entry and exit pages included) those
// whose value it is. A breakdown of another property under the filter is
// that breakdown computed over those visits only: visitors of the day among
// them (summed over days), their visits, the pageviews and events those
// visits made of each value, bounce rate and duration of those visits (for
// page rows, time on the row's page). So under page==/pricing the country
// KZ row is "visits that include /pricing and came from KZ, and all their
// pageviews", and the page / row is "pageviews of / in visits that include
// /pricing". The top line and the chart under a filter, and a breakdown of
// the filter's own property, stay what they were: the value's own rows
// (exact for every value; for a page, its pageviews and time on it).
//
// Availability. Pair rows exist for the top values of each filter property
// per salt day (rollup.DefaultPairTopN) and not for region, browser
// version, screen, UTM content or term as filters. A filtered breakdown
// whose range needs a missing day answers 400 with ErrFilterUnavailable's
// reason instead of a partial number. Cells below k per day are folded at
// rollup into the remainder, which the answer shows inside "(other)".

// ErrFilterUnavailable says a filtered breakdown cannot be answered exactly.
var ErrFilterUnavailable = errors.New("filter not available")

// FilteredBreakdown is Breakdown over the visits that have f's value (f.Dim
// a rollup.PairFilterDims member other than dim), with the same
// small-count protection. Its rows, total and the check that the pair rows
// cover the range are one query.
func (q *Querier) FilteredBreakdown(ctx context.Context, s *site.Site, r Range, dim string, limit int, f Filter) (Breakdown, error) {
	if !rollup.IsPairFilterDim(f.Dim) {
		return Breakdown{}, fmt.Errorf("%w: other breakdowns can be filtered by %s only", ErrFilterUnavailable, strings.Join(rollup.PairFilterDims, ", "))
	}
	q.prepare(ctx)
	k := kOf(s)
	id, days := store.Quote(s.ID), fmt.Sprintf("day >= %s AND day <= %s", store.Quote(r.From.String()), store.Quote(r.To.String()))
	pairsOf := func(dim string) string {
		return q.pairCells(fmt.Sprintf("site = %s AND fdim = %s AND fvalue = %s AND dim = %s AND %s",
			id, store.Quote(f.Dim), store.Quote(f.Value), store.Quote(dim), days))
	}
	cells := pairsOf(dim)
	// While a salt day is open its pair cells are stored unfolded (the
	// rollup folds them when it finishes the day), so the fold of cells
	// below k into the remainder '' is made here, per stored cell (one
	// salt day and day), exactly as pipeline/rollup/pairs.go makes it;
	// folding a finished day's cells again changes nothing. In the
	// protective mode (k is 1) blockSources folds each published day cell.
	var parts []string
	if s.Perturbed() && !q.noBlocks {
		b, err := q.blockSources(ctx, s, r, cellRead{table: "agg_pairs", fdim: f.Dim, fvalue: f.Value, dim: dim})
		if err != nil {
			return Breakdown{}, err
		}
		parts = breakdownParts(b.src, b.wholes, "value", dim, k, limit)
		// The final days' coverage is in the blocks; only the others are
		// checked here.
		if len(b.blocks) > 0 {
			parts = append(parts, fmt.Sprintf(`SELECT toUInt8(%d) AS part, toString('') AS val, toUInt64(sum(visitors)) AS v, toUInt64(0) AS n, toUInt64(0) AS p, toUInt64(0) AS b, toUInt64(0) AS d, toUInt64(0) AS e
 FROM %s.%s WHERE site = %s AND dim = %s AND value = %s AND whole = 2 AND %s AND %s`,
				partMissing, q.st.DB().Stats, rollup.PublishedTable, id, store.Quote(f.Dim), store.Quote(f.Value), days, rollup.BlocksSQL(b.blocks)))
			if len(b.rest) > 0 {
				rr := r
				rr.From, rr.To = rollup.DayRangesSpan(b.rest)
				days = rollup.DaysSQL("day", b.rest)
				parts = append(parts, q.coverPart(s, rr, id, days, f, pairsOf(rollup.DimTotal)))
			}
		} else {
			parts = append(parts, q.coverPart(s, r, id, days, f, pairsOf(rollup.DimTotal)))
		}
	} else {
		parts = breakdownParts(published(s, "agg_pairs", cells), []string{wholePart(s, "agg_pairs", cells)},
			fmt.Sprintf("if(visitors < %d, '', value)", k), dim, k, limit)
		parts = append(parts, q.coverPart(s, r, id, days, f, pairsOf(rollup.DimTotal)))
	}
	p, err := q.panel(ctx, parts)
	if err != nil {
		return Breakdown{}, fmt.Errorf("cannot query the %s breakdown of site %q under %s: %w", dim, s.ID, f.Dim, err)
	}
	if p.missing > 0 {
		return Breakdown{}, fmt.Errorf("%w: other breakdowns are kept filtered only for the most visited values of each property per day (100 by default), and %s==%s was not among them on %d day(s) of this period",
			ErrFilterUnavailable, f.Dim, f.Value, p.missing)
	}
	return p.breakdown(dim, limit, k), nil
}

// pairCells is the FROM of a read of agg_pairs: one row per stored cell
// (site, day, fdim, fvalue, dim, value, salt_day) matching where. A cell is
// the sum of its rows (pipeline/rollup/pairs.go), so no read needs FINAL,
// whether its month is compacted or not.
func (q *Querier) pairCells(where string) string {
	return rollup.PairCellsSQL(q.st.DB().Stats, where)
}

// coverPart is the panel part that counts the days of the range on which
// f's value has numbers in agg_daily for a salt day whose pair rows
// (totals in pairTotals) it lacks: a filtered breakdown over such a day
// would silently miss those visits. The days with numbers are the days
// whose published numbers are not 0 (published), so the count reveals no
// cell that the site's mode hides; the pair totals are read as stored, as
// whether they exist is the rollup's choice, not a count.
//
// In the protective mode the cells are published in Go (partCover rows,
// counted by panel), as wholePart's are: the few cells of one value do
// not need the noise expressions, whose fixed cost per query part is
// 10–15 ms on the embedded engine. Querier.noBlocks keeps the engine's
// publication, the reference the tests compare with.
func (q *Querier) coverPart(s *site.Site, r Range, id, days string, f Filter, pairTotals string) string {
	key := "concat(toString(day), ' ', toString(salt_day))"
	counted := "(visitors + visits + pageviews + events) > 0"
	stored := q.from("agg_daily", r, fmt.Sprintf("site = %s AND %s AND dim = %s AND value = %s", id, days, store.Quote(f.Dim), store.Quote(f.Value)))
	if s.Perturbed() && !q.noBlocks {
		keys := cellKeys["agg_daily"] + ", salt_day"
		return fmt.Sprintf(`SELECT toUInt8(%d) AS part, concat(toString(day), ' ', toString(if(ck = 0, %s, %s)), ' ', toString(paired)) AS val,
  c0 AS v, c1 AS n, c2 AS p, c3 AS b, c4 AS d, c5 AS e
 FROM (SELECT %s, sum(visitors) AS c0, sum(visits) AS c1, sum(pageviews) AS c2, sum(bounces) AS c3, sum(duration) AS c4,
  sum(events) AS c5, sum(ckey) AS ck, toUInt8(%s IN (SELECT %s FROM %s WHERE %s)) AS paired FROM %s GROUP BY %s)`,
			partCover, rollup.ReduceKeySQL("cityHash64("+keys+")"), rollup.ReduceKeySQL("ck"), keys, key, key, pairTotals, counted, stored, keys)
	}
	need := publishedRows(s, "agg_daily", stored)
	return fmt.Sprintf(`SELECT toUInt8(%d) AS part, toString('') AS val, toUInt64(uniqExact(day)) AS v, toUInt64(0) AS n, toUInt64(0) AS p, toUInt64(0) AS b, toUInt64(0) AS d, toUInt64(0) AS e
 FROM %s WHERE %s AND %s NOT IN (SELECT %s FROM %s WHERE %s)`, partMissing, need, counted, key, key, pairTotals, counted)
}
