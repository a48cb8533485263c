package wal

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
)

// BenchmarkAppend is Write (append + wait for the group commit) from 64
// concurrent writers, at several commit intervals, on the test's temp
// folder. It reports events/s and fsyncs/s; ns/op is per event.
func BenchmarkAppend(b *testing.B) {
	for _, every := range []time.Duration{-1, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond} {
		b.Run(fmt.Sprintf("interval=%v", max(every, 0)), func(b *testing.B) {
			w := open(b, Options{Dir: b.TempDir(), CommitInterval: every})
			b.SetParallelism(max(1, 64/testingProcs()))
			b.ReportAllocs()
			began := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				e := sample(1)
				for pb.Next() {
					if err := w.Write(&e); err != nil {
						b.Error(err)
						return
					}
				}
			})
			secs := time.Since(began).Seconds()
			b.ReportMetric(float64(b.N)/secs, "events/s")
			b.ReportMetric(testutil.ToFloat64(w.commitCount)/secs, "fsyncs/s")
			var m dto.Metric
			_ = w.fsyncs.(prometheus.Metric).Write(&m)
			if h := m.GetHistogram(); h.GetSampleCount() > 0 {
				b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount())*1e3, "ms/fsync")
			}
		})
	}
}

func testingProcs() int { return max(1, testingGOMAXPROCS()) }

// BenchmarkEncode and BenchmarkDecode time one record: an anonymous event,
// and a consented one with its identity (visitor id, user id, prefix).
func BenchmarkEncode(b *testing.B) {
	b.Run("anonymous", func(b *testing.B) { benchEncode(b, nil) })
	id := sampleID(6)
	b.Run("consented", func(b *testing.B) { benchEncode(b, &id) })
}

func benchEncode(b *testing.B, id *pipeline.Identity) {
	e := sample(5)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		var at int
		buf, at = appendFrame(buf[:0])
		buf = appendEvent(buf, &e, id)
		finishFrame(buf, at)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecode(b *testing.B) {
	b.Run("anonymous", func(b *testing.B) { benchDecode(b, nil) })
	id := sampleID(6)
	b.Run("consented", func(b *testing.B) { benchDecode(b, &id) })
}

func benchDecode(b *testing.B, id *pipeline.Identity) {
	src := sample(5)
	p := string(appendEvent(nil, &src, id))
	var e event.Event
	var got pipeline.Identity
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeEvent(p, version, &e, &got); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(p)))
}

func testingGOMAXPROCS() int { return runtime.GOMAXPROCS(0) }
