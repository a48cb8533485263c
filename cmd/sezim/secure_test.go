package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestServePublicURLMakesConsentCookiesSecure runs serve with
// SEZIM_PUBLIC_URL=https://… behind a proxy that rewrites Host to the
// collector's 127.0.0.1 address, as nginx's plain proxy_pass does, and
// passes on a stranger's X-Forwarded-Proto: http. Both consent cookies
// must still be Secure, through the proxy and directly.
func TestServePublicURLMakesConsentCookiesSecure(t *testing.T) {
	dir := t.TempDir()
	cfg := dir + "/sites.yaml"
	textHash := strings.Repeat("ab", 32)
	if err := os.WriteFile(cfg, []byte(`sites:
  - id: sez
    domains: [sez.test]
    origins: [https://sez.test]
    consent:
      purposes: [statistics]
      policy_version: "1"
      policy_text_hash: "`+textHash+`"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CHDB_LIB_PATH", "/nonexistent/libchdb.so")
	t.Setenv("SEZIM_CONSENT_KEY", strings.Repeat("5a", 32))

	// A public URL that is not one stops the start, naming the variable.
	t.Setenv("SEZIM_PUBLIC_URL", "stats.sez.test")
	var out, errOut lockedBuffer
	if code := run(t.Context(), []string{"serve", "--config", cfg}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "SEZIM_PUBLIC_URL") {
		t.Fatalf("bad public URL: exit %d: %s", code, errOut.String())
	}

	t.Setenv("SEZIM_PUBLIC_URL", "https://stats.sez.test")
	empty := storetest.ServerEmpty(t)
	args := []string{"serve", "--store", os.Getenv(storetest.EnvServer), "--config", cfg, "--data", dir,
		"--stats-db", empty.DB().Stats, "--identified-db", empty.DB().Identified, "--staff-db", empty.DB().Staff, "--automigrate",
		"--addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &out, &errOut) }()
	collector := ""
	re := regexp.MustCompile(`collector on (http://\S+),`)
	for deadline := time.Now().Add(60 * time.Second); collector == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			collector = m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("serve stopped: exit %d: %s", code, errOut.String())
		default:
		}
	}
	if collector == "" {
		t.Fatalf("serve did not start: %s", errOut.String())
	}
	target, _ := url.Parse(collector)
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target) // the Host header too
		// Rewrite drops X-Forwarded-*; nginx passes the client's on.
		pr.Out.Header["X-Forwarded-Proto"] = pr.In.Header["X-Forwarded-Proto"]
	}})
	defer proxy.Close()

	for _, base := range []string{proxy.URL, collector} {
		body := `{"s":"sez","action":"accept_all","lang":"ru","text_hash":"` + textHash + `","policy_version":"1"}`
		req, _ := http.NewRequest("POST", base+"/consent", strings.NewReader(body))
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		req.Header.Set("Origin", "https://sez.test")
		req.Header.Set("X-Forwarded-Proto", "http")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		secure := map[string]bool{}
		for _, c := range resp.Cookies() {
			secure[c.Name] = c.Secure
		}
		if resp.StatusCode != 200 || len(secure) != 2 || !secure["sezim_consent"] || !secure["sezim_vid"] {
			t.Errorf("via %s: %d, Set-Cookie %q", base, resp.StatusCode, resp.Header.Values("Set-Cookie"))
		}
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}
