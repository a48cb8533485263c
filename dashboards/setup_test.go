package dashboards

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestSetupLink: with no account, a link that works once and expires; the
// form refuses cross-origin posts and weak passwords; the first admin can
// sign in and is audited; once an account exists there is no link.
func TestSetupLink(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		var mu sync.Mutex
		now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		srv := New(Options{Sites: testSites(t), Store: st, Now: clock, InsecureCookie: true, SetupTTL: 10 * time.Minute})
		do := func(req *http.Request) (int, string) {
			t.Helper()
			resp, err := srv.App().Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(b)
		}
		post := func(form url.Values, origin string) (int, string) {
			req := httptest.NewRequest("POST", "http://dash.test/app/setup", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", origin)
			return do(req)
		}
		link, _, err := srv.SetupLink(t.Context())
		if err != nil || !strings.HasPrefix(link, "/app/setup?t=") {
			t.Fatalf("SetupLink with no account: %q %v", link, err)
		}
		if code, _ := do(httptest.NewRequest("GET", "http://dash.test"+link, nil)); code != http.StatusOK {
			t.Fatalf("live link: %d", code)
		}
		mu.Lock()
		now = now.Add(11 * time.Minute)
		mu.Unlock()
		if code, _ := do(httptest.NewRequest("GET", "http://dash.test"+link, nil)); code != http.StatusGone {
			t.Fatalf("expired link: %d, want 410", code)
		}
		link, _, _ = srv.SetupLink(t.Context())
		token := strings.TrimPrefix(link, "/app/setup?t=")
		pw := "a long enough password"
		form := url.Values{"t": {token}, "user": {"Owner"}, "password": {pw}, "password2": {pw}}
		if code, _ := post(form, "https://evil.example"); code != http.StatusForbidden {
			t.Fatalf("cross-origin setup: %d, want 403", code)
		}
		weak := url.Values{"t": {token}, "user": {"owner"}, "password": {"short"}, "password2": {"short"}}
		if code, body := post(weak, "http://dash.test"); code != http.StatusBadRequest || !strings.Contains(body, "at least") {
			t.Fatalf("weak password: %d", code)
		}
		if code, body := post(form, "http://dash.test"); code != http.StatusCreated || !strings.Contains(body, "owner") {
			t.Fatalf("setup: %d %s", code, body)
		}
		if code, _ := post(form, "http://dash.test"); code != http.StatusGone {
			t.Fatalf("second use: %d, want 410", code)
		}
		u, err := srv.gate.Directory().User(t.Context(), "owner")
		if err != nil || u.Role != staff.RoleAdmin {
			t.Fatalf("first account: %+v %v", u, err)
		}
		if link, _, err := srv.SetupLink(t.Context()); link != "" || err != nil {
			t.Fatalf("SetupLink with an account: %q %v", link, err)
		}
		var n uint64
		q := "SELECT count() FROM " + st.DB().Staff + ".audit_log WHERE action = '" + staff.AuditSetup + "' AND target = 'owner'"
		if err := st.Query(t.Context(), q, func(r store.Row) error { n = r.Uint64(0); return nil }); err != nil || n != 1 {
			t.Fatalf("audit rows of the setup: %d %v", n, err)
		}
	})
}
