package store

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestTSVEscapeRoundTrip(t *testing.T) {
	f := func(s, escaped string) {
		t.Helper()
		got := string(appendTSVEscaped(nil, s))
		if got != escaped {
			t.Errorf("escape(%q) = %q, want %q", s, got, escaped)
		}
		if back := unescapeTSV(got); back != s {
			t.Errorf("unescape(%q) = %q, want %q", got, back, s)
		}
		if strings.ContainsAny(got, "\t\n") {
			t.Errorf("escape(%q) = %q keeps a separator", s, got)
		}
	}
	f("", "")
	f("plain", "plain")
	f("Сезим", "Сезим")
	f("a\tb", `a\tb`)
	f("a\nb", `a\nb`)
	f("a\rb", `a\rb`)
	f(`a\b`, `a\\b`)
	f(`\N`, `\\N`)
	f("end\\", `end\\`)
	f("nul\x00", `nul\0`)
	f(`'q' "d"`, `'q' "d"`)
}

func TestUnescapeTSV(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := unescapeTSV(in); got != want {
			t.Errorf("unescapeTSV(%q) = %q, want %q", in, got, want)
		}
	}
	// What ClickHouse itself writes.
	f(`\b\f\r\n\t\0\'\\`, "\b\f\r\n\t\x00'\\")
	f(`\a\v\e`, "\a\v\x1b")
	f(`x\`, `x\`)
	f(`\q`, "q")
}

func TestAppendTSVValue(t *testing.T) {
	f := func(v any, want string) {
		t.Helper()
		got, err := appendTSVValue(nil, v)
		if err != nil || string(got) != want {
			t.Errorf("appendTSVValue(%#v) = %q, %v; want %q", v, got, err, want)
		}
	}
	f(nil, `\N`)
	f(true, "1")
	f(false, "0")
	f(-5, "-5")
	f(uint64(math.MaxUint64), "18446744073709551615")
	f(uint8(255), "255")
	f(1.5, "1.5")
	f(math.Inf(-1), "-inf")
	f(math.NaN(), "nan")
	f(time.Date(2024, 5, 1, 8, 0, 0, 0, time.FixedZone("X", 6*3600)), "2024-05-01 02:00:00")
	f(Day{2024, time.February, 29}, "2024-02-29")
	f(Day{987, time.December, 1}, "0987-12-01")
	f([]byte("a\tb"), `a\tb`)
	if _, err := appendTSVValue(nil, struct{ secret string }{"v"}); err == nil || strings.Contains(err.Error(), "v}") {
		t.Errorf("struct value: %v", err)
	}
}

func TestParseTSVResult(t *testing.T) {
	data := "a\tb\tc\n" +
		"String\tNullable(UInt64)\tDateTime('Asia/Bishkek')\n" +
		"x\\ty\t\\N\t2024-01-01 06:00:00\n" +
		"\t42\t2024-01-01 07:00:00\n"
	var got []string
	var times []time.Time
	err := parseTSVResult(data, func(r Row) error {
		got = append(got, r.String(0), r.String(1))
		if r.Uint64(1) > 42 {
			t.Errorf("uint %d", r.Uint64(1))
		}
		times = append(times, r.Time(2))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "|") != "x\ty|||42" {
		t.Errorf("fields %q", got)
	}
	if !times[0].Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("time in zone: %v", times[0])
	}
	if err := parseTSVResult("", func(Row) error { t.Fatal("row in empty result"); return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestRedactURL(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
	f("clickhouse://u:secret@h:9000/?x=1", "clickhouse://u:xxxxx@h:9000/?x=1")
	f("clickhouse://u@h:9000/", "clickhouse://u@h:9000/")
	f("clickhouse://h:9000/", "clickhouse://h:9000/")
	f("chdb://data", "chdb://data")
}

func TestRedactDataError(t *testing.T) {
	msg := "Code: 27. DB::Exception: Cannot parse input: expected '\\t' before: 'secret-value\\tx':\n" +
		"Row 1:\nColumn 3, name: visitor, type: UInt64, parsed text: \"secret-value\"\n: (at row 1)\n. (CANNOT_PARSE_INPUT_ASSERTION_FAILED) (version 26.7.2.1)"
	got := redactDataError(errors.New(msg)).Error()
	if got != "code 27: CANNOT_PARSE_INPUT_ASSERTION_FAILED: Cannot parse input" {
		t.Errorf("redacted = %q", got)
	}
	if got := redactDataError(errors.New("odd 'secret'")).Error(); strings.Contains(got, "secret") {
		t.Errorf("redacted = %q", got)
	}
}

func TestColInfoOf(t *testing.T) {
	f := func(typ string, date bool, loc string) {
		t.Helper()
		c := colInfoOf(typ)
		if c.date != date || c.loc.String() != loc {
			t.Errorf("colInfoOf(%q) = %v %v", typ, c.date, c.loc)
		}
	}
	f("Date", true, "UTC")
	f("Nullable(Date32)", true, "UTC")
	f("DateTime", false, "UTC")
	f("DateTime('Asia/Bishkek')", false, "Asia/Bishkek")
	f("DateTime64(3, 'Europe/Berlin')", false, "Europe/Berlin")
	f("String", false, "UTC")
}
