package dashboards

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

var testHash = staff.HashParams{MemoryKiB: 64, Time: 1, Threads: 1}

const testPassword = "correct horse battery"

func testSites(t testing.TB) *site.Config {
	t.Helper()
	cfg, err := site.Parse([]byte(`
trusted_proxies: [0.0.0.0]
sites:
  - id: alpha
    domains: [alpha.example]
    timezone: UTC
    disclosure: exact
  - id: beta
    domains: [beta.example]
    timezone: UTC
    k_threshold: 3
    disclosure: exact
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// fixture is a dashboards server on a real store with three accounts:
// admin, ann (viewer of alpha) and gone (disabled), and a token of ann's.
type fixture struct {
	srv   *Server
	st    store.Store
	token string
	mu    sync.Mutex
	now   time.Time
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func newFixture(t *testing.T, st store.Store) *fixture {
	t.Helper()
	return newFixtureWith(t, st, nil)
}

// newFixtureWith is newFixture with the server's options changed by edit.
func newFixtureWith(t *testing.T, st store.Store, edit func(*Options)) *fixture {
	t.Helper()
	f := &fixture{st: st, now: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	dir := staff.NewDirectory(staff.DirectoryOptions{Store: st, Now: f.clock})
	hash, err := staff.HashPassword(testPassword, testHash)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []*staff.User{
		{Name: "admin", Role: staff.RoleAdmin},
		{Name: "ann", Role: staff.RoleViewer, Sites: []string{"alpha"}},
		{Name: "gone", Role: staff.RoleViewer, Sites: []string{"alpha"}, Disabled: true},
	} {
		if err := dir.PutUser(t.Context(), u, hash); err != nil {
			t.Fatal(err)
		}
	}
	if f.token, _, err = dir.AddToken(t.Context(), "ann", staff.RoleAdmin, "ci"); err == nil {
		t.Fatal("a viewer was given an admin token")
	}
	if f.token, _, err = dir.AddToken(t.Context(), "ann", staff.RoleViewer, "ci"); err != nil {
		t.Fatal(err)
	}
	o := Options{Sites: testSites(t), Store: st, Directory: dir, Now: f.clock, InsecureCookie: true,
		AccountLimit: 3, NetworkLimit: 5, LimitWindow: time.Minute}
	if edit != nil {
		edit(&o)
	}
	f.srv = New(o)
	return f
}

func (f *fixture) do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := f.srv.App().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func loginRequest(user, password, origin string) *http.Request {
	form := url.Values{"user": {user}, "password": {password}}
	req := httptest.NewRequest("POST", "http://dash.test/app/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return req
}

// login signs in and returns the session cookie.
func (f *fixture) login(t *testing.T, user string) *http.Cookie {
	t.Helper()
	resp, body := f.do(t, loginRequest(user, testPassword, "http://dash.test"))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/app/" {
		t.Fatalf("sign-in of %s: %d %s", user, resp.StatusCode, body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
				t.Fatalf("session cookie attributes: %+v", c)
			}
			return c
		}
	}
	t.Fatal("no session cookie")
	return nil
}

func get(path string, c *http.Cookie) *http.Request {
	req := httptest.NewRequest("GET", "http://dash.test"+path, nil)
	if c != nil {
		req.AddCookie(c)
	}
	return req
}

// TestEveryRouteNeedsSignIn walks the app's route list: every /app/ and
// /api/ route, with every method it has, refuses a request without a
// session or token, except the sign-in page and its form.
func TestEveryRouteNeedsSignIn(t *testing.T) {
	srv := New(Options{Sites: testSites(t)})
	// The first-run page answers 410 without a live link (setup_test.go).
	public := map[string]bool{"GET /app/login": true, "POST /app/login": true, "HEAD /app/login": true,
		"GET /app/setup": true, "POST /app/setup": true, "HEAD /app/setup": true}
	seen := 0
	for _, r := range srv.App().GetRoutes() {
		if strings.HasPrefix(r.Path, "/share") {
			shareRouteRefuses(t, srv, r.Method, r.Path)
			continue
		}
		if !strings.HasPrefix(r.Path, "/app") && !strings.HasPrefix(r.Path, "/api") {
			t.Errorf("route %s %s is outside /app/ and /api/", r.Method, r.Path)
			continue
		}
		if public[r.Method+" "+r.Path] {
			continue
		}
		methods := []string{r.Method}
		if r.Method == "USE" || r.Method == "ALL" {
			methods = []string{"GET", "POST", "DELETE"}
		}
		path := strings.NewReplacer(":name", "app.js", "*", "x").Replace(r.Path)
		for _, m := range methods {
			for _, p := range []string{path, path + "/x"} {
				if strings.HasPrefix(path, "/app/login") && p == path {
					continue
				}
				seen++
				req := httptest.NewRequest(m, "http://dash.test"+p+"?site=alpha", nil)
				req.Header.Set("Origin", "http://dash.test")
				resp, err := srv.App().Test(req, -1)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == http.StatusUnauthorized:
				case resp.StatusCode == http.StatusSeeOther && resp.Header.Get("Location") == "/app/login":
				default:
					t.Errorf("%s %s without a session: %d %s", m, p, resp.StatusCode, b)
				}
				if strings.Contains(string(b), "visitors") || strings.Contains(string(b), "<script") {
					t.Errorf("%s %s without a session leaked content: %s", m, p, b)
				}
			}
		}
	}
	if seen < 10 {
		t.Fatalf("only %d requests tried: is the route list empty?", seen)
	}
	// A forged cookie and a forged token are no better than none.
	for _, req := range []*http.Request{
		get("/api/v1/me", &http.Cookie{Name: CookieName, Value: "forged"}),
	} {
		resp, _ := srv.App().Test(req, -1)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forged cookie: %d", resp.StatusCode)
		}
	}
}

func TestSignInSessionsAndSites(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st)
		ann := f.login(t, "ann")

		resp, body := f.do(t, get("/api/v1/me", ann))
		if resp.StatusCode != 200 || !strings.Contains(body, `"user":"ann"`) || !strings.Contains(body, `"id":"alpha"`) || strings.Contains(body, "beta") {
			t.Fatalf("me: %d %s", resp.StatusCode, body)
		}
		// Site authorisation: alpha yes, beta no (404, as for a site that
		// does not exist), through the cookie and through the token.
		bearer := func(path string) *http.Request {
			r := get(path, nil)
			r.Header.Set("Authorization", "Bearer "+f.token)
			return r
		}
		for _, p := range []string{"aggregate", "timeseries", "breakdown", "realtime"} {
			q := "/api/v1/stats/" + p + "?period=7d&property=page&site="
			for _, req := range []*http.Request{get(q+"alpha", ann), bearer(q + "alpha")} {
				if resp, body := f.do(t, req); resp.StatusCode != 200 {
					t.Fatalf("%s alpha: %d %s", p, resp.StatusCode, body)
				}
			}
			for _, req := range []*http.Request{get(q+"beta", ann), bearer(q + "beta"), get(q+"nope", ann)} {
				if resp, body := f.do(t, req); resp.StatusCode != 404 {
					t.Fatalf("%s beta as ann: %d %s", p, resp.StatusCode, body)
				}
			}
		}
		admin := f.login(t, "admin")
		if resp, body := f.do(t, get("/api/v1/stats/aggregate?site=beta", admin)); resp.StatusCode != 200 {
			t.Fatalf("admin on beta: %d %s", resp.StatusCode, body)
		}
		// The pages need the session too.
		if resp, body := f.do(t, get("/app/", ann)); resp.StatusCode != 200 || !strings.Contains(body, "app.js") {
			t.Fatalf("/app/: %d", resp.StatusCode)
		}
		if resp, _ := f.do(t, get("/app/assets/app.js", ann)); resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
			t.Fatalf("app.js: %d", resp.StatusCode)
		}

		// Sign-out needs a same-origin POST; afterwards the cookie is dead.
		out := httptest.NewRequest("POST", "http://dash.test/app/logout", nil)
		out.AddCookie(ann)
		out.Header.Set("Origin", "https://evil.example")
		if resp, _ := f.do(t, out); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-origin sign-out: %d", resp.StatusCode)
		}
		out.Header.Set("Origin", "http://dash.test")
		if resp, _ := f.do(t, out); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-out: %d", resp.StatusCode)
		}
		if resp, _ := f.do(t, get("/api/v1/me", ann)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("after sign-out: %d", resp.StatusCode)
		}
		// Sessions expire after 2 hours unused.
		f.advance(2*time.Hour + time.Second)
		if resp, _ := f.do(t, get("/api/v1/me", admin)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("idle session: %d", resp.StatusCode)
		}

		// A disabled account cannot sign in; the audit log has every try.
		if resp, _ := f.do(t, loginRequest("gone", testPassword, "http://dash.test")); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("disabled account: %d", resp.StatusCode)
		}
		entries, err := staff.NewAuditor(st, nil).Entries(t.Context(), 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range entries {
			got = append(got, e.Action+":"+e.Target+":"+e.Outcome+":"+e.Client)
		}
		want := []string{"sign_in:ann:ok:0.0.0.0/24", "sign_in:admin:ok:0.0.0.0/24", "sign_out:ann:ok:0.0.0.0/24", "sign_in_failed:gone:disabled:0.0.0.0/24"}
		for _, w := range want {
			if !strings.Contains(strings.Join(got, " "), w) {
				t.Fatalf("audit log %v lacks %s", got, w)
			}
		}
	})
}

func TestSignInCSRFAndRateLimit(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st)
		// No Origin, or another one: refused before the password is looked at.
		for _, origin := range []string{"", "https://evil.example", "http://dash.test.evil.example"} {
			if resp, _ := f.do(t, loginRequest("ann", testPassword, origin)); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("origin %q: %d", origin, resp.StatusCode)
			}
		}
		cross := loginRequest("ann", testPassword, "http://dash.test")
		cross.Header.Set("Sec-Fetch-Site", "same-site")
		if resp, _ := f.do(t, cross); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("Sec-Fetch-Site same-site: %d", resp.StatusCode)
		}
		// Three wrong passwords lock the account for the window, even with
		// the right password; other accounts are untouched.
		for i := range 3 {
			resp, body := f.do(t, loginRequest("ann", "wrong password!", "http://dash.test"))
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Wrong user name or password") {
				t.Fatalf("attempt %d: %d", i, resp.StatusCode)
			}
		}
		if resp, _ := f.do(t, loginRequest("ann", testPassword, "http://dash.test")); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("locked account: %d", resp.StatusCode)
		}
		f.login(t, "admin")
		// Unknown names fail like wrong passwords; two more failures from
		// the network (5 in all) block it for every account.
		for range 2 {
			if resp, _ := f.do(t, loginRequest("nobody", "whatever it is", "http://dash.test")); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("unknown user: %d", resp.StatusCode)
			}
		}
		if resp, _ := f.do(t, loginRequest("admin", testPassword, "http://dash.test")); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("locked network: %d", resp.StatusCode)
		}
		f.advance(time.Minute)
		f.login(t, "ann")
	})
}

// TestConcurrentRequests fires sign-ins and API calls at once (run with
// -race): what a handler keeps (rate-limit keys, sessions) must be copies,
// not Fiber's reused request memory.
func TestConcurrentRequests(t *testing.T) {
	st := storetest.Embedded(t)
	f := newFixtureWith(t, st, func(o *Options) { o.AccountLimit = 1000 })
	ann := f.login(t, "ann")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("user%02d", i)
			resp, err := f.srv.App().Test(loginRequest(name, "wrong password!", "http://dash.test"), -1)
			if err != nil || resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("login %s: %v %v", name, resp, err)
			}
			resp, err = f.srv.App().Test(get("/api/v1/stats/aggregate?site=alpha&period=today", ann), -1)
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("aggregate: %v %v", resp, err)
			}
		}()
	}
	wg.Wait()
	accounts, _, _ := f.srv.gate.Limits()
	for i := range 16 {
		if d := accounts.Peek(fmt.Sprintf("user%02d", i)); d.Count != 1 {
			t.Fatalf("rate-limit key user%02d: %+v (keys %d)", i, d, accounts.Len())
		}
	}
}

// shareRouteRefuses checks a /share/ route without a live link: its page
// and API answer 404 (405 for a write to the API) and show nothing, except
// the shared page's script and stylesheet, which hold no data.
func shareRouteRefuses(t *testing.T, srv *Server, method, route string) {
	t.Helper()
	if strings.HasPrefix(route, "/share/_/") {
		return
	}
	methods := []string{method}
	if method == "USE" || method == "ALL" {
		methods = []string{"GET", "POST", "DELETE"}
	}
	path := strings.NewReplacer(":token", "nosuch", "*", "x").Replace(route)
	for _, m := range methods {
		req := httptest.NewRequest(m, "http://dash.test"+path+"?site=alpha", nil)
		req.Header.Set("Origin", "http://dash.test")
		resp, err := srv.App().Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s without a link: %d %s", m, path, resp.StatusCode, b)
		}
		if strings.Contains(string(b), "visitors") || strings.Contains(string(b), "<script") {
			t.Errorf("%s %s without a link leaked content: %s", m, path, b)
		}
	}
}
