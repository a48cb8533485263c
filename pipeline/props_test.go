package pipeline

import (
	"fmt"
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

// TestProps: the site's keys only, values scrubbed and cut, a key's values
// capped per day, every property not kept counted by reason.
func TestProps(t *testing.T) {
	cfg, err := site.Parse([]byte("sites:\n  - id: sez\n    domains: [sez.im]\n    properties: [plan, ref]\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	salts, _ := anon.NewSalts("", now)
	reg := prometheus.NewRegistry()
	clock := now
	p := New(Options{Sites: cfg, Salts: salts, Sink: &discardSink{}, Reg: reg, Now: func() time.Time { return clock }})
	send := func(keys, values []string) string {
		t.Helper()
		h := event.Hit{Source: event.SourceBeacon, Time: clock, SiteID: "sez", URL: "https://sez.im/", Name: "signup",
			IP: netip.MustParseAddr("203.0.113.7"), HasAccept: true, HasAcceptLang: true, PropKeys: keys, PropValues: values,
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"}
		var e event.Event
		if tier, why, err := p.Process(&h, &e); tier == event.TierDrop || err != nil {
			t.Fatalf("dropped: %q %v", why, err)
		}
		var out []string
		for i := range e.PropKeys {
			out = append(out, e.PropKeys[i]+"="+e.PropValues[i])
		}
		return strings.Join(out, " ")
	}
	dropped := func(why string) float64 {
		return testutil.ToFloat64(p.propsDropped.WithLabelValues(why))
	}
	if got := send([]string{"plan", "email", "ref"}, []string{"pro", "a@b.example", "someone@mail.example"}); got != "plan=pro ref=:email" {
		t.Fatalf("kept %q", got)
	}
	if got := send([]string{"plan", "plan", "ref"}, []string{"a", "b", "<b>"}); got != "plan=a" {
		t.Fatalf("kept %q", got)
	}
	if got := send([]string{"plan"}, []string{strings.Repeat("é", 80)}); got != "plan="+strings.Repeat("é", 50) {
		t.Fatalf("kept %q: a value is cut to %d bytes", got, site.MaxPropertyValue)
	}
	if got := send([]string{"ref"}, []string{""}); got != "" {
		t.Fatalf("kept %q", got)
	}
	if dropped("unknown_key") != 1 || dropped("duplicate_key") != 1 || dropped("bad_value") != 2 {
		t.Fatalf("dropped: unknown %v, duplicate %v, bad %v", dropped("unknown_key"), dropped("duplicate_key"), dropped("bad_value"))
	}
	// plan has 3 values today (pro, a, the long one): MaxPropertyValues in
	// all, then (other); a known value still passes; the next day starts
	// afresh.
	for i := 3; i < MaxPropertyValues; i++ {
		send([]string{"plan"}, []string{fmt.Sprint("v", i)})
	}
	if got := send([]string{"plan"}, []string{"one more"}); got != "plan="+OtherProperty {
		t.Fatalf("past the cap: %q", got)
	}
	if got := send([]string{"plan", "ref"}, []string{"pro", "x"}); got != "plan=pro ref=x" {
		t.Fatalf("a value already seen, another key: %q", got)
	}
	clock = clock.Add(24 * time.Hour)
	if got := send([]string{"plan"}, []string{"one more"}); got != "plan=one more" {
		t.Fatalf("the next day: %q", got)
	}
}
