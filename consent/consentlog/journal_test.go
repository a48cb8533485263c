package consentlog_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/consent/consentlog"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// unshipped opens a log that ships only when flushed or closed.
func unshipped(t *testing.T, st store.Store, dir string) *consentlog.Log {
	t.Helper()
	l, err := consentlog.OpenOptions(st, dir, consentlog.Options{Key: testKey, ShipInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// appendConcurrently appends n decisions from 8 goroutines and returns
// their seqs.
func appendConcurrently(t *testing.T, l *consentlog.Log, from, n int) []uint64 {
	t.Helper()
	var mu sync.Mutex
	var seqs []uint64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 8 {
				r := record(from + i)
				if err := l.Append(t.Context(), r); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seqs = append(seqs, r.Seq)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return seqs
}

// wantChain checks that the store holds one intact chain of n rows, each
// seq once.
func wantChain(t *testing.T, st store.Store, n uint64) {
	t.Helper()
	if r := verify(t, st); len(r) != 1 || r[0].Broken != nil || r[0].Rows != n {
		t.Fatalf("want one intact chain of %d rows: %+v", n, r)
	}
	if got := countRows(t, st, "count(DISTINCT seq)"); got != n {
		t.Fatalf("%d distinct seqs for %d rows", got, n)
	}
}

// TestCrashBeforeShipping appends concurrently, stops the log as a killed
// process would (nothing shipped), and opens a new one on the same folder:
// every answered decision reaches the store once, and the chain continues.
// Then a crash after part of the journal was shipped.
func TestCrashBeforeShipping(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		dir := t.TempDir()
		l := unshipped(t, st, dir)
		if seqs := appendConcurrently(t, l, 0, 80); len(seqs) != 80 {
			t.Fatalf("%d of 80 appends answered", len(seqs))
		}
		l.Crash()
		if n := countRows(t, st, "count()"); n != 0 {
			t.Fatalf("%d rows shipped before the crash", n)
		}

		l = unshipped(t, st, dir)
		if err := l.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		wantChain(t, st, 80)
		appendConcurrently(t, l, 100, 16)
		if err := l.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		appendConcurrently(t, l, 200, 16) // journaled, not shipped
		l.Crash()

		l = unshipped(t, st, dir)
		r := record(300)
		if err := l.Append(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		if r.Seq != 113 {
			t.Fatalf("the chain continued at seq %d, want 113", r.Seq)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		wantChain(t, st, 113)

		// With everything shipped, Close left only the head in the
		// journal.
		data, err := os.ReadFile(filepath.Join(dir, consentlog.JournalFile))
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(data, []byte("\n")); n != 1 || !bytes.Contains(data, []byte(`"seq":113,`)) {
			t.Fatalf("journal after a full ship holds %d lines:\n%s", n, data)
		}

		// The journal lost: the chain continues after the store's head.
		if err := os.Remove(filepath.Join(dir, consentlog.JournalFile)); err != nil {
			t.Fatal(err)
		}
		l = unshipped(t, st, dir)
		r = record(301)
		if err := l.Append(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if r.Seq != 114 {
			t.Fatalf("without a journal the chain continued at seq %d, want 114", r.Seq)
		}
		wantChain(t, st, 114)
	})
}

// TestTornTail cuts the journal's last line short, as a crash during a
// write would, and checks that Open cuts it off and the chain continues
// from the last whole row. A damaged line with whole rows after it is not
// a torn tail: Open refuses it rather than drop answered rows.
func TestTornTail(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		dir := t.TempDir()
		path := filepath.Join(dir, consentlog.JournalFile)
		l := unshipped(t, st, dir)
		appendConcurrently(t, l, 0, 4)
		l.Crash()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(string(data), "\n")
		torn := lines[1][:len(lines[1])/2] // half a row, no newline
		if err := os.WriteFile(path, append(data, torn...), 0o600); err != nil {
			t.Fatal(err)
		}

		l = unshipped(t, st, dir)
		r := record(10)
		if err := l.Append(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		if r.Seq != 5 {
			t.Fatalf("after a torn tail the chain continued at seq %d, want 5", r.Seq)
		}
		if err := l.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		wantChain(t, st, 5)
		l.Crash()

		data, err = os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		damaged := strings.Replace(string(data), `"receipt":"receipt-`, `"receipt":"RECEIPT-`, 1)
		if err := os.WriteFile(path, []byte(damaged), 0o600); err != nil {
			t.Fatal(err)
		}
		if l, err := consentlog.OpenOptions(st, dir, consentlog.Options{Key: testKey}); err == nil || !strings.Contains(err.Error(), "damaged") {
			if l != nil {
				l.Close()
			}
			t.Fatalf("a journal damaged in the middle opened: %v", err)
		}

		// The chain id lost but the journal kept: its rows are another
		// chain's now, and are not cut as a torn tail.
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(dir, consentlog.StateFile)); err != nil {
			t.Fatal(err)
		}
		if l, err := consentlog.OpenOptions(st, dir, consentlog.Options{Key: testKey}); err == nil || !strings.Contains(err.Error(), "rows of chain") {
			if l != nil {
				l.Close()
			}
			t.Fatalf("a journal of another chain opened: %v", err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
			t.Fatal("opening a journal of another chain changed it")
		}
	})
}
