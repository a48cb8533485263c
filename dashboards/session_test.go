package dashboards

import (
	"net/http"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestSessionsSharedAcrossNodes: a session made on one dashboards node is
// good on another and after a restart (sessions are rows of the store); a
// sign-out on one node ends it on the other once the other's copy is
// older than Recheck; the idle timeout holds across nodes.
func TestSessionsSharedAcrossNodes(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		a := newFixture(t, st)
		b := newFixtureWith(t, st, func(o *Options) { o.Now = a.clock })
		me := func(f *fixture, c *http.Cookie) int {
			t.Helper()
			resp, _ := f.do(t, get("/api/v1/me", c))
			return resp.StatusCode
		}
		c := a.login(t, "ann")
		if code := me(b, c); code != http.StatusOK {
			t.Fatalf("session of node A on node B: %d", code)
		}
		restarted := newFixtureWith(t, st, func(o *Options) { o.Now = a.clock })
		if code := me(restarted, c); code != http.StatusOK {
			t.Fatalf("session after a restart: %d", code)
		}
		// Sign out on A: B still holds a fresh copy, then asks again.
		req := get("/app/logout", c)
		req.Method = "POST"
		req.Header.Set("Origin", "http://dash.test")
		if resp, body := a.do(t, req); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-out: %d %s", resp.StatusCode, body)
		}
		if code := me(a, c); code != http.StatusUnauthorized {
			t.Fatalf("after sign-out on A: %d", code)
		}
		a.advance(31 * time.Second)
		if code := me(b, c); code != http.StatusUnauthorized {
			t.Fatalf("node B after sign-out on A and its recheck: %d", code)
		}
		// Idle timeout: used on B now and then, so the table's time of
		// last use moves on; unused for over two hours, it ends everywhere.
		c2 := a.login(t, "ann")
		for range 4 {
			a.advance(50 * time.Minute)
			if code := me(b, c2); code != http.StatusOK {
				t.Fatalf("session in use on B: %d", code)
			}
		}
		if code := me(restarted, c2); code != http.StatusOK {
			t.Fatal("a session used on B within the idle time was refused on a third node")
		}
		a.advance(2*time.Hour + 6*time.Minute)
		if code := me(restarted, c2); code != http.StatusUnauthorized {
			t.Fatalf("idle session: %d", code)
		}
		if n := countRows(t, st, st.DB().Staff+".staff_sessions"); n == 0 {
			t.Fatal("no session rows stored")
		}
		// Nothing in the table is a cookie.
		q := "SELECT count() FROM " + st.DB().Staff + ".staff_sessions WHERE token_hash = " + store.Quote(c.Value)
		var n uint64
		if err := st.Query(t.Context(), q, func(r store.Row) error { n = r.Uint64(0); return nil }); err != nil || n != 0 {
			t.Fatalf("a raw token in the table: %d %v", n, err)
		}
		// Sweeping today's sessions drops nothing; two days on, all.
		if err := staff.SweepSessions(t.Context(), st, a.clock()); err != nil {
			t.Fatal(err)
		}
		if countRows(t, st, st.DB().Staff+".staff_sessions") == 0 {
			t.Fatal("a sweep dropped live sessions")
		}
		if err := staff.SweepSessions(t.Context(), st, a.clock().Add(72*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, st, st.DB().Staff+".staff_sessions"); n != 0 {
			t.Fatalf("%d session rows left after the sweep", n)
		}
	})
}

func countRows(t *testing.T, st store.Store, table string) uint64 {
	t.Helper()
	var n uint64
	if err := st.Query(t.Context(), "SELECT count() FROM "+table, func(r store.Row) error { n = r.Uint64(0); return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}
