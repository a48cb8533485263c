// Package loadgen drives a realistic mix of tracking pixels and beacons
// against a collector and measures throughput and latency. It is the engine
// of `sezim bench`; it only ever targets the URL it is given, and every run
// is bounded in time.
package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records latencies in log-linear buckets: 64 sub-buckets per
// power of two of microseconds, so any value is kept within about 1.6 %.
// It is not safe for concurrent use; each worker keeps its own and they are
// merged at the end.
type Histogram struct {
	counts [40 * 64]uint64
	n      uint64
	max    time.Duration
}

const subBuckets = 64

func bucketOf(d time.Duration) int {
	us := uint64(d / time.Microsecond)
	if us < subBuckets {
		return int(us)
	}
	exp := bits.Len64(us) - 7 // us >= 64 → exp >= 0
	sub := us >> uint(exp) & (subBuckets - 1)
	i := (exp+1)*subBuckets + int(sub)
	if i >= len(Histogram{}.counts) {
		return len(Histogram{}.counts) - 1
	}
	return i
}

// upper is the largest value a bucket holds, in microseconds.
func upper(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	exp := i/subBuckets - 1
	sub := uint64(i % subBuckets)
	return ((subBuckets + sub + 1) << uint(exp)) - 1
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(d)]++
	h.n++
	if d > h.max {
		h.max = d
	}
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	if o.max > h.max {
		h.max = o.max
	}
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Quantile returns the value at q (0..1), rounded up to its bucket's bound.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			d := time.Duration(upper(i)) * time.Microsecond
			if d > h.max {
				d = h.max
			}
			return d
		}
	}
	return h.max
}

// Max is the largest recorded value.
func (h *Histogram) Max() time.Duration { return h.max }
