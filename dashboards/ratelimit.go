package dashboards

import (
	"sync"
	"time"
)

// limiter counts failed sign-ins per key (an account name, a client
// network) in fixed windows. It is in memory and bounded: past max keys the
// expired ones are swept, then the oldest dropped. Several dashboards nodes
// each count on their own, so the limit is per node.
type limiter struct {
	mu     sync.Mutex
	m      map[string]*window
	limit  int
	period time.Duration
	max    int
}

type window struct {
	start    time.Time
	failures int
}

func newLimiter(limit int, period time.Duration, max int) *limiter {
	return &limiter{m: map[string]*window{}, limit: limit, period: period, max: max}
}

// blocked reports whether key has used up its failures in the current
// window, and when it may try again.
func (l *limiter) blocked(key string, now time.Time) (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.m[key]
	if w == nil || now.Sub(w.start) >= l.period {
		return false, time.Time{}
	}
	return w.failures >= l.limit, w.start.Add(l.period)
}

// fail counts one failure of key.
func (l *limiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.m[key]
	if w == nil || now.Sub(w.start) >= l.period {
		if w == nil && len(l.m) >= l.max {
			l.evictLocked(now)
		}
		w = &window{start: now}
		l.m[key] = w
	}
	w.failures++
}

// reset forgets key (after a successful sign-in).
func (l *limiter) reset(key string) {
	l.mu.Lock()
	delete(l.m, key)
	l.mu.Unlock()
}

func (l *limiter) evictLocked(now time.Time) {
	for k, w := range l.m {
		if now.Sub(w.start) >= l.period {
			delete(l.m, k)
		}
	}
	for len(l.m) >= l.max {
		var oldest string
		var at time.Time
		for k, w := range l.m {
			if oldest == "" || w.start.Before(at) {
				oldest, at = k, w.start
			}
		}
		delete(l.m, oldest)
	}
}
