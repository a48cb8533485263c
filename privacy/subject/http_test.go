package subject_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
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
	"github.com/sezim-analytics/sezim/privacy/subject"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

const hash64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestReceiptReachesTheVisitorThroughTheCollector: over real HTTP on
// loopback, a visitor accepts statistics and sends beacons; the receipt the
// collector answered reaches the visitor's events (through the link the
// decision wrote), a block by that receipt stops the visitor's identified
// rows at the collector while another visitor's still arrive, and an
// unblock restores them.
func TestReceiptReachesTheVisitorThroughTheCollector(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		cfg, err := site.Parse([]byte(`sites:
  - id: sez
    domains: [sez.im]
    origins: [https://sez.im]
    consent:
      purposes: [statistics, third_party]
      services: [{id: yandex_metrica}]
      policy_version: "2026-01"
      policy_text_hash: "` + hash64 + `"
      lifetime_days: 30
`))
		if err != nil {
			t.Fatal(err)
		}
		keys, err := consent.NewKeys(bytes.Repeat([]byte{7}, 32), nil)
		if err != nil {
			t.Fatal(err)
		}
		clog, err := consentlog.Open(s, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer clog.Close()
		w, err := wal.Open(wal.Options{Dir: t.TempDir(), Store: s})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close(context.Background())
		salts, _ := anon.NewSalts("", time.Now())
		blocks := subject.NewBlockSet(s, nil)
		links := subject.NewLinkWriter(s, nil)
		reg := prometheus.NewRegistry()
		pipe := pipeline.New(pipeline.Options{Sites: cfg, Salts: salts, Sink: w, Reg: reg, Blocked: blocks, Consent: pipeline.ConsentFromCookie(keys)})
		c := collector.New(collector.Options{Sites: cfg, Pipeline: pipe, Reg: reg,
			Consent: &collector.ConsentOptions{Keys: keys, Log: clog, Links: links, Secure: collector.SecureNever}})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = c.App().Listener(ln) }()
		defer c.App().Shutdown()
		base := "http://" + ln.Addr().String()
		send := func(path, body, cookie string) *http.Response {
			t.Helper()
			r, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
			r.Header.Set("Content-Type", "text/plain;charset=UTF-8")
			r.Header.Set("Origin", "https://sez.im")
			r.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
			r.Header.Set("Accept", "*/*")
			r.Header.Set("Accept-Language", "ru")
			if cookie != "" {
				r.Header.Set("Cookie", cookie)
			}
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				t.Fatalf("%s: status %d", path, resp.StatusCode)
			}
			return resp
		}
		// accept returns the receipt, the visitor id and the cookies.
		accept := func() (string, string, string) {
			t.Helper()
			r, _ := http.NewRequest("POST", base+"/consent", strings.NewReader(`{"s":"sez","action":"accept_all","lang":"ru","text_hash":"`+hash64+`","policy_version":"2026-01"}`))
			r.Header.Set("Origin", "https://sez.im")
			r.Header.Set("Content-Type", "text/plain;charset=UTF-8")
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var reply struct{ Receipt string }
			if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil || resp.StatusCode != 200 {
				t.Fatalf("consent: %d %v", resp.StatusCode, err)
			}
			var vid string
			var cookies []string
			for _, ck := range resp.Cookies() {
				cookies = append(cookies, ck.Name+"="+ck.Value)
				if ck.Name == consent.VisitorCookieName {
					vid = ck.Value
				}
			}
			return reply.Receipt, vid, strings.Join(cookies, "; ")
		}
		beacons := func(cookie string, n int) {
			t.Helper()
			for range n {
				send("/e", `{"s":"sez","u":"https://sez.im/a"}`, cookie)
			}
		}
		flush := func() {
			t.Helper()
			for _, err := range []error{clog.Flush(ctx), links.Flush(ctx), w.Flush(ctx)} {
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		rcptA, vidA, cookieA := accept()
		_, vidB, cookieB := accept()
		if !consent.ValidVisitorID(vidA) || vidA == vidB {
			t.Fatalf("visitor ids %q, %q", vidA, vidB)
		}
		beacons(cookieA, 2)
		beacons(cookieB, 1)
		flush()

		svc, _ := newService(t, s, blocks)
		ex, err := svc.Export(ctx, req(subject.KindReceipt, rcptA))
		if err != nil || len(ex.Events) != 2 || ex.Events[0].VisitorID != vidA || len(ex.ConsentHistory) != 1 ||
			len(ex.Transfers) != 1 || ex.Transfers[0].Country != "RU" {
			t.Fatalf("export by receipt: %v, %+v", err, ex)
		}
		if _, err := svc.Block(ctx, req(subject.KindReceipt, rcptA)); err != nil {
			t.Fatal(err)
		}
		beacons(cookieA, 3)
		beacons(cookieB, 3)
		flush()
		count := func(vid string) uint64 {
			t.Helper()
			n, err := store.CountWhere(ctx, s, s.DB().Identified+".events", "visitor_id = "+store.Quote(vid))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if a, b := count(vidA), count(vidB); a != 2 || b != 4 {
			t.Fatalf("while A is blocked: A %d rows (want 2), B %d (want 4)", a, b)
		}
		if _, err := svc.Unblock(ctx, req(subject.KindReceipt, rcptA)); err != nil {
			t.Fatal(err)
		}
		beacons(cookieA, 1)
		flush()
		if a := count(vidA); a != 3 {
			t.Fatalf("after unblock: A %d rows, want 3", a)
		}
	})
}
