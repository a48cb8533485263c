package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sezim-analytics/sezim/loadgen"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// benchRollup measures the rollup: it stores one salt day of generated
// events (the generator of the dashboards' 10M benchmark) in a store of its
// own, recomputes the day's aggregates, and prints one line with the time
// it took. Its databases are dropped at the end, and an embedded store's
// folder removed.
func benchRollup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench rollup", "Measure the rollup of one salt day of generated events.", stderr)
	events := fs.Int("events", 1_000_000, "events in the salt day")
	storeURL := fs.String("store", "", "store to use (default: embedded, in a temporary folder)")
	newEvents := fs.Int("new-events", 120_000, "events added after the full run for the incremental one (default: 60 s at 2,000 events/s)")
	inGo := fs.Bool("in-go", false, "recompute by reading the events into Go, the way before the engine did it, for comparison")
	trace := fs.Bool("trace", false, "print every statement of the runs with its time (to stderr)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *events <= 0 {
		return fmt.Errorf("cannot run the rollup benchmark (--events %d): it needs at least one event", *events)
	}
	url := *storeURL
	if url == "" {
		dir, err := os.MkdirTemp("", "sezim-bench-rollup-")
		if err != nil {
			return fmt.Errorf("cannot create the benchmark's store folder: %w", err)
		}
		defer os.RemoveAll(dir)
		url = "chdb://" + dir
	}
	stamp := time.Now().Unix()
	names := store.DefaultNames.WithPrefix(fmt.Sprintf("bench_rollup_%d_", stamp))
	st, err := store.Open(ctx, url, names)
	if err != nil {
		return err
	}
	defer st.Close()
	defer func() {
		for _, db := range names.All() {
			_ = st.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
		}
	}()
	if _, err := store.NewMigrator(st, store.MigrateOptions{}).Up(ctx); err != nil {
		return fmt.Errorf("cannot migrate the benchmark's store: %w", err)
	}
	cfg, err := site.Parse([]byte("sites:\n  - id: bench\n    domains: [bench.example]\n    timezone: Asia/Almaty\n"))
	if err != nil {
		return err
	}

	// Generated and stored in batches, so that memory stays bounded at any
	// --events.
	saltDay := time.Now().UTC().Truncate(24 * time.Hour)
	gen := loadgen.NewEventGen("bench")
	began := time.Now()
	stored := 0
	for stored < *events {
		evs := gen.Day(saltDay, min(100_000, *events-stored))
		rows := make([][]any, len(evs))
		for i := range evs {
			rows[i] = pipeline.EventRow(&evs[i], "bench")
		}
		if err := st.Insert(ctx, names.Stats+".events", pipeline.EventColumns, rows); err != nil {
			return fmt.Errorf("cannot store the benchmark's events: %w", err)
		}
		stored += len(evs)
	}
	fmt.Fprintf(stderr, "stored %d events in %.1f s; recomputing the day\n", stored, time.Since(began).Seconds())

	// Settle -1: the benchmark runs after its own inserts, nobody else's.
	var runStore store.Store = st
	if *trace {
		runStore = &tracedStore{Store: st, out: stderr}
	}
	roll := rollup.New(rollup.Options{Store: runStore, Sites: cfg, InGo: *inGo, Settle: -1})
	began = time.Now()
	res, err := roll.Run(ctx, saltDay)
	if err != nil {
		return err
	}
	full := time.Since(began)
	if *inGo {
		// The Go path has no incremental runs.
		fmt.Fprintf(stdout, "rollup events=%d full_s=%.2f incremental_s=n/a rows_read=%d\n", stored, full.Seconds(), res.Events)
		return nil
	}
	// A minute of traffic at 2,000 events/s on top (by default), stamped
	// after the full run's cut, then one run.
	evs := gen.Day(saltDay, max(*newEvents, 1))
	rows := make([][]any, len(evs))
	at := time.Now().Add(2 * time.Second)
	for i := range evs {
		rows[i] = pipeline.EventRowAt(&evs[i], "bench-new", at)
	}
	if err := st.Insert(ctx, names.Stats+".events", pipeline.EventColumns, rows); err != nil {
		return fmt.Errorf("cannot store the benchmark's new events: %w", err)
	}
	began = time.Now()
	inc, err := roll.Run(ctx, saltDay)
	if err != nil {
		return err
	}
	if !inc.Incremental {
		return fmt.Errorf("the run after new traffic recomputed the whole day instead of adding to it")
	}
	incTime := time.Since(began)
	if *trace {
		fmt.Fprintf(stderr, "rows written: full run %d aggregate, %d pair; incremental run %d aggregate, %d pair\n",
			res.Rows, res.PairRows, inc.Rows, inc.PairRows)
	}
	fmt.Fprintf(stdout, "rollup events=%d full_s=%.2f incremental_s=%.2f rows_read=%d incremental_rows_read=%d new_events=%d\n",
		stored, full.Seconds(), incTime.Seconds(), res.Events, inc.Events, len(evs))
	return nil
}
