package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"unsafe"
)

// ErrEmbeddedBusy is returned (wrapped) by OpenEmbedded when the process
// already has an embedded session on another folder: libchdb keeps one
// session per process, and connecting again would silently hand back the
// first one.
var ErrEmbeddedBusy = errors.New("an embedded ClickHouse session is already open on another folder")

// ErrEmbeddedLocked is returned (wrapped) by OpenEmbedded when another
// process has the folder open. The engine keeps its own view of the
// folder's parts in memory, so a second process writing beside it would
// lose rows or corrupt a table: a folder has one process at a time.
var ErrEmbeddedLocked = errors.New("the embedded store is open in another process")

// LockFile is the file in an embedded store's folder that the process
// holding the folder keeps locked (flock).
const LockFile = "sezim.lock"

// ErrClosed is returned by a Store's methods after Close.
var ErrClosed = errors.New("store is closed")

// chdbSession is the process's one libchdb session. Every Store opened on
// the same folder shares it; the last Close ends it.
type chdbSession struct {
	lib    *chdbLib
	handle unsafe.Pointer
	dir    string
	lock   *os.File // holds the folder's flock while the session lives
	refs   int
	// sem serialises calls into libchdb. The library runs one query at a
	// time on its own thread anyway, and a channel (unlike a mutex) lets a
	// waiting caller give up when its context ends.
	sem chan struct{}
	// ended is set, holding sem, when the last Close ends the session; a
	// call that raced with that Close finds it and fails cleanly.
	ended bool
}

var embedded struct {
	mu      sync.Mutex
	session *chdbSession
}

// chdbStore is one handle on the shared session.
type chdbStore struct {
	s      *chdbSession
	names  Names
	mu     sync.Mutex // guards closed
	closed bool
}

// OpenEmbedded starts (or joins) the embedded ClickHouse engine keeping its
// data in dir, loading libchdb from $CHDB_LIB_PATH on first use. It
// returns an error wrapping ErrNoChdb when the library is missing, and
// ErrEmbeddedBusy when a session on another folder is still open; Stores
// on the same folder share one session.
func OpenEmbedded(dir string, names Names) (Store, error) {
	if dir == "" {
		return nil, errors.New("cannot open embedded ClickHouse: empty folder")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot open embedded ClickHouse (%s): %w", dir, err)
	}
	embedded.mu.Lock()
	defer embedded.mu.Unlock()
	if s := embedded.session; s != nil {
		if s.dir != abs {
			return nil, fmt.Errorf("cannot open embedded ClickHouse (%s): %w (%s); close it first", abs, ErrEmbeddedBusy, s.dir)
		}
		s.refs++
		return &chdbStore{s: s, names: names}, nil
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("cannot create embedded ClickHouse folder (%s): %w", abs, err)
	}
	// The lock first: a command that finds the folder taken can hand its
	// work to the process holding it, with or without the library.
	lock, err := lockFolder(abs)
	if err != nil {
		return nil, err
	}
	lib, err := loadChdb()
	if err != nil {
		_ = lock.Close()
		return nil, err
	}
	// optimize_on_insert=0: the engine would otherwise sort-merge each
	// inserted block of a Replacing/SummingMergeTree table as a merge does.
	// Every read of those tables already adds up or takes the newest row
	// (FINAL, sums), so that work is wasted: it made the rollup's insert of
	// 4.8M pair cells (1M events) take 17.7 s instead of 6.3 s.
	h, err := lib.chdbConnect([]string{"clickhouse", "--path=" + abs, "--optimize_on_insert=0"})
	if err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("cannot open embedded ClickHouse (%s): %w", abs, err)
	}
	s := &chdbSession{lib: lib, handle: h, dir: abs, lock: lock, refs: 1, sem: make(chan struct{}, 1)}
	embedded.session = s
	return &chdbStore{s: s, names: names}, nil
}

func (c *chdbStore) Engine() string { return "chdb" }

func (c *chdbStore) DB() Names { return c.names }

// Close releases this handle; the session ends with the last one, after
// which OpenEmbedded may open another folder.
func (c *chdbStore) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	embedded.mu.Lock()
	defer embedded.mu.Unlock()
	s := c.s
	s.refs--
	if s.refs > 0 {
		return nil
	}
	// Wait for a running query: closing under it would free its engine.
	s.sem <- struct{}{}
	s.lib.closeConn(s.handle)
	s.handle = nil
	s.ended = true
	<-s.sem
	_ = s.lock.Close() // closing releases the flock
	embedded.session = nil
	return nil
}

// run executes one statement with the session to itself.
func (c *chdbStore) run(ctx context.Context, query, format string, fn func([]byte) error) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}
	select {
	case c.s.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.s.sem }()
	if c.s.ended {
		return ErrClosed
	}
	// A query cannot be interrupted once in libchdb; at least do not start
	// one for a caller that has gone.
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.s.lib.chdbRun(c.s.handle, query, format, fn)
}

func (c *chdbStore) Ping(ctx context.Context) error {
	if err := c.run(ctx, "SELECT 1", "TabSeparated", nil); err != nil {
		return fmt.Errorf("cannot ping embedded ClickHouse: %w", err)
	}
	return nil
}

func (c *chdbStore) Version(ctx context.Context) (string, error) {
	var v string
	err := c.Query(ctx, "SELECT version()", func(r Row) error {
		v = r.String(0)
		return nil
	})
	return v, err
}

func (c *chdbStore) Exec(ctx context.Context, query string) error {
	if err := c.run(ctx, query, "TabSeparated", nil); err != nil {
		return fmt.Errorf("cannot execute statement (%s): %w", firstWords(query), err)
	}
	return nil
}

// queryFormat carries the column types in its second header line, which
// Row.Time needs for a DateTime's zone. TabSeparated parses about three
// times faster than JSONCompactEachRow (see chdb_timing_test.go).
const queryFormat = "TabSeparatedWithNamesAndTypes"

func (c *chdbStore) Query(ctx context.Context, query string, fn func(Row) error) error {
	var rowErr error
	err := c.run(ctx, query, queryFormat, func(buf []byte) error {
		// One copy out of C memory; unescaped fields are substrings of it,
		// so callers may keep the strings Row.String returns.
		rowErr = parseTSVResult(string(buf), fn)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot run query (%s): %w", firstWords(query), err)
	}
	if rowErr != nil {
		var conv *rowConvError
		if errors.As(rowErr, &conv) {
			return fmt.Errorf("cannot convert result (%s): %w", firstWords(query), conv.err)
		}
		return rowErr
	}
	return nil
}

// rowConvError marks a Row conversion failure, to tell it apart from fn's
// own errors, which are returned as they are.
type rowConvError struct{ err error }

func (e *rowConvError) Error() string { return e.err.Error() }

// parseTSVResult calls fn for each row of a TabSeparatedWithNamesAndTypes
// result. Raw newlines and tabs only ever separate rows and fields;
// inside values they are escaped.
func parseTSVResult(data string, fn func(Row) error) error {
	if data == "" {
		return nil
	}
	nextLine := func() string {
		i := strings.IndexByte(data, '\n')
		if i < 0 {
			line := data
			data = ""
			return line
		}
		line := data[:i]
		data = data[i+1:]
		return line
	}
	nextLine() // names
	types := strings.Split(nextLine(), "\t")
	row := &textRow{
		fields: make([]string, len(types)),
		null:   make([]bool, len(types)),
		cols:   make([]colInfo, len(types)),
	}
	for i, t := range types {
		row.cols[i] = colInfoOf(unescapeTSV(t))
	}
	for data != "" {
		line := nextLine()
		for i := range row.fields {
			var f string
			if j := strings.IndexByte(line, '\t'); j >= 0 && i < len(row.fields)-1 {
				f, line = line[:j], line[j+1:]
			} else {
				f, line = line, ""
			}
			row.null[i] = f == `\N`
			if row.null[i] {
				row.fields[i] = ""
			} else {
				row.fields[i] = unescapeTSV(f)
			}
		}
		if err := fn(row); err != nil {
			return err
		}
		if row.err != nil {
			return &rowConvError{row.err}
		}
	}
	return nil
}

func (c *chdbStore) Insert(ctx context.Context, table string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	q, err := buildTSVInsert(table, cols, rows)
	if err != nil {
		return fmt.Errorf("cannot insert into %s (%d rows): %w", table, len(rows), err)
	}
	if err := c.run(ctx, q, "TabSeparated", nil); err != nil {
		// ClickHouse quotes the offending input in parse errors, and the
		// input here is visitor data: keep only the error's code and kind.
		return fmt.Errorf("cannot insert into %s (%d rows): %w", table, len(rows), redactDataError(err))
	}
	return nil
}

// buildTSVInsert writes the whole INSERT, data included, as one query
// text ending in NUL (so it reaches C without another copy). TabSeparated
// inserts 100k events about as fast as JSONEachRow and builds with fewer
// allocations (see chdb_timing_test.go).
func buildTSVInsert(table string, cols []string, rows [][]any) (string, error) {
	prefix, err := insertPrefix(table, cols)
	if err != nil {
		return "", err
	}
	b := make([]byte, 0, len(prefix)+32+len(rows)*len(cols)*12)
	b = append(b, prefix...)
	b = append(b, " FORMAT TabSeparated\n"...)
	for n, row := range rows {
		if len(row) != len(cols) {
			return "", fmt.Errorf("row %d has %d values for %d columns", n, len(row), len(cols))
		}
		for i, v := range row {
			if i > 0 {
				b = append(b, '\t')
			}
			if b, err = appendTSVValue(b, v); err != nil {
				return "", fmt.Errorf("row %d, column %s: %w", n, cols[i], err)
			}
		}
		b = append(b, '\n')
	}
	b = append(b, 0)
	return unsafe.String(&b[0], len(b)), nil
}

var (
	errCodeRe = regexp.MustCompile(`Code: (\d+)`)
	errNameRe = regexp.MustCompile(`\(([A-Z][A-Z0-9_]+)\)`)
)

// redactDataError reduces a ClickHouse exception to its code, name and
// the start of its message, dropping any echo of the input.
func redactDataError(err error) error {
	msg := err.Error()
	var parts []string
	if m := errCodeRe.FindStringSubmatch(msg); m != nil {
		parts = append(parts, "code "+m[1])
	}
	if m := errNameRe.FindAllStringSubmatch(msg, -1); m != nil {
		parts = append(parts, m[len(m)-1][1])
	}
	if _, text, ok := strings.Cut(msg, "DB::Exception: "); ok {
		if i := strings.IndexAny(text, ":'\"`\n("); i >= 0 {
			text = text[:i]
		}
		parts = append(parts, strings.TrimSpace(text))
	}
	if len(parts) == 0 {
		return errors.New("ClickHouse rejected the data (details withheld: they may quote visitor values)")
	}
	return errors.New(strings.Join(parts, ": "))
}

// lockFolder takes the folder's lock file, or fails with ErrEmbeddedLocked
// when another process holds it.
func lockFolder(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open embedded ClickHouse's lock file (%s): %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("cannot open embedded ClickHouse (%s): %w", dir, ErrEmbeddedLocked)
		}
		return nil, fmt.Errorf("cannot lock embedded ClickHouse's folder (%s): %w", dir, err)
	}
	return f, nil
}
