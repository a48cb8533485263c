package dashboards

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestConsoleGoalsAdminOnly: a viewer may list a site's goals and not
// change them; an admin adds and removes one, each change audited; a
// cross-origin change is refused before it is read.
func TestConsoleGoalsAdminOnly(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st)
		write := func(method, target, body string, c *http.Cookie, origin string) int {
			t.Helper()
			req := httptest.NewRequest(method, "http://dash.test"+target, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if origin != "" {
				req.Header.Set("Origin", origin)
			}
			if c != nil {
				req.AddCookie(c)
			} else {
				req.Header.Set("Authorization", "Bearer "+f.token)
			}
			resp, text := f.do(t, req)
			if resp.StatusCode != 200 {
				t.Logf("%s %s: %d %s", method, target, resp.StatusCode, text)
			}
			return resp.StatusCode
		}
		goal := `{"site":"alpha","name":"Signup","event":"signup"}`
		if code := write("PUT", "/api/v1/stats/goals", goal, nil, ""); code != http.StatusForbidden {
			t.Fatalf("a viewer's token changing goals: %d, want 403", code)
		}
		ann := f.login(t, "ann")
		if resp, body := f.do(t, get("/api/v1/stats/goals?site=alpha", ann)); resp.StatusCode != 200 || !strings.Contains(body, `"goals":[]`) {
			t.Fatalf("a viewer lists goals: %d %s", resp.StatusCode, body)
		}
		admin := f.login(t, "admin")
		if code := write("PUT", "/api/v1/stats/goals", goal, admin, "https://evil.example"); code != http.StatusForbidden {
			t.Fatalf("a cross-origin change: %d, want 403", code)
		}
		if code := write("PUT", "/api/v1/stats/goals", `{"site":"alpha","name":"Bad"}`, admin, "http://dash.test"); code != http.StatusBadRequest {
			t.Fatalf("a goal with neither event nor page: %d, want 400", code)
		}
		if code := write("PUT", "/api/v1/stats/goals", goal, admin, "http://dash.test"); code != 200 {
			t.Fatalf("an admin adds a goal: %d", code)
		}
		if resp, body := f.do(t, get("/api/v1/stats/goals?site=alpha", ann)); resp.StatusCode != 200 || !strings.Contains(body, `{"name":"Signup","event":"signup","source":"console"}`) {
			t.Fatalf("the goal is listed: %d %s", resp.StatusCode, body)
		}
		f.advance(1e9) // the next version
		if code := write("DELETE", "/api/v1/stats/goals?site=alpha&name=Signup", "", admin, "http://dash.test"); code != 200 {
			t.Fatalf("an admin removes a goal: %d", code)
		}
		if _, body := f.do(t, get("/api/v1/stats/goals?site=alpha", ann)); !strings.Contains(body, `"goals":[]`) {
			t.Fatalf("the goal is still listed: %s", body)
		}
		if n := countWhere(t, st, "audit_log", "actor = 'admin' AND action = 'config_changed' AND target = 'goals:alpha'"); n != 2 {
			t.Fatalf("%d goal changes audited, want 2", n)
		}
	})
}
