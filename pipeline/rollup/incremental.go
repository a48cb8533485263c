package rollup

// Incremental runs: work proportional to what is new.
//
// A run covers the events inserted before its cut (now minus Settle, by the
// events' `inserted` stamp) and records in rollup_state the cut, how many
// events it covered and the version of the rows it wrote. The next run on
// the same site and salt day reads only the dirty visitors, those with an
// event inserted since the last cut, and writes for every key they touch
//
//	stored row + contributions(dirty visitors, events before the new cut)
//	           − contributions(dirty visitors, events before the last cut)
//
// with a new version. A visitor's numbers depend on all of that visitor's
// events of the day (a late event can change the entry page of a visit
// that closed hours ago, or join two visits into one), so the two
// contributions are computed from the dirty visitors' whole days, and every
// other visitor's share of every row stays as it was. The distinct visitor
// counts subtract too: the dirty visitors are distinct from the others, and
// each counts once per key in either term. Late events (an import, a
// replay after an outage) are no different: their insert is new, whatever
// their timestamps, so their visitors are dirty.
//
// The difference holds only if the stored rows are exactly the last cut's.
// Two things can break that, and both make the run recompute the whole day
// instead: an event stamped before the last cut that committed after the run
// read it (the count of events before the last cut changed), and another
// process that wrote the day since (the state's version is not ours). The
// state is kept in the store so that a restart continues from it only after
// checking; a process that has not written the state itself starts with a
// whole-day recomputation.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

type stateKey struct {
	site string
	day  store.Day
}

// state is one rollup_state row.
type state struct {
	cut     time.Time
	events  uint64
	version uint64
}

func (r *Rollup) forget(s *site.Site, day store.Day) {
	r.mu.Lock()
	delete(r.mine, stateKey{s.ID, day})
	r.mu.Unlock()
}

// readState returns the last state written for a site's salt day, if any.
func (r *Rollup) readState(ctx context.Context, s *site.Site, day store.Day) (state, bool, error) {
	var st state
	found := false
	q := fmt.Sprintf("SELECT toUInt32(cut), events, version FROM %s.rollup_state FINAL WHERE site = %s AND salt_day = %s",
		r.st.DB().Stats, store.Quote(s.ID), store.Quote(day.String()))
	err := r.st.Query(ctx, q, func(row store.Row) error {
		st = state{cut: time.Unix(int64(row.Uint64(0)), 0).UTC(), events: row.Uint64(1), version: row.Uint64(2)}
		found = true
		return nil
	})
	if err != nil {
		return state{}, false, fmt.Errorf("cannot read the rollup state of %s for site %q: %w", day, s.ID, err)
	}
	return st, found, nil
}

// writeState records what the aggregates of a site's salt day include, and
// remembers the version as this Rollup's own.
func (r *Rollup) writeState(ctx context.Context, s *site.Site, day store.Day, st state) error {
	err := r.st.Insert(ctx, r.st.DB().Stats+".rollup_state", []string{"site", "salt_day", "cut", "events", "version"},
		[][]any{{s.ID, day, st.cut, st.events, st.version}})
	if err != nil {
		return fmt.Errorf("cannot write the rollup state of %s for site %q: %w", day, s.ID, err)
	}
	r.mu.Lock()
	r.mine[stateKey{s.ID, day}] = st.version
	r.mu.Unlock()
	return nil
}

// cutWhere restricts where to the events inserted before cut.
func cutWhere(where string, cut time.Time) string {
	return fmt.Sprintf("%s AND inserted < toDateTime(%d)", where, cut.Unix())
}

// cutFor is the cut of a run over the events matching where: one second
// past the newest insert, but no later than Settle before now, so that
// inserts still in flight fall after it. Zero without events.
func (r *Rollup) cutFor(ctx context.Context, where string) (time.Time, error) {
	var cut time.Time
	q := fmt.Sprintf("SELECT count(), toUInt32(max(inserted)) FROM %s.events WHERE %s", r.st.DB().Stats, where)
	err := r.st.Query(ctx, q, func(row store.Row) error {
		if row.Uint64(0) > 0 {
			cut = time.Unix(int64(row.Uint64(1))+1, 0).UTC()
		}
		return nil
	})
	if err != nil || cut.IsZero() {
		return cut, err
	}
	if r.settle > 0 {
		if c := r.now().Add(-r.settle).UTC().Truncate(time.Second); c.Before(cut) {
			cut = c
		}
	}
	return cut, nil
}

// runOpen brings an open salt day up to date: from the last state when it
// can, else by recomputing the day up to a new cut.
func (r *Rollup) runOpen(ctx context.Context, s *site.Site, day store.Day, version uint64, where string) (Result, error) {
	cut, err := r.cutFor(ctx, where)
	if err != nil {
		return Result{}, fmt.Errorf("cannot find the newest insert of %s for site %q: %w", day, s.ID, err)
	}
	prev, found, err := r.readState(ctx, s, day)
	if err != nil {
		return Result{}, err
	}
	r.mu.Lock()
	own := found && r.mine[stateKey{s.ID, day}] == prev.version
	r.mu.Unlock()
	if own {
		n, _, err := r.countEvents(ctx, cutWhere(where, prev.cut))
		if err != nil {
			return Result{}, fmt.Errorf("cannot count events of %s for site %q: %w", day, s.ID, err)
		}
		switch {
		case n != prev.events:
			r.log.Info("events arrived below the last rollup's cut; recomputing the day",
				"site", s.ID, "salt_day", day.String(), "expected", prev.events, "found", n)
		case !cut.After(prev.cut):
			// Nothing inserted since, or only within Settle of now.
			return Result{Incremental: true}, nil
		default:
			return r.runIncremental(ctx, s, day, version, where, prev, cut)
		}
	}
	count, newest, err := r.countEvents(ctx, cutWhere(where, cut))
	if err != nil {
		return Result{}, fmt.Errorf("cannot count events of %s for site %q: %w", day, s.ID, err)
	}
	res, err := r.runSQL(ctx, s, day, version, cutWhere(where, cut), count, open)
	res.Newest = newest
	if err != nil {
		return res, err
	}
	return res, r.writeState(ctx, s, day, state{cut: cut, events: count, version: version})
}

// runIncremental adds the events inserted between prev's cut and cut.
func (r *Rollup) runIncremental(ctx context.Context, s *site.Site, day store.Day, version uint64, where string, prev state, cut time.Time) (Result, error) {
	db := r.st.DB().Stats
	window := fmt.Sprintf("%s AND inserted >= toDateTime(%d) AND inserted < toDateTime(%d)", where, prev.cut.Unix(), cut.Unix())
	added, newest, err := r.countEvents(ctx, window)
	if err != nil {
		return Result{}, fmt.Errorf("cannot count new events of %s for site %q: %w", day, s.ID, err)
	}
	res := Result{Incremental: true, Newest: newest}
	if added > 0 {
		dirty := fmt.Sprintf("%s AND visitor IN (SELECT visitor FROM %s.events WHERE %s)", where, db, window)
		before, after := cutWhere(dirty, prev.cut), cutWhere(dirty, cut)
		q := fmt.Sprintf("SELECT countIf(inserted < toDateTime(%d)), count() FROM %s.events WHERE %s", prev.cut.Unix(), db, after)
		err := r.st.Query(ctx, q, func(row store.Row) error {
			res.Events = int(row.Uint64(0) + row.Uint64(1))
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("cannot count the dirty visitors' events of %s for site %q: %w", day, s.ID, err)
		}
		top := ""
		if r.topN > 0 {
			top = allPairs
		}
		err = r.withCells(ctx, s, after, top, func(ca cellSources) error {
			return r.withCells(ctx, s, before, top, func(cb cellSources) error {
				for g, t := range []struct{ table, col string }{{"agg_hourly", "hour"}, {"agg_daily", "day"}} {
					n, err := r.applyDelta(ctx, s, day, version, t.table, []string{t.col, "dim", "value"}, []string{"p", "d", "v"},
						[]string{ca.hourly, ca.daily}[g], []string{cb.hourly, cb.daily}[g])
					res.Rows += n
					if err != nil {
						return err
					}
				}
				if err := r.applyFunnelDelta(ctx, s, day, version, ca, cb); err != nil {
					return err
				}
				if r.topN <= 0 {
					return nil
				}
				n, err := r.applyPairDelta(ctx, s, day, version, pairSide{ca.pairHashes, ca.pairNames}, pairSide{cb.pairHashes, cb.pairNames})
				res.PairRows = n
				return err
			})
		})
		if err != nil {
			return res, fmt.Errorf("cannot add the new events of %s for site %q: %w", day, s.ID, err)
		}
	}
	return res, r.writeState(ctx, s, day, state{cut: cut, events: prev.events + added, version: version})
}

// metricCols are the numbers of every aggregate table, in their order;
// ckey, the cell key (perturb.go), adds up like the counts.
var metricCols = []string{"visitors", "visits", "pageviews", "bounces", "duration", "events", "ckey"}

// applyDelta writes, for every key of table whose numbers after differs
// from before (two SELECTs with the key columns srcKeys, which are the
// table's keys in that order, and the metricCols; before may be ""), the
// stored row plus the difference, with version. On agg_pairs, whose rows
// add up (see pairs.go), it writes the difference itself and reads
// nothing. It returns the rows written.
func (r *Rollup) applyDelta(ctx context.Context, s *site.Site, day store.Day, version uint64, table string, keys, srcKeys []string, after, before string) (int, error) {
	db := r.st.DB().Stats
	metricCols := metricCols
	if table == FunnelsTable {
		metricCols = funnelMetricCols
	}
	// The difference is made once into a table of its own: both the
	// lookup of the stored rows and the insert read it.
	tmp := fmt.Sprintf("%s.rollup_delta_%d_%d", db, version, r.seq.Add(1))
	k := make([]string, len(keys))
	for i := range keys {
		k[i] = fmt.Sprintf("k%d", i)
	}
	keyList := strings.Join(k, ", ")
	diff := make([]string, len(metricCols))
	nonzero := make([]string, len(metricCols))
	for i := range metricCols {
		diff[i] = fmt.Sprintf("sum(m%d) AS m%d", i, i)
		nonzero[i] = fmt.Sprintf("m%d != 0", i)
	}
	sides := deltaSide(after, srcKeys, metricCols, "")
	if after == "" {
		sides = deltaSide(before, srcKeys, metricCols, "-")
	} else if before != "" {
		sides += "\n  UNION ALL\n  " + deltaSide(before, srcKeys, metricCols, "-")
	}
	create := fmt.Sprintf(`CREATE TABLE %s ENGINE = Memory AS
 SELECT %s, %s FROM (
  %s)
 GROUP BY %s HAVING %s`,
		tmp, keyList, strings.Join(diff, ", "), sides, keyList, strings.Join(nonzero, " OR "))
	if err := r.createAs(ctx, create); err != nil {
		return 0, fmt.Errorf("cannot compute the changes to %s of %s for site %q: %w", table, day, s.ID, err)
	}
	defer func() {
		// A leftover is harmless (it is named by version) but would
		// accumulate: drop it even when the run was cancelled.
		_ = r.st.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+tmp)
	}()
	if table == pairsTable {
		m := make([]string, len(metricCols))
		for i := range metricCols {
			m[i] = fmt.Sprintf("m%d", i)
		}
		ins := fmt.Sprintf("INSERT INTO %s.%s (site, %s, salt_day, %s) SELECT %s, %s, toDate(%s), %s FROM %s",
			db, table, strings.Join(keys, ", "), strings.Join(metricCols, ", "),
			store.Quote(s.ID), keyList, store.Quote(day.String()), strings.Join(m, ", "), tmp)
		if err := r.insertSelect(ctx, ins); err != nil {
			return 0, fmt.Errorf("cannot write the changes to %s of %s for site %q: %w", table, day, s.ID, err)
		}
		return r.countTable(ctx, tmp)
	}
	stored := make([]string, len(keys))
	for i, c := range keys {
		stored[i] = fmt.Sprintf("%s AS k%d", c, i)
	}
	olds := make([]string, len(metricCols))
	sums := make([]string, len(metricCols))
	for i, m := range metricCols {
		olds[i] = fmt.Sprintf("%s AS o%d", m, i)
		// A stored row below the difference would be a bug; clamping
		// keeps it from wrapping around to a huge count.
		sums[i] = fmt.Sprintf("toUInt64(greatest(toInt64(o%d) + m%d, 0))", i, i)
	}
	cols := append(append([]string{"site"}, keys...), "salt_day")
	cols = append(append(cols, metricCols...), "version")
	ins := fmt.Sprintf(`INSERT INTO %[1]s.%[2]s (%[3]s)
 SELECT %[4]s, %[5]s, toDate(%[6]s), %[7]s, toUInt64(%[8]d)
 FROM %[9]s ANY LEFT JOIN (
  SELECT %[10]s, %[11]s FROM %[1]s.%[2]s FINAL
  WHERE site = %[4]s AND salt_day = %[6]s AND (%[12]s) IN (SELECT %[5]s FROM %[9]s)
 ) AS stored USING (%[5]s)`,
		db, table, strings.Join(cols, ", "), store.Quote(s.ID), keyList, store.Quote(day.String()),
		strings.Join(sums, ", "), version, tmp, strings.Join(stored, ", "), strings.Join(olds, ", "),
		strings.Join(keys, ", "))
	if err := r.insertSelect(ctx, ins); err != nil {
		return 0, fmt.Errorf("cannot write the changes to %s of %s for site %q: %w", table, day, s.ID, err)
	}
	return r.countTable(ctx, tmp)
}

// countTable counts a table's rows.
func (r *Rollup) countTable(ctx context.Context, table string) (int, error) {
	n := 0
	err := r.st.Query(ctx, "SELECT count() FROM "+table, func(row store.Row) error {
		n = int(row.Uint64(0))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cannot count the rows of %s: %w", table, err)
	}
	return n, nil
}

// deltaSide renames one side's key columns srcKeys to k0… and its
// metricCols to m0…, negated with sign "-".
func deltaSide(src string, srcKeys, metricCols []string, sign string) string {
	out := make([]string, 0, len(srcKeys)+len(metricCols))
	for i, c := range srcKeys {
		out = append(out, fmt.Sprintf("%s AS k%d", c, i))
	}
	for i, m := range metricCols {
		out = append(out, fmt.Sprintf("%stoInt64(%s) AS m%d", sign, m, i))
	}
	return fmt.Sprintf("SELECT %s FROM (%s)", strings.Join(out, ", "), src)
}
