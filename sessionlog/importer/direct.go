package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/sessionlog"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// DirectOptions configure a DirectSender.
type DirectOptions struct {
	// Store receives the events and keeps the batch ledger; its schema
	// must be current. The sender does not close it.
	Store store.Store
	// Site is the site the lines belong to.
	Site *site.Site
	// Pipeline configures the pipeline run in this process. Its Sink is
	// the sender's own (a batch's events go into that batch's insert);
	// Sites and Salts are required (Finish recomputes the aggregates of
	// the salt days written to).
	Pipeline pipeline.Options
	// Identified, when set, receives the consented rows and is flushed
	// after every batch; it replaces Pipeline.Identified.
	Identified *pipeline.IdentifiedWriter
	// Logger logs the aggregates' recomputation; default slog.Default().
	Logger *slog.Logger
	// Stderr receives a note once the aggregates are recomputed; nil:
	// discarded.
	Stderr io.Writer
}

// DirectSender runs the pipeline in this process and writes each batch's
// events with one INSERT whose rows carry the batch's name as batch_id.
// That makes it exactly-once even across a crash: sessionlog.RunBatch asks
// the events table whether the batch's rows are there already (a crash
// after the insert and before the ledger's "done"), and takes a claim left
// by a crashed run over at once when they are not. It is a sole writer per
// batch name: run one import of an input at a time.
type DirectSender struct {
	o       DirectOptions
	sink    *batchSink
	ingest  *sessionlog.Ingester
	ledger  *sessionlog.StoreLedger
	roll    *rollup.Rollup
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

// NewDirectSender builds the in-process pipeline; an error when the store,
// the site, the sites or the salts are missing.
func NewDirectSender(o DirectOptions) (*DirectSender, error) {
	if o.Store == nil || o.Site == nil || o.Pipeline.Sites == nil || o.Pipeline.Salts == nil {
		return nil, errors.New("cannot import directly without a store, a site, the sites' configuration and the salts")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	d := &DirectSender{o: o, sink: &batchSink{}}
	po := o.Pipeline
	po.Sink = d.sink
	if o.Identified != nil {
		po.Identified = o.Identified
	}
	d.ingest = sessionlog.NewIngester(sessionlog.Options{Pipeline: pipeline.New(po), Reg: po.Reg})
	d.ledger = sessionlog.NewStoreLedger(o.Store, nil)
	d.roll = rollup.New(rollup.Options{Store: o.Store, Sites: po.Sites, Logger: o.Logger, Settle: -1})
	return d, nil
}

// landed counts the events of the salt days still held that carry name.
func (d *DirectSender) landed(ctx context.Context, name string) (uint64, error) {
	var n uint64
	q := fmt.Sprintf("SELECT count() FROM %s.events WHERE batch_id = %s", d.o.Store.DB().Stats, store.Quote(name))
	err := d.o.Store.Query(ctx, q, func(r store.Row) error { n = r.Uint64(0); return nil })
	if err != nil {
		return 0, fmt.Errorf("cannot check for an earlier insert of a batch: %w", err)
	}
	return n, nil
}

// Send implements Sender.
func (d *DirectSender) Send(ctx context.Context, b *Batch) (sessionlog.Summary, error) {
	bo := sessionlog.BatchOptions{Landed: func(ctx context.Context) (sessionlog.Summary, bool, error) {
		n, err := d.landed(ctx, b.Name)
		return sessionlog.Summary{Accepted: int(n), Skipped: map[string]int{}}, n > 0, err
	}}
	return sessionlog.RunBatch(ctx, d.ledger, d.o.Site.ID, b.Name, bo, func(ctx context.Context) (sessionlog.Summary, error) {
		return d.write(ctx, b)
	})
}

// write runs one batch through the pipeline and inserts its events.
func (d *DirectSender) write(ctx context.Context, b *Batch) (sessionlog.Summary, error) {
	defer func() {
		// Drop the batch's events (and the strings they hold) whatever
		// happened: a failed batch is done again from its lines.
		clear(d.sink.events)
		d.sink.events = d.sink.events[:0]
	}()
	sum := d.ingest.Ingest(ctx, d.o.Site, b.Format, b.Body)
	if ctx.Err() != nil {
		// Stopped mid-batch: nothing of it is written; the next run
		// takes the claim over and does the batch again.
		return sessionlog.Summary{}, ctx.Err()
	}
	rows := make([][]any, len(d.sink.events))
	inserted := time.Now() // one stamp for the insert (see pipeline.EventRow)
	for i := range d.sink.events {
		rows[i] = pipeline.EventRowAt(&d.sink.events[i], b.Name, inserted)
	}
	if len(rows) > 0 {
		if err := d.o.Store.Insert(ctx, d.o.Store.DB().Stats+".events", pipeline.EventColumns, rows); err != nil {
			return sessionlog.Summary{}, fmt.Errorf("cannot insert a batch's events (%d rows): %w", len(rows), err)
		}
		d.touched = true
	}
	if d.o.Identified != nil {
		if err := d.o.Identified.Flush(ctx); err != nil {
			return sessionlog.Summary{}, err
		}
	}
	return sum, nil
}

// Finish recomputes the aggregates of the salt days the import wrote to,
// so the dashboards show the imported lines at once. It does nothing when
// no batch was written, and returns the first day that failed.
func (d *DirectSender) Finish(ctx context.Context) error {
	if !d.touched {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	for _, day := range d.o.Pipeline.Salts.Days() {
		if _, err := d.roll.RunSite(ctx, d.o.Site, day); err != nil {
			return fmt.Errorf("cannot recompute the aggregates of %s: %w", day.Format(time.DateOnly), err)
		}
	}
	fmt.Fprintln(d.o.Stderr, "sezim import: aggregates recomputed")
	return nil
}
