package wal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
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

// sameEvent compares two events field by field, their properties as
// lists (an event without any may hold nil or an empty slice).
func sameEvent(a, b event.Event) bool {
	if !slices.Equal(a.PropKeys, b.PropKeys) || !slices.Equal(a.PropValues, b.PropValues) {
		return false
	}
	a.PropKeys, a.PropValues, b.PropKeys, b.PropValues = nil, nil, nil, nil
	return reflect.DeepEqual(a, b)
}

// sampleID is a consented event's identity, its address already truncated.
func sampleID(i int) pipeline.Identity {
	id := pipeline.Identity{VisitorID: fmt.Sprintf("v%021d", i), IP: netip.MustParseAddr("203.0.113.0")}
	if i%2 == 0 {
		id.UserID, id.IP = "user-"+strconv.Itoa(i), netip.MustParseAddr("2001:db8:abcd::")
	}
	return id
}

func TestCodecRoundTrip(t *testing.T) {
	f := func(e event.Event, id *pipeline.Identity) {
		t.Helper()
		p := appendEvent(nil, &e, id)
		var got event.Event
		var gotID pipeline.Identity
		has, err := decodeEvent(string(p), version, &got, &gotID)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !sameEvent(got, e) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, e)
		}
		if has != (id != nil) || id != nil && gotID != *id {
			t.Fatalf("identity: got %v %+v, want %+v", has, gotID, id)
		}
		day, err := saltDayOf(string(p))
		if err != nil || int64(day)*86400 != e.SaltDay.Unix() {
			t.Fatalf("salt day %d, %v", day, err)
		}
		// Every strict prefix fails cleanly, never panics.
		for n := range len(p) {
			if _, err := decodeEvent(string(p[:n]), version, &got, &gotID); err == nil {
				t.Fatalf("prefix of %d bytes decoded", n)
			}
		}
		if _, err := decodeEvent(string(append(p, 0)), version, &got, &gotID); err == nil {
			t.Fatal("trailing byte accepted")
		}
		if id != nil || len(e.PropKeys) > 0 {
			return
		}
		// A version 2 record is the same without the property count, a
		// version 1 record without the identity byte too.
		if has, err := decodeEvent(string(p[:len(p)-1]), 2, &got, &gotID); err != nil || has || !sameEvent(got, e) {
			t.Fatalf("version 2 record: %v %v %+v", has, err, got)
		}
		v1 := p[:len(p)-2]
		if has, err := decodeEvent(string(v1), 1, &got, &gotID); err != nil || has || !sameEvent(got, e) {
			t.Fatalf("version 1 record: %v %v %+v", has, err, got)
		}
		if _, err := decodeEvent(string(p), 1, &got, &gotID); err == nil {
			t.Fatal("version 1 record with a trailing byte accepted")
		}
	}
	epoch := time.Unix(0, 0).UTC()
	f(sample(1), nil)
	f(sample(12345), nil)
	f(event.Event{Time: epoch, SaltDay: epoch}, nil) // every field empty
	f(event.Event{SiteID: "s", Time: time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC), SaltDay: time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC),
		Visitor: ^uint64(0), Kind: event.KindCustom, Name: "signup ✓", BrowserVersion: 65535, Tier: event.TierConsented,
		Path: "/" + strings.Repeat("é", 300), Language: "\x00\t\n\\"}, nil)
	consented := sample(3)
	consented.Tier = event.TierConsented
	for i := range 2 {
		id := sampleID(i)
		f(consented, &id)
	}
	props := sample(4)
	props.Kind, props.Name = event.KindCustom, "signup"
	props.PropKeys, props.PropValues = []string{"plan", "seats"}, []string{"pro", ""}
	f(props, nil)
	consented.PropKeys, consented.PropValues = []string{"plan"}, []string{"team ✓"}
	f(consented, &pipeline.Identity{UserID: "u1"})
	consented.PropKeys, consented.PropValues = nil, nil
	f(consented, &pipeline.Identity{})                                                // no cookie, no address
	f(consented, &pipeline.Identity{IP: netip.MustParseAddr("::")})                   // an IPv6 /48 of zeros is still IPv6
	f(consented, &pipeline.Identity{UserID: strings.Repeat("u", pipeline.MaxUserID)}) // the longest user id
}

// TestCodecTruncates: whatever address an identity holds, the record keeps
// its network prefix only (IPv4 /24, IPv6 /48); the host part is not in
// the bytes at all.
func TestCodecTruncates(t *testing.T) {
	f := func(full, want string, host []byte) {
		t.Helper()
		e := sample(1)
		id := pipeline.Identity{VisitorID: "v", IP: netip.MustParseAddr(full)}
		p := appendEvent(nil, &e, &id)
		var got pipeline.Identity
		if _, err := decodeEvent(string(p), version, &e, &got); err != nil {
			t.Fatal(err)
		}
		if got.IP != netip.MustParseAddr(want) {
			t.Fatalf("%s decoded as %s, want %s", full, got.IP, want)
		}
		if bytes.Contains(p, host) {
			t.Fatalf("the host part of %s is in the record: %x", full, p)
		}
	}
	f("203.0.113.77", "203.0.113.0", []byte{203, 0, 113, 77})
	f("::ffff:203.0.113.77", "203.0.113.0", []byte{203, 0, 113, 77})
	f("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::", []byte{0xab, 0xcd, 0, 0x12, 0, 1, 0, 2})
}

func TestDecodeRejects(t *testing.T) {
	f := func(p []byte) {
		t.Helper()
		var e event.Event
		var id pipeline.Identity
		if _, err := decodeEvent(string(p), version, &e, &id); err == nil {
			t.Fatalf("decoded %x", p)
		}
	}
	f(nil)
	f([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}) // varint overflow
	e := sample(3)
	p := appendEvent(nil, &e, nil)
	bad := append([]byte{}, p...)
	bad[len(bad)-5] = 0x7f // a string length past the end
	f(bad)
	far := binary.AppendUvarint(nil, 2e6) // salt day out of range
	f(append(far, p[3:]...))
	f(p[:len(p)-2])                                    // no identity byte
	f(append(append([]byte{}, p[:len(p)-2]...), 2, 0)) // an unknown identity byte
	f(append(append([]byte{}, p[:len(p)-1]...), 65))   // more properties than a record holds
	f(append(append([]byte{}, p[:len(p)-1]...), 1, 1)) // a property cut short
	id := pipeline.Identity{IP: netip.MustParseAddr("203.0.113.0")}
	withID := appendEvent(nil, &e, &id)  // ends: 1, 3, 203, 0, 113, 0, 0, 0
	for _, n := range []byte{1, 4, 16} { // address lengths the log never writes
		b := append([]byte{}, withID...)
		b[len(b)-7] = n
		f(b)
	}
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
	b := appendHeader(nil, version, 42)
	for i := range n {
		e := sample(i)
		var at int
		b, at = appendFrame(b)
		var id *pipeline.Identity
		if i%2 == 1 {
			e.Tier = event.TierConsented
			v := sampleID(i)
			id = &v
		}
		b = appendEvent(b, &e, id)
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
			var id pipeline.Identity
			if _, err := decodeEvent(recordAt(text, off), r.version, &e, &id); err != nil {
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
	id := sampleID(7)
	f.Add(appendEvent(nil, &e, nil))
	f.Add(appendEvent(nil, &e, &id))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		var e event.Event
		var id pipeline.Identity
		has, err := decodeEvent(string(p), version, &e, &id)
		if err != nil {
			return
		}
		idp := &id
		if !has {
			idp = nil
		}
		var again event.Event
		var againID pipeline.Identity
		if has2, err := decodeEvent(string(appendEvent(nil, &e, idp)), version, &again, &againID); err != nil || !sameEvent(again, e) || has2 != has || has && againID != id {
			t.Fatalf("re-encoding changed the event: %v", err)
		}
	})
}
