package dashboards

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/dashboards/console"
	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/privacy/retention"
	"github.com/sezim-analytics/sezim/privacy/subject"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

const (
	subjectVisitor = "VVVVVVVVVVVVVVVVVVVVVA"
	otherVisitor   = "WWWWWWWWWWWWWWWWWWWWWA"
)

// plantSubject stores a subject on site alpha: three consented events of
// subjectVisitor, the decision (receipt) that set it and its link; and
// two events of another visitor, who must be left alone.
func plantSubject(t *testing.T, st store.Store, at time.Time) (receipt string) {
	t.Helper()
	id := st.DB().Identified
	receipt = consent.ReceiptString(consent.NewReceipt())
	var rows [][]any
	for i, vid := range []string{subjectVisitor, subjectVisitor, subjectVisitor, otherVisitor, otherVisitor} {
		rows = append(rows, []any{"alpha", at.Add(time.Duration(i) * time.Minute), vid, "", "203.0.113.0", uint8(1), "", "/p", "", "Chrome", "Linux", "desktop", "KZ", ""})
	}
	if err := st.Insert(t.Context(), id+".events", pipeline.IdentifiedColumns, rows); err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(t.Context(), id+".consent_log", []string{"chain", "seq", "receipt", "site", "ts", "action", "policy_version", "purposes_granted"},
		[][]any{{"c1", uint64(1), receipt, "alpha", at, "accept_all", "v1", "necessary,statistics,identified"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(t.Context(), id+".consent_visitors", []string{"site", "receipt", "visitor_id", "ts"}, [][]any{{"alpha", receipt, subjectVisitor, at}}); err != nil {
		t.Fatal(err)
	}
	return receipt
}

// postForm posts form to base+p from origin (the page's own when "").
func postForm(t *testing.T, c *http.Client, base, p, origin string, form url.Values) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+p, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin == "" {
		origin = base
	}
	if origin != "-" {
		req.Header.Set("Origin", origin)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func countWhere(t *testing.T, st store.Store, table, where string) uint64 {
	t.Helper()
	db := st.DB().Identified
	if table == "audit_log" {
		db = st.DB().Staff // moved there by migration 018
	}
	n, err := store.CountWhere(t.Context(), st, db+"."+table, where)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPrivacySubjectTools serves the console on loopback over a real
// store: a viewer is refused every subject tool; a privacy user exports,
// blocks, unblocks and erases a planted subject (typing the reference
// again) and sees 0 rows left, the other visitor untouched; a request
// without a reason, with a malformed reference or from another origin is
// refused before anything is read; every request is in the list and in
// the audit log with the staff member as the actor.
func TestPrivacySubjectTools(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		f := newFixtureWith(t, st, nil)
		hash, _ := staff.HashPassword(testPassword, testHash)
		if err := f.srv.gate.Directory().PutUser(t.Context(), &staff.User{Name: "pia", Role: staff.RolePrivacy}, hash); err != nil {
			t.Fatal(err)
		}
		receipt := plantSubject(t, st, f.clock().Add(-time.Hour))
		base := f.loopback(t)
		byReceipt := url.Values{"kind": {"receipt"}, "value": {receipt}, "reason": {"the subject's request of 2026-11-23"}}
		byVisitor := url.Values{"kind": {"visitor"}, "value": {subjectVisitor}, "site": {"alpha"}, "reason": {"confirmed breach, ticket 7"}}
		subjectRows := func() uint64 { return countWhere(t, st, "events", "visitor_id = "+store.Quote(subjectVisitor)) }

		ann := signIn(t, base, "ann")
		if code, _, body := fetchPage(t, ann, base+"/app/privacy/subjects"); code != http.StatusForbidden || !strings.Contains(body, "privacy role required") {
			t.Errorf("viewer, subjects page: %d %s", code, body)
		}
		for _, p := range []string{"export", "export?download=1", "block", "unblock", "erase"} {
			form := url.Values{"confirm": {receipt}}
			for k, v := range byReceipt {
				form[k] = v
			}
			if code, _, body := postForm(t, ann, base, "/app/privacy/subjects/"+p, "", form); code != http.StatusForbidden || strings.Contains(body, subjectVisitor) {
				t.Errorf("viewer, %s: %d %s", p, code, body)
			}
		}
		if n := countWhere(t, st, "subject_requests", "1"); n != 0 || subjectRows() != 3 {
			t.Fatalf("a viewer's request was made: %d requests, %d rows", n, subjectRows())
		}

		pia := signIn(t, base, "pia")
		code, _, body := fetchPage(t, pia, base+"/app/privacy/subjects")
		if code != 200 || !strings.Contains(body, `id="subject-form"`) || !strings.Contains(body, `<option value="alpha"`) {
			t.Fatalf("subjects page: %d %s", code, body)
		}
		// Refused before the Service reads anything: nothing recorded.
		for _, tc := range []struct {
			name, origin string
			form         url.Values
			code         int
			want         string
		}{
			{"no reason", "", url.Values{"kind": {"receipt"}, "value": {receipt}, "reason": {"  "}}, 400, "missing_reason: give the legal reason"},
			{"bad visitor", "", url.Values{"kind": {"visitor"}, "value": {"not-a-visitor"}, "reason": {"r"}}, 400, "invalid_subject: a visitor id is the 22-character value"},
			{"bad kind", "", url.Values{"kind": {"email"}, "value": {"a@b.kz"}, "reason": {"r"}}, 400, "invalid_subject: the kind must be"},
			{"unknown site", "", url.Values{"kind": {"receipt"}, "value": {receipt}, "site": {"nope"}, "reason": {"r"}}, 400, "unknown_site"},
			{"cross origin", "http://evil.example", byReceipt, 403, "cross-origin request refused"},
			{"no origin", "-", byReceipt, 403, "cross-origin request refused"},
		} {
			for _, p := range []string{"export", "block", "unblock", "erase"} {
				code, _, body := postForm(t, pia, base, "/app/privacy/subjects/"+p, tc.origin, tc.form)
				if code != tc.code || !strings.Contains(body, tc.want) || strings.Contains(body, `id="export-json"`) {
					t.Errorf("%s, %s: %d %s", tc.name, p, code, body)
				}
			}
		}
		if n := countWhere(t, st, "subject_requests", "1"); n != 0 {
			t.Fatalf("refused requests were made: %d", n)
		}

		// Export: on the page, and as a file.
		code, _, body = postForm(t, pia, base, "/app/privacy/subjects/export", "", byReceipt)
		if code != 200 || !strings.Contains(body, `id="export-json"`) || !strings.Contains(body, `&#34;visitor_id&#34;: &#34;`+subjectVisitor) {
			t.Fatalf("export: %d %s", code, body)
		}
		exportFile := func() subject.Export {
			t.Helper()
			code, h, body := postForm(t, pia, base, "/app/privacy/subjects/export?download=1", "", byReceipt)
			var ex subject.Export
			if err := json.Unmarshal([]byte(body), &ex); code != 200 || err != nil || !strings.HasPrefix(h.Get("Content-Disposition"), `attachment; filename="subject-export-`) {
				t.Fatalf("download: %d %v %v %s", code, err, h, body)
			}
			return ex
		}
		if ex := exportFile(); len(ex.Events) != 3 || len(ex.Visitors) != 1 || ex.Visitors[0] != subjectVisitor || ex.Blocked || len(ex.ConsentHistory) != 1 {
			t.Fatalf("export: %+v", ex)
		}

		// Block, then unblock.
		if code, _, body = postForm(t, pia, base, "/app/privacy/subjects/block", "", byVisitor); code != 200 || !strings.Contains(body, `<span id="subject-result">blocked</span>`) {
			t.Fatalf("block: %d %s", code, body)
		}
		if ex := exportFile(); ex.Hidden != 3 || len(ex.Events) != 0 || ex.Held.Events != 3 {
			t.Fatalf("export of a blocked subject: %+v", ex)
		}
		if code, _, body = postForm(t, pia, base, "/app/privacy/subjects/unblock", "", byVisitor); code != 200 || !strings.Contains(body, `<span id="subject-result">unblocked</span>`) {
			t.Fatalf("unblock: %d %s", code, body)
		}

		// Erase: asked first, refused on a wrong confirmation, then done
		// and verified.
		code, _, body = postForm(t, pia, base, "/app/privacy/subjects/erase", "", byReceipt)
		if code != 200 || !strings.Contains(body, `id="erase-confirm"`) || !strings.Contains(body, "cannot be undone") || subjectRows() != 3 {
			t.Fatalf("erase, first step: %d %d %s", code, subjectRows(), body)
		}
		wrong := url.Values{"confirm": {receipt[:15] + "x"}}
		for k, v := range byReceipt {
			wrong[k] = v
		}
		if code, _, body = postForm(t, pia, base, "/app/privacy/subjects/erase", "", wrong); code != 400 || !strings.Contains(body, "confirmation_mismatch") || subjectRows() != 3 {
			t.Fatalf("erase, wrong confirmation: %d %d %s", code, subjectRows(), body)
		}
		confirmed := url.Values{"confirm": {receipt}}
		for k, v := range byReceipt {
			confirmed[k] = v
		}
		code, _, body = postForm(t, pia, base, "/app/privacy/subjects/erase", "", confirmed)
		if code != 200 || !strings.Contains(body, `<span id="subject-result">erased, 0 rows left</span>`) || !strings.Contains(body, "(4 rows;") {
			t.Fatalf("erase: %d %s", code, body)
		}
		if n := subjectRows(); n != 0 {
			t.Fatalf("%d rows of the subject left", n)
		}
		if n := countWhere(t, st, "events", "visitor_id = "+store.Quote(otherVisitor)); n != 2 {
			t.Fatalf("the other visitor lost rows: %d left", n)
		}
		if n := countWhere(t, st, "consent_visitors", "receipt = "+store.Quote(receipt)); n != 0 {
			t.Fatalf("the receipt's link was kept")
		}

		// The list, newest first, and the audit log, with the actor.
		code, _, body = fetchPage(t, pia, base+"/app/privacy/subjects")
		if code != 200 || strings.Count(body, "<td>pia</td>") != 6 || !strings.Contains(body, "<td>confirmed breach, ticket 7</td>") ||
			!strings.Contains(body, "<td>erase</td>") || !strings.Contains(body, "<td>erased, 0 rows left; ") {
			t.Fatalf("requests: %d %s", code, body)
		}
		for action, want := range map[string]uint64{subject.AuditExport: 3, subject.AuditBlock: 1, subject.AuditUnblock: 1, subject.AuditErase: 1, console.AuditSubjectRequests: 2} {
			if n := countWhere(t, st, "audit_log", "actor = 'pia' AND outcome = 'ok' AND action = "+store.Quote(action)); n != want {
				t.Errorf("%s audited %d times with actor pia, want %d", action, n, want)
			}
		}
		if n := countWhere(t, st, "audit_log", "position(detail, "+store.Quote(subjectVisitor)+") > 0 OR position(target, "+store.Quote(subjectVisitor)+") > 0"); n != 0 {
			t.Errorf("the visitor id is in %d audit rows", n)
		}

		// Concurrent requests each keep their own values (Fiber reuses
		// the request's buffers once a handler returns).
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				form := url.Values{"kind": {"visitor"}, "value": {otherVisitor}, "reason": {fmt.Sprintf("concurrent request %d", i)}}
				if code, _, body := postForm(t, pia, base, "/app/privacy/subjects/export", "", form); code != 200 {
					t.Errorf("concurrent export %d: %d %s", i, code, body)
				}
				who := fmt.Sprintf("actor-%d", i)
				if code, _, body := fetchPage(t, pia, base+"/app/privacy/audit?actor="+who); code != 200 || !strings.Contains(body, `value="`+who+`"`) {
					t.Errorf("concurrent audit view %d: %d", i, code)
				}
			}()
		}
		wg.Wait()
		for i := range 6 {
			if n := countWhere(t, st, "subject_requests", fmt.Sprintf("reason = 'concurrent request %d'", i)); n != 1 {
				t.Errorf("request %d recorded %d times", i, n)
			}
		}
	})
}

// TestPrivacyRetentionAndAuditExport: the retention history newest first
// with its last run; the audit log filtered by actor, action and time,
// exported as CSV and JSON with each export audited; a viewer is refused
// both.
func TestPrivacyRetentionAndAuditExport(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		f := newFixtureWith(t, st, nil)
		hash, _ := staff.HashPassword(testPassword, testHash)
		if err := f.srv.gate.Directory().PutUser(t.Context(), &staff.User{Name: "pia", Role: staff.RolePrivacy}, hash); err != nil {
			t.Fatal(err)
		}
		base := f.loopback(t)
		ann, pia := signIn(t, base, "ann"), signIn(t, base, "pia")
		for _, p := range []string{"/app/privacy/retention", "/app/privacy/audit/export?format=csv", "/app/privacy/audit?actor=pia"} {
			if code, h, body := fetchPage(t, ann, base+p); code != http.StatusForbidden || h.Get("Content-Disposition") != "" {
				t.Errorf("viewer %s: %d %s", p, code, body)
			}
		}
		if code, _, body := fetchPage(t, pia, base+"/app/privacy/retention"); code != 200 || !strings.Contains(body, "NEVER") {
			t.Fatalf("no history: %d %s", code, body)
		}
		t0 := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
		h := retention.NewHistory(st, "serve on host-1", nil)
		if err := h.Record(t.Context(),
			retention.Destruction{Time: t0, DB: st.DB().Identified, Rule: retention.RunRule},
			retention.Destruction{Time: t0.Add(10 * time.Minute), DB: st.DB().Identified, Rule: retention.RunRule},
			retention.Destruction{Time: t0.Add(10 * time.Minute), DB: st.DB().Identified, Table: "events", Site: "alpha", Rows: 7, Rule: "identified_days=30", Cutoff: "2026-10-24"},
		); err != nil {
			t.Fatal(err)
		}
		code, _, body := fetchPage(t, pia, base+"/app/privacy/retention")
		if code != 200 || !strings.Contains(body, "Last run: <b>2026-11-23 03:10:00 UTC</b>") || !strings.Contains(body, "<td>identified_days=30</td>") ||
			!strings.Contains(body, "<td>serve on host-1</td>") || strings.Count(body, "run of the job") != 2 {
			t.Fatalf("history: %d %s", code, body)
		}
		code, _, body = fetchPage(t, pia, base+"/app/privacy/retention?format=json")
		var ds []retention.Destruction
		if err := json.Unmarshal([]byte(body), &ds); code != 200 || err != nil || len(ds) != 3 || !ds[0].Time.Equal(t0.Add(10*time.Minute)) || !ds[2].Time.Equal(t0) {
			t.Fatalf("history json: %d %v %s", code, err, body)
		}

		// Rows of two actors on two days.
		for i, e := range []staff.AuditEntry{
			{Time: t0, Actor: "bob", Action: staff.AuditSignIn, Outcome: "ok"},
			{Time: t0.Add(time.Hour), Actor: "bob", Action: staff.AuditSignOut, Outcome: "ok"},
			{Time: t0.Add(-24 * time.Hour), Actor: "carol", Action: staff.AuditSignIn, Outcome: "bad_password", Detail: "=HYPERLINK(\"x\")"},
		} {
			if err := f.srv.gate.Auditor().Record(t.Context(), e); err != nil {
				t.Fatal(i, err)
			}
		}
		code, _, body = fetchPage(t, pia, base+"/app/privacy/audit?actor=bob")
		if code != 200 || strings.Count(body, "<td>bob</td>") != 2 || strings.Contains(body, "<td>carol</td>") || !strings.Contains(body, `value="bob"`) ||
			!strings.Contains(body, `href="/app/privacy/audit/export?format=csv&actor=bob&action=&since=&until="`) {
			t.Fatalf("by actor: %d %s", code, body)
		}
		code, _, body = fetchPage(t, pia, base+"/app/privacy/audit?action="+staff.AuditSignIn+"&since=2026-11-23&until=2026-11-23")
		if code != 200 || !strings.Contains(body, "<td>bob</td>") || strings.Contains(body, "<td>carol</td>") || strings.Contains(body, "<td>"+staff.AuditSignOut+"</td>") {
			t.Fatalf("by action and day: %d %s", code, body)
		}
		code, _, body = fetchPage(t, pia, base+"/app/privacy/audit?since=2026-11-22T02:00&until=2026-11-22T04:00")
		if code != 200 || !strings.Contains(body, "<td>carol</td>") || strings.Contains(body, "<td>bob</td>") {
			t.Fatalf("by minutes: %d %s", code, body)
		}
		for _, bad := range []string{"since=yesterday", "until=2026-13-01", "actor=" + strings.Repeat("a", 300)} {
			if code, _, body = fetchPage(t, pia, base+"/app/privacy/audit?"+bad); code != 400 || !strings.Contains(body, "invalid_") {
				t.Errorf("%s: %d %s", bad, code, body)
			}
			if code, _, body = fetchPage(t, pia, base+"/app/privacy/audit/export?format=csv&"+bad); code != 400 {
				t.Errorf("export %s: %d %s", bad, code, body)
			}
		}
		if code, _, body = fetchPage(t, pia, base+"/app/privacy/audit/export?format=xml"); code != 400 || !strings.Contains(body, "invalid_format") {
			t.Errorf("xml: %d %s", code, body)
		}

		code, hd, body := fetchPage(t, pia, base+"/app/privacy/audit/export?format=csv&actor=carol")
		recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if code != 200 || err != nil || len(recs) != 2 || recs[1][1] != "carol" || recs[1][6] != "'=HYPERLINK(\"x\")" ||
			!strings.HasPrefix(hd.Get("Content-Type"), "text/csv") || !strings.HasPrefix(hd.Get("Content-Disposition"), `attachment; filename="audit-log-`) {
			t.Fatalf("csv: %d %v %v %q", code, err, hd, body)
		}
		code, hd, body = fetchPage(t, pia, base+"/app/privacy/audit/export?format=json&actor=bob&since=2026-11-23")
		var rows []map[string]any
		if err := json.Unmarshal([]byte(body), &rows); code != 200 || err != nil || len(rows) != 2 || rows[0]["action"] != staff.AuditSignOut || rows[0]["row_hash"] == "" ||
			!strings.HasSuffix(hd.Get("Content-Disposition"), `.json"`) {
			t.Fatalf("json: %d %v %s", code, err, body)
		}
		for format, detail := range map[string]string{"csv": "1 rows; actor=carol", "json": "2 rows; actor=bob since=2026-11-23"} {
			where := "actor = 'pia' AND action = " + store.Quote(staff.AuditLogExport) + " AND target = " + store.Quote(format) + " AND detail = " + store.Quote(detail)
			if n := countWhere(t, st, "audit_log", where); n != 1 {
				t.Errorf("%s export audited %d times", format, n)
			}
		}
		// The failed ones were not.
		if n := countWhere(t, st, "audit_log", "action = "+store.Quote(staff.AuditLogExport)); n != 2 {
			t.Errorf("%d exports audited, want 2", n)
		}
	})
}
