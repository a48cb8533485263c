package store

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// ErrNoChdb is returned (wrapped) by OpenEmbedded when libchdb cannot be
// loaded. A server-mode binary never touches the library, so its absence
// only matters for chdb:// stores.
var ErrNoChdb = errors.New("libchdb is not available")

// chdbLib holds the handful of C functions the embedded driver needs. They
// are bound on first use rather than in an init func: importing chdb-go
// would load the library at program start and panic when it is missing,
// which would keep a clickhouse:// deployment from starting at all.
type chdbLib struct {
	connect      func(argc int32, argv **byte) unsafe.Pointer
	closeConn    func(conn unsafe.Pointer)
	query        func(conn unsafe.Pointer, query string, format string) unsafe.Pointer
	resultBuffer func(res unsafe.Pointer) *byte
	resultLength func(res unsafe.Pointer) uintptr
	resultError  func(res unsafe.Pointer) string
	destroy      func(res unsafe.Pointer)
}

var (
	chdbOnce   sync.Once
	chdbLoaded *chdbLib
	chdbErr    error
)

// chdbLibPath is where the library is looked for: $CHDB_LIB_PATH, else the
// dynamic loader's search path.
func chdbLibPath() string {
	if p := os.Getenv("CHDB_LIB_PATH"); p != "" {
		return p
	}
	return "libchdb.so"
}

// loadChdb binds the C API once per process. A failure is remembered too:
// dlopen of a half-present library is not worth retrying.
func loadChdb() (*chdbLib, error) {
	chdbOnce.Do(func() {
		chdbLoaded, chdbErr = bindChdb(chdbLibPath())
	})
	return chdbLoaded, chdbErr
}

func bindChdb(path string) (*chdbLib, error) {
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("cannot load %s (set CHDB_LIB_PATH to libchdb.so, or run `make chdb` to fetch it): %w: %w", path, ErrNoChdb, err)
	}
	lib := &chdbLib{}
	// purego.RegisterLibFunc panics on a missing symbol; looking each one
	// up first turns an old or foreign library into an error instead.
	syms := []struct {
		name string
		fn   any
	}{
		{"chdb_connect", &lib.connect},
		{"chdb_close_conn", &lib.closeConn},
		{"chdb_query", &lib.query},
		{"chdb_result_buffer", &lib.resultBuffer},
		{"chdb_result_length", &lib.resultLength},
		{"chdb_result_error", &lib.resultError},
		{"chdb_destroy_query_result", &lib.destroy},
	}
	for _, s := range syms {
		addr, err := purego.Dlsym(h, s.name)
		if err != nil {
			return nil, fmt.Errorf("cannot find %s in %s (libchdb too old? run `make chdb`): %w: %w", s.name, path, ErrNoChdb, err)
		}
		purego.RegisterFunc(s.fn, addr)
	}
	return lib, nil
}

// chdbConnect starts the embedded engine on dir. The returned handle is
// chdb_connection* (what chdb_close_conn wants); *handle is the
// chdb_connection that chdb_query wants.
func (l *chdbLib) chdbConnect(args []string) (unsafe.Pointer, error) {
	// argv lives in Go memory and holds pointers to Go memory; pinning
	// keeps that legal under the cgo pointer rules while C reads it.
	var pin runtime.Pinner
	defer pin.Unpin()
	argv := make([]*byte, len(args)+1)
	for i, a := range args {
		b := append([]byte(a), 0)
		pin.Pin(&b[0])
		argv[i] = &b[0]
	}
	pin.Pin(&argv[0])
	h := l.connect(int32(len(args)), &argv[0])
	if h == nil || *(*unsafe.Pointer)(h) == nil {
		return nil, errors.New("chdb_connect returned no connection")
	}
	return h, nil
}

// chdbRun runs one statement and hands the result bytes (C memory, valid
// only during fn) to fn. A ClickHouse exception becomes an error.
func (l *chdbLib) chdbRun(handle unsafe.Pointer, query, format string, fn func([]byte) error) error {
	// With a trailing NUL purego passes the string without copying it,
	// which matters for multi-megabyte INSERT texts; those are built with
	// the NUL already in place.
	if !strings.HasSuffix(query, "\x00") {
		query += "\x00"
	}
	res := l.query(*(*unsafe.Pointer)(handle), query, format+"\x00")
	if res == nil {
		return errors.New("chdb_query returned no result")
	}
	defer l.destroy(res)
	if msg := l.resultError(res); msg != "" {
		return errors.New(strings.TrimSpace(msg))
	}
	if fn == nil {
		return nil
	}
	n := l.resultLength(res)
	buf := l.resultBuffer(res)
	if n == 0 || buf == nil {
		return fn(nil)
	}
	return fn(unsafe.Slice(buf, n))
}
