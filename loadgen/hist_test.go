package loadgen

import (
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	f := func(q float64, want time.Duration) {
		t.Helper()
		got := h.Quantile(q)
		if got < want || float64(got) > float64(want)*1.02 {
			t.Fatalf("Quantile(%v) = %v, want %v within 2%%", q, got, want)
		}
	}
	f(0.5, 5000*time.Microsecond)
	f(0.99, 9900*time.Microsecond)
	f(0.999, 9990*time.Microsecond)
	f(1, 10000*time.Microsecond)
	if h.Max() != 10*time.Millisecond || h.Count() != 10000 {
		t.Fatalf("max %v count %d", h.Max(), h.Count())
	}
	var small Histogram
	small.Record(3 * time.Microsecond)
	small.Record(40 * time.Second)
	var m Histogram
	m.Merge(&small)
	if m.Quantile(0.5) != 3*time.Microsecond || m.Quantile(1) != 40*time.Second {
		t.Fatalf("merged quantiles %v %v", m.Quantile(0.5), m.Quantile(1))
	}
}

func TestBucketsAreMonotonic(t *testing.T) {
	prev := -1
	for us := 0; us < 5_000_000; us += 37 {
		b := bucketOf(time.Duration(us) * time.Microsecond)
		if b < prev {
			t.Fatalf("bucket of %dµs is %d, below %d", us, b, prev)
		}
		if uint64(us) > upper(b) {
			t.Fatalf("%dµs above its bucket's bound %d", us, upper(b))
		}
		prev = b
	}
}
