package pipeline

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/pipeline/geo"
	"github.com/sezim-analytics/sezim/pipeline/geo/geotest"
	"github.com/sezim-analytics/sezim/site"
)

type discardSink struct{ n int }

func (d *discardSink) Write(*event.Event) error { d.n++; return nil }

// BenchmarkProcess is the whole pipeline for one anonymous pageview:
// decision, bots, user agent, geo, referrer, truncation and hash.
func BenchmarkProcess(b *testing.B) {
	cfg, err := site.Parse([]byte("sites:\n  - id: sez\n    domains: [sez.im]\n    timezone: Asia/Almaty\n"))
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "geo.mmdb")
	if err := geotest.WriteCountryDB(path, map[string]string{"203.0.113.0/24": "KZ", "2001:db8::/32": "DE"}); err != nil {
		b.Fatal(err)
	}
	g, err := geo.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	salts, _ := anon.NewSalts("", now)
	p := New(Options{Sites: cfg, Salts: salts, Geo: g, Sink: &discardSink{}, Now: func() time.Time { return now }})
	ip := netip.MustParseAddr("203.0.113.77")
	var h event.Hit
	var e event.Event
	b.ReportAllocs()
	for b.Loop() {
		h = event.Hit{Source: event.SourceBeacon, Time: now, SiteID: "sez",
			URL: "https://sez.im/psychologists/anxiety?utm_source=vk&utm_medium=social&gclid=x", Referrer: "https://yandex.ru/search/?text=x",
			Screen: 390, Language: "ru-RU", IP: ip, HasAccept: true, HasAcceptLang: true,
			UserAgent: "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"}
		e = event.Event{}
		if tier, why, _ := p.Process(&h, &e); tier != event.TierAnonymous {
			b.Fatalf("dropped: %s", why)
		}
	}
}
