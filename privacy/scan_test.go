package privacy

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/pipeline/scrub"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestPatterns checks each pattern with Go's regexp, which is RE2 as
// ClickHouse's match() is: what scrub stores passes, what it replaces fails.
func TestPatterns(t *testing.T) {
	res := map[string]*regexp.Regexp{}
	for _, p := range patterns {
		res[p.name] = regexp.MustCompile(p.re)
	}
	f := func(value string, want ...string) {
		t.Helper()
		var got []string
		for _, p := range patterns {
			if res[p.name].MatchString(value) {
				got = append(got, p.name)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q fails %v, want %v", value, got, want)
		}
	}
	// Clean values, as stored.
	for _, v := range []string{"", "/", "/psychologists/anna-ivanova", "/blog/2026/11/24/how-to", "2026-11-24", "12.345.678",
		"/psychologist/:id", scrub.Email, scrub.Phone, scrub.IP, scrub.Token, "ssn-:id", "google", "vk", "Chrome", "131",
		"10:00:00", "spring_sale", "iPhone15ProMax", "v1.2.3", "Asia/Almaty", "KZ-ALA", "ru", "sez.im",
		"how-to-choose-a-psychologist-in-almaty-2026", "@sezim", "50% off", "/q=1"} {
		f(v)
	}
	f("203.0.113.7", CheckAddress)
	f("ref 10.1.2.3", CheckAddress)
	f("203.0.113.0", CheckAddress)
	f("192.168.100.200", CheckAddress, CheckPhone)
	f("2001:db8::1", CheckAddress)
	f("2a02:6b8:1234::", CheckAddress)
	f("fe80:0:0:0:0:0:0:1", CheckAddress)
	f("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", CheckUserAgent)
	f("curl/8.5.0", CheckUserAgent)
	f("victim@mail.com", CheckEmail)
	f("/u/victim%40mail.com", CheckEmail)
	f("+7 701 123 45 67", CheckPhone)
	f("ssn-123-45-6789", CheckPhone)
	f("order 1234567", CheckNumber)
	f("3232235777", CheckPhone, CheckNumber)
	f("550e8400-e29b-41d4-a716-446655440000", CheckPhone, CheckNumber, CheckToken)
	f("tok_ABCDEF12", CheckToken)
	f("sk_live_4eC39HqLyjWD", CheckToken)
	f("eyJhbGciOiJIUzI1NiJ9", CheckToken)
	f("5f3e2a1b9c8d7e6f5f3e2a1b", CheckToken)
	f("/a?email=x", CheckQuery)
	f("/cart;jsessionid=x", CheckQuery)
}

func TestMask(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
	f("victim@mail.com", "vi****@****.***")
	f("203.0.113.7", "20*.*.***.*")
	f("иван@почта.рф", "ив**@*****.**")
	f("", "")
	f(strings.Repeat("a", 70), strings.Repeat("a", 2)+strings.Repeat("*", 62)+"…")
}

// TestScanStats: a freshly migrated stats database holding scrubbed values
// passes every check; after an e-mail address and an IP address are planted
// in it (and a column named for addresses is added), the report fails and
// names those checks, the tables and columns, without repeating the values.
func TestScanStats(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		db := st.DB().Stats
		exec := func(q string) {
			t.Helper()
			if err := st.Exec(t.Context(), q); err != nil {
				t.Fatal(err)
			}
		}
		day := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
		ts, d := day.Add(10*time.Hour), store.DayOf(day)
		insert(t, st, "events", []string{"salt_day", "site", "ts", "visitor", "kind", "name", "path", "ref_host", "channel", "utm_source", "utm_term", "browser", "batch_id"},
			[]any{d, "sez", ts, uint64(1234567890123), uint8(1), "call :id", "/psychologist/:id", "google.com", "search", ":email", "ssn-:id", "Chrome", "a1b2c3-0123456789abcdef-20261124-0"})
		insert(t, st, "agg_daily", []string{"site", "day", "dim", "value", "salt_day", "visitors"},
			[]any{"sez", d, "page", "/blog/2026/11/24/how-to", d, uint64(3)}, []any{"sez", d, "utm_source", ":email", d, uint64(1)})
		insert(t, st, "ingest_batches", []string{"day", "site", "key", "token", "claimed_ns", "state", "summary"},
			[]any{d, "sez", "import/9f8e7d6c5b4a39281706f5e4d3c2b1a0/0-1048576", "c3f1e2d4b5a69788", uint64(1764000000000000000), uint8(1), `{"accepted":1234567}`})
		r, err := ScanStats(t.Context(), st)
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK || len(r.Failed()) != 0 || r.Rows < 4 || r.Tables < 5 || r.Columns < 20 {
			t.Fatalf("clean store: %+v", r)
		}

		insert(t, st, "agg_daily", []string{"site", "day", "dim", "value", "salt_day", "visitors"}, []any{"sez", d, "page", "/u/victim@mail.com", d, uint64(1)})
		insert(t, st, "events", []string{"salt_day", "site", "ts", "ref_host"}, []any{d, "sez", ts, "203.0.113.7"})
		exec(fmt.Sprintf(`CREATE TABLE %s.leak (day Date, client_ip UInt32) ENGINE = Memory`, db))
		r, err = ScanStats(t.Context(), st)
		if err != nil {
			t.Fatal(err)
		}
		if r.OK || !slices.Equal(r.Failed(), []string{CheckAddress, CheckEmail, CheckAddressColumn}) {
			t.Fatalf("planted: failed %v", r.Failed())
		}
		want := map[string]Finding{
			CheckEmail:         {Table: "agg_daily", Column: "value", Cells: 1, Sample: "/u/******@****.***"},
			CheckAddress:       {Table: "events", Column: "ref_host", Cells: 1, Sample: "20*.*.***.*"},
			CheckAddressColumn: {Table: "leak", Column: "client_ip", Sample: "UInt32"},
		}
		for _, c := range r.Checks {
			if w, ok := want[c.Name]; ok && (len(c.Findings) != 1 || c.Findings[0] != w) {
				t.Errorf("%s: findings %+v, want %+v", c.Name, c.Findings, w)
			}
		}
		out, _ := json.Marshal(r)
		for _, secret := range []string{"victim", "mail.com", "203.0.113.7", "113.7"} {
			if strings.Contains(string(out), secret) {
				t.Fatalf("the report repeats %q: %s", secret, out)
			}
		}
	})
}

func insert(t *testing.T, st store.Store, table string, cols []string, rows ...[]any) {
	t.Helper()
	if err := st.Insert(t.Context(), st.DB().Stats+"."+table, cols, rows); err != nil {
		t.Fatal(err)
	}
}
