package pipeline

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/site"
)

// plainSink, consentedSink and rowSink record what the pipeline hands over:
// a plain Sink, a ConsentedSink, and an IdentifiedSink beside them.
type plainSink struct {
	events []event.Event
	err    error
}

func (s *plainSink) Write(e *event.Event) error {
	if s.err != nil {
		return s.err
	}
	s.events = append(s.events, *e)
	return nil
}

type consentedSink struct {
	plainSink
	ids []Identity
}

func (s *consentedSink) WriteConsented(e *event.Event, id *Identity) error {
	if s.err != nil {
		return s.err
	}
	s.events = append(s.events, *e)
	s.ids = append(s.ids, *id)
	return nil
}

type rowSink struct{ rows []Identity }

func (s *rowSink) WriteIdentified(r *IdentifiedRow) error {
	s.rows = append(s.rows, r.Identity)
	return nil
}

// TestConsentedRowsGoWithTheirEvent: a consented event reaches a
// ConsentedSink in one call with its identity (address truncated, user id
// only with the identified purpose), and nothing goes to the separate
// IdentifiedSink; a plain Sink gets the event and the IdentifiedSink the
// row; an anonymous event has no identity; a refused write keeps nothing.
func TestConsentedRowsGoWithTheirEvent(t *testing.T) {
	cfg, err := site.Parse([]byte("sites:\n  - id: sez\n    domains: [sez.im]\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	salts, _ := anon.NewSalts("", now)
	const vid = "AAAAAAAAAAAAAAAAAAAAAA"
	hit := func(ip string) event.Hit {
		return event.Hit{Source: event.SourceBeacon, Time: now, SiteID: "sez", URL: "https://sez.im/p",
			IP: netip.MustParseAddr(ip), UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
			HasAccept: true, HasAcceptLang: true, VisitorCookie: vid, UserID: "user-1"}
	}
	newPipe := func(sink Sink, rows IdentifiedSink, state ConsentState) *Pipeline {
		return New(Options{Sites: cfg, Salts: salts, Sink: sink, Identified: rows, Now: func() time.Time { return now },
			Consent: func(*event.Hit, *site.Site, time.Time) ConsentState { return state }})
	}
	f := func(state ConsentState, ip string, want *Identity) {
		t.Helper()
		cs, rows := &consentedSink{}, &rowSink{}
		h := hit(ip)
		var out event.Event
		if _, _, err := newPipe(cs, rows, state).Process(&h, &out); err != nil {
			t.Fatal(err)
		}
		if len(cs.events) != 1 || len(rows.rows) != 0 {
			t.Fatalf("%d events, %d rows beside the sink", len(cs.events), len(rows.rows))
		}
		switch {
		case want == nil && len(cs.ids) != 0:
			t.Fatalf("an identity for a %v event: %+v", cs.events[0].Tier, cs.ids)
		case want != nil && (len(cs.ids) != 1 || cs.ids[0] != *want):
			t.Fatalf("identity %+v, want %+v", cs.ids, *want)
		}

		// A plain sink: the row goes to the IdentifiedSink.
		ps := &plainSink{}
		h = hit(ip)
		if _, _, err := newPipe(ps, rows, state).Process(&h, &out); err != nil {
			t.Fatal(err)
		}
		if len(ps.events) != 1 || (want == nil) != (len(rows.rows) == 0) || want != nil && rows.rows[0] != *want {
			t.Fatalf("plain sink: %d events, rows %+v, want %+v", len(ps.events), rows.rows, want)
		}
	}
	f(ConsentNone, "203.0.113.77", nil)
	f(ConsentRefused, "203.0.113.77", nil)
	f(ConsentStatistics, "203.0.113.77", &Identity{VisitorID: vid, IP: netip.MustParseAddr("203.0.113.0")})
	f(ConsentIdentified, "2001:db8:abcd:12:1:2:3:4", &Identity{VisitorID: vid, UserID: "user-1", IP: netip.MustParseAddr("2001:db8:abcd::")})

	// The sink refuses: the event counts as not kept, and there is no row.
	cs, rows := &consentedSink{plainSink: plainSink{err: ErrBackpressure}}, &rowSink{}
	h := hit("203.0.113.77")
	var out event.Event
	tier, _, err := newPipe(cs, rows, ConsentIdentified).Process(&h, &out)
	if !errors.Is(err, ErrBackpressure) || tier != event.TierDrop || len(rows.rows) != 0 {
		t.Fatalf("refused: tier %v, %v, %d rows", tier, err, len(rows.rows))
	}
}
