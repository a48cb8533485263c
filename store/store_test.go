package store_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

var eventCols = []string{
	"salt_day", "site", "ts", "visitor", "kind", "name", "path", "ref_host", "channel",
	"utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
	"country", "region", "browser", "browser_version", "os", "device", "screen", "language",
}

// nastyStrings are values whose escaping differs between formats.
var nastyStrings = []string{
	"",
	"plain",
	"Сезим — аналитика",
	"tab\there",
	"new\nline",
	"cr\rlf\r\n",
	`back\slash`,
	`\N`,
	`\t literally`,
	"trailing\\",
	`'single' "double" ` + "`back`",
	"nul\x00byte",
	"emoji 🙂 and 日本語",
	strings.Repeat("long ", 1000),
}

func eventRow(i int, s string) []any {
	return []any{
		store.Day{Year: 2024, Month: time.May, Day: 1 + i%3},
		"site-" + s,
		time.Date(2024, 5, 1, 12, 34, 56, 0, time.UTC).Add(time.Duration(i) * time.Second),
		uint64(math.MaxUint64 - uint64(i)),
		uint8(i % 256),
		s, "/path/" + s, "ref.example", "search",
		s, "m", "c", "ct", "t",
		"KG", "Чуй", "Firefox", uint16(65535 - i), "Linux", "desktop", "1920x1080", "ky-KG",
	}
}

func TestInsertQueryRoundTrip(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		table := s.DB().Stats + ".events"
		var rows [][]any
		for i, str := range nastyStrings {
			rows = append(rows, eventRow(i, str))
		}
		if err := s.Insert(ctx, table, eventCols, rows); err != nil {
			t.Fatal(err)
		}
		q := "SELECT " + strings.Join(eventCols, ", ") + " FROM " + table + " ORDER BY browser_version DESC"
		n := 0
		err := s.Query(ctx, q, func(r store.Row) error {
			want := rows[n]
			if r.Len() != len(eventCols) {
				t.Fatalf("row %d: %d columns, want %d", n, r.Len(), len(eventCols))
			}
			if got := store.DayOf(r.Time(0)); got != want[0] {
				t.Errorf("row %d salt_day = %v, want %v", n, got, want[0])
			}
			if got := r.String(0); got != want[0].(store.Day).String() {
				t.Errorf("row %d salt_day text = %q", n, got)
			}
			if got := r.Time(2); !got.Equal(want[2].(time.Time)) || got.Location() != time.UTC {
				t.Errorf("row %d ts = %v, want %v", n, got, want[2])
			}
			if got := r.String(2); got != want[2].(time.Time).Format(time.DateTime) {
				t.Errorf("row %d ts text = %q", n, got)
			}
			if got := r.Uint64(3); got != want[3] {
				t.Errorf("row %d visitor = %d, want %d", n, got, want[3])
			}
			if got := r.Uint64(4); got != uint64(want[4].(uint8)) {
				t.Errorf("row %d kind = %d", n, got)
			}
			if got := r.Int64(4); got != int64(want[4].(uint8)) {
				t.Errorf("row %d kind as int = %d", n, got)
			}
			if got := r.Float64(17); got != float64(want[17].(uint16)) {
				t.Errorf("row %d browser_version as float = %v", n, got)
			}
			for i, v := range want {
				if str, ok := v.(string); ok && r.String(i) != str {
					t.Errorf("row %d column %s = %q, want %q", n, eventCols[i], r.String(i), str)
				}
			}
			n++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != len(rows) {
			t.Fatalf("read %d rows, want %d", n, len(rows))
		}
	})
}

func TestAggregatesFinal(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		table := s.DB().Stats + ".agg_daily"
		cols := []string{"site", "day", "dim", "value", "salt_day", "visitors", "visits", "pageviews", "bounces", "duration", "events", "version"}
		day := store.Day{Year: 2024, Month: time.May, Day: 2}
		row := func(version int, visitors uint64) []any {
			return []any{"s", day, "country", "KG", day, visitors, uint64(2), uint64(3), uint64(0), uint64(math.MaxUint64), uint64(5), uint64(version)}
		}
		// Two inserts make two parts, so only FINAL can merge them.
		for v := 1; v <= 2; v++ {
			if err := s.Insert(ctx, table, cols, [][]any{row(v, uint64(10*v))}); err != nil {
				t.Fatal(err)
			}
		}
		count := func(q string) uint64 {
			var n uint64
			if err := s.Query(ctx, q, func(r store.Row) error { n = r.Uint64(0); return nil }); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := count("SELECT count() FROM " + table); n != 2 {
			t.Fatalf("count without FINAL = %d, want 2 (parts merged early?)", n)
		}
		var got []string
		err := s.Query(ctx, "SELECT visitors, duration, day, version FROM "+table+" FINAL", func(r store.Row) error {
			got = append(got, fmt.Sprint(r.Uint64(0), " ", r.Uint64(1), " ", r.String(2), " ", r.Int64(3)))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprint(uint64(20), " ", uint64(math.MaxUint64), " 2024-05-02 ", 2)
		if len(got) != 1 || got[0] != want {
			t.Fatalf("FINAL = %q, want [%q]", got, want)
		}
	})
}

func TestDropPartition(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		events := s.DB().Stats + ".events"
		var rows [][]any
		for i := range 6 {
			rows = append(rows, eventRow(i, "x"))
		}
		if err := s.Insert(ctx, events, eventCols, rows); err != nil {
			t.Fatal(err)
		}
		daily := s.DB().Stats + ".agg_daily"
		cols := []string{"site", "day", "salt_day", "version"}
		may := store.Day{Year: 2024, Month: time.May, Day: 31}
		june := store.Day{Year: 2024, Month: time.June, Day: 1}
		if err := s.Insert(ctx, daily, cols, [][]any{{"s", may, may, 1}, {"s", june, june, 1}}); err != nil {
			t.Fatal(err)
		}
		exec := func(table string, key any) {
			t.Helper()
			q, err := store.DropPartitionSQL(table, key)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		days := func(q string) []string {
			var out []string
			if err := s.Query(ctx, q, func(r store.Row) error { out = append(out, r.String(0)); return nil }); err != nil {
				t.Fatal(err)
			}
			return out
		}
		exec(events, store.Day{Year: 2024, Month: time.May, Day: 2})
		exec(events, store.Day{Year: 2020, Month: time.January, Day: 1}) // absent: not an error
		got := strings.Join(days("SELECT DISTINCT salt_day FROM "+events+" ORDER BY salt_day"), ",")
		if got != "2024-05-01,2024-05-03" {
			t.Errorf("events salt days after drop = %s", got)
		}
		exec(daily, store.MonthKey(may))
		exec(daily, 202001)
		got = strings.Join(days("SELECT day FROM "+daily+" ORDER BY day"), ",")
		if got != "2024-06-01" {
			t.Errorf("agg_daily days after drop = %s", got)
		}
	})
}

func TestVersionAndPing(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		v, err := s.Version(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s %s", s.Engine(), v)
		if v == "" || !strings.Contains(v, ".") {
			t.Fatalf("version %q", v)
		}
	})
}

func TestErrors(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		table := s.DB().Stats + ".events"
		secret := "visitor-secret-value"
		// A string where a UInt64 goes: rejected, without echoing it.
		row := eventRow(0, "x")
		row[3] = secret
		err := s.Insert(ctx, table, eventCols, [][]any{row})
		if err == nil {
			t.Fatal("insert of a string into UInt64 succeeded")
		}
		t.Logf("insert error: %v", err)
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks the value: %v", err)
		}
		if !strings.HasPrefix(err.Error(), "cannot insert into "+table+" (1 rows): ") {
			t.Errorf("error = %v", err)
		}
		if err := s.Insert(ctx, table, []string{"site; DROP"}, [][]any{{"x"}}); err == nil {
			t.Error("bad column name accepted")
		}
		if err := s.Insert(ctx, table, []string{"site", "path"}, [][]any{{"x"}}); err == nil {
			t.Error("short row accepted")
		}
		if err := s.Exec(ctx, "SELEC nonsense"); err == nil {
			t.Error("bad statement accepted")
		}
		// A conversion the Row cannot make is an error from Query.
		err = s.Query(ctx, "SELECT 'abc'", func(r store.Row) error { r.Uint64(0); return nil })
		if err == nil || !strings.Contains(err.Error(), "column 0") {
			t.Errorf("Uint64 of a string: %v", err)
		}
		// fn's own error is returned as it is.
		sentinel := fmt.Errorf("stop")
		if err := s.Query(ctx, "SELECT number FROM system.numbers LIMIT 3", func(store.Row) error { return sentinel }); err != sentinel {
			t.Errorf("fn error = %v", err)
		}
	})
}

func TestRowConversions(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		q := "SELECT toUInt8(7), toInt32(-5), toFloat64(1.5), toString(18446744073709551615), " +
			"toDateTime('2024-02-29 23:59:59', 'UTC'), toDate('2024-02-29'), 'x\\ty', toUInt64(18446744073709551615), " +
			"toDateTime('2024-02-29 23:59:59', 'Asia/Bishkek')"
		err := s.Query(ctx, q, func(r store.Row) error {
			if r.Uint64(0) != 7 || r.Int64(0) != 7 || r.Float64(0) != 7 || r.String(0) != "7" {
				t.Errorf("UInt8: %d %d %v %q", r.Uint64(0), r.Int64(0), r.Float64(0), r.String(0))
			}
			if r.Int64(1) != -5 || r.String(1) != "-5" || r.Float64(1) != -5 {
				t.Errorf("Int32: %d %q", r.Int64(1), r.String(1))
			}
			if r.Float64(2) != 1.5 || r.String(2) != "1.5" {
				t.Errorf("Float64: %v %q", r.Float64(2), r.String(2))
			}
			if r.Uint64(3) != math.MaxUint64 {
				t.Errorf("String to Uint64: %d", r.Uint64(3))
			}
			want := time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC)
			if !r.Time(4).Equal(want) || r.String(4) != "2024-02-29 23:59:59" {
				t.Errorf("DateTime: %v %q", r.Time(4), r.String(4))
			}
			if !r.Time(5).Equal(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)) || r.String(5) != "2024-02-29" {
				t.Errorf("Date: %v %q", r.Time(5), r.String(5))
			}
			if r.String(6) != "x\ty" {
				t.Errorf("tab: %q", r.String(6))
			}
			if r.Uint64(7) != math.MaxUint64 || r.String(7) != "18446744073709551615" {
				t.Errorf("UInt64 max: %d %q", r.Uint64(7), r.String(7))
			}
			// Bishkek is UTC+6: the instant is 17:59:59 UTC, the text local.
			if !r.Time(8).Equal(want.Add(-6*time.Hour)) || r.String(8) != "2024-02-29 23:59:59" {
				t.Errorf("DateTime in a zone: %v %q", r.Time(8), r.String(8))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
