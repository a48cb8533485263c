package dashboards

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// shareClient is a browser without an account: it keeps cookies and does
// not follow redirects.
func shareClient(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func call(t *testing.T, c *http.Client, method, u, ctype, body string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestShareLinks runs shared links through real HTTP on both engines: a
// viewer makes a link to the site it sees (not to another), someone with
// no account opens it and reads that site's numbers and nothing else (no
// other site, no staff API, no console, no writes), a link with a password
// asks for it and counts wrong ones toward the sign-in limit, and a revoked
// link answers 410 at once, session or not. Creation, one use per share
// session and revocation are audited; the token is stored only as a hash.
func TestShareLinks(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st)
		day := store.Day{Year: 2026, Month: 11, Day: 24}
		cols := []string{"site", "day", "dim", "value", "salt_day", "visitors", "visits", "pageviews", "bounces", "duration", "events", "version"}
		rows := [][]any{
			{"alpha", day, "", "", day, uint64(42), uint64(50), uint64(120), uint64(10), uint64(3000), uint64(0), uint64(1)},
			{"alpha", day, "page", "/", day, uint64(42), uint64(50), uint64(120), uint64(10), uint64(3000), uint64(0), uint64(1)},
			{"beta", day, "", "", day, uint64(9), uint64(9), uint64(9), uint64(9), uint64(0), uint64(0), uint64(1)},
		}
		if err := st.Insert(t.Context(), st.DB().Stats+".agg_daily", cols, rows); err != nil {
			t.Fatal(err)
		}
		base := f.loopback(t)
		ann := signIn(t, base, "ann")
		origin := []string{"Origin", base}

		// ann sees alpha only: a link to beta is refused like a site that
		// does not exist; a bad body is refused with a fixed reason.
		if code, body := call(t, ann, "POST", base+"/api/v1/shares", "application/json", `{"site":"beta"}`, origin...); code != 404 {
			t.Fatalf("link to another site: %d %s", code, body)
		}
		if code, body := call(t, ann, "POST", base+"/api/v1/shares", "application/json", `{"site":"alpha","password":"short"}`, origin...); code != 400 || !strings.Contains(body, "weak_password") {
			t.Fatalf("weak password: %d %s", code, body)
		}
		if code, _ := call(t, ann, "POST", base+"/api/v1/shares", "application/json", `{"site":"alpha"}`); code != 403 {
			t.Fatalf("a POST without Origin: %d, want 403", code)
		}
		if code, _ := call(t, shareClient(t), "POST", base+"/api/v1/shares", "application/json", `{"site":"alpha"}`, origin...); code != 401 {
			t.Fatalf("a POST without sign-in: %d, want 401", code)
		}
		code, body := call(t, ann, "POST", base+"/api/v1/shares", "application/json", `{"site":"alpha","label":"board"}`, origin...)
		var open struct {
			staff.ShareLink
			URL   string `json:"url"`
			Token string `json:"token"`
		}
		if code != 201 || json.Unmarshal([]byte(body), &open) != nil || !strings.HasPrefix(open.URL, "/share/"+staff.SharePrefix) || open.Site != "alpha" || open.CreatedBy != "ann" {
			t.Fatalf("create: %d %s", code, body)
		}
		if n := countWhere(t, st, "audit_log", "action = 'share_created' AND actor = 'ann' AND target = "+store.Quote(open.ID)); n != 1 {
			t.Fatalf("%d share_created rows", n)
		}
		// Only the token's hash is kept.
		if n, err := store.CountWhere(t.Context(), st, st.DB().Staff+".share_links", "position(token_hash, "+store.Quote(open.Token)+") > 0 OR token_hash != "+store.Quote(hashOf(open.Token))); err != nil || n != 0 {
			t.Fatalf("share_links keeps the token: %d %v", n, err)
		}

		// A visitor without an account opens it: the dashboard itself,
		// read only (no site picker, sign-out, staff links or links panel),
		// its assets without a sign-in, then the API under the link's
		// path, for alpha only.
		guest := shareClient(t)
		code, body = call(t, guest, "GET", base+open.URL, "", "")
		if code != 200 {
			t.Fatalf("open: %d %s", code, body)
		}
		for _, want := range []string{"<body data-share>", `src="/share/_/app.js"`, `href="/share/_/app.css"`, `id="share-site"`, `id="chart"`, `id="interval"`, `id="add-filter"`, `id="realtime-toggle"`, `id="goals"`} {
			if !strings.Contains(body, want) {
				t.Errorf("the shared page lacks %s", want)
			}
		}
		for _, banned := range []string{"/app/", "shares.js", `id="site"`, "logout", "Sign out"} {
			if strings.Contains(body, banned) {
				t.Errorf("the shared page has %s", banned)
			}
		}
		for asset, want := range map[string]int{"app.js": 200, "app.css": 200, "shares.js": 404, "index.html": 404} {
			if code, _ := call(t, shareClient(t), "GET", base+"/share/_/"+asset, "", ""); code != want {
				t.Errorf("/share/_/%s: %d, want %d", asset, code, want)
			}
		}
		get := func(c *http.Client, path string) (int, string) { return call(t, c, "GET", base+open.URL+path, "", "") }
		code, body = get(guest, "/api/v1/stats/aggregate?site=alpha&period=custom&from=2026-11-24&to=2026-11-24")
		var agg struct {
			Results struct {
				Visitors  uint64 `json:"visitors"`
				Pageviews uint64 `json:"pageviews"`
			} `json:"results"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &agg) != nil || agg.Results.Visitors != 42 || agg.Results.Pageviews != 120 {
			t.Fatalf("aggregate through the link: %d %s", code, body)
		}
		if code, body := get(guest, "/api/v1/share"); code != 200 || !strings.Contains(body, `"site":"alpha"`) {
			t.Fatalf("share info: %d %s", code, body)
		}
		for _, p := range []string{"/api/v1/stats/aggregate?site=beta&period=7d", "/api/v1/stats/breakdown?site=beta&property=page"} {
			if code, _ := get(guest, p); code != 404 {
				t.Errorf("another site through the link: %s: %d, want 404", p, code)
			}
		}
		// Nothing outside the link's path: the session cookie is not sent
		// there, and a cookie copied by hand is not a staff session.
		for _, p := range []string{"/api/v1/me", "/api/v1/sites", "/api/v1/shares", "/api/v1/stats/aggregate?site=alpha", "/app/privacy/"} {
			if code, _ := call(t, guest, "GET", base+p, "", ""); code != 401 {
				t.Errorf("%s with the share session: %d, want 401", p, code)
			}
		}
		u, _ := url.Parse(base + open.URL)
		var shareCookie string
		for _, c := range guest.Jar.Cookies(u) {
			if c.Name == staff.ShareCookie {
				shareCookie = c.Value
			}
		}
		if shareCookie == "" {
			t.Fatal("no share session cookie")
		}
		if code, _ := call(t, shareClient(t), "GET", base+"/api/v1/me", "", "", "Cookie", CookieName+"="+shareCookie); code != 401 {
			t.Errorf("a share session as a staff session: %d, want 401", code)
		}
		if code, _ := call(t, guest, "POST", base+open.URL+"/api/v1/stats/aggregate?site=alpha", "application/json", "{}", origin...); code != 405 {
			t.Errorf("a POST through the link: %d, want 405", code)
		}
		// Used once per share session, however many calls.
		get(guest, "/api/v1/stats/aggregate?site=alpha")
		call(t, guest, "GET", base+open.URL, "", "")
		if n := countWhere(t, st, "audit_log", "action = 'share_used' AND target = "+store.Quote(open.ID)); n != 1 {
			t.Errorf("%d share_used rows after one session, want 1", n)
		}
		if code, _ := call(t, shareClient(t), "GET", base+"/share/"+staff.SharePrefix+strings.Repeat("A", 43), "", ""); code != 404 {
			t.Errorf("an unknown link: %d, want 404", code)
		}

		// A link with a password: the form first; wrong passwords are
		// counted per network (NetworkLimit 5) and then refused with 429.
		code, body = call(t, ann, "POST", base+"/api/v1/shares", "application/json", `{"site":"alpha","password":"a long share password"}`, origin...)
		var locked struct {
			ID  string `json:"id"`
			URL string `json:"url"`
		}
		if code != 201 || json.Unmarshal([]byte(body), &locked) != nil {
			t.Fatalf("create with password: %d %s", code, body)
		}
		g2 := shareClient(t)
		if code, body := call(t, g2, "GET", base+locked.URL, "", ""); code != 200 || !strings.Contains(body, `name="password"`) || strings.Contains(body, "app.js") {
			t.Fatalf("a link with a password shows: %d %s", code, body)
		}
		if code, _ := call(t, g2, "GET", base+locked.URL+"/api/v1/stats/aggregate?site=alpha", "", ""); code != 401 {
			t.Fatalf("the API before the password: %d, want 401", code)
		}
		form := func(pw string) (int, string) {
			return call(t, g2, "POST", base+locked.URL, "application/x-www-form-urlencoded", url.Values{"password": {pw}}.Encode(), origin...)
		}
		if code, _ := call(t, g2, "POST", base+locked.URL, "application/x-www-form-urlencoded", "password=x"); code != 403 {
			t.Fatalf("a password POST without Origin: %d, want 403", code)
		}
		if code, _ := form("a long share password"); code != 303 {
			t.Fatalf("the right password: %d, want 303", code)
		}
		if code, _ := call(t, g2, "GET", base+locked.URL+"/api/v1/stats/aggregate?site=alpha", "", ""); code != 200 {
			t.Fatalf("the API after the password: %d", code)
		}
		// Wrong passwords: the link allows as many as an account
		// (AccountLimit 3), then refuses even the right one with 429.
		for i := range 3 {
			if code, body := form("wrong password " + string(rune('a'+i))); code != 401 || !strings.Contains(body, "Wrong password") {
				t.Fatalf("wrong password %d: %d %s", i, code, body)
			}
		}
		if code, body := form("a long share password"); code != 429 || !strings.Contains(body, "Too many") {
			t.Fatalf("after 3 wrong passwords the right one: %d %s, want 429", code, body)
		}
		if n := countWhere(t, st, "audit_log", "action = 'share_password_failed' AND target = "+store.Quote(locked.ID)); n != 3 {
			t.Errorf("%d share_password_failed rows, want 3", n)
		}
		// They count toward the network's sign-in limit (NetworkLimit 5):
		// two failed sign-ins more from the network, and the next is held
		// back.
		signInAs := func(pw string) int {
			code, _ := call(t, shareClient(t), "POST", base+"/app/login", "application/x-www-form-urlencoded", url.Values{"user": {"admin"}, "password": {pw}}.Encode(), origin...)
			return code
		}
		if a, b, c := signInAs("nope nope nope"), signInAs("nope nope nope"), signInAs(testPassword); a != 401 || b != 401 || c != 429 {
			t.Errorf("sign-ins after 3 wrong share passwords: %d %d %d, want 401 401 429", a, b, c)
		}

		// Listing: ann sees alpha's two links; revoking one stops its open
		// session at once, with 410.
		code, body = call(t, ann, "GET", base+"/api/v1/shares?site=alpha", "", "")
		var list struct {
			Links []staff.ShareLink `json:"links"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Links) != 2 || strings.Contains(body, "token") {
			t.Fatalf("list: %d %s", code, body)
		}
		if code, _ := call(t, ann, "POST", base+"/api/v1/shares/nosuch/revoke", "", "", origin...); code != 404 {
			t.Errorf("revoke an unknown link: %d", code)
		}
		if code, body := call(t, ann, "POST", base+"/api/v1/shares/"+open.ID+"/revoke", "", "", origin...); code != 200 || !strings.Contains(body, `"revoked":true`) {
			t.Fatalf("revoke: %d %s", code, body)
		}
		if code, _ := get(guest, "/api/v1/stats/aggregate?site=alpha"); code != 410 {
			t.Errorf("the API of a revoked link: %d, want 410", code)
		}
		if code, body := call(t, guest, "GET", base+open.URL, "", ""); code != 410 || !strings.Contains(body, "revoked") {
			t.Errorf("the page of a revoked link: %d %s", code, body)
		}
		if code, _ := call(t, shareClient(t), "GET", base+open.URL, "", ""); code != 410 {
			t.Errorf("a revoked link opened afresh: %d, want 410", code)
		}
		if n := countWhere(t, st, "audit_log", "action = 'share_revoked' AND actor = 'ann' AND target = "+store.Quote(open.ID)); n != 1 {
			t.Errorf("%d share_revoked rows", n)
		}
		// The admin sees every site's links.
		f.advance(2 * time.Minute) // past the sign-in limit's window
		admin := signIn(t, base, "admin")
		if code, body := call(t, admin, "GET", base+"/api/v1/shares", "", ""); code != 200 || strings.Count(body, `"id"`) != 2 {
			t.Errorf("admin list: %d %s", code, body)
		}
	})
}

// hashOf is the SHA-256 a token is stored as.
func hashOf(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}
