// Package retention destroys identified data when its period ends and keeps
// the history of every destruction: the per-site identified tables (events,
// consent log, receipt links), the tables that belong to no one site (audit
// log, subject requests, the history itself), and, through a hook of the
// rollup, the salt days and aggregates of the stats database. The history
// is what a privacy officer shows to prove data was destroyed on time.
package retention

import (
	"context"
	"fmt"
	"time"

	"github.com/sezim-analytics/sezim/store"
)

// Destruction is one row of the retention history: what was destroyed,
// how much, under which rule and by which process.
type Destruction struct {
	Time  time.Time `json:"time"`
	DB    string    `json:"db"`
	Table string    `json:"table"`
	// Site is the site whose rows went; "" for a table of no one site.
	Site string `json:"site,omitempty"`
	Rows uint64 `json:"rows"`
	// Rule is the setting that applied, e.g. "identified_days=180", or
	// "salt lifetime (48h)" for a salt day's raw events.
	Rule string `json:"rule"`
	// Cutoff is the bound: rows before it went (a date, or a salt day).
	Cutoff string `json:"cutoff"`
	// Process is what ran the job: "serve on HOST" or "sezim retention
	// (cli:USER)".
	Process string `json:"process"`
}

// History reads and appends <identified>.retention_history.
type History struct {
	st      store.Store
	process string
	now     func() time.Time
}

// NewHistory returns a History whose rows name process as the destroyer;
// now is the clock (nil: time.Now).
func NewHistory(st store.Store, process string, now func() time.Time) *History {
	if now == nil {
		now = time.Now
	}
	return &History{st: st, process: process, now: now}
}

var historyColumns = []string{"ts", "db", "tbl", "site", "rows", "rule", "cutoff", "process"}

// Record appends ds in one insert, stamping the time and the process of
// those that have none.
func (h *History) Record(ctx context.Context, ds ...Destruction) error {
	if len(ds) == 0 {
		return nil
	}
	rows := make([][]any, 0, len(ds))
	for _, d := range ds {
		if d.Time.IsZero() {
			d.Time = h.now()
		}
		if d.Process == "" {
			d.Process = h.process
		}
		rows = append(rows, []any{d.Time.UTC(), d.DB, d.Table, d.Site, d.Rows, d.Rule, d.Cutoff, d.Process})
	}
	if err := h.st.Insert(ctx, h.st.DB().Identified+".retention_history", historyColumns, rows); err != nil {
		return fmt.Errorf("cannot write the retention history (%d rows): %w", len(rows), err)
	}
	return nil
}

// Recent returns at most limit destructions, newest first.
func (h *History) Recent(ctx context.Context, limit int) ([]Destruction, error) {
	if limit <= 0 {
		limit = 100
	}
	q := fmt.Sprintf("SELECT toUInt32(ts), db, tbl, site, rows, rule, cutoff, process FROM %s.retention_history ORDER BY ts DESC, db, tbl, site LIMIT %d",
		h.st.DB().Identified, limit)
	var out []Destruction
	err := h.st.Query(ctx, q, func(r store.Row) error {
		out = append(out, Destruction{Time: time.Unix(int64(r.Uint64(0)), 0).UTC(), DB: r.String(1), Table: r.String(2),
			Site: r.String(3), Rows: r.Uint64(4), Rule: r.String(5), Cutoff: r.String(6), Process: r.String(7)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the retention history: %w", err)
	}
	return out, nil
}
