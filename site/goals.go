package site

import (
	"fmt"
	"regexp"
	"strings"
)

// Goal is one conversion a site counts: a visitor converts on a day when
// one of their events that day is the goal's custom event (Event) or a page
// view whose path matches Page, where `*` stands for any characters
// ("/signup/*"). Exactly one of Event and Page is set.
type Goal struct {
	// Name is what the dashboards show and what the aggregates store as
	// the value of the goal dimension: never rename a goal that has
	// numbers, or they stay under the old name.
	Name  string `yaml:"name" json:"name"`
	Event string `yaml:"event,omitempty" json:"event,omitempty"`
	Page  string `yaml:"page,omitempty" json:"page,omitempty"`
}

// Limits of the goal and property configuration. A goal adds one value to
// every visit that reaches it and a property key one dimension, so both
// are few by design.
const (
	MaxGoals         = 50
	MaxGoalName      = 100
	MaxProperties    = 20
	MaxPropertyKey   = 40
	MaxPropertyValue = 100
)

var propertyKeyRe = regexp.MustCompile(`^[a-z0-9_]+$`)

// Check says what is wrong with g, or "" when it is valid.
func (g Goal) Check() string {
	switch {
	case strings.TrimSpace(g.Name) == "" || len(g.Name) > MaxGoalName:
		return fmt.Sprintf("name must be 1 to %d characters", MaxGoalName)
	case strings.ContainsFunc(g.Name, isControl):
		return "name holds a control character"
	case (g.Event == "") == (g.Page == ""):
		return "exactly one of event and page is required"
	case len(g.Event) > MaxGoalName || strings.ContainsFunc(g.Event, isControl):
		return "event is too long or holds a control character"
	case g.Page != "" && (!strings.HasPrefix(g.Page, "/") || len(g.Page) > 500 || strings.ContainsFunc(g.Page, isControl)):
		return "page must be a path starting with / (* matches any characters)"
	}
	return ""
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// PagePattern is the regular expression (RE2, anchored) a page goal's path
// must match; the rollup gives the same text to ClickHouse and to Go, whose
// syntaxes agree on what QuoteMeta and `.*` produce.
func (g Goal) PagePattern() string {
	parts := strings.Split(g.Page, "*")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return "^" + strings.Join(parts, ".*") + "$"
}

// Matcher returns a function that reports whether an event (pageview with
// path, or custom event with name) reaches g.
func (g Goal) Matcher() func(pageview bool, value string) bool {
	if g.Event != "" {
		return func(pageview bool, v string) bool { return !pageview && v == g.Event }
	}
	re := regexp.MustCompile(g.PagePattern())
	return func(pageview bool, v string) bool { return pageview && re.MatchString(v) }
}

// validateGoals checks the site file's goals and property keys.
func (s *Site) validateGoals(key string, bad func(key, format string, args ...any)) {
	if len(s.Goals) > MaxGoals {
		bad(key+".goals", "%d goals; at most %d", len(s.Goals), MaxGoals)
	}
	names := map[string]bool{}
	for j, g := range s.Goals {
		k := fmt.Sprintf("%s.goals[%d]", key, j)
		if why := g.Check(); why != "" {
			bad(k, "%s", why)
		} else if names[g.Name] {
			bad(k, "goal %q is listed twice", g.Name)
		}
		names[g.Name] = true
	}
	if len(s.Properties) > MaxProperties {
		bad(key+".properties", "%d keys; at most %d", len(s.Properties), MaxProperties)
	}
	s.properties = make(map[string]bool, len(s.Properties))
	for j, p := range s.Properties {
		if !ValidPropertyKey(p) {
			bad(fmt.Sprintf("%s.properties[%d]", key, j), "%q must be 1 to %d of a-z, 0-9 and _", p, MaxPropertyKey)
		}
		s.properties[p] = true
	}
}

// ValidPropertyKey reports whether key can name a property.
func ValidPropertyKey(key string) bool {
	return len(key) <= MaxPropertyKey && propertyKeyRe.MatchString(key)
}

// AcceptsProperty reports whether the site keeps event property key.
func (s *Site) AcceptsProperty(key string) bool { return s.properties[key] }

// MergeGoals returns the site file's goals followed by extra (goals made
// in the console) whose names the file does not use: the file wins, so a
// goal an operator pinned in configuration cannot be redefined from the
// console.
func MergeGoals(file, extra []Goal) []Goal {
	out := append([]Goal(nil), file...)
	seen := map[string]bool{}
	for _, g := range file {
		seen[g.Name] = true
	}
	for _, g := range extra {
		if !seen[g.Name] && g.Check() == "" {
			seen[g.Name] = true
			out = append(out, g)
		}
	}
	return out
}
