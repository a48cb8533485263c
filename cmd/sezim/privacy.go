package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sezim-analytics/sezim/dashboards/console"
	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/dashboards/statistics"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/privacy"
	idret "github.com/sezim-analytics/sezim/privacy/retention"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// errReportFailed is returned (exit 1) when a check of the privacy report
// does not pass; the message names the failed checks.
var errReportFailed = errors.New("privacy report failed")

// retentionHistory reads the retention job's history for the report.
var retentionHistory = func(st store.Store) privacy.RetentionHistory {
	return lastRetention{idret.NewHistory(st, "", nil)}
}

// lastRetention gives the report the newest run of the retention job
// (the history's RunRule row) and what that run destroyed (the rows of the
// same time).
type lastRetention struct{ h *idret.History }

// retentionRowsRead bounds the history read for the last run: a run writes
// one row per table and site that lost rows.
const retentionRowsRead = 1000

func (l lastRetention) LastRun(ctx context.Context) (*privacy.RetentionRun, error) {
	rows, err := l.h.Recent(ctx, retentionRowsRead)
	if err != nil {
		return nil, err
	}
	var run *privacy.RetentionRun
	for _, r := range rows {
		if run == nil {
			if r.Rule == idret.RunRule {
				run = &privacy.RetentionRun{Time: r.Time}
			}
			continue
		}
		if r.Time.Equal(run.Time) && r.Rule != idret.RunRule {
			run.Destroyed = append(run.Destroyed, privacy.Destruction{Table: r.Table, Rows: r.Rows, Rule: r.Rule})
		}
	}
	return run, nil
}

// privacyCmd runs `sezim privacy report` (the checks of package privacy on
// the live store, printed as text or JSON; it exits 0 only when every
// check passes) and `sezim privacy inventory` (every column of every
// table with its tier, purpose and retention, from the migrations).
func privacyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "inventory" {
		return privacyInventory(args, stdout, stderr)
	}
	fs := newFlagSet("privacy", "Prove the anonymisation on what is stored.\n\n"+
		"  sezim privacy report     scan every column of every table of the stats database for addresses,\n"+
		"                           user agents, e-mails, phones, long numbers, tokens and query strings;\n"+
		"                           check the salts' ages against the raw partitions, the stored pair cells\n"+
		"                           against k, the consent chains, the last retention run and the drops;\n"+
		"                           exit 1 and name the failed checks when one fails\n"+
		"  sezim privacy inventory  every column of every table with its tier, purpose and retention", stderr)
	var sf storeFlags
	sf.register(fs)
	format := fs.String("format", "text", "output: text or json")
	dataDir := fs.String("data", "data", "the collector's folder for local state: its salts file is checked, and the audit log's chain key and checkpoints")
	metrics := fs.String("metrics", "", "a running collector's metrics URL (http://127.0.0.1:9090/metrics) for the drops by reason; they are counted in the process, not stored")
	var cf chainFlags
	cf.register(fs, dataDir)
	if err := parseSubcommand(fs, args, "report"); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return fmt.Errorf("invalid --format %q: use text or json", *format)
	}
	cfg, err := site.Load(sf.config)
	if err != nil {
		return err
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	saltFile := filepath.Join(*dataDir, "salts.json")
	o := privacy.Options{Store: st, Sites: cfg, SaltDays: func() ([]time.Time, error) { return anon.StateDays(saltFile, time.Now()) },
		Extra: []func(context.Context, time.Time) (privacy.Outcome, error){statistics.CheckDisclosureNow(st, cfg)}}
	if *metrics != "" {
		o.Metrics = privacy.MetricsURL{URL: *metrics}
	}
	if retentionHistory != nil {
		o.History = retentionHistory(st)
	}
	r, err := privacy.Run(ctx, o)
	if err != nil {
		return err
	}
	if audit, closeAudit, err := cf.auditor(st); err == nil {
		outcome := "pass"
		if !r.OK {
			outcome = "fail"
		}
		log, _ := newLogger(stderr, "info")
		recordAudit(ctx, audit, log, staff.AuditEntry{Actor: cliActor(), Action: staff.AuditReport, Target: "privacy report",
			Outcome: outcome, Detail: strings.Join(r.Failed(), ",")})
		closeAudit()
	} else {
		fmt.Fprintf(stderr, "sezim: the report run is not in the audit log: %v\n", err)
	}
	if *format == "json" {
		if err := writeJSON(stdout, r); err != nil {
			return fmt.Errorf("cannot write report: %w", err)
		}
	} else {
		printReport(stdout, r)
	}
	if !r.OK {
		return fmt.Errorf("%w: %s", errReportFailed, strings.Join(r.Failed(), ", "))
	}
	return nil
}

// privacyConsole is what the console's report reads in serve: the live
// salts and the process's own drop counters.
func privacyConsole(salts *anon.Salts, reg prometheus.Gatherer, st store.Store) console.PrivacyOptions {
	o := console.PrivacyOptions{SaltDays: func() ([]time.Time, error) { return salts.Days(), nil }, Metrics: reg, Store: st}
	if retentionHistory != nil {
		o.History = retentionHistory(st)
	}
	return o
}

func privacyInventory(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("privacy inventory", "Print every column of every table with its tier, purpose and retention, read from the migrations.", stderr)
	format := fs.String("format", "text", "output: text or json")
	if err := parseSubcommand(fs, args, "inventory"); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return fmt.Errorf("invalid --format %q: use text or json", *format)
	}
	inv, err := privacy.Inventory(nil)
	if err != nil {
		return err
	}
	if *format == "json" {
		return writeJSON(stdout, inv)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, t := range inv {
		fmt.Fprintf(tw, "%s.%s\t%s\t%s\n", t.Database, t.Name, t.Tier, t.Retention)
		for _, c := range t.Columns {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.Name, c.Type, c.Purpose)
		}
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func printReport(w io.Writer, r *privacy.Result) {
	s := r.Scan
	fmt.Fprintf(w, "privacy report of %s at %s: %d tables, %d text columns, %d rows\n\n", s.Database, r.Time.Format(time.RFC3339), s.Tables, s.Columns, s.Rows)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range r.Checks {
		state := "PASS"
		if !c.OK {
			state = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", state, c.Name, c.What)
		for _, e := range c.Evidence {
			fmt.Fprintf(tw, "\t\t%s\n", e)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, e := range s.Exemption {
		fmt.Fprintf(w, "exempt from %s: %s.%s (%s)\n", strings.Join(e.Checks, ", "), e.Table, e.Column, e.Why)
	}
	if r.OK {
		fmt.Fprintln(w, "\nevery check passed")
	}
}
