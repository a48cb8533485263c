package referrer

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The tracker (web/s.js) sends only the query parameters this package reads,
// so a parameter added here but not there would never arrive, and one left
// there after it is dropped here would be sent for nothing. The tracker names
// them in two regular expressions; this compares them with the server's lists.
func TestTrackerSendsWhatParseUTMReads(t *testing.T) {
	src, err := os.ReadFile("../../web/s.js")
	if err != nil {
		t.Fatalf("cannot read the tracker: %v", err)
	}
	names := func(re string) []string {
		t.Helper()
		m := regexp.MustCompile(re).FindSubmatch(src)
		if m == nil {
			t.Fatalf("the tracker has no %s", re)
		}
		out := strings.Split(string(m[1]), "|")
		slices.Sort(out)
		return out
	}

	var clicks []string
	for k := range paidClickIDs {
		clicks = append(clicks, k)
	}
	slices.Sort(clicks)
	if got := names(`/\^\((gclid\|[a-z_|]+)\)\$/i`); !slices.Equal(got, clicks) {
		t.Errorf("the tracker sends the click ids %q, the server reads %q", got, clicks)
	}

	utm := names(`/\^utm_\(([a-z|]+)\)\$/i`)
	if want := []string{"campaign", "content", "medium", "source", "term"}; !slices.Equal(utm, want) {
		t.Errorf("the tracker sends utm_%q, want utm_%q", utm, want)
	}
	// Each name the tracker sends must land in a field of its own.
	seen := map[UTM]bool{}
	for _, k := range utm {
		u := parseUTM("utm_" + k + "=x")
		if u == (UTM{}) || seen[u] {
			t.Errorf("parseUTM drops or merges utm_%s", k)
		}
		seen[u] = true
	}
}
