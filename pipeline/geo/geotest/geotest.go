// Package geotest writes small MaxMind-format databases for tests, in the three layouts
// that package geo reads, so no test depends on a downloaded or licensed file.
package geotest

import (
	"fmt"
	"net"
	"os"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// WriteCountryDB writes a "GeoIP2-Country" database to path, mapping each CIDR prefix
// (IPv4 or IPv6) in entries to an ISO country code.
func WriteCountryDB(path string, entries map[string]string) error {
	recs := make(map[string]mmdbtype.Map, len(entries))
	for prefix, country := range entries {
		recs[prefix] = mmdbtype.Map{"country": isoRecord(country)}
	}
	return write(path, "GeoIP2-Country", recs)
}

// WriteCityDB writes a "GeoIP2-City" database to path, mapping each CIDR prefix to
// {country ISO code, largest subdivision ISO code}; an empty subdivision is left out.
func WriteCityDB(path string, entries map[string][2]string) error {
	recs := make(map[string]mmdbtype.Map, len(entries))
	for prefix, cr := range entries {
		rec := mmdbtype.Map{"country": isoRecord(cr[0])}
		if cr[1] != "" {
			rec["subdivisions"] = mmdbtype.Slice{isoRecord(cr[1])}
		}
		recs[prefix] = rec
	}
	return write(path, "GeoIP2-City", recs)
}

// WriteCodeDB writes an ip-location-db style database ({"country_code": "KZ"}) to path.
// Its database type is not a GeoIP2 product name, as in the real files.
func WriteCodeDB(path string, entries map[string]string) error {
	recs := make(map[string]mmdbtype.Map, len(entries))
	for prefix, country := range entries {
		recs[prefix] = mmdbtype.Map{"country_code": mmdbtype.String(country)}
	}
	return write(path, "country ipvAll", recs)
}

func isoRecord(code string) mmdbtype.Map {
	return mmdbtype.Map{"iso_code": mmdbtype.String(code)}
}

// write builds an IPv6 tree (IPv4 networks are aliased into ::ffff:0:0/96 by mmdbwriter)
// and writes it to path.
func write(path, dbType string, recs map[string]mmdbtype.Map) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: dbType,
		RecordSize:   28,
		// Tests use documentation and private ranges (192.0.2.0/24, 2001:db8::/32, 10/8),
		// which mmdbwriter refuses unless told otherwise.
		IncludeReservedNetworks: true,
	})
	if err != nil {
		return fmt.Errorf("cannot create mmdb tree: %w", err)
	}
	for prefix, rec := range recs {
		_, network, err := net.ParseCIDR(prefix)
		if err != nil {
			return fmt.Errorf("cannot parse prefix %q: %w", prefix, err)
		}
		if err := tree.Insert(network, rec); err != nil {
			return fmt.Errorf("cannot insert prefix %q: %w", prefix, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cannot create mmdb file: %w", err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("cannot write mmdb file %q: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot close mmdb file %q: %w", path, err)
	}
	return nil
}
