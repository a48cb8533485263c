package anon

import (
	"net/netip"
	"testing"
)

func BenchmarkTruncateIP(b *testing.B) {
	a4 := netip.MustParseAddr("203.0.113.77")
	a6 := netip.MustParseAddr("2001:db8:abcd:1234:5678:9abc:def0:1234")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i&1 == 0 {
			TruncateIP(a4)
		} else {
			TruncateIP(a6)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	s, _ := NewSalts("", day1)
	now := day1.Add(3600e9)
	b.ReportAllocs()
	for b.Loop() {
		s.Hash(now, "sez.im", ipA, uaA)
	}
}
