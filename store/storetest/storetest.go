// Package storetest gives tests a real Store on each engine: a ClickHouse
// server named by $SEZIM_TEST_CLICKHOUSE and the embedded chDB engine.
// Each Store uses databases of its own (a unique Names prefix), so tests
// may share one server or one embedded session and run in parallel; the
// databases are dropped when the test ends.
//
// A missing engine skips the test, except under CI=true, where it fails:
// CI must never pass by skipping.
//
//	func TestX(t *testing.T) {
//		storetest.ForEach(t, func(t *testing.T, s store.Store) { ... })
//	}
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/store"
)

// EnvServer names the variable holding the test server's URL, e.g.
// clickhouse://default:@127.0.0.1:19500/ (scripts/clickhouse-test-server.sh
// starts one).
const EnvServer = "SEZIM_TEST_CLICKHOUSE"

// Server returns a migrated Store on the ClickHouse server named by
// $SEZIM_TEST_CLICKHOUSE, skipping (failing under CI=true) when it is unset.
func Server(t testing.TB) store.Store { return open(t, "clickhouse", true) }

// Embedded returns a migrated Store on the embedded engine, loading
// libchdb from $CHDB_LIB_PATH or else the module's .cache/chdb/libchdb.so,
// skipping (failing under CI=true) when neither exists.
func Embedded(t testing.TB) store.Store { return open(t, "chdb", true) }

// ServerEmpty is Server without migrations: its databases do not exist
// yet. For tests of the migrations themselves.
func ServerEmpty(t testing.TB) store.Store { return open(t, "clickhouse", false) }

// EmbeddedEmpty is Embedded without migrations.
func EmbeddedEmpty(t testing.TB) store.Store { return open(t, "chdb", false) }

// ForEach runs fn as a subtest on each engine ("clickhouse", "chdb") with a
// migrated Store.
func ForEach(t *testing.T, fn func(t *testing.T, s store.Store)) {
	t.Helper()
	forEach(t, true, fn)
}

// ForEachEmpty is ForEach with Stores whose databases do not exist yet.
func ForEachEmpty(t *testing.T, fn func(t *testing.T, s store.Store)) {
	t.Helper()
	forEach(t, false, fn)
}

func forEach(t *testing.T, migrate bool, fn func(t *testing.T, s store.Store)) {
	t.Helper()
	for _, engine := range []string{"clickhouse", "chdb"} {
		t.Run(engine, func(t *testing.T) {
			fn(t, open(t, engine, migrate))
		})
	}
}

// missing skips the test, or fails it when CI=true.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and "+format, args...)
	}
	t.Skipf(format, args...)
}

func open(t testing.TB, engine string, migrate bool) store.Store {
	t.Helper()
	names := store.DefaultNames.WithPrefix(prefix(t))
	var s store.Store
	switch engine {
	case "clickhouse":
		url := os.Getenv(EnvServer)
		if url == "" {
			missing(t, "%s is not set (start a server with scripts/clickhouse-test-server.sh)", EnvServer)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var err error
		if s, err = store.OpenServer(ctx, url, names); err != nil {
			t.Fatalf("cannot open test server: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
	case "chdb":
		s = openEmbedded(t, names)
	default:
		t.Fatalf("unknown engine %q", engine)
	}
	// Registered after Close's cleanup, so it runs first.
	t.Cleanup(func() { drop(t, s) })
	if migrate {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := store.NewMigrator(s, store.MigrateOptions{}).Up(ctx); err != nil {
			t.Fatalf("cannot migrate test store: %v", err)
		}
	}
	return s
}

// prefix makes a database-name prefix unique to this test and run; it
// starts with part of the test's name so leftovers are recognisable.
func prefix(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			return r
		case 'A' <= r && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '_'
	}, t.Name())
	if len(name) > 24 {
		name = name[:24]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "t_" + name + "_" + hex.EncodeToString(b[:]) + "_"
}

func drop(t testing.TB, s store.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, db := range s.DB().All() {
		if err := s.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Errorf("cannot drop test database %s: %v", db, err)
		}
	}
}

// The embedded engine has one session per process, so every embedded
// test Store shares one folder; it is removed when the last one closes.
var shared struct {
	mu   sync.Mutex
	dir  string
	refs int
}

func openEmbedded(t testing.TB, names store.Names) store.Store {
	t.Helper()
	lib, err := LibPath()
	if err != nil {
		missing(t, "%v", err)
	}
	if os.Getenv("CHDB_LIB_PATH") == "" {
		// The store reads the variable when it loads the library.
		_ = os.Setenv("CHDB_LIB_PATH", lib)
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.dir == "" {
		if shared.dir, err = os.MkdirTemp("", "sezim-chdb-test-"); err != nil {
			t.Fatalf("cannot create embedded store folder: %v", err)
		}
	}
	s, err := store.OpenEmbedded(shared.dir, names)
	if err != nil {
		t.Fatalf("cannot open embedded store: %v", err)
	}
	shared.refs++
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("cannot close embedded store: %v", err)
		}
		shared.mu.Lock()
		defer shared.mu.Unlock()
		if shared.refs--; shared.refs == 0 {
			_ = os.RemoveAll(shared.dir)
			shared.dir = ""
		}
	})
	return s
}

// LibPath returns the libchdb.so the embedded tests use: $CHDB_LIB_PATH,
// else .cache/chdb/libchdb.so at the module root (where `make chdb` puts
// it). It returns an error when the file does not exist.
func LibPath() (string, error) {
	if p := os.Getenv("CHDB_LIB_PATH"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", errors.New("CHDB_LIB_PATH=" + p + " does not exist (run `make chdb`)")
		}
		return p, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, ".cache", "chdb", "libchdb.so")
	if _, err := os.Stat(p); err != nil {
		return "", errors.New(p + " does not exist and CHDB_LIB_PATH is not set (run `make chdb`)")
	}
	return p, nil
}

// moduleRoot walks up from the working directory (a test runs in its
// package's folder) to the folder holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find go.mod above the working directory")
		}
		dir = parent
	}
}

// RequireLib points CHDB_LIB_PATH at libchdb for the rest of the test (for
// a child process that opens the embedded store), skipping the test, or
// failing it under CI=true, when the library is missing.
func RequireLib(t testing.TB) {
	t.Helper()
	lib, err := LibPath()
	if err != nil {
		missing(t, "%v", err)
	}
	t.Setenv("CHDB_LIB_PATH", lib)
}
