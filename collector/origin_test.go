package collector

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCORSOnlyForConfiguredOrigins sends every cross-origin route of the
// consent fixture's site "sez" (origins https://sez.im and the pattern
// https://*.app.sez.im) from origins that are, and are not, configured:
// only the configured ones get Access-Control-Allow-Origin with
// credentials, and the others are refused with a reason.
func TestCORSOnlyForConfiguredOrigins(t *testing.T) {
	routes := []struct {
		name, method, target, body string
		ok                         int
	}{
		{"state", "GET", "/consent/state?s=sez", "", 200},
		{"config", "GET", "/consent/config?s=sez", "", 200},
		{"consent", "POST", "/consent", decision("reject_all", nil), 200},
		{"beacon", "POST", "/e", `{"s":"sez","u":"https://sez.im/a"}`, 202},
	}
	origins := []struct {
		origin string
		allow  bool
	}{
		{"https://sez.im", true},
		{"https://sez.im:443", true},
		{"https://news.app.sez.im", true},
		{"https://a.b.app.sez.im", true},
		{"http://sez.im", false},           // another scheme
		{"https://sez.im:8443", false},     // another port
		{"http://anything.sez.im", false},  // a subdomain of the page host
		{"https://www.sez.im", false},      // the same, over https
		{"https://app.sez.im", false},      // the pattern's domain itself
		{"https://evil-app.sez.im", false}, // not under the pattern
		{"https://sez.im.evil.kz", false},  // a suffix trick
		{"https://plain.kz", false},        // another site's origin
		{"null", false},                    // a sandboxed frame
		{"https://news.app.sez.im:8443", false},
	}
	for _, r := range routes {
		for _, o := range origins {
			t.Run(r.name+"/"+o.origin, func(t *testing.T) {
				f := newConsentFixture(t)
				var body io.Reader
				if r.body != "" {
					body = strings.NewReader(r.body)
				}
				req := httptest.NewRequest(r.method, r.target, body)
				req.Header.Set("Origin", o.origin)
				req.Header.Set("User-Agent", chromeUA)
				req.Header.Set("Accept", "*/*")
				req.Header.Set("Accept-Language", "ru")
				resp, err := f.c.App().Test(req, -1)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := io.ReadAll(resp.Body)
				acao, acac := resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Access-Control-Allow-Credentials")
				if !strings.Contains(resp.Header.Get("Vary"), "Origin") {
					t.Errorf("no Vary: Origin (%v)", resp.Header)
				}
				if o.allow {
					if resp.StatusCode != r.ok || acao != o.origin || acac != "true" {
						t.Fatalf("allowed origin: %d %s, CORS %q %q", resp.StatusCode, raw, acao, acac)
					}
					return
				}
				if resp.StatusCode != 403 || !strings.Contains(string(raw), "origin_not_allowed") || acao != "" || acac != "" {
					t.Fatalf("refused origin: %d %s, CORS %q %q", resp.StatusCode, raw, acao, acac)
				}
				if len(resp.Header.Values("Set-Cookie")) != 0 || len(f.log.recs) != 0 || len(f.sink.all()) != 0 {
					t.Fatal("a refused origin set a cookie, logged a decision or kept an event")
				}
			})
		}
	}
}

// TestPreflightOnlyForConfiguredOrigins: a preflight does not name its
// site, so any site's configured origin passes it; nothing else does.
func TestPreflightOnlyForConfiguredOrigins(t *testing.T) {
	f := newConsentFixture(t)
	for _, target := range []string{"/consent", "/e"} {
		for origin, want := range map[string]int{
			"https://sez.im": 204, "https://x.app.sez.im": 204, "https://plain.kz": 204,
			"http://sez.im": 403, "https://www.sez.im": 403, "https://sez.im:8443": 403, "https://app.sez.im": 403,
		} {
			r := httptest.NewRequest("OPTIONS", target, nil)
			r.Header.Set("Origin", origin)
			r.Header.Set("Access-Control-Request-Method", "POST")
			resp, err := f.c.App().Test(r, -1)
			if err != nil {
				t.Fatal(err)
			}
			acao := resp.Header.Get("Access-Control-Allow-Origin")
			if resp.StatusCode != want || (want == 204) != (acao == origin) || (want == 403 && acao != "") {
				t.Errorf("OPTIONS %s from %s: %d, Allow-Origin %q", target, origin, resp.StatusCode, acao)
			}
		}
	}
}

// TestRequestsWithoutAnOrigin: a consent decision must carry one (every
// browser sends it on a POST) and is refused with a counted reason; the
// banner's reads, a beacon from a server and the pixel (an image request
// has none) are judged without one, and get no CORS answer.
func TestRequestsWithoutAnOrigin(t *testing.T) {
	f := newConsentFixture(t)
	resp, out := f.post(t, decision("accept_all", nil), map[string]string{"Origin": ""})
	if resp.StatusCode != 403 || out["error"] != "missing_origin" || len(resp.Header.Values("Set-Cookie")) != 0 || len(f.log.recs) != 0 {
		t.Fatalf("decision without Origin: %d %v %v", resp.StatusCode, out, resp.Header)
	}
	if n := testutil.ToFloat64(f.c.rejected.WithLabelValues("consent", "missing_origin")); n != 1 {
		t.Fatalf("rejected{consent,missing_origin} = %v", n)
	}

	for _, r := range []struct {
		method, target, body string
		want                 int
	}{
		{"GET", "/consent/state?s=sez", "", 200},
		{"GET", "/consent/config?s=sez", "", 200},
		{"POST", "/e", `{"s":"sez","u":"https://sez.im/from-a-server"}`, 202},
		{"GET", "/p.gif?s=sez&u=https%3A%2F%2Fsez.im%2Fpixel", "", 200},
	} {
		var body io.Reader
		if r.body != "" {
			body = strings.NewReader(r.body)
		}
		req := httptest.NewRequest(r.method, r.target, body)
		req.Header.Set("User-Agent", chromeUA)
		req.Header.Set("Accept", "*/*")
		req.Header.Set("Accept-Language", "ru")
		resp, err := f.c.App().Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != r.want || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s %s without Origin: %d, Allow-Origin %q", r.method, r.target, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	if n := len(f.sink.all()); n != 2 {
		t.Fatalf("%d events kept, want the beacon and the pixel", n)
	}

	// A pixel fetched by a script does carry an Origin: it is checked.
	req := httptest.NewRequest("GET", "/p.gif?s=sez&u=https%3A%2F%2Fsez.im%2F", nil)
	req.Header.Set("Origin", "https://www.sez.im")
	req.Header.Set("User-Agent", chromeUA)
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Accept-Language", "ru")
	resp, err := f.c.App().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 403 || resp.Header.Get("X-Sezim-Reason") != "origin_not_allowed" || resp.Header.Get("Content-Type") != "image/gif" {
		t.Fatalf("pixel from a foreign origin: %d %v", resp.StatusCode, resp.Header)
	}
}
