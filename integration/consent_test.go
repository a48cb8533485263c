package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sezim-analytics/sezim/collector"
	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/consent/consentlog"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/pipeline/wal"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

const textHash = "5f2b0e3a5f2b0e3a5f2b0e3a5f2b0e3a5f2b0e3a5f2b0e3a5f2b0e3a5f2b0e3a"

// consentStack is the collector with consent wired in as serve wires it:
// signed cookies, the consent log, and consented rows through the WAL.
type consentStack struct {
	st     store.Store
	coll   *collector.Collector
	keys   *consent.Keys
	wal    *wal.WAL
	walDir string

	// The consent log and its journal file.
	clog    *consentlog.Log
	journal string
}

func newConsentStack(t *testing.T, st store.Store) *consentStack {
	t.Helper()
	dir := t.TempDir()
	cfg, err := site.Parse([]byte(`
trusted_proxies: [0.0.0.0]
sites:
  - id: sez
    domains: [sez.im]
    origins: [https://sez.im]
    consent:
      purposes: [statistics, identified, third_party]
      services: [{id: yandex_metrica}]
      policy_version: "2026-02"
      policy_text_hash: "` + textHash + `"
`))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := consent.NewKeys(bytes.Repeat([]byte{0x5e}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	salts, err := anon.NewSalts("", t0)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	s := &consentStack{st: st, keys: keys, walDir: filepath.Join(dir, "wal")}
	if s.wal, err = wal.Open(wal.Options{Dir: s.walDir, Store: st, CommitInterval: -1, SealAfter: time.Hour, Logger: log, Reg: reg}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.wal.Close(context.Background()) })
	clog, err := consentlog.Open(st, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { clog.Close() })
	s.clog, s.journal = clog, filepath.Join(dir, consentlog.JournalFile)
	now := func() time.Time { return t0 }
	p := pipeline.New(pipeline.Options{Sites: cfg, Salts: salts, Sink: s.wal, Reg: reg, Now: now,
		Consent: pipeline.ConsentFromCookie(keys)})
	s.coll = collector.New(collector.Options{Sites: cfg, Pipeline: p, Reg: reg, Now: now,
		Consent: &collector.ConsentOptions{Keys: keys, Log: clog}})
	return s
}

// decide posts a decision from ip and returns the cookies it set, as a
// Cookie header value.
func (s *consentStack) decide(t *testing.T, ip, body string) string {
	t.Helper()
	req := httptest.NewRequest("POST", "/consent", strings.NewReader(body))
	req.Header.Set("Origin", "https://sez.im")
	req.Header.Set("X-Forwarded-For", ip)
	req.Header.Set("User-Agent", firefoxLin)
	resp, err := s.coll.App().Test(req, -1)
	if err != nil || resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("consent: %v %v %s", resp.StatusCode, err, b)
	}
	var parts []string
	for _, c := range resp.Cookies() {
		if c.MaxAge > 0 {
			parts = append(parts, c.Name+"="+c.Value)
		}
	}
	return strings.Join(parts, "; ")
}

func (s *consentStack) beacon(t *testing.T, ip, cookie, page, uid string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"s": "sez", "u": page, "uid": uid})
	req := httptest.NewRequest("POST", "/e", bytes.NewReader(body))
	req.Header.Set("Origin", "https://sez.im")
	s.send(t, req, ip, cookie)
}

func (s *consentStack) pixel(t *testing.T, ip, cookie, page, uid string) {
	t.Helper()
	req := httptest.NewRequest("GET", "/p.gif?"+url.Values{"s": {"sez"}, "u": {page}, "uid": {uid}}.Encode(), nil)
	s.send(t, req, ip, cookie)
}

func (s *consentStack) send(t *testing.T, req *http.Request, ip, cookie string) {
	t.Helper()
	req.Header.Set("X-Forwarded-For", ip)
	req.Header.Set("User-Agent", chromeWin)
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Accept-Language", "ru-RU")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := s.coll.App().Test(req, -1)
	if err != nil || resp.StatusCode >= 300 {
		t.Fatalf("%s: %v %v", req.URL.Path, resp.StatusCode, err)
	}
}

func body(action string, purposes ...string) string {
	b, _ := json.Marshal(map[string]any{"s": "sez", "action": action, "purposes": purposes, "lang": "kk",
		"text_hash": textHash, "policy_version": "2026-02"})
	return string(b)
}

// TestConsentEnforcedThroughTheStore: only a valid cookie granting
// statistics gives consented rows; tampered, expired, old-version and
// other-site cookies give anonymous events, exactly as no cookie does.
func TestConsentEnforcedThroughTheStore(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		s := newConsentStack(t, st)
		const ipA, ipB, ipC = "203.0.113.77", "2001:db8:abcd:12:1:2:3:4", "198.51.100.9"
		all := s.decide(t, ipA, body("accept_all"))
		statsOnly := s.decide(t, ipB, body("custom", "statistics"))
		refused := s.decide(t, ipC, body("reject_all"))
		if !strings.Contains(all, "sezim_vid=") || !strings.Contains(statsOnly, "sezim_vid=") || strings.Contains(refused, "sezim_vid=") {
			t.Fatalf("cookies: %q %q %q", all, statsOnly, refused)
		}
		vidA := cookieValue(all, consent.VisitorCookieName)
		vidB := cookieValue(statsOnly, consent.VisitorCookieName)

		encode := func(site, version string, expires time.Time) string {
			c := consent.Cookie{Purposes: consent.Purposes(consent.Necessary).With(consent.Statistics).With(consent.Identified),
				Issued: expires.Add(-time.Hour).Unix(), Expires: expires.Unix(), Receipt: consent.NewReceipt(), HasReceipt: true}
			v, err := s.keys.Encode(site, version, &c)
			if err != nil {
				t.Fatal(err)
			}
			return "sezim_consent=" + v + "; sezim_vid=" + vidA
		}
		consentA := cookieValue(all, consent.CookieName)
		tampered := "sezim_consent=" + consentA[:len(consentA)-4] + "AAAA; sezim_vid=" + vidA
		for _, c := range []string{
			tampered,
			encode("sez", "2026-02", t0.Add(-time.Second)), // expired
			encode("sez", "2026-01", t0.Add(time.Hour)),    // older policy
			encode("other", "2026-02", t0.Add(time.Hour)),  // another site
			"sezim_consent=v1.x.y; sezim_vid=" + vidA,      // malformed
			refused + "; sezim_vid=" + vidA,                // a refusal
			"sezim_vid=" + vidA,                            // no consent cookie
		} {
			s.beacon(t, ipA, c, "https://sez.im/anon", "user-1")
		}
		s.beacon(t, ipA, all, "https://sez.im/consented", "user-42")
		s.pixel(t, ipA, all, "https://sez.im/pixel", "user-42")
		s.beacon(t, ipB, statsOnly, "https://sez.im/consented", "user-43")

		// Answered, so durable in the WAL, and not yet in the store; the
		// log holds the identities but no full address.
		db := st.DB()
		if n := count(t, st, "SELECT count() FROM "+db.Identified+".events"); n != 0 {
			t.Fatalf("%d identified rows before the WAL was shipped: they bypassed it", n)
		}
		segs, _ := filepath.Glob(filepath.Join(s.walDir, "*.wal"))
		var onDisk []byte
		for _, seg := range segs {
			b, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			onDisk = append(onDisk, b...)
		}
		if !bytes.Contains(onDisk, []byte(vidA)) || !bytes.Contains(onDisk, []byte("user-42")) {
			t.Fatal("the consented rows are not in the WAL")
		}
		for _, full := range [][]byte{[]byte("203.0.113.77"), {203, 0, 113, 77}, []byte("2001:db8:abcd:12"), {0xab, 0xcd, 0, 0x12, 0, 1}, {198, 51, 100, 9}} {
			if bytes.Contains(onDisk, full) {
				t.Fatalf("the WAL holds a full address (%q)", full)
			}
		}
		journal, jerr := os.ReadFile(s.journal)
		if jerr != nil || !bytes.Contains(journal, []byte(`"ip":"198.51.100.0"`)) {
			t.Fatalf("the consent journal lacks the decisions: %v", jerr)
		}
		for _, full := range []string{"203.0.113.77", "2001:db8:abcd:12:", "198.51.100.9"} {
			if bytes.Contains(journal, []byte(full)) {
				t.Fatalf("the consent journal holds a full address (%q)", full)
			}
		}
		if err := s.wal.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := s.clog.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := count(t, st, "SELECT count() FROM "+db.Stats+".events"); n != 10 {
			t.Fatalf("%d anonymous aggregate events, want all 10", n)
		}
		type row struct{ vid, uid, ip, path string }
		var rows []row
		err := st.Query(t.Context(), "SELECT visitor_id, user_id, ip, path FROM "+db.Identified+".events ORDER BY path, ip", func(r store.Row) error {
			rows = append(rows, row{r.String(0), r.String(1), r.String(2), r.String(3)})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []row{
			{vidB, "", "2001:db8:abcd::", "/consented"}, // statistics without identified: no user id
			{vidA, "user-42", "203.0.113.0", "/consented"},
			{vidA, "user-42", "203.0.113.0", "/pixel"},
		}
		if len(rows) != len(want) {
			t.Fatalf("identified rows %+v, want %+v", rows, want)
		}
		for i := range want {
			if rows[i] != want[i] {
				t.Errorf("row %d: %+v, want %+v", i, rows[i], want[i])
			}
		}

		// No full address anywhere in the identified database.
		for _, table := range []string{"events", "consent_log"} {
			q := "SELECT count() FROM " + db.Identified + "." + table + " WHERE ip IN ('203.0.113.77', '2001:db8:abcd:12:1:2:3:4', '198.51.100.9')"
			if n := count(t, st, q); n != 0 {
				t.Fatalf("%s holds a full IP address", table)
			}
		}
		if n := count(t, st, "SELECT count() FROM "+db.Identified+".consent_log WHERE ip = '198.51.100.0' AND action = 'reject_all' AND lang = 'kk' AND browser = 'Firefox'"); n != 1 {
			t.Fatalf("reject_all log row: %d", n)
		}
		reports, err := consentlog.Verify(t.Context(), st)
		if err != nil || len(reports) != 1 || reports[0].Rows != 3 || reports[0].Broken != nil {
			t.Fatalf("consent log: %+v %v", reports, err)
		}
	})
}

func cookieValue(header, name string) string {
	for _, part := range strings.Split(header, "; ") {
		if v, ok := strings.CutPrefix(part, name+"="); ok {
			return v
		}
	}
	return ""
}

func count(t *testing.T, st store.Store, q string) uint64 {
	t.Helper()
	var n uint64
	if err := st.Query(t.Context(), q, func(r store.Row) error { n = r.Uint64(0); return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}
