package anon

import (
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
