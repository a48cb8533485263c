package anon

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTruncateIP(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		var a netip.Addr
		if in != "" {
			a = netip.MustParseAddr(in)
		}
		got := TruncateIP(a)
		if (want == "" && got.IsValid()) || (want != "" && got.String() != want) {
			t.Fatalf("TruncateIP(%q) = %v, want %q", in, got, want)
		}
	}
	f("203.0.113.77", "203.0.113.0")
	f("10.0.0.255", "10.0.0.0")
	f("::ffff:198.51.100.9", "198.51.100.0")
	f("2001:db8:abcd:1234:5678:9abc:def0:1234", "2001:db8:abcd::")
	f("2a02:2168:8d4a:ff00::1", "2a02:2168:8d4a::")
	f("::1", "::")
	f("", "")
}

var (
	day1 = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	ipA  = TruncateIP(netip.MustParseAddr("203.0.113.77"))
	uaA  = "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36"
)

func TestHashStableWithinDayAndChangesAtMidnight(t *testing.T) {
	s, err := NewSalts("", day1.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	d1, h1 := s.Hash(day1.Add(2*time.Hour), "site", ipA, uaA)
	_, h2 := s.Hash(day1.Add(23*time.Hour+59*time.Minute), "site", ipA, uaA)
	if h1 != h2 || !d1.Equal(day1) {
		t.Fatalf("same day, same visitor: %x %x (day %v)", h1, h2, d1)
	}
	// Another address in the same /24 is the same visitor once truncated.
	_, h3 := s.Hash(day1.Add(3*time.Hour), "site", TruncateIP(netip.MustParseAddr("203.0.113.5")), uaA)
	if h3 != h1 {
		t.Fatal("truncated addresses of one /24 hash differently")
	}
	for _, other := range []struct{ site, ua string }{{"other", uaA}, {"site", uaA + "x"}} {
		if _, h := s.Hash(day1.Add(3*time.Hour), other.site, ipA, other.ua); h == h1 {
			t.Fatalf("different input %+v gave the same hash", other)
		}
	}
	d2, h4 := s.Hash(day1.Add(24*time.Hour), "site", ipA, uaA)
	if h4 == h1 || !d2.Equal(day1.Add(24*time.Hour)) {
		t.Fatal("the hash did not change at 00:00 UTC")
	}
}

func TestSaltsDestroyedAfter48Hours(t *testing.T) {
	s, err := NewSalts("", day1)
	if err != nil {
		t.Fatal(err)
	}
	s.Hash(day1.Add(25*time.Hour), "s", ipA, uaA) // makes day 2's salt
	if got := len(s.Days()); got != 2 {
		t.Fatalf("%d salts, want 2", got)
	}
	destroyed, err := s.Rotate(day1.Add(48*time.Hour - time.Second))
	if err != nil || len(destroyed) != 0 {
		t.Fatalf("destroyed %v before 48h (err %v)", destroyed, err)
	}
	destroyed, err = s.Rotate(day1.Add(48 * time.Hour))
	if err != nil || len(destroyed) != 1 || !destroyed[0].Equal(day1) {
		t.Fatalf("destroyed %v at 48h, want day 1 (err %v)", destroyed, err)
	}
}

func TestSaltStateSurvivesRestartAndForgetsDestroyed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "salts.json")
	s1, err := NewSalts(path, day1.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	_, h1 := s1.Hash(day1.Add(time.Hour), "s", ipA, uaA)
	s2, err := NewSalts(path, day1.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, h2 := s2.Hash(day1.Add(2*time.Hour), "s", ipA, uaA); h2 != h1 {
		t.Fatal("a restart changed the visitor hash within the day")
	}
	old, _ := os.ReadFile(path)
	if _, err := s2.Rotate(day1.Add(49 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "2026-11-24") {
		t.Fatalf("destroyed salt still in the state file: %s", data)
	}
	// The old key must not survive anywhere in the file.
	for _, line := range strings.Split(string(old), `"key":"`)[1:] {
		key := line[:32]
		if strings.Contains(string(data), key) {
			t.Fatal("destroyed key still in the state file")
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestCorruptStateFileIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "salts.json")
	os.WriteFile(path, []byte("{not json"), 0o600)
	if _, err := NewSalts(path, day1); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err %v", err)
	}
}

// TestCopiedStateCountsVisitorOnce: two collectors started from one state
// file (the second from a copy taken hours later) give a visitor the same
// hash on every day, each moving its ratchet on its own.
func TestCopiedStateCountsVisitorOnce(t *testing.T) {
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	s1, err := NewSalts(p1, day1.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p1)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p2, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := NewSalts(p2, day1.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Duration{2 * time.Hour, 30 * time.Hour, 75 * time.Hour, 24 * 40 * time.Hour} {
		now := day1.Add(at)
		_, h1 := s1.Hash(now, "site", ipA, uaA)
		_, h2 := s2.Hash(now, "site", ipA, uaA)
		if h1 != h2 {
			t.Fatalf("at %v the two collectors disagree: %x %x", now, h1, h2)
		}
	}
	// A collector with its own state (another deployment) does not.
	s3, _ := NewSalts("", day1)
	_, h1 := s1.Hash(day1.Add(24*40*time.Hour), "site", ipA, uaA)
	if _, h3 := s3.Hash(day1.Add(24*40*time.Hour), "site", ipA, uaA); h3 == h1 {
		t.Fatal("an unrelated state gave the same hash")
	}
}

// TestDestroyedSaltCannotBeRecomputed: once day 1's salt is destroyed,
// nothing in the state file gives it back: the seed kept is a later one,
// no seed or salt reachable from it forwards (a thousand days) is day 1's,
// and a Salts loaded from the file hashes day 1 differently.
func TestDestroyedSaltCannotBeRecomputed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "salts.json")
	s, err := NewSalts(path, day1.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	_, h1 := s.Hash(day1.Add(time.Hour), "site", ipA, uaA)
	before, _ := os.ReadFile(path)
	old := readRatchet(t, before)
	if !old.day.Equal(day1) {
		t.Fatalf("ratchet day %v, want %v", old.day, day1)
	}
	oldSalt := old.salt()
	destroyed, err := s.Rotate(day1.Add(SaltLifetime))
	if err != nil || len(destroyed) != 1 || !destroyed[0].Equal(day1) {
		t.Fatalf("destroyed %v (err %v), want day 1", destroyed, err)
	}
	after, _ := os.ReadFile(path)
	if strings.Contains(string(after), hex.EncodeToString(old.seed[:])) {
		t.Fatal("the destroyed seed is still in the state file")
	}
	r := readRatchet(t, after)
	if !r.day.After(day1) {
		t.Fatalf("kept seed of %v: not after the destroyed day", r.day)
	}
	for i := 0; i < 1000; i++ {
		if r.seed == old.seed {
			t.Fatalf("day 1's seed reached from the kept one after %d steps", i)
		}
		if sl := r.salt(); sl.k0 == oldSalt.k0 && sl.k1 == oldSalt.k1 {
			t.Fatalf("day 1's salt reached from the kept seed after %d steps", i)
		}
		r.next()
	}
	reloaded, err := NewSalts(path, day1.Add(SaltLifetime+time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, h := reloaded.Hash(day1.Add(time.Hour), "site", ipA, uaA); h == h1 {
		t.Fatal("a Salts loaded after destruction reproduced day 1's hash")
	}
}

func readRatchet(t *testing.T, data []byte) ratchet {
	t.Helper()
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil || st.Ratchet == nil {
		t.Fatalf("state file %s: %v", data, err)
	}
	d, _ := time.Parse(time.DateOnly, st.Ratchet.Day)
	seed, _ := hex.DecodeString(st.Ratchet.Seed)
	r := ratchet{day: d}
	copy(r.seed[:], seed)
	return r
}

// TestEarlierStateFormat: a state file of one random key per day keeps
// serving its day (no visitor split at the upgrade), then gives way to
// the ratchet.
func TestEarlierStateFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "salts.json")
	key := "00112233445566778899aabbccddeeff"
	if err := os.WriteFile(path, []byte(`{"salts":[{"day":"2026-11-24","key":"`+key+`"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := NewSalts(path, day1.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	k, _ := hex.DecodeString(key)
	want := hashWith(salt{day: day1, k0: binary.LittleEndian.Uint64(k[:8]), k1: binary.LittleEndian.Uint64(k[8:])}, "site", ipA, uaA)
	if _, h := s.Hash(day1.Add(2*time.Hour), "site", ipA, uaA); h != want {
		t.Fatal("the earlier format's salt no longer serves its day")
	}
	if _, err := s.Rotate(day1.Add(SaltLifetime)); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), key) || !strings.Contains(string(data), `"ratchet"`) {
		t.Fatalf("state after the old salt expired: %s", data)
	}
}
