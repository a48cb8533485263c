package privacy

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// Names of the report's checks besides the scan's (see the Check*
// constants of scan.go); stable, like those.
const (
	CheckSaltAge        = "salt_age"
	CheckSaltPartitions = "salt_partitions"
	CheckPairK          = "pair_k"
	CheckConsentChains  = "consent_chains"
	CheckRetention      = "retention_run"
	CheckDrops          = "drops"
)

// Options say where the report finds what it checks. Store is required;
// the rest fill their defaults, and a source left unset makes its check
// fail with "not available" rather than pass on nothing.
type Options struct {
	Store store.Store
	// Sites gives each site's k; nil skips no site but checks every cell
	// against site.DefaultKThreshold.
	Sites *site.Config
	// SaltDays lists the days whose salts exist now: the live salts in
	// serve, the state file (SaltFile) for the command.
	SaltDays func() ([]time.Time, error)
	// Metrics is the process's registry, holding the collector's and the
	// pipeline's drop counters (serve); or a Gatherer over a running
	// collector's /metrics (the command's --metrics).
	Metrics prometheus.Gatherer
	// History reads what the retention job last destroyed.
	History RetentionHistory
	// Grace is how long a raw partition may outlive its salt: the
	// retention job that drops it runs every ten minutes. Default 15 min.
	Grace time.Duration
	Now   func() time.Time
	// Extra checks run after the built-in ones: those that need packages
	// which import this one (the dashboards' disclosure check).
	Extra []func(ctx context.Context, now time.Time) (Outcome, error)
}

// Outcome is one check of the report, red or green, with its evidence:
// short lines a privacy officer can read, never a stored value in clear.
type Outcome struct {
	Name     string   `json:"name"`
	What     string   `json:"what"`
	OK       bool     `json:"ok"`
	Evidence []string `json:"evidence"`
}

// Result is the whole privacy report.
type Result struct {
	Time   time.Time `json:"time"`
	OK     bool      `json:"ok"`
	Checks []Outcome `json:"checks"`
	// Scan is the stats scan in full (its findings per check).
	Scan *Report `json:"scan"`
}

// Failed names the checks that did not pass, in report order.
func (r *Result) Failed() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c.Name)
		}
	}
	return out
}

// Run runs every check of the report on the live stores. The error is for
// a check that could not run at all (the store is down); what a check
// finds, or a source that is missing, is a red Outcome.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Grace == 0 {
		o.Grace = 15 * time.Minute
	}
	now := o.Now().UTC()
	scan, err := ScanStats(ctx, o.Store)
	if err != nil {
		return nil, err
	}
	res := &Result{Time: now, Scan: scan}
	for _, c := range scan.Checks {
		out := Outcome{Name: c.Name, What: c.What, OK: c.OK, Evidence: []string{}}
		for _, f := range c.Findings {
			if c.Name == CheckAddressColumn {
				out.Evidence = append(out.Evidence, fmt.Sprintf("%s.%s (%s)", f.Table, f.Column, f.Sample))
				continue
			}
			out.Evidence = append(out.Evidence, fmt.Sprintf("%s.%s: %d cells, e.g. %q", f.Table, f.Column, f.Cells, f.Sample))
		}
		switch {
		case c.OK && c.Name == CheckAddressColumn:
			out.Evidence = append(out.Evidence, fmt.Sprintf("none in %d tables", scan.Tables))
		case c.OK:
			out.Evidence = append(out.Evidence, fmt.Sprintf("0 of %d rows in %d tables (%d text columns)", scan.Rows, scan.Tables, scan.Columns))
		}
		res.Checks = append(res.Checks, out)
	}
	salts, err := checkSalts(ctx, o, now)
	if err != nil {
		return nil, err
	}
	res.Checks = append(res.Checks, salts...)
	for _, check := range []func(context.Context, Options, time.Time) (Outcome, error){checkPairK, checkChains, checkRetention, checkDrops} {
		out, err := check(ctx, o, now)
		if err != nil {
			return nil, err
		}
		if out.Evidence == nil {
			out.Evidence = []string{}
		}
		res.Checks = append(res.Checks, out)
	}
	for _, check := range o.Extra {
		out, err := check(ctx, now)
		if err != nil {
			return nil, err
		}
		if out.Evidence == nil {
			out.Evidence = []string{}
		}
		res.Checks = append(res.Checks, out)
	}
	res.OK = true
	for _, c := range res.Checks {
		res.OK = res.OK && c.OK
	}
	return res, nil
}
