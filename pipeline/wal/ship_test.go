package wal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

var errDown = errors.New("store is down (test)")

// flaky wraps a real store: while down, inserts and queries fail; while
// lostAck, an insert is applied but reported as failed (the answer lost).
type flaky struct {
	store.Store
	down, lostAck atomic.Bool
	inserts       atomic.Int64
}

func (f *flaky) Insert(ctx context.Context, table string, cols []string, rows [][]any) error {
	if f.down.Load() {
		return errDown
	}
	if err := f.Store.Insert(ctx, table, cols, rows); err != nil {
		return err
	}
	f.inserts.Add(1)
	if f.lostAck.Load() {
		return errDown
	}
	return nil
}

func (f *flaky) Query(ctx context.Context, q string, fn func(store.Row) error) error {
	if f.down.Load() {
		return errDown
	}
	return f.Store.Query(ctx, q, fn)
}

func countRows(t *testing.T, st store.Store) (rows, batches uint64) {
	t.Helper()
	err := st.Query(t.Context(), "SELECT count(), uniqExact(batch_id) FROM "+st.DB().Stats+".events", func(r store.Row) error {
		rows, batches = r.Uint64(0), r.Uint64(1)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows, batches
}

// writeN writes n events spread over two salt days.
func writeN(t *testing.T, w *WAL, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		e := sample(i)
		if i%3 == 0 {
			e.SaltDay = e.SaltDay.AddDate(0, 0, -1)
		}
		if err := w.Write(&e); err != nil {
			t.Fatal(err)
		}
	}
}

// TestShipReplayNeverDoubles: every way a segment can be shipped again
// (a crash before shipping, an insert whose answer was lost, a crash after
// the inserts but before the file was deleted) leaves exactly N rows.
func TestShipReplayNeverDoubles(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		const n = 1000
		dir := t.TempDir()
		fl := &flaky{Store: st}
		o := Options{Dir: dir, Store: fl, CommitInterval: -1, chunkRows: 150}

		// A crash before anything was shipped, then a replay.
		w := open(t, o)
		writeN(t, w, 0, n)
		w.abandon()
		w = open(t, o)
		if err := w.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if rows, batches := countRows(t, st); rows != n || batches != 8 {
			t.Fatalf("after replay: %d rows in %d batches, want %d in 8", rows, batches, n)
		}

		// The inserts land but their answers are lost, then a crash.
		writeN(t, w, n, n)
		fl.lostAck.Store(true)
		if err := w.Flush(t.Context()); err == nil {
			t.Fatal("flush with lost answers succeeded")
		}
		if err := w.Flush(t.Context()); err == nil { // in-process retry: checks, skips the first chunk, inserts one more
			t.Fatal("flush with lost answers succeeded")
		}
		w.abandon()
		fl.lostAck.Store(false)
		w = open(t, o)
		if err := w.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if rows, _ := countRows(t, st); rows != 2*n {
			t.Fatalf("after lost answers: %d rows, want %d", rows, 2*n)
		}
		if testutil.ToFloat64(w.ship.skipped) == 0 {
			t.Fatal("the replay skipped no batch")
		}

		// Everything inserted, then a crash before the file was deleted.
		writeN(t, w, 2*n, n)
		w.sealIfOld(0)
		seg := w.firstSealed()
		kept, _ := os.ReadFile(seg.path)
		if err := w.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		w.abandon()
		_ = os.WriteFile(seg.path, kept, 0o600)
		before := fl.inserts.Load()
		w = open(t, o)
		if err := w.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if rows, _ := countRows(t, st); rows != 3*n {
			t.Fatalf("after a lost delete: %d rows, want %d", rows, 3*n)
		}
		if fl.inserts.Load() != before {
			t.Fatal("a replay of a shipped segment inserted")
		}
		if b, segs := w.Pending(); b != 0 || segs != 0 {
			t.Fatalf("pending %d bytes in %d segments after shipping", b, segs)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "*"+segExt)); len(left) != 0 {
			t.Fatalf("segments left: %v", left)
		}
	})
}

// TestStoreDown: while the store fails, the log grows to MaxBytes and then
// refuses events with ErrBackpressure, readiness goes red; when the store
// returns, everything acknowledged drains and writes are taken again.
func TestStoreDown(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		fl := &flaky{Store: st}
		fl.down.Store(true)
		w := open(t, Options{Dir: t.TempDir(), Store: fl, CommitInterval: -1, MaxBytes: 64 << 10, SegmentBytes: 16 << 10,
			StoreDownAfter: time.Nanosecond})
		acked := 0
		for i := range 10_000 {
			e := sample(i)
			err := w.Write(&e)
			if errors.Is(err, pipeline.ErrBackpressure) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			acked++
			if i%100 == 0 {
				if err := w.Flush(t.Context()); !errors.Is(err, errDown) {
					t.Fatalf("flush while down: %v", err)
				}
			}
		}
		b, segs := w.Pending()
		if acked == 10_000 || b > 64<<10 || segs < 2 {
			t.Fatalf("%d acked, %d bytes in %d segments", acked, b, segs)
		}
		if err := w.Ready(t.Context()); err == nil {
			t.Fatal("ready while full and the store down")
		}
		fl.down.Store(false)
		if err := w.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if rows, _ := countRows(t, st); rows != uint64(acked) {
			t.Fatalf("%d rows, %d acknowledged", rows, acked)
		}
		if err := w.Ready(t.Context()); err != nil {
			t.Fatalf("not ready after draining: %v", err)
		}
		e := sample(1)
		if err := w.Write(&e); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if rows, _ := countRows(t, st); rows != uint64(acked)+1 {
			t.Fatalf("%d rows after close, want %d", rows, acked+1)
		}
	})
}

// TestShipperRuns: without Flush, the shipper seals and ships on its own.
func TestShipperRuns(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		w := open(t, Options{Dir: t.TempDir(), Store: st, SealAfter: 50 * time.Millisecond})
		writeN(t, w, 0, 100)
		deadline := time.Now().Add(20 * time.Second)
		for {
			if rows, _ := countRows(t, st); rows == 100 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("not shipped in 20 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
