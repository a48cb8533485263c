package rollup

// The SQL path: ClickHouse aggregates a salt day itself (visits.go says
// how).
//
// Why. The Go path (accumulate.go) reads every event of the salt day out
// of ClickHouse as text and counts them one by one; its cost per run is the
// day's size times the cost of parsing and counting in Go, and it stops
// keeping up at about a million events a day. Here INSERT … SELECT does the
// same work inside the engine: the events never leave it.

import (
	"cmp"
	"context"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

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

// periodSQL returns the period expressions of {ts} (an event's unix time) for
// the hourly and the daily table, in the site's time zone.
func periodSQL(s *site.Site) [2]string {
	tz := store.Quote(s.Location.String())
	return [2]string{
		"toStartOfHour(toDateTime({ts}), " + tz + ")",
		"toDate(toDateTime({ts}), " + tz + ")",
	}
}

// writeSQL writes one site's hourly and daily rows of one salt day from
// its cells, then zeroes the keys that earlier recomputations wrote and
// this one did not produce. It returns the rows written.
func (r *Rollup) writeSQL(ctx context.Context, s *site.Site, day store.Day, version uint64, cells cellSources) (int, error) {
	db := r.st.DB().Stats
	written := 0
	for g, table := range []string{"agg_hourly", "agg_daily"} {
		col := "hour"
		if granularity(g) == daily {
			col = "day"
		}
		ins := fmt.Sprintf(`INSERT INTO %[1]s.%[2]s (site, %[3]s, dim, value, salt_day, visitors, visits, pageviews, bounces, duration, events, ckey, version)
 SELECT %[4]s, p, d, v, toDate(%[5]s), visitors, visits, pageviews, bounces, duration, events, ckey, toUInt64(%[6]d)
 FROM (%[7]s)`,
			db, table, col, store.Quote(s.ID), store.Quote(day.String()), version,
			[]string{cells.hourly, cells.daily}[g])
		if err := r.insertSelect(ctx, ins); err != nil {
			return written, fmt.Errorf("cannot compute %s of %s for site %q: %w", table, day, s.ID, err)
		}
		// Every key this run produced has the new version, every other
		// key of the salt day an older one: those are the stale keys.
		zero := fmt.Sprintf(`INSERT INTO %[1]s.%[2]s (site, %[3]s, dim, value, salt_day, visitors, visits, pageviews, bounces, duration, events, ckey, version)
 SELECT site, %[3]s, dim, value, salt_day, 0, 0, 0, 0, 0, 0, 0, toUInt64(%[4]d)
 FROM %[1]s.%[2]s FINAL
 WHERE site = %[5]s AND salt_day = %[6]s AND version < %[4]d AND (visitors + visits + pageviews + events) > 0`,
			db, table, col, version, store.Quote(s.ID), store.Quote(day.String()))
		if err := r.insertSelect(ctx, zero); err != nil {
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
	top, k := "", 0
	if r.topN > 0 {
		top = allPairs
		if m == final {
			top, k = "", s.KThreshold
			if count > 0 {
				chosen, err := r.topValues(ctx, where, r.topN)
				if err != nil {
					return res, fmt.Errorf("cannot choose the pair values of %s for site %q: %w", day, s.ID, err)
				}
				chosen = addGoalsTop(chosen, r.goalsOf(s))
				top = topList(chosen)
			}
		}
	}
	err := r.withCells(ctx, s, where, top, func(cells cellSources) error {
		n, err := r.writeSQL(ctx, s, day, version, cells)
		res.Rows = n
		if err == nil {
			err = r.writeFunnelsSQL(ctx, s, day, version, cells.funnel)
		}
		if err != nil || r.topN <= 0 {
			// With pairs off earlier pair rows stay as they were, as on
			// the Go path.
			return err
		}
		if m == open {
			// Every value, nothing folded: the difference is made on
			// hashes (pairhash.go).
			after := pairSide{cells: cells.pairHashes, names: cells.pairNames}
			res.PairRows, err = r.applyPairDelta(ctx, s, day, version, after, r.storedPairSide(s, day))
			return err
		}
		if top == "" {
			cells.pairs = "" // no values chosen: only zero the stale rows
		}
		res.PairRows, err = r.writePairsSQL(ctx, s, day, version, cells.pairs, k)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("cannot recompute %s for site %q: %w", day, s.ID, err)
	}
	return res, nil
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

// writePairsSQL brings one site's pair rows of one salt day to its pair
// cells ("": none), after folding the cells below k (0: none) into their
// remainder row (see pairs.go): it adds the cells and takes away what is
// stored for the salt day, as one difference. It returns the rows written.
func (r *Rollup) writePairsSQL(ctx context.Context, s *site.Site, day store.Day, version uint64, cells string, k int) (int, error) {
	// version only names the run's table of changes: agg_pairs has none.
	keys := []string{"day", "fdim", "fvalue", "dim", "value"}
	after := ""
	if cells != "" {
		// The inner GROUP BY folds: a cell's visitors are distinct
		// within the cell, and the remainder adds them up like
		// foldSmallPairs.
		after = fmt.Sprintf(`SELECT day, fdim, fvalue, dim, v AS value, sum(c0) AS visitors, sum(c1) AS visits, sum(c2) AS pageviews,
   sum(c3) AS bounces, sum(c4) AS duration, sum(c5) AS events, sum(c6) AS ckey
  FROM (
   SELECT day, fdim, fvalue, dim, if(dim = '' OR value = '' OR visitors >= %d, value, '') AS v,
    visitors AS c0, visits AS c1, pageviews AS c2, bounces AS c3, duration AS c4, events AS c5, ckey AS c6
   FROM (%s))
  GROUP BY day, fdim, fvalue, dim, v`, k, cells)
	}
	return r.applyDelta(ctx, s, day, version, pairsTable, keys, keys, after, r.storedPairsSQL(s, day))
}

// storedPairsSQL is the SELECT of one site's stored pair cells of one salt
// day (pairCellsSQL's columns, ckey last). A salt day (UTC) feeds site-local days
// within one day of it: the range lets the read skip other months.
func (r *Rollup) storedPairsSQL(s *site.Site, day store.Day) string {
	d := store.Quote(day.String())
	return fmt.Sprintf(`SELECT day, fdim, fvalue, dim, value, sum(c0) AS visitors, sum(c1) AS visits,
   sum(c2) AS pageviews, sum(c3) AS bounces, sum(c4) AS duration, sum(c5) AS events, sum(c6) AS ckey
  FROM (SELECT day, fdim, fvalue, dim, value, visitors AS c0, visits AS c1, pageviews AS c2, bounces AS c3, duration AS c4, events AS c5, ckey AS c6
    FROM %s.%s WHERE site = %s AND salt_day = %s AND day >= toDate(%s) - 1 AND day <= toDate(%s) + 1)
  GROUP BY day, fdim, fvalue, dim, value`, r.st.DB().Stats, pairsTable, store.Quote(s.ID), d, d, d)
}

// mergePairs merges the months of agg_pairs that a salt day writes to, so
// that the cells its last run took away (folded below k, or no longer in
// the top values) are gone from disk and not only from the sums.
func (r *Rollup) mergePairs(ctx context.Context, saltDay store.Day) error {
	t := saltDay.Time()
	seen := map[int]bool{}
	for _, d := range []time.Time{t.AddDate(0, 0, -1), t, t.AddDate(0, 0, 1)} {
		m := d.Year()*100 + int(d.Month())
		if seen[m] {
			continue
		}
		seen[m] = true
		if err := r.st.Exec(ctx, fmt.Sprintf("OPTIMIZE TABLE %s.%s PARTITION %d FINAL", r.st.DB().Stats, pairsTable, m)); err != nil {
			return fmt.Errorf("cannot merge the pair rows of %d: %w", m, err)
		}
	}
	return nil
}

// insertSelect runs an INSERT … SELECT into a MergeTree table. Engines
// from version 20 on write with several threads when asked: writing a full
// day's pair cells (sorting them on their strings) took about half as long
// with two. 18.16 knows no such setting and writes with one.
// With Options.Threads set, every statement of a run also carries
// max_threads (and max_insert_threads that many).
func (r *Rollup) insertSelect(ctx context.Context, q string) error {
	r.learnSettings(ctx)
	return r.st.Exec(ctx, q+r.insertSettings)
}

// createAs runs a CREATE TABLE … AS SELECT of a run's own tables.
func (r *Rollup) createAs(ctx context.Context, q string) error {
	r.learnSettings(ctx)
	return r.st.Exec(ctx, q+r.selectSettings)
}

// learnSettings sets insertSettings and selectSettings, once: the thread
// cap, and max_insert_threads on engines that have it (version 20 on).
func (r *Rollup) learnSettings(ctx context.Context) {
	r.settingsOnce.Do(func() {
		var sel []string
		if r.threads > 0 {
			sel = append(sel, fmt.Sprintf("max_threads = %d", r.threads))
		}
		ins := slices.Clone(sel)
		if v, err := r.st.Version(ctx); err == nil {
			major, _, _ := strings.Cut(v, ".")
			if n, err := strconv.Atoi(major); err == nil && n >= 20 {
				ins = append(ins, fmt.Sprintf("max_insert_threads = %d", cmp.Or(r.threads, max(runtime.NumCPU(), 2))))
			}
		}
		r.selectSettings, r.insertSettings = settingsClause(sel), settingsClause(ins)
	})
}

// settingsClause is the SETTINGS clause of set, or "" when it is empty.
func settingsClause(set []string) string {
	if len(set) == 0 {
		return ""
	}
	return " SETTINGS " + strings.Join(set, ", ")
}
