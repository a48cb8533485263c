package main

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sezim-analytics/sezim/privacy"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestPrivacyReport runs `sezim privacy report` on a ClickHouse server: a
// migrated store passes every check but the retention run's, which has no
// history to read yet (exit 1, naming only it; text and JSON, the drops
// read from a collector's metrics endpoint); after an e-mail address and an
// IP address are planted in aggregate rows, it names those two checks too,
// in both formats, without printing either value.
func TestPrivacyReport(t *testing.T) {
	st := storetest.Server(t)
	names := st.DB()
	reg := prometheus.NewRegistry()
	promauto.With(reg).NewCounterVec(prometheus.CounterOpts{Name: "sezim_collector_rejected_total"}, []string{"route", "reason"}).WithLabelValues("beacon", "bad_json").Inc()
	metrics := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer metrics.Close()
	base := []string{"privacy", "report", "--store", os.Getenv(storetest.EnvServer),
		"--stats-db", names.Stats, "--identified-db", names.Identified, "--staff-db", names.Staff, "--config", "../../config/example.yaml",
		"--data", t.TempDir(), "--metrics", metrics.URL}
	report := func(format string) (int, string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := run(t.Context(), append(base, "--format", format), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	if code, out, errOut := report("text"); code != 1 || !strings.Contains(errOut, "privacy report failed: retention_run\n") || strings.Count(out, "FAIL") != 1 ||
		!strings.Contains(out, "sezim_collector_rejected{reason=bad_json,route=beacon}: 1") {
		t.Fatalf("clean store: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ := report("json")
	var r privacy.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 1 || r.OK || len(r.Checks) != 15 || !slices.Equal(r.Failed(), []string{privacy.CheckRetention}) {
		t.Fatalf("clean store, json: exit %d, %v\n%s", code, err, out)
	}

	d := store.DayOf(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC))
	rows := [][]any{{"sez", d, "utm_source", "victim@mail.com", d, uint64(1)}, {"sez", d, "source", "203.0.113.7", d, uint64(1)}}
	if err := st.Insert(t.Context(), names.Stats+".agg_daily", []string{"site", "day", "dim", "value", "salt_day", "visitors"}, rows); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"text", "json"} {
		code, out, errOut := report(format)
		if code != 1 || !strings.Contains(errOut, "privacy report failed: ip_address, email, retention_run") {
			t.Fatalf("%s: exit %d, want 1 naming ip_address and email\n%s%s", format, code, out, errOut)
		}
		if format == "text" && testing.Verbose() {
			t.Log(out)
		}
		if format == "text" && (!strings.Contains(out, "FAIL  email") || !strings.Contains(out, "agg_daily.value: 1 cells")) {
			t.Fatalf("text report lacks the finding:\n%s", out)
		}
		for _, secret := range []string{"victim", "mail.com", "203.0.113.7"} {
			if strings.Contains(out+errOut, secret) {
				t.Fatalf("%s report repeats %q:\n%s%s", format, secret, out, errOut)
			}
		}
	}
	if code, _, _ := report("xml"); code != 1 {
		t.Fatalf("--format xml: exit %d", code)
	}
	// Every run is in the audit log, with its outcome.
	var runs, failed uint64
	if err := st.Query(t.Context(), "SELECT count(), countIf(outcome = 'fail') FROM "+names.Staff+".audit_log WHERE action = 'privacy_report'",
		func(r store.Row) error { runs, failed = r.Uint64(0), r.Uint64(1); return nil }); err != nil || runs < 2 || failed == 0 {
		t.Fatalf("report runs audited: %d (%d failed), %v", runs, failed, err)
	}
	// A database with no tables (a wrong --stats-db) is an error, not a pass.
	var out2, errOut2 bytes.Buffer
	args := []string{"privacy", "report", "--store", os.Getenv(storetest.EnvServer), "--stats-db", names.Stats + "_missing", "--config", "../../config/example.yaml"}
	if code := run(t.Context(), args, &out2, &errOut2); code != 1 || !strings.Contains(errOut2.String(), "it has no tables") {
		t.Fatalf("missing database: exit %d\n%s%s", code, out2.String(), errOut2.String())
	}
}

// TestPrivacyInventory prints the schema inventory from the migrations.
func TestPrivacyInventory(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"privacy", "inventory", "--format", "json"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var inv []privacy.InventoryTable
	if err := json.Unmarshal(out.Bytes(), &inv); err != nil || len(inv) < 10 {
		t.Fatalf("%v: %s", err, out.String())
	}
	out.Reset()
	if code := run(t.Context(), []string{"privacy", "inventory"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "staff.audit_log") {
		t.Fatalf("exit %d: %s%s", code, out.String(), errOut.String())
	}
}
