package collector

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/site"
)

const chromeUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// captureSink keeps copies of the events the pipeline writes.
type captureSink struct {
	mu     sync.Mutex
	events []event.Event
	full   bool
}

func (s *captureSink) Write(e *event.Event) error {
	if s.full {
		return pipeline.ErrBackpressure
	}
	ev := *e
	ev.OwnStrings()
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
	return nil
}

func (s *captureSink) all() []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event.Event(nil), s.events...)
}

type fixture struct {
	c    *Collector
	sink *captureSink
	reg  *prometheus.Registry
}

var testNow = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureFrom(t, `
trusted_proxies: [10.0.0.1]
sites:
  - id: sez
    domains: [sez.im]
    origins: [https://sez.im]
    timezone: Asia/Almaty
  - id: strict
    domains: [strict.kz]
    on_gpc: drop
    on_dnt: drop
`)
}

// newFixtureFrom builds the collector over the site configuration yaml.
func newFixtureFrom(t testing.TB, yaml string) *fixture {
	t.Helper()
	cfg, err := site.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	salts, err := anon.NewSalts("", testNow)
	if err != nil {
		t.Fatal(err)
	}
	sink := &captureSink{}
	reg := prometheus.NewRegistry()
	p := pipeline.New(pipeline.Options{Sites: cfg, Salts: salts, Sink: sink, Reg: reg, Now: func() time.Time { return testNow }})
	c := New(Options{Sites: cfg, Pipeline: p, Reg: reg, Now: func() time.Time { return testNow }})
	return &fixture{c: c, sink: sink, reg: reg}
}

type req struct {
	method, target, body, contentType string
	headers                           map[string]string
}

func (f *fixture) do(t testing.TB, r req) *http.Response {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, r.target, body)
	hr.Header.Set("User-Agent", chromeUA)
	hr.Header.Set("Accept", "*/*")
	hr.Header.Set("Accept-Language", "ru-RU,ru;q=0.9")
	if r.contentType != "" {
		hr.Header.Set("Content-Type", r.contentType)
	}
	for k, v := range r.headers {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	resp, err := f.c.App().Test(hr, -1)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func pixelURL(params map[string]string) string {
	v := url.Values{}
	for k, x := range params {
		v.Set(k, x)
	}
	return "/p.gif?" + v.Encode()
}

func TestHandlers(t *testing.T) {
	cases := []struct {
		name       string
		r          req
		status     int
		reason     string // X-Sezim-Reason or JSON error
		kept       int
		wantPath   string
		wantGIF    bool
		wantCORSOK bool
	}{
		{name: "pixel pageview", r: req{method: "GET", target: pixelURL(map[string]string{"s": "sez", "u": "https://sez.im/psychologists?utm_source=vk&gclid=abc#top", "r": "https://yandex.ru/search?text=x", "w": "390", "l": "ru-RU"})},
			status: 200, kept: 1, wantPath: "/psychologists", wantGIF: true},
		{name: "pixel noscript takes the page from Referer", r: req{method: "GET", target: "/p.gif?s=sez", headers: map[string]string{"Referer": "https://sez.im/about"}},
			status: 200, kept: 1, wantPath: "/about", wantGIF: true},
		{name: "pixel without site", r: req{method: "GET", target: "/p.gif?u=https://sez.im/"}, status: 400, reason: "missing_site", wantGIF: true},
		{name: "pixel bad screen", r: req{method: "GET", target: pixelURL(map[string]string{"s": "sez", "u": "https://sez.im/", "w": "wide"})}, status: 400, reason: "bad_screen_width", wantGIF: true},
		{name: "pixel unknown site", r: req{method: "GET", target: pixelURL(map[string]string{"s": "nope", "u": "https://sez.im/"})}, status: 400, reason: "unknown_site", wantGIF: true},
		{name: "pixel page of another host", r: req{method: "GET", target: pixelURL(map[string]string{"s": "sez", "u": "https://evil.example/"})}, status: 403, reason: "origin_not_allowed", wantGIF: true},
		{name: "pixel field too long", r: req{method: "GET", target: pixelURL(map[string]string{"s": "sez", "u": "https://sez.im/" + strings.Repeat("a", 5000)})}, status: 400, reason: "field_too_long", wantGIF: true},
		{name: "bot answered like a visitor, not kept", r: req{method: "GET", target: pixelURL(map[string]string{"s": "sez", "u": "https://sez.im/"}), headers: map[string]string{"User-Agent": "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"}},
			status: 200, wantGIF: true},
		{name: "beacon as text/plain", r: req{method: "POST", target: "/e", contentType: "text/plain;charset=UTF-8", body: `{"s":"sez","u":"https://sez.im/a/","r":"","w":1920,"l":"kk"}`, headers: map[string]string{"Origin": "https://sez.im"}},
			status: 202, kept: 1, wantPath: "/a", wantCORSOK: true},
		{name: "beacon custom event", r: req{method: "POST", target: "/e", contentType: "application/json", body: `{"s":"sez","u":"https://sez.im/","n":"signup","p":{"plan":"a"}}`},
			status: 202, kept: 1, wantPath: "/"},
		{name: "beacon bad json", r: req{method: "POST", target: "/e", body: `{"s":`}, status: 400, reason: "bad_json"},
		{name: "beacon from a foreign origin", r: req{method: "POST", target: "/e", body: `{"s":"sez","u":"https://sez.im/"}`, headers: map[string]string{"Origin": "https://evil.example"}}, status: 403, reason: "origin_not_allowed"},
		{name: "beacon too large", r: req{method: "POST", target: "/e", body: `{"s":"sez","u":"` + strings.Repeat("a", MaxBeaconBytes) + `"}`}, status: 413, reason: "too_large"},
		{name: "gpc on a site that drops it", r: req{method: "POST", target: "/e", body: `{"s":"strict","u":"https://strict.kz/"}`, headers: map[string]string{"Sec-GPC": "1"}}, status: 202},
		{name: "gpc on a site that keeps it anonymous", r: req{method: "POST", target: "/e", body: `{"s":"sez","u":"https://sez.im/"}`, headers: map[string]string{"Sec-GPC": "1"}}, status: 202, kept: 1, wantPath: "/"},
		{name: "pixel path with markup", r: req{method: "GET", target: pixelURL(map[string]string{"s": "sez", "u": "https://sez.im/%3Cimg%20src=x%20onerror=alert(1)%3E;jsessionid=SECRET123/reset/tok_ABCDEF"})},
			status: 400, reason: "markup", wantGIF: true},
		{name: "pixel path scrubbed", r: req{method: "GET", target: pixelURL(map[string]string{"s": "sez", "u": "https://sez.im/account;jsessionid=SECRET123/reset/tok_ABCDEF"})},
			status: 200, kept: 1, wantPath: "/account/reset/:token", wantGIF: true},
		{name: "beacon event name with control characters", r: req{method: "POST", target: "/e", body: `{"s":"sez","u":"https://sez.im/","n":"sign\nup\t\u0000"}`}, status: 400, reason: "control_character"},
		{name: "beacon e-mail in the path", r: req{method: "POST", target: "/e", body: `{"s":"sez","u":"https://sez.im/u/victim%40mail.com"}`}, status: 202, kept: 1, wantPath: "/u/:email"},
		{name: "prefetch is not a visit", r: req{method: "GET", target: pixelURL(map[string]string{"s": "sez", "u": "https://sez.im/"}), headers: map[string]string{"Sec-Purpose": "prefetch"}}, status: 200, wantGIF: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			resp := f.do(t, tc.r)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tc.status, body)
			}
			if tc.wantGIF {
				if resp.Header.Get("Content-Type") != "image/gif" || string(body[:6]) != "GIF89a" || resp.Header.Get("Cache-Control") != "no-store, max-age=0" {
					t.Fatalf("not a no-store GIF: %v %q", resp.Header, body)
				}
				if got := resp.Header.Get("X-Sezim-Reason"); got != tc.reason {
					t.Fatalf("reason %q, want %q", got, tc.reason)
				}
			} else if tc.reason != "" && !strings.Contains(string(body), `"error":"`+tc.reason+`"`) {
				t.Fatalf("body %q lacks reason %q", body, tc.reason)
			}
			if tc.wantCORSOK && resp.Header.Get("Access-Control-Allow-Origin") != tc.r.headers["Origin"] {
				t.Fatalf("CORS header %q", resp.Header.Get("Access-Control-Allow-Origin"))
			}
			got := f.sink.all()
			if len(got) != tc.kept {
				t.Fatalf("kept %d events, want %d", len(got), tc.kept)
			}
			if tc.kept == 1 && got[0].Path != tc.wantPath {
				t.Fatalf("path %q, want %q", got[0].Path, tc.wantPath)
			}
		})
	}
}

func TestPixelEnrichment(t *testing.T) {
	f := newFixture(t)
	f.do(t, req{method: "GET", target: pixelURL(map[string]string{"s": "sez", "u": "https://sez.im/p?utm_source=vk&utm_medium=social&yclid=1", "r": "https://www.google.com/", "w": "390", "l": "ru-RU"})})
	evs := f.sink.all()
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	e := evs[0]
	if e.SiteID != "sez" || e.Kind != event.KindPageview || e.UTMSource != "vk" || e.RefHost != "google.com" ||
		e.Browser != "Chrome" || e.BrowserVersion != 131 || e.OS != "Windows" || e.Device != "desktop" ||
		e.Screen != "mobile" || e.Language != "ru" || e.Visitor == 0 || !e.Time.Equal(testNow) || e.Tier != event.TierAnonymous {
		t.Fatalf("event %+v", e)
	}
}

func TestClientIPTrustsOnlyConfiguredProxies(t *testing.T) {
	// Over real loopback connections the direct peer is 127.0.0.1. With
	// 127.0.0.1 trusted, X-Forwarded-For decides the visitor; without, it
	// is ignored. Equal visitor hashes show equal addresses (after
	// truncation to /24).
	hashes := func(trustLoopback bool, xffs ...string) []uint64 {
		f := newFixture(t)
		if trustLoopback {
			cfg, _ := site.Parse([]byte("trusted_proxies: [127.0.0.1]\nsites:\n  - id: sez\n    domains: [sez.im]\n"))
			salts, _ := anon.NewSalts("", testNow)
			p := pipeline.New(pipeline.Options{Sites: cfg, Salts: salts, Sink: f.sink, Now: func() time.Time { return testNow }})
			f.c = New(Options{Sites: cfg, Pipeline: p, Now: func() time.Time { return testNow }})
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = f.c.App().Listener(ln) }()
		defer f.c.App().Shutdown()
		var out []uint64
		for _, xff := range xffs {
			req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+pixelURL(map[string]string{"s": "sez", "u": "https://sez.im/"}), nil)
			req.Header.Set("User-Agent", chromeUA)
			req.Header.Set("Accept-Language", "ru")
			req.Header.Set("Accept", "*/*")
			req.Header.Set("X-Forwarded-For", xff)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			evs := f.sink.all()
			out = append(out, evs[len(evs)-1].Visitor)
		}
		return out
	}
	h := hashes(true, "198.51.100.7", "10.9.9.9, 198.51.100.8", "203.0.113.1", "garbage")
	if h[0] != h[1] {
		t.Fatal("the right-most X-Forwarded-For entry from a trusted proxy was not used")
	}
	if h[0] == h[2] {
		t.Fatal("two networks behind a trusted proxy hash alike")
	}
	if h[3] == h[0] || h[3] == h[2] {
		t.Fatal("a garbled X-Forwarded-For was believed")
	}
	h = hashes(false, "198.51.100.7", "203.0.113.1")
	if h[0] != h[1] {
		t.Fatal("X-Forwarded-For from an untrusted peer was believed")
	}
}

func TestBackpressureAnswers503(t *testing.T) {
	f := newFixture(t)
	f.sink.full = true
	resp := f.do(t, req{method: "POST", target: "/e", body: `{"s":"sez","u":"https://sez.im/"}`})
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	resp = f.do(t, req{method: "GET", target: pixelURL(map[string]string{"s": "sez", "u": "https://sez.im/"})})
	if resp.StatusCode != 503 || resp.Header.Get("Content-Type") != "image/gif" {
		t.Fatalf("pixel status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestRejectionsAreCountedByReason(t *testing.T) {
	f := newFixture(t)
	f.do(t, req{method: "POST", target: "/e", body: `nope`})
	f.do(t, req{method: "POST", target: "/e", body: `nope`})
	f.do(t, req{method: "GET", target: "/p.gif"})
	if n := testutil.ToFloat64(f.c.rejected.WithLabelValues("beacon", "bad_json")); n != 2 {
		t.Fatalf("bad_json count %v", n)
	}
	if n := testutil.ToFloat64(f.c.rejected.WithLabelValues("pixel", "missing_site")); n != 1 {
		t.Fatalf("missing_site count %v", n)
	}
	// Refusals of the pipeline count too, under the reason answered.
	f.do(t, req{method: "GET", target: pixelURL(map[string]string{"s": "sez", "u": "https://sez.im/%3Cb%3E"})})
	f.do(t, req{method: "POST", target: "/e", body: `{"s":"sez","u":"https://sez.im/","n":"a\tb"}`})
	f.do(t, req{method: "POST", target: "/e", body: `{"s":"sez","u":"https://sez.im/?utm_term=%E2%80%8B"}`})
	if n := testutil.ToFloat64(f.c.rejected.WithLabelValues("pixel", "markup")); n != 1 {
		t.Fatalf("markup count %v", n)
	}
	if n := testutil.ToFloat64(f.c.rejected.WithLabelValues("beacon", "control_character")); n != 2 {
		t.Fatalf("control_character count %v", n)
	}
}

func TestPreflight(t *testing.T) {
	f := newFixture(t)
	resp := f.do(t, req{method: "OPTIONS", target: "/e", headers: map[string]string{"Origin": "https://sez.im", "Access-Control-Request-Method": "POST"}})
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://sez.im" {
		t.Fatalf("preflight %d %v", resp.StatusCode, resp.Header)
	}
	resp = f.do(t, req{method: "OPTIONS", target: "/e", headers: map[string]string{"Origin": "https://evil.example"}})
	if resp.StatusCode != 403 {
		t.Fatalf("foreign preflight %d", resp.StatusCode)
	}
}

func TestTrackerScript(t *testing.T) {
	f := newFixture(t)
	resp := f.do(t, req{method: "GET", target: "/s.js", headers: map[string]string{"Accept-Encoding": "gzip"}})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("ETag") == "" {
		t.Fatalf("script %d %v", resp.StatusCode, resp.Header)
	}
	resp = f.do(t, req{method: "GET", target: "/s.js", headers: map[string]string{"Accept-Encoding": "gzip", "If-None-Match": resp.Header.Get("ETag")}})
	if resp.StatusCode != 304 {
		t.Fatalf("conditional GET %d", resp.StatusCode)
	}
}
