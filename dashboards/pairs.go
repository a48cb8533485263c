package dashboards

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
// have another property's value, read from agg_daily_pairs (see
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
// small-count protection.
func (q *Querier) FilteredBreakdown(ctx context.Context, s *site.Site, r Range, dim string, limit int, f Filter) (Breakdown, error) {
	if !rollup.IsPairFilterDim(f.Dim) {
		return Breakdown{}, fmt.Errorf("%w: other breakdowns can be filtered by %s only", ErrFilterUnavailable, strings.Join(rollup.PairFilterDims, ", "))
	}
	if err := q.pairsCover(ctx, s, r, f); err != nil {
		return Breakdown{}, err
	}
	where := fmt.Sprintf("site = %s AND fdim = %s AND fvalue = %s AND dim = %s AND day >= %s AND day <= %s",
		store.Quote(s.ID), store.Quote(f.Dim), store.Quote(f.Value), store.Quote(dim), store.Quote(r.From.String()), store.Quote(r.To.String()))
	return q.breakdownFrom(ctx, s, q.st.DB().Stats+".agg_daily_pairs FINAL", where, dim, limit, "value != ''")
}

// pairsCover checks that every (day, salt day) of the range on which f's
// value has numbers in agg_daily also has its pair rows: otherwise a
// filtered breakdown would silently miss those visits.
func (q *Querier) pairsCover(ctx context.Context, s *site.Site, r Range, f Filter) error {
	db, id := q.st.DB().Stats, store.Quote(s.ID)
	days := fmt.Sprintf("day >= %s AND day <= %s", store.Quote(r.From.String()), store.Quote(r.To.String()))
	set := func(sql string) (map[string]bool, error) {
		out := map[string]bool{}
		err := q.st.Query(ctx, sql, func(row store.Row) error {
			out[row.String(0)] = true
			return nil
		})
		return out, err
	}
	need, err := set(fmt.Sprintf(`SELECT concat(toString(day), ' ', toString(salt_day)) AS k FROM %s.agg_daily FINAL
 WHERE site = %s AND %s AND dim = %s AND value = %s AND (visitors + visits + pageviews + events) > 0 GROUP BY k`,
		db, id, days, store.Quote(f.Dim), store.Quote(f.Value)))
	if err != nil {
		return fmt.Errorf("cannot query the days of %s of site %q: %w", f.Dim, s.ID, err)
	}
	if len(need) == 0 {
		return nil
	}
	have, err := set(fmt.Sprintf(`SELECT concat(toString(day), ' ', toString(salt_day)) AS k FROM %s.agg_daily_pairs FINAL
 WHERE site = %s AND fdim = %s AND fvalue = %s AND dim = '' AND %s AND (visitors + visits + pageviews + events) > 0 GROUP BY k`,
		db, id, store.Quote(f.Dim), store.Quote(f.Value), days))
	if err != nil {
		return fmt.Errorf("cannot query the pair days of %s of site %q: %w", f.Dim, s.ID, err)
	}
	missing := map[string]bool{}
	for k := range need {
		if !have[k] {
			d, _, _ := strings.Cut(k, " ")
			missing[d] = true
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: other breakdowns are kept filtered only for the most visited values of each property per day (100 by default), and %s==%s was not among them on %d day(s) of this period",
			ErrFilterUnavailable, f.Dim, f.Value, len(missing))
	}
	return nil
}
