package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/sezim-analytics/sezim/dashboards"
	"github.com/sezim-analytics/sezim/privacy"
)

// errReportFailed is returned (exit 1) when a check of the privacy report
// does not pass; the message names the failed checks.
var errReportFailed = errors.New("privacy report failed")

// privacyCmd runs `sezim privacy report`: the checks of package privacy on
// the live store, printed as text or JSON. It exits 0 only when every check
// passes.
func privacyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("privacy", "Prove the anonymisation on what is stored.\n\n"+
		"  sezim privacy report  scan every column of every table of the stats database for addresses,\n"+
		"                        user agents, e-mails, phones, long numbers, tokens and query strings;\n"+
		"                        exit 1 and name the failed checks when one is found", stderr)
	var sf storeFlags
	sf.register(fs)
	format := fs.String("format", "text", "output: text or json")
	dataDir := fs.String("data", "data", "folder for local state: the chain key and checkpoints of the audit log")
	var cf chainFlags
	cf.register(fs, dataDir)
	if err := parseSubcommand(fs, args, "report"); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return fmt.Errorf("invalid --format %q: use text or json", *format)
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := privacy.ScanStats(ctx, st)
	if err != nil {
		return err
	}
	if audit, closeAudit, err := cf.auditor(st); err == nil {
		outcome := "pass"
		if !r.OK {
			outcome = "fail"
		}
		log, _ := newLogger(stderr, "info")
		recordAudit(ctx, audit, log, dashboards.AuditEntry{Actor: cliActor(), Action: dashboards.AuditReport, Target: "privacy report",
			Outcome: outcome, Detail: strings.Join(r.Failed(), ",")})
		closeAudit()
	} else {
		fmt.Fprintf(stderr, "sezim: the report run is not in the audit log: %v\n", err)
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(r); err != nil {
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

func printReport(w io.Writer, r *privacy.Report) {
	fmt.Fprintf(w, "privacy report of %s: %d tables, %d text columns, %d rows\n\n", r.Database, r.Tables, r.Columns, r.Rows)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range r.Checks {
		state := "PASS"
		if !c.OK {
			state = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", state, c.Name, c.What)
		for _, f := range c.Findings {
			if c.Name == privacy.CheckAddressColumn {
				fmt.Fprintf(tw, "\t\t%s.%s (%s)\n", f.Table, f.Column, f.Sample)
				continue
			}
			fmt.Fprintf(tw, "\t\t%s.%s: %d cells, e.g. %q\n", f.Table, f.Column, f.Cells, f.Sample)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, e := range r.Exemption {
		fmt.Fprintf(w, "exempt from %s: %s.%s (%s)\n", strings.Join(e.Checks, ", "), e.Table, e.Column, e.Why)
	}
	if r.OK {
		fmt.Fprintln(w, "\nevery check passed")
	}
}
