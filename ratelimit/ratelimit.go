// Package ratelimit counts events per key (a client network, an account
// name) in fixed windows, in memory and bounded, in a way that a stranger
// cannot flush: filling the table never resets a counter whose window is
// still open.
//
// Each node counts on its own, so behind a load balancer a limit is per
// node. That is fine for the limits it serves (sign-in, consent flooding),
// which bound what one source can do, not what the whole cluster admits.
package ratelimit

import (
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/sezim-analytics/sezim/pipeline/anon"
)

// Options configure a Limiter; zero values take the defaults.
type Options struct {
	// Limit is how many events a key may have in one window (default 10).
	Limit int
	// Window is the length of a key's window, which starts at the key's
	// first event and ends Window later (default 1 minute).
	Window time.Duration
	// MaxKeys bounds how many keys are counted one by one (default
	// 10,000). Memory is about 100 bytes plus the key per key.
	MaxKeys int
	// OverflowLimit is the limit of the shared bucket that new keys count
	// in while the table is full of live windows (default Limit).
	OverflowLimit int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Limiter counts events per key in fixed windows.
//
// When a new key arrives and the table is full, windows that have ended
// are dropped first. If every window is still open, the new key is counted
// in one shared overflow bucket with its own limit and window, instead of
// evicting a live counter. Evicting (the oldest, a random one) is what a
// stranger wants: flood the table with fresh keys and the counter that
// was about to block them starts again from zero. Refusing new keys
// outright would also keep the counters, but would turn every full table
// into a lockout of everyone new for as long as the flood lasts, even when
// it is no longer spending anything. The shared bucket is the middle: a
// flood gains at most OverflowLimit extra events per window in total (not
// per key), the table's memory stays fixed, and once the flood stops
// spending the bucket, newcomers get through again.
//
// The table is kept in window-start order, so dropping ended windows costs
// O(1) per key dropped, never a scan of the whole table per request.
type Limiter struct {
	o        Options
	mu       sync.Mutex
	m        map[string]*entry
	head     *entry // oldest window start
	tail     *entry // newest window start
	overflow entry
}

type entry struct {
	key        string
	start      time.Time
	n          int
	prev, next *entry
}

// Decision is what a Limiter says about one key.
type Decision struct {
	// Allowed is false once the key has used up its window's events.
	Allowed bool
	// Count is the number of events in the key's window so far (the
	// overflow bucket's, when Shared).
	Count int
	// Reset is when the window ends: the key's next event after it starts
	// a new window. Zero when the key has no open window.
	Reset time.Time
	// Shared reports that the key is counted in the overflow bucket.
	Shared bool
}

// RetryAfter is how long until the window ends, rounded up to whole
// seconds and at least one, for a Retry-After header.
func (d Decision) RetryAfter(now time.Time) time.Duration {
	w := d.Reset.Sub(now)
	if w < time.Second {
		return time.Second
	}
	return (w + time.Second - 1).Truncate(time.Second)
}

// New returns an empty Limiter.
func New(o Options) *Limiter {
	if o.Limit <= 0 {
		o.Limit = 10
	}
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 10_000
	}
	if o.OverflowLimit <= 0 {
		o.OverflowLimit = o.Limit
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Limiter{o: o, m: make(map[string]*entry)}
}

// Hit counts one event of key and reports whether it is within the limit.
// Events past the limit are counted too (a refused attempt is still an
// attempt), but they do not extend the window.
func (l *Limiter) Hit(key string) Decision {
	now := l.o.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e, limit := l.lookupLocked(key, now, true)
	if e.start.IsZero() || now.Sub(e.start) >= l.o.Window || now.Before(e.start.Add(-l.o.Window)) {
		// A new window: also when the clock went back by more than a
		// window, so a wrong clock cannot pin a key forever.
		e.start, e.n = now, 0
		l.moveToBackLocked(e)
	}
	if e.n < int(^uint(0)>>1) {
		e.n++
	}
	return l.decision(e, limit)
}

// Peek reports key's state without counting an event: whether its next
// event would be allowed. A key that is not in a full table is reported
// as the overflow bucket it would be counted in.
func (l *Limiter) Peek(key string) Decision {
	now := l.o.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e, limit := l.lookupLocked(key, now, false)
	if e == nil || e.start.IsZero() || now.Sub(e.start) >= l.o.Window {
		return Decision{Allowed: true, Shared: e == &l.overflow}
	}
	d := l.decision(e, limit)
	d.Allowed = e.n < limit
	return d
}

// Forget drops key's counter, e.g. after a successful sign-in. A key
// counted in the overflow bucket has no counter of its own: the bucket is
// left as it is.
func (l *Limiter) Forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.m[key]; e != nil {
		l.unlinkLocked(e)
		delete(l.m, key)
	}
}

// Len returns how many keys are counted one by one.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

func (l *Limiter) decision(e *entry, limit int) Decision {
	return Decision{Allowed: e.n <= limit, Count: e.n, Reset: e.start.Add(l.o.Window), Shared: e == &l.overflow}
}

// lookupLocked returns key's entry and its limit: its own, a new one when
// there is room (create), or the overflow bucket. Without create it
// returns nil for a key that would get a new entry.
func (l *Limiter) lookupLocked(key string, now time.Time, create bool) (*entry, int) {
	if e := l.m[key]; e != nil {
		return e, l.o.Limit
	}
	l.expireLocked(now)
	if len(l.m) >= l.o.MaxKeys {
		return &l.overflow, l.o.OverflowLimit
	}
	if !create {
		return nil, l.o.Limit
	}
	// The key is copied: callers may pass strings backed by memory that
	// is reused after the request (Fiber's).
	e := &entry{key: strings.Clone(key)}
	l.m[e.key] = e
	return e, l.o.Limit
}

// expireLocked drops the ended windows at the front of the order. An entry
// out of order (after the clock went back) only ends the sweep early; it
// is dropped when it reaches the front.
func (l *Limiter) expireLocked(now time.Time) {
	for e := l.head; e != nil && now.Sub(e.start) >= l.o.Window; e = l.head {
		l.unlinkLocked(e)
		delete(l.m, e.key)
	}
}

func (l *Limiter) moveToBackLocked(e *entry) {
	if e == &l.overflow {
		return
	}
	l.unlinkLocked(e)
	e.prev = l.tail
	if l.tail != nil {
		l.tail.next = e
	} else {
		l.head = e
	}
	l.tail = e
}

func (l *Limiter) unlinkLocked(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else if l.head == e {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else if l.tail == e {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// ClientNet is the key of a client's network: its IPv4 /24 or IPv6 /48
// (an IPv4-mapped address counts as IPv4), as "203.0.113.0/24" or
// "2001:db8:1::/48". One host rarely owns a whole /24, but a stranger
// easily owns many addresses of one network (an IPv6 /64 is one
// customer's), so limits per address would not limit anything. It is "" for
// the zero Addr.
func ClientNet(a netip.Addr) string {
	t := anon.TruncateIP(a)
	if !t.IsValid() {
		return ""
	}
	bits := 24
	if t.Is6() {
		bits = 48
	}
	return netip.PrefixFrom(t, bits).String()
}
