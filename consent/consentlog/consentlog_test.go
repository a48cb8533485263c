package consentlog_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/consent/consentlog"
	"github.com/sezim-analytics/sezim/hashchain"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

func record(i int) *consentlog.Record {
	return &consentlog.Record{
		Receipt: fmt.Sprintf("receipt-%04d", i), Site: "sez", Time: time.Date(2026, 11, 24, 10, 0, i%60, 0, time.UTC),
		Action: consentlog.ActionAcceptAll, PolicyVersion: "2026-01", PolicyHash: strings.Repeat("a", 64),
		TextHash: strings.Repeat("b", 64), Lang: "ru", PurposesGranted: "necessary,statistics",
		PurposesDenied: "functional", Services: "yandex_metrica:RU", GPC: i%3 == 0, IP: "203.0.113.0", Browser: "Chrome",
	}
}

// testKey keys every chain of these tests, so one Verify checks them all,
// as one key shared by every collector of a deployment does.
var testKey = hashchain.RandomKey()

// TestHashCoversEveryColumn changes each column of a row in turn and checks
// that the row's hash changes: the unkeyed hash of old rows and the keyed
// one of new rows alike (hash_alg by switching between them).
func TestHashCoversEveryColumn(t *testing.T) {
	for _, alg := range []string{hashchain.AlgLegacy, hashchain.AlgHMAC} {
		base := record(1)
		base.Alg = alg
		h := base.SumAs(testKey)
		if len(h) != 64 {
			t.Fatalf("hash %q", h)
		}
		if (h == base.Hash()) == hashchain.Keyed(alg) {
			t.Fatalf("alg %q: the keyed hash is the plain one, or the plain one is not", alg)
		}
		hashCoversEveryColumn(t, base, h)
	}
}

func hashCoversEveryColumn(t *testing.T, base *consentlog.Record, h string) {
	t.Helper()
	changes := []func(r *consentlog.Record){
		func(r *consentlog.Record) { r.Chain = "x" },
		func(r *consentlog.Record) { r.Seq++ },
		func(r *consentlog.Record) { r.Receipt += "x" },
		func(r *consentlog.Record) { r.Site += "x" },
		func(r *consentlog.Record) { r.Time = r.Time.Add(time.Second) },
		func(r *consentlog.Record) { r.Action = consentlog.ActionRejectAll },
		func(r *consentlog.Record) { r.PolicyVersion += "x" },
		func(r *consentlog.Record) { r.PolicyHash += "x" },
		func(r *consentlog.Record) { r.TextHash += "x" },
		func(r *consentlog.Record) { r.Lang = "kk" },
		func(r *consentlog.Record) { r.PurposesGranted = "necessary" },
		func(r *consentlog.Record) { r.PurposesDenied = "" },
		func(r *consentlog.Record) { r.Services = "" },
		func(r *consentlog.Record) { r.GPC = !r.GPC },
		func(r *consentlog.Record) { r.DNT = !r.DNT },
		func(r *consentlog.Record) { r.IP = "203.0.114.0" },
		func(r *consentlog.Record) { r.Browser = "Firefox" },
		func(r *consentlog.Record) { r.PrevHash = "x" },
		func(r *consentlog.Record) {
			if r.Alg == hashchain.AlgHMAC {
				r.Alg = hashchain.AlgLegacy
			} else {
				r.Alg = hashchain.AlgHMAC
			}
		},
		// Moving a byte from one field to the next must change the hash.
		func(r *consentlog.Record) { r.PurposesGranted, r.PurposesDenied = "necessary,statistics,", "unctional" },
	}
	if len(changes) < len(consentlog.Columns) {
		t.Fatalf("%d changes for %d columns", len(changes), len(consentlog.Columns))
	}
	for i, change := range changes {
		r := *base
		change(&r)
		if r.SumAs(testKey) == h {
			t.Errorf("alg %q: change %d does not change the hash", base.Alg, i)
		}
	}
}

func verify(t *testing.T, st store.Store) []consentlog.ChainReport {
	t.Helper()
	reports, err := consentlog.VerifyWith(t.Context(), st, consentlog.VerifyOptions{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	return reports
}

// TestChainsVerifyAfterConcurrentWrites appends from two instances (two data
// folders, as two collectors would) with eight goroutines each, verifies
// both chains, then alters one row directly in ClickHouse and checks that
// Verify names it.
func TestChainsVerifyAfterConcurrentWrites(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		logs := make([]*consentlog.Log, 2)
		for i := range logs {
			l, err := consentlog.OpenOptions(st, t.TempDir(), consentlog.Options{Key: testKey})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			logs[i] = l
		}
		const perGoroutine = 5
		var wg sync.WaitGroup
		errs := make(chan error, 16*perGoroutine)
		for i, l := range logs {
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := range perGoroutine {
						if err := l.Append(t.Context(), record(i*1000+g*10+n)); err != nil {
							errs <- err
						}
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for _, l := range logs {
			if err := l.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		reports := verify(t, st)
		if len(reports) != 2 {
			t.Fatalf("want 2 chains, got %+v", reports)
		}
		for _, r := range reports {
			if r.Broken != nil || r.Rows != 8*perGoroutine {
				t.Fatalf("chain %s: %d rows, broken %+v", r.Chain, r.Rows, r.Broken)
			}
		}

		// A restarted instance (same data folder) continues its chain.
		dir := t.TempDir()
		l, err := consentlog.OpenOptions(st, dir, consentlog.Options{Key: testKey})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Append(t.Context(), record(1)); err != nil {
			t.Fatal(err)
		}
		if _, err := consentlog.OpenOptions(st, dir, consentlog.Options{Key: testKey}); err == nil {
			t.Fatal("a second process could open a locked data folder")
		}
		l.Close()
		l, err = consentlog.OpenOptions(st, dir, consentlog.Options{Key: testKey})
		if err != nil {
			t.Fatal(err)
		}
		r2 := record(2)
		if err := l.Append(t.Context(), r2); err != nil {
			t.Fatal(err)
		}
		l.Close()
		if r2.Seq != 2 || r2.Chain != l.Chain() {
			t.Fatalf("restart did not continue the chain: seq %d", r2.Seq)
		}
		if reports := verify(t, st); len(reports) != 3 {
			t.Fatalf("want 3 chains: %+v", reports)
		}

		// Alter one row in place, as someone with write access to
		// ClickHouse could: grant statistics that was denied.
		chain := logs[1].Chain()
		table := st.DB().Identified + ".consent_log"
		Tamper(t, st, table, "purposes_granted = 'necessary,statistics,identified'",
			"chain = "+store.Quote(chain)+" AND seq = 7")
		found := false
		for _, r := range verify(t, st) {
			if r.Chain != chain {
				if r.Broken != nil {
					t.Fatalf("untouched chain %s broken: %+v", r.Chain, r.Broken)
				}
				continue
			}
			found = true
			if r.Broken == nil || r.Broken.Seq != 7 || !strings.HasPrefix(r.Broken.Receipt, "receipt-") || !strings.Contains(r.Broken.Reason, "altered") {
				t.Fatalf("tampered chain: %+v", r.Broken)
			}
		}
		if !found {
			t.Fatal("tampered chain missing")
		}

		// Remove a row of the other chain: the gap is found.
		chain0 := logs[0].Chain()
		Tamper(t, st, table, "", "chain = "+store.Quote(chain0)+" AND seq = 3")
		for _, r := range verify(t, st) {
			if r.Chain == chain0 && (r.Broken == nil || r.Broken.Seq != 4 || !strings.Contains(r.Broken.Reason, "missing")) {
				t.Fatalf("chain with a removed row: %+v", r.Broken)
			}
		}
	})
}

// Tamper alters (set != "") or deletes the rows matching where, with a
// mutation, and waits for it: ClickHouse 18.16 and 26.x both run
// ALTER TABLE ... UPDATE/DELETE asynchronously.
func Tamper(t *testing.T, st store.Store, table, set, where string) {
	t.Helper()
	stmt := "ALTER TABLE " + table + " DELETE WHERE " + where
	if set != "" {
		stmt = "ALTER TABLE " + table + " UPDATE " + set + " WHERE " + where
	}
	if err := st.Exec(t.Context(), stmt); err != nil {
		t.Fatal(err)
	}
	db, name, _ := strings.Cut(table, ".")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		var pending uint64
		err := st.Query(ctx, "SELECT count() FROM system.mutations WHERE database = "+store.Quote(db)+
			" AND table = "+store.Quote(name)+" AND is_done = 0", func(r store.Row) error {
			pending = r.Uint64(0)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("mutation did not finish")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
