package collector

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/consent/consentlog"
	"github.com/sezim-analytics/sezim/event"
)

// memLog is a ConsentLog in memory; fail makes Append fail.
type memLog struct {
	mu   sync.Mutex
	recs []consentlog.Record
	fail bool
}

func (l *memLog) Append(_ context.Context, r *consentlog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail {
		return errors.New("store down")
	}
	l.recs = append(l.recs, *r)
	return nil
}

func (l *memLog) last() consentlog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.recs[len(l.recs)-1]
}

type consentFixture struct {
	c    *Collector
	log  *memLog
	keys *consent.Keys
	reg  *prometheus.Registry
	sink *captureSink
}

const consentYAML = `
trusted_proxies: [10.0.0.1]
sites:
  - id: sez
    domains: [sez.im]
    origins: [https://sez.im, https://*.app.sez.im]
    consent:
      purposes: [functional, statistics, identified, third_party]
      services: [{id: yandex_metrica}, {id: google_analytics}]
      policy_version: "2026-01"
      policy_text_hash: "` + hash64 + `"
      cookie_domain: sez.im
      lifetime_days: 30
      texts: {kk: {title: "Cookie файлдары"}}
  - id: plain
    domains: [plain.kz]
    origins: [https://plain.kz]
`

const hash64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func newConsentFixture(t testing.TB) *consentFixture {
	t.Helper()
	return newConsentFixtureFrom(t, consentYAML, Options{})
}

func decision(action string, mod func(m map[string]any)) string {
	m := map[string]any{"s": "sez", "action": action, "lang": "ru", "text_hash": hash64, "policy_version": "2026-01"}
	if mod != nil {
		mod(m)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func (f *consentFixture) post(t testing.TB, body string, headers map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	r := httptest.NewRequest("POST", "/consent", strings.NewReader(body))
	r.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	r.Header.Set("Origin", "https://sez.im")
	r.Header.Set("User-Agent", chromeUA)
	r.Header.Set("X-Forwarded-Proto", "https")
	for k, v := range headers {
		switch {
		case k == "Host":
			r.Host = v
		case v == "":
			r.Header.Del(k)
		default:
			r.Header.Set(k, v)
		}
	}
	resp, err := f.c.App().Test(r, -1)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("reply %q: %v", raw, err)
		}
	}
	return resp, out
}

func cookiesOf(resp *http.Response) map[string]*http.Cookie {
	out := map[string]*http.Cookie{}
	for _, c := range resp.Cookies() {
		out[c.Name] = c
	}
	return out
}

func setCookieHeader(resp *http.Response, name string) string {
	for _, h := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(h, name+"=") {
			return h
		}
	}
	return ""
}

func TestConsentDecisions(t *testing.T) {
	for _, tc := range []struct {
		action       string
		mod          func(m map[string]any)
		wantPurposes string
		wantServices string
		wantVid      string // "set", "deleted" or ""
		wantReceipt  bool   // in the cookie
	}{
		{"accept_all", nil, "necessary,functional,statistics,identified,third_party", "yandex_metrica,google_analytics", "set", true},
		{"reject_all", nil, "necessary", "", "deleted", false},
		{"withdraw", nil, "necessary", "", "deleted", false},
		{"custom", func(m map[string]any) {
			m["purposes"] = []string{"necessary", "statistics"}
			m["services"] = []string{"yandex_metrica"}
		}, "necessary,statistics,third_party", "yandex_metrica", "set", true},
		{"custom", func(m map[string]any) { m["purposes"] = []string{"functional"} }, "necessary,functional", "", "deleted", true},
		{"custom", func(m map[string]any) { m["purposes"] = []string{"third_party"} }, "necessary", "", "deleted", false},
	} {
		t.Run(tc.action+"/"+tc.wantPurposes, func(t *testing.T) {
			f := newConsentFixture(t)
			resp, out := f.post(t, decision(tc.action, tc.mod), nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %v", resp.StatusCode, out)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "https://sez.im" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
				t.Fatalf("CORS headers: %v", resp.Header)
			}
			if got := join(out["purposes"]); got != tc.wantPurposes {
				t.Errorf("purposes %q, want %q", got, tc.wantPurposes)
			}
			if got := join(out["services"]); got != tc.wantServices {
				t.Errorf("services %q, want %q", got, tc.wantServices)
			}
			receipt, _ := out["receipt"].(string)
			if len(receipt) != 16 || out["policy_version"] != "2026-01" || out["expires"] != "2026-12-24T10:00:00Z" {
				t.Errorf("reply %v", out)
			}
			rec := f.log.last()
			if rec.Receipt != receipt || rec.Action != tc.action || rec.PurposesGranted != tc.wantPurposes || rec.Lang != "ru" ||
				rec.TextHash != hash64 || rec.PolicyHash != hash64 || rec.Browser != "Chrome" || rec.Site != "sez" {
				t.Errorf("log record %+v", rec)
			}
			if tc.action == "accept_all" && (rec.Services != "yandex_metrica:RU,google_analytics:US" || rec.PurposesDenied != "") {
				t.Errorf("log services %q denied %q", rec.Services, rec.PurposesDenied)
			}
			if tc.action == "reject_all" && rec.PurposesDenied != "functional,statistics,identified,third_party" {
				t.Errorf("denied %q", rec.PurposesDenied)
			}

			cs := cookiesOf(resp)
			cc := cs[consent.CookieName]
			if cc == nil || cc.MaxAge != 30*86400 || cc.Path != "/" || cc.Domain != "sez.im" || !cc.Secure || cc.SameSite != http.SameSiteLaxMode {
				t.Fatalf("consent cookie %+v (%s)", cc, setCookieHeader(resp, consent.CookieName))
			}
			var c consent.Cookie
			if err := f.keys.Check(cc.Value, "sez", "2026-01", testNow, &c); err != nil {
				t.Fatal(err)
			}
			if c.Purposes.String() != tc.wantPurposes || c.HasReceipt != tc.wantReceipt {
				t.Errorf("cookie grants %q receipt %v", c.Purposes, c.HasReceipt)
			}
			if c.HasReceipt && consent.ReceiptString(c.Receipt) != receipt {
				t.Errorf("cookie receipt differs from the reply's")
			}
			vid := cs[consent.VisitorCookieName]
			switch tc.wantVid {
			case "set":
				if vid == nil || !consent.ValidVisitorID(vid.Value) || vid.MaxAge != 30*86400 || !vid.HttpOnly || !vid.Secure || vid.Domain != "sez.im" {
					t.Fatalf("visitor cookie %+v", vid)
				}
			case "deleted":
				if h := setCookieHeader(resp, consent.VisitorCookieName); !strings.Contains(h, "Max-Age=0") || vid.Value != "" {
					t.Fatalf("visitor cookie not deleted: %q", h)
				}
			}
			if n := metric(t, f.reg, "sezim_consent_decisions_total", tc.action); n != 1 {
				t.Errorf("decisions{action=%s} = %v", tc.action, n)
			}
		})
	}
}

func join(v any) string {
	list, _ := v.([]any)
	s := make([]string, len(list))
	for i, x := range list {
		s[i], _ = x.(string)
	}
	return strings.Join(s, ",")
}

// metric reads a counter with one label value from reg.
func metric(t testing.TB, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}

func TestConsentShownOnlyLogs(t *testing.T) {
	f := newConsentFixture(t)
	resp, out := f.post(t, decision("shown", nil), map[string]string{"Sec-GPC": "1", "DNT": "1", "X-Forwarded-For": "203.0.113.77"})
	if resp.StatusCode != 200 || len(resp.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("shown: %d, cookies %v", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	}
	if _, has := out["expires"]; has || join(out["purposes"]) != "necessary" || out["receipt"] == "" {
		t.Fatalf("shown reply %v", out)
	}
	rec := f.log.last()
	// Only the direct peer (0.0.0.0 in app.Test, not a trusted proxy) counts.
	if rec.Action != "shown" || !rec.GPC || !rec.DNT || rec.PurposesGranted != "" || rec.IP != "0.0.0.0" {
		t.Fatalf("shown record %+v", rec)
	}
}

func TestConsentKeepsAValidVisitorID(t *testing.T) {
	f := newConsentFixture(t)
	const vid = "AAAAAAAAAAAAAAAAAAAAAQ"
	resp, _ := f.post(t, decision("accept_all", nil), map[string]string{"Cookie": "sezim_vid=" + vid})
	if got := cookiesOf(resp)[consent.VisitorCookieName]; got == nil || got.Value != vid {
		t.Fatalf("visitor id replaced: %+v", got)
	}
	resp, _ = f.post(t, decision("accept_all", nil), map[string]string{"Cookie": "sezim_vid=not-a-visitor-id"})
	if got := cookiesOf(resp)[consent.VisitorCookieName]; got == nil || got.Value == "not-a-visitor-id" || !consent.ValidVisitorID(got.Value) {
		t.Fatalf("malformed visitor id kept: %+v", got)
	}
}

func TestConsentRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		headers    map[string]string
		status     int
		reason     string
	}{
		{"not json", "{", nil, 400, "bad_json"},
		{"no site", decision("accept_all", func(m map[string]any) { delete(m, "s") }), nil, 400, "missing_site"},
		{"unknown site", decision("accept_all", func(m map[string]any) { m["s"] = "nope" }), nil, 400, "unknown_site"},
		{"site without consent", decision("accept_all", func(m map[string]any) { m["s"] = "plain" }), map[string]string{"Origin": "https://plain.kz"}, 400, "consent_not_configured"},
		{"no origin", decision("accept_all", nil), map[string]string{"Origin": ""}, 403, "missing_origin"},
		{"origin of another site", decision("accept_all", nil), map[string]string{"Origin": "https://plain.kz"}, 403, "origin_not_allowed"},
		{"subdomain of the page host", decision("accept_all", nil), map[string]string{"Origin": "https://www.sez.im"}, 403, "origin_not_allowed"},
		{"other origin", decision("accept_all", nil), map[string]string{"Origin": "https://evil.example"}, 403, "origin_not_allowed"},
		{"bad action", decision("accept_some", nil), nil, 400, "bad_action"},
		{"bad lang", decision("accept_all", func(m map[string]any) { m["lang"] = "de" }), nil, 400, "bad_lang"},
		{"no lang", decision("accept_all", func(m map[string]any) { delete(m, "lang") }), nil, 400, "bad_lang"},
		{"bad text hash", decision("accept_all", func(m map[string]any) { m["text_hash"] = "abc" }), nil, 400, "bad_text_hash"},
		{"upper-case text hash", decision("accept_all", func(m map[string]any) { m["text_hash"] = strings.ToUpper(hash64) }), nil, 400, "bad_text_hash"},
		{"old policy", decision("accept_all", func(m map[string]any) { m["policy_version"] = "2025-01" }), nil, 400, "policy_version_mismatch"},
		{"unknown purpose", decision("custom", func(m map[string]any) { m["purposes"] = []string{"marketing"} }), nil, 400, "unknown_purpose"},
		{"unknown service", decision("custom", func(m map[string]any) { m["services"] = []string{"facebook"} }), nil, 400, "unknown_service"},
		{"too large", `{"s":"sez","pad":"` + strings.Repeat("x", MaxConsentBytes) + `"}`, nil, 413, "too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newConsentFixture(t)
			resp, out := f.post(t, tc.body, tc.headers)
			if resp.StatusCode != tc.status || out["error"] != tc.reason {
				t.Fatalf("got %d %v, want %d %s", resp.StatusCode, out, tc.status, tc.reason)
			}
			if len(resp.Header.Values("Set-Cookie")) != 0 || len(f.log.recs) != 0 {
				t.Fatal("a refused decision set a cookie or was logged")
			}
		})
	}
}

// A decision whose log row cannot be stored is not acted on: no receipt,
// no cookie.
func TestConsentNeedsTheLog(t *testing.T) {
	f := newConsentFixture(t)
	f.log.fail = true
	resp, out := f.post(t, decision("accept_all", nil), nil)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || out["error"] != "unavailable" || len(resp.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("got %d %v %v", resp.StatusCode, out, resp.Header)
	}
}

func TestConsentPreflight(t *testing.T) {
	f := newConsentFixture(t)
	r := httptest.NewRequest("OPTIONS", "/consent", nil)
	r.Header.Set("Origin", "https://sez.im")
	r.Header.Set("Access-Control-Request-Method", "POST")
	resp, _ := f.c.App().Test(r, -1)
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://sez.im" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("preflight %d %v", resp.StatusCode, resp.Header)
	}
	r.Header.Set("Origin", "https://evil.example")
	if resp, _ = f.c.App().Test(r, -1); resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin %d %v", resp.StatusCode, resp.Header)
	}
}

func (f *consentFixture) get(t testing.TB, target, cookie string) (int, string) {
	t.Helper()
	r := httptest.NewRequest("GET", target, nil)
	r.Header.Set("Origin", "https://sez.im")
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	resp, err := f.c.App().Test(r, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestConsentConfig(t *testing.T) {
	f := newConsentFixture(t)
	status, body := f.get(t, "/consent/config?s=sez", "")
	want := `{"policy_version":"2026-01","purposes":[{"id":"necessary","required":true},{"id":"functional","required":false},` +
		`{"id":"statistics","required":false},{"id":"identified","required":false},{"id":"third_party","required":false}],` +
		`"services":[{"id":"yandex_metrica","name":"Yandex Metrica","purpose":"third_party","country":"RU"},` +
		`{"id":"google_analytics","name":"Google Analytics","purpose":"third_party","country":"US"}],` +
		`"texts":{"kk":{"title":"Cookie файлдары"}},"lifetime_days":30}`
	if status != 200 || body != want {
		t.Fatalf("config %d:\n%s\nwant\n%s", status, body, want)
	}
	if status, body = f.get(t, "/consent/config?s=plain", ""); status != 403 && status != 400 {
		t.Fatalf("config of a site without consent: %d %s", status, body)
	}
}

func TestConsentState(t *testing.T) {
	f := newConsentFixture(t)
	// The receipt is shown back (the banner's settings show it); a
	// refusal has none.
	receipt := [consent.ReceiptBytes]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	rs := consent.ReceiptString(receipt)
	grant := func(version string, p consent.Purposes, expires time.Time) string {
		c := consent.Cookie{Purposes: p, Issued: testNow.Add(-time.Hour).Unix(), Expires: expires.Unix()}
		if p&^consent.Purposes(consent.Necessary) != 0 {
			c.Receipt, c.HasReceipt = receipt, true
		}
		v, err := f.keys.Encode("sez", version, &c)
		if err != nil {
			t.Fatal(err)
		}
		return "sezim_consent=" + v
	}
	stats := consent.Purposes(consent.Necessary).With(consent.Statistics)
	later := testNow.Add(time.Hour)
	valid := grant("2026-01", stats, later)
	for _, tc := range []struct {
		name, cookie, want string
	}{
		{"none", "", `{"valid":false,"purposes":[],"services":[],"policy_version":"","needs_prompt":true}`},
		{"valid", valid, `{"valid":true,"purposes":["necessary","statistics"],"services":[],"policy_version":"2026-01","needs_prompt":false,"receipt":"` + rs + `"}`},
		{"refusal", grant("2026-01", consent.Purposes(consent.Necessary), later), `{"valid":true,"purposes":["necessary"],"services":[],"policy_version":"2026-01","needs_prompt":false}`},
		{"old policy", grant("2025-01", stats, later), `{"valid":true,"purposes":["necessary","statistics"],"services":[],"policy_version":"2025-01","needs_prompt":true,"receipt":"` + rs + `"}`},
		{"expired", grant("2026-01", stats, testNow), `{"valid":false,"purposes":[],"services":[],"policy_version":"","needs_prompt":true}`},
		{"tampered", valid[:len(valid)-3] + "AAA", `{"valid":false,"purposes":[],"services":[],"policy_version":"","needs_prompt":true}`},
	} {
		status, body := f.get(t, "/consent/state?s=sez", tc.cookie)
		if status != 200 || body != tc.want {
			t.Errorf("%s: %d %s\nwant %s", tc.name, status, body, tc.want)
		}
	}
}

// TestConsentCookieDecidesTheTier runs beacons through the pipeline with
// the cookie a decision set: statistics makes them consented, anything
// else leaves them anonymous.
func TestConsentCookieDecidesTheTier(t *testing.T) {
	f := newConsentFixture(t)
	cookieAfter := func(action string) string {
		resp, _ := f.post(t, decision(action, nil), nil)
		c := cookiesOf(resp)[consent.CookieName]
		return consent.CookieName + "=" + c.Value
	}
	accepted, rejected := cookieAfter("accept_all"), cookieAfter("reject_all")
	beacon := func(cookie string) event.Tier {
		r := httptest.NewRequest("POST", "/e", strings.NewReader(`{"s":"sez","u":"https://sez.im/a"}`))
		r.Header.Set("Origin", "https://sez.im")
		r.Header.Set("User-Agent", chromeUA)
		r.Header.Set("Accept", "*/*")
		r.Header.Set("Accept-Language", "ru")
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		resp, err := f.c.App().Test(r, -1)
		if err != nil || resp.StatusCode != 202 {
			t.Fatalf("beacon: %v %v", resp, err)
		}
		all := f.sink.all()
		return all[len(all)-1].Tier
	}
	if got := beacon(accepted); got != event.TierConsented {
		t.Errorf("accepted: %v", got)
	}
	for _, c := range []string{"", rejected, accepted[:len(accepted)-2] + "xx", "sezim_consent=v1.garbage"} {
		if got := beacon(c); got != event.TierAnonymous {
			t.Errorf("cookie %q: %v", c, got)
		}
	}
}

// TestConsentConcurrent fires decisions at once: each log record keeps its
// own values (nothing points into a reused request buffer).
func TestConsentConcurrent(t *testing.T) {
	f := newConsentFixture(t)
	var wg sync.WaitGroup
	langs := []string{"ru", "kk", "en"}
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := f.post(t, decision("custom", func(m map[string]any) {
				m["lang"] = langs[i%3]
				m["purposes"] = []string{"statistics"}
			}), nil)
			if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	byLang := map[string]int{}
	for _, r := range f.log.recs {
		if seen[r.Receipt] || r.PurposesGranted != "necessary,statistics" || r.TextHash != hash64 {
			t.Fatalf("record %+v", r)
		}
		seen[r.Receipt] = true
		byLang[r.Lang]++
	}
	if len(seen) != 24 || byLang["ru"] != 8 || byLang["kk"] != 8 || byLang["en"] != 8 {
		t.Fatalf("records: %d, by language %v", len(seen), byLang)
	}
}
