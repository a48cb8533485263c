package consentlog_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/consent/consentlog"
	"github.com/sezim-analytics/sezim/site"
)

func TestNewRecord(t *testing.T) {
	policy, banner := strings.Repeat("a", 64), strings.Repeat("b", 64)
	cfg, err := site.Parse([]byte(`sites:
  - id: sez
    domains: [sez.im]
    consent:
      purposes: [functional, statistics, identified, third_party]
      services: [{id: yandex_metrica}, {id: google_analytics}, {id: chat, name: Chat, country: DE, bit: 16}]
      policy_version: "2026-01"
      policy_text_hash: "` + policy + `"
`))
	if err != nil {
		t.Fatal(err)
	}
	cs := cfg.Site("sez").Consent
	receipt := consent.NewReceipt()
	at := time.Date(2026, 11, 24, 15, 30, 7, 900_000_000, time.FixedZone("Almaty", 5*3600))
	decision := func(action string, purposes, services []string) *consent.Decision {
		granted, mask, err := cs.Grant(action, purposes, services)
		if err != nil {
			t.Fatal(err)
		}
		return &consent.Decision{Site: "sez", Time: at, Action: action, Lang: "kk", TextHash: banner,
			Granted: granted, Services: mask, GPC: true, IP: "203.0.113.0", Browser: "Firefox", Receipt: receipt}
	}
	f := func(d *consent.Decision, granted, denied, services string) {
		t.Helper()
		r := consentlog.NewRecord(cs, d)
		want := consentlog.Record{Receipt: consent.ReceiptString(receipt), Site: "sez", Time: time.Date(2026, 11, 24, 10, 30, 7, 0, time.UTC),
			Action: d.Action, PolicyVersion: "2026-01", PolicyHash: policy, TextHash: banner, Lang: "kk",
			PurposesGranted: granted, PurposesDenied: denied, Services: services, GPC: true, IP: "203.0.113.0", Browser: "Firefox"}
		if *r != want || r.Time.Location() != time.UTC {
			t.Fatalf("record\n%+v\nwant\n%+v", *r, want)
		}
	}
	f(decision(consent.ActionAcceptAll, nil, nil), "necessary,functional,statistics,identified,third_party", "",
		"yandex_metrica:RU,google_analytics:US,chat:DE")
	f(decision(consent.ActionRejectAll, nil, nil), "necessary", "functional,statistics,identified,third_party", "")
	f(decision(consent.ActionCustom, []string{"statistics"}, []string{"chat"}), "necessary,statistics,third_party", "functional,identified", "chat:DE")
	// "shown" records what was shown, not a choice: no purposes at all.
	f(decision(consent.ActionShown, nil, nil), "", "", "")
}
