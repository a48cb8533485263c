package rollup

import (
	"fmt"
	"time"
)

// Health says how far behind the aggregates are, for the operator
// (/readyz): the lag (now minus the newest event they include, as
// sezim_rollup_lag_seconds) and the time since the last successful run. It
// returns an error only when no run has succeeded for stall (counted from
// started before the first run). The lag alone never fails it: on a quiet
// site the newest event is old while the rollup is perfectly current, and
// readiness takes a collector out of its load balancer, which would stop
// the intake of events that a late rollup loses nothing of (they wait in
// the events table for the next run).
func (r *Rollup) Health(now, started time.Time, stall time.Duration) (string, error) {
	lag := "no event yet"
	if n := r.Newest(); !n.IsZero() {
		lag = fmt.Sprintf("lag %s (newest event included %s)", secs(now.Sub(n)), n.Format(time.RFC3339))
	}
	last := r.LastRun()
	if last.IsZero() {
		if since := now.Sub(started); since > stall {
			return "", fmt.Errorf("no rollup has succeeded since the start %s ago; %s", secs(since), lag)
		}
		return "no run yet; " + lag, nil
	}
	if since := now.Sub(last); since > stall {
		return "", fmt.Errorf("no rollup has succeeded for %s; %s", secs(since), lag)
	}
	return fmt.Sprintf("%s; last run %s ago", lag, secs(now.Sub(last))), nil
}

func secs(d time.Duration) string { return fmt.Sprintf("%d s", int64(max(d, 0)/time.Second)) }
