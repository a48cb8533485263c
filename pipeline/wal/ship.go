package wal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/store"
)

// Idempotent shipping. A segment is cut into chunks deterministically: its
// records are grouped by salt day (the events table's partition), in order
// of first appearance, and each day's records are cut every chunkRows. Each
// chunk is one INSERT and every row of it carries the chunk's batch id,
//
//	<instance id>-<segment nonce>-<salt day YYYYMMDD>-<chunk index>
//
// (random hex, a date and a counter: nothing about any visitor). An INSERT
// of one block of at most max_insert_block_size (1,048,576) rows into one
// partition of a MergeTree table writes one part, committed atomically, on
// 18.16 as on 26.x: the batch is either all there or not at all. The segment
// file is deleted only after every chunk was acknowledged.
//
// So after a crash, or an insert whose answer was lost, the shipper asks
// ClickHouse which batch ids of the segment exist (one GROUP BY query per
// segment, pruned to its salt-day partitions) and inserts only the missing
// ones: a chunk found with all its rows is skipped, one not found is
// inserted, one found with another count cannot happen and stops the
// shipper with an error naming the batch. A segment shipped on the first
// try, the common case, costs no query at all.

// A consented event's record also holds its identity (see codec.go): the
// shipper inserts its row into the identified table under the same batch
// id, after the chunk's events, and deletes the segment only once both
// tables acknowledged every chunk. A replay asks both tables; the
// identified one per batch and month (see shipChunk).

// shipper moves sealed segments into the events and identified tables.
type shipper struct {
	w       *WAL
	st      store.Store
	table   string // events
	idTable string // consented events' identified rows

	mu       sync.Mutex // one shipping pass at a time
	rows     [][]any
	idRows   [][]any
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	cancel   context.CancelFunc
	ctx      context.Context

	failingSince atomic.Int64 // UnixNano of the first failure of the current outage; 0 when healthy

	batchSize    prometheus.Histogram
	flushLatency prometheus.Histogram
	storeErrors  prometheus.Counter
	shipped      prometheus.Counter
	skipped      prometheus.Counter
}

func newShipper(w *WAL) *shipper {
	f := promauto.With(w.o.Reg)
	s := &shipper{w: w, st: w.o.Store, table: w.o.Store.DB().Stats + ".events",
		idTable: w.o.Store.DB().Identified + ".events",
		stop:    make(chan struct{}), done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.batchSize = f.NewHistogram(prometheus.HistogramOpts{
		Name: "sezim_store_batch_size_rows", Help: "Rows per insert into the events table.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 10)})
	s.flushLatency = f.NewHistogram(prometheus.HistogramOpts{
		Name: "sezim_store_flush_duration_seconds", Help: "Time to insert one batch.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)})
	s.storeErrors = f.NewCounter(prometheus.CounterOpts{
		Name: "sezim_store_errors_total", Help: "Failed inserts into the store."})
	s.shipped = f.NewCounter(prometheus.CounterOpts{
		Name: "sezim_wal_shipped_events_total", Help: "Events the store acknowledged from the write-ahead log."})
	s.skipped = f.NewCounter(prometheus.CounterOpts{
		Name: "sezim_wal_replay_skipped_batches_total", Help: "Batches found already in the store when a segment was replayed."})
	return s
}

// run ships every SealAfter until stopRun, backing off while the store
// fails (1 s doubling to 30 s).
func (s *shipper) run() {
	defer close(s.done)
	t := time.NewTicker(s.w.o.SealAfter)
	defer t.Stop()
	var backoff time.Duration
	next := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if time.Now().Before(next) {
			continue
		}
		// Seal the active segment only when nothing older waits: while
		// the store is behind, segments grow, so the backlog ships in
		// big inserts rather than in many small ones.
		if s.w.sealedCount() == 0 {
			s.w.sealIfOld(s.w.o.SealAfter)
		}
		if err := s.shipAll(s.ctx); err != nil {
			if s.ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, time.Second), 30*time.Second)
			next = time.Now().Add(backoff)
			b, n := s.w.Pending()
			s.w.o.Logger.Warn("cannot ship the WAL to the store; will retry", "retry_in", backoff.String(),
				"pending_bytes", b, "segments", n, "err", err)
			continue
		}
		backoff = 0
	}
}

// stopRun stops run and waits for it. A pass in flight may finish until
// ctx ends, and is cancelled then: an insert cancelled halfway may still
// land in the store a moment later, after the replay check that Close
// runs next has looked, and be inserted twice.
func (s *shipper) stopRun(ctx context.Context) {
	s.stopOnce.Do(func() {
		close(s.stop)
		select {
		case <-s.done:
		case <-ctx.Done():
			s.cancel()
			<-s.done
		}
		s.cancel()
	})
}

// failingFor is how long inserts have been failing; 0 when they are not.
func (s *shipper) failingFor() time.Duration {
	if since := s.failingSince.Load(); since != 0 {
		return time.Since(time.Unix(0, since))
	}
	return 0
}

// shipAll ships the sealed segments oldest first and stops at the first
// error.
func (s *shipper) shipAll(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		seg := s.w.firstSealed()
		if seg == nil {
			return nil
		}
		if err := s.shipSegment(ctx, seg); err != nil {
			return err
		}
		s.w.dropSealed(seg)
	}
}

// chunk is one INSERT: records of one salt day.
type chunk struct {
	id   string
	day  uint32
	offs []uint32
}

// shipSegment inserts a segment's missing batches and deletes the file.
func (s *shipper) shipSegment(ctx context.Context, seg *segment) error {
	data, err := os.ReadFile(seg.path)
	if errors.Is(err, fs.ErrNotExist) {
		s.w.o.Logger.Error("a sealed WAL segment disappeared before it was shipped", "segment", filepath.Base(seg.path))
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read WAL segment %s: %w", seg.path, err)
	}
	r := scan(data)
	if r.damage != intact {
		// Damaged after it was sealed (bit rot, or a hand): ship the
		// good part like a recovered segment.
		if _, err := s.w.report(seg.path, data, r); err != nil {
			return err
		}
		seg.replay = true
	}
	text := readOnlyString(data)
	chunks, err := s.chunks(text, r)
	if err != nil {
		return fmt.Errorf("cannot read WAL segment %s: %w", seg.path, err)
	}
	var have map[string]uint64
	var haveID map[partKey]uint64
	if seg.replay && len(chunks) > 0 {
		if have, err = s.inserted(ctx, r.nonce, chunks); err == nil {
			haveID, err = s.insertedIdentified(ctx, text, r)
		}
		if err != nil {
			s.fail()
			return err
		}
	}
	for _, c := range chunks {
		if err := s.shipChunk(ctx, text, r.version, c, have, haveID); err != nil {
			if !errors.Is(err, errPartial) {
				seg.replay = true // its answer may have been lost, not the insert
				s.fail()
			}
			return fmt.Errorf("cannot ship WAL segment %s: %w", seg.path, err)
		}
	}
	s.failingSince.Store(0)
	if err := os.Remove(seg.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		seg.replay = true
		return fmt.Errorf("cannot remove shipped WAL segment %s: %w", seg.path, err)
	}
	// If the removal is lost in a crash, the replay finds every batch and
	// skips them: no fsync of the folder needed here.
	return nil
}

// errPartial: a batch is in the store with another number of rows than
// the segment holds, which the atomic inserts rule out.
var errPartial = errors.New("batch partly in the store")

// partKey names the rows of one batch in one month partition of the
// identified table.
type partKey struct {
	batch string
	month uint32 // YYYYMM, as toYYYYMM(ts)
}

func monthOf(t time.Time) uint32 { return uint32(t.Year()*100 + int(t.Month())) }

func (s *shipper) fail() {
	s.storeErrors.Inc()
	s.failingSince.CompareAndSwap(0, time.Now().UnixNano())
}

// chunks cuts a scanned segment into its batches (see the top of the file).
func (s *shipper) chunks(text string, r scanResult) ([]chunk, error) {
	byDay := map[uint32][]uint32{}
	var days []uint32
	for _, off := range r.offsets {
		day, err := saltDayOf(recordAt(text, off))
		if err != nil {
			return nil, err
		}
		if _, ok := byDay[day]; !ok {
			days = append(days, day)
		}
		byDay[day] = append(byDay[day], off)
	}
	var out []chunk
	for _, day := range days {
		offs := byDay[day]
		ymd := time.Unix(int64(day)*86400, 0).UTC().Format("20060102")
		for k := 0; len(offs) > 0; k++ {
			n := min(len(offs), s.w.o.chunkRows)
			out = append(out, chunk{id: fmt.Sprintf("%s-%016x-%s-%d", s.w.instance, r.nonce, ymd, k), day: day, offs: offs[:n]})
			offs = offs[n:]
		}
	}
	return out, nil
}

// inserted returns the segment's batch ids already in the store, with
// their row counts.
func (s *shipper) inserted(ctx context.Context, nonce uint64, chunks []chunk) (map[string]uint64, error) {
	var days []string
	for _, c := range chunks {
		d := "'" + store.DayOf(time.Unix(int64(c.day)*86400, 0).UTC()).String() + "'"
		if !slices.Contains(days, d) {
			days = append(days, d)
		}
	}
	// Every spliced value is hex or a formatted date.
	q := fmt.Sprintf("SELECT batch_id, count() FROM %s WHERE salt_day IN (%s) AND batch_id LIKE '%s-%016x-%%' GROUP BY batch_id",
		s.table, strings.Join(days, ", "), s.w.instance, nonce)
	have := map[string]uint64{}
	err := s.st.Query(ctx, q, func(r store.Row) error {
		have[r.String(0)] = r.Uint64(1)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot check which WAL batches the store holds: %w", err)
	}
	return have, nil
}

// insertedIdentified returns, for a segment being replayed, the rows of
// its batches already in the identified table, by batch and month; nil
// when the segment holds no consented event. The query is pruned to the
// time range of the segment's consented events.
func (s *shipper) insertedIdentified(ctx context.Context, text string, r scanResult) (map[partKey]uint64, error) {
	var e event.Event
	var id pipeline.Identity
	var lo, hi int64
	found := false
	for _, off := range r.offsets {
		has, err := decodeEvent(recordAt(text, off), r.version, &e, &id)
		if err != nil {
			return nil, err // scan decoded it already: cannot happen
		}
		if has {
			t := e.Time.Unix()
			if !found || t < lo {
				lo = t
			}
			if !found || t > hi {
				hi = t
			}
			found = true
		}
	}
	if !found {
		return nil, nil
	}
	// Every spliced value is hex or a number.
	q := fmt.Sprintf("SELECT batch_id, toYYYYMM(ts), count() FROM %s WHERE ts >= toDateTime(%d) AND ts <= toDateTime(%d) AND batch_id LIKE '%s-%016x-%%' GROUP BY batch_id, toYYYYMM(ts)",
		s.idTable, lo, hi, s.w.instance, r.nonce)
	have := map[partKey]uint64{}
	err := s.st.Query(ctx, q, func(row store.Row) error {
		have[partKey{row.String(0), uint32(row.Uint64(1))}] = row.Uint64(2)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot check which WAL batches the identified table holds: %w", err)
	}
	return have, nil
}

// shipChunk inserts one chunk's events into the events table and the
// identified rows of its consented events into the identified table, both
// under the chunk's batch id, skipping what have and haveID (a replay's
// findings; nil on a first try) show is there.
//
// The identified table is partitioned by the event's month, not its salt
// day, so one chunk's rows may fall into several partitions (an imported
// log spans months), and an INSERT is atomic per partition only: a replay
// therefore checks the identified rows per batch and month, and inserts
// only the months that are missing.
func (s *shipper) shipChunk(ctx context.Context, text string, ver uint16, c chunk, have map[string]uint64, haveID map[partKey]uint64) error {
	statsDone := false
	if n, ok := have[c.id]; ok {
		if n != uint64(len(c.offs)) {
			return fmt.Errorf("%w: batch %s holds %d of its %d rows in the events table", errPartial, c.id, n, len(c.offs))
		}
		statsDone = true
		s.skipped.Inc()
	}
	rows, ids := s.rows[:0], s.idRows[:0]
	defer func() {
		clear(rows)
		clear(ids)
		s.rows, s.idRows = rows[:0], ids[:0]
	}()
	var months map[uint32]int // identified rows per month, on a replay
	inserted := time.Now()    // one stamp for the insert (see pipeline.EventRow)
	for _, off := range c.offs {
		var e event.Event
		var id pipeline.Identity
		has, err := decodeEvent(recordAt(text, off), ver, &e, &id)
		if err != nil {
			return err // scan decoded it already: cannot happen
		}
		if !statsDone {
			rows = append(rows, pipeline.EventRowAt(&e, c.id, inserted))
		}
		if !has {
			continue
		}
		if haveID != nil {
			m := monthOf(e.Time)
			if _, ok := haveID[partKey{c.id, m}]; ok {
				if months == nil {
					months = map[uint32]int{}
				}
				months[m]++
				continue
			}
		}
		ids = append(ids, pipeline.IdentifiedRowValues(&e, &id, c.id))
	}
	for m, n := range months {
		if got := haveID[partKey{c.id, m}]; got != uint64(n) {
			return fmt.Errorf("%w: batch %s holds %d of its %d rows of %d in the identified table", errPartial, c.id, got, n, m)
		}
		s.skipped.Inc()
	}
	if len(rows) > 0 {
		began := time.Now()
		if err := s.st.Insert(ctx, s.table, pipeline.EventColumns, rows); err != nil {
			return err
		}
		s.flushLatency.Observe(time.Since(began).Seconds())
		s.batchSize.Observe(float64(len(rows)))
		s.shipped.Add(float64(len(rows)))
	}
	if len(ids) > 0 {
		if err := s.st.Insert(ctx, s.idTable, pipeline.IdentifiedColumns, ids); err != nil {
			return err
		}
	}
	return nil
}
