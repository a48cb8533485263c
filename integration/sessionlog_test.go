package integration

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sezim-analytics/sezim/collector"
	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/pipeline/wal"
	"github.com/sezim-analytics/sezim/sessionlog"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

const (
	ingestKey  = "sez-ingest-key-0123456789abcdef"
	ingestKey2 = "sez-ingest-key-rotated-fedcba98"
	policyHash = "0000000000000000000000000000000000000000000000000000000000000001"
)

// logStack is a collector with session logs, consent and the WAL on a
// test store, its clock at t0.
type logStack struct {
	st    store.Store
	cfg   *site.Config
	salts *anon.Salts
	wal   *wal.WAL
	coll  *collector.Collector
	roll  *rollup.Rollup
	reg   *prometheus.Registry
	keys  *consent.Keys
}

func newLogStack(t *testing.T, st store.Store) *logStack {
	t.Helper()
	dir := t.TempDir()
	cfg, err := site.Parse([]byte(`
sites:
  - id: sez
    domains: [sez.im]
    timezone: Asia/Almaty
    retention: {agg_daily_days: 30}
    ingest_keys: [` + ingestKey + `, ` + ingestKey2 + `]
    consent:
      purposes: [statistics, identified]
      policy_version: "2026-01"
      policy_text_hash: "` + policyHash + `"
  - id: other
    domains: [other.kz]
`))
	if err != nil {
		t.Fatal(err)
	}
	s := &logStack{st: st, cfg: cfg, reg: prometheus.NewRegistry()}
	if s.salts, err = anon.NewSalts(filepath.Join(dir, "salts.json"), t0); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	s.wal, err = wal.Open(wal.Options{Dir: filepath.Join(dir, "wal"), Store: st, CommitInterval: -1, SealAfter: time.Hour, Logger: log, Reg: s.reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.wal.Close(context.Background()) })
	if s.keys, err = consent.NewKeys(bytes.Repeat([]byte{7}, 32), nil); err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return t0 }
	p := pipeline.New(pipeline.Options{Sites: cfg, Salts: s.salts, Sink: s.wal, Reg: s.reg, Now: clock,
		Consent: pipeline.ConsentFromCookie(s.keys)})
	s.coll = collector.New(collector.Options{Sites: cfg, Pipeline: p, Reg: s.reg, Now: clock,
		SessionLog: collector.SessionLogOptions{Ledger: sessionlog.NewStoreLedger(st, clock)}})
	s.roll = rollup.New(rollup.Options{Store: st, Sites: cfg, Logger: log, Now: clock, Settle: -1})
	return s
}

type post struct {
	body, ctype, key, auth, site string
	gzip                         bool
}

func (s *logStack) post(t *testing.T, p post) (int, sessionlog.Summary) {
	t.Helper()
	body := []byte(p.body)
	if p.gzip {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(body)
		zw.Close()
		body = b.Bytes()
	}
	target := "/sessionlog"
	if p.site != "" {
		target += "?site=" + p.site
	}
	req := httptest.NewRequest("POST", target, bytes.NewReader(body))
	req.Header.Set("Content-Type", p.ctype)
	if p.auth == "" {
		p.auth = ingestKey
	}
	req.Header.Set("Authorization", "Bearer "+p.auth)
	if p.key != "" {
		req.Header.Set("Idempotency-Key", p.key)
	}
	if p.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := s.coll.App().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var sum sessionlog.Summary
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(data, &sum); err != nil {
			t.Fatalf("%v: %s", err, data)
		}
	}
	return resp.StatusCode, sum
}

// flushAndRollup ships the WAL (events and consented rows), then recomputes
// the aggregates of every salt day.
func (s *logStack) flushAndRollup(t *testing.T) {
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

// totalsByDay reads the site totals of agg_daily (or agg_hourly, keyed by
// the hour's UTC instant): pageviews and visitors per period.
func totalsByDay(t *testing.T, st store.Store, table, siteID string) map[string][2]uint64 {
	t.Helper()
	col := "toString(day)"
	if table == "agg_hourly" {
		col = "toString(toUnixTimestamp(hour))"
	}
	q := fmt.Sprintf(`SELECT %s, toUInt64(sum(pageviews)), toUInt64(sum(visitors)) FROM %s.%s FINAL
 WHERE site = %s AND dim = '' GROUP BY %s HAVING sum(pageviews) > 0`, col, st.DB().Stats, table, store.Quote(siteID), col)
	out := map[string][2]uint64{}
	err := st.Query(t.Context(), q, func(r store.Row) error {
		k := r.String(0)
		if table == "agg_hourly" {
			var sec int64
			fmt.Sscan(k, &sec)
			k = time.Unix(sec, 0).UTC().Format(time.RFC3339)
		}
		out[k] = [2]uint64{r.Uint64(1), r.Uint64(2)}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func countRows(t *testing.T, st store.Store, q string) uint64 {
	t.Helper()
	var n uint64
	if err := st.Query(t.Context(), q, func(r store.Row) error { n = r.Uint64(0); return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSessionLogBatch sends a mixed batch of combined lines and an NDJSON
// batch through HTTP, resends both, and checks the answers, the metrics,
// the consented rows and the aggregates, on both engines.
func TestSessionLogBatch(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		s := newLogStack(t, st)
		grant := func(issued time.Time) string {
			c := &consent.Cookie{Purposes: consent.Purposes(consent.Necessary) | consent.Purposes(consent.Statistics),
				Issued: issued.Unix(), Expires: issued.Add(180 * 24 * time.Hour).Unix(), Receipt: consent.NewReceipt(), HasReceipt: true}
			v, err := s.keys.Encode("sez", "2026-01", c)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		valid := grant(t0.Add(-24 * time.Hour))
		// Flip one character of the signature.
		tampered := valid[:len(valid)-2] + map[bool]string{true: "A", false: "B"}[valid[len(valid)-2] != 'A'] + valid[len(valid)-1:]

		line := func(ip, ts, req string, status int, ref, ua string, cookie ...string) string {
			l := fmt.Sprintf(`%s - - [%s] "%s" %d 512 "%s" "%s"`, ip, ts, req, status, ref, ua)
			if len(cookie) > 0 {
				l += ` "` + cookie[0] + `"`
			}
			return l
		}
		batch := strings.Join([]string{
			line("203.0.113.10", "24/Nov/2026:14:00:00 +0500", "GET / HTTP/1.1", 200, "https://www.google.com/", chromeWin),                    // 1 A
			line("203.0.113.10", "24/Nov/2026:09:01:00 +0000", "GET /psychologists?utm_source=vk HTTP/1.1", 200, "https://sez.im/", chromeWin), // 2 A
			line("203.0.113.10", "24/Nov/2026:09:01:01 +0000", "GET /static/app.js?v=3 HTTP/1.1", 200, "https://sez.im/", chromeWin),           // 3 asset
			line("203.0.113.10", "24/Nov/2026:09:02:00 +0000", "GET /nope HTTP/1.1", 404, "-", chromeWin),                                      // 4 status
			line("203.0.113.10", "24/Nov/2026:09:03:00 +0000", "POST /form HTTP/1.1", 200, "-", chromeWin),                                     // 5 method
			line("192.0.2.1", "24/Nov/2026:09:04:00 +0000", "GET / HTTP/1.1", 200, "-", gptBot),                                                // 6 bot
			`garbage that is not a log line`, // 7 rejected
			line("203.0.113.10", "01/Sep/2026:09:00:00 +0000", "GET / HTTP/1.1", 200, "-", chromeWin),       // 8 too old
			line("198.51.100.20", "20/Nov/2026:20:30:00 +0000", "GET /about HTTP/1.1", 200, "-", safariIOS), // 9 historic: 21 Nov 01:30 Almaty
			line("203.0.113.10", "25/Nov/2026:12:00:00 +0000", "GET / HTTP/1.1", 200, "-", chromeWin),       // 10 future
			"",
			line("2001:db8:1::5", "24/Nov/2026:09:30:00 +0000", "GET /about HTTP/2.0", 304, "-", firefoxLin),                                       // 12 B
			line("198.51.100.77", "24/Nov/2026:09:40:00 +0000", "GET / HTTP/1.1", 200, "-", chromeWin, "sezim_consent="+valid+"; sezim_vid=vid-c"), // 13 C consented
			line("192.0.2.99", "24/Nov/2026:09:45:00 +0000", "GET / HTTP/1.1", 200, "-", safariIOS, "sezim_consent="+tampered),                     // 14 D anonymous
		}, "\n") + "\n"

		want := sessionlog.Summary{Accepted: 6, Rejected: 2,
			Skipped: map[string]int{"asset": 1, "status": 1, "method": 1, "bot": 1, "too_old": 1},
			Errors:  []sessionlog.LineError{{Line: 7, Reason: "bad ip address"}, {Line: 10, Reason: "time in the future"}}}
		code, got := s.post(t, post{body: batch, ctype: "text/plain"})
		if code != 200 || !reflect.DeepEqual(got, want) {
			t.Fatalf("first send: %d %+v, want %+v", code, got, want)
		}
		// The resend (after a timeout, say), even gzipped: the same
		// answer, marked duplicate, and nothing counted again.
		want.Duplicate = true
		for _, gz := range []bool{false, true} {
			code, got = s.post(t, post{body: batch, ctype: "text/plain", gzip: gz})
			if code != 200 || !reflect.DeepEqual(got, want) {
				t.Fatalf("resend (gzip %v): %d %+v", gz, code, got)
			}
		}

		// NDJSON with an Idempotency-Key; the key alone names the site.
		nd := `{"time":"2026-11-24T09:50:00Z","ip":"203.0.113.200","url":"/pricing","host":"sez.im","status":200,"user_agent":"` + firefoxLin + `","accept_language":"kk-KZ"}
{"time":"2026-11-24T09:51:00Z","ip":"203.0.113.201","url":"https://evil.example/","user_agent":"` + firefoxLin + `"}
{"time":"2026-11-24T09:52:00Z","ip":"203.0.113.201"}
`
		wantND := sessionlog.Summary{Accepted: 1, Rejected: 2, Skipped: map[string]int{},
			Errors: []sessionlog.LineError{{Line: 2, Reason: "host is not one of the site's domains"}, {Line: 3, Reason: "missing url"}}}
		code, got = s.post(t, post{body: nd, ctype: "application/x-ndjson", key: "batch-42", auth: ingestKey2})
		if code != 200 || !reflect.DeepEqual(got, wantND) {
			t.Fatalf("ndjson: %d %+v", code, got)
		}
		wantND.Duplicate = true
		code, got = s.post(t, post{body: nd, ctype: "application/x-ndjson", key: "batch-42", auth: ingestKey2, site: "sez"})
		if code != 200 || !reflect.DeepEqual(got, wantND) {
			t.Fatalf("ndjson resend: %d %+v", code, got)
		}

		// Wrong key, another site's name, wrong type, zip bomb.
		for name, p := range map[string]post{
			"bad key":    {body: nd, ctype: "text/plain", auth: "not-the-key-0123456789"},
			"other site": {body: nd, ctype: "text/plain", site: "other"},
		} {
			if code, _ := s.post(t, p); code != 401 {
				t.Fatalf("%s: %d, want 401", name, code)
			}
		}
		if code, _ := s.post(t, post{body: nd, ctype: "application/xml"}); code != 415 {
			t.Fatalf("xml: %d", code)
		}

		s.flushAndRollup(t)
		s.flushAndRollup(t) // idempotent

		// 24 Nov (Almaty): A 2 pages, B, C, D, E 1 each = 6 pageviews,
		// 5 visitors; 21 Nov: the historic line.
		daily := totalsByDay(t, st, "agg_daily", "sez")
		wantDaily := map[string][2]uint64{"2026-11-24": {6, 5}, "2026-11-21": {1, 1}}
		if !reflect.DeepEqual(daily, wantDaily) {
			t.Fatalf("daily totals %v, want %v", daily, wantDaily)
		}
		// The historic line sits in the 01:00 Almaty hour (20:00 UTC);
		// 14:00 Almaty (09:00 UTC) holds the morning's 6.
		hourly := totalsByDay(t, st, "agg_hourly", "sez")
		wantHourly := map[string][2]uint64{"2026-11-20T20:00:00Z": {1, 1}, "2026-11-24T09:00:00Z": {6, 5}}
		if !reflect.DeepEqual(hourly, wantHourly) {
			t.Fatalf("hourly totals %v, want %v", hourly, wantHourly)
		}
		// Only the line with the valid consent cookie has a consented row.
		if n := countRows(t, st, "SELECT count() FROM "+st.DB().Identified+".events"); n != 1 {
			t.Fatalf("%d consented rows, want 1", n)
		}
		if n := countRows(t, st, "SELECT count() FROM "+st.DB().Identified+".events WHERE path = '/' AND ip = '198.51.100.0'"); n != 1 {
			t.Fatal("the consented row is not the one of the valid cookie")
		}
		// Counters by reason.
		for _, c := range []struct {
			outcome, reason string
			want            float64
		}{{"accepted", "", 7}, {"skipped", "asset", 1}, {"skipped", "too_old", 1}, {"rejected", "time in the future", 1}, {"rejected", "missing url", 1}} {
			got := testutil.ToFloat64(testutilCounter(t, s.reg, c.outcome, c.reason))
			if got != c.want {
				t.Fatalf("lines{%s,%s} = %v, want %v", c.outcome, c.reason, got, c.want)
			}
		}
		// The ledger holds two batches, nothing that names a visitor.
		if n := countRows(t, st, "SELECT count() FROM "+st.DB().Stats+".ingest_batches WHERE state = 2"); n != 2 {
			t.Fatalf("%d batches recorded, want 2", n)
		}
	})
}

func testutilCounter(t *testing.T, reg *prometheus.Registry, outcome, reason string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sezim_sessionlog_lines_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["outcome"] == outcome && labels["reason"] == reason {
				c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
				c.Add(m.GetCounter().GetValue())
				return c
			}
		}
	}
	return prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
}
