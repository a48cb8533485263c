package site

import (
	"strings"
	"testing"
)

func TestFunnelsParse(t *testing.T) {
	cfg, err := Parse([]byte(`
sites:
  - id: a
    domains: [a.kz]
    funnels:
      - name: Signup
        steps: [{page: /pricing}, {page: "/signup/*"}, {event: signup}]
      - name: Docs
        steps: [{page: "/docs/**"}, {page: /}]
`))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Site("a")
	if len(s.Funnels) != 2 || s.Funnel("Signup") == nil || s.Funnel("signup") != nil {
		t.Fatalf("funnels %+v", s.Funnels)
	}
	f := func(step FunnelStep, pageview bool, value string, want bool) {
		t.Helper()
		path, name := value, ""
		if !pageview {
			path, name = "", value
		}
		if got := step.Matches(pageview, path, name); got != want {
			t.Fatalf("step %+v on (pageview %v, %q): %v, want %v", step, pageview, value, got, want)
		}
	}
	signup := s.Funnel("Signup").Steps
	f(signup[0], true, "/pricing", true)
	f(signup[0], true, "/pricing/", false)
	f(signup[0], false, "/pricing", false)
	f(signup[1], true, "/signup/", true)
	f(signup[1], true, "/signup/plan", true)
	f(signup[1], true, "/signup/plan/2", false)
	f(signup[1], true, "/signupx", false)
	f(signup[2], false, "signup", true)
	f(signup[2], true, "signup", false)
	f(signup[2], false, "signup2", false)
	docs := s.Funnel("Docs").Steps
	f(docs[0], true, "/docs/a/b.c", true)
	f(docs[0], true, "/docs", false)
	// Regular expression characters in a pattern are literal.
	dot := FunnelStep{Page: "/a.b/*"}
	f(dot, true, "/a.b/c", true)
	f(dot, true, "/axb/c", false)
	if got := dot.PageRegexp(); got != `^/a\.b/[^/]*$` {
		t.Fatalf("regexp %q", got)
	}
}

func TestFunnelsErrorsNameTheKey(t *testing.T) {
	f := func(funnels, want string) {
		t.Helper()
		_, err := Parse([]byte("sites:\n  - id: a\n    domains: [a.kz]\n    funnels:\n" + funnels))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("funnels %q: error %v, want it to mention %q", funnels, err, want)
		}
	}
	f("      - {name: x, steps: [{page: /a}]}\n", "sites[0].funnels[0].steps: 1 steps; a funnel has 2 to 8")
	f("      - {name: x, steps: [{page: /1}, {page: /2}, {page: /3}, {page: /4}, {page: /5}, {page: /6}, {page: /7}, {page: /8}, {page: /9}]}\n",
		"sites[0].funnels[0].steps: 9 steps")
	f("      - {steps: [{page: /a}, {page: /b}]}\n", "sites[0].funnels[0].name: a name is required")
	f("      - {name: x, steps: [{page: /a}, {page: /b}]}\n      - {name: x, steps: [{page: /a}, {page: /b}]}\n",
		`sites[0].funnels[1].name: "x" is used by another funnel`)
	f("      - {name: x, steps: [{page: /a, event: e}, {page: /b}]}\n", "sites[0].funnels[0].steps[0]: set exactly one of page and event")
	f("      - {name: x, steps: [{page: /a}, {}]}\n", "sites[0].funnels[0].steps[1]: set exactly one")
	f("      - {name: x, steps: [{page: a}, {page: /b}]}\n", "sites[0].funnels[0].steps[0].page: \"a\" must be a path starting with /")
	f("      - {name: x, steps: [{page: /a/***}, {page: /b}]}\n", "steps[0].page")
	f("      - {name: \"x\\ty\", steps: [{page: /a}, {page: /b}]}\n", "sites[0].funnels[0].name")
	f("      - {name: x, steps: [{page: /a}, {pages: /b}]}\n", "field pages not found")
}
