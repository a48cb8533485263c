package geo_test

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/sezim-analytics/sezim/pipeline/geo"
	"github.com/sezim-analytics/sezim/pipeline/geo/geotest"
)

func benchLookup(b *testing.B, db *geo.DB, ips ...string) {
	b.Helper()
	addrs := make([]netip.Addr, len(ips))
	for i, s := range ips {
		addrs[i] = netip.MustParseAddr(s)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		c, _ := db.Lookup(addrs[i%len(addrs)])
		if c == "" {
			b.Fatal("miss")
		}
		i++
	}
}

func benchDB(b *testing.B, write func(path string) error) *geo.DB {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.mmdb")
	if err := write(path); err != nil {
		b.Fatal(err)
	}
	db, err := geo.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	return db
}

func BenchmarkLookupCountry(b *testing.B) {
	db := benchDB(b, func(p string) error { return geotest.WriteCountryDB(p, countryEntries) })
	benchLookup(b, db, "2.72.1.1", "8.8.8.8", "2a03:32c0:1::1")
}

func BenchmarkLookupCity(b *testing.B) {
	db := benchDB(b, func(p string) error {
		return geotest.WriteCityDB(p, map[string][2]string{
			"2.72.0.0/13":    {"KZ", "ALA"},
			"8.8.8.0/24":     {"US", "CA"},
			"2a03:32c0::/32": {"KZ", "AST"},
		})
	})
	benchLookup(b, db, "2.72.1.1", "8.8.8.8", "2a03:32c0:1::1")
}

func BenchmarkLookupCode(b *testing.B) {
	db := benchDB(b, func(p string) error { return geotest.WriteCodeDB(p, countryEntries) })
	benchLookup(b, db, "2.72.1.1", "8.8.8.8", "2a03:32c0:1::1")
}

// BenchmarkLookupRealCode uses the 7.8 MB ip-location-db file, whose deeper tree is what
// production lookups walk.
func BenchmarkLookupRealCode(b *testing.B) {
	db, err := geo.Open(realDBPath(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	benchLookup(b, db, "2.72.1.1", "8.8.8.8", "77.88.8.8", "2001:4860:4860::8888")
}

func BenchmarkLookupNil(b *testing.B) {
	var db *geo.DB
	ip := netip.MustParseAddr("8.8.8.8")
	b.ReportAllocs()
	for b.Loop() {
		db.Lookup(ip)
	}
}
