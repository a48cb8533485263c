package sessionlog

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sezim-analytics/sezim/store"
)

// ErrInProgress: another request is processing the same batch now.
var ErrInProgress = errors.New("a batch with this key is being processed")

// ClaimLease is how long a claim without a "done" row blocks others.
const ClaimLease = 10 * time.Minute

// Remember is how long a processed batch is remembered.
const Remember = 7 * 24 * time.Hour

// Ledger records processed batches.
//
// It remembers which batches were processed, so that a sender that
// resends a batch after a timeout (it never saw the answer) gets the first
// answer back instead of the lines counted twice.
//
// A batch is named by the sender's Idempotency-Key, or by the SHA-256 of its
// content; the ledger keeps only SHA-256(site, name), the time and the
// summary (counts and fixed reasons): nothing that identifies a visitor.
//
// The protocol, on one ClickHouse (server or embedded) shared by every
// collector:
//
//  1. Begin reads the batch's rows. A "done" row: a duplicate, answered
//     with its summary. A live claim (younger than ClaimLease): another
//     request is processing it, ErrInProgress (HTTP 409, retry later).
//  2. Otherwise it inserts a claim with a random token and reads again. It
//     wins only when its claim is the one live claim it sees; seeing any
//     other, it withdraws its own (a row that cancels its token) and gets
//     ErrInProgress. Inside one process, requests for the same batch are
//     also serialised by a lock, so they never race at all.
//  3. The winner processes the lines and Finish inserts the "done" row
//     with the summary.
//
// Why two collectors cannot both win: an insert that has returned is seen
// by every read that starts after it (one ClickHouse server; the ledger is
// never a Distributed table). If A and B both won, A's second read missed
// B's claim, so B's insert ended after A's read began, hence after A's
// insert ended; then B's second read, which follows B's insert, saw A's
// claim, and B lost. No clock takes part, so skewed clocks cannot open a
// window (the earlier rule, "the earliest claim wins", let a collector
// whose clock lagged win a batch that another was already processing:
// TestLedgerClaimRace). The price is liveness: two claims that meet both
// lose, and the senders retry after the 409.
//
// Residual risks, stated plainly (ClickHouse has no transactions and no
// unique keys):
//   - A claim's lease is measured on the reading collector's clock: one
//     whose clock runs more than ClaimLease ahead of the claimant's takes
//     a live claim for an expired one. Keep clocks in sync (NTP).
//   - A crash after some of a batch's events reached the sink and before
//     Finish leaves a claim without a "done" row. Resends get 409 until the
//     claim's lease ends (ClaimLease), then the batch is processed again:
//     what reached the sink before the crash counts twice (at least once,
//     never lost). The window is the length of one batch's processing.
//   - A loser whose withdrawal cannot be written blocks the batch until
//     its claim's lease ends (409s, nothing counted twice).
//   - A batch is remembered for Remember (7 days); a resend after that
//     counts again.
//
// Begin returns a claim to process the
// batch, or the stored summary of a duplicate, or ErrInProgress; Finish
// records the outcome of a claim; Takeover claims a batch whatever claims
// it has (see StoreLedger.Takeover). RunBatch is the one place that drives
// these steps; senders and handlers call it, not them.
type Ledger interface {
	Begin(ctx context.Context, site, key string) (*Claim, *Summary, error)
	Finish(ctx context.Context, c *Claim, s Summary) error
	Takeover(ctx context.Context, site, key string) (*Claim, error)
}

// Claim is the right to process one batch.
type Claim struct {
	site, key, token string
	at               time.Time
	release          func()
}

// BatchKey turns a batch name (an Idempotency-Key or a content hash) into
// what the ledger stores: SHA-256 of the site and the name, in hex.
func BatchKey(site, name string) string {
	h := sha256.New()
	h.Write([]byte("sezim-sessionlog-batch\x00"))
	h.Write([]byte(site))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return hex.EncodeToString(h.Sum(nil))
}

// ContentName names a batch by its content, for senders without an
// Idempotency-Key.
func ContentName(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// inflight serialises requests for one batch within a process.
type inflight struct {
	mu   sync.Mutex
	keys map[string]chan struct{}
}

// lock waits until no other request of this process holds key, then holds
// it; the returned func releases it.
func (f *inflight) lock(ctx context.Context, key string) (func(), error) {
	for {
		f.mu.Lock()
		if f.keys == nil {
			f.keys = map[string]chan struct{}{}
		}
		ch, busy := f.keys[key]
		if !busy {
			ch = make(chan struct{})
			f.keys[key] = ch
			f.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					f.mu.Lock()
					delete(f.keys, key)
					f.mu.Unlock()
					close(ch)
				})
			}, nil
		}
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ErrInProgress
		}
	}
}

// StoreLedger keeps the ledger in <stats>.ingest_batches.
type StoreLedger struct {
	st  store.Store
	now func() time.Time
	inflight
	expireMu   sync.Mutex
	lastExpire time.Time
}

// NewStoreLedger returns a ledger on st; now is the clock (nil: time.Now).
func NewStoreLedger(st store.Store, now func() time.Time) *StoreLedger {
	if now == nil {
		now = time.Now
	}
	return &StoreLedger{st: st, now: now}
}

var ledgerColumns = []string{"day", "site", "key", "token", "claimed_ns", "state", "summary"}

const (
	stateClaimed   = 1
	stateDone      = 2
	stateWithdrawn = 3 // cancels the claim with the same token
)

type ledgerRow struct {
	state   uint64
	token   string
	at      uint64
	summary string
}

func (l *StoreLedger) table() string { return l.st.DB().Stats + ".ingest_batches" }

func (l *StoreLedger) read(ctx context.Context, site, key string, now time.Time) ([]ledgerRow, error) {
	q := fmt.Sprintf("SELECT toUInt64(state), token, toUInt64(claimed_ns), summary FROM %s WHERE day >= %s AND site = %s AND key = %s",
		l.table(), store.Quote(store.DayOf(now.UTC().Add(-Remember-24*time.Hour)).String()), store.Quote(site), store.Quote(key))
	var rows []ledgerRow
	err := l.st.Query(ctx, q, func(r store.Row) error {
		rows = append(rows, ledgerRow{state: r.Uint64(0), token: r.String(1), at: r.Uint64(2), summary: r.String(3)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the batch ledger: %w", err)
	}
	return rows, nil
}

// verdict looks at a batch's rows: a duplicate's summary, or whether a live
// claim other than mine (token) exists. Withdrawn claims do not count.
func verdict(rows []ledgerRow, mine string, now time.Time) (*Summary, bool, error) {
	withdrawn := map[string]bool{}
	for _, r := range rows {
		if r.state == stateWithdrawn {
			withdrawn[r.token] = true
		}
	}
	busy := false
	for _, r := range rows {
		if r.state == stateDone {
			var s Summary
			if err := json.Unmarshal([]byte(r.summary), &s); err != nil {
				return nil, false, fmt.Errorf("cannot read a batch summary: %w", err)
			}
			s.Duplicate = true
			return &s, false, nil
		}
		if r.state == stateClaimed && r.token != mine && !withdrawn[r.token] &&
			now.Sub(time.Unix(0, int64(r.at))) < ClaimLease {
			busy = true
		}
	}
	return nil, busy, nil
}

// Begin implements Ledger.
func (l *StoreLedger) Begin(ctx context.Context, site, key string) (*Claim, *Summary, error) {
	release, err := l.lock(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	ok := false
	defer func() {
		if !ok {
			release()
		}
	}()
	now := l.now()
	rows, err := l.read(ctx, site, key, now)
	if err != nil {
		return nil, nil, err
	}
	if dup, busy, err := verdict(rows, "", now); err != nil || dup != nil || busy {
		if busy {
			err = ErrInProgress
		}
		return nil, dup, err
	}
	c := &Claim{site: site, key: key, token: newToken(), at: now}
	row := []any{store.DayOf(now.UTC()), site, key, c.token, uint64(now.UnixNano()), uint8(stateClaimed), ""}
	if err := l.st.Insert(ctx, l.table(), ledgerColumns, [][]any{row}); err != nil {
		return nil, nil, fmt.Errorf("cannot claim a batch: %w", err)
	}
	if rows, err = l.read(ctx, site, key, now); err != nil {
		return nil, nil, err
	}
	dup, busy, err := verdict(rows, c.token, now)
	if err != nil || dup != nil || busy {
		if busy {
			err = ErrInProgress
		}
		// Lost, or answered from a "done" row: withdraw the claim so that
		// it does not hold up the retry. Best effort: an unwritten
		// withdrawal only blocks the batch until the lease ends.
		w := []any{store.DayOf(now.UTC()), site, key, c.token, uint64(now.UnixNano()), uint8(stateWithdrawn), ""}
		_ = l.st.Insert(ctx, l.table(), ledgerColumns, [][]any{w})
		return nil, dup, err
	}
	ok = true
	c.release = release
	return c, nil, nil
}

// Finish implements Ledger. It tries a few times: a summary that cannot be
// recorded leaves the batch open to being counted again after ClaimLease.
func (l *StoreLedger) Finish(ctx context.Context, c *Claim, s Summary) error {
	defer c.release()
	s.Duplicate = false
	js, err := json.Marshal(s)
	if err != nil {
		return err
	}
	now := l.now()
	row := []any{store.DayOf(now.UTC()), c.site, c.key, c.token, uint64(now.UnixNano()), uint8(stateDone), string(js)}
	for attempt := 0; ; attempt++ {
		err = l.st.Insert(ctx, l.table(), ledgerColumns, [][]any{row})
		if err == nil || attempt == 2 || ctx.Err() != nil {
			break
		}
		sleep(ctx, time.Duration(attempt+1)*200*time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("cannot record a processed batch: %w", err)
	}
	return nil
}

// Expire drops the ledger's days older than Remember (and a day of slack).
// It runs at most once an hour however often it is called, and is safe on
// any number of collectors at once.
func (l *StoreLedger) Expire(ctx context.Context) error {
	now := l.now()
	l.expireMu.Lock()
	if now.Sub(l.lastExpire) < time.Hour {
		l.expireMu.Unlock()
		return nil
	}
	l.lastExpire = now
	l.expireMu.Unlock()
	cutoff := store.DayOf(now.UTC().Add(-Remember - 24*time.Hour))
	var days []store.Day
	q := fmt.Sprintf("SELECT DISTINCT toString(day) FROM %s WHERE day < %s", l.table(), store.Quote(cutoff.String()))
	err := l.st.Query(ctx, q, func(r store.Row) error {
		d, err := time.Parse(time.DateOnly, r.String(0))
		if err != nil {
			return err
		}
		days = append(days, store.DayOf(d))
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot list the batch ledger's days: %w", err)
	}
	for _, d := range days {
		sql, err := store.DropPartitionSQL(l.table(), d)
		if err != nil {
			return err
		}
		if err := l.st.Exec(ctx, sql); err != nil {
			return fmt.Errorf("cannot drop the batch ledger's day %s: %w", d, err)
		}
	}
	return nil
}

// MemoryLedger keeps the ledger in memory: resends are recognised only by
// the same process, for as long as it runs. For tests and for a collector
// without a store.
type MemoryLedger struct {
	inflight
	mu   sync.Mutex
	done map[string]memEntry
	now  func() time.Time
}

type memEntry struct {
	at  time.Time
	sum Summary
}

// NewMemoryLedger returns an empty in-memory ledger.
func NewMemoryLedger() *MemoryLedger {
	return &MemoryLedger{done: map[string]memEntry{}, now: time.Now}
}

// Begin implements Ledger.
func (m *MemoryLedger) Begin(ctx context.Context, site, key string) (*Claim, *Summary, error) {
	release, err := m.lock(ctx, site+"\x00"+key)
	if err != nil {
		return nil, nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for k, e := range m.done {
		if now.Sub(e.at) > Remember {
			delete(m.done, k)
		}
	}
	if e, ok := m.done[site+"\x00"+key]; ok {
		release()
		s := e.sum
		s.Duplicate = true
		return nil, &s, nil
	}
	return &Claim{site: site, key: key, at: now, release: release}, nil, nil
}

// Finish implements Ledger.
func (m *MemoryLedger) Finish(_ context.Context, c *Claim, s Summary) error {
	defer c.release()
	s.Duplicate = false
	m.mu.Lock()
	m.done[c.site+"\x00"+c.key] = memEntry{at: m.now(), sum: s}
	m.mu.Unlock()
	return nil
}

// Takeover implements Ledger: in memory, a claim is only ever held by a
// request of this process, so taking over is waiting for it.
func (m *MemoryLedger) Takeover(ctx context.Context, site, key string) (*Claim, error) {
	release, err := m.lock(ctx, site+"\x00"+key)
	if err != nil {
		return nil, err
	}
	return &Claim{site: site, key: key, at: m.now(), release: release}, nil
}

// Takeover claims a batch whatever claims it already has. It is for a sole
// writer that has proved the earlier claim's work never reached the store
// (`sezim import --direct` after a crash: no event carries the batch's id),
// so processing again cannot count anything twice.
func (l *StoreLedger) Takeover(ctx context.Context, site, key string) (*Claim, error) {
	release, err := l.lock(ctx, key)
	if err != nil {
		return nil, err
	}
	now := l.now()
	c := &Claim{site: site, key: key, token: newToken(), at: now, release: release}
	row := []any{store.DayOf(now.UTC()), site, key, c.token, uint64(now.UnixNano()), uint8(stateClaimed), ""}
	if err := l.st.Insert(ctx, l.table(), ledgerColumns, [][]any{row}); err != nil {
		release()
		return nil, fmt.Errorf("cannot claim a batch: %w", err)
	}
	return c, nil
}
