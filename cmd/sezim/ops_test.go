package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// exportedMetrics are the metric names the service registers, read from
// its sources (every promauto/prometheus Opts names its metric with a
// literal), with the series a histogram adds.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{"up": true}
	re := regexp.MustCompile(`Name:\s*"(sezim_[a-z0-9_]+)"`)
	histo := regexp.MustCompile(`NewHistogram(Vec)?\(prometheus\.HistogramOpts\{\s*Name:\s*"(sezim_[a-z0-9_]+)"`)
	err := filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != "../.." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			names[m[1]] = true
		}
		for _, m := range histo.FindAllStringSubmatch(string(src), -1) {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[m[2]+suffix] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

var metricRef = regexp.MustCompile(`\b(sezim_[a-z0-9_]+|up)\b\s*[{\[)\s]`)

// checkNames fails for every sezim_ metric an expression names that the
// service does not export: a renamed metric would otherwise leave an alert
// that never fires and a panel that stays empty.
func checkNames(t *testing.T, where, expr string, known map[string]bool) {
	t.Helper()
	for _, m := range metricRef.FindAllStringSubmatch(expr+" ", -1) {
		if !known[m[1]] {
			t.Errorf("%s names %s, which the service does not export", where, m[1])
		}
	}
}

// TestAlertRules checks the Prometheus rules with promtool (Debian's
// prometheus package; CI installs it) and that every metric they name
// exists.
func TestAlertRules(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is missing (apt-get install prometheus)")
		}
		t.Skip("promtool not installed")
	}
	for _, args := range [][]string{
		{"check", "rules", "../../deploy/prometheus/alerts.yml"},
		// The config names the rules by their path in the container.
	} {
		out, err := exec.Command("promtool", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %v: %v\n%s", args, err, out)
		}
	}
	// promtool check config with the rules' container path rewritten to
	// the repository's.
	cfg, err := os.ReadFile("../../deploy/prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("../../deploy/prometheus/alerts.yml")
	local := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(local, []byte(strings.ReplaceAll(string(cfg), "/etc/prometheus/alerts.yml", abs)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("promtool", "check", "config", local).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	data, err := os.ReadFile("../../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatal(err)
	}
	known := exportedMetrics(t)
	seen := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			seen[r.Alert] = true
			checkNames(t, "alert "+r.Alert, r.Expr, known)
		}
	}
	// What operators asked to be woken for.
	for _, want := range []string{"SezimDown", "SezimWALFilling", "SezimStoreErrors", "SezimRollupLagging", "SezimConsentLogShipFailing"} {
		if !seen[want] {
			t.Errorf("no alert %s", want)
		}
	}
}

// TestGrafanaDashboard checks the provisioned dashboard: valid JSON, every
// panel on the provisioned data source, and every metric it names
// exported.
func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile("../../deploy/grafana/dashboards/sezim.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	ds, err := os.ReadFile("../../deploy/grafana/provisioning/datasources/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var dsc struct {
		Datasources []struct {
			UID string `yaml:"uid"`
			URL string `yaml:"url"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(ds, &dsc); err != nil || len(dsc.Datasources) != 1 {
		t.Fatalf("datasource provisioning: %v", err)
	}
	known := exportedMetrics(t)
	all := ""
	for _, p := range d.Panels {
		if p.Datasource.UID != dsc.Datasources[0].UID {
			t.Errorf("panel %q uses data source %q, not the provisioned %q", p.Title, p.Datasource.UID, dsc.Datasources[0].UID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			checkNames(t, "panel "+p.Title, q.Expr, known)
			all += q.Expr + "\n"
		}
	}
	// The panels operators need, by the metric behind them.
	for _, want := range []string{"sezim_pipeline_events_received_total", "sezim_pipeline_events_dropped_total",
		"sezim_wal_pending_bytes", "sezim_store_errors_total", "sezim_store_flush_duration_seconds_bucket",
		"sezim_rollup_lag_seconds", "sezim_consent_decisions_total"} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel shows %s", want)
		}
	}
}
