package sessionlog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// gatedStore holds a ledger's next insert until the test lets it go, so a
// test can put one collector's claim exactly inside another's window.
type gatedStore struct {
	store.Store
	mu      sync.Mutex
	arrived chan struct{} // closed when an insert reaches the gate
	proceed chan struct{} // the insert waits for this
}

func (g *gatedStore) hold() (arrived, proceed chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.arrived, g.proceed = make(chan struct{}), make(chan struct{})
	return g.arrived, g.proceed
}

func (g *gatedStore) Insert(ctx context.Context, table string, cols []string, rows [][]any) error {
	g.mu.Lock()
	arrived, proceed := g.arrived, g.proceed
	g.arrived, g.proceed = nil, nil
	g.mu.Unlock()
	if arrived != nil {
		close(arrived)
		<-proceed
	}
	return g.Store.Insert(ctx, table, cols, rows)
}

// TestLedgerClaimRace races two collectors, each with its own ledger on the
// one shared store, on one batch. B's clock lags A's by a second, which is
// what let both win before: B read the ledger before A's claim landed, and
// its own claim, stamped earlier, then looked like the first. The test
// forces that interleaving and then lets many collectors with skewed clocks
// race freely; the batch's work must run exactly once, and every resend
// must get the first run's summary.
func TestLedgerClaimRace(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		base := time.Now()
		gate := &gatedStore{Store: st}
		a := NewStoreLedger(st, func() time.Time { return base })
		b := NewStoreLedger(gate, func() time.Time { return base.Add(-time.Second) })

		// B reads (nothing yet) and stops before inserting its claim; A
		// claims and wins; then B's claim lands, stamped a second earlier.
		arrived, proceed := gate.hold()
		type result struct {
			c   *Claim
			dup *Summary
			err error
		}
		bDone := make(chan result, 1)
		go func() {
			c, dup, err := b.Begin(ctx, "s1", "k1")
			bDone <- result{c, dup, err}
		}()
		<-arrived
		ca, dup, err := a.Begin(ctx, "s1", "k1")
		if err != nil || dup != nil || ca == nil {
			t.Fatalf("A: claim %v, dup %v, %v", ca, dup, err)
		}
		close(proceed)
		rb := <-bDone
		if !errors.Is(rb.err, ErrInProgress) || rb.c != nil {
			t.Fatalf("B won a batch A holds: claim %v, %v", rb.c, rb.err)
		}
		if err := a.Finish(ctx, ca, testSummary(3)); err != nil {
			t.Fatal(err)
		}
		if _, dup, err := b.Begin(ctx, "s1", "k1"); err != nil || dup == nil || dup.Accepted != 3 {
			t.Fatalf("B after A finished: dup %v, %v", dup, err)
		}

		// Both read, both claim, both look again: both lose, and both
		// withdraw, so the retry is not blocked for the lease.
		gateA := &gatedStore{Store: st}
		a2 := NewStoreLedger(gateA, func() time.Time { return base })
		arrivedA, proceedA := gateA.hold()
		arrivedB, proceedB := gate.hold()
		res := make(chan result, 2)
		for _, l := range []*StoreLedger{a2, b} {
			go func() {
				c, dup, err := l.Begin(ctx, "s1", "k2")
				res <- result{c, dup, err}
			}()
		}
		<-arrivedA
		<-arrivedB
		close(proceedA)
		close(proceedB)
		wins := 0
		for range 2 {
			r := <-res
			switch {
			case r.dup != nil: // the other won and finished first
			case r.c != nil:
				wins++
				if err := a2.Finish(ctx, r.c, testSummary(1)); err != nil {
					t.Fatal(err)
				}
			case !errors.Is(r.err, ErrInProgress):
				t.Fatalf("claim race: %v", r.err)
			}
		}
		if wins > 1 {
			t.Fatalf("%d collectors won one batch", wins)
		}
		if wins == 0 {
			if c, _, err := a.Begin(ctx, "s1", "k2"); err != nil || c == nil {
				t.Fatalf("retry after both lost: %v", err)
			} else if err := a.Finish(ctx, c, testSummary(1)); err != nil {
				t.Fatal(err)
			}
		}

		// Free race: six collectors, clocks up to 2.5 s apart, each
		// resending the batch until it is answered, after a random pause
		// as a sender honouring Retry-After would (claims that meet all
		// lose, so identical pauses could collide forever).
		var calls atomic.Int32
		work := func(context.Context) (Summary, error) {
			calls.Add(1)
			return testSummary(5), nil
		}
		var wg sync.WaitGroup
		firsts := make(chan bool, 6)
		for i := range 6 {
			skew := time.Duration(i)*500*time.Millisecond - 2*time.Second
			l := NewStoreLedger(st, func() time.Time { return time.Now().Add(skew) })
			wg.Go(func() {
				for attempt := 0; ; attempt++ {
					got, err := RunBatch(ctx, l, "s1", "free", BatchOptions{}, work)
					if errors.Is(err, ErrInProgress) && attempt < 100 {
						time.Sleep(time.Duration(rand.IntN(50*(attempt+1))) * time.Millisecond)
						continue
					}
					if err != nil {
						t.Error(fmt.Errorf("collector %d: %w", i, err))
						return
					}
					if got.Accepted != 5 {
						t.Errorf("collector %d: summary %+v", i, got)
					}
					firsts <- !got.Duplicate
					return
				}
			})
		}
		wg.Wait()
		close(firsts)
		n := 0
		for f := range firsts {
			if f {
				n++
			}
		}
		if calls.Load() != 1 || n != 1 {
			t.Fatalf("work ran %d times, %d answers not duplicates; want 1 and 1", calls.Load(), n)
		}
	})
}
