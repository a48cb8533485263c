package site

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Funnel limits, checked at load.
const (
	MinFunnelSteps = 2
	MaxFunnelSteps = 8
	// MaxFunnels bounds the work a rollup run does per visit (one pass
	// over the visit's events per step of every funnel).
	MaxFunnels = 20
	// maxFunnelName keeps names short enough for a panel and a URL.
	maxFunnelName = 100
	// maxStepValue matches the longest stored path (pipeline/scrub cuts
	// paths to 512 bytes).
	maxStepValue = 512
)

// Funnel is a sequence of pages or custom events that a visit goes
// through in order (events between the steps allowed). The rollup counts,
// per day, the visits that reached each step (pipeline/rollup/funnels.go).
// The name is stored with the counts: renaming a funnel starts a new one.
type Funnel struct {
	Name  string       `yaml:"name"`
	Steps []FunnelStep `yaml:"steps"`
}

// FunnelStep is one step: a page (an exact path, or a pattern where `*`
// stands for any characters within one path segment and `**` for any
// characters at all), or a custom event's exact name. Exactly one is set.
type FunnelStep struct {
	Page  string `yaml:"page,omitempty"`
	Event string `yaml:"event,omitempty"`

	// re is Page as a regular expression anchored at both ends; nil for
	// an exact path or an event.
	re *regexp.Regexp
}

// IsPattern reports whether the step is a page pattern (has a `*`).
func (s FunnelStep) IsPattern() bool { return strings.Contains(s.Page, "*") }

// PageRegexp is the step's page pattern as an anchored RE2 expression (the
// syntax of Go's regexp and of ClickHouse's match), "" when the step is not
// a pattern. The rollup matches with it in the engine, Matches in Go.
func (s FunnelStep) PageRegexp() string {
	if !s.IsPattern() {
		return ""
	}
	var b strings.Builder
	b.WriteByte('^')
	rest := s.Page
	for rest != "" {
		i := strings.IndexByte(rest, '*')
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		if strings.HasPrefix(rest[i:], "**") {
			b.WriteString(".*")
			rest = rest[i+2:]
		} else {
			b.WriteString("[^/]*")
			rest = rest[i+1:]
		}
	}
	b.WriteByte('$')
	return b.String()
}

// Matches reports whether an event (a pageview of path, or a custom event
// named name) is this step.
func (s FunnelStep) Matches(pageview bool, path, name string) bool {
	switch {
	case s.Event != "":
		return !pageview && name == s.Event
	case !pageview:
		return false
	case s.re != nil:
		return s.re.MatchString(path)
	case s.IsPattern():
		return regexp.MustCompile(s.PageRegexp()).MatchString(path)
	default:
		return path == s.Page
	}
}

// Funnel returns the site's funnel named name, or nil.
func (s *Site) Funnel(name string) *Funnel {
	for i := range s.Funnels {
		if s.Funnels[i].Name == name {
			return &s.Funnels[i]
		}
	}
	return nil
}

// validateFunnels checks the site's funnels: a unique printable name, 2–8
// steps, each exactly one page (starting with "/") or event.
func (s *Site) validateFunnels(key string, bad func(key, format string, args ...any)) {
	if len(s.Funnels) > MaxFunnels {
		bad(key+".funnels", "%d funnels; at most %d", len(s.Funnels), MaxFunnels)
		return
	}
	seen := map[string]bool{}
	for i := range s.Funnels {
		f := &s.Funnels[i]
		k := fmt.Sprintf("%s.funnels[%d]", key, i)
		f.Name = strings.TrimSpace(f.Name)
		switch {
		case f.Name == "":
			bad(k+".name", "a name is required")
		case len(f.Name) > maxFunnelName || !printable(f.Name):
			bad(k+".name", "%q must be at most %d bytes of printable text", f.Name, maxFunnelName)
		case seen[f.Name]:
			bad(k+".name", "%q is used by another funnel", f.Name)
		}
		seen[f.Name] = true
		if n := len(f.Steps); n < MinFunnelSteps || n > MaxFunnelSteps {
			bad(k+".steps", "%d steps; a funnel has %d to %d", n, MinFunnelSteps, MaxFunnelSteps)
		}
		for j := range f.Steps {
			st := &f.Steps[j]
			sk := fmt.Sprintf("%s.steps[%d]", k, j)
			switch {
			case (st.Page == "") == (st.Event == ""):
				bad(sk, "set exactly one of page and event")
			case st.Event != "":
				if len(st.Event) > maxStepValue || !printable(st.Event) {
					bad(sk+".event", "%q must be at most %d bytes of printable text", st.Event, maxStepValue)
				}
			case !strings.HasPrefix(st.Page, "/") || len(st.Page) > maxStepValue || !printable(st.Page):
				bad(sk+".page", "%q must be a path starting with / (at most %d bytes; * and ** as wildcards)", st.Page, maxStepValue)
			case strings.Contains(st.Page, "***"):
				bad(sk+".page", "%q: use * (within a segment) or ** (across segments)", st.Page)
			case st.IsPattern():
				re, err := regexp.Compile(st.PageRegexp())
				if err != nil {
					bad(sk+".page", "%q: %v", st.Page, err)
				}
				st.re = re
			}
		}
	}
}

// printable reports whether v is valid UTF-8 without control characters.
func printable(v string) bool {
	if !utf8.ValidString(v) {
		return false
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
