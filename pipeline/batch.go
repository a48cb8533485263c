package pipeline

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/store"
)

// EventColumns are the columns of sezim_stats.events, in the order
// EventRow gives their values.
var EventColumns = []string{
	"salt_day", "site", "ts", "visitor", "kind", "name", "path", "ref_host", "channel",
	"utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
	"country", "region", "browser", "browser_version", "os", "device", "screen", "language",
}

// EventRow gives e's values in EventColumns order.
func EventRow(e *event.Event) []any {
	return []any{
		store.DayOf(e.SaltDay.UTC()), e.SiteID, e.Time, e.Visitor, uint8(e.Kind), e.Name, e.Path, e.RefHost, e.Channel,
		e.UTMSource, e.UTMMedium, e.UTMCampaign, e.UTMContent, e.UTMTerm,
		e.Country, e.Region, e.Browser, e.BrowserVersion, e.OS, e.Device, e.Screen, e.Language,
	}
}

// BatchOptions configure a Batcher.
type BatchOptions struct {
	Store store.Store
	// FlushEvery is the longest an event waits in memory (default 1s): one
	// insert per second keeps ClickHouse's part count low.
	FlushEvery time.Duration
	// MaxBatch flushes early when this many events wait (default 50,000).
	MaxBatch int
	// MaxBuffered bounds memory: past it Write returns ErrBackpressure
	// (default 4 × MaxBatch).
	MaxBuffered int
	Logger      *slog.Logger
	Reg         prometheus.Registerer
}

// Batcher is the Sink that gathers events in memory and inserts them into
// sezim_stats.events in large batches. A failed insert is retried at the
// next flush with the same events; while the store is down events pile up
// to MaxBuffered, and then Write refuses new ones.
type Batcher struct {
	o       BatchOptions
	mu      sync.Mutex
	buf     []event.Event
	spare   []event.Event
	kick    chan struct{}
	done    chan struct{}
	flushMu sync.Mutex // one flush at a time

	batchSize    prometheus.Histogram
	flushLatency prometheus.Histogram
	storeErrors  prometheus.Counter
	buffered     prometheus.GaugeFunc
}

// NewBatcher returns a Batcher; call Run to start flushing.
func NewBatcher(o BatchOptions) *Batcher {
	if o.FlushEvery <= 0 {
		o.FlushEvery = time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 50_000
	}
	if o.MaxBuffered <= 0 {
		o.MaxBuffered = 4 * o.MaxBatch
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Reg == nil {
		o.Reg = prometheus.NewRegistry()
	}
	b := &Batcher{o: o, kick: make(chan struct{}, 1), done: make(chan struct{})}
	f := promauto.With(o.Reg)
	b.batchSize = f.NewHistogram(prometheus.HistogramOpts{
		Name: "sezim_store_batch_size_rows", Help: "Rows per insert into the events table.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 10)})
	b.flushLatency = f.NewHistogram(prometheus.HistogramOpts{
		Name: "sezim_store_flush_duration_seconds", Help: "Time to insert one batch.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)})
	b.storeErrors = f.NewCounter(prometheus.CounterOpts{
		Name: "sezim_store_errors_total", Help: "Failed inserts into the store."})
	b.buffered = f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sezim_pipeline_buffered_events", Help: "Events waiting in memory for the store."},
		func() float64 { return float64(b.Buffered()) })
	return b
}

// Write copies e into the buffer.
func (b *Batcher) Write(e *event.Event) error {
	ev := *e
	ev.OwnStrings() // outside the lock: it allocates
	b.mu.Lock()
	if len(b.buf) >= b.o.MaxBuffered {
		b.mu.Unlock()
		return ErrBackpressure
	}
	b.buf = append(b.buf, ev)
	n := len(b.buf)
	b.mu.Unlock()
	if n == b.o.MaxBatch {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// Buffered is the number of events waiting.
func (b *Batcher) Buffered() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buf)
}

// Run flushes every FlushEvery (or when MaxBatch events wait) until ctx ends;
// then it makes a last flush attempt bounded by a few seconds.
func (b *Batcher) Run(ctx context.Context) {
	defer close(b.done)
	t := time.NewTicker(b.o.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := b.Flush(fctx); err != nil {
				b.o.Logger.Error("events left unwritten at shutdown", "events", b.Buffered(), "err", err)
			}
			cancel()
			return
		case <-t.C:
		case <-b.kick:
		}
		if err := b.Flush(ctx); err != nil && ctx.Err() == nil {
			b.o.Logger.Warn("cannot write events to the store; will retry", "events", b.Buffered(), "err", err)
		}
	}
}

// Done is closed when Run has returned.
func (b *Batcher) Done() <-chan struct{} { return b.done }

// Flush inserts everything buffered, in MaxBatch chunks. Events of a failed
// insert go back to the front of the buffer.
func (b *Batcher) Flush(ctx context.Context) error {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	batch := b.buf
	b.buf = b.spare[:0]
	b.mu.Unlock()
	if len(batch) == 0 {
		b.spare = batch
		return nil
	}
	rows := make([][]any, 0, min(len(batch), b.o.MaxBatch))
	for start := 0; start < len(batch); start += b.o.MaxBatch {
		end := min(start+b.o.MaxBatch, len(batch))
		rows = rows[:0]
		for i := start; i < end; i++ {
			rows = append(rows, EventRow(&batch[i]))
		}
		began := time.Now()
		err := b.o.Store.Insert(ctx, b.o.Store.DB().Stats+".events", EventColumns, rows)
		if err != nil {
			b.storeErrors.Inc()
			b.requeue(batch[start:])
			return err
		}
		b.flushLatency.Observe(time.Since(began).Seconds())
		b.batchSize.Observe(float64(end - start))
	}
	clear(batch)
	b.spare = batch[:0]
	return nil
}

// requeue puts unwritten events back in front of those that arrived since.
func (b *Batcher) requeue(left []event.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	merged := make([]event.Event, 0, len(left)+len(b.buf))
	merged = append(merged, left...)
	merged = append(merged, b.buf...)
	b.buf = merged
}
