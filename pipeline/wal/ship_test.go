package wal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

var errDown = errors.New("store is down (test)")

// flaky wraps a real store: while down, inserts and queries fail; while
// lostAck, an insert is applied but reported as failed (the answer lost).
// idDown fails inserts into the identified table only; idPartial applies
// an identified insert to the month of its first row only, and fails, as
// an insert spanning partitions may when the server dies halfway.
type flaky struct {
	store.Store
	down, lostAck     atomic.Bool
	idDown, idPartial atomic.Bool
	inserts           atomic.Int64
}

func (f *flaky) Insert(ctx context.Context, table string, cols []string, rows [][]any) error {
	if f.down.Load() {
		return errDown
	}
	if strings.HasPrefix(table, f.DB().Identified+".") {
		if f.idDown.Load() {
			return errDown
		}
		if f.idPartial.Load() {
			month := func(r []any) time.Month { return r[1].(time.Time).Month() }
			var some [][]any
			for _, r := range rows {
				if month(r) == month(rows[0]) {
					some = append(some, r)
				}
			}
			if err := f.Store.Insert(ctx, table, cols, some); err != nil {
				return err
			}
			f.inserts.Add(1)
			return errDown
		}
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

// writeConsented writes n events like writeN, every other one consented
// with its identity; of those, every third happened in the month before
// (an imported log line), so a chunk's identified rows span two
// partitions.
func writeConsented(t *testing.T, w *WAL, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		e := sample(i)
		if i%3 == 0 {
			e.SaltDay = e.SaltDay.AddDate(0, 0, -1)
		}
		if i%2 == 1 {
			if err := w.Write(&e); err != nil {
				t.Fatal(err)
			}
			continue
		}
		e.Tier = event.TierConsented
		if i%6 == 0 {
			e.Time = e.Time.AddDate(0, -1, 0)
		}
		id := sampleID(i)
		if err := w.WriteConsented(&e, &id); err != nil {
			t.Fatal(err)
		}
	}
}

// countBoth reads the events and the identified rows, and how many
// identified rows have no event of the same batch and path, or twins.
func countBoth(t *testing.T, st store.Store) (events, identified, orphans, doubled uint64) {
	t.Helper()
	events, _ = countRows(t, st)
	db := st.DB()
	q := fmt.Sprintf("SELECT count(), countIf((batch_id, path) NOT IN (SELECT batch_id, path FROM %s.events)) FROM %s.events", db.Stats, db.Identified)
	err := st.Query(t.Context(), q, func(r store.Row) error {
		identified, orphans = r.Uint64(0), r.Uint64(1)
		return nil
	})
	if err == nil {
		q = fmt.Sprintf("SELECT count() FROM (SELECT path, visitor_id, count() AS n FROM %s.events GROUP BY path, visitor_id HAVING n > 1)", db.Identified)
		err = st.Query(t.Context(), q, func(r store.Row) error {
			doubled = r.Uint64(0)
			return nil
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return events, identified, orphans, doubled
}

// TestShipConsentedReplayNeverDoubles: consented events and their
// identified rows ship together, under the same batch ids; whichever
// insert fails or loses its answer (the identified one, both, or an
// identified insert that landed in one of its two month partitions
// only), the segment stays until both tables hold it, and a replay leaves
// every row exactly once in each table.
func TestShipConsentedReplayNeverDoubles(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		const n = 600 // per step: 300 consented, 100 of them a month earlier
		dir := t.TempDir()
		fl := &flaky{Store: st}
		o := Options{Dir: dir, Store: fl, CommitInterval: -1, chunkRows: 150}
		want := func(step string, events uint64) {
			t.Helper()
			ev, id, orphans, doubled := countBoth(t, st)
			if ev != events || id != events/2 || orphans != 0 || doubled != 0 {
				t.Fatalf("%s: %d events, %d identified rows (%d without their event, %d twice); want %d and %d",
					step, ev, id, orphans, doubled, events, events/2)
			}
		}

		// A crash before anything was shipped, then a replay.
		w := open(t, o)
		writeConsented(t, w, 0, n)
		w.abandon()
		w = open(t, o)
		if err := w.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		want("after a replay", n)

		// The identified table refuses: the events land, the segment
		// stays, and a crash later the replay adds only the rows.
		writeConsented(t, w, n, n)
		fl.idDown.Store(true)
		if err := w.Flush(t.Context()); err == nil {
			t.Fatal("flush with the identified table down succeeded")
		}
		if _, segs := w.Pending(); segs == 0 {
			t.Fatal("a segment was deleted before the identified table took it")
		}
		w.abandon()
		fl.idDown.Store(false)
		w = open(t, o)
		if err := w.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		want("after the identified table came back", 2*n)

		// Both tables take the inserts but the answers are lost.
		writeConsented(t, w, 2*n, n)
		fl.lostAck.Store(true)
		for range 3 { // each retry checks, skips what landed, inserts one more
			if err := w.Flush(t.Context()); err == nil {
				t.Fatal("flush with lost answers succeeded")
			}
		}
		fl.lostAck.Store(false)
		if err := w.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		want("after lost answers", 3*n)

		// An identified insert lands in one of its month partitions only.
		writeConsented(t, w, 3*n, n)
		fl.idPartial.Store(true)
		if err := w.Flush(t.Context()); err == nil {
			t.Fatal("flush with a partial insert succeeded")
		}
		fl.idPartial.Store(false)
		w.abandon()
		w = open(t, o)
		if err := w.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		want("after a partial insert", 4*n)

		// Everything shipped, then a crash before the file was deleted:
		// the replay inserts nothing.
		writeConsented(t, w, 4*n, n)
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
		if fl.inserts.Load() != before {
			t.Fatal("a replay of a shipped segment inserted")
		}
		want("after a lost delete", 5*n)
		if b, segs := w.Pending(); b != 0 || segs != 0 {
			t.Fatalf("pending %d bytes in %d segments after shipping", b, segs)
		}

		// What the identified table holds is the identity the log was
		// given: the truncated address, the visitor and user ids.
		db := st.DB()
		q := fmt.Sprintf("SELECT ip, visitor_id, user_id FROM %s.events WHERE path = %s AND visitor_id = %s",
			db.Identified, store.Quote(sample(2).Path), store.Quote(sampleID(2).VisitorID))
		var got [3]string
		if err := st.Query(t.Context(), q, func(r store.Row) error {
			got = [3]string{r.String(0), r.String(1), r.String(2)}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if id := sampleID(2); got != [3]string{"2001:db8:abcd::", id.VisitorID, id.UserID} {
			t.Fatalf("identified row %q", got)
		}
	})
}

// TestShipVersion1Segment: a segment written before consented rows went
// through the log (format version 1: no identity byte) still ships.
func TestShipVersion1Segment(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		dir := t.TempDir()
		b := appendHeader(nil, 1, 7)
		for i := range 10 {
			e := sample(i)
			var at int
			b, at = appendFrame(b)
			b = appendEvent(b, &e, nil)
			b = b[:len(b)-2] // version 1 has no identity byte and no properties
			finishFrame(b, at)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, segName(3)), b, 0o600); err != nil {
			t.Fatal(err)
		}
		w := open(t, Options{Dir: dir, Store: st, CommitInterval: -1})
		if err := w.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if ev, id, _, _ := countBoth(t, st); ev != 10 || id != 0 {
			t.Fatalf("%d events and %d identified rows from a version 1 segment, want 10 and 0", ev, id)
		}
		// New segments are the current version.
		e := sample(1)
		if err := w.Write(&e); err != nil {
			t.Fatal(err)
		}
		w.sealIfOld(0)
		data, _ := os.ReadFile(w.firstSealed().path)
		if v := binary.LittleEndian.Uint16(data[4:]); v != version {
			t.Fatalf("new segment has version %d", v)
		}
	})
}
