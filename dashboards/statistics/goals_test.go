package statistics

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestGoalFilters(t *testing.T) {
	f := func(raws, want string) {
		t.Helper()
		fs, err := ParseFilters(strings.Fields(raws))
		if err != nil {
			t.Fatal(err)
		}
		got, err := goalFilters(fs, "Signup")
		s := fmt.Sprint(got)
		if err != nil {
			s = "refused"
			if !errors.Is(err, ErrFilterUnavailable) {
				s = "error: " + err.Error()
			}
		}
		if s != want {
			t.Errorf("%q: got %s, want %s", raws, s, want)
		}
		// The top line and chart can read every answer it gives.
		if err == nil {
			if _, err := planTop(got); err != nil {
				t.Errorf("%q: %v", raws, err)
			}
		}
	}
	f("", "[{goal Signup is}]")
	f("goal==Signup", "[{goal Signup is}]")
	f("goal==Pricing", "[{goal Pricing is} {goal Signup is}]")
	f("country==KZ", "[{country KZ is} {goal Signup is}]")
	f("page==/a", "[{page /a is} {goal Signup is}]")
	f("country!=KZ", "refused")
	f("source~=google", "refused")
	f("country==KZ page==/a", "refused")
	f("country==KZ goal==Signup", "refused")
}

func TestHideUnder(t *testing.T) {
	f := func(rest uint64, want bool) {
		t.Helper()
		m := Metrics{Visitors: 40}
		hideUnder(&m, rest, 5)
		if m.Suppressed != want {
			t.Errorf("remainder %d: suppressed %v, want %v", rest, m.Suppressed, want)
		}
	}
	f(0, false)
	f(1, true)
	f(4, true)
	f(5, false)
}
