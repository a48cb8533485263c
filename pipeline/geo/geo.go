// Package geo turns a visitor's IP address into a country and, when the database has it,
// a region. It is the only place that reads IP geolocation databases, so the full IP never
// needs to travel further than this step.
//
// Two database families are understood, detected from the file itself:
//   - GeoIP2/GeoLite2/DB-IP City and Country databases, read with geoip2-golang;
//   - the "ip-location-db" style databases (CC0 package, CC BY 4.0 NRO data) whose records
//     are just {"country_code": "KZ"}, read with maxminddb-golang and a one-field struct.
package geo

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
)

// schema says which record layout a database uses, so Lookup decodes as little as it can.
type schema uint8

const (
	schemaCountry schema = iota + 1 // GeoIP2-style record, country only
	schemaCity                      // GeoIP2-style record with subdivisions
	schemaCode                      // {"country_code": "KZ"}
)

// DB is an open geolocation database. It is safe for concurrent use. A nil *DB is valid
// and answers every lookup with "", which is how "no database configured" is spelt.
type DB struct {
	schema schema
	geo    *geoip2.Reader    // schemaCountry and schemaCity
	mm     *maxminddb.Reader // schemaCode
}

// codeRecord is the whole record of an ip-location-db database; decoding into a
// one-field struct skips everything else and costs no allocation for cached strings.
type codeRecord struct {
	CountryCode string `maxminddb:"country_code"`
}

// Open opens the database at path and detects its schema. On error nothing stays open and
// the error reads "cannot open geo database <path>: <cause>".
func Open(path string) (*DB, error) {
	db, err := open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open geo database %q: %w", path, err)
	}
	return db, nil
}

func open(path string) (*DB, error) {
	r, err := geoip2.Open(path)
	if err == nil {
		// geoip2 also opens ASN, ISP, anonymous-IP... databases; those cannot answer Country.
		var wrong geoip2.InvalidMethodError
		if _, err := r.Country(netip.IPv4Unspecified()); errors.As(err, &wrong) {
			t := r.Metadata().DatabaseType
			_ = r.Close()
			return nil, fmt.Errorf("unsupported database type %q: it has no country data", t)
		}
		s := schemaCountry
		// DB-IP and MaxMind name their city products "...City..." (and DBIP-Location);
		// only those carry subdivisions, so only those pay for decoding them.
		t := r.Metadata().DatabaseType
		if strings.Contains(t, "City") || strings.Contains(t, "Location") || strings.Contains(t, "Enterprise") {
			s = schemaCity
		}
		return &DB{schema: s, geo: r}, nil
	}
	if r != nil {
		// geoip2.Open returns an open reader together with UnknownDatabaseTypeError.
		_ = r.Close()
	}
	var unknown geoip2.UnknownDatabaseTypeError
	if !errors.As(err, &unknown) {
		return nil, err
	}
	// Not a GeoIP2 product name: accept it only if its records have country_code, which is
	// what ip-location-db writes (its database type is free text such as "country ipvAll").
	mm, err := maxminddb.Open(path)
	if err != nil {
		return nil, err
	}
	if !hasCountryCode(mm) {
		_ = mm.Close()
		return nil, fmt.Errorf("unsupported database type %q: records have no country or country_code", unknown.DatabaseType)
	}
	return &DB{schema: schemaCode, mm: mm}, nil
}

// hasCountryCode reports whether the first record that holds data has a country_code.
func hasCountryCode(mm *maxminddb.Reader) bool {
	for res := range mm.Networks() {
		var rec codeRecord
		if err := res.Decode(&rec); err != nil {
			return false
		}
		return rec.CountryCode != ""
	}
	return false
}

// Lookup returns the ISO 3166-1 alpha-2 country ("KZ") and the ISO 3166-2 subdivision code
// of the largest region as the database stores it ("ALA", or "" when the database has no
// regions), or "" for what is unknown. It never fails: a decode error means "unknown",
// because a missing country must never cost an event.
func (db *DB) Lookup(ip netip.Addr) (country, region string) {
	if db == nil || !ip.IsValid() {
		return "", ""
	}
	// Dual-stack listeners hand out ::ffff:a.b.c.d; databases without IPv4 aliasing (the
	// ip-location-db ones) only know a.b.c.d.
	ip = ip.Unmap()
	switch db.schema {
	case schemaCode:
		var rec codeRecord
		if err := db.mm.Lookup(ip).Decode(&rec); err != nil {
			return "", ""
		}
		return cleanCountry(rec.CountryCode), ""
	case schemaCity:
		c, err := db.geo.City(ip)
		if err != nil || c == nil {
			return "", ""
		}
		country = cleanCountry(c.Country.ISOCode)
		if country != "" && len(c.Subdivisions) > 0 {
			region = cleanRegion(c.Subdivisions[0].ISOCode)
		}
		return country, region
	default:
		c, err := db.geo.Country(ip)
		if err != nil || c == nil {
			return "", ""
		}
		return cleanCountry(c.Country.ISOCode), ""
	}
}

// Close releases the memory map. Lookups after Close are a programming error; Close on a
// nil *DB is a no-op so callers can defer it unconditionally.
func (db *DB) Close() error {
	if db == nil {
		return nil
	}
	var err error
	if db.geo != nil {
		err = db.geo.Close()
	}
	if db.mm != nil {
		err = db.mm.Close()
	}
	if err != nil {
		return fmt.Errorf("cannot close geo database: %w", err)
	}
	return nil
}

// cleanCountry keeps only two upper-case ASCII letters, so a malformed or hostile database
// cannot push unbounded values into a stats dimension.
func cleanCountry(s string) string {
	if len(s) != 2 || !isUpperAlpha(s[0]) || !isUpperAlpha(s[1]) {
		return ""
	}
	return s
}

// cleanRegion keeps 1–3 upper-case letters or digits, the shape of ISO 3166-2 suffixes.
func cleanRegion(s string) string {
	if len(s) == 0 || len(s) > 3 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if !isUpperAlpha(s[i]) && (s[i] < '0' || s[i] > '9') {
			return ""
		}
	}
	return s
}

func isUpperAlpha(c byte) bool { return c >= 'A' && c <= 'Z' }
