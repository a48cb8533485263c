// Package wal is the write-ahead log between the pipeline and ClickHouse:
// the collector acknowledges an event only once it is on disk here, and a
// shipper moves the log to ClickHouse in large, idempotent inserts.
//
// Writers append an encoded event to a shared buffer and wait; one flusher
// goroutine writes and fsyncs the buffer (group commit) and wakes every
// waiter of that commit at once. Records are framed with their length and a
// CRC32C, in segment files of bounded size; a torn tail left by a crash is
// cut on open, and a segment damaged in the middle keeps its good part and
// is quarantined. See segment.go for the file format and ship.go for why a
// replay never counts an event twice.
//
// The log holds events after anonymisation, which carry no address and no
// user agent, and for a consented event the identity its row in the
// identified database keeps (pipeline.Identity: the pseudonymous visitor
// id, the user id where granted, the network prefix of the address), in the
// same record, so one fsync makes both durable.
package wal

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/store"
)

// Defaults of Options.
const (
	// DefaultCommitInterval is the shortest time between two commits. An
	// event arriving while the log is idle is committed at once (latency:
	// one fsync); under load, writers arriving within an interval share
	// one fsync. Longer: fewer fsyncs per second and more latency; shorter:
	// the opposite, and on a slow disk more time spent in fsync. 2 ms caps
	// the log at 500 fsyncs/s and adds at most 2 ms to a request.
	DefaultCommitInterval = 2 * time.Millisecond
	DefaultCommitBytes    = 1 << 20
	DefaultSegmentBytes   = 16 << 20
	DefaultSealAfter      = time.Second
	DefaultMaxBytes       = 1 << 30
	DefaultStoreDownAfter = 30 * time.Second
	defaultChunkRows      = 50_000
)

// ErrClosed is returned by Write after Close has begun.
var ErrClosed = errors.New("write-ahead log is closed")

// Options configure a WAL; zero values take the defaults above.
type Options struct {
	// Dir holds the segments, the instance id and a lock file. Required.
	Dir string
	// Store is where the shipper inserts events; nil ships nothing (for
	// tests of the log alone).
	Store store.Store
	// CommitInterval is the shortest time between two commits (see
	// DefaultCommitInterval); negative commits as soon as the previous
	// fsync is done.
	CommitInterval time.Duration
	// CommitBytes: a buffer this big commits without waiting out the
	// interval.
	CommitBytes int
	// SegmentBytes is the size at which a segment is sealed.
	SegmentBytes int64
	// SealAfter is how old a segment may get before it is sealed and
	// shipped, while the shipper keeps up; it is also the shipper's
	// period, so it bounds inserts to about one per SealAfter. When
	// ClickHouse is behind, segments grow to SegmentBytes instead, so a
	// backlog drains in large inserts.
	SealAfter time.Duration
	// MaxBytes bounds the log on disk: past it Write returns
	// pipeline.ErrBackpressure.
	MaxBytes int64
	// StoreDownAfter: Ready fails when inserts have failed for this long.
	StoreDownAfter time.Duration
	Logger         *slog.Logger
	Reg            prometheus.Registerer

	chunkRows int // rows per insert; tests make it small
}

func (o *Options) defaults() {
	if o.CommitInterval == 0 {
		o.CommitInterval = DefaultCommitInterval
	}
	if o.CommitBytes <= 0 {
		o.CommitBytes = DefaultCommitBytes
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.SealAfter <= 0 {
		o.SealAfter = DefaultSealAfter
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.StoreDownAfter <= 0 {
		o.StoreDownAfter = DefaultStoreDownAfter
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Reg == nil {
		o.Reg = prometheus.NewRegistry()
	}
	if o.chunkRows <= 0 {
		o.chunkRows = defaultChunkRows
	}
}

// WAL is the write-ahead log. It is a pipeline.ConsentedSink, safe for
// concurrent use.
type WAL struct {
	o        Options
	instance string
	lock     *os.File

	mu     sync.Mutex // guards buf, events, cur, closed
	buf    []byte     // records waiting for the next commit
	events int        // records in buf
	cur    *commit    // what the writers of buf wait on
	closed bool

	pending  atomic.Int64 // bytes not yet shipped: segments on disk and buf
	segments atomic.Int64 // segment files holding unshipped records

	kick      chan struct{} // the buffer went from empty to not
	full      chan struct{} // the buffer reached CommitBytes
	stopFlush chan struct{}
	flushDone chan struct{}
	spare     []byte    // flusher only
	lastStart time.Time // flusher only: when the last commit began

	fileMu   sync.Mutex // guards active, nextSeq
	active   *activeSeg
	nextSeq  uint64
	writeErr atomic.Pointer[error] // the last commit's error; nil when it succeeded

	segMu  sync.Mutex
	sealed []*segment // oldest first, waiting for the shipper

	ship      *shipper
	closeOnce sync.Once
	closeErr  error

	fsyncs      prometheus.Histogram
	groupSize   prometheus.Histogram
	damaged     *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	commitCount prometheus.Counter
}

// commit is one group commit: closed done wakes all its writers, who then
// read err.
type commit struct {
	done chan struct{}
	err  error
}

func newCommit() *commit { return &commit{done: make(chan struct{})} }

// segment is a sealed file waiting to be shipped.
type segment struct {
	seq  uint64
	path string
	size int64
	// replay is set when an insert of this segment may already have
	// landed (found on disk at open, or an insert that failed): the
	// shipper then asks ClickHouse which of its batches exist.
	replay bool
}

// activeSeg is the segment being written.
type activeSeg struct {
	segment
	f       *os.File
	created time.Time
	records int
}

// Open opens (or creates) the log in o.Dir, recovers what an earlier run
// left (cutting torn tails, quarantining corrupt segments) and starts the
// flusher and, when o.Store is set, the shipper, which ships the recovered
// segments first. It returns an error when the folder cannot be created,
// written or locked, or a segment cannot be read or repaired.
func Open(o Options) (*WAL, error) {
	o.defaults()
	if o.Dir == "" {
		return nil, errors.New("cannot open the WAL: no folder given")
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create WAL folder %s: %w", o.Dir, err)
	}
	w := &WAL{o: o, cur: newCommit(), kick: make(chan struct{}, 1), full: make(chan struct{}, 1),
		stopFlush: make(chan struct{}), flushDone: make(chan struct{})}
	w.metrics()
	if err := w.lockDir(); err != nil {
		return nil, err
	}
	var err error
	if w.instance, err = instanceID(o.Dir); err != nil {
		w.unlock()
		return nil, err
	}
	if err := w.recover(); err != nil {
		w.unlock()
		return nil, err
	}
	go w.flushLoop()
	if o.Store != nil {
		w.ship = newShipper(w)
		go w.ship.run()
	}
	return w, nil
}

func (w *WAL) metrics() {
	f := promauto.With(w.o.Reg)
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "sezim_wal_pending_bytes",
		Help: "Bytes in the write-ahead log not yet shipped to the store."},
		func() float64 { return float64(w.pending.Load()) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "sezim_wal_max_bytes",
		Help: "Size at which the write-ahead log refuses events."},
		func() float64 { return float64(w.o.MaxBytes) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "sezim_wal_segments",
		Help: "Segment files holding events not yet shipped."},
		func() float64 { return float64(w.segments.Load()) })
	w.fsyncs = f.NewHistogram(prometheus.HistogramOpts{Name: "sezim_wal_fsync_duration_seconds",
		Help: "Time to write and fsync one group commit.", Buckets: prometheus.ExponentialBuckets(50e-6, 2, 15)})
	w.groupSize = f.NewHistogram(prometheus.HistogramOpts{Name: "sezim_wal_commit_group_events",
		Help: "Events made durable by one fsync.", Buckets: prometheus.ExponentialBuckets(1, 2, 15)})
	w.commitCount = f.NewCounter(prometheus.CounterOpts{Name: "sezim_wal_commits_total",
		Help: "Group commits (one fsync each)."})
	w.damaged = f.NewCounterVec(prometheus.CounterOpts{Name: "sezim_wal_damaged_segments_total",
		Help: "Segments found damaged: torn_tail (cut at the last good record) or corrupt (good part kept, file quarantined)."},
		[]string{"damage"})
	w.rejected = f.NewCounterVec(prometheus.CounterOpts{Name: "sezim_wal_appends_rejected_total",
		Help: "Events the log refused: full (backpressure), io (the write failed), closed, too_large."},
		[]string{"reason"})
}

// lockDir takes an exclusive lock on the folder, so two processes never
// write or ship the same segments.
func (w *WAL) lockDir() error {
	f, err := os.OpenFile(filepath.Join(w.o.Dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("cannot write to WAL folder %s: %w", w.o.Dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("cannot lock WAL folder %s (is another sezim using it?): %w", w.o.Dir, err)
	}
	w.lock = f
	return nil
}

func (w *WAL) unlock() {
	if w.lock != nil {
		_ = w.lock.Close() // closing releases the flock
		w.lock = nil
	}
}

// instanceID reads the folder's random id, making it on first use. It
// names this log's inserts; it says nothing about any visitor.
func instanceID(dir string) (string, error) {
	path := filepath.Join(dir, "instance")
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if len(id) == 16 && isHex(id) {
			return id, nil
		}
		return "", fmt.Errorf("cannot use WAL instance id in %s: want 16 hex digits", path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("cannot read WAL instance id %s: %w", path, err)
	}
	var r [8]byte
	_, _ = rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	if err := writeFileSync(path+".tmp", []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("cannot write to WAL folder %s: %w", dir, err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return "", fmt.Errorf("cannot write to WAL folder %s: %w", dir, err)
	}
	return id, syncDir(dir)
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// recover lists the segments an earlier run left, repairs damaged ones and
// queues them for shipping, oldest first.
func (w *WAL) recover() error {
	entries, err := os.ReadDir(w.o.Dir)
	if err != nil {
		return fmt.Errorf("cannot list WAL folder %s: %w", w.o.Dir, err)
	}
	var seqs []uint64
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, segExt+".tmp") {
			_ = os.Remove(filepath.Join(w.o.Dir, name)) // a repair cut short; the original is intact
			continue
		}
		if seq, ok := parseSegName(strings.TrimSuffix(name, corruptExt)); ok {
			w.nextSeq = max(w.nextSeq, seq+1)
			if !strings.HasSuffix(name, corruptExt) {
				seqs = append(seqs, seq)
			}
		}
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		path := filepath.Join(w.o.Dir, segName(seq))
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("cannot read WAL segment %s: %w", path, err)
		}
		r := scan(data)
		size, err := w.report(path, data, r)
		if err != nil {
			return err
		}
		if len(r.offsets) == 0 {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("cannot remove empty WAL segment %s: %w", path, err)
			}
			continue
		}
		w.sealed = append(w.sealed, &segment{seq: seq, path: path, size: size, replay: true})
		w.pending.Add(size)
		w.segments.Add(1)
	}
	if len(w.sealed) > 0 {
		w.o.Logger.Info("WAL recovered segments to ship", "segments", len(w.sealed), "bytes", w.pending.Load())
	}
	return nil
}

// report repairs a damaged segment, logs and counts the damage, and
// returns the size of what is left to ship.
func (w *WAL) report(path string, data []byte, r scanResult) (int64, error) {
	name := filepath.Base(path)
	switch r.damage {
	case tornTail:
		w.damaged.WithLabelValues("torn_tail").Inc()
		w.o.Logger.Warn("WAL segment has a torn tail (a write cut short by a crash); cut at the last complete record",
			"segment", name, "records_kept", len(r.offsets), "bytes_cut", int64(len(data))-r.good, "why", r.why)
	case corrupt:
		w.damaged.WithLabelValues("corrupt").Inc()
		w.o.Logger.Error("WAL segment is corrupt; its good part will be shipped and the file is kept as "+name+corruptExt,
			"segment", name, "records_kept", len(r.offsets), "bytes_quarantined", int64(len(data))-r.good, "why", r.why)
	case tornHeader:
		return 0, nil // nothing was ever acknowledged from it; the caller removes it
	}
	return repair(path, data, r)
}

// Write appends e to the log and returns once it is durable (pipeline.Sink).
// It returns pipeline.ErrBackpressure when the log holds MaxBytes, ErrClosed
// after Close, and the write's error when the disk failed.
func (w *WAL) Write(e *event.Event) error { return w.append(e, nil) }

// WriteConsented appends a consented event with its identity as one record
// and returns once it is durable (pipeline.ConsentedSink): the shipper
// inserts the event into the events table and its row into the identified
// one, so an acknowledged consented event is never kept without its row.
// Errors are Write's.
func (w *WAL) WriteConsented(e *event.Event, id *pipeline.Identity) error { return w.append(e, id) }

func (w *WAL) append(e *event.Event, id *pipeline.Identity) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.rejected.WithLabelValues("closed").Inc()
		return ErrClosed
	}
	start := len(w.buf)
	b, at := appendFrame(w.buf)
	b = appendEvent(b, e, id)
	n := int64(len(b) - start)
	if n-frameSize > maxRecord {
		w.buf = b[:start]
		w.mu.Unlock()
		w.rejected.WithLabelValues("too_large").Inc()
		return errTooLarge
	}
	if w.pending.Load()+n > w.o.MaxBytes {
		w.buf = b[:start]
		w.mu.Unlock()
		w.rejected.WithLabelValues("full").Inc()
		return pipeline.ErrBackpressure
	}
	finishFrame(b, at)
	w.buf = b
	w.events++
	w.pending.Add(n)
	c := w.cur
	big := len(b) >= w.o.CommitBytes
	w.mu.Unlock()
	if start == 0 {
		signal(w.kick)
	}
	if big {
		signal(w.full)
	}
	<-c.done
	return c.err
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// flushLoop is the one goroutine that commits. It sleeps while the buffer
// is empty, and commits at most once per CommitInterval.
func (w *WAL) flushLoop() {
	defer close(w.flushDone)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	stopping := false
	for !stopping {
		select {
		case <-w.kick:
		case <-w.full:
		case <-w.stopFlush:
			stopping = true
		}
		for w.hasBuffered() {
			if wait := time.Until(w.lastStart.Add(w.o.CommitInterval)); !stopping && wait > 0 && !w.isFull() {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-w.full:
					timer.Stop()
				case <-w.stopFlush:
					timer.Stop()
					stopping = true
				}
			}
			w.commit()
		}
	}
}

func (w *WAL) hasBuffered() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.buf) > 0
}

func (w *WAL) isFull() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.buf) >= w.o.CommitBytes
}

// commit writes and fsyncs the buffer and wakes its writers.
func (w *WAL) commit() {
	w.mu.Lock()
	buf, n, c := w.buf, w.events, w.cur
	w.buf, w.events, w.cur = w.spare[:0], 0, newCommit()
	w.mu.Unlock()
	w.lastStart = time.Now()
	err := w.writeRecords(buf, n)
	if err != nil {
		w.pending.Add(-int64(len(buf)))
		w.rejected.WithLabelValues("io").Add(float64(n))
	}
	w.commitCount.Inc()
	w.groupSize.Observe(float64(n))
	c.err = err
	close(c.done)
	if cap(buf) <= 4*w.o.CommitBytes {
		w.spare = buf
	} else {
		w.spare = nil // a burst made it big: let it go
	}
}

// writeRecords appends n framed records to the active segment and fsyncs
// it, rolling to a new segment when the active one is full.
func (w *WAL) writeRecords(buf []byte, n int) error {
	w.fileMu.Lock()
	defer w.fileMu.Unlock()
	if a := w.active; a != nil && a.records > 0 && a.size+int64(len(buf)) > w.o.SegmentBytes {
		w.sealLocked()
	}
	if w.active == nil {
		if err := w.createSegment(); err != nil {
			return w.failed(err)
		}
	}
	a := w.active
	began := time.Now()
	_, err := a.f.Write(buf)
	if err == nil {
		err = a.f.Sync()
	}
	if err != nil {
		// Cut what this commit may have left half-written: its writers
		// are told it failed, and a retry must not find it twice. Then
		// retire the file; the next commit starts a new one.
		cutErr := a.f.Truncate(a.size)
		if cutErr == nil {
			cutErr = a.f.Sync()
		}
		if cutErr != nil {
			w.o.Logger.Error("cannot cut a failed commit from a WAL segment; its events may be shipped although they were refused",
				"segment", filepath.Base(a.path), "err", cutErr)
		}
		w.sealLocked()
		return w.failed(fmt.Errorf("cannot write WAL segment %s: %w", a.path, err))
	}
	w.fsyncs.Observe(time.Since(began).Seconds())
	a.size += int64(len(buf))
	a.records += n
	if w.writeErr.Swap(nil) != nil {
		w.o.Logger.Info("the WAL can be written again", "folder", w.o.Dir)
	}
	return nil
}

// failed records a commit's error for Ready and logs it once per outage.
func (w *WAL) failed(err error) error {
	if w.writeErr.Swap(&err) == nil {
		w.o.Logger.Error("cannot write the WAL; refusing events until it can", "folder", w.o.Dir, "err", err)
	}
	return err
}

// createSegment starts the next segment file: header written and fsynced,
// and the folder fsynced so the file survives a crash.
func (w *WAL) createSegment() error {
	seq := w.nextSeq
	path := filepath.Join(w.o.Dir, segName(seq))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("cannot create WAL segment %s: %w", path, err)
	}
	w.nextSeq++
	var r [8]byte
	_, _ = rand.Read(r[:])
	_, err = f.Write(appendHeader(make([]byte, 0, headerSize), version, binary.LittleEndian.Uint64(r[:])))
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(w.o.Dir)
	}
	if err != nil {
		f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("cannot create WAL segment %s: %w", path, err)
	}
	w.active = &activeSeg{segment: segment{seq: seq, path: path, size: headerSize}, f: f, created: time.Now()}
	w.pending.Add(headerSize)
	w.segments.Add(1)
	return nil
}

// sealLocked closes the active segment and queues it for the shipper (or
// removes it when it holds no record). fileMu must be held.
func (w *WAL) sealLocked() {
	a := w.active
	if a == nil {
		return
	}
	w.active = nil
	_ = a.f.Close() // every byte acknowledged from it was fsynced
	if a.records == 0 {
		_ = os.Remove(a.path)
		w.pending.Add(-a.size)
		w.segments.Add(-1)
		return
	}
	w.segMu.Lock()
	w.sealed = append(w.sealed, &a.segment)
	w.segMu.Unlock()
}

// sealIfOld seals the active segment when it is at least age old.
func (w *WAL) sealIfOld(age time.Duration) {
	w.fileMu.Lock()
	defer w.fileMu.Unlock()
	if w.active != nil && time.Since(w.active.created) >= age {
		w.sealLocked()
	}
}

func (w *WAL) firstSealed() *segment {
	w.segMu.Lock()
	defer w.segMu.Unlock()
	if len(w.sealed) == 0 {
		return nil
	}
	return w.sealed[0]
}

func (w *WAL) dropSealed(s *segment) {
	w.segMu.Lock()
	defer w.segMu.Unlock()
	if len(w.sealed) > 0 && w.sealed[0] == s {
		w.sealed[0] = nil
		w.sealed = w.sealed[1:]
	}
	w.pending.Add(-s.size)
	w.segments.Add(-1)
}

func (w *WAL) sealedCount() int {
	w.segMu.Lock()
	defer w.segMu.Unlock()
	return len(w.sealed)
}

// Pending returns the bytes and the segment files not yet shipped.
func (w *WAL) Pending() (bytes int64, segments int) {
	return w.pending.Load(), int(w.segments.Load())
}

// Instance is the folder's random id, the first part of every batch id.
func (w *WAL) Instance() string { return w.instance }

// Ready is the /readyz check: it fails while the log cannot be written,
// when it is more than 90% full, or when the store has refused inserts for
// longer than StoreDownAfter.
func (w *WAL) Ready(context.Context) error {
	if p := w.writeErr.Load(); p != nil {
		return fmt.Errorf("cannot write the WAL: %w", *p)
	}
	if b := w.pending.Load(); b*10 > w.o.MaxBytes*9 {
		return fmt.Errorf("WAL %d%% full (%d of %d bytes): the store is not keeping up", b*100/w.o.MaxBytes, b, w.o.MaxBytes)
	}
	if w.ship != nil {
		if d := w.ship.failingFor(); d > w.o.StoreDownAfter {
			return fmt.Errorf("the store has refused events for %s", d.Truncate(time.Second))
		}
	}
	return nil
}

// Flush seals the active segment and ships every sealed one now, returning
// the first insert's error. Tests use it; the shipper does
// the same on its own every SealAfter.
func (w *WAL) Flush(ctx context.Context) error {
	w.sealIfOld(0)
	if w.ship == nil {
		return nil
	}
	return w.ship.shipAll(ctx)
}

// Close stops taking events (Write returns ErrClosed), commits what is
// buffered, and ships what it can before ctx ends; what is left stays on
// disk and is shipped first by the next Open. It returns an error naming
// what was left when the store could not take everything.
func (w *WAL) Close(ctx context.Context) error {
	w.closeOnce.Do(func() {
		w.stop(ctx)
		w.sealIfOld(0)
		if w.ship != nil {
			if err := w.ship.shipAll(ctx); err != nil {
				b, n := w.Pending()
				w.closeErr = fmt.Errorf("cannot ship every event before shutdown (%d bytes in %d segments kept for the next start): %w", b, n, err)
			}
		}
		w.unlock()
	})
	return w.closeErr
}

// stop refuses new events, commits the buffered ones and stops the
// background goroutines, letting a shipping pass finish until ctx ends.
func (w *WAL) stop(ctx context.Context) {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	close(w.stopFlush)
	<-w.flushDone
	if w.ship != nil {
		w.ship.stopRun(ctx)
	}
}

// abandon simulates a crash for tests: goroutines stop and files close,
// nothing is sealed or shipped.
func (w *WAL) abandon() {
	w.closeOnce.Do(func() {
		crashed, cancel := context.WithCancel(context.Background())
		cancel() // a crash waits for nothing
		w.stop(crashed)
		w.fileMu.Lock()
		if w.active != nil {
			_ = w.active.f.Close()
			w.active = nil
		}
		w.fileMu.Unlock()
		w.unlock()
		w.closeErr = ErrClosed
	})
}
