package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/sezim-analytics/sezim/dashboards"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
)

// retention runs the retention job once, for cron or for an operator; serve
// runs the same job every ten minutes.
func retention(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("retention", "Run the retention job once: destroy expired salts, make the last rollup of expired salt days and drop their raw events, delete aggregates past each site's retention, compact closed months.", stderr)
	var sf storeFlags
	sf.register(fs)
	dataDir := fs.String("data", "data", "folder for local state (the salts file, the chain key and checkpoints)")
	var cf chainFlags
	cf.register(fs, dataDir)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, _ := newLogger(stderr, "info")
	cfg, err := site.Load(sf.config)
	if err != nil {
		return err
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	salts, err := anon.NewSalts(filepath.Join(*dataDir, "salts.json"), time.Now())
	if err != nil {
		return err
	}
	audit, closeAudit, err := cf.auditor(st)
	if err != nil {
		return err
	}
	defer closeAudit()
	r := rollup.New(rollup.Options{Store: st, Sites: cfg, Logger: log})
	runRetention(ctx, r, salts, log)
	recordAudit(ctx, audit, log, dashboards.AuditEntry{Actor: cliActor(), Action: dashboards.AuditRetention, Outcome: "ok"})
	fmt.Fprintln(stdout, "retention done")
	return nil
}
