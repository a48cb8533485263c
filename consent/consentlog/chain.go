package consentlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/sezim-analytics/sezim/hashchain"
	"github.com/sezim-analytics/sezim/store"
)

// StateFile is the file in the data folder that holds this instance's chain
// id; it is also locked while the process runs.
const StateFile = "consent-chain.json"

var chainPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Log appends decisions to this instance's chain. It is safe for
// concurrent use.
//
// Appends are written in group commits to a local journal, not to
// ClickHouse: one writer goroutine takes every decision queued while the
// previous commit ran (up to MaxBatch), chains them in queue order, appends
// them to DATA/consent-journal and fdatasyncs it, then answers. An answer
// still means the row is durably stored, but the request no longer waits
// for a MergeTree insert (about 18 ms a part on ext4, one at a time in the
// embedded engine). A shipper moves journaled rows to consent_log in large
// inserts about once a second (see journal.go).
type Log struct {
	st    store.Store
	table string
	chain string
	lock  *os.File
	opts  Options
	// ownCps is set when Open opened the checkpoint file itself, and
	// Close closes it.
	ownCps bool

	qmu     sync.Mutex
	queue   []*pending
	closed  bool
	wake    chan struct{} // capacity 1: "the queue may have grown"
	stopped chan struct{} // closed when the writer has ended

	// Owned by the writer goroutine: the last journaled row's seq and
	// row_hash; known is false until they have been read (from the
	// journal, or the store when the journal is empty or behind it).
	seq   uint64
	head  string
	known bool

	j *journal

	// hold, when set (tests), runs in the writer before each group is
	// journaled, with the group's size.
	hold func(n int)
}

// MaxBatch bounds how many decisions one journal commit carries: a bound
// keeps one commit's latency, and the memory of a burst, in check.
const MaxBatch = 512

// headTimeout bounds reading the chain's head from the store, at the
// first append when the journal cannot tell it alone.
const headTimeout = 10 * time.Second

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("the consent log is closed")

// pending is one queued decision; done is closed once err is final.
type pending struct {
	r    *Record
	err  error
	done chan struct{}
}

// Open returns the Log of the instance whose data folder is dir: it reads
// the chain id from dir/consent-chain.json (creating it with a random id
// the first time) and locks the file, so a second process with the same
// folder fails here instead of forking the chain. It then opens the
// journal in dir, cutting a torn tail, and starts the writer and the
// shipper. Close ships what it can and releases the lock.
//
// Rows are chained with HMAC-SHA-256 under Options.Key, by default the key
// file dir/log-chain.key (created on first use); the chain's head is
// checkpointed to Options.Checkpoints, by default dir/log-chain.checkpoints.
func Open(st store.Store, dir string) (*Log, error) {
	return OpenOptions(st, dir, Options{})
}

// OpenOptions is Open with options.
func OpenOptions(st store.Store, dir string, o Options) (*Log, error) {
	o.defaults()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create data folder %q: %w", dir, err)
	}
	ownCps := false
	if o.Key == nil {
		k, err := hashchain.LoadOrCreateKey(filepath.Join(dir, hashchain.KeyFile))
		if err != nil {
			return nil, err
		}
		o.Key = k
	}
	if o.Checkpoints == nil {
		cps, err := hashchain.OpenCheckpoints(filepath.Join(dir, hashchain.CheckpointFile), o.Key)
		if err != nil {
			return nil, err
		}
		o.Checkpoints, ownCps = cps, true
	}
	l, err := openLog(st, dir, o)
	if err != nil {
		if ownCps {
			o.Checkpoints.Close()
		}
		return nil, err
	}
	l.ownCps = ownCps
	return l, nil
}

func openLog(st store.Store, dir string, o Options) (*Log, error) {
	path := filepath.Join(dir, StateFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open consent chain state %q: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot lock consent chain state %q (is another sezim using this data folder?): %w", path, err)
	}
	var state struct {
		Chain string `json:"chain"`
	}
	data, err := os.ReadFile(path)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot read consent chain state %q: %w", path, err)
	}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &state); err != nil || !chainPattern.MatchString(state.Chain) {
			f.Close()
			return nil, fmt.Errorf("cannot use consent chain state %q: want {\"chain\": \"<32 hex digits>\"}", path)
		}
	} else {
		var b [16]byte
		_, _ = rand.Read(b[:])
		state.Chain = hex.EncodeToString(b[:])
		out, _ := json.Marshal(state)
		if _, err := f.Write(append(out, '\n')); err != nil {
			f.Close()
			return nil, fmt.Errorf("cannot write consent chain state %q: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("cannot write consent chain state %q: %w", path, err)
		}
	}
	l := &Log{st: st, table: st.DB().Identified + ".consent_log", chain: state.Chain, lock: f, opts: o,
		wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	if l.j, err = openJournal(l, filepath.Join(dir, JournalFile)); err != nil {
		f.Close()
		return nil, err
	}
	if last := l.j.last(); last != nil {
		l.seq, l.head = last.Seq, last.RowHash
	}
	go l.run()
	go l.j.ship()
	return l, nil
}

// Chain is this instance's chain id.
func (l *Log) Chain() string { return l.chain }

// Close journals what is still queued, stops the writer, ships what it can
// within Options.CloseTimeout, and releases the data folder's lock. Rows it
// could not ship stay in the journal for the next Open. Appends after Close
// fail with ErrClosed. The error is about the journal or the shipping.
func (l *Log) Close() error {
	if !l.stopWriter() {
		return nil
	}
	err := l.j.close(true)
	if cerr := l.lock.Close(); err == nil {
		err = cerr
	}
	if l.ownCps {
		if cerr := l.opts.Checkpoints.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// stopWriter refuses new appends and waits until the writer has journaled
// the queue; it is false when the log was already closed.
func (l *Log) stopWriter() bool {
	l.qmu.Lock()
	already := l.closed
	l.closed = true
	l.qmu.Unlock()
	if already {
		return false
	}
	l.signal()
	<-l.stopped
	return true
}

// Flush ships every row journaled so far to the store and returns when it
// is there, or with the shipping error. For tests and tools that read the
// store right after appending; serving needs no Flush.
func (l *Log) Flush(ctx context.Context) error { return l.j.flush(ctx) }

// Append fills r's chain, seq, prev_hash and row_hash and stores it with
// the decisions queued beside it. It returns only once the row is stored,
// or with an error, in which case the decision must not be acted on (no
// cookie, no receipt). r must not be used by the caller until Append
// returns. When ctx ends while r is still queued, r is withdrawn and
// never written; once its insert has started, Append waits for it.
func (l *Log) Append(ctx context.Context, r *Record) error {
	p := &pending{r: r, done: make(chan struct{})}
	l.qmu.Lock()
	if l.closed {
		l.qmu.Unlock()
		return ErrClosed
	}
	l.queue = append(l.queue, p)
	l.qmu.Unlock()
	l.signal()
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
	}
	l.qmu.Lock()
	for i, q := range l.queue {
		if q == p {
			l.queue = append(l.queue[:i], l.queue[i+1:]...)
			l.qmu.Unlock()
			return fmt.Errorf("cannot append to the consent log: %w", ctx.Err())
		}
	}
	l.qmu.Unlock()
	<-p.done
	return p.err
}

func (l *Log) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run is the writer: it stores groups until the log is closed and its
// queue is empty.
func (l *Log) run() {
	defer close(l.stopped)
	for {
		batch, closed := l.take()
		if len(batch) > 0 {
			l.write(batch)
			continue
		}
		if closed {
			return
		}
		<-l.wake
	}
}

// take removes the next group from the queue: up to MaxBatch decisions.
// A group may span two months: the shipper splits its inserts by month.
func (l *Log) take() ([]*pending, bool) {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	n := min(len(l.queue), MaxBatch)
	batch := make([]*pending, n)
	copy(batch, l.queue)
	// Shift rather than reslice, so the queue's array does not grow
	// without bound under steady load.
	rest := copy(l.queue, l.queue[n:])
	clear(l.queue[rest:])
	l.queue = l.queue[:rest]
	return batch, l.closed
}

// write chains one group, journals it and answers every decision in it
// with the same outcome. The chain's state advances only once the group is
// durable: a failed group is cut from the journal again and leaves no gap.
func (l *Log) write(batch []*pending) {
	if l.hold != nil {
		l.hold(len(batch))
	}
	err := l.commit(batch)
	for _, p := range batch {
		p.err = err
		close(p.done)
	}
}

func (l *Log) commit(batch []*pending) error {
	if !l.known {
		if err := l.loadHead(); err != nil {
			return err
		}
	}
	seq, head := l.seq, l.head
	recs := make([]*Record, len(batch))
	for i, p := range batch {
		r := p.r
		seq++
		r.Chain, r.Seq, r.PrevHash = l.chain, seq, head
		r.Time = r.Time.UTC().Truncate(time.Second)
		r.Alg = hashchain.AlgHMAC
		r.RowHash = r.KeyedHash(l.opts.Key)
		head = r.RowHash
		// The journal keeps a copy: r belongs to the caller once
		// Append returns.
		c := *r
		recs[i] = &c
	}
	if err := l.j.append(recs); err != nil {
		return fmt.Errorf("cannot append %d decision(s) to the consent log: %w", len(batch), err)
	}
	l.seq, l.head = seq, head
	return nil
}

// loadHead settles where the chain continues, once, before the first
// group: after the journal's last row or the store's, whichever is later.
// The store is behind the journal in normal operation (it gets the rows
// from it); it is ahead only when the journal was lost or cut, and then
// reusing its seqs would fork the chain. A store that cannot be read is
// fatal only when the journal knows nothing.
func (l *Log) loadHead() error {
	ctx, cancel := context.WithTimeout(context.Background(), headTimeout)
	defer cancel()
	seq, head, err := l.storeHead(ctx)
	switch {
	case err != nil && l.j.last() == nil:
		return fmt.Errorf("cannot read the consent log's head: %w", err)
	case err != nil:
		l.opts.Logger.Warn("consent log: cannot read the chain's head from the store; continuing after the journal's last row", "error", err)
	case seq > l.seq:
		l.seq, l.head = seq, head
	}
	l.known = true
	return nil
}

// storeHead reads the seq and row_hash of the chain's last stored row
// (0 and "" when it has none).
func (l *Log) storeHead(ctx context.Context) (seq uint64, head string, err error) {
	q := "SELECT seq, row_hash FROM " + l.table + " WHERE chain = " + store.Quote(l.chain) + " ORDER BY seq DESC LIMIT 1"
	err = l.st.Query(ctx, q, func(r store.Row) error {
		seq, head = r.Uint64(0), r.String(1)
		return nil
	})
	return seq, head, err
}

// ErrBroken is returned by Verify's callers when a chain does not verify.
var ErrBroken = errors.New("the consent log does not verify")
