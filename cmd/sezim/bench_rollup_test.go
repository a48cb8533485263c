package main

import (
	"bytes"
	"os"
	"regexp"
	"testing"

	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestBenchRollup runs `sezim bench rollup` on the test server, on both
// paths, and checks its one line: every stored event was read, and the
// benchmark's databases are gone afterwards.
func TestBenchRollup(t *testing.T) {
	url := os.Getenv(storetest.EnvServer)
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and %s is not set", storetest.EnvServer)
		}
		t.Skipf("%s is not set", storetest.EnvServer)
	}
	line := regexp.MustCompile(`^rollup events=(\d+) full_s=\d+\.\d\d incremental_s=(?:n/a|\d+\.\d\d) rows_read=(\d+)(?: incremental_rows_read=\d+ new_events=5\d\d)?\n$`)
	for _, extra := range [][]string{nil, {"--in-go"}} {
		var out, errOut bytes.Buffer
		args := append([]string{"bench", "rollup", "--events", "3000", "--new-events", "500", "--store", url}, extra...)
		if code := run(t.Context(), args, &out, &errOut); code != 0 {
			t.Fatalf("%v: exit %d:\n%s\n%s", extra, code, out.String(), errOut.String())
		}
		m := line.FindStringSubmatch(out.String())
		if m == nil || m[1] != m[2] || len(m[1]) != 4 {
			t.Fatalf("%v: output %q, want one line with events = rows_read ≈ 3000", extra, out.String())
		}
	}
	st := storetest.Server(t)
	n := -1
	err := st.Query(t.Context(), "SELECT count() FROM system.databases WHERE name LIKE 'sezim\\_bench\\_rollup\\_%'", func(r store.Row) error {
		n = int(r.Uint64(0))
		return nil
	})
	if err != nil || n != 0 {
		t.Errorf("benchmark databases left: %d (%v)", n, err)
	}
}
