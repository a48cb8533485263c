package rollup

import (
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/site"
)

// TestHealth walks the /readyz text of the rollup through its states with
// an injected clock: no run yet, a stall before the first run, a run, and a
// stall after it. A run over no sites touches no store.
func TestHealth(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	now := start
	r := New(Options{Sites: &site.Config{}, Now: func() time.Time { return now }})
	const stall = 30 * time.Minute
	f := func(at time.Duration, want string, wantErr bool) {
		t.Helper()
		got, err := r.Health(start.Add(at), start, stall)
		if (err != nil) != wantErr {
			t.Fatalf("at %v: error %v, want one: %v", at, err, wantErr)
		}
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, want) {
			t.Fatalf("at %v: %q, want it to contain %q", at, got, want)
		}
	}
	f(time.Minute, "no run yet; no event yet", false)
	f(31*time.Minute, "no rollup has succeeded since the start 1860 s ago", true)
	now = start.Add(40 * time.Minute)
	if _, err := r.Run(t.Context(), start); err != nil {
		t.Fatal(err)
	}
	f(41*time.Minute, "no event yet; last run 60 s ago", false)
	f(70*time.Minute, "last run 1800 s ago", false)
	f(71*time.Minute, "no rollup has succeeded for 1860 s", true)
}
