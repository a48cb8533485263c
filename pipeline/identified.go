package pipeline

import (
	"context"
	"log/slog"
	"net/netip"
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

// Identity is what a consented event's row in <identified>.events holds
// beyond the event's own fields: the pseudonymous visitor id, the user id
// and the truncated address. The full address never leaves Process.
type Identity struct {
	VisitorID string     // the sezim_vid cookie, "" when absent or malformed
	UserID    string     // only with the identified purpose granted
	IP        netip.Addr // truncated (IPv4 /24, IPv6 /48); invalid when unknown
}

// ConsentedSink is a Sink that keeps a consented event and its Identity in
// one durable write, so that an acknowledged event never has one without
// the other (the write-ahead log is one). WriteConsented must copy what it
// keeps, as Write does.
type ConsentedSink interface {
	Sink
	WriteConsented(e *event.Event, id *Identity) error
}

// IdentifiedRow is the per-event row of a consented event, for an
// IdentifiedSink.
type IdentifiedRow struct {
	Event    *event.Event
	Identity Identity
}

// IdentifiedSink receives consented per-event rows where the Sink is not a
// ConsentedSink (an import straight into the store has no write-ahead
// log). Write must copy what it keeps: the strings may point into a
// reused request buffer.
type IdentifiedSink interface {
	WriteIdentified(r *IdentifiedRow) error
}

// IdentifiedColumns are the columns of <identified>.events, in the order
// IdentifiedRowValues gives their values.
var IdentifiedColumns = []string{"site", "ts", "visitor_id", "user_id", "ip", "kind", "name", "path", "ref_host", "browser", "os", "device", "country", "batch_id"}

// IdentifiedRowValues gives the values of e's identified row in
// IdentifiedColumns order. batchID names the insert, as for EventRow; ""
// where inserts are not replayed.
func IdentifiedRowValues(e *event.Event, id *Identity, batchID string) []any {
	ip := ""
	if id.IP.IsValid() {
		ip = id.IP.String()
	}
	return []any{e.SiteID, e.Time, id.VisitorID, id.UserID, ip, uint8(e.Kind), e.Name, e.Path, e.RefHost, e.Browser, e.OS, e.Device, e.Country, batchID}
}

// identity builds a consented event's Identity. Only here is the user id
// looked at: it is kept when the cookie grants the identified purpose, and
// dropped otherwise.
func identity(h *event.Hit, c ConsentState) Identity {
	id := Identity{IP: anon.TruncateIP(h.IP)}
	if consent.ValidVisitorID(h.VisitorCookie) {
		id.VisitorID = h.VisitorCookie
	}
	if c == ConsentIdentified && len(h.UserID) <= MaxUserID {
		id.UserID = h.UserID
	}
	return id
}

// write hands a kept event to the sink. A consented event goes with its
// Identity in one write when the sink takes both; otherwise its row goes
// to Options.Identified after the event, and a refused row costs only the
// row (the aggregates have the event).
func (p *Pipeline) write(h *event.Hit, out *event.Event, c ConsentState) error {
	if out.Tier != event.TierConsented {
		return p.o.Sink.Write(out)
	}
	id := identity(h, c)
	if p.o.Blocked != nil && p.o.Blocked.Blocked(out.SiteID, id.VisitorID, id.UserID) {
		// A blocked subject (policy 6.2.4) still counts in the aggregates,
		// which identify no one, but no row of theirs is kept.
		p.dropped.WithLabelValues(h.Source.String(), "identified_blocked").Inc()
		out.Tier = event.TierAnonymous
		return p.o.Sink.Write(out)
	}
	if cs, ok := p.o.Sink.(ConsentedSink); ok {
		return cs.WriteConsented(out, &id)
	}
	if err := p.o.Sink.Write(out); err != nil {
		return err
	}
	if p.o.Identified != nil {
		if err := p.o.Identified.WriteIdentified(&IdentifiedRow{Event: out, Identity: id}); err != nil {
			p.dropped.WithLabelValues(h.Source.String(), "identified_backpressure").Inc()
		}
	}
	return nil
}

// BlockList says whether a consented event's identified row must not be
// kept: its visitor or user is blocked on its site. Blocked is called once
// per consented event and must be cheap and safe for concurrent use.
type BlockList interface {
	Blocked(site, visitorID, userID string) bool
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

// IdentifiedWriter is the IdentifiedSink that buffers rows in memory and
// inserts them into <identified>.events on Flush (or once a second under
// Run). A crash loses what it holds, so only `sezim import --direct` uses
// it, flushing after each batch; the collector writes consented rows
// through the write-ahead log (a ConsentedSink). A failed insert is retried
// at the next flush with the same rows.
type IdentifiedWriter struct {
	o       IdentifiedOptions
	mu      sync.Mutex
	buf     []identifiedCopy
	flushMu sync.Mutex
	done    chan struct{}
	errors  prometheus.Counter
}

// identifiedCopy is a buffered row, owning its strings.
type identifiedCopy struct {
	e  event.Event
	id Identity
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
	c := identifiedCopy{e: *r.Event, id: r.Identity}
	c.e.OwnStrings()
	c.id.VisitorID, c.id.UserID = strings.Clone(c.id.VisitorID), strings.Clone(c.id.UserID)
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
		vals[i] = IdentifiedRowValues(&rows[i].e, &rows[i].id, "")
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
