package consentlog_test

import (
	"testing"

	"github.com/sezim-analytics/sezim/consent/consentlog"
	"github.com/sezim-analytics/sezim/hashchain"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// BenchmarkAppendParallel appends from 64 goroutines per core to the
// embedded engine: the consent log's own rate, without HTTP in front.
// ns/op is the time per decision across all of them.
func BenchmarkAppendParallel(b *testing.B) {
	st := storetest.Embedded(b)
	l, err := consentlog.Open(st, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if err := l.Append(b.Context(), record(i)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRowHash is the cost of one row hash: plain SHA-256 (rows
// before keyed chains) and HMAC-SHA-256 (rows now).
func BenchmarkRowHash(b *testing.B) {
	r := record(1)
	b.Run("sha256", func(b *testing.B) {
		for b.Loop() {
			_ = r.Hash()
		}
	})
	k := hashchain.RandomKey()
	b.Run("hmac", func(b *testing.B) {
		for b.Loop() {
			_ = r.KeyedHash(k)
		}
	})
}
