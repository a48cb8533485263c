package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/privacy"
	"github.com/sezim-analytics/sezim/sessionlog"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

const scrubIngestKey = "scrub-test-ingest-key-0001"

// TestFreeFormValuesAreScrubbedAtTheDoor sends the examples of issue 11
// (and their relatives) to a collector listening on loopback, through the
// pixel, the beacon and a session-log batch, then checks what each answered,
// that the placeholders were stored, and that no cell of any sezim_stats
// table holds the personal or unsafe parts.
func TestFreeFormValuesAreScrubbedAtTheDoor(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		s := newStack(t, st)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = s.coll.App().Listener(ln) }()
		t.Cleanup(func() { _ = s.coll.App().ShutdownWithTimeout(5 * time.Second) })
		base := "http://" + ln.Addr().String()
		client := &http.Client{Timeout: 10 * time.Second}
		do := func(req *http.Request) (int, string, string) {
			t.Helper()
			req.Header.Set("User-Agent", chromeWin)
			req.Header.Set("Accept", "*/*")
			req.Header.Set("Accept-Language", "ru-RU,ru;q=0.9")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, resp.Header.Get("X-Sezim-Reason"), string(body)
		}
		pixel := func(page, name string, wantStatus int, wantReason string) {
			t.Helper()
			v := url.Values{"s": {"sez"}, "u": {page}, "w": {"1280"}}
			if name != "" {
				v.Set("n", name)
			}
			req, _ := http.NewRequest("GET", base+"/p.gif?"+v.Encode(), nil)
			if st, why, _ := do(req); st != wantStatus || why != wantReason {
				t.Fatalf("pixel %q %q: %d %q, want %d %q", page, name, st, why, wantStatus, wantReason)
			}
		}
		beacon := func(page, name string, wantStatus int, wantBody string) {
			t.Helper()
			body, _ := json.Marshal(map[string]string{"s": "sez", "u": page, "n": name})
			req, _ := http.NewRequest("POST", base+"/e", bytes.NewReader(body))
			req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
			req.Header.Set("Origin", "https://sez.im")
			if st, _, got := do(req); st != wantStatus || strings.TrimSpace(got) != wantBody {
				t.Fatalf("beacon %q %q: %d %q, want %d %q", page, name, st, got, wantStatus, wantBody)
			}
		}

		// The examples.
		pixel("https://sez.im/%3Cimg%20src=x%20onerror=alert(1)%3E;jsessionid=SECRET123/reset/tok_ABCDEF", "", 400, "markup")
		pixel("https://sez.im/?utm_source=victim@mail.com&utm_term=ssn-123-45-6789", "", 200, "")
		beacon("https://sez.im/", "sign\nup\t\x00", 400, `{"error":"control_character"}`)
		// The same without markup, and more of the shapes.
		pixel("https://sez.im/account;jsessionid=SECRET123/reset/tok_ABCDEF", "", 200, "")
		pixel("https://sez.im/psychologist/123", "", 200, "")
		pixel("https://sez.im/orders/4111111111111111?utm_campaign=%2B7%20701%20123%2045%2067", "", 200, "")
		beacon("https://sez.im/u/victim%2540mail.com", "call 87011234567", 202, "Accepted")
		beacon("https://sez.im/%E2%80%AEevil", "", 400, `{"error":"control_character"}`)
		beacon("https://sez.im/?utm_content=%3Cscript%3E", "", 400, `{"error":"markup"}`)

		// A session-log batch: one line kept scrubbed, one refused.
		lines := `{"time":"2026-11-24T10:00:00Z","ip":"203.0.113.9","url":"/files/550e8400-e29b-41d4-a716-446655440000/victim@mail.com?utm_source=10.1.2.3","host":"sez.im","status":200,"user_agent":"` + chromeWin + `","referrer":"http://192.0.2.77/x"}
{"time":"2026-11-24T10:00:01Z","ip":"203.0.113.9","url":"/%3Cscript%3Ealert(1)%3C/script%3E","host":"sez.im","status":200,"user_agent":"` + chromeWin + `"}
`
		req, _ := http.NewRequest("POST", base+"/sessionlog?site=sez", strings.NewReader(lines))
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("Authorization", "Bearer "+scrubIngestKey)
		status, _, body := do(req)
		var sum sessionlog.Summary
		if err := json.Unmarshal([]byte(body), &sum); err != nil || status != 200 {
			t.Fatalf("sessionlog: %d %s", status, body)
		}
		if sum.Accepted != 1 || sum.Rejected != 1 || len(sum.Errors) != 1 || sum.Errors[0].Reason != sessionlog.ErrMarkup.Error() {
			t.Fatalf("sessionlog summary %+v", sum)
		}
		s.flushAndRollup(t)

		// What was stored, as placeholders.
		db := st.DB().Stats
		for _, c := range []struct{ table, where string }{
			{"events", "path = '/account/reset/:token'"},
			{"events", "utm_source = ':email' AND utm_term = 'ssn-:id'"},
			{"events", "path = '/psychologist/:id'"},
			{"events", "path = '/orders/:card' AND utm_campaign = ':phone'"},
			{"events", "path = '/u/:email' AND name = 'call :id'"},
			{"events", "path = '/files/:uuid/:email' AND utm_source = ':ip' AND ref_host = ':ip'"},
			{"agg_daily", "value = '/account/reset/:token'"},
			{"agg_daily", "value = ':email'"},
		} {
			n := 0
			q := fmt.Sprintf("SELECT count() FROM %s.%s WHERE %s", db, c.table, c.where)
			if err := st.Query(t.Context(), q, func(r store.Row) error { n = int(r.Uint64(0)); return nil }); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Errorf("no row of %s where %s", c.table, c.where)
			}
		}

		// What must be nowhere.
		secrets := []string{"victim", "mail.com", "SECRET", "jsessionid", "tok_", "123-45-6789", "4111111111111111",
			"701 123", "87011234567", "550e8400", "10.1.2.3", "192.0.2.77", "<", ">", "onerror", "sign", "\n", "\t", "\x00",
			"psychologist/123", "\u202e"}
		cells := 0
		for _, table := range listTables(t, st, db) {
			cols := listColumns(t, st, db, table)
			exprs := make([]string, len(cols))
			for i, c := range cols {
				exprs[i] = "toString(" + c + ")"
			}
			q := fmt.Sprintf("SELECT %s FROM %s.%s", strings.Join(exprs, ", "), db, table)
			err := st.Query(t.Context(), q, func(r store.Row) error {
				for i := 0; i < r.Len(); i++ {
					cells++
					v := r.String(i)
					for _, sec := range secrets {
						if strings.Contains(v, sec) {
							return fmt.Errorf("%s.%s holds %q, which contains %q", table, cols[i], v, sec)
						}
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if cells < 100 {
			t.Fatalf("scanned only %d cells", cells)
		}
		t.Logf("scanned %d cells of %s", cells, db)

		// The privacy report agrees: nothing it looks for is stored.
		r, err := privacy.ScanStats(t.Context(), st)
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK {
			out, _ := json.Marshal(r)
			t.Fatalf("privacy report failed %v: %s", r.Failed(), out)
		}
	})
}
