package dashboards

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// The fixture's peer (0.0.0.0) is a trusted proxy, so X-Forwarded-For
// names the client.
const (
	ownerIP    = "198.51.100.7"  // where admin signs in from
	ownerIP2   = "198.51.100.99" // the same /24
	strangerIP = "203.0.113.5"
	travelIP   = "192.0.2.44" // the owner, on a network never used before
)

// try posts a sign-in from ip and returns the status.
func (f *fixture) try(t *testing.T, user, password, ip string) int {
	t.Helper()
	req := loginRequest(user, password, "http://dash.test")
	req.Header.Set("X-Forwarded-For", ip)
	resp, _ := f.do(t, req)
	if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After")
	}
	return resp.StatusCode
}

// audit returns the audit rows with action, newest first.
func audit(t *testing.T, st store.Store, action string) []staff.AuditEntry {
	t.Helper()
	all, err := staff.NewAuditor(st, nil).Entries(t.Context(), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	var out []staff.AuditEntry
	for _, e := range all {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// TestStrangerCannotLockOutOwner: wrong passwords from strangers lock an
// account only for networks that never signed in to it; the owner's own
// networks keep working, also on another node (or after a restart), which
// knows them from the audit log. The per-network limit still stops
// guessing, from anywhere.
func TestStrangerCannotLockOutOwner(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st)
		if got := f.try(t, "admin", testPassword, ownerIP); got != http.StatusSeeOther {
			t.Fatalf("owner's first sign-in: %d", got)
		}
		// Ten wrong passwords from strangers, over several networks so
		// that no network limit (5) is reached: the account limit (3) is.
		for i := range 10 {
			ip := fmt.Sprintf("203.0.%d.5", 113+i/4)
			if got := f.try(t, "admin", "wrong password!", ip); got != http.StatusUnauthorized && got != http.StatusTooManyRequests {
				t.Fatalf("stranger's attempt %d: %d", i, got)
			}
		}
		if got := f.try(t, "admin", testPassword, strangerIP); got != http.StatusTooManyRequests {
			t.Fatalf("right password from a stranger's network while locked: %d", got)
		}
		if got := f.try(t, "admin", testPassword, travelIP); got != http.StatusTooManyRequests {
			t.Fatalf("right password from a new network while locked: %d", got)
		}
		if got := f.try(t, "admin", testPassword, ownerIP2); got != http.StatusSeeOther {
			t.Fatalf("owner from a known network while strangers guess: %d", got)
		}
		// The owner's typos from a known network do not count toward
		// the account limit (but toward the network's).
		f.advance(time.Minute)
		for range 4 {
			if got := f.try(t, "admin", "typo password", ownerIP); got != http.StatusUnauthorized {
				t.Fatalf("owner's typo: %d", got)
			}
		}
		if got := f.try(t, "admin", testPassword, travelIP); got != http.StatusSeeOther {
			t.Fatalf("owner's typos locked the account for other networks: %d", got)
		}

		// Another node (or a restart): nothing in memory, the same store.
		g := newFixture(t, st)
		g.now = f.clock()
		for i := range 3 {
			if got := g.try(t, "admin", "wrong password!", fmt.Sprintf("203.0.%d.9", 120+i)); got != http.StatusUnauthorized {
				t.Fatalf("stranger on the second node: %d", got)
			}
		}
		if got := g.try(t, "admin", testPassword, strangerIP); got != http.StatusTooManyRequests {
			t.Fatalf("second node, unknown network: %d", got)
		}
		if got := g.try(t, "admin", testPassword, ownerIP2); got != http.StatusSeeOther {
			t.Fatalf("second node, known network: %d", got)
		}

		// The network limit (5) stops a stranger guessing, whatever the
		// account; and a known network is no way around it.
		g.advance(time.Minute)
		for i := range 5 {
			if got := g.try(t, fmt.Sprint("name", i), "wrong password!", strangerIP); got != http.StatusUnauthorized {
				t.Fatalf("guess %d: %d", i, got)
			}
		}
		for _, user := range []string{"admin", "ann", "name9"} {
			if got := g.try(t, user, testPassword, strangerIP); got != http.StatusTooManyRequests {
				t.Fatalf("%s from a network past its limit: %d", user, got)
			}
		}
		for range 5 {
			g.try(t, "admin", "typo password", ownerIP)
		}
		if got := g.try(t, "admin", testPassword, ownerIP); got != http.StatusTooManyRequests {
			t.Fatalf("known network past its network limit: %d", got)
		}

		// A sign-in older than KnownNetworkAge vouches for nothing.
		h := newFixtureWith(t, st, func(o *Options) { o.KnownNetworkAge = time.Hour })
		h.now = g.clock().Add(2 * time.Hour)
		for i := range 3 {
			h.try(t, "admin", "wrong password!", fmt.Sprintf("203.0.%d.9", 130+i))
		}
		if got := h.try(t, "admin", testPassword, ownerIP2); got != http.StatusTooManyRequests {
			t.Fatalf("network known only from an old sign-in: %d", got)
		}
	})
}

// TestRateLimitedAttemptsAreCounted: attempts refused by a rate limit are
// not written one by one but as one audit row per network and window,
// with their count, once the window has ended.
func TestRateLimitedAttemptsAreCounted(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st)
		start := f.clock()
		// Five guesses (other names, so no account limit) use up the
		// stranger's network; 300 more are refused.
		for i := range 5 {
			if got := f.try(t, fmt.Sprint("guess", i), "wrong password!", strangerIP); got != http.StatusUnauthorized {
				t.Fatalf("guess %d: %d", i, got)
			}
		}
		for i := range 300 {
			if got := f.try(t, "admin", "wrong password!", strangerIP); got != http.StatusTooManyRequests {
				t.Fatalf("refused attempt %d: %d", i, got)
			}
			if i == 100 {
				f.advance(30 * time.Second)
			}
		}
		// Another network: ann's account limit (3) refuses four, then the
		// network limit (5) one more, for another name.
		for range 3 {
			f.try(t, "ann", "wrong password!", travelIP)
		}
		for range 4 {
			if got := f.try(t, "ann", testPassword, travelIP); got != http.StatusTooManyRequests {
				t.Fatalf("locked ann: %d", got)
			}
		}
		for _, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests} {
			if got := f.try(t, "nobody", "whatever it is", travelIP); got != want {
				t.Fatalf("travel network: %d, want %d", got, want)
			}
		}

		failed := func() (plain int, limited []string, attempts uint32) {
			for _, e := range audit(t, st, staff.AuditSignInFailed) {
				if e.Outcome != "rate_limited" {
					if e.Attempts != 1 {
						t.Fatalf("row %+v stands for %d attempts", e, e.Attempts)
					}
					plain++
					continue
				}
				limited = append(limited, fmt.Sprintf("%s %s %s %d %q", e.Time.Sub(start), e.Client, e.Target, e.Attempts, e.Detail))
				attempts += e.Attempts
			}
			return plain, limited, attempts
		}
		// One row per wrong password, none yet for the refused ones, and
		// none written by a flush while their windows are open.
		if err := f.srv.FlushRateLimited(t.Context(), false); err != nil {
			t.Fatal(err)
		}
		if plain, limited, _ := failed(); plain != 5+3+2 || len(limited) != 0 {
			t.Fatalf("before any window ended: %d rows, rate-limited %q", plain, limited)
		}
		// The stranger's window (from its first refusal) ends first.
		f.advance(30 * time.Second)
		if err := f.srv.FlushRateLimited(t.Context(), false); err != nil {
			t.Fatal(err)
		}
		want := []string{`0s 203.0.113.0/24 admin 300 "limit: network"`}
		if _, limited, _ := failed(); strings.Join(limited, "\n") != strings.Join(want, "\n") {
			t.Fatalf("rate-limited rows:\n%s\nwant:\n%s", strings.Join(limited, "\n"), strings.Join(want, "\n"))
		}
		f.advance(30 * time.Second)
		if err := f.srv.FlushRateLimited(t.Context(), false); err != nil {
			t.Fatal(err)
		}
		want = append([]string{`30s 192.0.2.0/24 (several) 5 "limit: account, network"`}, want...)
		if _, limited, _ := failed(); strings.Join(limited, "\n") != strings.Join(want, "\n") {
			t.Fatalf("rate-limited rows:\n%s\nwant:\n%s", strings.Join(limited, "\n"), strings.Join(want, "\n"))
		}
		// A new window is a new row; a final flush (shutdown) writes it
		// before it ends. Flushing again writes nothing twice.
		for i := range 5 {
			f.try(t, fmt.Sprint("again", i), "wrong password!", strangerIP)
		}
		for range 2 {
			if got := f.try(t, "admin", "wrong password!", strangerIP); got != http.StatusTooManyRequests {
				t.Fatalf("second window: %d", got)
			}
		}
		for _, final := range []bool{true, true, false} {
			if err := f.srv.FlushRateLimited(t.Context(), final); err != nil {
				t.Fatal(err)
			}
		}
		if plain, limited, attempts := failed(); plain != 15 || len(limited) != 3 || attempts != 300+5+2 {
			t.Fatalf("after the final flush: %d rows, rate-limited %q (%d attempts)", plain, limited, attempts)
		}
	})
}

// TestFloodKeepsSignInCounters floods the sign-in with fresh names from
// fresh networks, more than the rate-limit tables hold: live counters
// survive (no reset for the stranger), memory stays bounded, the owner
// still gets in from a known network, and every refused attempt is in the
// audit log's counts. With the default account limit the account table
// fills first; with a high one, the network table.
func TestFloodKeepsSignInCounters(t *testing.T) {
	for _, accountLimit := range []int{3, 1000} {
		t.Run(fmt.Sprint("account limit ", accountLimit), func(t *testing.T) {
			storetest.ForEach(t, func(t *testing.T, st store.Store) {
				const keys = 20
				f := newFixtureWith(t, st, func(o *Options) { o.LimitKeys, o.AccountLimit = keys, accountLimit })
				refused := 0
				try := func(user, password, ip string) int {
					got := f.try(t, user, password, ip)
					if got == http.StatusTooManyRequests {
						refused++
					}
					return got
				}
				if got := try("admin", testPassword, ownerIP); got != http.StatusSeeOther {
					t.Fatalf("owner's first sign-in: %d", got)
				}
				for i := range 5 {
					try(fmt.Sprint("guess", i), "wrong password!", strangerIP)
				}
				for range 3 {
					try("ann", "wrong password!", "100.64.0.1")
				}
				passed := 0
				for i := range 3 * keys {
					switch got := try(fmt.Sprint("flood", i), "wrong password!", fmt.Sprintf("2001:db8:%x::1", i)); got {
					case http.StatusUnauthorized:
						passed++
					case http.StatusTooManyRequests:
					default:
						t.Fatalf("flood %d: %d", i, got)
					}
				}
				// Guesses that reached a password check: the room left in
				// the fuller table plus its shared bucket, no more.
				if passed == 0 || passed > keys+5 {
					t.Fatalf("%d of %d flood attempts checked a password", passed, 3*keys)
				}
				accounts, networks, tallies := f.srv.gate.Limits()
				if n, m := networks.Len(), accounts.Len(); n > keys || m > keys {
					t.Fatalf("rate-limit tables hold %d networks and %d accounts, max %d", n, m, keys)
				}
				if tallies > keys+1 {
					t.Fatalf("%d refusal tallies, max %d", tallies, keys+1)
				}
				// The counters the flood meant to reset are still live.
				if got := try("admin", testPassword, strangerIP); got != http.StatusTooManyRequests {
					t.Fatalf("stranger's network after the flood: %d", got)
				}
				if accountLimit == 3 {
					if got := try("ann", testPassword, "100.64.0.1"); got != http.StatusTooManyRequests {
						t.Fatalf("ann's account after the flood: %d", got)
					}
				}
				// The shared bucket is spent: the owner's known network
				// still gets in, a network never seen before waits for
				// the window, like the flood.
				if got := try("admin", testPassword, ownerIP2); got != http.StatusSeeOther {
					t.Fatalf("owner from a known network during the flood: %d", got)
				}
				if got := try("ann", testPassword, travelIP); got != http.StatusTooManyRequests {
					t.Fatalf("new network during the flood: %d", got)
				}
				f.advance(time.Minute)
				if got := try("ann", testPassword, travelIP); got != http.StatusSeeOther {
					t.Fatalf("new network after the window: %d", got)
				}
				if err := f.srv.FlushRateLimited(t.Context(), false); err != nil {
					t.Fatal(err)
				}
				sum := uint32(0)
				for _, e := range audit(t, st, staff.AuditSignInFailed) {
					if e.Outcome == "rate_limited" {
						sum += e.Attempts
					}
				}
				if sum != uint32(refused) {
					t.Fatalf("rate-limited rows count %d attempts, %d were refused", sum, refused)
				}
			})
		})
	}
}
