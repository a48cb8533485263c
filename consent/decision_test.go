package consent_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/site"
)

var decidedAt = time.Date(2026, 11, 24, 10, 0, 0, 500_000_000, time.UTC)

// offering is a site that offers every purpose, two catalogue services and
// one of its own, for 30 days.
func offering(t testing.TB) *consent.Settings {
	t.Helper()
	cfg, err := site.Parse([]byte(siteYAML(`      purposes: [functional, statistics, identified, third_party]
      services:
        - id: yandex_metrica
        - id: google_analytics
        - {id: chat, name: Site chat, country: DE, bit: 16}
      policy_version: "2026-01"
      policy_text_hash: "` + h64 + `"
      lifetime_days: 30
`)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Site("sez").Consent
}

func TestGrant(t *testing.T) {
	cs := offering(t)
	f := func(action string, purposes, services []string, wantPurposes string, wantServices uint32, wantErr error) {
		t.Helper()
		p, s, err := cs.Grant(action, purposes, services)
		if !errors.Is(err, wantErr) {
			t.Fatalf("Grant(%s, %v, %v) error %v, want %v", action, purposes, services, err, wantErr)
		}
		if err == nil && (p.String() != wantPurposes || s != wantServices) {
			t.Fatalf("Grant(%s, %v, %v) = %q %b, want %q %b", action, purposes, services, p, s, wantPurposes, wantServices)
		}
	}
	all := "necessary,functional,statistics,identified,third_party"
	f(consent.ActionAcceptAll, nil, nil, all, 1<<0|1<<1|1<<16, nil)
	// Accept all grants what the site offers, whatever the body lists.
	f(consent.ActionAcceptAll, []string{"functional"}, nil, all, 1<<0|1<<1|1<<16, nil)
	f(consent.ActionRejectAll, []string{"statistics"}, []string{"chat"}, "necessary", 0, nil)
	f(consent.ActionWithdraw, nil, nil, "necessary", 0, nil)
	f(consent.ActionShown, []string{"statistics"}, nil, "necessary", 0, nil)
	f(consent.ActionCustom, []string{"necessary", "statistics"}, []string{"yandex_metrica"}, "necessary,statistics,third_party", 1<<0, nil)
	f(consent.ActionCustom, []string{"functional"}, nil, "necessary,functional", 0, nil)
	// The third_party purpose alone grants no service, so nothing.
	f(consent.ActionCustom, []string{"third_party"}, nil, "necessary", 0, nil)
	f(consent.ActionCustom, nil, []string{"chat"}, "necessary,third_party", 1<<16, nil)
	f(consent.ActionCustom, []string{"marketing"}, nil, "", 0, consent.ErrUnknownPurpose)
	f(consent.ActionAcceptAll, []string{"marketing"}, nil, "", 0, consent.ErrUnknownPurpose)
	f(consent.ActionCustom, nil, []string{"facebook"}, "", 0, consent.ErrUnknownService)
	f(consent.ActionCustom, nil, []string{"google_ads"}, "", 0, consent.ErrUnknownService) // in the catalogue, not offered
}

func TestGrantRefusesAPurposeTheSiteDoesNotOffer(t *testing.T) {
	cfg, err := site.Parse([]byte(siteYAML(`      purposes: [statistics]
      policy_version: "1"
      policy_text_hash: "` + h64 + `"
`)))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cfg.Site("sez").Consent.Grant(consent.ActionCustom, []string{"identified"}, nil); !errors.Is(err, consent.ErrUnknownPurpose) {
		t.Fatalf("identified on a site without it: %v", err)
	}
}

func TestValidAction(t *testing.T) {
	for _, a := range consent.Actions {
		if !consent.ValidAction(a) {
			t.Errorf("%q refused", a)
		}
	}
	for _, a := range []string{"", "accept", "ACCEPT_ALL", "accept_all "} {
		if consent.ValidAction(a) {
			t.Errorf("%q accepted", a)
		}
	}
}

func TestCookieForAndTheVisitorID(t *testing.T) {
	cs := offering(t)
	receipt := consent.NewReceipt()
	f := func(action string, purposes, services []string, wantReceipt, wantVisitorID bool) {
		t.Helper()
		granted, mask, err := cs.Grant(action, purposes, services)
		if err != nil {
			t.Fatal(err)
		}
		d := &consent.Decision{Site: "sez", Time: decidedAt, Action: action, Granted: granted, Services: mask, Receipt: receipt}
		c := cs.CookieFor(d)
		if c.Purposes != granted || c.Services != mask {
			t.Fatalf("%s: cookie grants %q %b, decision %q %b", action, c.Purposes, c.Services, granted, mask)
		}
		// Second precision, the site's lifetime.
		if c.Issued != decidedAt.Unix() || c.Expires != decidedAt.Add(30*24*time.Hour).Unix() {
			t.Fatalf("%s: issued %d expires %d", action, c.Issued, c.Expires)
		}
		if c.HasReceipt != wantReceipt || (wantReceipt && c.Receipt != receipt) || (!wantReceipt && c.Receipt != [consent.ReceiptBytes]byte{}) {
			t.Fatalf("%s %v %v: receipt %v %x, want %v", action, purposes, services, c.HasReceipt, c.Receipt, wantReceipt)
		}
		if d.KeepsVisitorID() != wantVisitorID || !d.Choice() {
			t.Fatalf("%s: keeps visitor id %v, want %v", action, d.KeepsVisitorID(), wantVisitorID)
		}
	}
	f(consent.ActionAcceptAll, nil, nil, true, true)
	f(consent.ActionRejectAll, nil, nil, false, false) // a refusal carries no identifier
	f(consent.ActionWithdraw, nil, nil, false, false)
	f(consent.ActionCustom, []string{"functional"}, nil, true, false)
	f(consent.ActionCustom, nil, []string{"chat"}, true, false)
	f(consent.ActionCustom, []string{"statistics"}, nil, true, true)
	f(consent.ActionCustom, []string{"identified"}, nil, true, false)
	if d := (&consent.Decision{Action: consent.ActionShown}); d.Choice() {
		t.Fatal("shown is a choice")
	}
}

func TestNewVisitorID(t *testing.T) {
	seen := map[string]bool{}
	for range 64 {
		v := consent.NewVisitorID()
		if !consent.ValidVisitorID(v) || seen[v] {
			t.Fatalf("visitor id %q (seen before: %v)", v, seen[v])
		}
		seen[v] = true
	}
}

// TestKeysState is the consent state of every kind of cookie: anything
// but a valid, signed, unexpired cookie for this site and its current
// policy version is StateNone.
func TestKeysState(t *testing.T) {
	cs := offering(t)
	keys, err := consent.NewKeys(bytes.Repeat([]byte{7}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := consent.NewKeys(bytes.Repeat([]byte{8}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	nec := consent.Purposes(consent.Necessary)
	cookie := func(k *consent.Keys, site, version string, p consent.Purposes, expires time.Time) string {
		c := consent.Cookie{Purposes: p, Issued: decidedAt.Add(-time.Hour).Unix(), Expires: expires.Unix()}
		if p != nec {
			c.Receipt, c.HasReceipt = consent.NewReceipt(), true
		}
		v, err := k.Encode(site, version, &c)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	later := decidedAt.Add(time.Hour)
	stats := nec.With(consent.Statistics)
	valid := cookie(keys, "sez", "2026-01", stats, later)
	for _, tc := range []struct {
		name, value string
		keys        *consent.Keys
		cs          *consent.Settings
		want        consent.State
	}{
		{"no cookie", "", keys, cs, consent.StateNone},
		{"statistics", valid, keys, cs, consent.StateStatistics},
		{"statistics and identified", cookie(keys, "sez", "2026-01", stats.With(consent.Identified), later), keys, cs, consent.StateIdentified},
		{"identified without statistics", cookie(keys, "sez", "2026-01", nec.With(consent.Identified), later), keys, cs, consent.StateRefused},
		{"functional only", cookie(keys, "sez", "2026-01", nec.With(consent.Functional), later), keys, cs, consent.StateRefused},
		{"refusal", cookie(keys, "sez", "2026-01", nec, later), keys, cs, consent.StateRefused},
		{"older policy", cookie(keys, "sez", "2025-01", stats, later), keys, cs, consent.StateNone},
		{"other site", cookie(keys, "other", "2026-01", stats, later), keys, cs, consent.StateNone},
		{"expired", cookie(keys, "sez", "2026-01", stats, decidedAt), keys, cs, consent.StateNone},
		{"other key", cookie(other, "sez", "2026-01", stats, later), keys, cs, consent.StateNone},
		{"tampered", valid[:len(valid)-2] + "xx", keys, cs, consent.StateNone},
		{"garbage", "v1.garbage", keys, cs, consent.StateNone},
		{"site without consent", valid, keys, nil, consent.StateNone},
		{"no keys", valid, nil, cs, consent.StateNone},
	} {
		if got := tc.keys.State(tc.value, "sez", tc.cs, decidedAt); got != tc.want {
			t.Errorf("%s: state %d, want %d", tc.name, got, tc.want)
		}
	}
}
