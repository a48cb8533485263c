package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/consent/consentlog"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestVerifyConsentLog runs `sezim verify consent-log` on a ClickHouse
// server: an intact log exits 0; after one row is altered in ClickHouse it
// exits 1 and names the chain, seq and receipt of that row.
func TestVerifyConsentLog(t *testing.T) {
	st := storetest.Server(t)
	names := st.DB()
	l, err := consentlog.Open(st, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 4 {
		r := &consentlog.Record{Receipt: fmt.Sprintf("rcpt%d", i), Site: "sez", Time: time.Now(), Action: consentlog.ActionRejectAll,
			PolicyVersion: "1", PurposesGranted: "necessary", IP: "203.0.113.0"}
		if err := l.Append(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	args := []string{"verify", "consent-log", "--store", os.Getenv(storetest.EnvServer),
		"--stats-db", names.Stats, "--identified-db", names.Identified}
	var out, errOut bytes.Buffer
	if code := run(t.Context(), args, &out, &errOut); code != 0 || !strings.Contains(out.String(), "1 chain(s), 4 rows") {
		t.Fatalf("intact log: exit %d\n%s%s", code, out.String(), errOut.String())
	}

	table := names.Identified + ".consent_log"
	if err := st.Exec(t.Context(), "ALTER TABLE "+table+" UPDATE purposes_granted = 'necessary,statistics' WHERE seq = 2"); err != nil {
		t.Fatal(err)
	}
	waitMutations(t, st, names.Identified)
	out.Reset()
	errOut.Reset()
	code := run(t.Context(), args, &out, &errOut)
	want := "chain " + l.Chain() + ": BROKEN at seq 2 (receipt rcpt1)"
	if code != 1 || !strings.Contains(out.String(), want) || !strings.Contains(errOut.String(), "does not verify") {
		t.Fatalf("tampered log: exit %d, want 1 and %q\n%s%s", code, want, out.String(), errOut.String())
	}

	if code := run(t.Context(), []string{"verify", "audit-log"}, &out, &errOut); code != 1 {
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
		"--stats-db", empty.DB().Stats, "--identified-db", empty.DB().Identified, "--automigrate",
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
