package ratelimit

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// clock is a settable time for the limiter under test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestLimiter(t *testing.T) {
	// step is one call: after advancing the clock, hit (or peek) key and
	// expect the decision's Allowed, Count and Shared.
	type step struct {
		advance time.Duration
		peek    bool
		key     string
		allowed bool
		count   int
		shared  bool
	}
	hit := func(key string, allowed bool, count int) step {
		return step{key: key, allowed: allowed, count: count}
	}
	for _, tc := range []struct {
		name  string
		o     Options
		steps []step
	}{
		{"limit per key", Options{Limit: 2, Window: time.Minute}, []step{
			hit("a", true, 1), hit("a", true, 2), hit("a", false, 3), hit("b", true, 1),
			{peek: true, key: "a", allowed: false, count: 3},
			{peek: true, key: "b", allowed: true, count: 1},
			{peek: true, key: "c", allowed: true},
		}},
		{"window ends", Options{Limit: 1, Window: time.Minute}, []step{
			hit("a", true, 1), hit("a", false, 2),
			{advance: 59 * time.Second, key: "a", allowed: false, count: 3},
			{advance: time.Second, peek: true, key: "a", allowed: true},
			hit("a", true, 1),
		}},
		{"refused events do not extend the window", Options{Limit: 1, Window: time.Minute}, []step{
			hit("a", true, 1),
			{advance: 30 * time.Second, key: "a", allowed: false, count: 2},
			{advance: 30 * time.Second, key: "a", allowed: true, count: 1},
		}},
		{"full table shares the overflow bucket", Options{Limit: 2, Window: time.Minute, MaxKeys: 2, OverflowLimit: 1}, []step{
			hit("a", true, 1), hit("b", true, 1),
			{peek: true, key: "c", allowed: true, shared: true},
			{key: "c", allowed: true, count: 1, shared: true},
			{key: "d", allowed: false, count: 2, shared: true},
			{peek: true, key: "e", allowed: false, count: 2, shared: true},
			// Keys with counters of their own are untouched.
			hit("a", true, 2), hit("a", false, 3),
		}},
		{"ended windows make room", Options{Limit: 2, Window: time.Minute, MaxKeys: 2, OverflowLimit: 1}, []step{
			hit("a", true, 1),
			{advance: 30 * time.Second, key: "b", allowed: true, count: 1},
			{key: "c", allowed: true, count: 1, shared: true},
			// a's window ended, b's has not: c gets a's place.
			{advance: 30 * time.Second, key: "c", allowed: true, count: 1},
			// The bucket's own window (from c's first event) is still open.
			{key: "d", allowed: false, count: 2, shared: true},
			hit("b", true, 2),
		}},
		{"clock back by more than a window", Options{Limit: 1, Window: time.Minute}, []step{
			hit("a", true, 1), hit("a", false, 2),
			{advance: -2 * time.Minute, key: "a", allowed: true, count: 1},
		}},
		{"defaults", Options{}, []step{
			hit("a", true, 1), hit("a", true, 2), hit("a", true, 3), hit("a", true, 4), hit("a", true, 5),
			hit("a", true, 6), hit("a", true, 7), hit("a", true, 8), hit("a", true, 9), hit("a", true, 10),
			hit("a", false, 11),
			{advance: time.Minute, key: "a", allowed: true, count: 1},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			tc.o.Now = c.Now
			l := New(tc.o)
			for i, s := range tc.steps {
				c.advance(s.advance)
				var d Decision
				if s.peek {
					d = l.Peek(s.key)
				} else {
					d = l.Hit(s.key)
				}
				if d.Allowed != s.allowed || d.Count != s.count || d.Shared != s.shared {
					t.Fatalf("step %d (%+v): got %+v", i, s, d)
				}
				if d.Count > 0 && !d.Reset.After(c.Now()) {
					t.Fatalf("step %d: window ends at %v, not after now %v", i, d.Reset, c.Now())
				}
			}
		})
	}
}

// TestFloodKeepsLiveCounters floods a small table with fresh keys, as a
// stranger with many addresses would, and checks that a counter near its
// limit is neither reset nor dropped, that the flood gains no more than
// the overflow bucket's budget, and that memory stays bounded.
func TestFloodKeepsLiveCounters(t *testing.T) {
	c := newClock()
	const maxKeys, limit = 100, 5
	l := New(Options{Limit: limit, Window: 15 * time.Minute, MaxKeys: maxKeys, OverflowLimit: 3, Now: c.Now})
	for range limit {
		if d := l.Hit("victim"); !d.Allowed {
			t.Fatalf("victim refused early: %+v", d)
		}
	}
	allowed := 0
	for i := range 50_000 {
		c.advance(time.Millisecond)
		if l.Hit(fmt.Sprint("flood-", i)).Allowed {
			allowed++
		}
	}
	if n := l.Len(); n > maxKeys {
		t.Fatalf("%d keys held, max %d", n, maxKeys)
	}
	// 99 fresh keys fit beside the victim; the other 49,901 share the
	// overflow bucket's 3 events per window (the flood spans under one
	// window of 15 minutes: 50 s).
	if want := maxKeys - 1 + 3; allowed != want {
		t.Fatalf("flood allowed %d events, want %d", allowed, want)
	}
	if d := l.Peek("victim"); d.Allowed || d.Count != limit || d.Shared {
		t.Fatalf("victim's counter after the flood: %+v", d)
	}
	if d := l.Hit("victim"); d.Allowed || d.Count != limit+1 {
		t.Fatalf("victim after the flood: %+v", d)
	}
	// Once the windows end, everyone starts again.
	c.advance(15 * time.Minute)
	if d := l.Hit("victim"); !d.Allowed || d.Count != 1 {
		t.Fatalf("victim in a new window: %+v", d)
	}
	if d := l.Hit("newcomer"); !d.Allowed || d.Shared {
		t.Fatalf("newcomer in a new window: %+v", d)
	}
}

func TestForget(t *testing.T) {
	c := newClock()
	l := New(Options{Limit: 1, MaxKeys: 1, Now: c.Now})
	l.Hit("a")
	if d := l.Hit("b"); !d.Shared {
		t.Fatalf("b: %+v", d)
	}
	l.Hit("b")
	l.Forget("b") // counted in the bucket: nothing to forget
	if d := l.Peek("b"); d.Allowed {
		t.Fatalf("forgetting a shared key reset the bucket: %+v", d)
	}
	l.Forget("a")
	if l.Len() != 0 {
		t.Fatalf("%d keys after Forget", l.Len())
	}
	if d := l.Hit("b"); !d.Allowed || d.Shared || d.Count != 1 {
		t.Fatalf("b after a was forgotten: %+v", d)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	f := func(reset time.Duration, want time.Duration) {
		t.Helper()
		if got := (Decision{Reset: now.Add(reset)}).RetryAfter(now); got != want {
			t.Fatalf("RetryAfter(%v) = %v, want %v", reset, got, want)
		}
	}
	f(90*time.Second, 90*time.Second)
	f(90*time.Second+time.Millisecond, 91*time.Second)
	f(time.Millisecond, time.Second)
	f(-time.Minute, time.Second)
}

// TestConcurrentHits runs under -race: keys come from a reused buffer, as
// Fiber hands them out, and must be copied; counts must add up.
func TestConcurrentHits(t *testing.T) {
	l := New(Options{Limit: 1000, MaxKeys: 8})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := []byte(fmt.Sprint("key", g))
			for range 100 {
				l.Hit(unsafe.String(&buf[0], len(buf)))
			}
			for i := range buf {
				buf[i] = 'x'
			}
		}()
	}
	wg.Wait()
	for g := range 8 {
		if d := l.Peek(fmt.Sprint("key", g)); d.Count != 100 {
			t.Fatalf("key%d: %+v", g, d)
		}
	}
}

func TestClientNet(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		var a netip.Addr
		if in != "" {
			a = netip.MustParseAddr(in)
		}
		if got := ClientNet(a); got != want {
			t.Fatalf("ClientNet(%q) = %q, want %q", in, got, want)
		}
	}
	f("203.0.113.77", "203.0.113.0/24")
	f("::ffff:198.51.100.9", "198.51.100.0/24")
	f("2001:db8:abcd:1234::1", "2001:db8:abcd::/48")
	f("0.0.0.0", "0.0.0.0/24")
	f("", "")
}
