package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/sezim-analytics/sezim/dashboards/staff"
)

// auditCmd runs `sezim audit export`: the audit log, newest first, as CSV
// or JSON on stdout. The export is itself audited.
func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit", "The audit log of staff actions.\n\n"+
		"  sezim audit export  write the audit log, newest first, as CSV or JSON (--format); filter with\n"+
		"                      --actor, --action, --since and --until (RFC 3339 or YYYY-MM-DD, UTC)", stderr)
	var sf storeFlags
	sf.register(fs)
	format := fs.String("format", staff.ExportCSV, "output: csv or json")
	actor := fs.String("actor", "", "only this actor (a user name, cli:<os user>, system)")
	action := fs.String("action", "", "only this action (sign_in, subject_erase, retention_run, ...)")
	since := fs.String("since", "", "only from this time on")
	until := fs.String("until", "", "only before this time")
	limit := fs.Int("limit", staff.MaxAuditRows, "at most this many rows")
	dataDir := fs.String("data", "data", "folder for local state: the chain key and checkpoints of the audit log")
	var cf chainFlags
	cf.register(fs, dataDir)
	if err := parseSubcommand(fs, args, "export"); err != nil {
		return err
	}
	if *format != staff.ExportCSV && *format != staff.ExportJSON {
		return fmt.Errorf("invalid --format %q: use csv or json", *format)
	}
	f := staff.AuditFilter{Actor: *actor, Action: *action, Limit: *limit}
	var err error
	if f.Since, err = parseWhen("since", *since); err != nil {
		return err
	}
	if f.Until, err = parseWhen("until", *until); err != nil {
		return err
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	audit, closeAudit, err := cf.auditor(st)
	if err != nil {
		return err
	}
	defer closeAudit()
	entries, err := audit.Query(ctx, f)
	if err != nil {
		return err
	}
	if err := staff.WriteAudit(stdout, *format, entries); err != nil {
		return err
	}
	log, _ := newLogger(stderr, "info")
	recordAudit(ctx, audit, log, staff.AuditEntry{Actor: cliActor(), Action: staff.AuditLogExport, Outcome: "ok",
		Detail: fmt.Sprintf("%d rows as %s; actor=%q action=%q since=%q until=%q", len(entries), *format, *actor, *action, *since, *until)})
	return nil
}

// parseWhen parses a time flag: RFC 3339 or a UTC date; "" is no bound.
func parseWhen(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("invalid --%s %q: want RFC 3339 (2026-11-29T10:00:00Z) or a date (2026-11-29)", name, v)
}
