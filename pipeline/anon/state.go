package anon

import (
	"slices"
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
