package staff

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sezim-analytics/sezim/store"
)

// Sessions are the signed-in browsers. The cookie holds a random 256-bit
// token; sessions are keyed by its SHA-256, so neither a heap dump nor the
// table hands out live cookies.
//
// With a Store (as serve runs it), every session is a row of
// sezim_staff.staff_sessions, so any dashboards node serves any
// signed-in user and a restart signs no one out. Each node keeps the
// sessions it has seen in memory and asks the table again when its copy is
// older than Recheck (default 30 s): a sign-out on one node ends the
// session on every node within that time. The time of last use is written
// back at most every Touch (default 5 minutes), which is the precision of
// the idle timeout across nodes. Without a Store (tests), the table is in
// memory only.
type Sessions struct {
	mu       sync.Mutex
	m        map[string]*session
	idle     time.Duration
	absolute time.Duration
	max      int
	touch    time.Duration
	recheck  time.Duration
	now      func() time.Time
	st       store.Store
}

type session struct {
	user     string
	created  time.Time
	lastSeen time.Time
	stored   time.Time // lastSeen as the table has it
	checked  time.Time // when this copy was last read from the table
}

// SessionOptions configure Sessions; zero values take the defaults.
type SessionOptions struct {
	Idle     time.Duration // sign out after this long unused (default 2h)
	Absolute time.Duration // and after this long in any case (default 12h)
	Max      int           // sessions held in memory at most; the oldest go first (default 10000)
	Touch    time.Duration // write the time of last use back at most this often (default 5m)
	Recheck  time.Duration // read a held session from the table again after this long (default 30s)
	Now      func() time.Time
	// Store keeps the sessions in the staff database; nil keeps
	// them in this process only.
	Store store.Store
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
	if o.Touch == 0 {
		o.Touch = 5 * time.Minute
	}
	if o.Recheck == 0 {
		o.Recheck = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Sessions{m: map[string]*session{}, idle: o.Idle, absolute: o.Absolute, max: o.Max,
		touch: o.Touch, recheck: o.Recheck, now: o.Now, st: o.Store}
}

var sessionCols = []string{"token_hash", "user", "created", "last_seen", "ended", "version"}

// write stores one version of a session's row.
func (s *Sessions) write(ctx context.Context, key string, v *session, ended bool) error {
	if s.st == nil {
		return nil
	}
	end := uint8(0)
	if ended {
		end = 1
	}
	row := []any{key, v.user, v.created.UTC(), v.lastSeen.UTC(), end, uint64(s.now().UnixNano())}
	if err := s.st.Insert(ctx, s.st.DB().Staff+".staff_sessions", sessionCols, [][]any{row}); err != nil {
		return fmt.Errorf("cannot store a session of %s: %w", v.user, err)
	}
	return nil
}

// read returns the table's row of key; nil when it has none or the
// session ended.
func (s *Sessions) read(ctx context.Context, key string) (*session, error) {
	q := fmt.Sprintf("SELECT user, toUInt32(created), toUInt32(last_seen), ended FROM %s.staff_sessions FINAL WHERE token_hash = %s",
		s.st.DB().Staff, store.Quote(key))
	var v *session
	err := s.st.Query(ctx, q, func(r store.Row) error {
		if r.Uint64(3) != 0 {
			return nil
		}
		seen := time.Unix(int64(r.Uint64(2)), 0).UTC()
		v = &session{user: r.String(0), created: time.Unix(int64(r.Uint64(1)), 0).UTC(), lastSeen: seen, stored: seen}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read a session: %w", err)
	}
	return v, nil
}

// New starts a session for user and returns its token, for the cookie.
func (s *Sessions) New(ctx context.Context, user string) (string, error) {
	raw := randomString(32)
	key := tokenHash(raw)
	now := s.now()
	v := &session{user: user, created: now, lastSeen: now, stored: now, checked: now}
	if err := s.write(ctx, key, v, false); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holdLocked(key, v, now)
	return raw, nil
}

// holdLocked keeps v in memory, making room first.
func (s *Sessions) holdLocked(key string, v *session, now time.Time) {
	if len(s.m) >= s.max {
		s.sweepLocked(now)
	}
	for len(s.m) >= s.max {
		var oldest string
		var at time.Time
		for k, x := range s.m {
			if oldest == "" || x.created.Before(at) {
				oldest, at = k, x.created
			}
		}
		delete(s.m, oldest)
	}
	s.m[key] = v
}

// User returns the user of a live session and marks it used; ok is false
// for an unknown, ended or expired token. err is set only when the table
// could not be read.
func (s *Sessions) User(ctx context.Context, raw string) (user string, ok bool, err error) {
	if raw == "" {
		return "", false, nil
	}
	key := tokenHash(raw)
	now := s.now()
	s.mu.Lock()
	v := s.m[key]
	fresh := v != nil && (s.st == nil || now.Sub(v.checked) < s.recheck)
	s.mu.Unlock()
	if !fresh {
		if s.st == nil {
			return "", false, nil
		}
		got, err := s.read(ctx, key)
		if err != nil {
			return "", false, err
		}
		s.mu.Lock()
		if got == nil {
			delete(s.m, key)
			s.mu.Unlock()
			return "", false, nil
		}
		if v != nil && v.lastSeen.After(got.lastSeen) {
			got.lastSeen = v.lastSeen // used here since it was last written
		}
		got.checked = now
		v = got
		s.holdLocked(key, v, now)
		s.mu.Unlock()
	}
	s.mu.Lock()
	if s.expired(v, now) {
		delete(s.m, key)
		s.mu.Unlock()
		return "", false, nil
	}
	v.lastSeen = now
	var write *session
	if s.st != nil && now.Sub(v.stored) >= s.touch {
		v.stored = now
		c := *v
		write = &c
	}
	s.mu.Unlock()
	if write != nil {
		if err := s.write(ctx, key, write, false); err != nil {
			return "", false, err
		}
	}
	return v.user, true, nil
}

// Delete ends the session of raw, here and in the table; it returns the
// user it belonged to.
func (s *Sessions) Delete(ctx context.Context, raw string) (string, bool, error) {
	key := tokenHash(raw)
	s.mu.Lock()
	v := s.m[key]
	delete(s.m, key)
	s.mu.Unlock()
	if v == nil && s.st != nil {
		var err error
		if v, err = s.read(ctx, key); err != nil {
			return "", false, err
		}
	}
	if v == nil {
		return "", false, nil
	}
	if err := s.write(ctx, key, v, true); err != nil {
		return v.user, true, err
	}
	return v.user, true, nil
}

// SweepSessions drops the session table's partitions (days of sign-in,
// UTC) older than any session can be at now: sessions live 12 hours at
// most (SessionOptions.Absolute), and a day is kept beyond that. serve runs
// it with the store's owner (dropping a partition is DDL, which the
// dashboards' own ClickHouse user may not do).
func SweepSessions(ctx context.Context, st store.Store, now time.Time) error {
	cutoff := now.Add(-12*time.Hour - 24*time.Hour).UTC()
	// Partitions are named YYYYMMDD (migration 017): they sort as text.
	q := fmt.Sprintf(`SELECT DISTINCT partition FROM system.parts WHERE database = %s AND table = 'staff_sessions' AND active
 AND partition < %s`, store.Quote(st.DB().Staff), store.Quote(cutoff.Format("20060102")))
	var parts []string
	if err := st.Query(ctx, q, func(r store.Row) error { parts = append(parts, r.String(0)); return nil }); err != nil {
		return fmt.Errorf("cannot list old sessions: %w", err)
	}
	for _, p := range parts {
		if err := st.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.staff_sessions DROP PARTITION %s", st.DB().Staff, p)); err != nil {
			return fmt.Errorf("cannot drop old sessions (%s): %w", p, err)
		}
	}
	return nil
}

// Len is the number of sessions held in memory, expired ones included
// until swept.
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
