package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/sezim-analytics/sezim/hashchain"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// Options configure a Job.
type Options struct {
	Store   store.Store
	Sites   *site.Config
	History *History
	Logger  *slog.Logger
	// Checkpoints, when set, receive the anchor of every chain of the
	// consent log and the audit log before their old rows go, so that
	// verify accepts a chain that now starts later (hashchain.Anchor).
	Checkpoints *hashchain.Checkpoints
	// Wait bounds how long one rule waits for ClickHouse to finish its
	// delete (default 5 minutes); past it the rule fails and the next run
	// finds the rows again.
	Wait time.Duration
}

// Job applies the retention of the identified database and of the staff
// database's audit log.
type Job struct {
	o Options
}

// NewJob returns a Job; History is required (a destruction that leaves no
// record is what this package exists to prevent).
func NewJob(o Options) *Job {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Wait <= 0 {
		o.Wait = 5 * time.Minute
	}
	return &Job{o: o}
}

// rule is one retention rule over one table: rows whose time column is
// before the cutoff go.
type rule struct {
	staff      bool // the table is in the staff database, not the identified one
	table, col string
	site       *site.Site // nil: a table of no one site
	setting    string
	days       int
}

// rules lists every table of the identified database, and the audit log
// of the staff database, with its period:
// per site the consented events, the receipt links and the consent log,
// then the tables of no one site. subject_blocks and the staff accounts
// are not listed: a block or an account lasts until it is lifted or
// changed, not for a period.
func (j *Job) rules() []rule {
	var out []rule
	for _, s := range j.o.Sites.Sites {
		r := s.Retention
		out = append(out,
			rule{false, "events", "ts", s, "identified_days", r.IdentifiedDays},
			rule{false, "consent_visitors", "ts", s, "identified_days", r.IdentifiedDays},
		)
	}
	// The consent log is one chain per collector across every site, and a
	// chain can lose only its oldest rows (an anchor marks where it goes
	// on): its rows go by the longest consent_log_days of any site.
	longest := 0
	for _, s := range j.o.Sites.Sites {
		longest = max(longest, s.Retention.ConsentLogDays)
	}
	if longest > 0 {
		out = append(out, rule{false, "consent_log", "ts", nil, "consent_log_days", longest})
	}
	g := j.o.Sites.Retention
	return append(out,
		rule{true, "audit_log", "ts", nil, "audit_log_days", g.AuditLogDays},
		rule{false, "subject_requests", "ts", nil, "subject_requests_days", g.SubjectRequestsDays},
		rule{false, "retention_history", "ts", nil, "retention_history_days", g.RetentionHistoryDays},
	)
}

// chainedLogs are the tables kept as hash chains, by their checkpoint log.
var chainedLogs = map[string]string{"consent_log": hashchain.LogConsent, "audit_log": hashchain.LogAudit}

// RunRule marks the history row of a run of the job itself.
const RunRule = "retention_run"

// Apply deletes every row past its period at now, waits until it is gone,
// and records each destruction in the history (one row per table and site
// that lost rows). A rule that fails does not stop the others; the error
// joins every failure.
func (j *Job) Apply(ctx context.Context, now time.Time) ([]Destruction, error) {
	names := j.o.Store.DB()
	var done []Destruction
	var errs []error
	for _, r := range j.rules() {
		db := names.Identified
		if r.staff {
			db = names.Staff
		}
		loc, siteID := time.UTC, ""
		if r.site != nil {
			loc, siteID = r.site.Location, r.site.ID
		}
		// Whole days in the site's zone, as for the aggregates: a row
		// lives at least its period, never a day less.
		cutoff := store.DayOf(now.In(loc).AddDate(0, 0, -r.days))
		cut := time.Date(cutoff.Year, cutoff.Month, cutoff.Day, 0, 0, 0, 0, loc)
		where := fmt.Sprintf("%s < toDateTime(%d)", r.col, cut.Unix())
		if r.site != nil {
			where = "site = " + store.Quote(siteID) + " AND " + where
		}
		if log, chained := chainedLogs[r.table]; chained && j.o.Checkpoints != nil {
			if _, err := hashchain.Anchor(ctx, j.o.Store, db+"."+r.table, log, j.o.Checkpoints, cut); err != nil {
				errs = append(errs, fmt.Errorf("cannot anchor the chains of %s before its retention: %w", r.table, err))
				continue
			}
		}
		rctx, cancel := context.WithTimeout(ctx, j.o.Wait)
		n, err := store.DeleteWhere(rctx, j.o.Store, db+"."+r.table, where)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot apply %s to %s (site %q): %w", r.setting, r.table, siteID, err))
			continue
		}
		if n == 0 {
			continue
		}
		d := Destruction{Time: now.UTC(), DB: db, Table: r.table, Site: siteID, Rows: n,
			Rule: r.setting + "=" + strconv.Itoa(r.days), Cutoff: cut.UTC().Format(time.RFC3339)}
		done = append(done, d)
		j.o.Logger.Info("deleted identified rows past their retention", "site", siteID, "table", r.table,
			"rows", n, "before", d.Cutoff, "rule", d.Rule)
	}
	// The run itself is a row too (table "", rule RunRule), so that the
	// privacy report can tell a run that destroyed nothing from no run.
	run := Destruction{Time: now.UTC(), DB: names.Identified, Rule: RunRule}
	if err := j.o.History.Record(ctx, append(done, run)...); err != nil {
		errs = append(errs, err)
	}
	return done, errors.Join(errs...)
}
