package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/pipeline/geo"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/sessionlog"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// directSender runs the pipeline in this process and writes each batch's
// events with one INSERT whose rows carry the batch's key as batch_id.
// That makes --direct exactly-once even across a crash: before a batch is
// processed, the events table is asked whether that batch_id is there
// already (a crash after the insert and before the ledger's "done"), and a
// claim left by a crashed run is taken over only when it is not.
type directSender struct {
	st      store.Store
	site    *site.Site
	salts   *anon.Salts
	geo     *geo.DB
	sink    *batchSink
	ident   *pipeline.IdentifiedWriter
	ingest  *sessionlog.Ingester
	ledger  *sessionlog.StoreLedger
	roll    *rollup.Rollup
	stderr  io.Writer
	touched bool
}

// batchSink keeps one batch's events until the batch is inserted. The
// ingester writes from several goroutines.
type batchSink struct {
	mu     sync.Mutex
	events []event.Event
}

func (s *batchSink) Write(e *event.Event) error {
	ev := *e
	ev.OwnStrings()
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
	return nil
}

func newDirectSender(ctx context.Context, o *importOptions, stderr io.Writer) (*directSender, error) {
	cfg, err := site.Load(o.sf.config)
	if err != nil {
		return nil, err
	}
	st, err := o.sf.open(ctx)
	if err != nil {
		return nil, err
	}
	d, err := newDirectSenderOn(ctx, st, cfg, o, stderr)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return d, nil
}

// newDirectSenderOn builds the in-process pipeline on an open store; the
// sender's close closes st.
func newDirectSenderOn(ctx context.Context, st store.Store, cfg *site.Config, o *importOptions, stderr io.Writer) (*directSender, error) {
	var err error
	d := &directSender{stderr: stderr, sink: &batchSink{}, st: st}
	switch {
	case o.siteID != "":
		if d.site = cfg.Site(o.siteID); d.site == nil {
			return nil, fmt.Errorf("--site %q is not in %s", o.siteID, o.sf.config)
		}
	case len(cfg.Sites) == 1:
		d.site = cfg.Sites[0]
	default:
		return nil, fmt.Errorf("--site is required: %s has %d sites", o.sf.config, len(cfg.Sites))
	}
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create data folder %q: %w", o.dataDir, err)
	}
	ok := false
	defer func() {
		if !ok && d.geo != nil {
			d.geo.Close()
		}
	}()
	pending, err := store.NewMigrator(d.st, store.MigrateOptions{Cluster: o.sf.cluster}).Pending(ctx)
	if err != nil {
		return nil, err
	}
	if pending > 0 {
		return nil, fmt.Errorf("%d migration(s) pending: run \"sezim migrate up\" first", pending)
	}
	if o.geoPath != "" {
		if d.geo, err = geo.Open(o.geoPath); err != nil {
			return nil, err
		}
	}
	if d.salts, err = anon.NewSalts(filepath.Join(o.dataDir, "salts.json"), time.Now()); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	po := pipeline.Options{Sites: cfg, Salts: d.salts, Geo: d.geo, Sink: d.sink, Reg: reg}
	if o.consentKey != "" {
		key, err := consent.ParseKey(o.consentKey)
		if err != nil {
			return nil, fmt.Errorf("invalid --consent-key: %w", err)
		}
		keys, err := consent.NewKeys(key, nil)
		if err != nil {
			return nil, err
		}
		d.ident = pipeline.NewIdentifiedWriter(pipeline.IdentifiedOptions{Store: d.st, Logger: log, Reg: reg})
		po.Consent, po.Identified = pipeline.ConsentFromCookie(keys), d.ident
	}
	pipe := pipeline.New(po)
	d.ingest = sessionlog.NewIngester(sessionlog.Options{Pipeline: pipe, Reg: reg})
	d.ledger = sessionlog.NewStoreLedger(d.st, nil)
	d.roll = rollup.New(rollup.Options{Store: d.st, Sites: cfg, Logger: log})
	ok = true
	return d, nil
}

// landed counts the events of the salt days still held that carry id.
func (d *directSender) landed(ctx context.Context, id string) (uint64, error) {
	var n uint64
	q := fmt.Sprintf("SELECT count() FROM %s.events WHERE batch_id = %s", d.st.DB().Stats, store.Quote(id))
	err := d.st.Query(ctx, q, func(r store.Row) error { n = r.Uint64(0); return nil })
	if err != nil {
		return 0, fmt.Errorf("cannot check for an earlier insert of a batch: %w", err)
	}
	return n, nil
}

func (d *directSender) send(ctx context.Context, b *batch) (sessionlog.Summary, error) {
	key := sessionlog.BatchKey(d.site.ID, b.key)
	claim, dup, err := d.ledger.Begin(ctx, d.site.ID, key)
	if dup != nil {
		return *dup, nil
	}
	if err != nil && !errors.Is(err, sessionlog.ErrInProgress) {
		return sessionlog.Summary{}, err
	}
	n, lerr := d.landed(ctx, b.key)
	if lerr != nil {
		return sessionlog.Summary{}, lerr
	}
	if n > 0 {
		// A run crashed between its insert and its "done": the events
		// are in; count the batch as done, once.
		if claim != nil {
			_ = d.ledger.Finish(ctx, claim, sessionlog.Summary{Accepted: int(n), Skipped: map[string]int{}})
		}
		return sessionlog.Summary{Accepted: int(n), Skipped: map[string]int{}, Duplicate: true}, nil
	}
	if claim == nil { // a claim of a crashed run whose work never landed
		if claim, err = d.ledger.Takeover(ctx, d.site.ID, key); err != nil {
			return sessionlog.Summary{}, err
		}
	}
	d.sink.events = d.sink.events[:0]
	sum := d.ingest.Ingest(ctx, d.site, b.format, b.body)
	if ctx.Err() != nil {
		// Stopped mid-batch: nothing of it is written; the next run
		// takes the claim over and does the batch again.
		clear(d.sink.events)
		return sessionlog.Summary{}, ctx.Err()
	}
	rows := make([][]any, len(d.sink.events))
	for i := range d.sink.events {
		rows[i] = pipeline.EventRow(&d.sink.events[i], b.key)
	}
	if len(rows) > 0 {
		if err := d.st.Insert(ctx, d.st.DB().Stats+".events", pipeline.EventColumns, rows); err != nil {
			return sessionlog.Summary{}, fmt.Errorf("cannot insert a batch's events: %w", err)
		}
		d.touched = true
	}
	clear(d.sink.events)
	if d.ident != nil {
		if err := d.ident.Flush(ctx); err != nil {
			return sessionlog.Summary{}, err
		}
	}
	if err := d.ledger.Finish(ctx, claim, sum); err != nil {
		return sessionlog.Summary{}, err
	}
	return sum, nil
}

// finish recomputes the aggregates of the salt days the import wrote to,
// so the dashboards show the imported lines at once.
func (d *directSender) finish(ctx context.Context) error {
	if !d.touched {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	for _, day := range d.salts.Days() {
		if _, err := d.roll.RunSite(ctx, d.site, day); err != nil {
			return fmt.Errorf("cannot recompute the aggregates: %w", err)
		}
	}
	fmt.Fprintln(d.stderr, "sezim import: aggregates recomputed")
	return nil
}

func (d *directSender) close() {
	if d.geo != nil {
		d.geo.Close()
	}
	if d.st != nil {
		_ = d.st.Close()
	}
}
