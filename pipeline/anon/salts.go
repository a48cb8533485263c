package anon

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dchest/siphash"
)

// SaltLifetime is how long a salt exists after it is made at 00:00 UTC.
const SaltLifetime = 48 * time.Hour

// salt is one day's SipHash key.
type salt struct {
	day    time.Time // 00:00 UTC of the day it serves
	k0, k1 uint64
}

// Salts holds the daily salts. Hash is lock-free on the hot path: the
// current salt sits behind an atomic pointer and only a day change takes the
// mutex. Salts are random and live in memory; when a state file is set they
// are also written there so a restart keeps counting the same visitors, and
// the file is rewritten without a salt once it is destroyed.
//
// Each collector instance makes its own salts. Several collectors behind a
// load balancer therefore count a visitor once only if the balancer sends a
// visitor's network (/24 or /48) to the same instance; see the README.
type Salts struct {
	path    string
	current atomic.Pointer[salt]

	mu    sync.Mutex
	salts []salt // every salt not yet destroyed, oldest first
}

// NewSalts loads the salts from the state file at path (if it exists and is
// not empty) and drops those older than SaltLifetime at now. An empty path
// keeps salts in memory only.
func NewSalts(path string, now time.Time) (*Salts, error) {
	s := &Salts{path: path}
	if path != "" {
		if err := s.load(); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.rotateLocked(now); err != nil {
		return nil, err
	}
	return s, nil
}

// Hash returns the visitor hash of (site, truncated IP, user agent) under the
// salt of now's UTC day, and that day. ip must already be truncated.
func (s *Salts) Hash(now time.Time, site string, ip netip.Addr, ua string) (day time.Time, h uint64) {
	cur := s.current.Load()
	if d := dayOf(now); !cur.day.Equal(d) {
		cur = s.rotate(now)
	}
	// site ‖ 0 ‖ ip(16 bytes) ‖ ua: the separator and the fixed-width
	// address keep different inputs from producing the same byte string.
	var buf [512]byte
	b := append(buf[:0], site...)
	b = append(b, 0)
	ip16 := ip.As16()
	b = append(b, ip16[:]...)
	b = append(b, ua...)
	return cur.day, siphash.Hash(cur.k0, cur.k1, b)
}

// Rotate makes the salt of now's day if it is missing and destroys every salt
// older than SaltLifetime. It returns the UTC days whose salts it destroyed.
// The retention job calls it; Hash calls it too when the day has changed.
func (s *Salts) Rotate(now time.Time) (destroyed []time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before := make([]time.Time, 0, len(s.salts))
	for _, x := range s.salts {
		before = append(before, x.day)
	}
	if err := s.rotateLocked(now); err != nil {
		return nil, err
	}
	for _, d := range before {
		if !s.has(d) {
			destroyed = append(destroyed, d)
		}
	}
	return destroyed, nil
}

// Days lists the UTC days whose salts still exist, oldest first.
func (s *Salts) Days() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]time.Time, 0, len(s.salts))
	for _, x := range s.salts {
		out = append(out, x.day)
	}
	return out
}

func (s *Salts) rotate(now time.Time) *salt {
	s.mu.Lock()
	defer s.mu.Unlock()
	// An error here means the state file could not be written; the salt is
	// in memory all the same, and a restart would only start a new salt,
	// which splits a visitor in two for that day. The retention job's
	// Rotate reports the error.
	_ = s.rotateLocked(now)
	return s.current.Load()
}

func (s *Salts) has(day time.Time) bool {
	for _, x := range s.salts {
		if x.day.Equal(day) {
			return true
		}
	}
	return false
}

func (s *Salts) rotateLocked(now time.Time) error {
	today := dayOf(now)
	kept := s.salts[:0]
	for _, x := range s.salts {
		if now.Before(x.day.Add(SaltLifetime)) && !x.day.After(today) {
			kept = append(kept, x)
		}
	}
	for i := len(kept); i < len(s.salts); i++ {
		s.salts[i] = salt{} // do not leave a destroyed key in the backing array
	}
	s.salts = kept
	var cur *salt
	for i := range s.salts {
		if s.salts[i].day.Equal(today) {
			c := s.salts[i]
			cur = &c
		}
	}
	changed := len(kept) != len(s.salts)
	if cur == nil {
		var key [16]byte
		if _, err := rand.Read(key[:]); err != nil {
			return fmt.Errorf("cannot make a salt: %w", err)
		}
		c := salt{day: today, k0: binary.LittleEndian.Uint64(key[:8]), k1: binary.LittleEndian.Uint64(key[8:])}
		s.salts = append(s.salts, c)
		cur = &c
		changed = true
	}
	s.current.Store(cur)
	if !changed {
		return nil
	}
	return s.save()
}

type stateFile struct {
	Salts []struct {
		Day string `json:"day"`
		Key string `json:"key"`
	} `json:"salts"`
}

func (s *Salts) load() error {
	data, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(data) == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read salt state %q: %w", s.path, err)
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("cannot parse salt state %q: %w", s.path, err)
	}
	for _, x := range st.Salts {
		d, err1 := time.Parse(time.DateOnly, x.Day)
		k, err2 := hex.DecodeString(x.Key)
		if err1 != nil || err2 != nil || len(k) != 16 {
			return fmt.Errorf("cannot parse salt state %q: bad entry for day %q", s.path, x.Day)
		}
		s.salts = append(s.salts, salt{day: d, k0: binary.LittleEndian.Uint64(k[:8]), k1: binary.LittleEndian.Uint64(k[8:])})
	}
	return nil
}

// save writes the state file atomically (temp file, fsync, rename), so a
// crash never leaves a half-written file and a destroyed salt is not kept
// in an old copy.
func (s *Salts) save() error {
	if s.path == "" {
		return nil
	}
	var st stateFile
	for _, x := range s.salts {
		var k [16]byte
		binary.LittleEndian.PutUint64(k[:8], x.k0)
		binary.LittleEndian.PutUint64(k[8:], x.k1)
		st.Salts = append(st.Salts, struct {
			Day string `json:"day"`
			Key string `json:"key"`
		}{x.day.Format(time.DateOnly), hex.EncodeToString(k[:])})
	}
	data, _ := json.Marshal(st)
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".salts-*")
	if err != nil {
		return fmt.Errorf("cannot write salt state %q: %w", s.path, err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.path)
	}
	if err != nil {
		return fmt.Errorf("cannot write salt state %q: %w", s.path, err)
	}
	return nil
}

func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
