package collector

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/sessionlog"
	"github.com/sezim-analytics/sezim/site"
)

const slKey = "collector-test-ingest-key-0001"

func newLogFixture(t *testing.T, maxBytes int) (*Collector, *captureSink) {
	t.Helper()
	cfg, err := site.Parse([]byte("sites:\n  - id: sez\n    domains: [sez.im]\n    ingest_keys: [" + slKey + "]\n"))
	if err != nil {
		t.Fatal(err)
	}
	salts, err := anon.NewSalts("", testNow)
	if err != nil {
		t.Fatal(err)
	}
	sink := &captureSink{}
	reg := prometheus.NewRegistry()
	now := func() time.Time { return testNow }
	p := pipeline.New(pipeline.Options{Sites: cfg, Salts: salts, Sink: sink, Reg: reg, Now: now})
	return New(Options{Sites: cfg, Pipeline: p, Reg: reg, Now: now, SessionLog: SessionLogOptions{MaxBytes: maxBytes}}), sink
}

func slLines(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "203.0.113.%d - - [24/Nov/2026:09:%02d:00 +0000] \"GET /p%d HTTP/1.1\" 200 1 \"-\" \"%s\"\n", i%250, i%60, i, chromeUA)
	}
	return b.String()
}

func gz(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

func TestSessionLogRequests(t *testing.T) {
	c, sink := newLogFixture(t, 64<<10)
	bomb := gz(strings.Repeat("a", 1<<20)) // 1 MiB of 'a' gzips to ~1 KiB
	for _, tc := range []struct {
		name, auth, ctype, enc, target string
		body                           []byte
		want                           int
	}{
		{"ok", "Bearer " + slKey, "text/plain", "", "/sessionlog", []byte(slLines(3)), 200},
		{"ok gzip, site named", "bearer " + slKey, "text/plain; charset=utf-8", "gzip", "/sessionlog?site=sez", gz(slLines(4)), 200},
		{"no key", "", "text/plain", "", "/sessionlog", []byte(slLines(1)), 401},
		{"wrong key", "Bearer " + slKey + "x", "text/plain", "", "/sessionlog", []byte(slLines(1)), 401},
		{"unknown site", "Bearer " + slKey, "text/plain", "", "/sessionlog?site=nope", []byte(slLines(1)), 401},
		{"basic auth", "Basic " + slKey, "text/plain", "", "/sessionlog", []byte(slLines(1)), 401},
		{"xml", "Bearer " + slKey, "application/xml", "", "/sessionlog", []byte("<a/>"), 415},
		{"brotli", "Bearer " + slKey, "text/plain", "br", "/sessionlog", []byte("x"), 415},
		{"too large", "Bearer " + slKey, "text/plain", "", "/sessionlog", []byte(slLines(1000)), 413},
		{"zip bomb", "Bearer " + slKey, "text/plain", "gzip", "/sessionlog", bomb, 413},
		{"bad gzip", "Bearer " + slKey, "text/plain", "gzip", "/sessionlog", []byte("not gzip"), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", tc.target, bytes.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ctype)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if tc.enc != "" {
				req.Header.Set("Content-Encoding", tc.enc)
			}
			resp, err := c.App().Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if bytes.Contains(body, []byte(slKey)) {
				t.Fatal("the answer shows the key")
			}
		})
	}
	if n := len(sink.all()); n != 7 {
		t.Fatalf("%d events kept, want 7", n)
	}
}

// TestSessionLogConcurrentResends: the same batch sent eight times at once
// is processed once; the others wait and get the stored summary.
func TestSessionLogConcurrentResends(t *testing.T) {
	c, sink := newLogFixture(t, 1<<20)
	body := slLines(200)
	var wg sync.WaitGroup
	var mu sync.Mutex
	dups := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest("POST", "/sessionlog", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+slKey)
			req.Header.Set("Idempotency-Key", "same-batch")
			resp, err := c.App().Test(req, -1)
			if err != nil {
				t.Error(err)
				return
			}
			var s sessionlog.Summary
			if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != 200 || s.Accepted != 200 {
				t.Errorf("status %d, summary %+v, %v", resp.StatusCode, s, err)
			}
			mu.Lock()
			if s.Duplicate {
				dups++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if n := len(sink.all()); n != 200 || dups != 7 {
		t.Fatalf("%d events kept and %d duplicates, want 200 and 7", n, dups)
	}
}
