package geo_test

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/sezim-analytics/sezim/pipeline/geo"
	"github.com/sezim-analytics/sezim/pipeline/geo/geotest"
)

var countryEntries = map[string]string{
	"2.72.0.0/13":    "KZ",
	"8.8.8.0/24":     "US",
	"77.88.0.0/18":   "RU",
	"192.0.2.0/24":   "kz", // malformed code in the database: must not leak through
	"2a03:32c0::/32": "KZ",
	"2001:db8::/32":  "DE",
}

func openTemp(t *testing.T, write func(path string) error) *geo.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.mmdb")
	if err := write(path); err != nil {
		t.Fatalf("cannot write test database: %s", err)
	}
	db, err := geo.Open(path)
	if err != nil {
		t.Fatalf("Open: %s", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %s", err)
		}
	})
	return db
}

func checkLookups(t *testing.T, db *geo.DB, withRegion bool) {
	t.Helper()
	f := func(ip, wantCountry, wantRegion string) {
		t.Helper()
		if !withRegion {
			wantRegion = ""
		}
		country, region := db.Lookup(netip.MustParseAddr(ip))
		if country != wantCountry || region != wantRegion {
			t.Errorf("Lookup(%s) = %q, %q; want %q, %q", ip, country, region, wantCountry, wantRegion)
		}
	}
	f("2.72.1.1", "KZ", "ALA")
	f("2.79.255.255", "KZ", "ALA")
	f("::ffff:2.72.1.1", "KZ", "ALA") // IPv4-mapped, as a dual-stack listener reports it
	f("8.8.8.8", "US", "CA")
	f("77.88.8.8", "RU", "")
	f("2a03:32c0:1::1", "KZ", "AST")
	f("2001:db8::1", "DE", "")
	f("192.0.2.1", "", "") // malformed code
	f("1.1.1.1", "", "")   // miss
	f("2606:4700::1", "", "")
	f("10.1.2.3", "", "")
}

func TestCountryDB(t *testing.T) {
	db := openTemp(t, func(p string) error { return geotest.WriteCountryDB(p, countryEntries) })
	checkLookups(t, db, false)
}

func TestCodeDB(t *testing.T) {
	db := openTemp(t, func(p string) error { return geotest.WriteCodeDB(p, countryEntries) })
	checkLookups(t, db, false)
}

func TestCityDB(t *testing.T) {
	db := openTemp(t, func(p string) error {
		return geotest.WriteCityDB(p, map[string][2]string{
			"2.72.0.0/13":    {"KZ", "ALA"},
			"8.8.8.0/24":     {"US", "CA"},
			"77.88.0.0/18":   {"RU", ""},
			"192.0.2.0/24":   {"Kazakhstan", "ALA"},
			"2a03:32c0::/32": {"KZ", "AST"},
			"2001:db8::/32":  {"DE", "XXXX"},
		})
	})
	checkLookups(t, db, true)
}

func TestNilAndInvalid(t *testing.T) {
	var db *geo.DB
	if c, r := db.Lookup(netip.MustParseAddr("8.8.8.8")); c != "" || r != "" {
		t.Errorf("nil DB Lookup = %q, %q; want empty", c, r)
	}
	if err := db.Close(); err != nil {
		t.Errorf("nil DB Close: %s", err)
	}
	real := openTemp(t, func(p string) error { return geotest.WriteCountryDB(p, countryEntries) })
	if c, r := real.Lookup(netip.Addr{}); c != "" || r != "" {
		t.Errorf("zero Addr Lookup = %q, %q; want empty", c, r)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	f := func(name string, write func(path string) error) {
		t.Helper()
		path := filepath.Join(dir, name)
		if write != nil {
			if err := write(path); err != nil {
				t.Fatalf("cannot write %s: %s", name, err)
			}
		}
		db, err := geo.Open(path)
		if err == nil {
			_ = db.Close()
			t.Fatalf("Open(%s) succeeded; want an error", name)
		}
		if !strings.HasPrefix(err.Error(), "cannot open geo database \""+path+"\": ") {
			t.Errorf("Open(%s) error = %q; want the documented prefix", name, err)
		}
	}
	f("missing.mmdb", nil)
	f("garbage.mmdb", func(p string) error { return os.WriteFile(p, []byte("not a database"), 0o600) })
	f("asn.mmdb", func(p string) error {
		return writeRaw(p, "GeoLite2-ASN", mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(9198)})
	})
	f("other.mmdb", func(p string) error {
		return writeRaw(p, "acme-weather", mmdbtype.Map{"temperature": mmdbtype.String("-30")})
	})
}

func writeRaw(path, dbType string, rec mmdbtype.Map) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType})
	if err != nil {
		return err
	}
	_, network, _ := net.ParseCIDR("2.72.0.0/13")
	if err := tree.Insert(network, rec); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = tree.WriteTo(f)
	return err
}

// realDBPath is where scripts/fetch-geo.sh puts the CC0 country database; SEZIM_TEST_GEO_DB
// overrides it. The test is skipped when the file is absent, as on a fresh checkout.
func realDBPath(t testing.TB) string {
	t.Helper()
	path := os.Getenv("SEZIM_TEST_GEO_DB")
	if path == "" {
		path = filepath.Join("..", "..", ".cache", "geo", "country.mmdb")
	}
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no real geo database at %s (run scripts/fetch-geo.sh)", path)
	}
	return path
}

func TestRealCountryDB(t *testing.T) {
	db, err := geo.Open(realDBPath(t))
	if err != nil {
		t.Fatalf("Open: %s", err)
	}
	defer db.Close()
	f := func(ip, want string) {
		t.Helper()
		if c, r := db.Lookup(netip.MustParseAddr(ip)); c != want || r != "" {
			t.Errorf("Lookup(%s) = %q, %q; want %q", ip, c, r, want)
		}
	}
	f("8.8.8.8", "US")        // Google public DNS
	f("::ffff:8.8.8.8", "US") // the same, IPv4-mapped
	f("2.72.0.1", "KZ")       // Kazakhtelecom
	f("77.88.8.8", "RU")      // Yandex DNS
	f("2001:4860:4860::8888", "US")
	f("10.0.0.1", "") // private: never in the database
	f("127.0.0.1", "")
}

// TestConcurrentLookups backs the "safe for concurrent use" promise under -race.
func TestConcurrentLookups(t *testing.T) {
	db := openTemp(t, func(p string) error { return geotest.WriteCodeDB(p, countryEntries) })
	ip := netip.MustParseAddr("2.72.1.1")
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 1000 {
				if c, _ := db.Lookup(ip); c != "KZ" {
					t.Errorf("Lookup = %q; want KZ", c)
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
}
