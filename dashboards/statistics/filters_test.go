package statistics

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/store"
)

func TestParseFilter(t *testing.T) {
	f := func(raw, want string) {
		t.Helper()
		got, err := ParseFilter(raw)
		s := fmt.Sprintf("%s %s %q", got.Dim, got.Op, got.Value)
		if err != nil {
			s = "error: " + err.Error()
		}
		if !strings.HasPrefix(s, want) {
			t.Errorf("%q: got %s, want %s", raw, s, want)
		}
	}
	f("page==/", `page is "/"`)
	f("page!=/a==b", `page is_not "/a==b"`)
	f("source~=Google", `source contains "Google"`)
	f("country==", `country is ""`)
	f("country!=", `country is_not ""`)
	f("source~=", "error: filter source~= needs some text")
	f("country=KZ", "error: filter must be")
	f("country=", "error: filter must be")
	f("==KZ", "error: filter must be")
	f("nowhere==KZ", "error: filter must be")
	f("country", "error: filter must be")
	f("country~~KZ", "error: filter must be")
}

func TestParseFiltersDropsRepeatsAndBounds(t *testing.T) {
	fs, err := ParseFilters([]string{"page==/", "", "page==/", "country!=KZ"})
	if err != nil || len(fs) != 2 || fs[1] != (Filter{Dim: "country", Value: "KZ", Op: OpIsNot}) {
		t.Fatalf("%v %v", fs, err)
	}
	if _, err := ParseFilters([]string{"page==/1", "page==/2", "page==/3", "page==/4", "page==/5"}); err == nil {
		t.Fatal("five filters accepted")
	}
}

func TestParseInterval(t *testing.T) {
	day := func(s string) store.Day {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return store.DayOf(d)
	}
	f := func(interval, from, to, want string) {
		t.Helper()
		got, err := ParseInterval(interval, Range{day(from), day(to)})
		if err != nil {
			got = "error: " + err.Error()
		}
		if got != want {
			t.Errorf("%q %s..%s: got %s, want %s", interval, from, to, got, want)
		}
	}
	f("", "2026-11-24", "2026-11-24", "hour")
	f("", "2026-11-23", "2026-11-24", "day")
	f("hour", "2026-11-18", "2026-11-24", "hour")
	f("hour", "2026-11-17", "2026-11-24", "error: interval hour is limited to 7 days")
	f("week", "2026-11-11", "2026-11-24", "week")
	f("week", "2026-11-12", "2026-11-24", "error: interval week needs a range of at least 14 days")
	f("month", "2026-10-28", "2026-11-24", "month")
	f("month", "2026-10-29", "2026-11-24", "error: interval month needs a range of at least 28 days")
	f("day", "2024-01-01", "2026-11-24", "day")
	f("year", "2026-11-24", "2026-11-24", "error: interval must be hour, day, week or month")
}

// Weeks start on Monday, months on the 1st; a bucket is dated by its
// first day in the range and holds the sum of its days.
func TestBucketPoints(t *testing.T) {
	var pts []Point
	for i, d := range []string{"2026-11-28", "2026-11-29", "2026-11-30", "2026-12-01", "2026-12-06", "2026-12-07"} {
		pts = append(pts, Point{Date: d, Metrics: Metrics{Visitors: uint64(i + 1), Visits: 2 * uint64(i+1), Pageviews: 4 * uint64(i+1)}})
	}
	f := func(interval, want string) {
		t.Helper()
		var got []string
		for _, p := range bucketPoints(pts, interval) {
			got = append(got, fmt.Sprintf("%s=%d/%d/%v", p.Date, p.Visitors, p.Visits, p.ViewsPerVisit))
		}
		if s := strings.Join(got, " "); s != want {
			t.Errorf("%s: got %s, want %s", interval, s, want)
		}
	}
	// Nov 28 is a Saturday, Nov 30 a Monday, Dec 6 a Sunday.
	f("week", "2026-11-28=3/6/2 2026-11-30=12/24/2 2026-12-07=6/12/2")
	f("month", "2026-11-28=6/12/2 2026-12-01=15/30/2")
	f("day", "2026-11-28=1/2/0 2026-11-29=2/4/0 2026-11-30=3/6/0 2026-12-01=4/8/0 2026-12-06=5/10/0 2026-12-07=6/12/0")
}

// The filter parameter comes from the query string: any text is either
// refused or read into a filter that writes back to the same parameter.
func FuzzParseFilter(f *testing.F) {
	for _, seed := range []string{"page==/pricing", "country!=KZ", "source~=goo", "page==", "page~=",
		"==x", "nosuch==1", "page=/x", "page!=a==b", "prop:plan==a", "goal==Signup", "\x00~=\xff"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := ParseFilter(raw)
		if err != nil {
			return
		}
		if !validDim(got.Dim) {
			t.Fatalf("ParseFilter(%q) accepted dimension %q", raw, got.Dim)
		}
		if got.Op == OpContains && got.Value == "" {
			t.Fatalf("ParseFilter(%q) accepted an empty contains", raw)
		}
		back := got.Dim + opTokens[got.Op] + got.Value
		if back != raw {
			t.Fatalf("ParseFilter(%q) = %+v, which writes back as %q", raw, got, back)
		}
	})
}
