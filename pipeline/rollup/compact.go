package rollup

// Compaction of closed months.
//
// The aggregate tables are ReplacingMergeTree: every recomputation of a salt
// day writes its rows again with a higher version, and a read must say FINAL
// to see one row per key. FINAL merges at read time, and its cost grows with
// the parts a month keeps, which is what made long dashboard ranges slow.
// Once no salt day can write into a month any more, its rows never change:
// OPTIMIZE … FINAL merges the partition into one part with one row per key
// and the month is recorded in agg_compacted. Then a FINAL read of the month
// is cheap on current ClickHouse (a partition of one part needs no merge),
// and on versions where it is not, the dashboards read compacted months
// without FINAL (dashboards/statistics/query.go, from).
//
// What a reader may read plainly. agg_compacted holds, per table and month,
// compacted = 1 (one row per key) or 0 (written since, or open). The plain
// months are those below PlainBefore: below the first month recorded 0, and
// not above the last month recorded 1. This keeps the read one range of the
// partition key, which the engine prunes, rather than a list of months,
// which ClickHouse 18.16 cannot prune and would read FINAL in full. So the
// writers keep one invariant: a month below the last compacted one that has
// rows not merged to one per key is recorded 0. Compact records open months
// below the ones it compacts before it records those (it walks months in
// order), and Reopen records 0 for every month a late write can touch that
// is not above the last compacted month.
//
// When a month is closed. Salt day S (a UTC day) writes the site-local days
// and hours its events fall in: with time zones from UTC-12 to UTC+14, the
// days S-1 to S+1 (Reopen's span). A salt day stops writing when its raw
// partition is dropped (Finish). So a month is closed when it ended before
// yesterday (UTC; today's salt day may not have an event stored yet) and no
// salt day still in the events table spans it. Rows whose numbers are all 0
// (keys a recomputation no longer produced) stay: every read adds numbers,
// keeps breakdown rows with at least one visitor and checks pair coverage on
// non-zero rows, so a zero row changes no answer, and deleting them would
// cost a mutation on the server for no gain in correctness.
//
// A late write (an import or a WAL replay for an old day) brings a salt day
// back: the rollup calls Reopen before writing it. Compact may run at the
// same time on another collector: it records a month only after checking
// the events table again, so a salt day that arrived while it merged
// un-records the month at once.

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sezim-analytics/sezim/store"
)

// CompactedTable names the table that records compacted months.
const CompactedTable = "agg_compacted"

// monthTables are the aggregate tables partitioned by toYYYYMM of a time
// column.
var monthTables = []string{"agg_hourly", "agg_daily", pairsTable}

// compactVersion orders agg_compacted rows: wall-clock nanoseconds, but
// always above the last one this process wrote, so that a Reopen right
// after a Compact (or one test clock for both) is never a tie.
var compactVersion atomic.Uint64

func nextCompactVersion() uint64 {
	for {
		last := compactVersion.Load()
		v := max(uint64(time.Now().UnixNano()), last+1)
		if compactVersion.CompareAndSwap(last, v) {
			return v
		}
	}
}

// month is a toYYYYMM partition key.
type month uint32

func monthOf(t time.Time) month { return month(t.Year()*100 + int(t.Month())) }

// span is the first and the last day of m.
func (m month) span() (first, last time.Time) {
	first = time.Date(int(m/100), time.Month(m%100), 1, 0, 0, 0, 0, time.UTC)
	return first, first.AddDate(0, 1, -1)
}

// PlainBefore is the SQL expression of the month (toYYYYMM) below which
// table (in database db) is compacted and may be read without FINAL: a
// scalar subquery, so that the engine compares against a constant and
// prunes partitions. 0 when nothing is compacted.
func PlainBefore(db, table string) string {
	return fmt.Sprintf("(SELECT least(if(max(hi) %% 100 = 12, max(hi) + 89, max(hi) + 1), min(lo)) FROM "+
		"(SELECT if(compacted = 1, month, 0) AS hi, if(compacted = 0, month, 4294967295) AS lo FROM %s.%s FINAL WHERE table_name = %s))",
		db, CompactedTable, store.Quote(table))
}

// Compact merges every closed month partition of the aggregate tables that
// is not compacted yet into one row per key and records it in
// agg_compacted, and records as not compacted every month below a
// compacted one that is still open (see PlainBefore). A month whose merge
// did not leave one part (a merge was already running) is left for the
// next call. It returns the first error; the months done before it stay
// recorded.
func (r *Rollup) Compact(ctx context.Context, now time.Time) error {
	db := r.st.DB().Stats
	open, err := r.openSaltDays(ctx)
	if err != nil {
		return err
	}
	today := now.UTC().Truncate(24 * time.Hour)
	closed := func(m month, open []time.Time) bool {
		first, last := m.span()
		if !last.Before(today.AddDate(0, 0, -1)) {
			return false
		}
		for _, s := range open {
			if !s.AddDate(0, 0, -1).After(last) && !s.AddDate(0, 0, 1).Before(first) {
				return false
			}
		}
		return true
	}
	state, err := r.compactedMonths(ctx)
	if err != nil {
		return err
	}
	parts, err := r.monthParts(ctx)
	if err != nil {
		return err
	}
	for _, table := range monthTables {
		months := make([]month, 0, len(parts[table]))
		var top month // the last month that is or will be compacted
		for m := range parts[table] {
			months = append(months, m)
			if st, ok := state[table][m]; (ok && st == 1) || closed(m, open) {
				top = max(top, m)
			}
		}
		slices.Sort(months)
		for _, m := range months {
			st, recorded := state[table][m]
			if !closed(m, open) {
				// Open again, or open below a compacted month: recorded 0
				// before any month above it is recorded 1.
				if (recorded && st == 1) || (!recorded && m < top) {
					if err := r.recordMonths(ctx, table, []month{m}, 0); err != nil {
						return err
					}
				}
				continue
			}
			// A recorded month with several parts was written without a
			// Reopen: merging it again makes its plain reads right again.
			if recorded && st == 1 && parts[table][m] <= 1 {
				continue
			}
			began := time.Now()
			if err := r.st.Exec(ctx, fmt.Sprintf("OPTIMIZE TABLE %s.%s PARTITION %d FINAL", db, table, m)); err != nil {
				return fmt.Errorf("cannot merge month %d of %s: %w", m, table, err)
			}
			after, err := r.monthParts(ctx)
			if err != nil {
				return err
			}
			if after[table][m] > 1 {
				r.log.Info("month not compacted yet: its merge left several parts; will retry", "table", table, "month", m, "parts", after[table][m])
				if !recorded || st != 0 {
					if err := r.recordMonths(ctx, table, []month{m}, 0); err != nil {
						return err
					}
				}
				continue
			}
			if err := r.recordMonths(ctx, table, []month{m}, 1); err != nil {
				return err
			}
			// A salt day that arrived while the month merged was either
			// seen by its rollup's Reopen after this record, or is seen here.
			if open, err = r.openSaltDays(ctx); err != nil {
				return err
			}
			if !closed(m, open) {
				if err := r.recordMonths(ctx, table, []month{m}, 0); err != nil {
					return err
				}
				continue
			}
			r.log.Info("compacted a closed month of aggregates", "table", table, "month", m, "took", time.Since(began).Round(time.Millisecond))
		}
	}
	return nil
}

// Reopen records as not compacted the months that salt day saltDay can
// write to (its UTC day ±1, see Compact) and that a reader could read
// without FINAL (not above the last compacted month), so that the
// dashboards read them FINAL again. The rollup calls it before writing a
// salt day; it writes only when one of those months needs it.
func (r *Rollup) Reopen(ctx context.Context, saltDay time.Time) error {
	d := saltDay.UTC()
	span := []month{monthOf(d.AddDate(0, 0, -1)), monthOf(d), monthOf(d.AddDate(0, 0, 1))}
	state, err := r.compactedMonths(ctx)
	if err != nil {
		return err
	}
	for _, table := range monthTables {
		var top month
		for m, st := range state[table] {
			if st == 1 {
				top = max(top, m)
			}
		}
		var reopen []month
		for _, m := range span {
			st, recorded := state[table][m]
			if m <= top && (!recorded || st != 0) && !slices.Contains(reopen, m) {
				reopen = append(reopen, m)
			}
		}
		if len(reopen) == 0 {
			continue
		}
		if err := r.recordMonths(ctx, table, reopen, 0); err != nil {
			return err
		}
		r.log.Info("reopened compacted months for a late write", "table", table, "months", len(reopen), "salt_day", d.Format(time.DateOnly))
	}
	return nil
}

// openSaltDays are the salt days whose raw events still exist.
func (r *Rollup) openSaltDays(ctx context.Context) ([]time.Time, error) {
	var days []time.Time
	err := r.st.Query(ctx, fmt.Sprintf("SELECT DISTINCT toString(salt_day) FROM %s.events", r.st.DB().Stats), func(row store.Row) error {
		d, err := time.Parse(time.DateOnly, row.String(0))
		if err != nil {
			return err
		}
		days = append(days, d)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list the salt days of the events table: %w", err)
	}
	return days, nil
}

// compactedMonths reads agg_compacted: table → month → compacted (0 or 1).
func (r *Rollup) compactedMonths(ctx context.Context) (map[string]map[month]uint8, error) {
	out := map[string]map[month]uint8{}
	err := r.st.Query(ctx, fmt.Sprintf("SELECT table_name, toUInt64(month), toUInt64(compacted) FROM %s.%s FINAL", r.st.DB().Stats, CompactedTable),
		func(row store.Row) error {
			t := row.String(0)
			if out[t] == nil {
				out[t] = map[month]uint8{}
			}
			out[t][month(row.Uint64(1))] = uint8(row.Uint64(2))
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("cannot read the compacted months: %w", err)
	}
	return out, nil
}

// monthParts counts the active parts of each month partition of the
// aggregate tables: table → month → parts.
func (r *Rollup) monthParts(ctx context.Context) (map[string]map[month]int, error) {
	out := map[string]map[month]int{}
	q := fmt.Sprintf("SELECT table, partition, toUInt64(count()) FROM system.parts WHERE database = %s AND table IN ('agg_hourly', 'agg_daily', 'agg_pairs') AND active GROUP BY table, partition",
		store.Quote(r.st.DB().Stats))
	err := r.st.Query(ctx, q, func(row store.Row) error {
		m, err := strconv.ParseUint(row.String(1), 10, 32)
		if err != nil {
			return fmt.Errorf("cannot parse partition %q of %s as a month: %w", row.String(1), row.String(0), err)
		}
		t := row.String(0)
		if out[t] == nil {
			out[t] = map[month]int{}
		}
		out[t][month(m)] = int(row.Uint64(2))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list the partitions of the aggregate tables: %w", err)
	}
	return out, nil
}

// recordMonths writes months of table as compacted (1) or not (0).
func (r *Rollup) recordMonths(ctx context.Context, table string, ms []month, compacted uint8) error {
	v := nextCompactVersion()
	rows := make([][]any, len(ms))
	for i, m := range ms {
		rows[i] = []any{table, uint32(m), compacted, v}
	}
	if err := r.st.Insert(ctx, r.st.DB().Stats+"."+CompactedTable, []string{"table_name", "month", "compacted", "version"}, rows); err != nil {
		return fmt.Errorf("cannot record %d month(s) of %s as compacted=%d: %w", len(ms), table, compacted, err)
	}
	return nil
}
