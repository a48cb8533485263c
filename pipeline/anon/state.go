package anon

import (
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strconv"
	"time"
)

// StateDays lists the UTC days, up to now's, whose salts the state file at
// path can give, as written, without making or destroying any: the privacy
// report reads it to prove the salts' ages, and must not change what it
// measures. Those are the earlier format's days, and every day from the
// ratchet's up to now's (its seed derives them all: a seed older than the
// salts' lifetime is a salt kept too long). A missing or empty file holds
// no salts.
func StateDays(path string, now time.Time) ([]time.Time, error) {
	s := &Salts{path: path}
	if err := s.load(); err != nil {
		return nil, err
	}
	days := make([]time.Time, 0, len(s.legacy)+2)
	for i := range s.legacy {
		days = append(days, s.legacy[i].day)
		s.legacy[i] = salt{} // the keys are not the report's business
	}
	if r := s.ratchet; r != nil {
		for d := r.day; !d.After(dayOf(now)); d = d.AddDate(0, 0, 1) {
			if !s.hasLegacy(d) {
				days = append(days, d)
			}
		}
		r.seed = [32]byte{}
	}
	slices.SortFunc(days, func(a, b time.Time) int { return a.Compare(b) })
	return days, nil
}

// StateSecrets lists what the state file at path holds that must never
// appear in stored data, as a scanner would look for it: the ratchet's seed
// and each salt it gives up to now's day (hex, and each salt's two 64-bit
// halves in decimal), and the earlier format's keys likewise.
func StateSecrets(path string, now time.Time) ([]string, error) {
	s := &Salts{path: path}
	if err := s.load(); err != nil {
		return nil, err
	}
	var out []string
	add := func(x salt) {
		var k [16]byte
		binary.LittleEndian.PutUint64(k[:8], x.k0)
		binary.LittleEndian.PutUint64(k[8:], x.k1)
		out = append(out, hex.EncodeToString(k[:]), strconv.FormatUint(x.k0, 10), strconv.FormatUint(x.k1, 10))
	}
	for _, x := range s.legacy {
		add(x)
	}
	if r := s.ratchet; r != nil {
		out = append(out, hex.EncodeToString(r.seed[:]))
		for c := *r; !c.day.After(dayOf(now)); c.next() {
			add(c.salt())
		}
	}
	return out, nil
}
