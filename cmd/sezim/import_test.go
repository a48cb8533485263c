package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestImportFlags: the command's own checks, before anything is read.
func TestImportFlags(t *testing.T) {
	for _, args := range [][]string{
		{"import"},
		{"import", "--collector", "http://x", "a.log"},
		{"import", "--format", "xml", "a.log"},
		{"import", "--direct", "--collector", "http://x", "a.log"},
		{"import", "--batch-lines", "0", "--direct", "a.log"},
	} {
		var out, errb bytes.Buffer
		if code := run(t.Context(), args, &out, &errb); code == 0 {
			t.Fatalf("%v: exit 0", args)
		}
	}
}

// TestImportCommandDirect runs `sezim import --direct` as a user would, on
// the ClickHouse server: the flags reach the importer, the lines land once,
// a second run has nothing to do. The importer itself is tested on both
// engines in sessionlog/importer.
func TestImportCommandDirect(t *testing.T) {
	st := storetest.Server(t)
	names := st.DB()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sites.yaml")
	if err := os.WriteFile(cfg, []byte("sites:\n  - id: sez\n    domains: [sez.im]\n    timezone: Asia/Almaty\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	ts := time.Now().Add(-2 * time.Hour).UTC()
	for i, path := range []string{"/a", "/b", "/c"} {
		fmt.Fprintf(&log, "11.0.%d.9 - - [%s] \"GET %s HTTP/1.1\" 200 12 \"-\" \"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0\"\n",
			i, ts.Add(time.Duration(i)*time.Minute).Format("02/Jan/2006:15:04:05 -0700"), path)
	}
	log.WriteString("not a log line\n")
	input := filepath.Join(dir, "access.log")
	if err := os.WriteFile(input, []byte(log.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"import", "--direct", "--store", os.Getenv(storetest.EnvServer), "--config", cfg,
		"--stats-db", names.Stats, "--identified-db", names.Identified, "--staff-db", names.Staff, "--data", dir, "--progress", "lines",
		"--consent-key", strings.Repeat("5a", 32), input}
	var out, errOut bytes.Buffer
	if code := run(t.Context(), args, &out, &errOut); code != 0 || !strings.Contains(out.String(), "accepted 3, skipped 0, rejected 1") {
		t.Fatalf("exit %d:\n%s\n%s", code, out.String(), errOut.String())
	}
	out.Reset()
	errOut.Reset()
	if code := run(t.Context(), args, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "already imported") {
		t.Fatalf("second run: exit %d:\n%s\n%s", code, out.String(), errOut.String())
	}
	var n uint64
	err := st.Query(t.Context(), "SELECT count() FROM "+names.Stats+".events", func(r store.Row) error { n = r.Uint64(0); return nil })
	if err != nil || n != 3 {
		t.Fatalf("%d events stored (%v), want 3", n, err)
	}
}
