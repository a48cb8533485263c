package subject

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sezim-analytics/sezim/store"
)

// LinkWriter records which visitor id a consent decision set, so that a
// receipt quoted in a request reaches the visitor's events: the consent log
// proves the decision but holds no visitor id. Links are buffered and
// inserted about once a second (a decision per insert would make a part per
// visitor); a crash loses at most that second's links, never a decision,
// and a lost link only means that receipt must be answered by visitor id.
type LinkWriter struct {
	st      store.Store
	mu      sync.Mutex
	buf     [][]any
	max     int
	dropped prometheus.Counter
	errors  prometheus.Counter
}

// NewLinkWriter returns a writer over st; reg registers its counters (nil:
// a registry of its own). The caller flushes it about once a second and
// once more at shutdown, before the store closes.
func NewLinkWriter(st store.Store, reg prometheus.Registerer) *LinkWriter {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	f := promauto.With(reg)
	return &LinkWriter{st: st, max: 100_000,
		dropped: f.NewCounter(prometheus.CounterOpts{Name: "sezim_subject_links_dropped_total",
			Help: "Receipt-to-visitor links not kept because the buffer was full."}),
		errors: f.NewCounter(prometheus.CounterOpts{Name: "sezim_subject_links_errors_total",
			Help: "Failed inserts of receipt-to-visitor links (retried)."}),
	}
}

var linkColumns = []string{"site", "receipt", "visitor_id", "ts"}

// Link buffers one link, copying the strings (they may point into a reused
// request buffer).
func (w *LinkWriter) Link(site, receipt, visitorID string, t time.Time) {
	row := []any{strings.Clone(site), strings.Clone(receipt), strings.Clone(visitorID), t.UTC()}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) >= w.max {
		w.dropped.Inc()
		return
	}
	w.buf = append(w.buf, row)
}

// Flush inserts what is buffered; on error the rows stay for the next try.
func (w *LinkWriter) Flush(ctx context.Context) error {
	w.mu.Lock()
	rows := w.buf
	w.buf = nil
	w.mu.Unlock()
	if len(rows) == 0 {
		return nil
	}
	if err := w.st.Insert(ctx, w.st.DB().Identified+".consent_visitors", linkColumns, rows); err != nil {
		w.errors.Inc()
		w.mu.Lock()
		w.buf = append(rows, w.buf...)
		w.mu.Unlock()
		return err
	}
	return nil
}
