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
// concurrent use; appends are serialised.
type Log struct {
	st    store.Store
	table string
	chain string
	lock  *os.File

	mu sync.Mutex
	// seq and head are the last stored row's; known is false until they
	// have been read from the store (at the first append, and again after
	// a failed insert, whose outcome is unknown).
	seq   uint64
	head  string
	known bool
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
	return &Log{st: st, table: st.DB().Identified + ".consent_log", chain: state.Chain, lock: f}, nil
}

// Chain is this instance's chain id.
func (l *Log) Chain() string { return l.chain }

// Close releases the data folder's lock.
func (l *Log) Close() error { return l.lock.Close() }

// Append fills r's chain, seq, prev_hash and row_hash and inserts it. It
// returns only once the row is stored, or with an error, in which case the
// decision must not be acted on (no cookie, no receipt).
func (l *Log) Append(ctx context.Context, r *Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.known {
		if err := l.loadHead(ctx); err != nil {
			return err
		}
	}
	r.Chain, r.Seq, r.PrevHash = l.chain, l.seq+1, l.head
	r.Time = r.Time.UTC().Truncate(time.Second)
	r.RowHash = r.Hash()
	if err := l.st.Insert(ctx, l.table, Columns, [][]any{r.Values()}); err != nil {
		// The row may or may not have landed: read the head again before
		// the next append rather than guess.
		l.known = false
		return fmt.Errorf("cannot append to the consent log: %w", err)
	}
	l.seq, l.head = r.Seq, r.RowHash
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
