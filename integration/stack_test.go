// Package integration runs the whole event path in one process against a
// real ClickHouse (server and embedded): the collector's HTTP handlers, the
// pipeline, the write-ahead log and its shipper, the rollup and the stats API.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sezim-analytics/sezim/collector"
	"github.com/sezim-analytics/sezim/dashboards/statistics"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/pipeline/geo"
	"github.com/sezim-analytics/sezim/pipeline/geo/geotest"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/pipeline/wal"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

const (
	chromeWin  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	firefoxLin = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	safariIOS  = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
	gptBot     = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
)

// t0 is 10:00 UTC, 15:00 in Almaty.
var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// stack is one process's worth of Sezim on a test store.
type stack struct {
	st      store.Store
	cfg     *site.Config
	salts   *anon.Salts
	saltsAt string
	wal     *wal.WAL
	coll    *collector.Collector
	api     *statistics.API
	roll    *rollup.Rollup
	logs    *syncBuffer
	reg     *prometheus.Registry
	mu      sync.Mutex
	now     time.Time
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newStack(t *testing.T, st store.Store) *stack {
	t.Helper()
	dir := t.TempDir()
	geoPath := filepath.Join(dir, "geo.mmdb")
	err := geotest.WriteCountryDB(geoPath, map[string]string{
		"203.0.113.0/24": "KZ", "198.51.100.0/24": "RU", "2001:db8::/32": "DE",
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := geo.Open(geoPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	// In-process requests (app.Test) all come from 0.0.0.0; trusting it
	// as a proxy lets X-Forwarded-For carry each test visitor's address.
	cfg, err := site.Parse([]byte(`
trusted_proxies: [0.0.0.0]
sites:
  - id: sez
    domains: [sez.im]
    origins: [https://sez.im]
    timezone: Asia/Almaty
    k_threshold: 1 # these tests read single visitors back; dashboards_test.go tests k
    disclosure: exact
    path_patterns: [/psychologist/:id] # scrub_test.go
    ingest_keys: [` + scrubIngestKey + `]
  - id: gk # goals_test.go
    domains: [gk.example]
    origins: [https://gk.example]
    timezone: UTC
    k_threshold: 3
    disclosure: exact
    goals:
      - {name: Signup, event: signup}
      - {name: Pricing page, page: "/pricing/*"}
    properties: [plan]
`))
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{st: st, cfg: cfg, now: t0, logs: &syncBuffer{}, saltsAt: filepath.Join(dir, "salts.json")}
	s.salts, err = anon.NewSalts(s.saltsAt, t0)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	s.reg = reg
	// The store's cleanups were registered first, so the WAL closes
	// before the store does.
	s.wal, err = wal.Open(wal.Options{Dir: filepath.Join(dir, "wal"), Store: st, CommitInterval: -1, SealAfter: time.Hour, Logger: log, Reg: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.wal.Close(context.Background()) })
	p := pipeline.New(pipeline.Options{Sites: cfg, Salts: s.salts, Geo: g, Sink: s.wal, Reg: reg, Now: s.clock})
	s.coll = collector.New(collector.Options{Sites: cfg, Pipeline: p, Reg: reg, Now: s.clock})
	s.api = statistics.NewAPI(statistics.APIOptions{Sites: cfg, Store: st, Now: s.clock})
	s.roll = rollup.New(rollup.Options{Store: st, Sites: cfg, Logger: log, Now: s.clock, Settle: -1})
	return s
}

func (s *stack) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

func (s *stack) at(d time.Duration) {
	s.mu.Lock()
	s.now = t0.Add(d)
	s.mu.Unlock()
}

// pixel sends one pageview (or custom event when name is set) from ip/ua.
func (s *stack) pixel(t *testing.T, ip, ua, page, ref, name string) int {
	t.Helper()
	v := url.Values{"s": {"sez"}, "u": {page}, "r": {ref}, "w": {"1280"}, "l": {"ru-RU"}}
	if name != "" {
		v.Set("n", name)
	}
	req := httptest.NewRequest("GET", "/p.gif?"+v.Encode(), nil)
	return s.send(t, req, ip, ua)
}

func (s *stack) beacon(t *testing.T, ip, ua, body string) int {
	t.Helper()
	req := httptest.NewRequest("POST", "/e", strings.NewReader(body))
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	req.Header.Set("Origin", "https://sez.im")
	return s.send(t, req, ip, ua)
}

func (s *stack) send(t *testing.T, req *http.Request, ip, ua string) int {
	t.Helper()
	req.Header.Set("X-Forwarded-For", ip)
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Accept-Language", "ru-RU,ru;q=0.9,en;q=0.5")
	resp, err := s.coll.App().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// flushAndRollup writes what is buffered and recomputes the aggregates.
func (s *stack) flushAndRollup(t *testing.T) {
	t.Helper()
	if err := s.wal.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, d := range s.salts.Days() {
		if _, err := s.roll.Run(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
}

func (s *stack) getJSON(t *testing.T, path string, out any) int {
	t.Helper()
	resp, err := s.api.NewApp().Test(httptest.NewRequest("GET", path, nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s: %v in %s", path, err, body)
		}
	} else if out != nil {
		t.Logf("%s: %d %s", path, resp.StatusCode, body)
	}
	return resp.StatusCode
}

type metrics struct {
	Visitors      uint64  `json:"visitors"`
	Visits        uint64  `json:"visits"`
	Pageviews     uint64  `json:"pageviews"`
	Events        uint64  `json:"events"`
	ViewsPerVisit float64 `json:"views_per_visit"`
	BounceRate    float64 `json:"bounce_rate"`
	VisitDuration float64 `json:"visit_duration"`
}

func (m metrics) String() string { return fmt.Sprintf("%+v", struct{ metrics }{m}) }
