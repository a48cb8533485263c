package statistics

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// The realtime view: the last RealtimeMinutes minutes by minute, and the
// top pages and sources of those minutes, read from the raw events of the
// stats database (the aggregates lag behind by a rollup run).
//
// Every number is a cell of distinct visitors and is published like the
// others: in the protective mode with the noise its cell key fixes (the
// key of a set of visitors, as Realtime's), in the exact mode as counted,
// a minute below k suppressed (and the suppressed minutes kept together at
// k or more, protectSeries), a page or source below k folded into
// "(other)" (foldBreakdown). A minute with one visitor is a moment someone
// can be placed at, so minutes are suppressed although they are site
// totals. The visitors of the whole window are shown as Realtime's are.

// RealtimeMinutes is the realtime view's window.
const RealtimeMinutes = 30

// realtimeRows is how many pages and sources the view lists.
const realtimeRows = 10

// RealtimeView is the realtime panel's answer.
type RealtimeView struct {
	// Visitors are the distinct visitors of the window.
	Visitors uint64
	// Minutes are the window's minutes, oldest first, dated RFC 3339 in
	// the site's time zone; only visitors and pageviews are counted.
	Minutes []Point
	// Pages are viewed paths (visitors who viewed, pageviews); Sources
	// the referrer host of each visitor's first event in the window.
	Pages, Sources Breakdown
}

// RealtimeDetail returns the realtime view of s at now.
func (q *Querier) RealtimeDetail(ctx context.Context, s *site.Site, now time.Time) (RealtimeView, error) {
	end := now.Truncate(time.Minute)
	start := end.Add(-(RealtimeMinutes - 1) * time.Minute)
	where := fmt.Sprintf("site = %s AND ts >= toDateTime(%d)", store.Quote(s.ID), start.Unix())
	db := q.st.DB().Stats
	pv := fmt.Sprintf("toUInt64(countIf(kind = %d))", event.KindPageview)
	key := "toUInt32(0)"
	if s.Perturbed() {
		key = realtimeKeySQL
	}
	cells := fmt.Sprintf("toUInt64(uniqExact(visitor)) AS v, %s AS p, %s AS ck", pv, key)
	// One query, three parts: the window, its minutes, pages, sources.
	sql := strings.Join([]string{
		fmt.Sprintf("SELECT toUInt8(0) AS part, toString('') AS val, %s FROM %s.events WHERE %s", cells, db, where),
		fmt.Sprintf("SELECT toUInt8(1) AS part, toString(toUInt32(toStartOfMinute(ts))) AS val, %s FROM %s.events WHERE %s GROUP BY val", cells, db, where),
		fmt.Sprintf("SELECT toUInt8(2) AS part, path AS val, %s FROM %s.events WHERE %s AND kind = %d GROUP BY val", cells, db, where, event.KindPageview),
		fmt.Sprintf(`SELECT toUInt8(3) AS part, src AS val, toUInt64(uniqExact(visitor)) AS v, toUInt64(sum(pvs)) AS p, %s AS ck
 FROM (SELECT visitor, argMin(ref_host, ts) AS src, %s AS pvs FROM %s.events WHERE %s GROUP BY visitor) WHERE src != '' GROUP BY val`, key, pv, db, where),
	}, " UNION ALL ")
	pub := func(n, ck uint64) uint64 {
		if s.Perturbed() {
			return rollup.Perturbation.Publish(n, uint32(ck))
		}
		return n
	}
	var v RealtimeView
	minutes := map[string]Metrics{}
	var pages, sources []BreakdownRow
	err := q.st.Query(ctx, sql, func(row store.Row) error {
		m := Metrics{Visitors: pub(row.Uint64(2), row.Uint64(4)), Pageviews: pub(row.Uint64(3), row.Uint64(4))}
		switch row.Uint64(0) {
		case 0:
			v.Visitors = m.Visitors
		case 1:
			minutes[row.String(1)] = m
		case 2:
			pages = append(pages, BreakdownRow{Value: row.String(1), Metrics: m})
		case 3:
			sources = append(sources, BreakdownRow{Value: row.String(1), Metrics: m})
		}
		return nil
	})
	if err != nil {
		return RealtimeView{}, fmt.Errorf("cannot query the realtime view of site %q: %w", s.ID, err)
	}
	k := kOf(s)
	for t := start; !t.After(end); t = t.Add(time.Minute) {
		v.Minutes = append(v.Minutes, Point{Date: t.In(s.Location).Format(time.RFC3339), Metrics: minutes[fmt.Sprint(t.Unix())]})
	}
	protectSeries(v.Minutes, k)
	coarsenPoints(v.Minutes, k)
	window := Metrics{Visitors: v.Visitors}
	window.coarsen(k)
	v.Visitors = window.Visitors
	v.Pages, v.Sources = topNow(pages, k), topNow(sources, k)
	return v, nil
}

// topNow is a realtime breakdown: rows by visitors, the top realtimeRows of
// at least k, the rest in "(other)", the total their sum.
func topNow(rows []BreakdownRow, k int) Breakdown {
	var total Metrics
	for _, r := range rows {
		total.add(r.Metrics)
	}
	slices.SortFunc(rows, func(x, y BreakdownRow) int {
		return cmp.Or(cmp.Compare(y.Visitors, x.Visitors), strings.Compare(x.Value, y.Value))
	})
	shown, other := foldBreakdown(rows, total, realtimeRows, k)
	total.suppressUnder(k)
	b := Breakdown{Rows: shown, Other: other, Total: total}
	b.coarsen(k)
	return b
}

func (a *API) realtimeDetail(c *fiber.Ctx) error {
	s, err := a.site(c)
	if err != nil {
		return err
	}
	v, err := a.q.RealtimeDetail(c.UserContext(), s, a.o.Now())
	if err != nil {
		return err
	}
	bd := func(b Breakdown) fiber.Map { return fiber.Map{"results": b.Rows, "other": b.Other, "total": b.Total} }
	return c.JSON(fiber.Map{"site": s.ID, "k": kOf(s), "minutes_window": RealtimeMinutes, "visitors": v.Visitors,
		"minutes": v.Minutes, "pages": bd(v.Pages), "sources": bd(v.Sources), "updated_seconds_ago": a.updatedAgo()})
}
