package wal

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/event"
)

// sample is a fully populated event; i varies the visitor, time and path.
func sample(i int) event.Event {
	return event.Event{
		SiteID: "sez", Time: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
		SaltDay: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), Visitor: uint64(i)*0x9e3779b97f4a7c15 + 1,
		Kind: event.KindPageview, Path: "/psychologists/anxiety/" + strings.Repeat("x", i%7), RefHost: "yandex.ru",
		Channel: "search", UTMSource: "vk", UTMMedium: "social", UTMCampaign: "spring", UTMContent: "a", UTMTerm: "b",
		Country: "KZ", Region: "ALA", Browser: "Chrome", BrowserVersion: 131, OS: "Android", Device: "phone",
		Screen: "mobile", Language: "ru", Tier: event.TierAnonymous,
	}
}

func TestCodecRoundTrip(t *testing.T) {
	f := func(e event.Event) {
		t.Helper()
		p := appendEvent(nil, &e)
		var got event.Event
		if err := decodeEvent(string(p), &got); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if got != e {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, e)
		}
		day, err := saltDayOf(string(p))
		if err != nil || int64(day)*86400 != e.SaltDay.Unix() {
			t.Fatalf("salt day %d, %v", day, err)
		}
		// Every strict prefix fails cleanly, never panics.
		for n := range len(p) {
			if err := decodeEvent(string(p[:n]), &got); err == nil {
				t.Fatalf("prefix of %d bytes decoded", n)
			}
		}
		if err := decodeEvent(string(append(p, 0)), &got); err == nil {
			t.Fatal("trailing byte accepted")
		}
	}
	epoch := time.Unix(0, 0).UTC()
	f(sample(1))
	f(sample(12345))
	f(event.Event{Time: epoch, SaltDay: epoch}) // every field empty
	f(event.Event{SiteID: "s", Time: time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC), SaltDay: time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC),
		Visitor: ^uint64(0), Kind: event.KindCustom, Name: "signup ✓", BrowserVersion: 65535, Tier: event.TierConsented,
		Path: "/" + strings.Repeat("é", 300), Language: "\x00\t\n\\"})
}

func TestDecodeRejects(t *testing.T) {
	f := func(p []byte) {
		t.Helper()
		var e event.Event
		if err := decodeEvent(string(p), &e); err == nil {
			t.Fatalf("decoded %x", p)
		}
	}
	f(nil)
	f([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}) // varint overflow
	e := sample(3)
	p := appendEvent(nil, &e)
	bad := append([]byte{}, p...)
	bad[len(bad)-3] = 0x7f // a string length past the end
	f(bad)
	far := binary.AppendUvarint(nil, 2e6) // salt day out of range
	f(append(far, p[3:]...))
}

func TestScan(t *testing.T) {
	seg := segmentBytes(3)
	f := func(data []byte, want damage, records int) {
		t.Helper()
		r := scan(data)
		if r.damage != want || len(r.offsets) != records {
			t.Fatalf("damage %d (%s), %d records; want %d, %d", r.damage, r.why, len(r.offsets), want, records)
		}
	}
	f(seg, intact, 3)
	f(nil, tornHeader, 0)
	f(seg[:headerSize-1], tornHeader, 0)
	f(seg[:headerSize], intact, 0)
	f(append(append([]byte{}, seg...), make([]byte, 100)...), tornTail, 3)
	f(append(append([]byte{}, seg...), 1, 0, 0, 0), tornTail, 3)
	badHeader := append([]byte{}, seg...)
	badHeader[9] ^= 1
	f(badHeader, corrupt, 0)
	mid := append([]byte{}, seg...)
	mid[headerSize+frameSize+2] ^= 0x40 // inside the first record
	f(mid, corrupt, 0)
}

// segmentBytes is a segment holding n sample records.
func segmentBytes(n int) []byte {
	b := appendHeader(nil, 42)
	for i := range n {
		e := sample(i)
		var at int
		b, at = appendFrame(b)
		b = appendEvent(b, &e)
		finishFrame(b, at)
	}
	return b
}

// FuzzScan feeds the segment reader arbitrary files: it must never panic,
// and every record it accepts must decode.
func FuzzScan(f *testing.F) {
	seg := segmentBytes(3)
	f.Add(seg)
	f.Add(seg[:len(seg)-5])
	f.Add(append(append([]byte{}, seg...), make([]byte, 64)...))
	f.Add([]byte("SZWL"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := scan(data)
		if r.good > int64(len(data)) {
			t.Fatalf("good prefix %d past the end %d", r.good, len(data))
		}
		text := string(data)
		for _, off := range r.offsets {
			var e event.Event
			if err := decodeEvent(recordAt(text, off), &e); err != nil {
				t.Fatalf("accepted record does not decode: %v", err)
			}
		}
		if r.damage == intact && r.good != int64(len(data)) {
			t.Fatal("intact but not all read")
		}
		if r.damage == intact && !bytes.Equal(data[:4], magic[:]) {
			t.Fatal("intact without magic")
		}
	})
}

// FuzzDecodeEvent: any payload decodes or fails, never panics, and what
// decodes encodes back to the same bytes.
func FuzzDecodeEvent(f *testing.F) {
	e := sample(7)
	f.Add(appendEvent(nil, &e))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		var e event.Event
		if decodeEvent(string(p), &e) != nil {
			return
		}
		var again event.Event
		if err := decodeEvent(string(appendEvent(nil, &e)), &again); err != nil || again != e {
			t.Fatalf("re-encoding changed the event: %v", err)
		}
	})
}
