package rollup

import (
	"context"
	"fmt"
	"time"

	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// SaltLifetime mirrors anon.SaltLifetime: the raw events of a salt day are
// destroyed together with the salt, 48 hours after the day began.
const SaltLifetime = 48 * time.Hour

// Expired lists the salt days that still have raw events although their
// salt's lifetime is over at now. It reads the store, not the local salts,
// so any collector (or `sezim retention`) can finish another's work.
func (r *Rollup) Expired(ctx context.Context, now time.Time) ([]time.Time, error) {
	cutoff := store.DayOf(now.UTC().Add(-SaltLifetime))
	q := fmt.Sprintf("SELECT DISTINCT toString(salt_day) FROM %s.events WHERE salt_day <= %s ORDER BY 1",
		r.st.DB().Stats, store.Quote(cutoff.String()))
	var days []time.Time
	err := r.st.Query(ctx, q, func(row store.Row) error {
		d, err := time.Parse(time.DateOnly, row.String(0))
		if err != nil {
			return err
		}
		if !now.Before(d.Add(SaltLifetime)) {
			days = append(days, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list salt days of the events table: %w", err)
	}
	return days, nil
}

// Finish makes the last recomputation of a salt day and then drops its raw
// events, so nothing in the stats database keeps the day's visitor hashes.
func (r *Rollup) Finish(ctx context.Context, saltDay time.Time) (Result, error) {
	res, err := r.run(ctx, saltDay, final)
	if err != nil {
		return res, err
	}
	sql, err := store.DropPartitionSQL(r.st.DB().Stats+".events", store.DayOf(saltDay.UTC()))
	if err != nil {
		return res, err
	}
	// Counted for the retention history: a final run may have read only
	// the day's newest events.
	day := store.DayOf(saltDay.UTC()).String()
	rows, err := store.CountWhere(ctx, r.st, r.st.DB().Stats+".events", "salt_day = "+store.Quote(day))
	if err != nil {
		return res, err
	}
	if err := r.st.Exec(ctx, sql); err != nil {
		return res, fmt.Errorf("cannot drop the events of salt day %s: %w", saltDay.Format(time.DateOnly), err)
	}
	r.log.Info("destroyed the raw events of a salt day after its last rollup",
		"salt_day", saltDay.Format(time.DateOnly), "events", res.Events, "reason", "salt lifetime over (48h)")
	r.destroyed(ctx, Destruction{Table: "events", Rows: rows, Rule: "salt lifetime (48h)", Cutoff: day})
	return res, nil
}

// Destruction is one destruction of stats-database rows, for the retention
// history: a salt day's raw events (Site "", all sites together) or a
// site's aggregates past their period. Rule names the setting that
// applied, Cutoff the salt day or the first day kept.
type Destruction struct {
	Table, Site  string
	Rows         uint64
	Rule, Cutoff string
}

// leftoverAge is how old a run's own table must be before Retention drops
// it as left over: no run takes this long.
const leftoverAge = time.Hour

// dropLeftovers drops the tables of runs that did not finish (the process
// died): on a ClickHouse server they would keep a day's visitor hashes in
// memory after the day's events are gone.
func (r *Rollup) dropLeftovers(ctx context.Context, now time.Time) error {
	db := r.st.DB().Stats
	q := fmt.Sprintf(`SELECT name FROM system.tables WHERE database = %s AND engine = 'Memory'
 AND (name LIKE 'rollup\\_visits\\_%%' OR name LIKE 'rollup\\_keys\\_%%' OR name LIKE 'rollup\\_delta\\_%%')
 AND metadata_modification_time < toDateTime(%d)`, store.Quote(db), now.Add(-leftoverAge).Unix())
	var names []string
	err := r.st.Query(ctx, q, func(row store.Row) error {
		names = append(names, row.String(0))
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot list left-over rollup tables: %w", err)
	}
	for _, n := range names {
		if err := r.st.Exec(ctx, "DROP TABLE IF EXISTS "+db+"."+n); err != nil {
			return fmt.Errorf("cannot drop the left-over rollup table %s: %w", n, err)
		}
		r.log.Info("dropped a left-over rollup table", "table", n, "reason", "a run did not finish")
	}
	return nil
}

// Retention applies every site's retention to the aggregate tables: rows
// older than the site's limit are deleted. Sites share the tables, so this
// is a delete by site rather than a partition drop; it is logged with what
// it removed.
func (r *Rollup) Retention(ctx context.Context, now time.Time) error {
	if err := r.dropLeftovers(ctx, now); err != nil {
		return err
	}
	db := r.st.DB().Stats
	for _, s := range r.sites.Sites {
		for _, t := range []struct {
			table, col, rule string
			days             int
		}{
			{"agg_hourly", "hour", "agg_hourly_days", s.Retention.HourlyDays},
			{HourlyPublishedTable, "hour", "agg_hourly_days", s.Retention.HourlyDays},
			{"agg_daily", "day", "agg_daily_days", s.Retention.DailyDays},
			{pairsTable, "day", "agg_daily_days", s.Retention.DailyDays},
			{FunnelsTable, "day", "agg_daily_days", s.Retention.DailyDays},
		} {
			cutoff := store.DayOf(now.In(s.Location).AddDate(0, 0, -t.days))
			where := fmt.Sprintf("site = %s AND %s < %s", store.Quote(s.ID), t.col, cutoffExpr(t.col, cutoff))
			var n uint64
			err := r.st.Query(ctx, fmt.Sprintf("SELECT count() FROM %s.%s WHERE %s", db, t.table, where), func(row store.Row) error {
				n = row.Uint64(0)
				return nil
			})
			if err != nil {
				return fmt.Errorf("cannot count expired rows of %s for site %q: %w", t.table, s.ID, err)
			}
			if n == 0 {
				continue
			}
			if err := r.st.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s DELETE WHERE %s", db, t.table, where)); err != nil {
				return fmt.Errorf("cannot delete expired rows of %s for site %q: %w", t.table, s.ID, err)
			}
			r.log.Info("deleted aggregates past their retention", "site", s.ID, "table", t.table,
				"rows", n, "before", cutoff.String(), "reason", "retention period over")
			r.destroyed(ctx, Destruction{Table: t.table, Site: s.ID, Rows: n, Rule: fmt.Sprintf("%s=%d", t.rule, t.days), Cutoff: cutoff.String()})
		}
		if err := r.expirePublished(ctx, s, store.DayOf(now.In(s.Location).AddDate(0, 0, -s.Retention.DailyDays))); err != nil {
			return err
		}
	}
	return nil
}

// expirePublished deletes site s's published sums of blocks that begin
// before cutoff, as agg_daily's rows are: a block that reaches past the
// cutoff is first recorded stale, so that no answer reads it half deleted,
// and Publish builds it again from its kept days.
func (r *Rollup) expirePublished(ctx context.Context, s *site.Site, cutoff store.Day) error {
	db := r.st.DB().Stats
	where := fmt.Sprintf("site = %s AND day < %s", store.Quote(s.ID), store.Quote(cutoff.String()))
	counts := map[string]uint64{}
	for _, t := range []string{PublishedTable, PairsPublishedTable} {
		n, err := store.CountWhere(ctx, r.st, db+"."+t, where)
		if err != nil {
			return err
		}
		if n > 0 {
			counts[t] = n
		}
	}
	if len(counts) == 0 {
		return nil
	}
	if err := r.unpublishDays(ctx, s, 0, dayNum(cutoff)-1); err != nil {
		return err
	}
	for _, t := range []string{PublishedTable, PairsPublishedTable} {
		n := counts[t]
		if n == 0 {
			continue
		}
		if _, err := store.DeleteWhere(ctx, r.st, db+"."+t, where); err != nil {
			return fmt.Errorf("cannot delete expired published sums of site %q: %w", s.ID, err)
		}
		r.log.Info("deleted published sums past their retention", "site", s.ID, "table", t, "rows", n, "before", cutoff.String(), "reason", "retention period over")
		r.destroyed(ctx, Destruction{Table: t, Site: s.ID, Rows: n, Rule: fmt.Sprintf("agg_daily_days=%d", s.Retention.DailyDays), Cutoff: cutoff.String()})
	}
	return nil
}

func cutoffExpr(col string, d store.Day) string {
	if col == "hour" {
		return fmt.Sprintf("toDateTime(%d)", d.Time().Unix())
	}
	return store.Quote(d.String())
}
