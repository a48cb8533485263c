package geo_test

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/sezim-analytics/sezim/pipeline/geo"
	"github.com/sezim-analytics/sezim/pipeline/geo/geotest"
)

// FuzzLookup feeds arbitrary addresses, IPv4, IPv6 and zoned, to each schema: Lookup must
// never panic and must only return well-formed codes.
func FuzzLookup(f *testing.F) {
	dir := f.TempDir()
	var dbs []*geo.DB
	for name, write := range map[string]func(string) error{
		"country": func(p string) error { return geotest.WriteCountryDB(p, countryEntries) },
		"code":    func(p string) error { return geotest.WriteCodeDB(p, countryEntries) },
		"city": func(p string) error {
			return geotest.WriteCityDB(p, map[string][2]string{"2.72.0.0/13": {"KZ", "ALA"}, "2001:db8::/32": {"DE", "BE"}})
		},
	} {
		path := filepath.Join(dir, name+".mmdb")
		if err := write(path); err != nil {
			f.Fatal(err)
		}
		db, err := geo.Open(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { _ = db.Close() })
		dbs = append(dbs, db)
	}
	f.Add([]byte{2, 72, 1, 1}, "")
	f.Add([]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}, "eth0")
	f.Add([]byte{10: 0xff, 11: 0xff, 12: 2, 13: 72, 14: 0, 15: 1}, "")
	f.Fuzz(func(t *testing.T, raw []byte, zone string) {
		ip, ok := netip.AddrFromSlice(raw)
		if ok && ip.Is6() {
			ip = ip.WithZone(zone)
		}
		for _, db := range dbs {
			c, r := db.Lookup(ip)
			if (c != "" && len(c) != 2) || len(r) > 3 || (c == "" && r != "") {
				t.Fatalf("Lookup(%v) = %q, %q", ip, c, r)
			}
		}
	})
}
