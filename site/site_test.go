package site

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseValid(t *testing.T) {
	cfg, err := Parse([]byte(`
trusted_proxies: [10.0.0.0/8, "::1"]
sites:
  - id: sez.im
    domains: [sez.im]
    origins: [https://sez.im]
    timezone: Asia/Almaty
    on_gpc: drop
`))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Site("sez.im")
	if s == nil {
		t.Fatal("site not found")
	}
	if s.OnGPC != ActionDrop || s.OnDNT != ActionAnonymous || s.OnRefusal != ActionAnonymous {
		t.Fatalf("actions: %q %q %q", s.OnGPC, s.OnDNT, s.OnRefusal)
	}
	if s.Retention.HourlyDays != DefaultHourlyDays || s.KThreshold != DefaultKThreshold {
		t.Fatalf("defaults not applied: %+v k=%d", s.Retention, s.KThreshold)
	}
	if s.Disclosure != DisclosureCellKey || !s.Perturbed() || !(&Site{}).Perturbed() {
		t.Fatalf("disclosure %q: the protective mode must be the default", s.Disclosure)
	}
	if !s.AllowsOrigin("https://sez.im") || s.AllowsOrigin("https://www.sez.im") || s.AllowsOrigin("https://evil.example") {
		t.Fatal("origin check wrong")
	}
	if !s.AllowsHost("sez.im") || !s.AllowsHost("www.sez.im") || s.AllowsHost("notsez.im") {
		t.Fatal("host check wrong")
	}
	if !cfg.TrustedProxy(netip.MustParseAddr("10.1.2.3")) || !cfg.TrustedProxy(netip.MustParseAddr("::ffff:10.1.2.3")) ||
		!cfg.TrustedProxy(netip.MustParseAddr("::1")) || cfg.TrustedProxy(netip.MustParseAddr("192.0.2.1")) {
		t.Fatal("proxy check wrong")
	}
	// 2026-11-24 10:30 UTC is 15:30 in Almaty (UTC+5): the hour starts at 10:00 UTC.
	got := s.HourStart(time.Date(2026, 11, 24, 10, 30, 0, 0, time.UTC))
	if !got.Equal(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("hour start %v", got)
	}
}

func TestParseErrorsNameTheKey(t *testing.T) {
	f := func(config, want string) {
		t.Helper()
		_, err := Parse([]byte(config))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Parse(%q) error %v, want it to mention %q", config, err, want)
		}
	}
	f(`sites: []`, "sites: at least one site")
	f("sites:\n  - id: BAD ID\n    domains: [a.com]\n", "sites[0].id")
	f("sites:\n  - id: a\n    domains: [a.com]\n    timezone: Mars/Olympus\n", `sites[0].timezone: unknown time zone "Mars/Olympus"`)
	f("sites:\n  - id: a\n    domains: [a.com]\n    on_dnt: ignore\n", "sites[0].on_dnt")
	f("sites:\n  - id: a\n    domains: [a.com]\n    disclosure: rounded\n", `sites[0].disclosure: "rounded" must be "cellkey" or "exact"`)
	f("sites:\n  - id: a\n    domains: [a.com]\n    origins: [a.com]\n", "sites[0].origins[0]")
	f("sites:\n  - id: a\n    domains: [a.com]\n    retention: {agg_daily_days: -1}\n", "sites[0].retention.agg_daily_days")
	f("sites:\n  - id: a\n    domains: [a.com]\n  - id: a\n    domains: [b.com]\n", `sites[1].id: "a" is used`)
	f("sites:\n  - id: a\n    domans: [a.com]\n", "field domans not found")
	f("trusted_proxies: [nope]\nsites:\n  - id: a\n    domains: [a.com]\n", "trusted_proxies[0]")
	f("sites:\n  - id: a\n    domains: [a.com]\n    path_patterns: [/p/:id, /psychologist]\n",
		`sites[0].path_patterns[1]: "/psychologist": has no placeholder`)
	f("sites:\n  - id: a\n    domains: [a.com]\n    path_patterns: [/p/:Id]\n", `sites[0].path_patterns[0]: "/p/:Id": placeholder`)
	f("sites:\n  - id: a\n    domains: [a.com]\n    path_patterns: [/p/:id, /p/:id]\n", `sites[0].path_patterns[1]: "/p/:id" is listed twice`)
}

func TestPathPatterns(t *testing.T) {
	cfg, err := Parse([]byte("sites:\n  - id: a\n    domains: [a.com]\n    path_patterns: [/psychologist/:id]\n  - id: b\n    domains: [b.com]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if n := cfg.Site("a").PathRules.Len(); n != 1 {
		t.Fatalf("site a has %d path rules", n)
	}
	if cfg.Site("b").PathRules != nil {
		t.Fatal("site b has path rules")
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sites.yaml")
	if err := os.WriteFile(p, []byte("sites: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.HasPrefix(err.Error(), p+": ") {
		t.Fatalf("error %v does not start with the file name", err)
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	if _, err := Load("../config/example.yaml"); err != nil {
		t.Fatal(err)
	}
}
