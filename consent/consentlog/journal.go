package consentlog

// The journal is a file of JSON lines, one consent_log row per line, in
// chain order. The writer appends each group with one write and one
// fdatasync before answering; the shipper inserts the rows above the
// store's last seq of this chain into consent_log and, once a few MiB are
// shipped, rewrites the file to the rows not yet shipped plus the last
// shipped one (so the chain's head is always known locally, even with the
// store down at the next start).
//
// Shipping is idempotent because a row is identified by (chain, seq): after
// a failed or uncertain insert the shipper reads max(seq) of the chain from
// the store again and ships only what is above it. Each insert holds rows of
// one month, the table's partition, so it lands whole or not at all, and
// max(seq) never skips a hole.
//
// A line holds what the log row holds (the truncated address, the browser
// family), never more.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sezim-analytics/sezim/hashchain"
)

// JournalFile is the journal's name in the data folder.
const JournalFile = "consent-journal"

// Defaults of Options.
const (
	DefaultShipInterval  = time.Second
	DefaultShipRows      = 4096
	DefaultMaxInsertRows = 50_000
	DefaultRotateBytes   = 4 << 20
	DefaultInsertTimeout = 30 * time.Second
	DefaultCloseTimeout  = 10 * time.Second
	// DefaultCheckpointInterval is the longest time between two
	// checkpoints of the chain's head while rows are being shipped.
	DefaultCheckpointInterval = 10 * time.Second
)

// Options tune the journal and its shipper; zero values take the defaults.
type Options struct {
	// ShipInterval is how often the shipper inserts what was journaled.
	ShipInterval time.Duration
	// ShipRows: this many unshipped rows wake the shipper before its
	// interval ends.
	ShipRows int
	// MaxInsertRows bounds one insert, so a backlog drains in pieces.
	MaxInsertRows int
	// RotateBytes: once this many bytes of the journal are shipped, the
	// file is rewritten without them. Rewriting costs a file creation and
	// two fsyncs under the writer's lock, so it is not done every second.
	RotateBytes int64
	// InsertTimeout bounds one insert of the shipper.
	InsertTimeout time.Duration
	// CloseTimeout bounds Close's last shipping.
	CloseTimeout time.Duration
	// Key keys the row hashes; nil loads (or creates) the key file in the
	// data folder.
	Key *hashchain.Key
	// Checkpoints receives the chain's head after shipped rows reach the
	// store, at most every CheckpointInterval and at Close; nil opens the
	// checkpoint file in the data folder.
	Checkpoints        *hashchain.Checkpoints
	CheckpointInterval time.Duration
	Logger             *slog.Logger
	// Reg registers the journal's metrics; nil registers nothing.
	Reg prometheus.Registerer
}

func (o *Options) defaults() {
	if o.ShipInterval <= 0 {
		o.ShipInterval = DefaultShipInterval
	}
	if o.ShipRows <= 0 {
		o.ShipRows = DefaultShipRows
	}
	if o.MaxInsertRows <= 0 {
		o.MaxInsertRows = DefaultMaxInsertRows
	}
	if o.RotateBytes <= 0 {
		o.RotateBytes = DefaultRotateBytes
	}
	if o.InsertTimeout <= 0 {
		o.InsertTimeout = DefaultInsertTimeout
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = DefaultCloseTimeout
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// line is a journal line: the log row under its column names.
type line struct {
	Chain           string `json:"chain"`
	Seq             uint64 `json:"seq"`
	Receipt         string `json:"receipt"`
	Site            string `json:"site"`
	TS              int64  `json:"ts"`
	Action          string `json:"action"`
	PolicyVersion   string `json:"policy_version"`
	PolicyHash      string `json:"policy_hash"`
	TextHash        string `json:"text_hash"`
	Lang            string `json:"lang"`
	PurposesGranted string `json:"purposes_granted"`
	PurposesDenied  string `json:"purposes_denied"`
	Services        string `json:"services"`
	GPC             bool   `json:"gpc"`
	DNT             bool   `json:"dnt"`
	IP              string `json:"ip"`
	Browser         string `json:"browser"`
	PrevHash        string `json:"prev_hash"`
	RowHash         string `json:"row_hash"`
	HashAlg         string `json:"hash_alg,omitempty"`
}

func encodeLine(r *Record) []byte {
	b, _ := json.Marshal(line{r.Chain, r.Seq, r.Receipt, r.Site, r.Time.Unix(), r.Action, r.PolicyVersion, r.PolicyHash,
		r.TextHash, r.Lang, r.PurposesGranted, r.PurposesDenied, r.Services, r.GPC, r.DNT, r.IP, r.Browser, r.PrevHash, r.RowHash, r.Alg})
	return append(b, '\n')
}

// decodeLine parses one line (without its newline) and checks its row
// hash (keyed under k, or plain for lines journaled before keyed chains),
// so a line half overwritten is not taken for a row.
func decodeLine(b []byte, k *hashchain.Key) (*Record, bool) {
	var v line
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, false
	}
	r := &Record{Chain: v.Chain, Seq: v.Seq, Receipt: v.Receipt, Site: v.Site, Time: time.Unix(v.TS, 0).UTC(),
		Action: v.Action, PolicyVersion: v.PolicyVersion, PolicyHash: v.PolicyHash, TextHash: v.TextHash, Lang: v.Lang,
		PurposesGranted: v.PurposesGranted, PurposesDenied: v.PurposesDenied, Services: v.Services, GPC: v.GPC, DNT: v.DNT,
		IP: v.IP, Browser: v.Browser, PrevHash: v.PrevHash, RowHash: v.RowHash, Alg: v.HashAlg}
	return r, r.Seq > 0 && hashchain.Known(r.Alg) && r.RowHash == r.sumAs(k)
}

// jrow is a row in the journal file.
type jrow struct {
	r    *Record
	line []byte
}

type journal struct {
	l    *Log
	path string

	mu      sync.Mutex // guards what follows; held by the writer through write and fdatasync
	f       *os.File
	rows    []jrow // the file's rows, in order
	size    int64  // bytes of rows, the file's size
	shipped uint64 // every row up to this seq is in the store
	broken  error  // set when the file's state is unknown: every later append fails

	shipMu     sync.Mutex // one shipping pass at a time
	storeKnown bool       // shipped was read from the store; guarded by shipMu
	// The last checkpoint written, and when; guarded by shipMu.
	checkpointed   uint64
	checkpointedAt time.Time

	kick chan struct{}
	stop chan struct{}
	done chan struct{}

	fsyncs     prometheus.Histogram
	shipErrors prometheus.Counter
}

// metrics registers the journal's metrics: the backlog, so an operator
// sees a store that does not take the rows, and the commit latency that a
// decision waits for.
func (j *journal) metrics(reg prometheus.Registerer) {
	f := promauto.With(reg)
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "sezim_consentlog_unshipped_rows",
		Help: "Consent decisions in the journal not yet in the store."},
		func() float64 {
			j.mu.Lock()
			defer j.mu.Unlock()
			return float64(j.waitingLocked())
		})
	j.fsyncs = f.NewHistogram(prometheus.HistogramOpts{Name: "sezim_consentlog_commit_duration_seconds",
		Help: "Time to write and fdatasync one group of consent decisions.", Buckets: prometheus.ExponentialBuckets(50e-6, 2, 15)})
	j.shipErrors = f.NewCounter(prometheus.CounterOpts{Name: "sezim_consentlog_ship_errors_total",
		Help: "Failed inserts of journaled consent decisions into the store (they are retried)."})
}

// openJournal reads the journal at path, cuts a torn tail (a last group
// cut short by a crash: it was never answered) and opens it for appending.
// A bad line followed by good ones is not a torn tail but damage: Open
// refuses to go on rather than drop rows that were answered.
func openJournal(l *Log, path string) (*journal, error) {
	j := &journal{l: l, path: path, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("cannot read the consent journal %q: %w", path, err)
	}
	good := 0
	for good < len(data) {
		n := bytes.IndexByte(data[good:], '\n')
		if n < 0 {
			break
		}
		r, ok := decodeLine(data[good:good+n], l.opts.Key)
		if !ok {
			break
		}
		if r.Chain != l.chain {
			// The chain id file was replaced or lost: cutting these rows
			// as a torn tail would drop answered decisions.
			return nil, fmt.Errorf("cannot use the consent journal %q: it holds rows of chain %s, not of this folder's chain %s (see %s)", path, r.Chain, l.chain, StateFile)
		}
		j.rows = append(j.rows, jrow{r: r, line: data[good : good+n+1]})
		good += n + 1
	}
	if good < len(data) {
		if goodLineAfter(data[good:], l.opts.Key) {
			return nil, fmt.Errorf("cannot use the consent journal %q: the line at byte %d is damaged and rows follow it; move the file aside to start a new journal, after shipping or keeping its rows", path, good)
		}
		if wholeKeyedLine(data[good:]) {
			// A complete line that parses but does not verify is no
			// torn write: most likely the key is not the one the
			// journal was written with, and cutting would drop every
			// answered decision from here on.
			return nil, fmt.Errorf("cannot use the consent journal %q: the row at byte %d does not verify under the chain key; is the key (%s) the one it was written with?", path, good, hashchain.KeyFile)
		}
		l.opts.Logger.Warn("consent log: cutting the journal's torn tail, a group that was never answered", "bytes", len(data)-good)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open the consent journal %q: %w", path, err)
	}
	if good < len(data) {
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return nil, fmt.Errorf("cannot cut the torn tail of the consent journal %q: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("cannot sync the consent journal %q: %w", path, err)
		}
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	j.f, j.size = f, int64(good)
	j.metrics(l.opts.Reg)
	return j, nil
}

// wholeKeyedLine tells whether b starts with a complete journal line that
// parses and claims a keyed hash.
func wholeKeyedLine(b []byte) bool {
	n := bytes.IndexByte(b, '\n')
	if n < 0 {
		return false
	}
	var v line
	return json.Unmarshal(b[:n], &v) == nil && v.Seq > 0 && hashchain.Keyed(v.HashAlg)
}

// goodLineAfter tells whether a complete, valid row follows the first
// line of b.
func goodLineAfter(b []byte, k *hashchain.Key) bool {
	off := bytes.IndexByte(b, '\n') + 1
	for off > 0 && off < len(b) {
		n := bytes.IndexByte(b[off:], '\n')
		if n < 0 {
			return false
		}
		if _, ok := decodeLine(b[off:off+n], k); ok {
			return true
		}
		off += n + 1
	}
	return false
}

// last is the journal's last row, or nil.
func (j *journal) last() *Record {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.rows) == 0 {
		return nil
	}
	return j.rows[len(j.rows)-1].r
}

// append writes recs with one write and makes them durable. A failed
// write is cut off again, so the file never holds a group that was
// refused; after a failed fdatasync the file's state is unknown, and the
// journal refuses every later append.
func (j *journal) append(recs []*Record) error {
	var buf []byte
	rows := make([]jrow, len(recs))
	for i, r := range recs {
		start := len(buf)
		buf = append(buf, encodeLine(r)...)
		rows[i].r = r
		rows[i].line = buf[start:len(buf):len(buf)]
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.broken != nil {
		return j.broken
	}
	start := time.Now()
	if _, err := j.f.Write(buf); err != nil {
		if terr := j.f.Truncate(j.size); terr != nil {
			j.broken = fmt.Errorf("cannot write the consent journal %q (and cannot cut a failed write: %v): %w", j.path, terr, err)
			return j.broken
		}
		return fmt.Errorf("cannot write the consent journal %q: %w", j.path, err)
	}
	if err := syscall.Fdatasync(int(j.f.Fd())); err != nil {
		j.broken = fmt.Errorf("cannot sync the consent journal %q: %w", j.path, err)
		return j.broken
	}
	j.fsyncs.Observe(time.Since(start).Seconds())
	j.size += int64(len(buf))
	j.rows = append(j.rows, rows...)
	if j.waitingLocked() >= j.l.opts.ShipRows {
		select {
		case j.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// firstAbove is the index of the first row with a seq above seq. Rows are
// in seq order.
func (j *journal) firstAbove(seq uint64) int {
	return sort.Search(len(j.rows), func(i int) bool { return j.rows[i].r.Seq > seq })
}

func (j *journal) waitingLocked() int { return len(j.rows) - j.firstAbove(j.shipped) }

// ship is the shipper: it runs a pass every ShipInterval, or sooner when
// ShipRows are waiting, until the journal is closed.
func (j *journal) ship() {
	defer close(j.done)
	t := time.NewTicker(j.l.opts.ShipInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-j.stop:
			return
		case <-t.C:
		case <-j.kick:
			if failing {
				continue // wait for the interval: the store is down
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), j.l.opts.InsertTimeout)
		err := j.flush(ctx)
		cancel()
		if err != nil && !failing {
			j.l.opts.Logger.Error("consent log: cannot ship the journal; its rows wait on disk", "error", err)
		}
		failing = err != nil
	}
}

// flush ships every row journaled so far, then drops shipped rows from the
// file once RotateBytes of them have piled up.
func (j *journal) flush(ctx context.Context) error {
	j.shipMu.Lock()
	defer j.shipMu.Unlock()
	if !j.storeKnown {
		seq, _, err := j.l.storeHead(ctx)
		if err != nil {
			return fmt.Errorf("cannot read the consent log's head: %w", err)
		}
		j.mu.Lock()
		j.shipped = seq
		j.mu.Unlock()
		j.storeKnown = true
	}
	for {
		j.mu.Lock()
		rows := j.nextInsertLocked()
		j.mu.Unlock()
		if len(rows) == 0 {
			break
		}
		values := make([][]any, len(rows))
		for i, r := range rows {
			values[i] = r.r.Values()
		}
		if err := j.l.st.Insert(ctx, j.l.table, Columns, values); err != nil {
			// The rows may or may not have landed: read max(seq)
			// again before the next pass rather than guess.
			j.storeKnown = false
			j.shipErrors.Inc()
			return fmt.Errorf("cannot insert %d row(s) into the consent log: %w", len(rows), err)
		}
		j.mu.Lock()
		j.shipped = rows[len(rows)-1].r.Seq
		j.mu.Unlock()
	}
	if err := j.checkpoint(false); err != nil {
		return err
	}
	return j.rotate(false)
}

// checkpoint writes the head of what is in the store to the checkpoint
// file, when it moved and CheckpointInterval has passed since the last one
// (or whenever it moved, with force). Only shipped rows are checkpointed:
// a checkpoint names a row the store must hold, so verify can call a
// store that ends before it truncated. shipMu must be held.
func (j *journal) checkpoint(force bool) error {
	j.mu.Lock()
	var head *Record
	if i := j.firstAbove(j.shipped) - 1; i >= 0 && j.rows[i].r.Seq == j.shipped {
		head = j.rows[i].r
	}
	j.mu.Unlock()
	if head == nil || head.Seq == j.checkpointed {
		return nil
	}
	now := time.Now()
	if !force && now.Sub(j.checkpointedAt) < j.l.opts.CheckpointInterval {
		return nil
	}
	cp := hashchain.Checkpoint{Log: hashchain.LogConsent, Chain: head.Chain, Seq: head.Seq, Hash: head.RowHash, Alg: head.Alg}
	if err := j.l.opts.Checkpoints.Write(cp); err != nil {
		return fmt.Errorf("cannot checkpoint the consent log: %w", err)
	}
	j.checkpointed, j.checkpointedAt = head.Seq, now
	return nil
}

// nextInsertLocked returns the next rows to insert: the first unshipped
// ones, of one month, at most MaxInsertRows.
func (j *journal) nextInsertLocked() []jrow {
	rows := j.rows[j.firstAbove(j.shipped):]
	if len(rows) == 0 {
		return nil
	}
	y, m, _ := rows[0].r.Time.Date()
	n := min(len(rows), j.l.opts.MaxInsertRows)
	for i := 1; i < n; i++ {
		if y2, m2, _ := rows[i].r.Time.Date(); y2 != y || m2 != m {
			n = i
			break
		}
	}
	return rows[:n:n]
}

// rotate rewrites the journal without its shipped rows but the last one,
// which keeps the chain's head, when RotateBytes of them have piled up (or
// any, with force). The new file is written beside the old and renamed
// over it, so a crash leaves one or the other whole.
func (j *journal) rotate(force bool) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	keep := j.firstAbove(j.shipped) - 1 // the last shipped row
	if keep <= 0 || j.broken != nil {
		return nil
	}
	var drop int64
	for _, r := range j.rows[:keep] {
		drop += int64(len(r.line))
	}
	if drop < j.l.opts.RotateBytes && !force {
		return nil
	}
	tmp := j.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("cannot create %q: %w", tmp, err)
	}
	rows := append([]jrow(nil), j.rows[keep:]...)
	var buf []byte
	for _, r := range rows {
		buf = append(buf, r.line...)
	}
	if _, err = f.Write(buf); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, j.path)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("cannot rewrite the consent journal %q without its shipped rows: %w", j.path, err)
	}
	j.f.Close()
	j.f, j.rows, j.size = f, rows, j.size-drop
	return syncDir(filepath.Dir(j.path))
}

// close stops the shipper; with ship it then ships what it can within
// CloseTimeout and drops the shipped rows.
func (j *journal) close(ship bool) error {
	close(j.stop)
	<-j.done
	var err error
	if ship {
		ctx, cancel := context.WithTimeout(context.Background(), j.l.opts.CloseTimeout)
		if err = j.flush(ctx); err == nil {
			j.shipMu.Lock()
			err = j.checkpoint(true)
			j.shipMu.Unlock()
		}
		if err == nil {
			err = j.rotate(true)
		}
		cancel()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a file's creation or rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot open folder %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot sync folder %q: %w", dir, err)
	}
	return nil
}
