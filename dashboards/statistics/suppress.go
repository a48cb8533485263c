package statistics

import (
	"encoding/json"
)

// Small-count suppression.
//
// A cell is any set of numbers computed from a subset of a site's visitors:
// a breakdown row, the "other" row, a filtered total, a point of a filtered
// time series. A cell with 0 < visitors < k is sent with every number null
// and "suppressed": true (and "< k" in the UI and CSV). The unfiltered site
// totals and their time series are the site's own numbers and are never
// suppressed.
//
// Hiding one cell is not enough when a sum of cells is shown: the hidden
// cell would be the sum minus the rest. So the hidden cells of one answer
// are protected as a group: a breakdown folds every row below k into an
// "other" row (other = the breakdown's total minus the rows shown), and if
// that "other" still holds fewer than k visitors, the smallest shown rows
// are folded into it until it holds at least k. A filtered time series
// does the same with its points.
//
// Dominant cells. A row of at least DominantFactor·k visitors is never
// folded: hiding 4,825 visitors to protect 3 leaves a panel that says
// nothing. The remainder is protected instead by rounding: every count of
// a dominant cell (one of DominantFactor·k visitors or more), wherever it is
// published (a row, "other", a breakdown's total, the site's top line, a
// point of a chart, a filtered total, the live count, CSV), is rounded to a
// multiple of 2k (half up) and marked "rounded". A total minus its dominant
// rows is then a difference of multiples of 2k, each known to ±k, and for
// an odd k the remainder is never pinned to one value, however many
// dominant rows are subtracted: the bounds a viewer can derive are, modulo
// 2k, n or n+k below and k−1 or 2k−1 above for n rows, never k−1 below or 1
// above (TestRoundingHidesRemainder checks it by enumeration, and that an
// even k fails with k−1 rows). Rounding is a function of the count alone, so the same
// cell is published the same way in every answer and nothing can be
// averaged. It costs at most k/(DominantFactor·k) = 1 % of a number, less as
// it grows. The disclosure mode cellkey needs none of this: its k is 1 and
// its noise hides remainders (disclosure.go).
//
// Visitors over several days are the sum of each day's visitors (see the
// README), and k applies to that sum: one person who came on five days is
// five visitors of a seven-day range. Differencing two overlapping ranges
// of counts below the dominant size is not prevented in the exact mode:
// k-suppression bounds what one answer shows.

// DominantFactor times k is the size from which a row is never folded to
// protect a remainder, and its counts are published rounded to 2k instead.
const DominantFactor = 100

// dominant reports whether a cell of v visitors is published rounded
// under k (never when k is 1: nothing is hidden, so nothing needs cover).
func dominant(v uint64, k int) bool { return k > 1 && v >= DominantFactor*uint64(k) }

// roundTo rounds n half up to a multiple of base.
func roundTo(n, base uint64) uint64 { return (n + base/2) / base * base }

// coarsen publishes a dominant cell rounded: each count to a multiple of 2k,
// the rates derived again from the rounded counts (a rate of the exact
// counts would give them back). Other cells are left as they are.
func (m *Metrics) coarsen(k int) {
	if !dominant(m.Visitors, k) {
		return
	}
	b := 2 * uint64(k)
	for _, c := range []*uint64{&m.Visitors, &m.Visits, &m.Pageviews, &m.Events, &m.bounces, &m.duration} {
		*c = roundTo(*c, b)
	}
	m.Rounded = true
	m.derive()
}

// hidden reports whether m must be suppressed under k.
func (m *Metrics) hidden(k int) bool { return m.Visitors > 0 && m.Visitors < uint64(k) }

// suppressUnder marks m suppressed when it is computed from fewer than k
// visitors.
func (m *Metrics) suppressUnder(k int) {
	if m.hidden(k) {
		m.Suppressed, m.K = true, k
	}
}

func (m *Metrics) add(o Metrics) {
	m.Visitors += o.Visitors
	m.Visits += o.Visits
	m.Pageviews += o.Pageviews
	m.Events += o.Events
	m.bounces += o.bounces
	m.duration += o.duration
}

// sub subtracts o, flooring at zero (a ReplacingMergeTree read racing a
// merge is the only way o could exceed m).
func (m *Metrics) sub(o Metrics) {
	f := func(a, b uint64) uint64 {
		if b > a {
			return 0
		}
		return a - b
	}
	m.Visitors = f(m.Visitors, o.Visitors)
	m.Visits = f(m.Visits, o.Visits)
	m.Pageviews = f(m.Pageviews, o.Pageviews)
	m.Events = f(m.Events, o.Events)
	m.bounces = f(m.bounces, o.bounces)
	m.duration = f(m.duration, o.duration)
}

func (m *Metrics) zero() bool {
	return m.Visitors == 0 && m.Visits == 0 && m.Pageviews == 0 && m.Events == 0
}

// OtherValue is the value of the row that holds a breakdown's folded rows.
const OtherValue = "(other)"

// foldBreakdown applies k to a breakdown: rows are the candidate rows in
// display order, total the sum over every row of the dimension in the
// range (in the protective mode, of its days' whole-breakdown cells: see
// wholePart). It returns at most limit shown rows, each from at least k
// visitors, and the "other" row holding everything else (nil when empty),
// suppressed when it holds fewer than k visitors.
func foldBreakdown(rows []BreakdownRow, total Metrics, limit, k int) ([]BreakdownRow, *BreakdownRow) {
	shown := make([]BreakdownRow, 0, min(len(rows), limit))
	for _, r := range rows {
		if len(shown) == limit {
			break
		}
		if r.Visitors >= uint64(k) || r.zero() {
			shown = append(shown, r)
		}
	}
	other := total
	for _, r := range shown {
		other.sub(r.Metrics)
	}
	// Complementary suppression: "other" is the total minus what is shown,
	// so it may not be a small count either. The smallest row below the
	// dominant size joins it (rows are in display order, which for events
	// is by events); a dominant row stays, as rounding covers the rest.
	for other.hidden(k) {
		i := len(shown) - 1
		for i >= 0 && dominant(shown[i].Visitors, k) {
			i--
		}
		if i < 0 {
			break
		}
		other.add(shown[i].Metrics)
		shown = append(shown[:i], shown[i+1:]...)
	}
	if other.zero() {
		return shown, nil
	}
	other.derive()
	other.suppressUnder(k)
	return shown, &BreakdownRow{Value: OtherValue, Other: true, Metrics: other}
}

// protectSeries applies k to the points of a filtered time series: points
// below k are suppressed, and while the suppressed points add up to fewer
// than k visitors, the smallest shown point below the dominant size joins
// them.
func protectSeries(pts []Point, k int) {
	var sum uint64
	for i := range pts {
		if pts[i].hidden(k) {
			pts[i].Suppressed, pts[i].K = true, k
			sum += pts[i].Visitors
		}
	}
	for sum > 0 && sum < uint64(k) {
		best := -1
		for i := range pts {
			if !pts[i].Suppressed && pts[i].Visitors > 0 && !dominant(pts[i].Visitors, k) && (best < 0 || pts[i].Visitors < pts[best].Visitors) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		pts[best].Suppressed, pts[best].K = true, k
		sum += pts[best].Visitors
	}
}

// coarsenPoints publishes each point of a series, filtered or not (see
// coarsen): a dominant point is rounded, as every total is.
func coarsenPoints(pts []Point, k int) {
	for i := range pts {
		pts[i].coarsen(k)
	}
}

// coarsen publishes every cell of a breakdown after its fold (which needs
// the exact counts): rows, "other" and the total.
func (b *Breakdown) coarsen(k int) {
	for i := range b.Rows {
		b.Rows[i].coarsen(k)
	}
	if b.Other != nil {
		b.Other.coarsen(k)
	}
	b.Total.coarsen(k)
}

// metricsJSON is the wire form of Metrics: every number is null when the
// cell is suppressed.
type metricsJSON struct {
	Visitors      *uint64  `json:"visitors"`
	Visits        *uint64  `json:"visits"`
	Pageviews     *uint64  `json:"pageviews"`
	Events        *uint64  `json:"events"`
	ViewsPerVisit *float64 `json:"views_per_visit"`
	BounceRate    *float64 `json:"bounce_rate"`
	VisitDuration *float64 `json:"visit_duration"`
	Suppressed    bool     `json:"suppressed"`
	K             int      `json:"k,omitempty"`
	Rounded       bool     `json:"rounded,omitempty"`
}

func (m Metrics) wire() metricsJSON {
	if m.Suppressed {
		return metricsJSON{Suppressed: true, K: m.K}
	}
	return metricsJSON{Visitors: &m.Visitors, Visits: &m.Visits, Pageviews: &m.Pageviews, Events: &m.Events,
		ViewsPerVisit: &m.ViewsPerVisit, BounceRate: &m.BounceRate, VisitDuration: &m.VisitDuration, Rounded: m.Rounded}
}

// MarshalJSON writes the metrics, or nulls and "suppressed": true.
func (m Metrics) MarshalJSON() ([]byte, error) { return json.Marshal(m.wire()) }

// MarshalJSON writes the point's date and metrics.
func (p Point) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Date string `json:"date"`
		metricsJSON
	}{p.Date, p.Metrics.wire()})
}

// MarshalJSON writes the row's value and metrics; the "other" row has
// "other": true.
func (r BreakdownRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Value string `json:"value"`
		Other bool   `json:"other,omitempty"`
		metricsJSON
	}{r.Value, r.Other, r.Metrics.wire()})
}
