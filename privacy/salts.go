package privacy

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/store"
)

// checkSalts proves the salts' ages and that the salts and the raw
// partitions agree. A salt lives at most anon.SaltLifetime (48 h) from
// 00:00 UTC of its day; the raw events of a salt day (stats events,
// partition salt_day) hold visitor hashes made with it, so they may exist
// only while the salt does (plus Grace, the retention job's interval,
// which drops them after their last rollup), and while they exist their
// salt must too (else a restart lost it and the day counts visitors twice).
func checkSalts(ctx context.Context, o Options, now time.Time) ([]Outcome, error) {
	age := Outcome{Name: CheckSaltAge, What: "no salt older than 48 hours", OK: true, Evidence: []string{}}
	agree := Outcome{Name: CheckSaltPartitions, What: "every raw salt_day partition has its salt; none outlives it by more than the retention interval", OK: true, Evidence: []string{}}
	parts, err := rawPartitions(ctx, o.Store)
	if err != nil {
		return nil, err
	}
	if o.SaltDays == nil {
		age.OK, agree.OK = false, false
		age.Evidence = append(age.Evidence, "the salts are not available to this report (give the data folder)")
		agree.Evidence = append(agree.Evidence, "the salts are not available to this report", fmt.Sprintf("%d raw partitions", len(parts)))
		return []Outcome{age, agree}, nil
	}
	days, err := o.SaltDays()
	if err != nil {
		age.OK, agree.OK = false, false
		age.Evidence = append(age.Evidence, "cannot read the salts: "+err.Error())
		agree.Evidence = append(agree.Evidence, "cannot read the salts")
		return []Outcome{age, agree}, nil
	}
	salted := map[time.Time]bool{}
	for _, d := range days {
		d = d.UTC()
		salted[d] = true
		a := now.Sub(d)
		line := fmt.Sprintf("salt of %s: %s old", d.Format(time.DateOnly), a.Truncate(time.Minute))
		if a >= anon.SaltLifetime {
			age.OK = false
			line += " (older than 48h)"
		}
		age.Evidence = append(age.Evidence, line)
	}
	if len(days) == 0 {
		age.Evidence = append(age.Evidence, "no salts held")
	}
	all := map[time.Time]bool{}
	for d := range salted {
		all[d] = true
	}
	for d := range parts {
		all[d] = true
	}
	order := make([]time.Time, 0, len(all))
	for d := range all {
		order = append(order, d)
	}
	sort.Slice(order, func(i, j int) bool { return order[i].Before(order[j]) })
	for _, d := range order {
		a := now.Sub(d)
		name := d.Format(time.DateOnly)
		switch {
		case parts[d] && salted[d]:
			agree.Evidence = append(agree.Evidence, name+": raw partition and salt")
		case parts[d] && a >= anon.SaltLifetime+o.Grace:
			agree.OK = false
			agree.Evidence = append(agree.Evidence, fmt.Sprintf("%s: raw partition outlives its salt by %s", name, (a-anon.SaltLifetime).Truncate(time.Minute)))
		case parts[d] && a >= anon.SaltLifetime:
			agree.Evidence = append(agree.Evidence, name+": raw partition awaiting the retention job (salt destroyed)")
		case parts[d]:
			agree.OK = false
			agree.Evidence = append(agree.Evidence, name+": raw partition without its salt (lost before its 48 hours)")
		case a >= anon.SaltLifetime:
			agree.OK = false
			agree.Evidence = append(agree.Evidence, name+": salt outlives its day's raw events and its 48 hours")
		default:
			agree.Evidence = append(agree.Evidence, name+": salt, no raw events yet")
		}
	}
	return []Outcome{age, agree}, nil
}

// rawPartitions lists the salt days that have raw events.
func rawPartitions(ctx context.Context, st store.Store) (map[time.Time]bool, error) {
	out := map[time.Time]bool{}
	q := "SELECT DISTINCT toString(salt_day) FROM " + st.DB().Stats + ".events"
	err := st.Query(ctx, q, func(r store.Row) error {
		d, err := time.Parse(time.DateOnly, r.String(0))
		if err != nil {
			return err
		}
		out[d] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list the salt days of the raw events: %w", err)
	}
	return out, nil
}
