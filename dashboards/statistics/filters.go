package statistics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// Several filters at once, and what the aggregates answer exactly.
//
// A question carries up to MaxFilters filters, all of which a visit must
// pass (AND), each DIM==VALUE (is), DIM!=VALUE (is not) or DIM~=TEXT
// (contains TEXT, ignoring case). The stored numbers are cells of one
// property (agg_daily, agg_hourly) or of one filter value × one property
// per visit (agg_pairs), so a question is answered only when it is a sum
// or a difference of such cells; anything else is refused with
// ErrFilterUnavailable and its reason. Per question:
//
//   - Top line and chart under filters on one per-visit property (every
//     property but page and event: a visit has one value of it). With an
//     "is" or "contains" among them, the answer is the sum of the cells
//     of the values that pass them all; with only "is not", the site's
//     total minus the cells of the excluded values. Visits, pageviews,
//     events, bounces and durations are exact. Visitors are per value, as
//     in a breakdown's total: a visitor whose visits of one day had two
//     passing values counts twice in a sum, and one who had an excluded
//     and a passing value is missing from a difference.
//   - Top line and chart under "is not" or "contains" on page or event:
//     refused (a visit that viewed two matching pages would count twice).
//   - Top line and chart under two "is" filters on different properties:
//     one pair cell per day (filter value × the other value), so exact
//     where the pair rows exist: daily, weekly or monthly, not hourly. A
//     day on which the combination had fewer than k visitors is kept only
//     inside its remainder: its point is "< k", and a total, week or month
//     that needs it is refused.
//   - Breakdown of D under filters on D only: D's rows that pass them.
//     Its total and "(other)" are the sum of the passing rows.
//   - Breakdown of D under one "is" filter on another property: the pair
//     cells, as FilteredBreakdown says; with "is" on D too, that one pair
//     cell, as the top line under the two reads it.
//   - Anything else (three properties, "is not" or "contains" on another
//     property of a breakdown): refused; it would need a count of
//     visits by three properties, or a difference of pair cells that were
//     folded into remainders.
//
// Disclosure. A derived number must not uncover a hidden cell, one with
// 0 < visitors < k over the answer's span (the range, or the chart's
// bucket); only the exact mode has them: in the protective one every cell
// is published with noise and k is 1 (disclosure.go), and sums and
// differences of published cells reveal nothing the cells did not. The
// shown rows of a property and its total are public, so:
//
//   - a sum of passing cells is suppressed when one of them is hidden
//     (else it minus the shown rows is the hidden ones, and two filters
//     that differ by one hidden value give that value);
//   - a difference (only "is not") is suppressed when any value of the
//     property is hidden: the total minus it is the excluded cells, and it
//     minus the shown passing rows (and the visits without a value, the
//     total minus the breakdown's total) the hidden passing ones.
//
// A chart's suppressed points are then kept together at k or more, as
// protectSeries does.

// Op is how a filter compares a property's value.
type Op uint8

// The filter operators; their tokens in the API are ==, != and ~=.
const (
	OpIs Op = iota
	OpIsNot
	OpContains
)

var opTokens = [...]string{OpIs: "==", OpIsNot: "!=", OpContains: "~="}

// String is the operator's name in answers: is, is_not, contains.
func (o Op) String() string {
	return [...]string{OpIs: "is", OpIsNot: "is_not", OpContains: "contains"}[o]
}

// MaxFilters bounds the filters of one question.
const MaxFilters = 4

// ParseFilter reads one filter parameter: DIM==VALUE, DIM!=VALUE or
// DIM~=TEXT, DIM a breakdown property.
func ParseFilter(raw string) (Filter, error) {
	// A property's name holds none of =, ! and ~: its end is the first.
	i := strings.IndexAny(raw, "=!~")
	if i > 0 && i+2 <= len(raw) {
		for op, tok := range opTokens {
			if raw[i:i+2] == tok && validDim(raw[:i]) {
				f := Filter{Dim: raw[:i], Value: raw[i+2:], Op: Op(op)}
				if f.Op == OpContains && f.Value == "" {
					return Filter{}, fmt.Errorf("filter %s~= needs some text", f.Dim)
				}
				return f, nil
			}
		}
	}
	return Filter{}, fmt.Errorf("filter must be DIMENSION==VALUE, DIMENSION!=VALUE or DIMENSION~=TEXT with a dimension of: %s", dimList())
}

// ParseFilters reads the filter parameters of a request, dropping repeats.
func ParseFilters(raws []string) ([]Filter, error) {
	var out []Filter
	for _, raw := range raws {
		if raw == "" {
			continue
		}
		f, err := ParseFilter(raw)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) > MaxFilters {
		return nil, fmt.Errorf("at most %d filters", MaxFilters)
	}
	return out, nil
}

// perVisit reports whether a visit has at most one value of dim.
func perVisit(dim string) bool { return dim != rollup.DimPage && dim != rollup.DimEvent }

// valueCond is the SQL condition on value that f puts on the rows of f.Dim.
func valueCond(f Filter) string {
	switch f.Op {
	case OpIsNot:
		return "value != " + store.Quote(f.Value)
	case OpContains:
		return fmt.Sprintf("positionCaseInsensitiveUTF8(value, %s) > 0", store.Quote(f.Value))
	}
	return "value = " + store.Quote(f.Value)
}

// valuePlan is how filters on one property select its rows.
type valuePlan struct {
	dim string
	// positive: an "is" or "contains" among them, so the answer is the
	// sum of the passing cells; else the total minus the other cells.
	positive bool
	pass     string // the SQL condition on value of a passing cell
	// involved is the SQL condition of the cells whose hiding matters
	// (see the package comment): the passing ones, or every one.
	involved string
}

func planValues(fs []Filter) valuePlan {
	p := valuePlan{dim: fs[0].Dim}
	conds := make([]string, len(fs))
	for i, f := range fs {
		conds[i] = valueCond(f)
		p.positive = p.positive || f.Op != OpIsNot
	}
	p.pass = "(" + strings.Join(conds, " AND ") + ")"
	p.involved = p.pass
	if !p.positive {
		p.involved = "1"
	}
	return p
}

// sameDim reports whether every filter is on fs[0]'s property.
func sameDim(fs []Filter) bool {
	for _, f := range fs {
		if f.Dim != fs[0].Dim {
			return false
		}
	}
	return true
}

// unavailable is ErrFilterUnavailable with its reason.
func unavailable(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFilterUnavailable}, args...)...)
}

// topPlan sorts the filters of a top line or chart into one of the kinds
// the package comment lists.
type topPlan struct {
	one    *Filter    // one "is": the value's own rows
	values *valuePlan // filters on one per-visit property
	pair   [2]Filter  // two "is": pair[0] the filter value, pair[1] the cell's value
	isPair bool
	// swappable: either of pair can be the filter value (two per-visit
	// properties: the cell is the same visits either way).
	swappable bool
}

// pairDays is Querier.pairDays for p.pair, or for it swapped when that
// filter value has no pair rows on some day and the other may.
func (p topPlan) pairDays(ctx context.Context, q *Querier, s *site.Site, r Range) (pairAnswer, error) {
	a, err := q.pairDays(ctx, s, r, p.pair)
	if np := (noPairRows{}); errors.As(err, &np) && p.swappable {
		return q.pairDays(ctx, s, r, [2]Filter{p.pair[1], p.pair[0]})
	}
	return a, err
}

func planTop(fs []Filter) (topPlan, error) {
	switch {
	case len(fs) == 0:
		return topPlan{}, nil
	case len(fs) == 1 && fs[0].Op == OpIs:
		return topPlan{one: &fs[0]}, nil
	case len(fs) == 2 && fs[0].Op == OpIs && fs[1].Op == OpIs && fs[0].Dim == rollup.DimGoal && fs[1].Dim == rollup.DimGoal:
		// A visit can reach several goals: two of them together are the
		// visits that reached both, a pair cell like two properties'.
		return topPlan{pair: [2]Filter{fs[0], fs[1]}, isPair: true, swappable: true}, nil
	case sameDim(fs):
		if !perVisit(fs[0].Dim) {
			return topPlan{}, unavailable("the totals and chart cannot be filtered by %s with is not or contains: a visit with two matching values would count twice (filter the %s breakdown instead)", fs[0].Dim, fs[0].Dim)
		}
		p := planValues(fs)
		return topPlan{values: &p}, nil
	case len(fs) == 2 && fs[0].Op == OpIs && fs[1].Op == OpIs:
		a, b := fs[0], fs[1]
		// The filter value is the pair row's fdim; a page or event is the
		// cell's own value, so that its numbers mean what they mean
		// under its one filter (its pageviews, time on it).
		if !perVisit(a.Dim) && perVisit(b.Dim) {
			a, b = b, a
		}
		if !rollup.IsPairFilterDim(a.Dim) && perVisit(a.Dim) && perVisit(b.Dim) {
			a, b = b, a
		}
		if !rollup.IsPairFilterDim(a.Dim) {
			return topPlan{}, unavailable("two filters need one of %s", strings.Join(rollup.PairFilterDims, ", "))
		}
		return topPlan{pair: [2]Filter{a, b}, isPair: true, swappable: perVisit(a.Dim) && perVisit(b.Dim) && rollup.IsPairFilterDim(b.Dim)}, nil
	}
	return topPlan{}, unavailable("the totals and chart can be filtered by one property (is, is not, contains) or by two with is only: other combinations are not stored")
}

// hoursAnswerable reports whether a chart under fs can have hours (one of two
// filters together cannot: pair cells are daily), so that the default
// interval of a day's chart falls back to the day.
func hoursAnswerable(fs []Filter) bool {
	p, err := planTop(fs)
	return err != nil || !p.isPair
}

// AggregatesOf is Aggregates under any filters (see the package comment
// above for which it answers and how it suppresses).
func (q *Querier) AggregatesOf(ctx context.Context, s *site.Site, rs []Range, fs []Filter) ([]Metrics, error) {
	p, err := planTop(fs)
	if err != nil {
		return nil, err
	}
	switch {
	case p.one != nil:
		return q.Aggregates(ctx, s, rs, *p.one)
	case p.values == nil && !p.isPair:
		return q.Aggregates(ctx, s, rs, Filter{})
	}
	k := kOf(s)
	out := make([]Metrics, len(rs))
	for i, r := range rs {
		whole := func(string) string { return "" }
		if p.isPair {
			days, err := p.pairDays(ctx, q, s, r)
			if err != nil {
				return nil, err
			}
			if days.uncertain > 0 {
				return nil, unavailable("%s and %s together had fewer than %d visitors on %d day(s) of this period, and such days are kept only inside a remainder", p.pair[0].Dim, p.pair[1].Dim, k, days.uncertain)
			}
			for _, m := range days.byDay {
				out[i].add(m)
			}
			out[i].derive()
			out[i].suppressUnder(k)
			out[i].coarsen(k)
			continue
		}
		cells, err := q.valueCells(ctx, s, r, false, *p.values, whole)
		if err != nil {
			return nil, err
		}
		c := cells[""]
		if !p.values.positive {
			total, err := q.aggregates(ctx, s, []Range{r}, Filter{})
			if err != nil {
				return nil, err
			}
			total[0].sub(c.m)
			c.m = total[0]
		}
		out[i] = c.m
		out[i].derive()
		out[i].suppressUnder(k)
		if c.hidden {
			out[i].Suppressed, out[i].K = true, k
		}
		out[i].coarsen(k)
	}
	return out, nil
}

// cellSum is, for one span (a range or a bucket), the sum of the cells an
// answer adds (the passing ones) or subtracts (the others); hidden: an
// involved cell, summed over the span, is below k.
type cellSum struct {
	m      Metrics
	hidden bool
}

// valueCells sums the cells of p's property per span: bucket maps a row's
// day (YYYY-MM-DD) or hour (unix seconds) to its span's key. A cell is
// hidden when its visitors over the span are 0 < v < k.
func (q *Querier) valueCells(ctx context.Context, s *site.Site, r Range, hourly bool, p valuePlan, bucket func(string) string) (map[string]cellSum, error) {
	q.prepare(ctx)
	id := store.Quote(s.ID)
	table, t := "agg_daily", "toString(day)"
	where := fmt.Sprintf("site = %s AND day >= %s AND day <= %s", id, store.Quote(r.From.String()), store.Quote(r.To.String()))
	if hourly {
		from, to := r.bounds(s)
		table, t = "agg_hourly", "toString(toUInt32(hour))"
		where = fmt.Sprintf("site = %s AND hour >= toDateTime(%d) AND hour < toDateTime(%d)", id, from.Unix(), to.Unix())
	}
	where += fmt.Sprintf(" AND dim = %s AND %s", store.Quote(p.dim), p.involved)
	sql := fmt.Sprintf("SELECT %s AS t, value AS val, toUInt8(%s) AS ok, %s FROM %s GROUP BY t, val, ok", t, p.pass, sums, published(s, table, q.from(table, r, where)))
	type cellKey struct {
		span, value string
		pass        bool
	}
	cells := map[cellKey]Metrics{}
	err := q.st.Query(ctx, sql, func(row store.Row) error {
		k := cellKey{bucket(row.String(0)), row.String(1), row.Uint64(2) == 1}
		m := cells[k]
		m.add(scanMetrics(row, 3))
		cells[k] = m
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot query the %s cells of site %q: %w", p.dim, s.ID, err)
	}
	k := kOf(s)
	out := map[string]cellSum{}
	for ck, m := range cells {
		c := out[ck.span]
		if ck.pass == p.positive {
			c.m.add(m)
		}
		c.hidden = c.hidden || m.hidden(k)
		out[ck.span] = c
	}
	return out, nil
}

// noPairRows is the error of a pair question whose filter value lacks
// pair rows on some day of the range.
type noPairRows struct{ error }

func (e noPairRows) Unwrap() error { return e.error }

// pairAnswer is one pair cell per day of a range (see pairDays).
type pairAnswer struct {
	byDay     map[string]Metrics // YYYY-MM-DD: the published cell
	uncertain int                // days whose cell may be inside the remainder
	unsure    map[string]bool
}

// pairDays reads the pair cell of p[0] (the filter value) × p[1] per day of
// r. A day's cell is certain when it is stored with at least k visitors
// on each of the day's salt days that have it (the rollup folds smaller
// ones into the remainder, and an open day's are folded here as
// FilteredBreakdown folds them), or when neither it nor the remainder has
// visitors that salt day (then it is 0).
func (q *Querier) pairDays(ctx context.Context, s *site.Site, r Range, p [2]Filter) (pairAnswer, error) {
	q.prepare(ctx)
	k := kOf(s)
	id, days := store.Quote(s.ID), fmt.Sprintf("day >= %s AND day <= %s", store.Quote(r.From.String()), store.Quote(r.To.String()))
	f, c := p[0], p[1]
	pairsOf := func(dim, values string) string {
		return q.pairCells(fmt.Sprintf("site = %s AND fdim = %s AND fvalue = %s AND dim = %s AND %s AND %s",
			id, store.Quote(f.Dim), store.Quote(f.Value), store.Quote(dim), values, days))
	}
	cover, err := q.panel(ctx, []string{q.coverPart(s, r, id, days, f, pairsOf(rollup.DimTotal, "value = ''"))})
	if err != nil {
		return pairAnswer{}, fmt.Errorf("cannot query the pair rows of site %q under %s: %w", s.ID, f.Dim, err)
	}
	if cover.missing > 0 {
		return pairAnswer{}, noPairRows{unavailable("two filters are kept together only for the most visited values of each property per day (100 by default), and %s==%s was not among them on %d day(s) of this period",
			f.Dim, f.Value, cover.missing)}
	}
	a := pairAnswer{byDay: map[string]Metrics{}, unsure: map[string]bool{}}
	// Whether a cell is stored is the rollup's choice, not a published
	// number (as in coverPart), so certainty is read from the stored rows.
	unsure := fmt.Sprintf(`SELECT toString(day) AS t FROM (SELECT day, salt_day, sumIf(visitors, value = %[1]s) AS vv, sumIf(visitors, value = '') AS rr
  FROM %[2]s GROUP BY day, salt_day) WHERE vv < %[3]d AND (vv > 0 OR rr > 0) GROUP BY t`,
		store.Quote(c.Value), pairsOf(c.Dim, fmt.Sprintf("value IN (%s, '')", store.Quote(c.Value))), max(k, 1))
	err = q.st.Query(ctx, unsure, func(row store.Row) error {
		a.unsure[row.String(0)] = true
		return nil
	})
	if err != nil {
		return pairAnswer{}, fmt.Errorf("cannot query the pair rows of site %q under %s: %w", s.ID, f.Dim, err)
	}
	a.uncertain = len(a.unsure)
	src := published(s, "agg_pairs", pairsOf(c.Dim, "value = "+store.Quote(c.Value)))
	err = q.st.Query(ctx, fmt.Sprintf("SELECT toString(day) AS t, %s FROM %s GROUP BY t", sums, src), func(row store.Row) error {
		if t := row.String(0); !a.unsure[t] {
			a.byDay[t] = scanMetrics(row, 1)
		}
		return nil
	})
	if err != nil {
		return pairAnswer{}, fmt.Errorf("cannot query the pair cells of site %q under %s: %w", s.ID, f.Dim, err)
	}
	return a, nil
}

// protectDerived applies k to a derived chart: pts are its points, inv the
// involved cells of each (the same as the point for a sum, the subtracted
// cells for a difference). A point is suppressed when it is below k or
// any involved cell of it is hidden (pre-marked in pts), and while the
// suppressed points or their involved cells add up to fewer than k
// visitors, the smallest shown point joins them.
func protectDerived(pts []Point, inv []cellSum, k int) {
	for i := range pts {
		if pts[i].hidden(k) || inv[i].hidden {
			pts[i].Suppressed, pts[i].K = true, k
		}
	}
	for {
		var sp, si uint64
		for i := range pts {
			if pts[i].Suppressed {
				sp += pts[i].Visitors
				si += inv[i].m.Visitors
			}
		}
		if (sp == 0 || sp >= uint64(k)) && (si == 0 || si >= uint64(k)) {
			return
		}
		best := -1
		for i := range pts {
			if !pts[i].Suppressed && pts[i].Visitors+inv[i].m.Visitors > 0 && (best < 0 || pts[i].Visitors < pts[best].Visitors) {
				best = i
			}
		}
		if best < 0 {
			return
		}
		pts[best].Suppressed, pts[best].K = true, k
	}
}

// BreakdownOf is Breakdown under any filters (see the package comment
// above): the filters on dim select its rows, one "is" filter on another
// property reads the pair cells.
func (q *Querier) BreakdownOf(ctx context.Context, s *site.Site, r Range, dim string, limit int, fs []Filter) (Breakdown, error) {
	var own, others []Filter
	for _, f := range fs {
		if f.Dim == dim {
			own = append(own, f)
		} else {
			others = append(others, f)
		}
	}
	if len(others) > 1 || len(others) == 1 && others[0].Op != OpIs {
		return Breakdown{}, unavailable("another property's breakdown can be filtered by one other property with is only: more would need counts of three properties together, and is not or contains a difference of cells that are folded when small")
	}
	allIs, same := true, true
	for _, f := range own {
		allIs = allIs && f.Op == OpIs
		same = same && f.Value == own[0].Value
	}
	if len(own) > 0 && allIs && !same {
		// A row has one value: two different ones select nothing.
		return Breakdown{Rows: []BreakdownRow{}}, nil
	}
	if len(others) == 1 {
		if !allIs {
			return Breakdown{}, unavailable("under a filter of another property, %s can be filtered with is only: its small cells are folded together per day", dim)
		}
		if len(own) == 0 {
			return q.FilteredBreakdown(ctx, s, r, dim, limit, others[0])
		}
		return q.filteredRow(ctx, s, r, dim, others[0], own[0].Value)
	}
	switch {
	case len(own) == 0:
		return q.Breakdown(ctx, s, r, dim, limit, nil)
	case allIs:
		return q.Breakdown(ctx, s, r, dim, limit, &own[0].Value)
	}
	return q.valueBreakdown(ctx, s, r, dim, limit, planValues(own))
}

// filteredRow is the row of value in dim's breakdown under f: the pair
// cell of both, as the top line under the two filters reads it (pairDays),
// shown or suppressed as a whole.
func (q *Querier) filteredRow(ctx context.Context, s *site.Site, r Range, dim string, f Filter, value string) (Breakdown, error) {
	p := topPlan{pair: [2]Filter{f, {Dim: dim, Value: value}}, isPair: true}
	a, err := p.pairDays(ctx, q, s, r)
	if err != nil {
		return Breakdown{}, err
	}
	if a.uncertain > 0 {
		return Breakdown{}, unavailable("%s and %s together had fewer than %d visitors on %d day(s) of this period, and such days are kept only inside a remainder", f.Dim, dim, kOf(s), a.uncertain)
	}
	b := Breakdown{Rows: []BreakdownRow{}}
	for _, m := range a.byDay {
		b.Total.add(m)
	}
	b.Total.derive()
	b.Total.suppressUnder(kOf(s))
	b.Total.coarsen(kOf(s))
	if !b.Total.zero() {
		b.Rows = append(b.Rows, BreakdownRow{Value: value, Metrics: b.Total})
	}
	return b, nil
}

// partHidden is the part of a valueBreakdown whose visitors count the
// involved values hidden over the range (it reuses partMissing's slot:
// panelAnswer.missing).
const partHidden = partMissing

// valueBreakdown is the breakdown of p.dim's rows that pass p: rows as
// Breakdown makes them, the total and "(other)" the sum of the passing
// rows, suppressed when an involved cell is hidden.
func (q *Querier) valueBreakdown(ctx context.Context, s *site.Site, r Range, dim string, limit int, p valuePlan) (Breakdown, error) {
	q.prepare(ctx)
	k := kOf(s)
	base := fmt.Sprintf("site = %s AND day >= %s AND day <= %s AND dim = %s",
		store.Quote(s.ID), store.Quote(r.From.String()), store.Quote(r.To.String()), store.Quote(dim))
	src := published(s, "agg_daily", q.from("agg_daily", r, base+" AND "+p.pass))
	inv := published(s, "agg_daily", q.from("agg_daily", r, base+" AND "+p.involved))
	// The total is the sum of the passing rows as published, never a cell
	// of their own: the viewer chooses which values pass, and a cell per
	// choice would be a fresh draw of noise over the same visitors each
	// time, which averaging takes away.
	parts := append(breakdownParts(src, nil, "value", dim, k, limit),
		fmt.Sprintf(`SELECT toUInt8(%d) AS part, toString('') AS val, toUInt64(count()) AS v, toUInt64(0) AS n, toUInt64(0) AS p, toUInt64(0) AS b, toUInt64(0) AS d, toUInt64(0) AS e
 FROM (SELECT value, sum(visitors) AS vv FROM %s GROUP BY value HAVING vv > 0 AND vv < %d)`, partHidden, inv, max(k, 1)))
	a, err := q.panel(ctx, parts)
	if err != nil {
		return Breakdown{}, fmt.Errorf("cannot query the filtered %s breakdown of site %q: %w", dim, s.ID, err)
	}
	b := a.breakdown(dim, limit, k)
	if a.missing > 0 {
		b.Total = Metrics{Suppressed: true, K: k}
		if b.Other != nil {
			b.Other.Metrics = Metrics{Suppressed: true, K: k}
		}
	}
	return b, nil
}
