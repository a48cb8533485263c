package consentlog_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/consent/consentlog"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestGroupCommitManyConcurrentAppends appends from many goroutines at once
// and checks that every acknowledged decision is stored exactly once, in
// one chain that verifies.
func TestGroupCommitManyConcurrentAppends(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		l, err := consentlog.Open(st, t.TempDir())
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

// TestGroupCommitFailsWholeGroup holds the first insert while ten decisions
// queue behind it, so they form the next group, then makes that group's
// insert fail: every one of the ten is refused, nothing of it is stored,
// and the chain continues from the last stored row. Then a group whose
// insert is stored but reported as failed (a timeout after the write):
// its decisions are refused, and the next group continues after the rows
// that did land, so the chain still verifies.
func TestGroupCommitFailsWholeGroup(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		fs := &faultyStore{Store: st, entered: make(chan int, 16)}
		l, err := consentlog.Open(fs, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })

		const group = 10
		round := func(mode fault) (rest []error, first error) {
			t.Helper()
			gate := make(chan struct{})
			fs.set(gate, mode)
			firstDone := make(chan error, 1)
			go func() { firstDone <- l.Append(t.Context(), record(0)) }()
			<-fs.entered // the first insert is running and held
			restDone := make(chan error, group)
			for i := range group {
				go func() { restDone <- l.Append(t.Context(), record(i+1)) }()
			}
			waitQueued(t, l, group)
			close(gate)
			first = <-firstDone
			if n := <-fs.entered; n != group {
				t.Fatalf("the queued decisions went out in an insert of %d rows, want one of %d", n, group)
			}
			for range group {
				rest = append(rest, <-restDone)
			}
			return rest, first
		}

		rest, first := round(failBefore)
		if first != nil {
			t.Fatalf("the held insert failed: %v", first)
		}
		for _, err := range rest {
			if !errors.Is(err, errInjected) {
				t.Fatalf("a decision of the failed group was answered with %v", err)
			}
		}
		if n := countRows(t, st, "count()"); n != 1 {
			t.Fatalf("%d rows stored after a failed group, want 1", n)
		}

		rest, _ = round(failAfter)
		for _, err := range rest {
			if !errors.Is(err, errInjected) {
				t.Fatalf("a decision of the failed group was answered with %v", err)
			}
		}
		last := record(99)
		if err := l.Append(t.Context(), last); err != nil {
			t.Fatal(err)
		}
		// 1 + 1 + 10 rows landed before it (the second group was stored
		// although reported failed).
		if last.Seq != 13 {
			t.Fatalf("the chain did not continue after the stored rows: seq %d, want 13", last.Seq)
		}
		reports := verify(t, st)
		if len(reports) != 1 || reports[0].Broken != nil || reports[0].Rows != 13 {
			t.Fatalf("want one intact chain of 13 rows: %+v", reports)
		}
	})
}

// TestAppendWithdrawnWhenCancelledInQueue checks that a decision whose
// request gave up while it was still queued is never written.
func TestAppendWithdrawnWhenCancelledInQueue(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		fs := &faultyStore{Store: st, entered: make(chan int, 16)}
		l, err := consentlog.Open(fs, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		gate := make(chan struct{})
		fs.set(gate, noFault)
		firstDone := make(chan error, 1)
		go func() { firstDone <- l.Append(t.Context(), record(0)) }()
		<-fs.entered
		ctx, cancel := context.WithCancel(t.Context())
		gone := make(chan error, 1)
		go func() { gone <- l.Append(ctx, record(1)) }()
		waitQueued(t, l, 1)
		cancel()
		if err := <-gone; !errors.Is(err, context.Canceled) {
			t.Fatalf("a cancelled append returned %v", err)
		}
		close(gate)
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

// TestGroupStaysInOneMonth queues decisions of two months behind a held
// insert and checks they go out as one insert per month (the table's
// partition), so a group is stored whole or not at all on a server too.
func TestGroupStaysInOneMonth(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		fs := &faultyStore{Store: st, entered: make(chan int, 16)}
		l, err := consentlog.Open(fs, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		gate := make(chan struct{})
		fs.set(gate, noFault)
		done := make(chan error, 6)
		go func() { done <- l.Append(t.Context(), record(0)) }()
		<-fs.entered
		months := []time.Month{time.November, time.November, time.December, time.December, time.December}
		for i, m := range months {
			r := record(i + 1)
			r.Time = time.Date(2026, m, 30, 23, 59, 59, 0, time.UTC)
			go func() { done <- l.Append(t.Context(), r) }()
			waitQueued(t, l, i+1)
		}
		close(gate)
		for range 6 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if a, b := <-fs.entered, <-fs.entered; a != 2 || b != 3 {
			t.Fatalf("inserts of %d and %d rows, want 2 (November) and 3 (December)", a, b)
		}
		if r := verify(t, st); len(r) != 1 || r[0].Broken != nil || r[0].Rows != 6 {
			t.Fatalf("want one intact chain of 6 rows: %+v", r)
		}
	})
}
