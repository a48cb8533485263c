package site

import (
	"strings"
	"testing"
)

func TestGoalsParsed(t *testing.T) {
	cfg, err := Parse([]byte(`
sites:
  - id: s
    domains: [s.example]
    goals:
      - {name: Signup, event: signup}
      - {name: Pricing pages, page: "/pricing/*"}
    properties: [plan, seats_2]
`))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Site("s")
	if len(s.Goals) != 2 || !s.AcceptsProperty("plan") || !s.AcceptsProperty("seats_2") || s.AcceptsProperty("email") {
		t.Fatalf("goals %+v, properties %v", s.Goals, s.Properties)
	}
}

func TestGoalsRefused(t *testing.T) {
	f := func(goals, want string) {
		t.Helper()
		_, err := Parse([]byte("sites:\n  - id: s\n    domains: [s.example]\n" + goals))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: error %v, want %q", goals, err, want)
		}
	}
	f("    goals: [{name: A}]\n", "exactly one of event and page")
	f("    goals: [{name: A, event: e, page: /p}]\n", "exactly one of event and page")
	f("    goals: [{event: e}]\n", "name must be")
	f("    goals: [{name: A, page: p}]\n", "page must be a path")
	f("    goals: [{name: A, event: e}, {name: A, page: /p}]\n", "listed twice")
	f("    goals: [{name: \"A\\tB\", event: e}]\n", "control character")
	f("    properties: [Plan]\n", "properties[0]")
	f("    properties: [a-b]\n", "properties[0]")
	f("    properties: [\""+strings.Repeat("a", MaxPropertyKey+1)+"\"]\n", "properties[0]")
}

func TestGoalMatcher(t *testing.T) {
	f := func(g Goal, pageview bool, value string, want bool) {
		t.Helper()
		if got := g.Matcher()(pageview, value); got != want {
			t.Fatalf("%+v matches (%v, %q): %v, want %v", g, pageview, value, got, want)
		}
	}
	signup := Goal{Name: "S", Event: "signup"}
	f(signup, false, "signup", true)
	f(signup, true, "signup", false) // a page is not the event
	f(signup, false, "signup2", false)
	pricing := Goal{Name: "P", Page: "/pricing/*"}
	f(pricing, true, "/pricing/a", true)
	f(pricing, true, "/pricing/a/b", true)
	f(pricing, true, "/pricing", false)
	f(pricing, false, "/pricing/a", false)     // an event name is not a page
	exact := Goal{Name: "E", Page: "/a.b(c)+"} // regexp syntax is literal
	f(exact, true, "/a.b(c)+", true)
	f(exact, true, "/aXb(c)+", false)
	mid := Goal{Name: "M", Page: "/u/*/done"}
	f(mid, true, "/u/:id/done", true)
	f(mid, true, "/u/:id/done/x", false)
	if got := mid.PagePattern(); got != `^/u/.*/done$` {
		t.Fatalf("pattern %q", got)
	}
}

func TestMergeGoals(t *testing.T) {
	file := []Goal{{Name: "A", Event: "a"}}
	got := MergeGoals(file, []Goal{{Name: "A", Page: "/x"}, {Name: "B", Page: "/b"}, {Name: "", Event: "bad"}})
	if len(got) != 2 || got[0] != file[0] || got[1].Name != "B" {
		t.Fatalf("merged %+v: the file's goal wins, an invalid one is left out", got)
	}
}
