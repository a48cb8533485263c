package subject_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/sezim-analytics/sezim/privacy/subject"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// BenchmarkExportAmong10M exports one subject (10 events, one receipt), by
// visitor id, receipt and user id,
// among 10M identified events of 1M visitors, 1M receipt links and 1M
// consent-log rows on the embedded engine: the goal is ≤ 2 s per export.
// It also times the erasure of one visitor (10 events, 1 link). The rows
// are made by ClickHouse (INSERT … SELECT FROM numbers), not Go.
//
//	go test -run '^$' -bench ExportAmong10M -benchtime 5x ./privacy/subject
func BenchmarkExportAmong10M(b *testing.B) {
	s := storetest.Embedded(b)
	ctx := context.Background()
	id := s.DB().Identified
	// Visitor n is "V" + n in 20 digits + "A": a valid visitor id.
	vid := func(expr string) string { return fmt.Sprintf("concat('V', leftPad(toString(%s), 20, '0'), 'A')", expr) }
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO %s.events (site, ts, visitor_id, user_id, ip, kind, name, path, ref_host, browser, os, device, country, batch_id)
 SELECT 'sez', toDateTime('2026-06-01 00:00:00', 'UTC') + (number * 7919) %% (180 * 86400), %s, if(number %% 1000000 %% 1000 = 242, concat('u', toString(number %% 1000000)), ''), '203.0.113.0', 1, '',
 concat('/page/', toString(number %% 500)), 'example.com', 'Chrome', 'Linux', 'desktop', 'KZ', ''
 FROM numbers(10000000)`, id, vid("number % 1000000")),
		fmt.Sprintf(`INSERT INTO %s.consent_visitors (site, receipt, visitor_id, ts)
 SELECT 'sez', concat('R', leftPad(toString(number), 15, '0')), %s, toDateTime('2026-06-01 00:00:00', 'UTC') FROM numbers(1000000)`, id, vid("number")),
		fmt.Sprintf(`INSERT INTO %s.consent_log (chain, seq, receipt, site, ts, action, policy_version, purposes_granted, purposes_denied, services)
 SELECT 'c1', number + 1, concat('R', leftPad(toString(number), 15, '0')), 'sez', toDateTime('2026-06-01 00:00:00', 'UTC'), 'accept_all', 'v1',
 'necessary,statistics,third_party', '', 'ym:RU' FROM numbers(1000000)`, id),
	} {
		if err := s.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	svc, _ := newService(b, s, nil)
	for _, ref := range []subject.Ref{
		{Kind: subject.KindVisitor, Value: fmt.Sprintf("V%020dA", 424242)},
		{Kind: subject.KindReceipt, Value: fmt.Sprintf("R%015d", 424242)},
		{Kind: subject.KindUser, Value: "u424242"},
	} {
		b.Run(string(ref.Kind), func(b *testing.B) {
			req := subject.Request{Ref: ref, Actor: "bench", Reason: "benchmark"}
			for b.Loop() {
				ex, err := svc.Export(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				if len(ex.Events) != 10 || len(ex.ConsentHistory) != 1 || len(ex.Transfers) != 1 {
					b.Fatalf("export: %d events, %d consent rows, transfers %+v", len(ex.Events), len(ex.ConsentHistory), ex.Transfers)
				}
			}
		})
	}
	// Erasure rewrites the parts holding the visitor's rows: the figure
	// a privacy officer waits for, verification included.
	b.Run("erase", func(b *testing.B) {
		n := 0
		for b.Loop() {
			n++
			req := subject.Request{Ref: subject.Ref{Kind: subject.KindVisitor, Value: fmt.Sprintf("V%020dA", 500000+n)}, Actor: "bench", Reason: "benchmark"}
			out, err := svc.Erase(ctx, req)
			if err != nil || out.Rows != 11 {
				b.Fatalf("erase: %v, %+v", err, out)
			}
		}
	})
}
