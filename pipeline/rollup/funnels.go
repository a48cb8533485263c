package rollup

// Funnels: per site-local day, funnel and step, the visits that went
// through the funnel's steps 1 to step in order (other events in between
// allowed), and their distinct visitors.
//
// They are made from the run's visits table (visits.go), so a funnel is
// counted within a visit exactly as the other numbers sessionise: the same
// 30-minute gaps, the same order of events within a second. A visit
// counts on the site-local day it started (like its visits in agg_daily),
// also when a later step falls after midnight.
//
// How a visit's step is found without a loop: step 1 is the first event
// that matches it (arrayFirstIndex over the visit's kinds and values),
// step j the first match after step j-1's position, 0 once a step is
// missing. Taking the earliest match at every step never misses a longer
// sequence, so the number of steps found is how far the visit got. A
// funnel has at most 8 steps (site.MaxFunnelSteps), so the expressions are
// unrolled: arrays and arrayFirstIndex, which ClickHouse 18.16 and 26.x
// both have. windowFunnel exists on both too, but it is an aggregate over
// rows within a time window: it would need the visit's events unfolded into
// rows again and grouped per visit, and its options differ between the two
// versions, while the visit's ordered arrays are already at hand here.
//
// The counts are plain numbers written like agg_daily's rows: a full
// recomputation writes every cell with the run's version and zeroes the
// salt day's cells it no longer produces; an incremental run adds the
// dirty visitors' difference (incremental.go, applyDelta). Cells carry a
// cell key (perturb.go) like every other cell, so the dashboards publish
// them in the site's disclosure mode. The table is not compacted by month
// (compact.go): it holds a row per day, funnel, step and salt day, few
// enough that reading it FINAL costs nothing worth a second read path.

import (
	"context"
	"fmt"
	"strings"

	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// FunnelsTable holds the funnel counts (migration 020).
const FunnelsTable = "funnels"

// funnelMetricCols are the numbers of FunnelsTable, for applyDelta.
var funnelMetricCols = []string{"visitors", "visits", "ckey"}

// funnelKeys are FunnelsTable's key columns besides site and salt day, and
// the names funnelCellsSQL gives them.
var (
	funnelKeys    = []string{"day", "funnel", "step"}
	funnelSrcKeys = []string{"p", "f", "st"}
)

// stepSQL is the condition that an event (kind k, value v: path or event
// name, as in the visits table's ek and ev) is the step.
func stepSQL(st site.FunnelStep) string {
	switch {
	case st.Event != "":
		return "k != 1 AND v = " + store.Quote(st.Event)
	case st.IsPattern():
		return "k = 1 AND match(v, " + store.Quote(st.PageRegexp()) + ")"
	default:
		return "k = 1 AND v = " + store.Quote(st.Page)
	}
}

// funnelCellsSQL is the SELECT of one site's funnel cells (p: the day, f:
// the funnel, st: the step, then visitors, visits, ckey) from the visits
// table (visitsSQL's columns); "" when the site has no funnels. day is the
// daily period expression of {ts} (periodSQL).
func funnelCellsSQL(s *site.Site, visits, day string) string {
	if len(s.Funnels) == 0 {
		return ""
	}
	var positions, levels []string
	for i, f := range s.Funnels {
		found := make([]string, len(f.Steps))
		for j, st := range f.Steps {
			pos := fmt.Sprintf("f%ds%d", i, j)
			if j == 0 {
				positions = append(positions, fmt.Sprintf("arrayFirstIndex((k, v) -> %s, ek, ev) AS %s", stepSQL(st), pos))
			} else {
				prev := fmt.Sprintf("f%ds%d", i, j-1)
				positions = append(positions, fmt.Sprintf(
					"if(%[1]s = 0, 0, arrayFirstIndex((k, v, i) -> i > %[1]s AND %[2]s, ek, ev, arrayEnumerate(ek))) AS %[3]s",
					prev, stepSQL(st), pos))
			}
			found[j] = fmt.Sprintf("(%s > 0)", pos)
		}
		levels = append(levels, fmt.Sprintf("(%s, toUInt8(%s))", store.Quote(f.Name), strings.Join(found, " + ")))
	}
	return fmt.Sprintf(`SELECT p, f, st, %[1]s AS visitors, toUInt64(count()) AS visits, %[2]s AS ckey
 FROM (
  SELECT visitor, nv, p, fl.1 AS f, arrayJoin(arrayMap(i -> toUInt8(i + 1), range(fl.2))) AS st
  FROM (
   SELECT visitor, nv, %[3]s AS p, [%[4]s] AS fls
   FROM (SELECT visitor, nv, p0, %[5]s FROM %[6]s))
  ARRAY JOIN fls AS fl
  WHERE fl.2 > 0)
 GROUP BY p, f, st`,
		visitorsSQL, ckeySQL, strings.ReplaceAll(day, "{ts}", "p0"), strings.Join(levels, ", "),
		strings.Join(positions, ",\n   "), visits)
}

// writeFunnelsSQL writes one site's funnel rows of one salt day from its
// cells ("": the site has none), then zeroes the salt day's rows that
// earlier runs wrote and this one did not produce (a visit that no longer
// reaches a step, a funnel taken out of the config).
func (r *Rollup) writeFunnelsSQL(ctx context.Context, s *site.Site, day store.Day, version uint64, cells string) error {
	db := r.st.DB().Stats
	cols := "site, day, funnel, step, salt_day, visitors, visits, ckey, version"
	if cells != "" {
		ins := fmt.Sprintf(`INSERT INTO %s.%s (%s)
 SELECT %s, p, f, st, toDate(%s), visitors, visits, ckey, toUInt64(%d) FROM (%s)`,
			db, FunnelsTable, cols, store.Quote(s.ID), store.Quote(day.String()), version, cells)
		if err := r.insertSelect(ctx, ins); err != nil {
			return fmt.Errorf("cannot compute the funnels of %s for site %q: %w", day, s.ID, err)
		}
	}
	zero := fmt.Sprintf(`INSERT INTO %[1]s.%[2]s (%[3]s)
 SELECT site, day, funnel, step, salt_day, 0, 0, 0, toUInt64(%[4]d)
 FROM %[1]s.%[2]s FINAL
 WHERE site = %[5]s AND salt_day = %[6]s AND version < %[4]d AND (visitors + visits) > 0`,
		db, FunnelsTable, cols, version, store.Quote(s.ID), store.Quote(day.String()))
	if err := r.insertSelect(ctx, zero); err != nil {
		return fmt.Errorf("cannot zero stale funnels of %s for site %q: %w", day, s.ID, err)
	}
	return nil
}

// applyFunnelDelta adds the dirty visitors' difference to the stored
// funnel rows (see runIncremental): after and before are the cells of
// their events up to the new and the last cut.
func (r *Rollup) applyFunnelDelta(ctx context.Context, s *site.Site, day store.Day, version uint64, after, before cellSources) error {
	if after.funnel == "" {
		return nil
	}
	_, err := r.applyDelta(ctx, s, day, version, FunnelsTable, funnelKeys, funnelSrcKeys, after.funnel, before.funnel)
	return err
}
