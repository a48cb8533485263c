package main

import (
	"flag"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestComposeFile checks docker-compose.yml the way compose would read it:
// the collector talks to the ClickHouse service over the native protocol,
// every SEZIM_* variable is a real flag of serve, and Prometheus scrapes the
// admin listener.
func TestComposeFile(t *testing.T) {
	data, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Build       any               `yaml:"build"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
			Volumes     []string          `yaml:"volumes"`
			DependsOn   any               `yaml:"depends_on"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
	for _, name := range []string{"clickhouse", "sezim", "prometheus", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("service %q missing", name)
		}
	}
	sz := c.Services["sezim"]
	if sz.Build == nil {
		t.Fatal("sezim service must build from the repo")
	}
	if !strings.HasPrefix(sz.Environment["SEZIM_STORE"], "clickhouse://") || !strings.Contains(sz.Environment["SEZIM_STORE"], "@clickhouse:9000/") {
		t.Fatalf("SEZIM_STORE = %q, want the clickhouse service's native port", sz.Environment["SEZIM_STORE"])
	}
	// Every variable must be the twin of a serve flag, or the service
	// silently ignores it.
	fs := newFlagSet("serve", "", nil)
	var o serveOptions
	o.register(fs)
	known := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { known[envName(f.Name)] = true })
	for k := range sz.Environment {
		if !known[k] {
			t.Errorf("sezim service sets %s, which is no flag of sezim serve", k)
		}
	}
	for _, p := range sz.Ports {
		if strings.HasSuffix(p, ":8090") && !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("the stats API port %q must stay on the host's loopback until staff sign-in exists", p)
		}
	}
	// The health check asks the running service, not its --help.
	hc := sz.Healthcheck.Test
	if len(hc) < 3 || hc[1] != "/usr/local/bin/sezim" || hc[2] != "health" || !strings.Contains(strings.Join(hc, " "), "/readyz") {
		t.Errorf("sezim health check %q: want sezim health against /readyz", hc)
	}
	// Every file a service mounts from the repo exists.
	for name, svc := range c.Services {
		for _, v := range svc.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat("../../" + src[2:]); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			}
		}
	}
	prom, err := os.ReadFile("../../deploy/prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var pc struct {
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(prom, &pc); err != nil {
		t.Fatal(err)
	}
	admin := sz.Environment["SEZIM_ADMIN_ADDR"]
	port := admin[strings.LastIndexByte(admin, ':')+1:]
	if len(pc.ScrapeConfigs) == 0 || len(pc.ScrapeConfigs[0].StaticConfigs) == 0 ||
		pc.ScrapeConfigs[0].StaticConfigs[0].Targets[0] != "sezim:"+port {
		t.Fatalf("prometheus does not scrape sezim's admin port %s: %+v", port, pc)
	}
}
