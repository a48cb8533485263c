package consent

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	keyA = bytes.Repeat([]byte{0xa1}, 32)
	keyB = bytes.Repeat([]byte{0xb2}, 32)
	now  = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
)

func mustKeys(t testing.TB, cur, prev []byte) *Keys {
	t.Helper()
	k, err := NewKeys(cur, prev)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func grant(p Purposes, services uint32) *Cookie {
	c := &Cookie{Purposes: p, Services: services, Issued: now.Unix(), Expires: now.Add(183 * 24 * time.Hour).Unix()}
	if p&^Purposes(Necessary) != 0 || services != 0 {
		c.Receipt, c.HasReceipt = NewReceipt(), true
	}
	return c
}

func encode(t testing.TB, k *Keys, site, version string, c *Cookie) string {
	t.Helper()
	v, err := k.Encode(site, version, c)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// resign signs an arbitrary payload with key, as an attacker holding the
// key (or a buggy encoder) could.
func resign(key, payload []byte) string {
	signed := cookiePrefix + base64.RawURLEncoding.EncodeToString(payload)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signed))
	return signed + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestCookieRoundTrip(t *testing.T) {
	k := mustKeys(t, keyA, nil)
	stats := Purposes(Necessary).With(Statistics).With(ThirdParty)
	c := grant(stats, 1<<1|1<<17)
	v := encode(t, k, "sez", "2026-01", c)
	if !strings.HasPrefix(v, "v1.") || len(v) > 120 || strings.ContainsAny(v, "+/=;, ") {
		t.Fatalf("cookie %q: want compact v1.<base64url>.<base64url>", v)
	}
	var got Cookie
	if err := k.Check(v, "sez", "2026-01", now, &got); err != nil {
		t.Fatal(err)
	}
	if got.Purposes != stats || got.Services != c.Services || got.Issued != c.Issued || got.Expires != c.Expires ||
		!got.HasReceipt || got.Receipt != c.Receipt || got.Site() != "sez" || got.PolicyVersion() != "2026-01" {
		t.Fatalf("decoded %+v, want %+v", got, c)
	}

	// A refusal carries no identifier at all.
	ref := grant(Purposes(Necessary), 0)
	rv := encode(t, k, "sez", "2026-01", ref)
	if err := k.Check(rv, "sez", "2026-01", now, &got); err != nil || got.HasReceipt || got.Grants(Statistics) {
		t.Fatalf("refusal: %v %+v", err, got)
	}
	if len(rv) >= len(v) {
		t.Fatalf("refusal %q is not shorter than a grant %q", rv, v)
	}
}

func TestCookieCheck(t *testing.T) {
	k := mustKeys(t, keyA, nil)
	good := encode(t, k, "sez", "v2", grant(Purposes(Necessary).With(Statistics), 0))
	f := func(name, value string, at time.Time, want error) {
		t.Helper()
		var c Cookie
		if err := k.Check(value, "sez", "v2", at, &c); !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", name, err, want)
		}
	}
	f("valid", good, now, nil)
	f("missing", "", now, ErrMalformed)
	f("garbage", "hello", now, ErrMalformed)
	f("unsigned", strings.TrimSuffix(good, good[strings.LastIndexByte(good, '.'):]), now, ErrMalformed)
	f("other version tag", "v2"+good[2:], now, ErrMalformed)
	f("too long", good+strings.Repeat("A", 600), now, ErrMalformed)
	f("bad base64 sig", good[:len(good)-1]+"*", now, ErrMalformed)

	// Flip one payload character: the signature no longer matches.
	i := len("v1.") + 5
	flip := byte('A')
	if good[i] == 'A' {
		flip = 'B'
	}
	f("tampered payload", good[:i]+string(flip)+good[i+1:], now, ErrSignature)
	j := len(good) - 5
	flip = 'A'
	if good[j] == 'A' {
		flip = 'B'
	}
	f("tampered signature", good[:j]+string(flip)+good[j+1:], now, ErrSignature)
	f("signed with another key", encode(t, mustKeys(t, keyB, nil), "sez", "v2", grant(Purposes(Necessary).With(Statistics), 0)), now, ErrSignature)

	f("expired", good, now.Add(183*24*time.Hour), ErrExpired)
	f("just before expiry", good, now.Add(183*24*time.Hour-time.Second), nil)
	f("other site", encode(t, k, "other", "v2", grant(Purposes(Necessary).With(Statistics), 0)), now, ErrOtherSite)
	f("old policy", encode(t, k, "sez", "v1", grant(Purposes(Necessary).With(Statistics), 0)), now, ErrOldPolicy)

	// Signed but inconsistent payloads are refused too.
	payload := func(p Purposes, services uint32, issued, expires uint64, receipt []byte) []byte {
		b := []byte{3, 's', 'e', 'z', 2, 'v', '2', byte(p)}
		b = binary.BigEndian.AppendUint32(b, services)
		b = binary.AppendUvarint(b, issued)
		b = binary.AppendUvarint(b, expires)
		b = append(b, byte(len(receipt)))
		return append(b, receipt...)
	}
	r := make([]byte, ReceiptBytes)
	iss, exp := uint64(now.Unix()), uint64(now.Add(time.Hour).Unix())
	f("hand-made valid", resign(keyA, payload(Purposes(Necessary).With(Statistics), 0, iss, exp, r)), now, nil)
	f("grant without receipt", resign(keyA, payload(Purposes(Necessary).With(Statistics), 0, iss, exp, nil)), now, ErrMalformed)
	f("refusal with an identifier", resign(keyA, payload(Purposes(Necessary), 0, iss, exp, r)), now, ErrMalformed)
	f("expires before issued", resign(keyA, payload(Purposes(Necessary), 0, exp, iss, nil)), now, ErrMalformed)
	f("trailing bytes", resign(keyA, append(payload(Purposes(Necessary), 0, iss, exp, nil), 0)), now, ErrMalformed)
	f("short receipt", resign(keyA, payload(Purposes(Necessary).With(Statistics), 0, iss, exp, r[:8])), now, ErrMalformed)
	f("truncated", resign(keyA, payload(Purposes(Necessary), 0, iss, exp, nil)[:9]), now, ErrMalformed)
	f("empty payload", resign(keyA, nil), now, ErrMalformed)
}

func TestCookieKeyRotation(t *testing.T) {
	old := mustKeys(t, keyA, nil)
	v := encode(t, old, "sez", "v1", grant(Purposes(Necessary).With(Statistics), 0))
	rotated := mustKeys(t, keyB, keyA)
	var c Cookie
	if err := rotated.Check(v, "sez", "v1", now, &c); err != nil {
		t.Fatalf("previous key not accepted: %v", err)
	}
	// New cookies are signed with the new key only.
	nv := encode(t, rotated, "sez", "v1", grant(Purposes(Necessary).With(Statistics), 0))
	if err := old.Check(nv, "sez", "v1", now, &c); !errors.Is(err, ErrSignature) {
		t.Fatalf("new cookie verified with the old key alone: %v", err)
	}
	// Once the previous key is dropped, its cookies are no consent.
	if err := mustKeys(t, keyB, nil).Check(v, "sez", "v1", now, &c); !errors.Is(err, ErrSignature) {
		t.Fatalf("dropped key still accepted: %v", err)
	}
	var nilKeys *Keys
	if err := nilKeys.Check(v, "sez", "v1", now, &c); !errors.Is(err, ErrNoKey) {
		t.Fatalf("nil keys: %v", err)
	}
}

func TestParseKey(t *testing.T) {
	f := func(in string, wantLen int) {
		t.Helper()
		k, err := ParseKey(in)
		if wantLen == 0 {
			if err == nil {
				t.Errorf("ParseKey(%q): no error", in)
			} else if strings.Contains(err.Error(), in) && in != "" {
				t.Errorf("ParseKey error %q contains the key", err)
			}
			return
		}
		if err != nil || len(k) != wantLen {
			t.Errorf("ParseKey(%q) = %d bytes, %v; want %d", in, len(k), err, wantLen)
		}
	}
	f(strings.Repeat("ab", 32), 32)
	f(strings.Repeat("ab", 48), 48)
	f(base64.StdEncoding.EncodeToString(keyA), 32)
	f(base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 40)), 40)
	f("", 0)
	f(strings.Repeat("ab", 31), 0)              // 31 bytes
	f("not a key at all, not hex, not b64!", 0) // neither
	if _, err := NewKeys(keyA[:31], nil); err == nil {
		t.Error("NewKeys accepted a 31-byte key")
	}
}

func TestCookieDecodeDoesNotAllocate(t *testing.T) {
	k := mustKeys(t, keyB, keyA)
	v := encode(t, mustKeys(t, keyA, nil), "sez", "v1", grant(Purposes(Necessary).With(Statistics), 3))
	var c Cookie
	allocs := testing.AllocsPerRun(200, func() {
		if err := k.Check(v, "sez", "v1", now, &c); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 && !raceEnabled { // the race detector makes sync.Pool drop items
		t.Fatalf("Check allocates %.1f times per call", allocs)
	}
}

func BenchmarkCookieCheck(b *testing.B) {
	k := mustKeys(b, keyA, nil)
	v := encode(b, k, "sez", "v1", grant(Purposes(Necessary).With(Statistics), 3))
	var c Cookie
	b.ReportAllocs()
	for b.Loop() {
		_ = k.Check(v, "sez", "v1", now, &c)
	}
}

// FuzzCookieDecode feeds arbitrary cookie values to the decoder: it must
// never panic, and whatever it accepts must re-encode to a cookie that
// decodes to the same content.
func FuzzCookieDecode(f *testing.F) {
	k := mustKeys(f, keyA, nil)
	f.Add(encode(f, k, "sez", "v1", grant(Purposes(Necessary).With(Statistics), 3)))
	f.Add(encode(f, k, "sez", "v1", grant(Purposes(Necessary), 0)))
	f.Add(resign(keyA, []byte{3, 's', 'e', 'z', 1, '1', 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0}))
	f.Add("")
	f.Add("v1..")
	f.Add("v1.AAAA." + strings.Repeat("A", 43))
	f.Fuzz(func(t *testing.T, value string) {
		var c Cookie
		if err := k.Decode(value, &c); err != nil {
			return
		}
		v2, err := k.Encode(c.Site(), c.PolicyVersion(), &c)
		if err != nil {
			t.Fatalf("accepted %q but cannot re-encode: %v", value, err)
		}
		var c2 Cookie
		if err := k.Decode(v2, &c2); err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", v2, err)
		}
		if c2.Purposes != c.Purposes || c2.Services != c.Services || c2.Issued != c.Issued || c2.Expires != c.Expires ||
			c2.Receipt != c.Receipt || c2.HasReceipt != c.HasReceipt || c2.Site() != c.Site() || c2.PolicyVersion() != c.PolicyVersion() {
			t.Fatalf("round trip changed %+v into %+v", c, c2)
		}
	})
}
