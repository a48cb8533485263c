package dashboards

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/consent/consentlog"
	"github.com/sezim-analytics/sezim/dashboards/console"
	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/privacy"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// loopback serves the fixture's app on a real listener on 127.0.0.1 and
// returns its base URL.
func (f *fixture) loopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = f.srv.App().Listener(ln) }()
	t.Cleanup(func() { _ = f.srv.App().Shutdown() })
	return "http://" + ln.Addr().String()
}

// signIn signs user in over HTTP and returns a client carrying the session.
func signIn(t *testing.T, base, user string) *http.Client {
	t.Helper()
	form := url.Values{"user": {user}, "password": {testPassword}}
	req, _ := http.NewRequest("POST", base+"/app/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == CookieName {
			session = ck
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == nil {
		t.Fatalf("sign-in of %s: %d", user, resp.StatusCode)
	}
	c.Transport = cookieTransport{session}
	return c
}

type cookieTransport struct{ c *http.Cookie }

func (ct cookieTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.AddCookie(ct.c)
	return http.DefaultTransport.RoundTrip(r)
}

func fetchPage(t *testing.T, c *http.Client, u string) (int, http.Header, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// auditRows counts the audit rows of action with target.
func auditRows(t *testing.T, st store.Store, action, target, outcome string) uint64 {
	t.Helper()
	var n uint64
	q := "SELECT count() FROM " + st.DB().Staff + ".audit_log WHERE action = " + store.Quote(action) +
		" AND target = " + store.Quote(target) + " AND outcome = " + store.Quote(outcome)
	if err := st.Query(t.Context(), q, func(r store.Row) error { n = r.Uint64(0); return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPrivacyConsole serves the console on loopback over a real store: a
// viewer is refused every page (403), a privacy user and an admin see the
// report, the inventory, a receipt with its chain position and whether the
// chain verifies, and the audit log; each report run, receipt lookup and
// audit view is in the audit log.
func TestPrivacyConsole(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		reg := prometheus.NewRegistry()
		f := newFixtureWith(t, st, func(o *Options) {
			o.Privacy = console.PrivacyOptions{Metrics: reg, SaltDays: func() ([]time.Time, error) { return nil, nil }}
		})
		hash, _ := staff.HashPassword(testPassword, testHash)
		if err := f.srv.gate.Directory().PutUser(t.Context(), &staff.User{Name: "pia", Role: staff.RolePrivacy}, hash); err != nil {
			t.Fatal(err)
		}
		// Two decisions of one visitor in a real chain.
		cl, err := consentlog.Open(st, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		receipt := consent.ReceiptString(consent.NewReceipt())
		for _, action := range []string{consentlog.ActionShown, consentlog.ActionAcceptAll} {
			r := &consentlog.Record{Receipt: receipt, Site: "alpha", Time: f.clock(), Action: action, PolicyVersion: "2026-01", Lang: "kk"}
			if err := cl.Append(t.Context(), r); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.Close(); err != nil {
			t.Fatal(err)
		}
		base := f.loopback(t)

		if code, _, _ := fetchPage(t, http.DefaultClient, base+"/app/privacy/"); code != http.StatusUnauthorized {
			t.Errorf("signed out: %d", code)
		}
		ann := signIn(t, base, "ann")
		for _, p := range []string{"/app/privacy", "/app/privacy/", "/app/privacy/report", "/app/privacy/inventory", "/app/privacy/receipts?receipt=" + receipt, "/app/privacy/audit"} {
			if code, _, body := fetchPage(t, ann, base+p); code != http.StatusForbidden || !strings.Contains(body, "privacy role required") || strings.Contains(body, receipt) {
				t.Errorf("viewer %s: %d %s", p, code, body)
			}
		}
		if n := auditRows(t, st, console.AuditReceiptLookup, receipt, "ok"); n != 0 {
			t.Errorf("a refused lookup was audited as done: %d", n)
		}

		pia := signIn(t, base, "pia")
		code, h, body := fetchPage(t, pia, base+"/app/privacy/")
		if code != 200 || !strings.Contains(body, `id="run-report"`) || !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Fatalf("home: %d %v %s", code, h, body)
		}
		code, _, body = fetchPage(t, pia, base+"/app/privacy/report")
		if code != 200 || !strings.Contains(body, `data-check="email"`) || !strings.Contains(body, "Failed: retention_run") {
			t.Fatalf("report: %d %s", code, body)
		}
		code, _, body = fetchPage(t, pia, base+"/app/privacy/report?format=json")
		var r privacy.Result
		if err := json.Unmarshal([]byte(body), &r); code != 200 || err != nil || len(r.Checks) != 15 || r.OK || r.Checks[14].Name != "disclosure" || !r.Checks[14].OK {
			t.Fatalf("report json: %d %v %s", code, err, body)
		}
		if n := auditRows(t, st, console.AuditPrivacyReport, "", "failed"); n != 2 {
			t.Errorf("report runs audited: %d", n)
		}
		if code, _, body = fetchPage(t, pia, base+"/app/privacy/inventory"); code != 200 || !strings.Contains(body, "<code>visitor_id</code>") {
			t.Errorf("inventory: %d", code)
		}

		code, _, body = fetchPage(t, pia, base+"/app/privacy/receipts?receipt="+receipt)
		if code != 200 || strings.Count(body, "<td>accept_all</td>") != 1 || !strings.Contains(body, "VERIFIES") || !strings.Contains(body, "(2 rows)") {
			t.Fatalf("receipt: %d %s", code, body)
		}
		code, _, body = fetchPage(t, pia, base+"/app/privacy/receipts?format=json&receipt="+receipt)
		var l privacy.ReceiptLookup
		if err := json.Unmarshal([]byte(body), &l); code != 200 || err != nil || len(l.Rows) != 2 || l.Rows[1].Seq != 2 || len(l.Chains) != 1 || !l.Chains[0].Intact {
			t.Fatalf("receipt json: %d %v %s", code, err, body)
		}
		if n := auditRows(t, st, console.AuditReceiptLookup, receipt, "ok"); n != 2 {
			t.Errorf("lookups audited: %d", n)
		}
		// A row slipped into the chain breaks it, and the lookup says so.
		if err := st.Insert(t.Context(), st.DB().Identified+".consent_log", []string{"chain", "seq", "receipt", "site", "ts"},
			[][]any{{l.Chains[0].Chain, uint64(2), "AAAAAAAAAAAAAAAA", "alpha", f.clock()}}); err != nil {
			t.Fatal(err)
		}
		if code, _, body = fetchPage(t, pia, base+"/app/privacy/receipts?receipt="+receipt); code != 200 || !strings.Contains(body, "BROKEN") {
			t.Errorf("tampered chain: %d %s", code, body)
		}
		other := consent.ReceiptString(consent.NewReceipt())
		if code, _, body = fetchPage(t, pia, base+"/app/privacy/receipts?receipt="+other); code != 200 || !strings.Contains(body, `id="receipt-none"`) {
			t.Errorf("unknown receipt: %d %s", code, body)
		}
		if n := auditRows(t, st, console.AuditReceiptLookup, other, "not_found"); n != 1 {
			t.Errorf("unknown receipt audited: %d", n)
		}
		for _, bad := range []string{"x", "AAAAAAAAAAAAAAA=", "%3Cscript%3E"} {
			if code, _, body = fetchPage(t, pia, base+"/app/privacy/receipts?receipt="+bad); code != 400 || !strings.Contains(body, "invalid_receipt") || strings.Contains(body, "<script>") {
				t.Errorf("receipt %q: %d %s", bad, code, body)
			}
		}

		admin := signIn(t, base, "admin")
		code, _, body = fetchPage(t, admin, base+"/app/privacy/audit")
		if code != 200 || !strings.Contains(body, "<td>receipt_lookup</td>") || !strings.Contains(body, "<td>audit_view</td>") || !strings.Contains(body, "<td>pia</td>") {
			t.Fatalf("audit view: %d %s", code, body)
		}
		if n := auditRows(t, st, console.AuditAuditView, "", "ok"); n != 1 {
			t.Errorf("audit views audited: %d", n)
		}
	})
}
