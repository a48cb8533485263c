package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// benchEvents makes n realistic event rows.
func benchEvents(n int) [][]any {
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = eventRow(i, "/blog/пост-"+string(rune('a'+i%26)))
	}
	return rows
}

// BenchmarkInsertEvents100k inserts batches of 100k events, the shipper's
// batch size, and reports rows/s per engine.
func BenchmarkInsertEvents100k(b *testing.B) {
	rows := benchEvents(100_000)
	for _, engine := range []string{"clickhouse", "chdb"} {
		b.Run(engine, func(b *testing.B) {
			s := benchStore(b, engine)
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				if err := s.Insert(ctx, s.DB().Stats+".events", eventCols, rows); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(rows))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkQueryEvents100k reads 100k events back through Row.
func BenchmarkQueryEvents100k(b *testing.B) {
	rows := benchEvents(100_000)
	for _, engine := range []string{"clickhouse", "chdb"} {
		b.Run(engine, func(b *testing.B) {
			s := benchStore(b, engine)
			ctx := context.Background()
			if err := s.Insert(ctx, s.DB().Stats+".events", eventCols, rows); err != nil {
				b.Fatal(err)
			}
			q := "SELECT " + strings.Join(eventCols, ", ") + " FROM " + s.DB().Stats + ".events"
			b.ResetTimer()
			for b.Loop() {
				n := 0
				err := s.Query(ctx, q, func(r store.Row) error {
					_ = r.String(5)
					_ = r.Uint64(3)
					_ = r.Time(2)
					n++
					return nil
				})
				if err != nil || n != len(rows) {
					b.Fatalf("%d rows, %v", n, err)
				}
			}
			b.ReportMetric(float64(len(rows))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

func benchStore(b *testing.B, engine string) store.Store {
	if engine == "clickhouse" {
		return storetest.Server(b)
	}
	return storetest.Embedded(b)
}
