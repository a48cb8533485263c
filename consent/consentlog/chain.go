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

	"github.com/sezim-analytics/sezim/store"
)

// StateFile is the file in the data folder that holds this instance's chain
// id; it is also locked while the process runs.
const StateFile = "consent-chain.json"

var chainPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Log appends decisions to this instance's chain. It is safe for
// concurrent use.
//
// Appends are written in group commits: one writer goroutine takes every
// decision queued while the previous insert ran (up to MaxBatch, all of
// one month, the table's partition, so each insert lands whole or not at
// all) and stores them with one insert, chained in queue order. Under load
// a decision waits for at most one insert in progress plus its own,
// instead of queueing behind one insert per decision under a lock.
type Log struct {
	st    store.Store
	table string
	chain string
	lock  *os.File

	qmu     sync.Mutex
	queue   []*pending
	closed  bool
	wake    chan struct{} // capacity 1: "the queue may have grown"
	stopped chan struct{} // closed when the writer has ended

	// Owned by the writer goroutine. seq and head are the last stored
	// row's; known is false until they have been read from the store (at
	// the first append, and again after a failed insert, whose outcome is
	// unknown).
	seq   uint64
	head  string
	known bool
}

// MaxBatch bounds how many decisions one insert carries. Inserts of a few
// hundred rows cost about what one row costs (the fixed cost of a
// statement dominates), and a bound keeps one insert's latency, and the
// memory of a burst, in check.
const MaxBatch = 512

// insertTimeout bounds one group insert. It belongs to the log, not to any
// one request: a request that gives up must not fail the others.
const insertTimeout = 10 * time.Second

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
// folder fails here instead of forking the chain. Close releases the lock.
func Open(st store.Store, dir string) (*Log, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create data folder %q: %w", dir, err)
	}
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
	l := &Log{st: st, table: st.DB().Identified + ".consent_log", chain: state.Chain, lock: f,
		wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	go l.run()
	return l, nil
}

// Chain is this instance's chain id.
func (l *Log) Chain() string { return l.chain }

// Close writes what is still queued, stops the writer and releases the
// data folder's lock. Appends after Close fail with ErrClosed.
func (l *Log) Close() error {
	l.qmu.Lock()
	already := l.closed
	l.closed = true
	l.qmu.Unlock()
	if already {
		return nil
	}
	l.signal()
	<-l.stopped
	return l.lock.Close()
}

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

// take removes the next group from the queue: up to MaxBatch decisions of
// the same month as the first. A group that spanned two partitions would
// become two parts on a ClickHouse server, and a failure between them
// would store a later part of the chain without the earlier one.
func (l *Log) take() ([]*pending, bool) {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	n := min(len(l.queue), MaxBatch)
	if n > 0 {
		y, m, _ := l.queue[0].r.Time.UTC().Date()
		for i := 1; i < n; i++ {
			if y2, m2, _ := l.queue[i].r.Time.UTC().Date(); y2 != y || m2 != m {
				n = i
				break
			}
		}
	}
	batch := make([]*pending, n)
	copy(batch, l.queue)
	// Shift rather than reslice, so the queue's array does not grow
	// without bound under steady load.
	rest := copy(l.queue, l.queue[n:])
	clear(l.queue[rest:])
	l.queue = l.queue[:rest]
	return batch, l.closed
}

// write chains and inserts one group, then answers every decision in it
// with the same outcome. The chain's state advances only after the insert
// succeeded: a failed group leaves no gap to paper over, and its outcome
// (stored or not) is read back from the store before the next group.
func (l *Log) write(batch []*pending) {
	ctx, cancel := context.WithTimeout(context.Background(), insertTimeout)
	defer cancel()
	err := l.insert(ctx, batch)
	for _, p := range batch {
		p.err = err
		close(p.done)
	}
}

func (l *Log) insert(ctx context.Context, batch []*pending) error {
	if !l.known {
		if err := l.loadHead(ctx); err != nil {
			return err
		}
	}
	seq, head := l.seq, l.head
	rows := make([][]any, len(batch))
	for i, p := range batch {
		r := p.r
		seq++
		r.Chain, r.Seq, r.PrevHash = l.chain, seq, head
		r.Time = r.Time.UTC().Truncate(time.Second)
		r.RowHash = r.Hash()
		head = r.RowHash
		rows[i] = r.Values()
	}
	if err := l.st.Insert(ctx, l.table, Columns, rows); err != nil {
		// The rows may or may not have landed: read the head again before
		// the next group rather than guess.
		l.known = false
		return fmt.Errorf("cannot append %d decision(s) to the consent log: %w", len(batch), err)
	}
	l.seq, l.head = seq, head
	return nil
}

// loadHead reads the chain's last row from the store.
func (l *Log) loadHead(ctx context.Context) error {
	l.seq, l.head = 0, ""
	q := "SELECT seq, row_hash FROM " + l.table + " WHERE chain = " + store.Quote(l.chain) + " ORDER BY seq DESC LIMIT 1"
	err := l.st.Query(ctx, q, func(r store.Row) error {
		l.seq, l.head = r.Uint64(0), r.String(1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot read the consent log's head: %w", err)
	}
	l.known = true
	return nil
}

// ErrBroken is returned by Verify's callers when a chain does not verify.
var ErrBroken = errors.New("the consent log does not verify")
