package dashboards

import (
	"context"
	"fmt"
	"time"

	"github.com/sezim-analytics/sezim/store"
)

// Audit actions. The names are stored: never rename.
const (
	AuditSignIn       = "sign_in"
	AuditSignInFailed = "sign_in_failed"
	AuditSignOut      = "sign_out"
	AuditUserChanged  = "user_changed"
	AuditTokenAdded   = "token_added"
	AuditTokenRevoked = "token_revoked"
)

// AuditEntry is one row of the append-only audit log.
type AuditEntry struct {
	Time    time.Time
	Actor   string // who did it: a user name, or "cli:<os user>"
	Action  string
	Target  string // what it was done to: a user name, a token id
	Outcome string // ok, or why it failed (bad_password, rate_limited, ...)
	Client  string // the client's network (IPv4 /24, IPv6 /48), if any
	Detail  string
	// Attempts is how many attempts the row stands for: 1 (also when
	// left 0), or the count of sign-ins a rate limit refused from one
	// network in one window, which are written as one row.
	Attempts uint32
}

// Auditor appends to sezim_identified.audit_log.
type Auditor struct {
	st  store.Store
	now func() time.Time
}

// NewAuditor returns an Auditor writing to st.
func NewAuditor(st store.Store, now func() time.Time) *Auditor {
	if now == nil {
		now = time.Now
	}
	return &Auditor{st: st, now: now}
}

// Record appends e, stamping the time when it has none.
func (a *Auditor) Record(ctx context.Context, e AuditEntry) error {
	if err := a.RecordAll(ctx, []AuditEntry{e}); err != nil {
		return fmt.Errorf("cannot write the audit log (%s): %w", e.Action, err)
	}
	return nil
}

// RecordAll appends entries in one insert, stamping the time of those
// that have none.
func (a *Auditor) RecordAll(ctx context.Context, entries []AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	cols := []string{"ts", "actor", "action", "target", "outcome", "client", "detail", "attempts"}
	rows := make([][]any, 0, len(entries))
	for _, e := range entries {
		if e.Time.IsZero() {
			e.Time = a.now()
		}
		rows = append(rows, []any{e.Time.UTC(), e.Actor, e.Action, e.Target, e.Outcome, e.Client, e.Detail, max(e.Attempts, 1)})
	}
	if err := a.st.Insert(ctx, a.st.DB().Identified+".audit_log", cols, rows); err != nil {
		return fmt.Errorf("cannot write the audit log (%d rows): %w", len(rows), err)
	}
	return nil
}

// KnownNetworks returns, for each account and client network with a
// successful sign-in since the given time, the time of the last one, by
// the audit log (which every dashboards node writes, so it holds across
// nodes and restarts). At most 100,000 pairs, the most recent first: staff
// sign-ins, not visitors, so far fewer in practice.
func (a *Auditor) KnownNetworks(ctx context.Context, since time.Time) (map[[2]string]time.Time, error) {
	q := fmt.Sprintf("SELECT target, client, toUInt32(max(ts)) AS last FROM %s.audit_log WHERE action = %s AND outcome = 'ok' AND ts >= toDateTime(%d, 'UTC') GROUP BY target, client ORDER BY last DESC LIMIT 100000",
		a.st.DB().Identified, store.Quote(AuditSignIn), since.Unix())
	out := map[[2]string]time.Time{}
	if err := a.st.Query(ctx, q, func(r store.Row) error {
		out[[2]string{r.String(0), r.String(1)}] = time.Unix(int64(r.Uint64(2)), 0).UTC()
		return nil
	}); err != nil {
		return nil, fmt.Errorf("cannot read the networks staff signed in from: %w", err)
	}
	return out, nil
}

// Entries returns the newest audit rows, at most limit, newest first.
func (a *Auditor) Entries(ctx context.Context, limit int) ([]AuditEntry, error) {
	q := fmt.Sprintf("SELECT toUInt32(ts), actor, action, target, outcome, client, detail, attempts FROM %s.audit_log ORDER BY ts DESC LIMIT %d",
		a.st.DB().Identified, limit)
	var out []AuditEntry
	err := a.st.Query(ctx, q, func(r store.Row) error {
		out = append(out, AuditEntry{Time: time.Unix(int64(r.Uint64(0)), 0).UTC(), Actor: r.String(1), Action: r.String(2),
			Target: r.String(3), Outcome: r.String(4), Client: r.String(5), Detail: r.String(6), Attempts: uint32(r.Uint64(7))})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the audit log: %w", err)
	}
	return out, nil
}
