package sessionlog

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// counter is a Work that counts its calls and answers a fixed summary, or
// err.
type counter struct {
	calls int
	sum   Summary
	err   error
}

func (c *counter) work(context.Context) (Summary, error) {
	c.calls++
	if c.err != nil {
		return Summary{}, c.err
	}
	return c.sum, nil
}

func testSummary(n int) Summary {
	return Summary{Accepted: n, Skipped: map[string]int{"bot": 1}, Rejected: 1, Errors: []LineError{{Line: 3, Reason: "bad_line"}}}
}

// clock is a settable clock for the ledger's lease.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestRunBatch drives the protocol on the store's ledger, as two collectors
// sharing one ClickHouse would: once, duplicates, a failed run's claim, the
// lease, and a sole writer's takeover.
func TestRunBatch(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		clk := &clock{t: time.Now()}
		a, b := NewStoreLedger(st, clk.now), NewStoreLedger(st, clk.now)

		// Processed once; a resend to either collector gets the first
		// summary back, marked duplicate, without working again.
		w := &counter{sum: testSummary(7)}
		got, err := RunBatch(ctx, a, "s1", "import/x/0-10", BatchOptions{}, w.work)
		if err != nil || !reflect.DeepEqual(got, w.sum) {
			t.Fatalf("first run: %+v, %v", got, err)
		}
		for _, l := range []Ledger{a, b} {
			got, err = RunBatch(ctx, l, "s1", "import/x/0-10", BatchOptions{}, w.work)
			want := testSummary(7)
			want.Duplicate = true
			if err != nil || !reflect.DeepEqual(got, want) || w.calls != 1 {
				t.Fatalf("resend: %+v, %v after %d calls", got, err, w.calls)
			}
		}
		// The same name on another site is another batch.
		if _, err := RunBatch(ctx, b, "s2", "import/x/0-10", BatchOptions{}, w.work); err != nil || w.calls != 2 {
			t.Fatalf("other site: %v after %d calls", err, w.calls)
		}

		// A failed run leaves its claim: the batch is in progress for
		// everyone until the lease ends, then it is processed again.
		failing := &counter{err: errors.New("insert failed")}
		if _, err := RunBatch(ctx, a, "s1", "b2", BatchOptions{}, failing.work); !errors.Is(err, failing.err) {
			t.Fatalf("failing run: %v", err)
		}
		w = &counter{sum: testSummary(2)}
		for _, l := range []Ledger{a, b} {
			if _, err := RunBatch(ctx, l, "s1", "b2", BatchOptions{}, w.work); !errors.Is(err, ErrInProgress) || w.calls != 0 {
				t.Fatalf("during the lease: %v after %d calls", err, w.calls)
			}
		}
		clk.add(ClaimLease + time.Second)
		if got, err := RunBatch(ctx, b, "s1", "b2", BatchOptions{}, w.work); err != nil || got.Accepted != 2 || w.calls != 1 {
			t.Fatalf("after the lease: %+v, %v after %d calls", got, err, w.calls)
		}

		// A sole writer that finds no trace of the failed run's work takes
		// its claim over at once.
		if _, err := RunBatch(ctx, a, "s1", "b3", BatchOptions{}, failing.work); !errors.Is(err, failing.err) {
			t.Fatalf("failing run: %v", err)
		}
		notLanded := BatchOptions{Landed: func(context.Context) (Summary, bool, error) { return Summary{}, false, nil }}
		w = &counter{sum: testSummary(3)}
		if got, err := RunBatch(ctx, a, "s1", "b3", notLanded, w.work); err != nil || got.Accepted != 3 || w.calls != 1 {
			t.Fatalf("takeover: %+v, %v after %d calls", got, err, w.calls)
		}
		if got, err := RunBatch(ctx, b, "s1", "b3", BatchOptions{}, w.work); err != nil || !got.Duplicate || got.Accepted != 3 {
			t.Fatalf("after the takeover: %+v, %v", got, err)
		}

		// Work that landed before a crash counts once: recorded as done,
		// not done again.
		if _, err := RunBatch(ctx, a, "s1", "b4", BatchOptions{}, failing.work); !errors.Is(err, failing.err) {
			t.Fatalf("failing run: %v", err)
		}
		landed := BatchOptions{Landed: func(context.Context) (Summary, bool, error) { return Summary{Accepted: 5}, true, nil }}
		w = &counter{sum: testSummary(9)}
		if got, err := RunBatch(ctx, a, "s1", "b4", landed, w.work); err != nil || !got.Duplicate || got.Accepted != 5 || w.calls != 0 {
			t.Fatalf("landed: %+v, %v after %d calls", got, err, w.calls)
		}
		clk.add(ClaimLease + time.Second)
		if got, err := RunBatch(ctx, b, "s1", "b4", BatchOptions{}, w.work); err != nil || !got.Duplicate || got.Accepted != 5 || w.calls != 0 {
			t.Fatalf("after landed: %+v, %v after %d calls", got, err, w.calls)
		}
	})
}

// failFinish is a ledger that cannot record outcomes, as when ClickHouse
// goes away between the claim and the "done" row.
type failFinish struct{ *MemoryLedger }

var errGone = errors.New("store gone")

func (f failFinish) Finish(ctx context.Context, c *Claim, s Summary) error {
	c.release()
	return errGone
}

// TestRunBatchMemory: the in-memory ledger, a failed run that frees the
// batch at once, and work that was done but could not be recorded.
func TestRunBatchMemory(t *testing.T) {
	ctx := t.Context()
	m := NewMemoryLedger()
	failing := &counter{err: errors.New("stopped")}
	if _, err := RunBatch(ctx, m, "s", "k", BatchOptions{}, failing.work); !errors.Is(err, failing.err) {
		t.Fatalf("failing run: %v", err)
	}
	w := &counter{sum: testSummary(4)}
	if got, err := RunBatch(ctx, m, "s", "k", BatchOptions{}, w.work); err != nil || got.Accepted != 4 || w.calls != 1 {
		t.Fatalf("after a failed run: %+v, %v after %d calls", got, err, w.calls)
	}
	if got, err := RunBatch(ctx, m, "s", "k", BatchOptions{}, w.work); err != nil || !got.Duplicate || w.calls != 1 {
		t.Fatalf("resend: %+v, %v after %d calls", got, err, w.calls)
	}

	got, err := RunBatch(ctx, failFinish{NewMemoryLedger()}, "s", "k", BatchOptions{}, w.work)
	if !errors.Is(err, ErrUnrecorded) || !errors.Is(err, errGone) || got.Accepted != 4 {
		t.Fatalf("unrecorded: %+v, %v", got, err)
	}
}

// TestRunBatchSerialises: resends of one batch inside one process wait for
// each other, and exactly one of them does the work.
func TestRunBatchSerialises(t *testing.T) {
	m := NewMemoryLedger()
	var mu sync.Mutex
	calls := 0
	work := func(context.Context) (Summary, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		return testSummary(1), nil
	}
	var wg sync.WaitGroup
	dups := make(chan bool, 8)
	for range 8 {
		wg.Go(func() {
			got, err := RunBatch(t.Context(), m, "s", "k", BatchOptions{}, work)
			if err != nil {
				t.Error(err)
			}
			dups <- got.Duplicate
		})
	}
	wg.Wait()
	close(dups)
	n := 0
	for d := range dups {
		if !d {
			n++
		}
	}
	if calls != 1 || n != 1 {
		t.Fatalf("%d calls, %d answers not marked duplicate; want 1 and 1", calls, n)
	}
}
