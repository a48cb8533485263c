package subject_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/pipeline/wal"
	"github.com/sezim-analytics/sezim/privacy/subject"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

const (
	visitorA = "AAAAAAAAAAAAAAAAAAAAAA"
	visitorB = "BBBBBBBBBBBBBBBBBBBBBA"
	receiptA = "RaRaRaRaRaRaRaRa"
	receiptB = "RbRbRbRbRbRbRbRb"
)

var day = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func testConfig(t testing.TB) *site.Config {
	t.Helper()
	cfg, err := site.Parse([]byte(`sites:
  - id: sez
    domains: [sez.im]
    retention: {identified_days: 30, consent_log_days: 365}
  - id: other
    domains: [other.kz]
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// fixture stores the rows of two visitors on two sites: A (user u1 on
// some of its rows, receipt RA granting statistics and Yandex Metrica to
// RU) and B (receipt RB). It returns the number of A's and u1's events.
func fixture(t *testing.T, s store.Store) (aRows, u1Rows int) {
	t.Helper()
	ctx := context.Background()
	id := s.DB().Identified
	var rows [][]any
	add := func(siteID, vid, uid, path string, at time.Time) {
		rows = append(rows, []any{siteID, at, vid, uid, "203.0.113.0", uint8(1), "", path, "", "Chrome", "Linux", "desktop", "KZ", ""})
	}
	for i := 0; i < 5; i++ {
		add("sez", visitorA, "", "/a", day.Add(time.Duration(i)*time.Minute))
		add("sez", visitorB, "", "/b", day.Add(time.Duration(i)*time.Minute))
	}
	add("sez", visitorA, "u1", "/account", day.Add(time.Hour))
	add("sez", visitorA, "u1", "/account/2", day.Add(2*time.Hour))
	add("other", visitorA, "", "/elsewhere", day.Add(3*time.Hour))
	add("sez", visitorB, "u2", "/account", day.Add(time.Hour))
	if err := s.Insert(ctx, id+".events", pipeline.IdentifiedColumns, rows); err != nil {
		t.Fatal(err)
	}
	cols := []string{"chain", "seq", "receipt", "site", "ts", "action", "policy_version", "purposes_granted", "purposes_denied", "services", "ip", "browser"}
	log := [][]any{
		{"c1", uint64(1), receiptA, "sez", day.Add(-time.Minute), "shown", "v1", "", "", "", "203.0.113.0", "Chrome"},
		{"c1", uint64(2), receiptB, "sez", day.Add(-time.Minute), "reject_all", "v1", "necessary", "statistics,third_party", "", "198.51.100.0", "Firefox"},
		{"c1", uint64(3), receiptA, "sez", day, "custom", "v1", "necessary,statistics,third_party", "identified", "ym:RU", "203.0.113.0", "Chrome"},
		{"c1", uint64(4), receiptB, "sez", day, "accept_all", "v1", "necessary,statistics,identified,third_party", "", "ga:US", "198.51.100.0", "Firefox"},
	}
	if err := s.Insert(ctx, id+".consent_log", cols, log); err != nil {
		t.Fatal(err)
	}
	links := [][]any{{"sez", receiptA, visitorA, day}, {"sez", receiptB, visitorB, day}}
	if err := s.Insert(ctx, id+".consent_visitors", []string{"site", "receipt", "visitor_id", "ts"}, links); err != nil {
		t.Fatal(err)
	}
	return 8, 2
}

func newService(t testing.TB, s store.Store, blocks *subject.BlockSet) (*subject.Service, *staff.Auditor) {
	audit := staff.NewAuditor(s, nil)
	return subject.New(subject.Options{Store: s, Sites: testConfig(t), Blocks: blocks, Now: func() time.Time { return day.Add(24 * time.Hour) },
		Audit: func(ctx context.Context, e subject.AuditEvent) error {
			return audit.Record(ctx, staff.AuditEntry{Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target, Outcome: e.Outcome, Detail: e.Detail})
		}}), audit
}

func req(kind subject.Kind, value string) subject.Request {
	return subject.Request{Ref: subject.Ref{Kind: kind, Value: value}, Actor: "officer", Reason: "subject's request of 2026-11-21"}
}

// TestExportFindsExactlyTheSubject: each kind of reference reaches the
// subject's rows and no one else's, with its consent history, purposes,
// countries of transfer and retention dates; the request is recorded and
// audited without the visitor id.
func TestExportFindsExactlyTheSubject(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		aRows, u1Rows := fixture(t, s)
		svc, audit := newService(t, s, nil)

		for _, r := range []subject.Request{req(subject.KindVisitor, visitorA), req(subject.KindReceipt, receiptA)} {
			ex, err := svc.Export(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if len(ex.Events) != aRows || ex.Held.Events != uint64(aRows) || ex.Blocked {
				t.Fatalf("%s: %d events (held %d), want %d", r.Ref.Kind, len(ex.Events), ex.Held.Events, aRows)
			}
			for _, e := range ex.Events {
				if e.VisitorID != visitorA {
					t.Fatalf("%s: another visitor's row: %+v", r.Ref.Kind, e)
				}
			}
			if len(ex.ConsentHistory) != 2 || ex.ConsentHistory[0].Action != "shown" || ex.ConsentHistory[1].Receipt != receiptA {
				t.Fatalf("%s: consent history %+v", r.Ref.Kind, ex.ConsentHistory)
			}
			if strings.Join(ex.Receipts, ",") != receiptA || strings.Join(ex.Visitors, ",") != visitorA {
				t.Fatalf("%s: receipts %v, visitors %v", r.Ref.Kind, ex.Receipts, ex.Visitors)
			}
			if len(ex.Purposes) != 1 || strings.Join(ex.Purposes[0].Granted, ",") != "necessary,statistics,third_party" || strings.Join(ex.Purposes[0].Denied, ",") != "identified" {
				t.Fatalf("%s: purposes %+v", r.Ref.Kind, ex.Purposes)
			}
			if len(ex.Transfers) != 1 || ex.Transfers[0] != (subject.Transfer{Service: "ym", Country: "RU"}) {
				t.Fatalf("%s: transfers %+v", r.Ref.Kind, ex.Transfers)
			}
			// identified_days 30 on sez: a row of 2026-11-20 goes on 12-21.
			if ex.Events[0].DeleteFrom != "2026-12-21" || ex.ConsentHistory[1].DeleteFrom != "2027-11-21" {
				t.Fatalf("%s: delete dates %q, %q", r.Ref.Kind, ex.Events[0].DeleteFrom, ex.ConsentHistory[1].DeleteFrom)
			}
			if len(ex.Retention) == 0 || ex.Retention[0].Days == 0 {
				t.Fatalf("%s: retention %+v", r.Ref.Kind, ex.Retention)
			}
		}

		ex, err := svc.Export(ctx, req(subject.KindUser, "u1"))
		if err != nil {
			t.Fatal(err)
		}
		if len(ex.Events) != u1Rows {
			t.Fatalf("user u1: %d events, want %d", len(ex.Events), u1Rows)
		}
		for _, e := range ex.Events {
			if e.UserID != "u1" {
				t.Fatalf("user u1: another's row %+v", e)
			}
		}
		// Narrowed to a site, a visitor reaches that site's rows only.
		r := req(subject.KindVisitor, visitorA)
		r.Ref.Site = "other"
		if ex, err = svc.Export(ctx, r); err != nil || len(ex.Events) != 1 || ex.Events[0].Site != "other" {
			t.Fatalf("site other: %v, %+v", err, ex)
		}
		// A stranger: an empty answer, not an error.
		if ex, err = svc.Export(ctx, req(subject.KindVisitor, "CCCCCCCCCCCCCCCCCCCCCA")); err != nil || len(ex.Events) != 0 || len(ex.ConsentHistory) != 0 {
			t.Fatalf("stranger: %v, %+v", err, ex)
		}

		recs, err := svc.Requests(ctx, 10)
		if err != nil || len(recs) != 5 {
			t.Fatalf("requests %v, %+v", err, recs)
		}
		entries, err := audit.Entries(ctx, 10)
		if err != nil || len(entries) != 5 {
			t.Fatalf("audit %v, %+v", err, entries)
		}
		for _, rec := range recs {
			if rec.Kind != "export" || rec.Actor != "officer" || rec.Reason == "" || strings.Contains(rec.Ref, visitorA) {
				t.Fatalf("request record %+v", rec)
			}
		}
		for _, e := range entries {
			if e.Action != subject.AuditExport || strings.Contains(e.Target+e.Detail, visitorA) {
				t.Fatalf("audit row %+v", e)
			}
		}
	})
}

// TestBlockHidesAndStopsIngest: ingest through the real pipeline and
// write-ahead log keeps no identified row of a blocked visitor (others'
// rows still come in, and the blocked one's events still count
// anonymously), exports hide what is held, and unblocking restores both.
func TestBlockHidesAndStopsIngest(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		aRows, _ := fixture(t, s)
		blocks := subject.NewBlockSet(s, nil)
		svc, _ := newService(t, s, blocks)
		cfg := testConfig(t)
		w, err := wal.Open(wal.Options{Dir: t.TempDir(), Store: s})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close(context.Background())
		now := time.Now()
		salts, _ := anon.NewSalts("", now)
		pipe := pipeline.New(pipeline.Options{Sites: cfg, Salts: salts, Sink: w, Blocked: blocks, Now: func() time.Time { return now },
			Consent: func(*event.Hit, *site.Site, time.Time) pipeline.ConsentState { return pipeline.ConsentStatistics }})
		ingest := func(vid string, n int) {
			t.Helper()
			for i := 0; i < n; i++ {
				h := event.Hit{Source: event.SourceBeacon, Time: now, SiteID: "sez", URL: "https://sez.im/ingested",
					IP: netip.MustParseAddr("203.0.113.9"), UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
					HasAccept: true, HasAcceptLang: true, VisitorCookie: vid}
				var out event.Event
				if tier, why, err := pipe.Process(&h, &out); err != nil || tier == event.TierDrop {
					t.Fatalf("ingest: %v %v %v", tier, why, err)
				}
			}
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		ingested := func(vid string) uint64 {
			t.Helper()
			n, err := store.CountWhere(ctx, s, s.DB().Identified+".events", "path = '/ingested' AND visitor_id = "+store.Quote(vid))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		stats := func() uint64 {
			t.Helper()
			n, err := store.CountWhere(ctx, s, s.DB().Stats+".events", "path = '/ingested'")
			if err != nil {
				t.Fatal(err)
			}
			return n
		}

		out, err := svc.Block(ctx, req(subject.KindReceipt, receiptA))
		if err != nil || out.Result != "blocked" || out.Rows != uint64(aRows) {
			t.Fatalf("block: %v, %+v", err, out)
		}
		ingest(visitorA, 3)
		ingest(visitorB, 2)
		if a, b, st := ingested(visitorA), ingested(visitorB), stats(); a != 0 || b != 2 || st != 5 {
			t.Fatalf("while blocked: A %d rows, B %d rows, %d anonymous events; want 0, 2, 5", a, b, st)
		}
		ex, err := svc.Export(ctx, req(subject.KindVisitor, visitorA))
		if err != nil || !ex.Blocked || len(ex.Events) != 0 || len(ex.ConsentHistory) != 0 || ex.Held.Events != uint64(aRows) {
			t.Fatalf("blocked export: %v, blocked %v, %d events, %d consent rows, held %+v", err, ex.Blocked, len(ex.Events), len(ex.ConsentHistory), ex.Held)
		}
		// Another subject's export leaves out the blocked visitor's rows
		// (u1's rows are visitor A's).
		if ex, err = svc.Export(ctx, req(subject.KindUser, "u1")); err != nil || len(ex.Events) != 0 || ex.Hidden != 2 {
			t.Fatalf("u1 while A is blocked: %v, %+v", err, ex)
		}
		if ex, err = svc.Export(ctx, req(subject.KindVisitor, visitorB)); err != nil || ex.Blocked || len(ex.Events) != 8 {
			t.Fatalf("B while A is blocked: %v, %d events", err, len(ex.Events))
		}

		// A fresh set (another process) reads the block from the store.
		other := subject.NewBlockSet(s, nil)
		if err := other.Refresh(ctx); err != nil || !other.Blocked("sez", visitorA, "") || other.Blocked("sez", visitorB, "") {
			t.Fatalf("another process's block set: %v", err)
		}

		if out, err = svc.Unblock(ctx, req(subject.KindReceipt, receiptA)); err != nil || out.Result != "unblocked" {
			t.Fatalf("unblock: %v, %+v", err, out)
		}
		ingest(visitorA, 3)
		if a := ingested(visitorA); a != 3 {
			t.Fatalf("after unblock: A %d rows, want 3", a)
		}
		if ex, err = svc.Export(ctx, req(subject.KindVisitor, visitorA)); err != nil || ex.Blocked || len(ex.Events) != aRows+3 {
			t.Fatalf("export after unblock: %v, %d events", err, len(ex.Events))
		}
		recs, err := svc.Requests(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, r := range recs {
			kinds[r.Kind]++
		}
		if kinds["block"] != 1 || kinds["unblock"] != 1 {
			t.Fatalf("recorded %v", kinds)
		}
	})
}

// TestEraseLeavesNoRows: erasing by receipt destroys the visitor's events
// and links on every site and nothing of anyone else's, counts 0 left,
// keeps the consent-log rows as proof (no longer linked), and is recorded.
func TestEraseLeavesNoRows(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		aRows, _ := fixture(t, s)
		svc, audit := newService(t, s, nil)
		id := s.DB().Identified
		count := func(table, where string) uint64 {
			t.Helper()
			n, err := store.CountWhere(ctx, s, id+"."+table, where)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		bBefore := count("events", "visitor_id = "+store.Quote(visitorB))

		out, err := svc.Erase(ctx, req(subject.KindReceipt, receiptA))
		if err != nil || out.Result != "erased, 0 rows left" || out.Rows != uint64(aRows)+1 {
			t.Fatalf("erase: %v, %+v", err, out)
		}
		if n := count("events", "visitor_id = "+store.Quote(visitorA)); n != 0 {
			t.Fatalf("%d rows of A left", n)
		}
		if n := count("consent_visitors", "visitor_id = "+store.Quote(visitorA)); n != 0 {
			t.Fatalf("%d links of A left", n)
		}
		if n := count("events", "visitor_id = "+store.Quote(visitorB)); n != bBefore {
			t.Fatalf("B has %d rows, had %d", n, bBefore)
		}
		if n := count("consent_log", "receipt = "+store.Quote(receiptA)); n != 2 || !strings.Contains(out.Detail, "2 consent-log rows kept") {
			t.Fatalf("consent log: %d rows of RA, detail %q", n, out.Detail)
		}
		// The receipt now leads to no visitor: a block cannot act on it,
		// an export shows the kept consent rows only.
		if _, err := svc.Block(ctx, req(subject.KindReceipt, receiptA)); !errors.Is(err, subject.ErrUnresolved) {
			t.Fatalf("block of an erased receipt: %v", err)
		}
		ex, err := svc.Export(ctx, req(subject.KindReceipt, receiptA))
		if err != nil || len(ex.Events) != 0 || len(ex.ConsentHistory) != 2 {
			t.Fatalf("export after erase: %v, %+v", err, ex)
		}
		// Erasing a user reaches that user's rows only.
		if out, err = svc.Erase(ctx, req(subject.KindUser, "u2")); err != nil || out.Rows != 1 {
			t.Fatalf("erase u2: %v, %+v", err, out)
		}
		if n := count("events", "visitor_id = "+store.Quote(visitorB)); n != bBefore-1 {
			t.Fatalf("B has %d rows after erasing u2, want %d", n, bBefore-1)
		}

		recs, err := svc.Requests(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		var erased []subject.RequestRecord
		for _, r := range recs {
			if r.Kind == "erase" && r.RefKind == subject.KindReceipt {
				erased = append(erased, r)
			}
		}
		if len(erased) != 1 || erased[0].Outcome != "erased, 0 rows left" || erased[0].Rows != uint64(aRows)+1 ||
			erased[0].Ref != (subject.Ref{Kind: subject.KindReceipt, Value: receiptA}).Fingerprint() {
			t.Fatalf("erase records %+v", erased)
		}
		entries, err := audit.Entries(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range entries {
			if e.Action == subject.AuditErase && e.Outcome == "ok" {
				n++
			}
		}
		if n != 2 {
			t.Fatalf("%d subject_erase audit rows, want 2", n)
		}
	})
}

// TestRequestsNeedAReasonAndAValidReference: malformed requests are
// refused before anything is read, with errors that never echo the value.
func TestRequestsNeedAReasonAndAValidReference(t *testing.T) {
	svc := subject.New(subject.Options{})
	f := func(r subject.Request, want error) {
		t.Helper()
		_, err := svc.Erase(context.Background(), r)
		if !errors.Is(err, want) {
			t.Fatalf("%+v: %v, want %v", r, err, want)
		}
		if r.Ref.Value != "" && strings.Contains(err.Error(), r.Ref.Value) {
			t.Fatalf("the error quotes the reference: %v", err)
		}
	}
	f(req(subject.KindVisitor, "short"), subject.ErrBadRef)
	f(req(subject.KindVisitor, "AAAAAAAAAAAAAAAAAAAAAB"), subject.ErrBadRef)
	f(req(subject.KindReceipt, "not/a/receipt!!!"), subject.ErrBadRef)
	f(req(subject.KindUser, ""), subject.ErrBadRef)
	f(req(subject.KindUser, "a\nb"), subject.ErrBadRef)
	f(req(subject.KindUser, strings.Repeat("x", subject.MaxUserID+1)), subject.ErrBadRef)
	f(req("email", "x@y.z"), subject.ErrBadRef)
	r := req(subject.KindVisitor, visitorA)
	r.Reason = "  "
	f(r, subject.ErrNoReason)
	r = req(subject.KindVisitor, visitorA)
	r.Actor = ""
	f(r, subject.ErrNoReason)
}
