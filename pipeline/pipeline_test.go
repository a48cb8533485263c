package pipeline

import (
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/pipeline/bots"
	"github.com/sezim-analytics/sezim/site"
)

// TestDropReasonsReachTheCounter sends robots of several kinds and checks
// that each is counted under its own detector reason, and that the label
// set stays the closed one the detector defines.
func TestDropReasonsReachTheCounter(t *testing.T) {
	cfg, err := site.Parse([]byte("sites:\n  - id: sez\n    domains: [sez.im]\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	salts, _ := anon.NewSalts("", now)
	reg := prometheus.NewRegistry()
	p := New(Options{Sites: cfg, Salts: salts, Sink: &discardSink{}, Reg: reg, Now: func() time.Time { return now }})
	const chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	send := func(site, ua string, accept bool) {
		h := event.Hit{Source: event.SourceBeacon, Time: now, SiteID: site, URL: "https://sez.im/", IP: netip.MustParseAddr("203.0.113.7"),
			UserAgent: ua, HasAccept: accept, HasAcceptLang: accept}
		var e event.Event
		p.Process(&h, &e)
	}
	send("sez", "", true)
	send("sez", "curl/8.5.0", true)
	send("sez", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", true)
	send("sez", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", true)
	send("sez", chrome, false)
	send("sez", chrome, false)
	send("nope", chrome, true)
	send("sez", chrome, true)

	f := func(reason string, want float64) {
		t.Helper()
		if got := testutil.ToFloat64(p.dropped.WithLabelValues("beacon", reason)); got != want {
			t.Fatalf("dropped{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	f("bot_empty_ua", 1)
	f("bot_http_client", 1)
	f("bot_pattern", 1)
	f("bot_headless", 1)
	f("bot_no_browser_headers", 2)
	f("unknown_site", 1)

	allowed := map[string]bool{}
	for _, r := range bots.Reasons() {
		allowed["bot_"+string(r)] = true
	}
	for _, d := range []event.Drop{event.DropUnknownSite} {
		allowed[string(d)] = true
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sezim_pipeline_events_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && !allowed[l.GetValue()] {
					t.Fatalf("unexpected reason label %q", l.GetValue())
				}
			}
		}
	}
}
