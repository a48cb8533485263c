package pipeline

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/site"
)

type keepSink struct{ events []event.Event }

func (k *keepSink) Write(e *event.Event) error {
	c := *e
	c.OwnStrings()
	k.events = append(k.events, c)
	return nil
}

// TestProcessScrubsFreeFormValues sends the examples through
// Process, as every route does, and checks what reaches the sink: the
// personal parts replaced, the unsafe events refused and counted by reason.
func TestProcessScrubsFreeFormValues(t *testing.T) {
	cfg, err := site.Parse([]byte("sites:\n  - id: sez\n    domains: [sez.im]\n    path_patterns: [/psychologist/:id]\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	salts, _ := anon.NewSalts("", now)
	reg := prometheus.NewRegistry()
	sink := &keepSink{}
	p := New(Options{Sites: cfg, Salts: salts, Sink: sink, Reg: reg, Now: func() time.Time { return now }})
	const chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	process := func(src event.Source, url, ref, name string) (event.Event, event.Drop) {
		t.Helper()
		h := event.Hit{Source: src, Time: now, SiteID: "sez", URL: url, Referrer: ref, Name: name,
			IP: netip.MustParseAddr("203.0.113.7"), UserAgent: chrome, HasAccept: true, HasAcceptLang: true}
		n := len(sink.events)
		var e event.Event
		_, why, err := p.Process(&h, &e)
		if err != nil {
			t.Fatal(err)
		}
		if why != event.DropNone {
			if len(sink.events) != n {
				t.Fatalf("%q refused (%s) but written", url, why)
			}
			return event.Event{}, why
		}
		return sink.events[len(sink.events)-1], why
	}
	kept := func(src event.Source, url, ref, name string, want event.Event) {
		t.Helper()
		got, why := process(src, url, ref, name)
		if why != event.DropNone {
			t.Fatalf("%q %q refused: %s", url, name, why)
		}
		if got.Path != want.Path || got.Name != want.Name || got.RefHost != want.RefHost ||
			got.UTMSource != want.UTMSource || got.UTMMedium != want.UTMMedium || got.UTMCampaign != want.UTMCampaign ||
			got.UTMContent != want.UTMContent || got.UTMTerm != want.UTMTerm {
			t.Fatalf("%q %q %q:\n got path %q name %q ref %q utm %q %q %q %q %q\nwant path %q name %q ref %q utm %q %q %q %q %q",
				url, ref, name, got.Path, got.Name, got.RefHost, got.UTMSource, got.UTMMedium, got.UTMCampaign, got.UTMContent, got.UTMTerm,
				want.Path, want.Name, want.RefHost, want.UTMSource, want.UTMMedium, want.UTMCampaign, want.UTMContent, want.UTMTerm)
		}
	}
	refused := func(src event.Source, url, name string, want event.Drop) {
		t.Helper()
		if _, why := process(src, url, "", name); why != want {
			t.Fatalf("%q %q: drop %q, want %q", url, name, why, want)
		}
	}
	for _, src := range []event.Source{event.SourcePixel, event.SourceBeacon, event.SourceSessionLog} {
		kept(src, "https://sez.im/account;jsessionid=SECRET123/reset/tok_ABCDEF", "", "",
			event.Event{Path: "/account/reset/:token"})
		kept(src, "https://sez.im/?utm_source=victim@mail.com&utm_term=ssn-123-45-6789&utm_medium=email&utm_campaign=c-%2B77011234567&utm_content=550e8400-e29b-41d4-a716-446655440000", "", "",
			event.Event{Path: "/", UTMSource: ":email", UTMMedium: "email", UTMCampaign: "c-:phone", UTMContent: ":uuid", UTMTerm: "ssn-:id"})
		kept(src, "https://sez.im/psychologist/123", "http://10.1.2.3/admin", "book 4111111111111111",
			event.Event{Path: "/psychologist/:id", RefHost: ":ip", Name: "book :card"})
		kept(src, "https://sez.im/u/a%2540b.kz/"+strings.Repeat("x", 600), "", "",
			event.Event{Path: "/u/:email/" + strings.Repeat("x", MaxPath-len("/u/:email/"))})
		refused(src, "https://sez.im/<img%20src=x%20onerror=alert(1)>;jsessionid=SECRET123/reset/tok_ABCDEF", "", event.DropMarkup)
		refused(src, "https://sez.im/%3Cscript%3E", "", event.DropMarkup)
		refused(src, "https://sez.im/", "sign\nup\t\x00", event.DropControl)
		refused(src, "https://sez.im/a%0D%0Ab", "", event.DropControl)
		refused(src, "https://sez.im/?utm_source=a%E2%80%AEb", "", event.DropControl)
		refused(src, "https://sez.im/?utm_term=%3Cb%3E", "", event.DropMarkup)
	}
	for _, c := range []struct {
		reason string
		want   float64
	}{{"markup", 3}, {"control_character", 3}} {
		for _, src := range []string{"pixel", "beacon", "sessionlog"} {
			if got := testutil.ToFloat64(p.dropped.WithLabelValues(src, c.reason)); got != c.want {
				t.Errorf("dropped{source=%s,reason=%s} = %v, want %v", src, c.reason, got, c.want)
			}
		}
	}
}
