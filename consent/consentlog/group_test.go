package consentlog_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sezim-analytics/sezim/consent/consentlog"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestGroupCommitManyConcurrentAppends appends from many goroutines at once
// and checks that every acknowledged decision is stored exactly once, in
// one chain that verifies.
func TestGroupCommitManyConcurrentAppends(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		l, err := consentlog.OpenOptions(st, t.TempDir(), consentlog.Options{Key: testKey})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		const goroutines, each = 64, 12
		var wg sync.WaitGroup
		errs := make(chan error, goroutines*each)
		seqs := make(chan uint64, goroutines*each)
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range each {
					r := record(g*100 + n)
					r.Receipt = fmt.Sprintf("g%02d-n%02d", g, n)
					if err := l.Append(t.Context(), r); err != nil {
						errs <- err
						continue
					}
					seqs <- r.Seq
				}
			}()
		}
		wg.Wait()
		close(errs)
		close(seqs)
		for err := range errs {
			t.Fatal(err)
		}
		if err := l.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		seen := map[uint64]bool{}
		for s := range seqs {
			if seen[s] || s == 0 || s > goroutines*each {
				t.Fatalf("seq %d handed out twice or out of range", s)
			}
			seen[s] = true
		}
		reports := verify(t, st)
		if len(reports) != 1 || reports[0].Broken != nil || reports[0].Rows != goroutines*each {
			t.Fatalf("want one intact chain of %d rows: %+v", goroutines*each, reports)
		}
		if n := countRows(t, st, "count(DISTINCT receipt)"); n != goroutines*each {
			t.Fatalf("%d distinct receipts stored, want %d", n, goroutines*each)
		}
	})
}

// held opens a log on fs that ships only when flushed, whose writer stops
// before each group until it receives from the returned channel, and
// reports each group's size on sizes.
func held(t *testing.T, fs store.Store, dir string) (l *consentlog.Log, release chan struct{}, sizes chan int) {
	t.Helper()
	l, err := consentlog.OpenOptions(fs, dir, consentlog.Options{Key: testKey, ShipInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	release, sizes = make(chan struct{}), make(chan int, 64)
	l.Hold(func(n int) {
		sizes <- n
		<-release
	})
	return l, release, sizes
}

// TestGroupCommit holds the first group while ten decisions queue behind
// it and checks that they are journaled as one group, in one chain.
func TestGroupCommit(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		l, release, sizes := held(t, st, t.TempDir())
		const group = 10
		done := make(chan error, group+1)
		go func() { done <- l.Append(t.Context(), record(0)) }()
		<-sizes
		for i := range group {
			go func() { done <- l.Append(t.Context(), record(i+1)) }()
		}
		waitQueued(t, l, group)
		close(release)
		for range group + 1 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if n := <-sizes; n != group {
			t.Fatalf("the queued decisions were journaled in a group of %d, want %d", n, group)
		}
		if err := l.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if r := verify(t, st); len(r) != 1 || r[0].Broken != nil || r[0].Rows != group+1 {
			t.Fatalf("want one intact chain of %d rows: %+v", group+1, r)
		}
	})
}

// TestShipFailsThenSucceeds makes the shipper's insert fail, first without
// writing, then after writing (an uncertain outcome, as a timeout after the
// write): the decisions are answered regardless, since the journal holds
// them; the next pass ships every row exactly once, and the chain
// verifies.
func TestShipFailsThenSucceeds(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		fs := &faultyStore{Store: st, entered: make(chan int, 16)}
		reg := prometheus.NewRegistry()
		l, err := consentlog.OpenOptions(fs, t.TempDir(), consentlog.Options{Key: testKey, ShipInterval: time.Hour, Reg: reg})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		appendN := func(from, n int) {
			t.Helper()
			for i := range n {
				if err := l.Append(t.Context(), record(from+i)); err != nil {
					t.Fatalf("append while the store fails: %v", err)
				}
			}
		}
		appendN(0, 5)
		fs.set(nil, failBefore)
		if err := l.Flush(t.Context()); !errors.Is(err, errInjected) {
			t.Fatalf("flush with a failing insert: %v", err)
		}
		if n := countRows(t, st, "count()"); n != 0 {
			t.Fatalf("%d rows stored by a failed insert", n)
		}
		appendN(5, 5)
		fs.set(nil, failAfter)
		if err := l.Flush(t.Context()); !errors.Is(err, errInjected) {
			t.Fatalf("flush with an insert that fails after writing: %v", err)
		}
		appendN(10, 3)
		if err := l.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, st, "count()"); n != 13 {
			t.Fatalf("%d rows stored, want 13, each once", n)
		}
		want := `
# HELP sezim_consentlog_ship_errors_total Failed inserts of journaled consent decisions into the store (they are retried).
# TYPE sezim_consentlog_ship_errors_total counter
sezim_consentlog_ship_errors_total 2
# HELP sezim_consentlog_unshipped_rows Consent decisions in the journal not yet in the store.
# TYPE sezim_consentlog_unshipped_rows gauge
sezim_consentlog_unshipped_rows 0
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sezim_consentlog_ship_errors_total", "sezim_consentlog_unshipped_rows"); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, st, "count(DISTINCT seq)"); n != 13 {
			t.Fatalf("%d distinct seqs stored, want 13", n)
		}
		if r := verify(t, st); len(r) != 1 || r[0].Broken != nil || r[0].Rows != 13 {
			t.Fatalf("want one intact chain of 13 rows: %+v", r)
		}
	})
}

// TestAppendWithdrawnWhenCancelledInQueue checks that a decision whose
// request gave up while it was still queued is never written.
func TestAppendWithdrawnWhenCancelledInQueue(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		l, release, sizes := held(t, st, t.TempDir())
		firstDone := make(chan error, 1)
		go func() { firstDone <- l.Append(t.Context(), record(0)) }()
		<-sizes
		ctx, cancel := context.WithCancel(t.Context())
		gone := make(chan error, 1)
		go func() { gone <- l.Append(ctx, record(1)) }()
		waitQueued(t, l, 1)
		cancel()
		if err := <-gone; !errors.Is(err, context.Canceled) {
			t.Fatalf("a cancelled append returned %v", err)
		}
		close(release)
		if err := <-firstDone; err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := l.Append(t.Context(), record(2)); !errors.Is(err, consentlog.ErrClosed) {
			t.Fatalf("append after Close: %v", err)
		}
		if n := countRows(t, st, "count()"); n != 1 {
			t.Fatalf("%d rows stored, want 1 (the withdrawn decision must not be written)", n)
		}
	})
}

type fault int

const (
	noFault    fault = iota
	failBefore       // the insert fails without writing
	failAfter        // the insert writes, then reports an error
)

var errInjected = errors.New("injected insert failure")

// faultyStore is a real store whose next insert can be held at a gate and
// whose insert after that can fail. entered receives each insert's row
// count as it starts.
type faultyStore struct {
	store.Store
	mu      sync.Mutex
	gate    chan struct{}
	next    fault
	entered chan int
}

func (f *faultyStore) set(gate chan struct{}, next fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gate, f.next = gate, next
}

func (f *faultyStore) Insert(ctx context.Context, table string, cols []string, rows [][]any) error {
	f.mu.Lock()
	gate := f.gate
	mode := noFault
	if gate == nil {
		mode, f.next = f.next, noFault
	}
	f.gate = nil
	f.mu.Unlock()
	f.entered <- len(rows)
	if gate != nil {
		<-gate
	}
	switch mode {
	case failBefore:
		return errInjected
	case failAfter:
		if err := f.Store.Insert(ctx, table, cols, rows); err != nil {
			return err
		}
		return errInjected
	}
	return f.Store.Insert(ctx, table, cols, rows)
}

// waitQueued waits until n decisions are queued. It polls the queue's
// length rather than sleeping a guessed time, so a slow machine only makes
// it wait longer.
func waitQueued(t *testing.T, l *consentlog.Log, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for l.Queued() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d decisions queued after a minute", l.Queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func countRows(t *testing.T, st store.Store, expr string) uint64 {
	t.Helper()
	var n uint64
	err := st.Query(t.Context(), "SELECT toUInt64("+expr+") FROM "+st.DB().Identified+".consent_log", func(r store.Row) error {
		n = r.Uint64(0)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestShipStaysInOneMonth journals decisions of two months and checks
// that the shipper inserts them as one insert per month (the table's
// partition), so an insert is stored whole or not at all on a server too.
func TestShipStaysInOneMonth(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		fs := &faultyStore{Store: st, entered: make(chan int, 16)}
		l, err := consentlog.OpenOptions(fs, t.TempDir(), consentlog.Options{Key: testKey, ShipInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		months := []time.Month{time.November, time.November, time.November, time.December, time.December, time.December}
		for i, m := range months {
			r := record(i)
			r.Time = time.Date(2026, m, 30, 23, 59, 59, 0, time.UTC)
			if err := l.Append(t.Context(), r); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if a, b := <-fs.entered, <-fs.entered; a != 3 || b != 3 {
			t.Fatalf("inserts of %d and %d rows, want 3 (November) and 3 (December)", a, b)
		}
		if r := verify(t, st); len(r) != 1 || r[0].Broken != nil || r[0].Rows != 6 {
			t.Fatalf("want one intact chain of 6 rows: %+v", r)
		}
	})
}
