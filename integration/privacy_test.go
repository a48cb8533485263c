package integration

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/privacy"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestNothingIdentifyingReachesTheStatsDatabase sends events from 1,000
// random IPv4 and IPv6 addresses with random user agents, then reads every
// column of every table of the stats database as text and looks for any
// address (full or truncated), any user agent and the salt. The log lines
// written meanwhile are scanned the same way.
func TestNothingIdentifyingReachesTheStatsDatabase(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		s := newStack(t, st)
		rng := rand.New(rand.NewPCG(1, 2))
		var secrets []string
		numeric := map[string]bool{}
		for i := range 1000 {
			var ip netip.Addr
			if i%2 == 0 {
				var b [4]byte
				binary.BigEndian.PutUint32(b[:], rng.Uint32()|0x40000000)
				ip = netip.AddrFrom4(b)
			} else {
				var b [16]byte
				binary.BigEndian.PutUint64(b[:8], 0x2a02000000000000|rng.Uint64()>>16)
				binary.BigEndian.PutUint64(b[8:], rng.Uint64())
				ip = netip.AddrFrom16(b)
			}
			ua := fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.%d.%d Safari/537.36 Marker%08x",
				100+rng.IntN(40), rng.IntN(9999), rng.IntN(999), rng.Uint32())
			s.at(time.Duration(i) * time.Second)
			page := fmt.Sprintf("https://sez.im/p%d?utm_source=src%d&gclid=CLICK%d&email=a%d@b.kz", i%50, i%7, i, i)
			if code := s.pixel(t, ip.String(), ua, page, "https://www.google.com/search?q=private+thing", ""); code != 200 {
				t.Fatalf("status %d", code)
			}
			trunc := anon.TruncateIP(ip)
			secrets = append(secrets, ip.String(), ua, fmt.Sprintf("Marker%s", ua[len(ua)-8:]), fmt.Sprintf("CLICK%d", i), fmt.Sprintf("a%d@b.kz", i))
			if trunc.Is4() {
				secrets = append(secrets, trunc.String())
				// The /24 network without its last octet, as a prefix.
				secrets = append(secrets, strings.TrimSuffix(trunc.String(), ".0")+".")
			} else {
				secrets = append(secrets, strings.TrimSuffix(trunc.String(), "::"))
			}
			// Numeric forms of the address, in case a column held one.
			// Matched as whole values: as a substring, a random 19-digit
			// visitor hash contains some 10-digit address now and then.
			if ip.Is4() {
				b := ip.As4()
				numeric[strconv.FormatUint(uint64(binary.BigEndian.Uint32(b[:])), 10)] = true
			}
		}
		secrets = append(secrets, "private+thing", "search?q")
		s.flushAndRollup(t)
		secrets = append(secrets, saltSecrets(t, s.saltsAt)...)

		tables := listTables(t, st, st.DB().Stats)
		if len(tables) < 3 {
			t.Fatalf("only %d tables found in %s", len(tables), st.DB().Stats)
		}
		cells := 0
		for _, table := range tables {
			cols := listColumns(t, st, st.DB().Stats, table)
			exprs := make([]string, len(cols))
			for i, c := range cols {
				exprs[i] = "toString(" + c + ")"
			}
			q := fmt.Sprintf("SELECT %s FROM %s.%s", strings.Join(exprs, ", "), st.DB().Stats, table)
			err := st.Query(t.Context(), q, func(r store.Row) error {
				for i := 0; i < r.Len(); i++ {
					cells++
					v := r.String(i)
					if numeric[v] {
						return fmt.Errorf("%s.%s holds an address as a number, %q", table, cols[i], v)
					}
					if len(v) < 4 {
						continue
					}
					for _, sec := range secrets {
						if strings.Contains(v, sec) {
							return fmt.Errorf("%s.%s holds %q, which contains a secret %q", table, cols[i], v, sec)
						}
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if cells < 1000 {
			t.Fatalf("scanned only %d cells", cells)
		}
		logs := s.logs.String()
		for _, sec := range secrets {
			if len(sec) >= 6 && strings.Contains(logs, sec) {
				t.Fatalf("a log line holds %q", sec)
			}
		}
		t.Logf("scanned %d cells in %d tables against %d secrets", cells, len(tables), len(secrets))
		// The privacy report, which knows no secret, finds nothing either.
		r, err := privacy.ScanStats(t.Context(), st)
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK {
			t.Fatalf("privacy report failed %v", r.Failed())
		}
	})
}

// saltSecrets reads the salt state file and returns each key as hex and as
// the two decimal 64-bit halves a column could hold.
func saltSecrets(t *testing.T, path string) []string {
	t.Helper()
	out, err := anon.StateSecrets(path, time.Now().Add(48*time.Hour))
	if err != nil || len(out) == 0 {
		t.Fatalf("salt state %s: %v", path, err)
	}
	return out
}

func listTables(t *testing.T, st store.Store, db string) []string {
	var out []string
	err := st.Query(t.Context(), "SELECT name FROM system.tables WHERE database = "+store.Quote(db)+" ORDER BY name", func(r store.Row) error {
		out = append(out, r.String(0))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func listColumns(t *testing.T, st store.Store, db, table string) []string {
	var out []string
	err := st.Query(t.Context(), "SELECT name FROM system.columns WHERE database = "+store.Quote(db)+" AND table = "+store.Quote(table)+" ORDER BY name", func(r store.Row) error {
		out = append(out, r.String(0))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
