package collector

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/consent"
)

// serveConsent starts a consent collector on a loopback port, with
// trustedProxies as the site configuration's trusted_proxies, and returns
// its base URL.
func serveConsent(t *testing.T, trustedProxies string, o ConsentOptions) string {
	t.Helper()
	f := newConsentFixtureFrom(t, strings.Replace(consentYAML, "trusted_proxies: [10.0.0.1]", "trusted_proxies: ["+trustedProxies+"]", 1),
		Options{Now: time.Now, Consent: &o})
	return "http://" + listen(t, f.c)
}

// proxyTo starts a reverse proxy on a loopback port in front of target
// that does what nginx's plain proxy_pass does: the upstream's address
// becomes the Host header, and every other header the client sent
// (X-Forwarded-Proto included) goes through untouched.
func proxyTo(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u) // the Host header too
		// Rewrite drops X-Forwarded-*; nginx passes the client's on.
		pr.Out.Header["X-Forwarded-Proto"] = pr.In.Header["X-Forwarded-Proto"]
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestConsentCookiesSecure posts an accept-all decision over real
// loopback connections, directly and through a Host-rewriting proxy, and
// checks the Secure attribute of both cookies it sets.
func TestConsentCookiesSecure(t *testing.T) {
	public := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	for _, tc := range []struct {
		name    string
		trusted string // trusted_proxies
		o       ConsentOptions
		proxy   bool
		headers map[string]string
		want    bool
	}{
		{"public https behind a proxy, a stranger says http", "10.0.0.1", ConsentOptions{PublicURL: public("https://stats.sez.im")}, true,
			map[string]string{"X-Forwarded-Proto": "http"}, true},
		{"public https, direct, Host localhost", "10.0.0.1", ConsentOptions{PublicURL: public("https://stats.sez.im/")}, false,
			map[string]string{"Host": "localhost:8080"}, true},
		{"public https outranks a trusted proxy's http", "127.0.0.1", ConsentOptions{PublicURL: public("https://stats.sez.im")}, true,
			map[string]string{"X-Forwarded-Proto": "http"}, true},
		{"public http", "10.0.0.1", ConsentOptions{PublicURL: public("http://127.0.0.1:8080")}, false, nil, false},
		{"public http, a trusted proxy says https", "127.0.0.1", ConsentOptions{PublicURL: public("http://127.0.0.1:8080")}, true,
			map[string]string{"X-Forwarded-Proto": "https"}, false},
		{"no public URL, behind a proxy, a stranger says http", "10.0.0.1", ConsentOptions{}, true,
			map[string]string{"X-Forwarded-Proto": "http"}, true},
		{"no public URL, direct plain http to a loopback Host", "10.0.0.1", ConsentOptions{}, false,
			map[string]string{"Host": "127.0.0.1:8080"}, true},
		{"no public URL, a trusted proxy says http", "127.0.0.1", ConsentOptions{}, true,
			map[string]string{"X-Forwarded-Proto": "http"}, false},
		{"no public URL, a trusted proxy says https after a stranger's http", "127.0.0.1", ConsentOptions{}, true,
			map[string]string{"X-Forwarded-Proto": "http, https"}, true},
		{"no public URL, a trusted proxy says nothing", "127.0.0.1", ConsentOptions{}, true, nil, true},
		{"always, public http", "10.0.0.1", ConsentOptions{Secure: SecureAlways, PublicURL: public("http://127.0.0.1:8080")}, false, nil, true},
		{"never, public https", "10.0.0.1", ConsentOptions{Secure: SecureNever, PublicURL: public("https://stats.sez.im")}, true, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := serveConsent(t, tc.trusted, tc.o)
			if tc.proxy {
				base = proxyTo(t, base)
			}
			req, err := http.NewRequest("POST", base+"/consent", strings.NewReader(decision("accept_all", nil)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
			req.Header.Set("Origin", "https://sez.im")
			req.Header.Set("User-Agent", chromeUA)
			for k, v := range tc.headers {
				if k == "Host" {
					req.Host = v
				} else {
					req.Header.Set(k, v)
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			cs := cookiesOf(resp)
			for _, name := range []string{consent.CookieName, consent.VisitorCookieName} {
				if c := cs[name]; c == nil || c.Secure != tc.want {
					t.Errorf("%s: %q, want Secure=%v", name, setCookieHeader(resp, name), tc.want)
				}
			}
		})
	}
}
