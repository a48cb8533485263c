package rollup

// How the engine aggregates: visits first, then cells.
//
// A run first writes one row per visit of the events it reads into a table
// of its own in memory (visitsSQL), then makes every aggregate table's cells
// from those rows (cellsSQL, pairCellsSQL), and drops it. The visits are
// made once per run and read three times (hourly, daily, pairs). Each step
// mirrors accumulator.session, so that the two paths agree number for
// number (sql_test.go):
//
//  1. per visitor, its events as one array of tuples sorted by (ts, kind,
//     name, path, …), the order the Go path reads them in, cut into visits
//     where two events are more than SessionTimeout apart;
//  2. per visit: its start, bounce and duration, its session-level
//     dimensions from its first page (sd), and its events as parallel arrays
//     of times, kinds, values (path or event name) and time on page;
//  3. per visit, the keys it touches and what it adds to each: its session
//     dimensions in every period it has events in (visits, bounces and
//     duration only in the period it started), each event in its page or
//     event name, each page or event name it contains once;
//  4. those rows added up per visit and key (R), within the visit's own
//     arrays (visitKeysSQL), then per key: a visitor with one visit has
//     one R row per key, so visitors are counted as rows, and only the
//     visitors with several visits need a distinct count (hourly and
//     daily alike: a set per hourly cell of those few visitors cost half
//     as much as adding every visitor's rows up per key first).
//
// Pair cells cross each R row of a visit with the visit's filter values.
// That cross is most of a run's work (a visit with f filter values and n
// keys makes f × n rows), so it is done on 64-bit hashes of the keys and
// filter values, a visitor is counted by the first of its visits in a cell
// (priorSQL), and the strings are joined back once per cell.
//
// Only arrays, tuples, ARRAY JOIN and higher-order functions are used:
// ClickHouse 18.16 and the embedded 26.x engine run the same SQL. A
// period is computed in the site's time zone by the engine (toStartOfHour,
// toDate with a zone), which agrees with site.HourStart except within the
// repeated hour when clocks go back: the engine keeps the two hours apart,
// the Go path folds them into the first.

import (
	"context"
	"fmt"
	"strings"

	"github.com/sezim-analytics/sezim/site"
)

// visitsSQL returns the SELECT of one row per visit of the events matching
// where: visitor, nv (the visitor's visits that day), p0 (the visit's first
// event's unix time), bounce, dur, sd (its session dimensions as (dim,
// value), empty values dropped, the total (”, ”) first), et, ek, ev, etop
// (its events' times, kinds, values and time on page), vals (the distinct
// (page, path) and (event, name) it contains) and fs (its filter values for
// the pair rows, as top asks: "" none, allPairs every value of
// PairFilterDims, else a list of tuple literals).
//
// goals is goalValsSQL's array of the goals the visit reaches, added to
// vals ("": no goals). With props, the events' properties are read too:
// eprops holds each event's (prop:key, value) pairs, and vals the
// distinct ones (props.go).
func visitsSQL(db, where, top, goals string, props bool) string {
	sdims := fmt.Sprintf(`arrayFilter(d -> d.1 = '' OR d.2 != '', [
   ('%s', ''), ('%s', entry), ('%s', exit), ('%s', f.5), ('%s', f.6),
   ('%s', f.7), ('%s', f.8), ('%s', f.9), ('%s', f.10), ('%s', f.11),
   ('%s', f.12), ('%s', f.13), ('%s', f.14), ('%s', bver), ('%s', f.16),
   ('%s', f.17), ('%s', f.18), ('%s', f.19)])`,
		DimTotal, DimEntryPage, DimExitPage, DimSource, DimChannel,
		DimUTMSource, DimUTMMedium, DimUTMCampaign, DimUTMContent, DimUTMTerm,
		DimCountry, DimRegion, DimBrowser, DimBrowserVersion, DimOS,
		DimDevice, DimScreen, DimLanguage)
	vals := fmt.Sprintf("arrayDistinct(arrayFilter(x -> x.1 = '%[1]s' OR x.2 != '', arrayMap((k, v) -> (if(k = 1, '%[1]s', '%[2]s'), v), ek, ev)))", DimPage, DimEvent)
	if goals != "" {
		vals = fmt.Sprintf("arrayConcat(%s, %s)", vals, goals)
	}
	// Without props the visits have no eprops column at all.
	tuple, eprops, epropsCol, epropsWhere := eventTuple, "", "", ""
	if props {
		tuple += ", prop_keys, prop_values"
		eprops = propsOfEventsSQL + " AS eprops,"
		epropsCol, epropsWhere = ", eprops", " AND length(eprops) >= 0"
		vals = fmt.Sprintf("arrayConcat(%s, %s)", vals, propValsSQL)
	}
	fs := "CAST([] AS Array(Tuple(String, String)))"
	candidates := "arrayConcat(arrayFilter(d -> d.1 != '', sd), arrayFilter(v -> v.2 != '', vals))"
	switch top {
	case "":
	case allPairs:
		dims := make([]string, len(PairFilterDims))
		for i, d := range PairFilterDims {
			dims[i] = "'" + d + "'"
		}
		fs = fmt.Sprintf("arrayFilter(x -> x.1 IN (%s), %s)", strings.Join(dims, ", "), candidates)
	default:
		fs = fmt.Sprintf("arrayFilter(x -> has([%s], x), %s)", top, candidates)
	}
	// ClickHouse 18.16 prunes a subquery's columns that the outer query
	// uses only inside a lambda ("Unknown identifier"): the WHERE clauses
	// that are always true name them outside one.
	return fmt.Sprintf(`SELECT visitor, nv, p0, bounce, dur, sd, et, ek, ev, etop, vals, fs, arrayMap(x -> cityHash64(x.1, x.2), fs) AS fhs%[11]s
 FROM (SELECT *, %[1]s AS fs
 FROM (
  SELECT visitor, nv, sess,
   arrayMap(e -> e.1, sess) AS et, arrayMap(e -> e.2, sess) AS ek,
   arrayMap(e -> if(e.2 = 1, e.4, e.3), sess) AS ev,
   length(sess) AS n,
   arrayMap((t, nt, k, i) -> toUInt32(if(k = 1 AND i < n, nt - t, 0)), et, arrayPushBack(arrayPopFront(et), toUInt32(0)), ek, arrayEnumerate(et)) AS etop,
   et[1] AS p0,
   arrayFirstIndex(k -> k = 1, ek) AS fi, sess[if(fi = 0, 1, fi)] AS f,
   arrayCount(k -> k = 1, ek) AS npv,
   toUInt8(npv <= 1 AND npv = n) AS bounce,
   toUInt32(et[n] - et[1]) AS dur,
   if(fi = 0, '', f.4) AS entry,
   if(npv = 0, '', ev[n + 1 - arrayFirstIndex(k -> k = 1, arrayReverse(ek))]) AS exit,
   if(f.14 != '' AND f.15 > 0, concat(f.14, ' ', toString(f.15)), '') AS bver,
   %[2]s AS sd,
   %[10]s
   %[9]s AS vals
  FROM (
   SELECT visitor, length(starts) AS nv, arrayJoin(arrayMap((s, l) -> arraySlice(evs, s, l), starts, lens)) AS sess
   FROM (
    SELECT visitor, evs, arrayMap(e -> e.1, evs) AS t,
     arrayFilter((i, d) -> i = 1 OR d > %[5]d, arrayEnumerate(t), arrayDifference(t)) AS starts,
     arrayMap((s, i) -> if(i < length(starts), starts[i + 1], length(evs) + 1) - s, starts, arrayEnumerate(starts)) AS lens
    FROM (
     SELECT visitor, arraySort(groupArray((%[6]s))) AS evs
     FROM %[7]s.events WHERE %[8]s GROUP BY visitor))
   WHERE notEmpty(evs))
  WHERE notEmpty(sess) AND n > 0)
 WHERE notEmpty(sd) AND notEmpty(et) AND notEmpty(ek) AND notEmpty(ev) AND notEmpty(etop) AND bounce <= 1 AND dur >= 0 AND length(vals) >= 0%[12]s)`,
		fs, sdims, DimPage, DimEvent, int(SessionTimeout.Seconds()), tuple, db, where, vals, eprops, epropsCol, epropsWhere)
}

// visitKeysSQL returns the SELECT of R: per visit (visitor, p0) and key
// (kh, a hash of period, dim and value) the visit's numbers there (vi, pv,
// bo, du, ev), with the key's strings (kp, kd, kv) and the visitor's
// number of visits (nv). period is an expression of {ts}, a unix time
// (UInt32), giving the key's period. With props, each event's properties
// add its pageview or event to their keys (props.go).
//
// There is no GROUP BY over the visits: one of (visit, key) made the
// engine hold a hash table of every visit's every key, which grew faster
// than the day (5 s at 1M events, 85 s at 10M). Instead a visit's rows
// come out distinct from its own arrays:
//
//   - its session dimensions, one row per dimension and period it has
//     events in (visits, bounces and duration only in the period it
//     started), distinct already;
//   - its pages, events, goals and properties (visitContribSQL): every
//     event adds its pageview or event and time on page to its page or
//     name (and its properties) in its own period, every distinct value of
//     vals adds the visit once in the period it started; these are added
//     up per key within the visit's array.
func visitKeysSQL(visits, period string, props bool) string {
	return keyRowsSQL(visits, period, props, "", "")
}

// keyRowsSQL is visitKeysSQL of the visits that also match cond (" AND
// …", or ""), with the visits' columns carry (", a, b", or "") on every
// row.
func keyRowsSQL(visits, period string, props bool, cond, carry string) string {
	p := func(x string) string { return strings.ReplaceAll(period, "{ts}", x) }
	entryExit := fmt.Sprintf("('%s', '%s')", DimEntryPage, DimExitPage)
	sessions := fmt.Sprintf(`SELECT visitor, p0, nv%[5]s, cityHash64(pp, d.1, d.2) AS kh, pp AS kp, d.1 AS kd, d.2 AS kv,
   toUInt64(pp = pz) AS vi, toUInt64(if(d.1 IN %[2]s, 0, npp)) AS pv,
   toUInt64(if(pp = pz, bounce, 0)) AS bo, toUInt64(if(pp = pz, dur, 0)) AS du,
   toUInt64(if(d.1 IN %[2]s, 0, nep)) AS ev
  FROM (
   SELECT visitor, nv, p0%[5]s, bounce, dur, pz, pp, npp, nep, arrayJoin(sd) AS d
   FROM (
    SELECT visitor, nv, p0%[5]s, bounce, dur, sd, %[1]s AS pz, ps, arrayDistinct(ps) AS pps,
     arrayMap(x -> arrayCount((q, k) -> q = x AND k = 1, ps, ek), pps) AS npvs,
     arrayMap(x -> arrayCount((q, k) -> q = x AND k != 1, ps, ek), pps) AS neps
    FROM (SELECT *, arrayMap(t -> %[3]s, et) AS ps FROM %[4]s WHERE 1%[6]s)
    WHERE notEmpty(ps) AND notEmpty(ek))
   ARRAY JOIN pps AS pp, npvs AS npp, neps AS nep)
  WHERE pp = pz OR d.1 NOT IN %[2]s`, p("p0"), entryExit, p("t"), visits, carry, cond)
	// The visit's contributions c are sorted by their keys' hashes, so
	// that each key is a run of equal hashes: its strings are those of the
	// run's first element, its numbers the differences of the cumulative
	// sums at the runs' ends. (A lambda that reads a whole array for each
	// key instead made this step 20 times as slow: the engine copies the
	// array it closes over once per element.)
	propsWhere := ""
	if props {
		propsWhere = " AND length(eprops) >= 0"
	}
	metrics := []string{"vi", "pv", "bo", "du", "ev"}
	sums := make([]string, len(metrics))
	out := make([]string, len(metrics))
	for i, m := range metrics {
		sums[i] = fmt.Sprintf("arrayPopFront(arrayDifference(arrayPushFront(arrayFilter((v, e) -> e, arrayCumSum(arrayMap(x -> x.%d, sc)), ends), toUInt64(0)))) AS s_%s", i+4, m)
		out[i] = fmt.Sprintf("toUInt64(s%s) AS %s", m, m)
		metrics[i] = "s_" + m + " AS s" + m
	}
	// 18.16 prunes a subquery's columns that the outer query uses only
	// inside a lambda: the always-true WHERE clauses name them outside one.
	values := fmt.Sprintf(`SELECT visitor, p0, nv%[7]s, kh, f.1 AS kp, f.2 AS kd, f.3 AS kv, %[1]s
  FROM (
   SELECT visitor, p0, nv%[7]s, arrayFilter((x, s) -> s, sc, starts) AS fs, arrayFilter((h, s) -> s, sh, starts) AS khs,
    %[2]s
   FROM (
    SELECT visitor, p0, nv%[7]s, sc, sh, starts, arrayPopFront(arrayPushBack(starts, 1)) AS ends
    FROM (
     SELECT visitor, p0, nv%[7]s, sc, sh, arrayMap((h, ph, i) -> i = 1 OR h != ph, sh, arrayPushFront(arrayPopBack(sh), toUInt64(0)), arrayEnumerate(sh)) AS starts
     FROM (
      SELECT visitor, p0, nv%[7]s, arraySort((x, h) -> h, c, hs) AS sc, arraySort(hs) AS sh
      FROM (
       SELECT visitor, p0, nv%[7]s, c, arrayMap(x -> cityHash64(x.1, x.2, x.3), c) AS hs
       FROM (SELECT visitor, p0, nv%[7]s, %[3]s AS c FROM %[4]s
        WHERE notEmpty(et) AND notEmpty(ek) AND notEmpty(ev) AND notEmpty(etop) AND length(vals) >= 0 AND bounce <= 1%[5]s%[8]s)
       WHERE notEmpty(c))
      WHERE notEmpty(c) AND notEmpty(hs))
     WHERE notEmpty(sc) AND notEmpty(sh))
    WHERE notEmpty(sc) AND notEmpty(starts))
   WHERE notEmpty(fs) AND notEmpty(khs))
  ARRAY JOIN fs AS f, khs AS kh, %[6]s`,
		strings.Join(out, ", "), strings.Join(sums, ",\n    "), visitContribSQL(period, props), visits, propsWhere, strings.Join(metrics, ", "), carry, cond)
	return sessions + "\n UNION ALL\n  " + values
}

// visitContribSQL is, per visit, the array of what its events and values
// add to their keys: (period, dim, value, visits, pageviews, bounces,
// duration, events), a key possibly more than once.
func visitContribSQL(period string, props bool) string {
	p := func(x string) string { return strings.ReplaceAll(period, "{ts}", x) }
	// Every tuple has the same types: 18.16 does not widen them.
	events := fmt.Sprintf(`arrayFilter(x -> x.2 = '%[2]s' OR x.3 != '', arrayMap((t, k, v, top) -> (%[1]s, if(k = 1, '%[2]s', '%[3]s'), v,
   toUInt64(0), toUInt64(k = 1), toUInt64(0), toUInt64(top), toUInt64(k != 1)), et, ek, ev, etop))`, p("t"), DimPage, DimEvent)
	vals := fmt.Sprintf(`arrayMap(x -> (%[1]s, x.1, x.2,
   toUInt64(1), toUInt64(0), toUInt64(if(x.1 = '%[2]s', bounce, 0)), toUInt64(0), toUInt64(0)), vals)`, p("p0"), DimPage)
	if !props {
		return fmt.Sprintf("arrayConcat(%s, %s)", events, vals)
	}
	return fmt.Sprintf("arrayConcat(%s, %s, %s)", events, vals, propContribSQL(p("t")))
}

// visitorsSQL counts the distinct visitors of a group of R rows: a visitor
// with one visit has one row per key.
//
// The visitors with several visits are collected with the same aggregate
// as ckeySQL's, so the engine keeps one set of them per group, not two (a
// second set, uniqExact beside groupUniqArray, made the rollup's pair step
// costly enough to starve the collector under load).
const visitorsSQL = "countIf(nv = 1) + length(groupUniqArrayIf(visitor, nv > 1))"

// cellsSQL is the SELECT of one site's exact hourly or daily cells (p, d,
// v, visitors, visits, pageviews, bounces, duration, events, ckey) from R rows
// (see visitKeysSQL): keys is a table or a parenthesised SELECT.
func cellsSQL(keys string) string {
	return fmt.Sprintf(`SELECT kh, any(kp) AS p, any(kd) AS d, any(kv) AS v, %s AS visitors, sum(vi) AS visits,
   sum(pv) AS pageviews, sum(bo) AS bounces, sum(du) AS duration, sum(ev) AS events, %s AS ckey
  FROM %s GROUP BY kh`, visitorsSQL, ckeySQL, keys)
}

// priorSQL is the SELECT of the rows that tell a visit's pair cells that
// its visitor was counted in them already: per visit (visitor, p0) after
// the visitor's first of the day and daily key kh that one of the
// visitor's earlier visits has, the filter value hashes of those earlier
// visits (relf). Only visitors with several visits have rows.
func priorSQL(keys, visits string) string {
	// Two arrayJoins in one SELECT make every pair (i, j) of a visitor's
	// visits (of two different expressions: the engine makes one of two
	// equal ones); j is earlier when its start is.
	return fmt.Sprintf(`SELECT visitor, p0, kh, groupArrayArray(pf) AS relf
 FROM (
  SELECT visitor, i.1 AS p0, arrayJoin(arrayFilter(k -> has(j.3, k), i.3)) AS kh, j.2 AS pf
  FROM (
   SELECT visitor, arrayJoin(vs) AS i, arrayJoin(arrayReverse(vs)) AS j
   FROM (
    SELECT visitor, groupArray((p0, fhs, khs)) AS vs
    FROM (SELECT visitor, p0, fhs FROM %[2]s WHERE nv > 1) AS v
    ANY INNER JOIN (SELECT visitor, p0, groupArray(kh) AS khs FROM %[1]s WHERE nv > 1 GROUP BY visitor, p0) AS k USING (visitor, p0)
    GROUP BY visitor))
  WHERE j.1 < i.1)
 GROUP BY visitor, p0, kh`, keys, visits)
}

// pairHashCellsSQL is the SELECT of one site's exact pair cells on hashes
// (fh, kh, visitors, visits, pageviews, bounces, duration, events, ckey):
// pairHashRowsSQL added up per cell.
func pairHashCellsSQL(keys, visits, prior, period string, props bool) string {
	return fmt.Sprintf(`SELECT fh, kh, sum(visitors) AS visitors, sum(visits) AS visits, sum(pageviews) AS pageviews,
   sum(bounces) AS bounces, sum(duration) AS duration, sum(events) AS events, sum(ckey) AS ckey
  FROM (%s) GROUP BY fh, kh`, pairHashRowsSQL(keys, visits, prior, period, props))
}

// pairHashRowsSQL is the SELECT of what each visit adds to each of its pair
// cells on hashes (pairHashCellsSQL's columns, a cell in several rows),
// from the daily R rows in table keys of a visits table made with filter
// values and its prior table (priorSQL): only hashes and numbers go
// through the cross of keys and filter values, and pairNames gives the
// strings back. Whoever reads it adds the rows up: the cells are grouped
// once, with whatever they are compared to.
//
// A visitor with one visit that day (most of them) is counted in every
// cell its visit has: its keys are made again from its visit row, with
// the visit's filter values carried along (keyRowsSQL), and crossed with
// no join. A visitor with several visits is counted in a cell by the
// first of its visits in it (first): a filter value of a visit is new to
// a key unless it is among relf, which arrayEnumerateUniq tells without a
// set per cell (a set per cell, even an empty one, made the cells cost
// three times as much to count).
func pairHashRowsSQL(keys, visits, prior, period string, props bool) string {
	// p0 > 0: 18.16 would prune p0, which the key rows use inside lambdas.
	single := fmt.Sprintf(`SELECT fh, kh, toUInt64(1) AS visitors, vi AS visits, pv AS pageviews, bo AS bounces, du AS duration, ev AS events, %[1]s AS ckey
  FROM (%[2]s) ARRAY JOIN fhs AS fh WHERE p0 > 0`, RecordKeySQL("visitor"), keyRowsSQL(visits, period, props, " AND nv = 1", ", fhs"))
	several := fmt.Sprintf(`SELECT fh, kh, first AS visitors, vi AS visits, pv AS pageviews, bo AS bounces, du AS duration, ev AS events, first * rk AS ckey
  FROM (
   SELECT kh, fhs, rk, vi, pv, bo, du, ev, arraySlice(arrayEnumerateUniq(arrayConcat(relf, fhs)), length(relf) + 1) AS us
   FROM (
    SELECT visitor, p0, kh, vi, pv, bo, du, ev, relf
    FROM (SELECT visitor, p0, kh, vi, pv, bo, du, ev FROM %[1]s WHERE nv > 1) AS keys
    ANY LEFT JOIN %[3]s AS prior USING (visitor, p0, kh)) AS keys
   ANY LEFT JOIN (SELECT visitor, p0, fhs, %[4]s AS rk FROM %[2]s WHERE nv > 1) AS visits USING (visitor, p0))
  ARRAY JOIN fhs AS fh, arrayMap(u -> toUInt64(u = 1), us) AS first`, keys, visits, prior, RecordKeySQL("visitor"))
	return single + "\n UNION ALL\n  " + several
}

// pairNames are the SELECTs of the strings behind a pair cell's hashes:
// keys (kh, day, dim, value) and filters (fh, fdim, fvalue); either may
// name a hash more than once.
type pairNames struct {
	keys, filters string
}

// newPairNames is the pairNames of a daily R table and its visits table.
func newPairNames(keys, visits string) pairNames {
	return pairNames{
		keys:    fmt.Sprintf("SELECT kh, kp AS day, kd AS dim, kv AS value FROM %s", keys),
		filters: fmt.Sprintf("SELECT cityHash64(x.1, x.2) AS fh, x.1 AS fdim, x.2 AS fvalue FROM %s ARRAY JOIN fs AS x", visits),
	}
}

// pairCellsSQL is the SELECT of one site's exact pair cells (day, fdim,
// fvalue, dim, value, visitors, visits, pageviews, bounces, duration,
// events, ckey) from the daily R rows in table keys of a visits table made with
// filter values: pairHashCellsSQL with the strings joined to the cells.
func pairCellsSQL(keys, visits, prior, period string, props bool) string {
	names := newPairNames(keys, visits)
	// 18.16 has one JOIN per SELECT: the key strings, then the filter
	// strings. ANY LEFT JOIN: newer engines make ANY INNER JOIN keep one
	// row per key on both sides.
	return fmt.Sprintf(`SELECT day, fdim, fvalue, dim, value, visitors, visits, pageviews, bounces, duration, events, ckey
 FROM (
  SELECT fh, day, dim, value, visitors, visits, pageviews, bounces, duration, events, ckey
  FROM (%[1]s) AS cells
  ANY LEFT JOIN (SELECT kh, any(day) AS day, any(dim) AS dim, any(value) AS value FROM (%[2]s) GROUP BY kh) AS names USING (kh)) AS named
 ANY LEFT JOIN (SELECT fh, any(fdim) AS fdim, any(fvalue) AS fvalue FROM (%[3]s) GROUP BY fh) AS filters USING (fh)`,
		pairHashCellsSQL(keys, visits, prior, period, props), names.keys, names.filters)
}

// withTable makes a table in memory of a SELECT under a name of its own,
// calls fn with its name and drops it.
func (r *Rollup) withTable(ctx context.Context, tag, sel string, fn func(name string) error) error {
	name := fmt.Sprintf("%s.rollup_%s_%d", r.st.DB().Stats, tag, r.seq.Add(1))
	if err := r.createAs(ctx, "CREATE TABLE "+name+" ENGINE = Memory AS "+sel); err != nil {
		return fmt.Errorf("cannot make the run's %s: %w", tag, err)
	}
	// A leftover would hold visitor hashes beyond their day: drop it even
	// when the run was cancelled.
	defer func() { _ = r.st.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+name) }()
	return fn(name)
}

// cellSources are the SELECTs of one visits table's cells: hourly and
// daily (cellsSQL columns) and pairs (pairCellsSQL columns), and the pairs
// rows on hashes (pairHashRowsSQL columns) with their names.
type cellSources struct {
	hourly, daily, pairs string
	funnel               string // funnelCellsSQL's; "" without funnels
	pairHashes           string
	pairNames            pairNames
}

// withCells sessionises the events matching where (see visitsSQL, top
// says which filter values get pairs) and calls fn with the SELECTs of
// their cells, valid until fn returns.
func (r *Rollup) withCells(ctx context.Context, s *site.Site, where, top string, fn func(cellSources) error) error {
	periods := periodSQL(s)
	props := len(s.Properties) > 0
	return r.withTable(ctx, "visits", visitsSQL(r.st.DB().Stats, where, top, goalValsSQL(r.goalsOf(s)), props), func(visits string) error {
		// The daily keys are read twice (daily cells and pairs): made
		// once.
		return r.withTable(ctx, "keys", visitKeysSQL(visits, periods[daily], props), func(keys string) error {
			cells := cellSources{
				// p0 > 0: 18.16 would prune p0, which the key rows
				// use inside lambdas.
				hourly: cellsSQL("(SELECT * FROM (" + visitKeysSQL(visits, periods[hourly], props) + ") WHERE p0 > 0)"),
				daily:  cellsSQL(keys),
				funnel: funnelCellsSQL(s, visits, periods[daily]),
			}
			if top == "" {
				return fn(cells)
			}
			return r.withTable(ctx, "prior", priorSQL(keys, visits), func(prior string) error {
				cells.pairs = pairCellsSQL(keys, visits, prior, periods[daily], props)
				cells.pairHashes = pairHashRowsSQL(keys, visits, prior, periods[daily], props)
				cells.pairNames = newPairNames(keys, visits)
				return fn(cells)
			})
		})
	})
}
