package consentlog_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/consent/consentlog"
	"github.com/sezim-analytics/sezim/hashchain"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// keyedChain writes n decisions to a new chain in its own data folder and
// closes it, which ships them and checkpoints the head. It returns the
// chain id and the folder's checkpoint file.
func keyedChain(t *testing.T, st store.Store, n int) (string, string) {
	t.Helper()
	dir := t.TempDir()
	l, err := consentlog.OpenOptions(st, dir, consentlog.Options{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := l.Append(t.Context(), record(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return l.Chain(), filepath.Join(dir, hashchain.CheckpointFile)
}

// TestTamperingIsDetected writes several keyed chains, tampers with each
// in another way directly in ClickHouse (as someone with write access to
// the database but not the key file would), and checks that verify names
// each chain with the right reason while the untouched chain and a chain
// of old unkeyed rows verify.
func TestTamperingIsDetected(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		table := st.DB().Identified + ".consent_log"
		const n = 6
		var files []string
		mk := func() string {
			c, f := keyedChain(t, st, n)
			files = append(files, f)
			return c
		}
		intact, altered, middle, truncated, rewritten, removed := mk(), mk(), mk(), mk(), mk(), mk()

		// Rows written before keyed chains: plain SHA-256, hash_alg ''.
		legacy := strings.Repeat("0", 32)
		var old [][]any
		prev := ""
		for i := range 3 {
			r := record(100 + i)
			r.Chain, r.Seq, r.PrevHash = legacy, uint64(i+1), prev
			r.RowHash = r.Hash()
			prev = r.RowHash
			old = append(old, r.Values())
		}
		if err := st.Insert(t.Context(), table, consentlog.Columns, old); err != nil {
			t.Fatal(err)
		}

		heads, err := hashchain.ReadHeads(testKey, files...)
		if err != nil || heads.Bad != 0 || len(heads.Chains(hashchain.LogConsent)) != 6 {
			t.Fatalf("checkpoints: %+v %v", heads, err)
		}
		reports := verifyWith(t, st, testKey, heads)
		for _, r := range reports {
			if r.Broken != nil {
				t.Fatalf("before tampering, chain %s broken: %+v", r.Chain, r.Broken)
			}
		}

		// The whole chain rewritten with plain SHA-256: read back, then
		// re-chained without the key.
		var rows [][]any
		prev = ""
		err = st.Query(t.Context(), "SELECT receipt FROM "+table+" WHERE chain = "+store.Quote(rewritten)+" ORDER BY seq", func(row store.Row) error {
			r := record(len(rows))
			r.Receipt = row.String(0)
			r.PurposesGranted = "necessary,statistics,identified" // the point of the rewrite
			r.Chain, r.Seq, r.PrevHash = rewritten, uint64(len(rows)+1), prev
			r.RowHash = r.Hash()
			prev = r.RowHash
			rows = append(rows, r.Values())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		Tamper(t, st, table, "", "(chain = "+store.Quote(middle)+" AND seq = 3) OR (chain = "+store.Quote(truncated)+
			" AND seq >= 4) OR chain = "+store.Quote(removed)+" OR chain = "+store.Quote(rewritten))
		if err := st.Insert(t.Context(), table, consentlog.Columns, rows); err != nil {
			t.Fatal(err)
		}
		Tamper(t, st, table, "purposes_granted = 'necessary,statistics,identified'", "chain = "+store.Quote(altered)+" AND seq = 2")

		want := map[string]struct {
			reason string
			seq    uint64
		}{
			intact:    {"", 0},
			legacy:    {"", 0},
			altered:   {hashchain.ReasonAltered, 2},
			middle:    {hashchain.ReasonMissing, 4},
			truncated: {hashchain.ReasonTruncated, 4},
			rewritten: {hashchain.ReasonRewritten, n},
			removed:   {hashchain.ReasonVanished, 1},
		}
		reports = verifyWith(t, st, testKey, heads)
		if len(reports) != len(want) {
			t.Fatalf("%d chains reported, want %d: %+v", len(reports), len(want), reports)
		}
		for _, r := range reports {
			w, ok := want[r.Chain]
			switch {
			case !ok:
				t.Errorf("unexpected chain %s", r.Chain)
			case w.reason == "" && r.Broken != nil:
				t.Errorf("chain %s: want intact, got %+v", r.Chain, r.Broken)
			case w.reason != "" && (r.Broken == nil || r.Broken.Reason != w.reason || r.Broken.Seq != w.seq):
				t.Errorf("chain %s: want %q at seq %d, got %+v", r.Chain, w.reason, w.seq, r.Broken)
			}
		}
		for _, r := range reports {
			if r.Chain == legacy && (r.Unkeyed != 3 || r.Keyed != 0) {
				t.Errorf("old rows not reported as unkeyed: %+v", r)
			}
			if r.Chain == intact && (r.Keyed != n || r.Checkpoint == nil || r.Checkpoint.Seq != n) {
				t.Errorf("intact chain: %+v", r)
			}
		}

		// The wrong key: its checkpoints are refused, and every keyed
		// chain fails at its first row.
		wrong := hashchain.RandomKey()
		wrongHeads, err := hashchain.ReadHeads(wrong, files...)
		if err != nil || wrongHeads.Bad != wrongHeads.Lines || wrongHeads.Lines == 0 {
			t.Fatalf("checkpoints under the wrong key: %+v %v", wrongHeads, err)
		}
		for _, r := range verifyWith(t, st, wrong, wrongHeads) {
			if r.Chain == intact && (r.Broken == nil || r.Broken.Reason != hashchain.ReasonWrongKey || r.Broken.Seq != 1) {
				t.Errorf("wrong key: %+v", r.Broken)
			}
		}
	})
}

func verifyWith(t *testing.T, st store.Store, k *hashchain.Key, heads *hashchain.Heads) []consentlog.ChainReport {
	t.Helper()
	reports, err := consentlog.VerifyWith(t.Context(), st, consentlog.VerifyOptions{Key: k, Heads: heads})
	if err != nil {
		t.Fatal(err)
	}
	return reports
}

// TestJournalUpgradeAndRestart starts from a journal written before keyed
// chains (its rows plain SHA-256, acknowledged but not shipped), opens the
// log on it, appends keyed rows, crashes before shipping, restarts, and
// checks that the chain, old rows and new, ships and verifies with its
// checkpoint.
func TestJournalUpgradeAndRestart(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		dir := t.TempDir()
		chain := strings.Repeat("ab", 16)
		if err := os.WriteFile(filepath.Join(dir, consentlog.StateFile), []byte(`{"chain":"`+chain+`"}`+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		var journal []byte
		prev := ""
		for i := range 2 {
			r := record(i)
			r.Chain, r.Seq, r.PrevHash = chain, uint64(i+1), prev
			r.RowHash = r.Hash()
			prev = r.RowHash
			line, _ := json.Marshal(map[string]any{"chain": r.Chain, "seq": r.Seq, "receipt": r.Receipt, "site": r.Site,
				"ts": r.Time.Unix(), "action": r.Action, "policy_version": r.PolicyVersion, "policy_hash": r.PolicyHash,
				"text_hash": r.TextHash, "lang": r.Lang, "purposes_granted": r.PurposesGranted, "purposes_denied": r.PurposesDenied,
				"services": r.Services, "gpc": r.GPC, "dnt": r.DNT, "ip": r.IP, "browser": r.Browser, "prev_hash": r.PrevHash,
				"row_hash": r.RowHash})
			journal = append(append(journal, line...), '\n')
		}
		if err := os.WriteFile(filepath.Join(dir, consentlog.JournalFile), journal, 0o600); err != nil {
			t.Fatal(err)
		}
		l := unshipped(t, st, dir)
		if seqs := appendConcurrently(t, l, 10, 8); len(seqs) != 8 {
			t.Fatalf("%d of 8 appends answered", len(seqs))
		}
		l.Crash()
		if n := countRows(t, st, "count()"); n != 0 {
			t.Fatalf("%d rows shipped before the crash", n)
		}
		l = unshipped(t, st, dir)
		r := record(20)
		if err := l.Append(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		if r.Seq != 11 || r.Alg != hashchain.AlgHMAC {
			t.Fatalf("after the restart: seq %d, alg %q", r.Seq, r.Alg)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		heads, err := hashchain.ReadHeads(testKey, filepath.Join(dir, hashchain.CheckpointFile))
		if err != nil {
			t.Fatal(err)
		}
		reports := verifyWith(t, st, testKey, heads)
		if len(reports) != 1 || reports[0].Broken != nil || reports[0].Unkeyed != 2 || reports[0].Keyed != 9 ||
			reports[0].Checkpoint == nil || reports[0].Checkpoint.Seq != 11 {
			t.Fatalf("want one intact chain of 2 unkeyed and 9 keyed rows checkpointed at 11: %+v", reports)
		}
		// With another key the journal is refused, not cut as a torn
		// tail: its rows were answered.
		before, _ := os.ReadFile(filepath.Join(dir, consentlog.JournalFile))
		if _, err := consentlog.OpenOptions(st, dir, consentlog.Options{Key: hashchain.RandomKey()}); err == nil || !strings.Contains(err.Error(), "does not verify under the chain key") {
			t.Fatalf("journal opened with another key: %v", err)
		}
		if after, _ := os.ReadFile(filepath.Join(dir, consentlog.JournalFile)); len(before) == 0 || string(after) != string(before) {
			t.Fatal("the journal changed when opened with another key")
		}

		// The newest row removed after all: the checkpoint tells.
		Tamper(t, st, st.DB().Identified+".consent_log", "", "seq = 11")
		if r := verifyWith(t, st, testKey, heads); r[0].Broken == nil || r[0].Broken.Reason != hashchain.ReasonTruncated {
			t.Fatalf("truncation after a restart: %+v", r[0].Broken)
		}
	})
}

// TestRetentionAnchor destroys the oldest rows of a chain as retention
// drops a month, after anchoring them: verify accepts the chain that
// starts right after its anchor, and still names a gap after it. Without
// the anchor the same drop is a gap.
func TestRetentionAnchor(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		dir := t.TempDir()
		l, err := consentlog.OpenOptions(st, dir, consentlog.Options{Key: testKey})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 6 {
			r := record(i)
			r.Time = time.Date(2026, time.Month(10+i/3), 20, 10, 0, i, 0, time.UTC) // three in October, three in November
			if err := l.Append(t.Context(), r); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, hashchain.CheckpointFile)
		table := st.DB().Identified + ".consent_log"
		without, _ := hashchain.ReadHeads(testKey, path)
		cps, err := hashchain.OpenCheckpoints(path, testKey)
		if err != nil {
			t.Fatal(err)
		}
		n, err := hashchain.Anchor(t.Context(), st, table, hashchain.LogConsent, cps, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
		cps.Close()
		if err != nil || n != 1 {
			t.Fatalf("anchored %d chains: %v", n, err)
		}
		with, _ := hashchain.ReadHeads(testKey, path)
		Tamper(t, st, table, "", "toYYYYMM(ts) = 202610")

		if r := verifyWith(t, st, testKey, without); len(r) != 1 || r[0].Broken == nil || r[0].Broken.Reason != hashchain.ReasonMissing {
			t.Fatalf("rows destroyed without an anchor: %+v", r)
		}
		if r := verifyWith(t, st, testKey, with); len(r) != 1 || r[0].Broken != nil || r[0].Pruned != 3 || r[0].Rows != 3 {
			t.Fatalf("rows destroyed after an anchor: %+v", r)
		}
		Tamper(t, st, table, "", "seq = 5")
		if r := verifyWith(t, st, testKey, with); r[0].Broken == nil || r[0].Broken.Reason != hashchain.ReasonMissing || r[0].Broken.Seq != 6 {
			t.Fatalf("a gap after the anchor: %+v", r[0].Broken)
		}
	})
}
