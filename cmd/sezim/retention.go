package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/hashchain"

	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	idret "github.com/sezim-analytics/sezim/privacy/retention"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// retention runs the retention job once, for cron or for an operator;
// serve runs the same job every ten minutes.
func retention(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("retention", "Run the retention job once: destroy expired salts, make the last rollup of expired salt days and drop their raw events, delete aggregates and identified rows past each site's retention, compact closed months; every destruction goes to the retention history.", stderr)
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
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return fmt.Errorf("cannot create the data folder (%s): %w", *dataDir, err)
	}
	salts, err := anon.NewSalts(filepath.Join(*dataDir, "salts.json"), time.Now())
	if err != nil {
		return err
	}
	key, cps, err := cf.open()
	if err != nil {
		return err
	}
	defer cps.Close()
	audit := staff.NewAuditorOptions(staff.AuditorOptions{Store: st, Key: key, Checkpoints: cps})
	rp := newRetentionParts(st, cfg, "sezim retention ("+cliActor()+")", cps, log)
	r := rollup.New(rollup.Options{Store: st, Sites: cfg, Logger: log, Destroyed: rp.statsDestroyed})
	// On a cluster the shards' own collectors (serve --store-shard) keep the
	// aggregates and the events: here only the identified data.
	ok := runRetention(ctx, r, salts, rp, log, sf.cluster == "")
	outcome := "ok"
	if !ok {
		outcome = "incomplete"
	}
	recordAudit(ctx, audit, log, staff.AuditEntry{Actor: cliActor(), Action: staff.AuditRetention, Outcome: outcome})
	if !ok {
		return fmt.Errorf("the retention job did not finish every step (see the lines above); what it destroyed is in the retention history")
	}
	fmt.Fprintln(stdout, "retention done")
	return nil
}

// serveProcess names a serving process in the retention history.
func serveProcess() string {
	h, _ := os.Hostname()
	return "serve on " + h
}

// retentionParts are the identified database's retention job and the
// history every destruction is written to.
type retentionParts struct {
	history *idret.History
	job     *idret.Job
	log     *slog.Logger
	st      store.Store
}

func newRetentionParts(st store.Store, cfg *site.Config, process string, cps *hashchain.Checkpoints, log *slog.Logger) *retentionParts {
	h := idret.NewHistory(st, process, nil)
	return &retentionParts{history: h, job: idret.NewJob(idret.Options{Store: st, Sites: cfg, History: h, Logger: log, Checkpoints: cps}), log: log, st: st}
}

// statsDestroyed is the rollup's Destroyed hook: salt-day drops and
// aggregate deletes go to the history too.
func (p *retentionParts) statsDestroyed(ctx context.Context, d rollup.Destruction) {
	if err := p.history.Record(ctx, idret.Destruction{DB: p.st.DB().Stats, Table: d.Table, Site: d.Site, Rows: d.Rows, Rule: d.Rule, Cutoff: d.Cutoff}); err != nil {
		p.log.Error("cannot record a destruction in the retention history", "table", d.Table, "err", err)
	}
}
