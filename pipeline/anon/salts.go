package anon

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
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
// mutex.
//
// The salts come from a one-way ratchet, so that several collectors share
// them without talking to each other and a destroyed salt stays destroyed:
//
//	seed(d+1) = SHA-256("sezim salt ratchet v1" ‖ 0 ‖ seed(d))
//	salt(d)   = HMAC-SHA-256(seed(d), "sezim daily salt v1" ‖ 0 ‖ "YYYY-MM-DD")[:16]
//
// A node keeps one seed: that of the oldest day whose salt is still alive
// (yesterday's, UTC). When that salt's 48 hours are over, the seed is
// replaced by the next one and the old one erased (the state file is
// rewritten). Every node started from the same state file (copied from a
// running node) derives the same salt for the same day, whatever its
// traffic; and nothing a node keeps afterwards recomputes an erased seed,
// since that would invert SHA-256, nor a salt from it, since the salt is
// keyed by the seed. The state file is written atomically (temp file,
// fsync, rename) with mode 0600. An empty path keeps the seed in memory
// only, random at start.
//
// A state file of the earlier format (one random key per day) is read: its
// salts keep serving their days until they expire, and the ratchet starts
// beside them.
type Salts struct {
	path    string
	current atomic.Pointer[salt]

	mu      sync.Mutex
	ratchet *ratchet // nil only before the first rotation
	legacy  []salt   // salts of the earlier format, until they expire
	salts   []salt   // every salt not yet destroyed, oldest first
}

// ratchet is the seed of one UTC day.
type ratchet struct {
	day  time.Time
	seed [32]byte
}

const (
	ratchetLabel = "sezim salt ratchet v1\x00"
	saltLabel    = "sezim daily salt v1\x00"
)

// next moves r to the following day, overwriting the seed.
func (r *ratchet) next() {
	h := sha256.New()
	h.Write([]byte(ratchetLabel))
	h.Write(r.seed[:])
	h.Sum(r.seed[:0])
	r.day = r.day.AddDate(0, 0, 1)
}

// salt is the salt of r's day.
func (r *ratchet) salt() salt {
	m := hmac.New(sha256.New, r.seed[:])
	m.Write([]byte(saltLabel))
	m.Write([]byte(r.day.Format(time.DateOnly)))
	sum := m.Sum(nil)
	return salt{day: r.day, k0: binary.LittleEndian.Uint64(sum[:8]), k1: binary.LittleEndian.Uint64(sum[8:16])}
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
	return cur.day, hashWith(*cur, site, ip, ua)
}

func hashWith(k salt, site string, ip netip.Addr, ua string) uint64 {
	// site ‖ 0 ‖ ip(16 bytes) ‖ ua: the separator and the fixed-width
	// address keep different inputs from producing the same byte string.
	var buf [512]byte
	b := append(buf[:0], site...)
	b = append(b, 0)
	ip16 := ip.As16()
	b = append(b, ip16[:]...)
	b = append(b, ua...)
	return siphash.Hash(k.k0, k.k1, b)
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
	changed := false
	kept := s.legacy[:0]
	for _, x := range s.legacy {
		if now.Before(x.day.Add(SaltLifetime)) && !x.day.After(today) {
			kept = append(kept, x)
		}
	}
	for i := len(kept); i < len(s.legacy); i++ {
		s.legacy[i] = salt{} // do not leave a destroyed key in the backing array
		changed = true
	}
	s.legacy = kept
	if s.ratchet == nil {
		r := &ratchet{day: today}
		if _, err := rand.Read(r.seed[:]); err != nil {
			return fmt.Errorf("cannot make a salt seed: %w", err)
		}
		s.ratchet, changed = r, true
	}
	// The oldest salt alive at now is yesterday's (made at its 00:00 UTC,
	// destroyed 48 hours later): the seed moves up to it, erasing the
	// older ones.
	oldest := today.Add(-(SaltLifetime - 24*time.Hour))
	for s.ratchet.day.Before(oldest) {
		s.ratchet.next()
		changed = true
	}
	salts := append([]salt(nil), s.legacy...)
	r := *s.ratchet
	for ; !r.day.After(today); r.next() {
		if !s.hasLegacy(r.day) {
			salts = append(salts, r.salt())
		}
	}
	r.seed = [32]byte{}
	sort.Slice(salts, func(i, j int) bool { return salts[i].day.Before(salts[j].day) })
	for i := range s.salts {
		s.salts[i] = salt{}
	}
	s.salts = salts
	var cur *salt
	for i := range s.salts {
		if s.salts[i].day.Equal(today) {
			c := s.salts[i]
			cur = &c
		}
	}
	if cur == nil {
		// Only when the ratchet's day is after today (a state file
		// from a node whose clock ran ahead): an extra salt for today,
		// kept in memory only.
		c := (&ratchet{day: today, seed: s.ratchet.seed}).salt()
		s.salts = append(s.salts, c)
		cur = &c
	}
	s.current.Store(cur)
	if !changed {
		return nil
	}
	return s.save()
}

func (s *Salts) hasLegacy(day time.Time) bool {
	for _, x := range s.legacy {
		if x.day.Equal(day) {
			return true
		}
	}
	return false
}

type stateFile struct {
	// Ratchet is the seed of the oldest live day (absent in the earlier
	// format).
	Ratchet *struct {
		Day  string `json:"day"`
		Seed string `json:"seed"`
	} `json:"ratchet,omitempty"`
	// Salts are the earlier format's random keys, until they expire.
	Salts []stateSalt `json:"salts,omitempty"`
}

type stateSalt struct {
	Day string `json:"day"`
	Key string `json:"key"`
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
		s.legacy = append(s.legacy, salt{day: d, k0: binary.LittleEndian.Uint64(k[:8]), k1: binary.LittleEndian.Uint64(k[8:])})
	}
	if st.Ratchet != nil {
		d, err1 := time.Parse(time.DateOnly, st.Ratchet.Day)
		seed, err2 := hex.DecodeString(st.Ratchet.Seed)
		if err1 != nil || err2 != nil || len(seed) != 32 {
			return fmt.Errorf("cannot parse salt state %q: bad seed for day %q", s.path, st.Ratchet.Day)
		}
		s.ratchet = &ratchet{day: d}
		copy(s.ratchet.seed[:], seed)
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
	for _, x := range s.legacy {
		var k [16]byte
		binary.LittleEndian.PutUint64(k[:8], x.k0)
		binary.LittleEndian.PutUint64(k[8:], x.k1)
		st.Salts = append(st.Salts, stateSalt{x.day.Format(time.DateOnly), hex.EncodeToString(k[:])})
	}
	if s.ratchet != nil {
		st.Ratchet = &struct {
			Day  string `json:"day"`
			Seed string `json:"seed"`
		}{s.ratchet.day.Format(time.DateOnly), hex.EncodeToString(s.ratchet.seed[:])}
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
