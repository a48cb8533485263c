package staff

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/hashchain"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// keyedAuditor returns an Auditor keyed with k whose checkpoints go to a
// new file, and that file's path.
func keyedAuditor(t *testing.T, st store.Store, k *hashchain.Key, now func() time.Time) (*Auditor, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), hashchain.CheckpointFile)
	cps, err := hashchain.OpenCheckpoints(path, k)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cps.Close() })
	return NewAuditorOptions(AuditorOptions{Store: st, Now: now, Key: k, Checkpoints: cps}), path
}

// tamper runs an ALTER TABLE mutation on the audit log and waits for it.
func tamper(t *testing.T, st store.Store, stmt string) {
	t.Helper()
	if err := st.Exec(t.Context(), "ALTER TABLE "+st.DB().Staff+".audit_log "+stmt); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		var pending uint64
		err := st.Query(ctx, "SELECT count() FROM system.mutations WHERE database = "+store.Quote(st.DB().Staff)+
			" AND table = 'audit_log' AND is_done = 0", func(r store.Row) error {
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

// TestAuditChainsDetectTampering writes audit rows from several Auditors
// (as several processes would, concurrently), then tampers with each chain
// in another way in ClickHouse and checks that VerifyAudit names each with
// the right reason; rows from before the audit log had chains are counted,
// not failed.
func TestAuditChainsDetectTampering(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		k := hashchain.RandomKey()
		base := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
		var files []string
		auditors := make([]*Auditor, 6)
		for i := range auditors {
			a, f := keyedAuditor(t, st, k, func() time.Time { return base.Add(time.Duration(i) * time.Minute) })
			auditors[i], files = a, append(files, f)
		}
		var wg sync.WaitGroup
		for i, a := range auditors {
			for g := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := range 2 {
						e := AuditEntry{Actor: "user" + strconv.Itoa(i), Action: AuditViewIdentified, Target: "receipt-" + strconv.Itoa(g*10+n), Outcome: "ok"}
						if err := a.Record(t.Context(), e); err != nil {
							t.Error(err)
						}
					}
				}()
			}
		}
		wg.Wait()
		// A row from before chains: no chain fields at all.
		if err := st.Insert(t.Context(), st.DB().Staff+".audit_log", []string{"ts", "actor", "action", "target", "outcome", "client", "detail"},
			[][]any{{base, "admin", AuditSignIn, "admin", "ok", "203.0.113.0", ""}}); err != nil {
			t.Fatal(err)
		}
		heads, err := hashchain.ReadHeads(k, files...)
		if err != nil || heads.Bad != 0 || len(heads.Chains(hashchain.LogAudit)) != 6 {
			t.Fatalf("checkpoints: %+v %v", heads, err)
		}
		v, err := VerifyAudit(t.Context(), st, k, heads)
		if err != nil || v.Broken() != 0 || len(v.Chains) != 6 || v.Unchained != 1 {
			t.Fatalf("untampered: %+v %v", v, err)
		}
		for _, c := range v.Chains {
			if c.Rows != 6 || c.Keyed != 6 || c.Checkpoint == nil || c.Checkpoint.Seq != 6 {
				t.Fatalf("chain %+v", c)
			}
		}

		intact, altered, middle, truncated, rewritten, removed := auditors[0].Chain(), auditors[1].Chain(), auditors[2].Chain(),
			auditors[3].Chain(), auditors[4].Chain(), auditors[5].Chain()
		// Rewritten without the key: every row re-hashed with plain
		// SHA-256, one row's actor changed.
		rows, err := auditors[4].Query(t.Context(), AuditFilter{Actor: "user4"})
		if err != nil || len(rows) != 6 {
			t.Fatalf("rows of the chain to rewrite: %d %v", len(rows), err)
		}
		var values [][]any
		prev := ""
		for i := len(rows) - 1; i >= 0; i-- { // oldest first
			e := rows[i]
			if e.Seq == 3 {
				e.Actor = "someone-else"
			}
			e.PrevHash, e.Alg = prev, hashchain.AlgSHA256
			e.RowHash = e.sum(nil)
			prev = e.RowHash
			values = append(values, []any{e.Time, e.Actor, e.Action, e.Target, e.Outcome, e.Client, e.Detail, e.Attempts,
				e.Chain, e.Seq, e.PrevHash, e.RowHash, e.Alg})
		}
		tamper(t, st, "DELETE WHERE (chain = "+store.Quote(middle)+" AND seq = 3) OR (chain = "+store.Quote(truncated)+
			" AND seq >= 5) OR chain = "+store.Quote(removed)+" OR chain = "+store.Quote(rewritten))
		if err := st.Insert(t.Context(), st.DB().Staff+".audit_log", auditColumns, values); err != nil {
			t.Fatal(err)
		}
		tamper(t, st, "UPDATE target = 'nobody' WHERE chain = "+store.Quote(altered)+" AND seq = 4")

		want := map[string]struct {
			reason string
			seq    uint64
		}{
			intact:    {"", 0},
			altered:   {hashchain.ReasonAltered, 4},
			middle:    {hashchain.ReasonMissing, 4},
			truncated: {hashchain.ReasonTruncated, 5},
			rewritten: {hashchain.ReasonRewritten, 6},
			removed:   {hashchain.ReasonVanished, 1},
		}
		if v, err = VerifyAudit(t.Context(), st, k, heads); err != nil {
			t.Fatal(err)
		}
		if len(v.Chains) != len(want) || v.Broken() != len(want)-1 {
			t.Fatalf("%d chains, %d broken: %+v", len(v.Chains), v.Broken(), v.Chains)
		}
		for _, c := range v.Chains {
			w := want[c.Chain]
			if w.reason == "" && c.Broken != nil || w.reason != "" && (c.Broken == nil || c.Broken.Reason != w.reason || c.Broken.Seq != w.seq) {
				t.Errorf("chain %s: want %q at %d, got %+v", c.Chain, w.reason, w.seq, c.Broken)
			}
		}

		// The wrong key refuses the checkpoints and fails the intact
		// chain at its first row.
		wrong := hashchain.RandomKey()
		wrongHeads, _ := hashchain.ReadHeads(wrong, files...)
		if wrongHeads.Bad == 0 || wrongHeads.Bad != wrongHeads.Lines {
			t.Fatalf("checkpoints under the wrong key: %+v", wrongHeads)
		}
		v, _ = VerifyAudit(t.Context(), st, wrong, wrongHeads)
		for _, c := range v.Chains {
			if c.Chain == intact && (c.Broken == nil || c.Broken.Reason != hashchain.ReasonWrongKey) {
				t.Errorf("wrong key: %+v", c.Broken)
			}
		}
	})
}

// TestAuditChainAfterFailedInsert makes one insert fail and checks that
// the next continues the chain where the store ends, so it still verifies.
func TestAuditChainAfterFailedInsert(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		k := hashchain.RandomKey()
		a, path := keyedAuditor(t, st, k, nil)
		rec := func(ctx context.Context, target string) error {
			return a.Record(ctx, AuditEntry{Actor: "admin", Action: AuditUserChanged, Target: target, Outcome: "ok"})
		}
		if err := rec(t.Context(), "a"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := rec(ctx, "b"); err == nil {
			t.Fatalf("insert with a cancelled context: %v", err)
		}
		if err := rec(t.Context(), "c"); err != nil {
			t.Fatal(err)
		}
		heads, _ := hashchain.ReadHeads(k, path)
		v, err := VerifyAudit(t.Context(), st, k, heads)
		if err != nil || len(v.Chains) != 1 || v.Chains[0].Broken != nil || v.Chains[0].Rows != 2 {
			t.Fatalf("%+v %v", v, err)
		}
	})
}

// TestAuditQueryAndExport reads the audit log newest first with each
// filter, and exports it as CSV and JSON.
func TestAuditQueryAndExport(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		base := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
		a, _ := keyedAuditor(t, st, hashchain.RandomKey(), nil)
		entries := []AuditEntry{
			{Time: base, Actor: "anna", Action: AuditSignIn, Target: "anna", Outcome: "ok"},
			{Time: base.Add(time.Hour), Actor: "anna", Action: AuditExport, Target: "receipt-1", Outcome: "ok", Detail: "=HYPERLINK(\"x\")"},
			{Time: base.Add(2 * time.Hour), Actor: "bob", Action: AuditErase, Target: "receipt-2", Outcome: "ok", Detail: "court order"},
			{Time: base.Add(3 * time.Hour), Actor: "system", Action: AuditRetention, Outcome: "ok"},
		}
		if err := a.RecordAll(t.Context(), entries); err != nil {
			t.Fatal(err)
		}
		f := func(filter AuditFilter, want ...string) {
			t.Helper()
			got, err := a.Query(t.Context(), filter)
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range got {
				actions = append(actions, e.Action)
			}
			if strings.Join(actions, ",") != strings.Join(want, ",") {
				t.Errorf("%+v: got %v, want %v", filter, actions, want)
			}
		}
		f(AuditFilter{}, AuditRetention, AuditErase, AuditExport, AuditSignIn)
		f(AuditFilter{Actor: "anna"}, AuditExport, AuditSignIn)
		f(AuditFilter{Action: AuditErase}, AuditErase)
		f(AuditFilter{Since: base.Add(time.Hour), Until: base.Add(3 * time.Hour)}, AuditErase, AuditExport)
		f(AuditFilter{Limit: 1}, AuditRetention)

		got, err := a.Entries(t.Context(), 10)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteAudit(&buf, ExportCSV, got); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(&buf).ReadAll()
		if err != nil || len(recs) != 5 || recs[0][0] != "time" {
			t.Fatalf("csv: %v %v", recs, err)
		}
		if recs[3][6] != `'=HYPERLINK("x")` || recs[1][2] != AuditRetention || recs[4][9] != "1" || recs[4][11] != hashchain.AlgHMAC {
			t.Errorf("csv rows: %v", recs)
		}
		buf.Reset()
		if err := WriteAudit(&buf, ExportJSON, got); err != nil {
			t.Fatal(err)
		}
		var js []map[string]any
		if err := json.Unmarshal(buf.Bytes(), &js); err != nil || len(js) != 4 || js[1]["detail"] != "court order" || js[3]["time"] != "2026-11-20T09:00:00Z" {
			t.Fatalf("json: %s %v", buf.String(), err)
		}
		if err := WriteAudit(&buf, "xml", got); err == nil {
			t.Error("xml accepted")
		}
	})
}
