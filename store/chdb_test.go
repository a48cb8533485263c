package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

func TestConcurrentInsertQuery(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		table := s.DB().Stats + ".events"
		const workers, rounds, batch = 8, 10, 50
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				site := fmt.Sprintf("w%d", w)
				for r := range rounds {
					rows := make([][]any, batch)
					for i := range rows {
						rows[i] = eventRow(r*batch+i, "Жалал-Абад\t"+site)
						rows[i][1] = site
					}
					if err := s.Insert(ctx, table, eventCols, rows); err != nil {
						errs <- err
						return
					}
					var n uint64
					q := "SELECT count() FROM " + table + " WHERE site = '" + site + "'"
					if err := s.Query(ctx, q, func(row store.Row) error { n = row.Uint64(0); return nil }); err != nil {
						errs <- err
						return
					}
					if n != uint64((r+1)*batch) {
						errs <- fmt.Errorf("worker %d round %d: count %d, want %d", w, r, n, (r+1)*batch)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		var total uint64
		if err := s.Query(ctx, "SELECT count() FROM "+table, func(r store.Row) error { total = r.Uint64(0); return nil }); err != nil {
			t.Fatal(err)
		}
		if total != workers*rounds*batch {
			t.Fatalf("total %d, want %d", total, workers*rounds*batch)
		}
	})
}

// TestEmbeddedSession is not parallel: it needs the process's one
// embedded session to itself (parallel tests wait until it is done).
func TestEmbeddedSession(t *testing.T) {
	lib, err := storetest.LibPath()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if os.Getenv("CHDB_LIB_PATH") == "" {
		t.Setenv("CHDB_LIB_PATH", lib)
	}
	ctx := context.Background()
	dirA, dirB := t.TempDir(), t.TempDir()
	a1, err := store.Open(ctx, "chdb://"+dirA, store.DefaultNames)
	if err != nil {
		t.Fatal(err)
	}
	if err := a1.Exec(ctx, "CREATE DATABASE IF NOT EXISTS kept"); err != nil {
		t.Fatal(err)
	}
	// The same folder joins the open session.
	a2, err := store.OpenEmbedded(dirA, store.DefaultNames)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenEmbedded(dirB, store.DefaultNames); !errors.Is(err, store.ErrEmbeddedBusy) {
		t.Fatalf("second folder while open: %v", err)
	}
	if err := a1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a1.Ping(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Ping after Close = %v", err)
	}
	if err := a2.Ping(ctx); err != nil {
		t.Fatalf("other handle after one Close: %v", err)
	}
	if _, err := store.OpenEmbedded(dirB, store.DefaultNames); !errors.Is(err, store.ErrEmbeddedBusy) {
		t.Fatalf("second folder while one handle open: %v", err)
	}
	if err := a2.Close(); err != nil {
		t.Fatal(err)
	}
	// Another folder after the last Close, then back to the first: its
	// data survived.
	b, err := store.OpenEmbedded(dirB, store.DefaultNames)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	a3, err := store.OpenEmbedded(dirA, store.DefaultNames)
	if err != nil {
		t.Fatal(err)
	}
	defer a3.Close()
	var n uint64
	if err := a3.Query(ctx, "SELECT count() FROM system.databases WHERE name = 'kept'", func(r store.Row) error { n = r.Uint64(0); return nil }); err != nil || n != 1 {
		t.Fatalf("database kept across sessions: %d, %v", n, err)
	}
}

func TestOpenURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, url := range []string{"mysql://u:pw@h/", "data", "http://h:8123/", "chdb://data?x=1", ""} {
		_, err := store.Open(ctx, url, store.DefaultNames)
		if err == nil {
			t.Errorf("Open(%q) succeeded", url)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("Open(%q) leaks the password: %v", url, err)
		}
	}
	// A server that is not there fails within the dial timeout.
	start := time.Now()
	if _, err := store.Open(ctx, "clickhouse://u:pw@127.0.0.1:1/?dial_timeout=200ms", store.DefaultNames); err == nil || strings.Contains(err.Error(), "pw") {
		t.Errorf("Open of a closed port: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Open of a closed port took %v", d)
	}
}

// TestOpenMissingLib runs in a child process, because once a process has
// loaded libchdb it cannot unload it.
func TestOpenMissingLib(t *testing.T) {
	t.Parallel()
	if os.Getenv("SEZIM_STORE_CHILD") == "missing-lib" {
		missingLibChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestOpenMissingLib$", "-test.v")
	cmd.Env = append(os.Environ(), "SEZIM_STORE_CHILD=missing-lib", "CHDB_LIB_PATH=/nonexistent/libchdb.so")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "child ok") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func missingLibChild(t *testing.T) {
	ctx := context.Background()
	_, err := store.Open(ctx, "chdb://"+t.TempDir(), store.DefaultNames)
	if err == nil {
		t.Fatal("Open without libchdb succeeded")
	}
	t.Logf("error: %v", err)
	if !errors.Is(err, store.ErrNoChdb) || !strings.Contains(err.Error(), "CHDB_LIB_PATH") || !strings.Contains(err.Error(), "make chdb") {
		t.Fatalf("error does not explain the fix: %v", err)
	}
	// A second try gives the same error, still no panic.
	if _, err2 := store.OpenEmbedded(t.TempDir(), store.DefaultNames); !errors.Is(err2, store.ErrNoChdb) {
		t.Fatalf("second Open: %v", err2)
	}
	// Server mode is unaffected by the missing library.
	if url := os.Getenv(storetest.EnvServer); url != "" {
		s, err := store.Open(ctx, url, store.DefaultNames)
		if err != nil {
			t.Fatalf("server without libchdb: %v", err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
		t.Log("server store works without libchdb")
	}
	t.Log("child ok")
}

// TestEmbeddedLockedAcrossProcesses opens a folder here and tries it from
// a second process (this test binary again): the second is refused with
// ErrEmbeddedLocked while the first holds it, and opens it once the first
// has closed it.
func TestEmbeddedLockedAcrossProcesses(t *testing.T) {
	if dir := os.Getenv("SEZIM_TEST_LOCK_DIR"); dir != "" {
		// The second process: report what opening the folder gave.
		st, err := store.OpenEmbedded(dir, store.DefaultNames)
		switch {
		case errors.Is(err, store.ErrEmbeddedLocked):
			fmt.Println("result: locked")
		case err != nil:
			fmt.Println("result: error:", err)
		default:
			fmt.Println("result: opened")
			_ = st.Close()
		}
		return
	}
	lib, err := storetest.LibPath()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if os.Getenv("CHDB_LIB_PATH") == "" {
		t.Setenv("CHDB_LIB_PATH", lib)
	}
	dir := t.TempDir()
	second := func() string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestEmbeddedLockedAcrossProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SEZIM_TEST_LOCK_DIR="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("second process: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if r, ok := strings.CutPrefix(line, "result: "); ok {
				return r
			}
		}
		t.Fatalf("second process said nothing:\n%s", out)
		return ""
	}
	st, err := store.OpenEmbedded(dir, store.DefaultNames)
	if err != nil {
		t.Fatal(err)
	}
	if got := second(); got != "locked" {
		_ = st.Close()
		t.Fatalf("second process while the folder is open: %s, want locked", got)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if got := second(); got != "opened" {
		t.Fatalf("second process after Close: %s, want opened", got)
	}
}
