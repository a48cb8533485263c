package dashboards

import (
	"sync"
	"time"
)

// Sessions are the signed-in browsers, held in memory on the dashboards
// node that signed them in. A restart signs everyone out, and several
// dashboards nodes behind a load balancer need sticky routing (or a single
// dashboards node): the price of a first version with no session table.
// The cookie holds a random 256-bit token; the map is keyed by its SHA-256,
// so not even a heap dump hands out live cookies.
type Sessions struct {
	mu       sync.Mutex
	m        map[string]*session
	idle     time.Duration
	absolute time.Duration
	max      int
	now      func() time.Time
}

type session struct {
	user     string
	created  time.Time
	lastSeen time.Time
}

// SessionOptions configure Sessions; zero values take the defaults.
type SessionOptions struct {
	Idle     time.Duration // sign out after this long unused (default 2h)
	Absolute time.Duration // and after this long in any case (default 12h)
	Max      int           // sessions held at most; the oldest go first (default 10000)
	Now      func() time.Time
}

// NewSessions returns an empty session table.
func NewSessions(o SessionOptions) *Sessions {
	if o.Idle == 0 {
		o.Idle = 2 * time.Hour
	}
	if o.Absolute == 0 {
		o.Absolute = 12 * time.Hour
	}
	if o.Max == 0 {
		o.Max = 10_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Sessions{m: map[string]*session{}, idle: o.Idle, absolute: o.Absolute, max: o.Max, now: o.Now}
}

// New starts a session for user and returns its token, for the cookie.
func (s *Sessions) New(user string) string {
	raw := randomString(32)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		s.sweepLocked(now)
	}
	for len(s.m) >= s.max {
		var oldest string
		var at time.Time
		for k, v := range s.m {
			if oldest == "" || v.created.Before(at) {
				oldest, at = k, v.created
			}
		}
		delete(s.m, oldest)
	}
	s.m[tokenHash(raw)] = &session{user: user, created: now, lastSeen: now}
	return raw
}

// User returns the user of a live session and marks it used; ok is false
// for an unknown or expired token.
func (s *Sessions) User(raw string) (user string, ok bool) {
	if raw == "" {
		return "", false
	}
	key := tokenHash(raw)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.m[key]
	if v == nil {
		return "", false
	}
	if s.expired(v, now) {
		delete(s.m, key)
		return "", false
	}
	v.lastSeen = now
	return v.user, true
}

// Delete ends the session of raw; it returns the user it belonged to.
func (s *Sessions) Delete(raw string) (string, bool) {
	key := tokenHash(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.m[key]
	if v == nil {
		return "", false
	}
	delete(s.m, key)
	return v.user, true
}

// DeleteUser ends every session of user (a disabled account, a new password).
func (s *Sessions) DeleteUser(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.m {
		if v.user == user {
			delete(s.m, k)
		}
	}
}

// Len is the number of sessions held, expired ones included until swept.
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *Sessions) expired(v *session, now time.Time) bool {
	return now.Sub(v.lastSeen) > s.idle || now.Sub(v.created) > s.absolute
}

func (s *Sessions) sweepLocked(now time.Time) {
	for k, v := range s.m {
		if s.expired(v, now) {
			delete(s.m, k)
		}
	}
}
