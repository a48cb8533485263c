package pipeline

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/store"
)

// MaxUserID caps a site's user id, in bytes; a longer one is not kept.
const MaxUserID = 256

// IdentifiedRow is the per-event row of a consented event: what the
// identified database keeps besides the aggregates. The IP is already
// truncated (IPv4 /24, IPv6 /48); the full address never leaves Process.
type IdentifiedRow struct {
	SiteID    string
	Time      time.Time
	VisitorID string // the sezim_vid cookie, "" when absent or malformed
	UserID    string // only with the identified purpose granted
	IP        string // truncated
	Kind      event.Kind
	Name      string
	Path      string
	RefHost   string
	Browser   string
	OS        string
	Device    string
	Country   string
}

// IdentifiedSink receives consented per-event rows. Write must copy what it
// keeps: the strings may point into a reused request buffer.
type IdentifiedSink interface {
	WriteIdentified(r *IdentifiedRow) error
}

// IdentifiedColumns are the columns of <identified>.events, in the order
// IdentifiedRowValues gives their values.
var IdentifiedColumns = []string{"site", "ts", "visitor_id", "user_id", "ip", "kind", "name", "path", "ref_host", "browser", "os", "device", "country"}

// IdentifiedRowValues gives r's values in IdentifiedColumns order.
func IdentifiedRowValues(r *IdentifiedRow) []any {
	return []any{r.SiteID, r.Time, r.VisitorID, r.UserID, r.IP, uint8(r.Kind), r.Name, r.Path, r.RefHost, r.Browser, r.OS, r.Device, r.Country}
}

// identified hands a consented event's per-event row to the identified
// sink. Only here is the user id looked at: it is kept when the cookie
// grants the identified purpose, and dropped otherwise.
func (p *Pipeline) identified(h *event.Hit, out *event.Event, c ConsentState) {
	if p.o.Identified == nil {
		return
	}
	r := IdentifiedRow{
		SiteID: out.SiteID, Time: out.Time, IP: anon.TruncateIP(h.IP).String(),
		Kind: out.Kind, Name: out.Name, Path: out.Path, RefHost: out.RefHost,
		Browser: out.Browser, OS: out.OS, Device: out.Device, Country: out.Country,
	}
	if !h.IP.IsValid() {
		r.IP = ""
	}
	if consent.ValidVisitorID(h.VisitorCookie) {
		r.VisitorID = h.VisitorCookie
	}
	if c == ConsentIdentified && len(h.UserID) <= MaxUserID {
		r.UserID = h.UserID
	}
	if err := p.o.Identified.WriteIdentified(&r); err != nil {
		// The aggregates have the event; only its consented row is lost.
		p.dropped.WithLabelValues(h.Source.String(), "identified_backpressure").Inc()
	}
}

// IdentifiedOptions configure an IdentifiedWriter.
type IdentifiedOptions struct {
	Store store.Store
	// FlushEvery is the longest a row waits in memory (default 1s).
	FlushEvery time.Duration
	// MaxBuffered bounds memory: past it rows are refused (default 100,000).
	MaxBuffered int
	Logger      *slog.Logger
	Reg         prometheus.Registerer
}

// IdentifiedWriter is the IdentifiedSink that inserts rows into
// <identified>.events once a second. It is deliberately separate from the
// stats sink (and simpler): consented events are a fraction of the traffic.
// A failed insert is retried at the next flush with the same rows.
type IdentifiedWriter struct {
	o       IdentifiedOptions
	mu      sync.Mutex
	buf     []IdentifiedRow
	flushMu sync.Mutex
	done    chan struct{}
	errors  prometheus.Counter
}

// NewIdentifiedWriter returns a writer; call Run to start flushing.
func NewIdentifiedWriter(o IdentifiedOptions) *IdentifiedWriter {
	if o.FlushEvery <= 0 {
		o.FlushEvery = time.Second
	}
	if o.MaxBuffered <= 0 {
		o.MaxBuffered = 100_000
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Reg == nil {
		o.Reg = prometheus.NewRegistry()
	}
	return &IdentifiedWriter{o: o, done: make(chan struct{}),
		errors: promauto.With(o.Reg).NewCounter(prometheus.CounterOpts{
			Name: "sezim_store_identified_errors_total", Help: "Failed inserts of consented per-event rows (retried)."}),
	}
}

// WriteIdentified buffers a copy of r; ErrBackpressure when full.
func (w *IdentifiedWriter) WriteIdentified(r *IdentifiedRow) error {
	c := *r
	for _, s := range []*string{&c.SiteID, &c.VisitorID, &c.UserID, &c.IP, &c.Name, &c.Path, &c.RefHost} {
		*s = strings.Clone(*s)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) >= w.o.MaxBuffered {
		return ErrBackpressure
	}
	w.buf = append(w.buf, c)
	return nil
}

// Buffered is the number of rows waiting.
func (w *IdentifiedWriter) Buffered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.buf)
}

// Flush inserts what is buffered; on error the rows stay for the next try.
func (w *IdentifiedWriter) Flush(ctx context.Context) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	rows := w.buf
	w.buf = nil
	w.mu.Unlock()
	if len(rows) == 0 {
		return nil
	}
	vals := make([][]any, len(rows))
	for i := range rows {
		vals[i] = IdentifiedRowValues(&rows[i])
	}
	err := w.o.Store.Insert(ctx, w.o.Store.DB().Identified+".events", IdentifiedColumns, vals)
	if err != nil {
		w.errors.Inc()
		w.mu.Lock()
		w.buf = append(rows, w.buf...)
		w.mu.Unlock()
	}
	return err
}

// Run flushes every FlushEvery until ctx ends, then once more; Done is
// closed when it returns.
func (w *IdentifiedWriter) Run(ctx context.Context) {
	defer close(w.done)
	t := time.NewTicker(w.o.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := w.Flush(fctx); err != nil {
				w.o.Logger.Error("cannot write consented rows at shutdown", "rows", w.Buffered(), "err", err)
			}
			cancel()
			return
		case <-t.C:
			if err := w.Flush(ctx); err != nil {
				w.o.Logger.Warn("cannot write consented rows; will retry", "rows", w.Buffered(), "err", err)
			}
		}
	}
}

// Done is closed when Run has returned.
func (w *IdentifiedWriter) Done() <-chan struct{} { return w.done }
