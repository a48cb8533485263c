package rollup

// Pair changes on hashes.
//
// Why. A run's pair cells are millions of rows (4.8 M for a salt day of
// 1 M events), and the difference between them and what is stored was
// grouped by the cells' five strings (day, fdim, fvalue, dim, value): the
// strings of every cell were joined to it first, and the grouping on them
// cost as much as counting the cells. Here the difference is made on the
// two 64-bit hashes the cells are counted on (fh of the filter, kh of the
// day's key, the same cityHash64 of the same values whether a cell was
// just counted or read back from agg_pairs), and the strings are joined
// only to the cells that changed, as they are written.

import (
	"context"
	"fmt"
	"strings"

	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// pairSide is one side of a pair difference: its cells on hashes
// (pairHashCellsSQL columns) and the names of its hashes; cells "" is
// none.
type pairSide struct {
	cells string
	names pairNames
}

// storedPairSide is one site's stored pair cells of one salt day as a
// pairSide, their hashes computed as pairHashCellsSQL and newPairNames
// compute them. A cell may come in several rows (agg_pairs holds sums of
// changes): the difference adds them up.
func (r *Rollup) storedPairSide(s *site.Site, day store.Day) pairSide {
	d := store.Quote(day.String())
	// A salt day (UTC) feeds site-local days within one day of it: the
	// range lets the read skip other months.
	from := fmt.Sprintf("%s.%s WHERE site = %s AND salt_day = %s AND day >= toDate(%s) - 1 AND day <= toDate(%s) + 1",
		r.st.DB().Stats, pairsTable, store.Quote(s.ID), d, d, d)
	return pairSide{
		cells: "SELECT cityHash64(fdim, fvalue) AS fh, cityHash64(day, dim, value) AS kh, " +
			strings.Join(metricCols, ", ") + " FROM " + from,
		names: pairNames{
			keys:    "SELECT cityHash64(day, dim, value) AS kh, day, dim, value FROM " + from,
			filters: "SELECT cityHash64(fdim, fvalue) AS fh, fdim, fvalue FROM " + from,
		},
	}
}

// applyPairDelta writes to agg_pairs, for every cell whose numbers after
// differs from before, the difference, with the cell's strings taken from
// either side's names. It returns the rows written.
func (r *Rollup) applyPairDelta(ctx context.Context, s *site.Site, day store.Day, version uint64, after, before pairSide) (int, error) {
	db := r.st.DB().Stats
	tmp := fmt.Sprintf("%s.rollup_delta_%d_%d", db, version, r.seq.Add(1))
	hashes := []string{"fh", "kh"}
	var sides, keyNames, filterNames []string
	for _, side := range []struct {
		pairSide
		sign string
	}{{after, ""}, {before, "-"}} {
		if side.cells == "" {
			continue
		}
		sides = append(sides, deltaSide(side.cells, hashes, metricCols, side.sign))
		keyNames = append(keyNames, side.names.keys)
		filterNames = append(filterNames, side.names.filters)
	}
	if len(sides) == 0 {
		return 0, nil
	}
	sums := make([]string, len(metricCols))
	nonzero := make([]string, len(metricCols))
	ms := make([]string, len(metricCols))
	for i := range metricCols {
		sums[i] = fmt.Sprintf("sum(m%d) AS m%d", i, i)
		nonzero[i] = fmt.Sprintf("m%d != 0", i)
		ms[i] = fmt.Sprintf("m%d", i)
	}
	create := fmt.Sprintf(`CREATE TABLE %s ENGINE = Memory AS
 SELECT k0 AS fh, k1 AS kh, %s FROM (
  %s)
 GROUP BY k0, k1 HAVING %s`,
		tmp, strings.Join(sums, ", "), strings.Join(sides, "\n  UNION ALL\n  "), strings.Join(nonzero, " OR "))
	if err := r.createAs(ctx, create); err != nil {
		return 0, fmt.Errorf("cannot compute the changes to %s of %s for site %q: %w", pairsTable, day, s.ID, err)
	}
	defer func() {
		// A leftover is harmless (it is named by version) but would
		// accumulate: drop it even when the run was cancelled.
		_ = r.st.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+tmp)
	}()
	// 18.16 has one JOIN per SELECT: the key strings, then the filter
	// strings, each restricted to the hashes that changed before it is
	// grouped.
	ins := fmt.Sprintf(`INSERT INTO %[1]s.%[2]s (site, day, fdim, fvalue, dim, value, salt_day, %[3]s)
 SELECT %[4]s, day, fdim, fvalue, dim, value, toDate(%[5]s), %[6]s
 FROM (
  SELECT fh, day, dim, value, %[6]s FROM %[7]s
  ANY LEFT JOIN (
   SELECT kh, any(day) AS day, any(dim) AS dim, any(value) AS value
   FROM (%[8]s) WHERE kh IN (SELECT kh FROM %[7]s) GROUP BY kh
  ) AS keys USING (kh)) AS named
 ANY LEFT JOIN (
  SELECT fh, any(fdim) AS fdim, any(fvalue) AS fvalue
  FROM (%[9]s) WHERE fh IN (SELECT fh FROM %[7]s) GROUP BY fh
 ) AS filters USING (fh)`,
		db, pairsTable, strings.Join(metricCols, ", "), store.Quote(s.ID), store.Quote(day.String()),
		strings.Join(ms, ", "), tmp, strings.Join(keyNames, "\n   UNION ALL "), strings.Join(filterNames, "\n  UNION ALL "))
	if err := r.insertSelect(ctx, ins); err != nil {
		return 0, fmt.Errorf("cannot write the changes to %s of %s for site %q: %w", pairsTable, day, s.ID, err)
	}
	return r.countTable(ctx, tmp)
}
