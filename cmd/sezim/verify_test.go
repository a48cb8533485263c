package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/consent/consentlog"
	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/hashchain"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestVerifyConsentLog runs `sezim verify consent-log` on a ClickHouse
// server: an intact log exits 0; after one row is altered in ClickHouse it
// exits 1 and names the chain, seq and receipt of that row; with another
// key it exits 1 and says so. Each verification is audited, and
// `sezim verify audit-log` checks those rows, and `sezim audit export`
// lists them, until the newest audit rows are removed.
func TestVerifyConsentLog(t *testing.T) {
	st := storetest.Server(t)
	names := st.DB()
	dir := t.TempDir()
	l, err := consentlog.Open(st, dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		r := &consentlog.Record{Receipt: fmt.Sprintf("rcpt%d", i), Site: "sez", Time: time.Now(), Action: consentlog.ActionRejectAll,
			PolicyVersion: "1", PurposesGranted: "necessary", IP: "203.0.113.0"}
		if err := l.Append(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil { // ships and checkpoints
		t.Fatal(err)
	}
	common := []string{"--store", os.Getenv(storetest.EnvServer), "--stats-db", names.Stats, "--identified-db", names.Identified, "--staff-db", names.Staff, "--data", dir}
	sezim := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(t.Context(), append(args, common...), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	if code, out, errOut := sezim("verify", "consent-log"); code != 0 || !strings.Contains(out, "1 chain(s), 4 rows") ||
		!strings.Contains(out, "4 keyed, 0 unkeyed), checkpointed at seq 4: intact") {
		t.Fatalf("intact log: exit %d\n%s%s", code, out, errOut)
	}

	table := names.Identified + ".consent_log"
	if err := st.Exec(t.Context(), "ALTER TABLE "+table+" UPDATE purposes_granted = 'necessary,statistics' WHERE seq = 2"); err != nil {
		t.Fatal(err)
	}
	waitMutations(t, st, names.Identified)
	code, out, errOut := sezim("verify", "consent-log")
	want := "chain " + l.Chain() + ": BROKEN at seq 2 (receipt rcpt1): row altered"
	if code != 1 || !strings.Contains(out, want) || !strings.Contains(errOut, "does not verify") {
		t.Fatalf("tampered log: exit %d, want 1 and %q\n%s%s", code, want, out, errOut)
	}

	other := filepath.Join(t.TempDir(), "other.key")
	if _, err := hashchain.LoadOrCreateKey(other); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = sezim("verify", "consent-log", "--log-key", other)
	if code != 1 || !strings.Contains(out, "do not verify under this key") || !strings.Contains(out, hashchain.ReasonWrongKey) {
		t.Fatalf("wrong key: exit %d\n%s%s", code, out, errOut)
	}

	// Two verifications with the right key were audited (not the one
	// with the wrong key).
	if code, out, errOut := sezim("verify", "audit-log"); code != 0 || !strings.Contains(out, "audit log verified: 2 chain(s), 2 rows") {
		t.Fatalf("audit log: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = sezim("audit", "export", "--format", "json", "--action", staff.AuditVerify)
	var rows []map[string]any
	// Rows of one second from several processes have no order between
	// them: compare them as a set.
	var got []string
	if code == 0 && json.Unmarshal([]byte(out), &rows) == nil {
		for _, r := range rows {
			got = append(got, fmt.Sprint(r["target"], " ", r["outcome"]))
		}
		sort.Strings(got)
	}
	if strings.Join(got, ",") != "audit-log ok,consent-log broken,consent-log ok" {
		t.Fatalf("audit export: exit %d, rows %v\n%s%s", code, got, out, errOut)
	}
	if code, out, _ := sezim("audit", "export", "--format", "csv", "--action", staff.AuditLogExport); code != 0 ||
		!strings.HasPrefix(out, "time,actor,action,") || strings.Count(out, "\n") != 2 {
		t.Fatalf("csv export: exit %d\n%s", code, out)
	}

	// The export rows removed, each the whole chain of its process: the
	// checkpoints tell.
	if err := st.Exec(t.Context(), "ALTER TABLE "+names.Staff+".audit_log DELETE WHERE action = "+store.Quote(staff.AuditLogExport)); err != nil {
		t.Fatal(err)
	}
	waitMutations(t, st, names.Staff)
	if code, out, errOut := sezim("verify", "audit-log"); code != 1 || !strings.Contains(out, hashchain.ReasonVanished) ||
		!strings.Contains(errOut, "the audit log does not verify") {
		t.Fatalf("audit log without its newest rows: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, _ := sezim("verify", "nothing"); code != 1 {
		t.Fatalf("unknown target: exit %d", code)
	}
}

func waitMutations(t *testing.T, st store.Store, db string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var n uint64
		err := st.Query(t.Context(), "SELECT count() FROM system.mutations WHERE database = "+store.Quote(db)+" AND is_done = 0",
			func(r store.Row) error { n = r.Uint64(0); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("mutation did not finish")
}

// A site with a consent block needs a signing key: serve refuses to start
// without one, and says which flag is missing.
func TestServeNeedsAConsentKey(t *testing.T) {
	dir := t.TempDir()
	cfg := dir + "/sites.yaml"
	os.WriteFile(cfg, []byte(`sites:
  - id: a
    domains: [a.kz]
    consent:
      purposes: [statistics]
      policy_version: "1"
      policy_text_hash: "`+strings.Repeat("ab", 32)+`"
`), 0o600)
	t.Setenv("CHDB_LIB_PATH", "/nonexistent/libchdb.so")
	empty := storetest.ServerEmpty(t)
	args := []string{"serve", "--store", os.Getenv(storetest.EnvServer), "--config", cfg, "--data", dir,
		"--stats-db", empty.DB().Stats, "--identified-db", empty.DB().Identified, "--staff-db", empty.DB().Staff, "--automigrate",
		"--addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}
	var out, errOut lockedBuffer
	if code := run(t.Context(), args, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "--consent-key (SEZIM_CONSENT_KEY) is required") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	t.Setenv("SEZIM_CONSENT_KEY", "too-short")
	errOut = lockedBuffer{}
	if code := run(t.Context(), args, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "invalid --consent-key") || strings.Contains(errOut.String(), "too-short") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}
