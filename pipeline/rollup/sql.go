package rollup

// The SQL path: ClickHouse aggregates a salt day itself.
//
// Why. The Go path (accumulate.go) reads every event of the salt day out
// of ClickHouse as text and counts them one by one; its cost per run is the
// day's size times the cost of parsing and counting in Go, and it stops
// keeping up at about a million events a day. Here one INSERT … SELECT per
// table does the same work inside the engine: the events never leave it.
//
// How. The query mirrors accumulator.session step for step, so the two can
// be compared number for number (sql_test.go):
//
//  1. per visitor, the events as one array of tuples sorted by
//     (ts, kind, name, path, …): the order the Go path reads them in;
//  2. the array is cut into visits where two events are more than
//     SessionTimeout apart (arrayDifference finds the gaps, arraySlice cuts);
//  3. per visit, its first page, entry and exit, bounce and duration, and the
//     list of every (period, dim, value) it touches with what it adds there;
//  4. arrayJoin of that list, GROUP BY (period, dim, value), visitors as the
//     distinct visitors that touched the key.
//
// Only arrays, tuples and higher-order functions are used, which ClickHouse
// 18.16 and the embedded 26.x engine both have; no window functions. The
// period of an event is computed in the site's time zone by the engine
// (toStartOfHour, toDate with a zone), which agrees with site.HourStart
// except within the repeated hour when clocks go back: the engine keeps the
// two hours apart, the Go path folds them into the first.

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// allPairs as contributionsSQL's top asks for the pairs of every filter
// value.
const allPairs = "*"

// eventTuple is the tuple of one event in the per-visitor array; the
// tuple's element numbers (e.1 …) below follow this order, and the Go path's
// ORDER BY (rollup.go) lists the same columns so that events with the same
// second come in the same order on both paths.
const eventTuple = `toUInt32(ts), kind, name, path, ref_host, channel,
 utm_source, utm_medium, utm_campaign, utm_content, utm_term, country, region,
 browser, browser_version, os, device, screen, language`

// eventOrder is eventTuple's column list, for the Go path's ORDER BY.
const eventOrder = `ts, kind, name, path, ref_host, channel,
 utm_source, utm_medium, utm_campaign, utm_content, utm_term, country, region,
 browser, browser_version, os, device, screen, language`

// contributionsSQL returns a SELECT of (visitor, c) rows, one per key a
// visit touches: c is (period, dim, value, visits, pageviews, bounces,
// duration, events, fdims) with the visit's own numbers for that key.
// period is an expression of {ts}, the event's unix time (UInt32), giving
// the key's period. fdims is the visit's (dim, value) filter values that
// are in top, a list of tuple literals, for the pair rows; empty when top
// is, every filter value when top is allPairs.
func contributionsSQL(db, where, period, top string) string {
	p := func(x string) string { return strings.ReplaceAll(period, "{ts}", x) }
	// The visit's session-level dimensions, from its first page (or its
	// first event when it has no page), empty values dropped.
	sdims := fmt.Sprintf(`arrayFilter(d -> d.1 = '' OR d.2 != '', [
   ('%s', ''), ('%s', entry), ('%s', exit), ('%s', f.5), ('%s', f.6),
   ('%s', f.7), ('%s', f.8), ('%s', f.9), ('%s', f.10), ('%s', f.11),
   ('%s', f.12), ('%s', f.13), ('%s', f.14), ('%s', bver), ('%s', f.16),
   ('%s', f.17), ('%s', f.18), ('%s', f.19)])`,
		DimTotal, DimEntryPage, DimExitPage, DimSource, DimChannel,
		DimUTMSource, DimUTMMedium, DimUTMCampaign, DimUTMContent, DimUTMTerm,
		DimCountry, DimRegion, DimBrowser, DimBrowserVersion, DimOS,
		DimDevice, DimScreen, DimLanguage)
	// Visits, bounces and duration count in the period the visit started;
	// pageviews and events in the period they happened; entry and exit
	// pages only their visits.
	perSession := fmt.Sprintf(`arrayReduce('groupArrayArray', arrayMap(pp -> arrayMap(d -> (pp, d.1, d.2,
    toUInt64(pp = p0), toUInt64(if(d.1 IN ('%[1]s', '%[2]s'), 0, arrayCount((e, q) -> e.2 = 1 AND q = pp, sess, ps))),
    toUInt64(if(pp = p0, bounce, 0)), toUInt64(if(pp = p0, dur, 0)),
    toUInt64(if(d.1 IN ('%[1]s', '%[2]s'), 0, arrayCount((e, q) -> e.2 != 1 AND q = pp, sess, ps)))),
   arrayFilter(d -> pp = p0 OR d.1 NOT IN ('%[1]s', '%[2]s'), sdims)), arrayDistinct(ps)))`,
		DimEntryPage, DimExitPage)
	// Every page view adds to its page (with the time until the visit's
	// next event), every named custom event to its name.
	perEvent := fmt.Sprintf(`arrayFilter(c -> c.2 = '%[1]s' OR c.3 != '', arrayMap((e, q, i) -> (q,
    if(e.2 = 1, '%[1]s', '%[2]s'), if(e.2 = 1, e.4, e.3), toUInt64(0), toUInt64(e.2 = 1), toUInt64(0),
    toUInt64(if(e.2 = 1 AND i < length(sess), sess[i + 1].1 - e.1, 0)), toUInt64(e.2 != 1)),
   sess, ps, arrayEnumerate(sess)))`, DimPage, DimEvent)
	// A page or event name counts each visit that contains it once.
	perValue := fmt.Sprintf(`arrayMap(v -> (p0, v.1, v.2, toUInt64(1), toUInt64(0),
    toUInt64(if(v.1 = '%[1]s', bounce, 0)), toUInt64(0), toUInt64(0)),
   arrayFilter(v -> v.1 = '%[1]s' OR v.2 != '', arrayDistinct(arrayMap(e -> (if(e.2 = 1, '%[1]s', '%[2]s'), if(e.2 = 1, e.4, e.3)), sess))))`,
		DimPage, DimEvent)
	fdims := "CAST([] AS Array(Tuple(String, String)))"
	if top == allPairs {
		dims := make([]string, len(PairFilterDims))
		for i, d := range PairFilterDims {
			dims[i] = store.Quote(d)
		}
		// Every value of every filter dimension the visit has: the open
		// salt days keep pairs for all of them (see pairs.go).
		fdims = fmt.Sprintf(`arrayFilter(x -> x.1 IN (%s), arrayConcat(arrayFilter(d -> d.1 != '', sdims),
   arrayDistinct(arrayFilter(v -> v.2 != '', arrayMap(e -> (if(e.2 = 1, '%s', '%s'), if(e.2 = 1, e.4, e.3)), sess)))))`,
			strings.Join(dims, ", "), DimPage, DimEvent)
	} else if top != "" {
		// A visit has a page or event it contains, and the value of each
		// session-level dimension (see pairs.go). Chosen once per visit:
		// has() scans the list.
		fdims = fmt.Sprintf(`arrayFilter(x -> has([%s], x), arrayConcat(arrayFilter(d -> d.1 != '', sdims),
   arrayDistinct(arrayFilter(v -> v.2 != '', arrayMap(e -> (if(e.2 = 1, '%s', '%s'), if(e.2 = 1, e.4, e.3)), sess)))))`, top, DimPage, DimEvent)
	}
	// ClickHouse 18.16 prunes a subquery's columns that the outer query
	// uses only inside a lambda ("Unknown identifier"): the WHERE clauses
	// that are always true name them outside one.
	return fmt.Sprintf(`SELECT visitor, arrayJoin(arrayConcat(%[1]s, %[2]s, %[3]s)) AS c, fdims
 FROM (
  SELECT visitor, sess,
   arrayMap(e -> %[5]s, sess) AS ps, ps[1] AS p0,
   arrayFirstIndex(e -> e.2 = 1, sess) AS fi, sess[if(fi = 0, 1, fi)] AS f,
   arrayCount(e -> e.2 = 1, sess) AS npv,
   if(npv <= 1 AND npv = length(sess), 1, 0) AS bounce,
   sess[-1].1 - sess[1].1 AS dur,
   if(fi = 0, '', f.4) AS entry,
   if(npv = 0, '', arrayFirst(e -> e.2 = 1, arrayReverse(sess)).4) AS exit,
   if(f.14 != '' AND f.15 > 0, concat(f.14, ' ', toString(f.15)), '') AS bver,
   %[6]s AS sdims, %[4]s AS fdims
  FROM (
   SELECT visitor, arrayJoin(arrayMap((s, l) -> arraySlice(evs, s, l), starts, lens)) AS sess
   FROM (
    SELECT visitor, evs, arrayMap(e -> e.1, evs) AS t,
     arrayFilter((i, d) -> i = 1 OR d > %[7]d, arrayEnumerate(t), arrayDifference(t)) AS starts,
     arrayMap((s, i) -> if(i < length(starts), starts[i + 1], length(evs) + 1) - s, starts, arrayEnumerate(starts)) AS lens
    FROM (
     SELECT visitor, arraySort(groupArray((%[8]s))) AS evs
     FROM %[9]s.events WHERE %[10]s GROUP BY visitor))
   WHERE notEmpty(evs)))
 WHERE notEmpty(sess) AND notEmpty(ps) AND notEmpty(sdims) AND p0 = p0 AND bounce <= 1 AND dur >= 0`,
		perSession, perEvent, perValue, fdims, p("e.1"), sdims,
		int(SessionTimeout.Seconds()), eventTuple, db, where)
}

// periodSQL returns the period expressions of {ts} (an event's unix time) for
// the hourly and the daily table, in the site's time zone.
func periodSQL(s *site.Site) [2]string {
	tz := store.Quote(s.Location.String())
	return [2]string{
		"toStartOfHour(toDateTime({ts}), " + tz + ")",
		"toDate(toDateTime({ts}), " + tz + ")",
	}
}

// writeSQL recomputes one site's hourly and daily rows of one salt day in
// the engine, then zeroes the keys that earlier recomputations wrote and
// this one did not produce. It returns the rows written.
func (r *Rollup) writeSQL(ctx context.Context, s *site.Site, day store.Day, version uint64, where string) (int, error) {
	db := r.st.DB().Stats
	periods := periodSQL(s)
	written := 0
	for g, table := range []string{"agg_hourly", "agg_daily"} {
		col := "hour"
		if granularity(g) == daily {
			col = "day"
		}
		ins := fmt.Sprintf(`INSERT INTO %[1]s.%[2]s (site, %[3]s, dim, value, salt_day, visitors, visits, pageviews, bounces, duration, events, version)
 SELECT %[4]s, c.1, c.2, c.3, toDate(%[5]s), uniqExact(visitor), sum(c.4), sum(c.5), sum(c.6), sum(c.7), sum(c.8), toUInt64(%[6]d)
 FROM (%[7]s) GROUP BY c.1, c.2, c.3`,
			db, table, col, store.Quote(s.ID), store.Quote(day.String()), version,
			contributionsSQL(db, where, periods[g], ""))
		if err := r.st.Exec(ctx, ins); err != nil {
			return written, fmt.Errorf("cannot compute %s of %s for site %q: %w", table, day, s.ID, err)
		}
		// Every key this run produced has the new version, every other
		// key of the salt day an older one: those are the stale keys.
		zero := fmt.Sprintf(`INSERT INTO %[1]s.%[2]s (site, %[3]s, dim, value, salt_day, visitors, visits, pageviews, bounces, duration, events, version)
 SELECT site, %[3]s, dim, value, salt_day, 0, 0, 0, 0, 0, 0, toUInt64(%[4]d)
 FROM %[1]s.%[2]s FINAL
 WHERE site = %[5]s AND salt_day = %[6]s AND version < %[4]d AND (visitors + visits + pageviews + events) > 0`,
			db, table, col, version, store.Quote(s.ID), store.Quote(day.String()))
		if err := r.st.Exec(ctx, zero); err != nil {
			return written, fmt.Errorf("cannot zero stale %s of %s for site %q: %w", table, day, s.ID, err)
		}
		n, err := r.countVersion(ctx, table, s, day, version)
		if err != nil {
			return written, err
		}
		written += n
	}
	return written, nil
}

// countVersion counts the rows of one salt day and site that carry version.
func (r *Rollup) countVersion(ctx context.Context, table string, s *site.Site, day store.Day, version uint64) (int, error) {
	n := 0
	q := fmt.Sprintf("SELECT count() FROM %s.%s WHERE site = %s AND salt_day = %s AND version = %d",
		r.st.DB().Stats, table, store.Quote(s.ID), store.Quote(day.String()), version)
	err := r.st.Query(ctx, q, func(row store.Row) error {
		n = int(row.Uint64(0))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cannot count the rows written to %s of %s for site %q: %w", table, day, s.ID, err)
	}
	return n, nil
}

// runSQL recomputes one site's salt day on the SQL path from the events
// matching where (count of them): hourly and daily rows, then the pair
// rows, for every filter value while the day is open and for the top
// values, folded, when it is final.
func (r *Rollup) runSQL(ctx context.Context, s *site.Site, day store.Day, version uint64, where string, count uint64, m mode) (Result, error) {
	res := Result{Events: int(count)}
	n, err := r.writeSQL(ctx, s, day, version, where)
	res.Rows = n
	if err != nil || r.topN <= 0 {
		// With pairs off earlier pair rows stay as they were, as on the
		// Go path.
		return res, err
	}
	top, k := allPairs, 0
	if m == final {
		top, k = "", s.KThreshold
		if count > 0 {
			chosen, err := r.topValues(ctx, where, r.topN)
			if err != nil {
				return res, fmt.Errorf("cannot choose the pair values of %s for site %q: %w", day, s.ID, err)
			}
			top = topList(chosen)
		}
	}
	res.PairRows, err = r.writePairsSQL(ctx, s, day, version, where, top, k)
	return res, err
}

// topList is the filter values in top as a list of tuple literals.
func topList(top map[dimValue]bool) string {
	lit := make([]string, 0, len(top))
	for f := range top {
		lit = append(lit, "("+store.Quote(f.dim)+", "+store.Quote(f.value)+")")
	}
	sort.Strings(lit)
	return strings.Join(lit, ", ")
}

// pairCellsSQL is the SELECT of one site's exact pair cells (day, fdim,
// fvalue, dim, value, visitors, visits, pageviews, bounces, duration,
// events) over the events matching where, for the filter values top asks
// for (see contributionsSQL).
func pairCellsSQL(db string, s *site.Site, where, top string) string {
	return fmt.Sprintf(`SELECT c.1 AS day, f.1 AS fdim, f.2 AS fvalue, c.2 AS dim, c.3 AS value, uniqExact(visitor) AS visitors,
   sum(c.4) AS visits, sum(c.5) AS pageviews, sum(c.6) AS bounces, sum(c.7) AS duration, sum(c.8) AS events
  FROM (%s)
  ARRAY JOIN fdims AS f
  GROUP BY day, fdim, fvalue, dim, value`, contributionsSQL(db, where, periodSQL(s)[daily], top))
}

// writePairsSQL computes one site's pair rows of one salt day in the
// engine for the filter values top asks for, folds the cells below k
// (0: none) into their remainder row (see pairs.go), and zeroes the pair
// rows that earlier recomputations wrote and this one did not produce. It
// returns the rows written.
func (r *Rollup) writePairsSQL(ctx context.Context, s *site.Site, day store.Day, version uint64, where, top string, k int) (int, error) {
	db := r.st.DB().Stats
	cols := "site, day, fdim, fvalue, dim, value, salt_day, visitors, visits, pageviews, bounces, duration, events, version"
	if top != "" {
		// The inner GROUP BY makes the exact cells, the outer one folds
		// the small ones: a cell's visitors are distinct within the cell,
		// and the remainder adds them up like foldSmallPairs.
		ins := fmt.Sprintf(`INSERT INTO %[1]s.agg_daily_pairs (%[2]s)
 SELECT %[3]s, day, fdim, fvalue, dim, if(dim = '' OR value = '' OR visitors >= %[4]d, value, '') AS v,
  toDate(%[5]s), sum(visitors), sum(visits), sum(pageviews), sum(bounces), sum(duration), sum(events), toUInt64(%[6]d)
 FROM (
  %[7]s)
 GROUP BY day, fdim, fvalue, dim, v`,
			db, cols, store.Quote(s.ID), k, store.Quote(day.String()), version, pairCellsSQL(db, s, where, top))
		if err := r.st.Exec(ctx, ins); err != nil {
			return 0, fmt.Errorf("cannot compute pair aggregates of %s for site %q: %w", day, s.ID, err)
		}
	}
	// A salt day (UTC) feeds site-local days within one day of it: the
	// range lets the read skip other months' partitions.
	zero := fmt.Sprintf(`INSERT INTO %[1]s.agg_daily_pairs (%[2]s)
 SELECT site, day, fdim, fvalue, dim, value, salt_day, 0, 0, 0, 0, 0, 0, toUInt64(%[3]d)
 FROM %[1]s.agg_daily_pairs FINAL
 WHERE site = %[4]s AND salt_day = %[5]s AND day >= toDate(%[5]s) - 1 AND day <= toDate(%[5]s) + 1
 AND version < %[3]d AND (visitors + visits + pageviews + events) > 0`,
		db, cols, version, store.Quote(s.ID), store.Quote(day.String()))
	if err := r.st.Exec(ctx, zero); err != nil {
		return 0, fmt.Errorf("cannot zero stale pair aggregates of %s for site %q: %w", day, s.ID, err)
	}
	return r.countVersion(ctx, "agg_daily_pairs", s, day, version)
}
