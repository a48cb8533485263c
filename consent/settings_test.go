package consent_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/site"
)

const h64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func siteYAML(block string) string {
	return "sites:\n  - id: sez\n    domains: [sez.im]\n    consent:\n" + block
}

func TestSettingsDefaultsAndServices(t *testing.T) {
	cfg, err := site.Parse([]byte(siteYAML(`      purposes: [statistics, third_party]
      services:
        - id: yandex_metrica
        - {id: chat, name: Site chat, country: DE, bit: 16}
      policy_version: "2026-01"
      policy_text_hash: "` + h64 + `"
`)))
	if err != nil {
		t.Fatal(err)
	}
	cs := cfg.Site("sez").Consent
	if cs.LifetimeDays != consent.DefaultLifetimeDays || cs.Enabled().String() != "necessary,statistics,third_party" {
		t.Fatalf("settings %+v", cs)
	}
	if sv := cs.Service("yandex_metrica"); sv == nil || sv.Country != "RU" || sv.Name != "Yandex Metrica" || sv.Bit != 0 {
		t.Fatalf("catalogue service %+v", sv)
	}
	if m := cs.ServiceMask([]string{"chat", "nope"}); m != 1<<16 {
		t.Fatalf("mask %x", m)
	}
	if !cfg.ConsentConfigured() {
		t.Fatal("ConsentConfigured false")
	}
}

func TestSettingsPolicyFile(t *testing.T) {
	dir := t.TempDir()
	text := []byte("Политика конфиденциальности\n")
	os.WriteFile(filepath.Join(dir, "policy.txt"), text, 0o600)
	path := filepath.Join(dir, "sites.yaml")
	os.WriteFile(path, []byte(siteYAML("      policy_version: v3\n      policy_file: policy.txt\n")), 0o600)
	cfg, err := site.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(text)
	if got := cfg.Site("sez").Consent.PolicyTextHash; got != hex.EncodeToString(sum[:]) {
		t.Fatalf("policy hash %s", got)
	}
}

func TestSettingsErrorsNameTheKey(t *testing.T) {
	f := func(block, want string) {
		t.Helper()
		_, err := site.Parse([]byte(siteYAML(block)))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error with %q, got %v", want, err)
		}
	}
	ok := "      policy_version: v1\n      policy_text_hash: \"" + h64 + "\"\n"
	f("      purposes: [marketing]\n"+ok, `sites[0].consent.purposes[0]: "marketing" is not a purpose`)
	f("      purposes: [identified]\n"+ok, "sites[0].consent.purposes: identified needs statistics")
	f("      purposes: [third_party]\n"+ok, "third_party needs at least one service")
	f("      services: [{id: yandex_metrica}]\n"+ok, "sites[0].consent.services: services need the third_party purpose")
	f("      purposes: [third_party]\n      services: [{id: chat, name: Chat, country: DE}]\n"+ok, "sites[0].consent.services[0].bit")
	f("      purposes: [third_party]\n      services: [{id: chat, name: Chat, country: de, bit: 20}]\n"+ok, "sites[0].consent.services[0].country")
	f("      purposes: [third_party]\n      services: [{id: yandex_metrica}, {id: yandex_metrica}]\n"+ok, "sites[0].consent.services[1].id")
	f("      policy_text_hash: \""+h64+"\"\n", "sites[0].consent.policy_version")
	f("      policy_version: v1\n", "sites[0].consent.policy_text_hash")
	f("      policy_version: v1\n      policy_file: /nonexistent/policy.txt\n", "sites[0].consent.policy_file")
	f(ok+"      lifetime_days: 400\n", "sites[0].consent.lifetime_days: 400 must be between 1 and 366")
	f(ok+"      cookie_domain: example.com\n", "sites[0].consent.cookie_domain")
	f(ok+"      texts: {de: {title: Hallo}}\n", "sites[0].consent.texts.de")
	f(ok+"      unknown_key: 1\n", "unknown_key")
}

func TestValidVisitorID(t *testing.T) {
	f := func(v string, want bool) {
		t.Helper()
		if got := consent.ValidVisitorID(v); got != want {
			t.Errorf("ValidVisitorID(%q) = %v", v, got)
		}
	}
	f("AAAAAAAAAAAAAAAAAAAAAQ", true)
	f("abcdefghijklmnopqrst-w", true)
	f("AAAAAAAAAAAAAAAAAAAAAB", false) // 132 bits
	f("AAAAAAAAAAAAAAAAAAAAA", false)
	f("AAAAAAAAAAAAAAAAAAAA+Q", false)
	f("", false)
}
