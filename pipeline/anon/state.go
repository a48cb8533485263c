package anon

import "time"

// StateDays lists the UTC days whose salts the state file at path holds,
// as written, without making or destroying any: the privacy report reads
// it to prove the salts' ages, and must not change what it measures. A
// missing or empty file holds no salts.
func StateDays(path string) ([]time.Time, error) {
	s := &Salts{path: path}
	if err := s.load(); err != nil {
		return nil, err
	}
	days := make([]time.Time, 0, len(s.salts))
	for i := range s.salts {
		days = append(days, s.salts[i].day)
		s.salts[i] = salt{} // the keys are not the report's business
	}
	return days, nil
}
