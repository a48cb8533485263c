package statistics

import (
	"errors"
	"fmt"
	"time"

	"github.com/sezim-analytics/sezim/store"
)

// maxRangeDays bounds a custom range.
const maxRangeDays = 3 * 366

// ParsePeriod turns the API's period parameters into a range of site-local
// days. now must be in the site's time zone. Periods: today (also "day",
// with an optional date), yesterday, 7d, 30d, 90d (each ending today),
// month (this calendar month, or the month of date), custom (from, to).
func ParsePeriod(period, date, from, to string, now time.Time) (Range, error) {
	today := store.DayOf(now)
	ref := now
	if date != "" {
		d, err := time.Parse(time.DateOnly, date)
		if err != nil {
			return Range{}, errors.New("date must be YYYY-MM-DD")
		}
		ref = d
	}
	refDay := store.DayOf(ref)
	back := func(days int) Range {
		start := time.Date(refDay.Year, refDay.Month, refDay.Day-days+1, 0, 0, 0, 0, time.UTC)
		return Range{From: store.DayOf(start), To: refDay}
	}
	switch period {
	case "today", "day":
		return Range{refDay, refDay}, nil
	case "yesterday":
		y := store.DayOf(time.Date(today.Year, today.Month, today.Day-1, 0, 0, 0, 0, time.UTC))
		return Range{y, y}, nil
	case "7d":
		return back(7), nil
	case "30d":
		return back(30), nil
	case "90d":
		return back(90), nil
	case "month":
		first := store.Day{Year: refDay.Year, Month: refDay.Month, Day: 1}
		last := store.DayOf(time.Date(refDay.Year, refDay.Month+1, 0, 0, 0, 0, 0, time.UTC))
		return Range{first, last}, nil
	case "custom":
		f, err1 := time.Parse(time.DateOnly, from)
		t, err2 := time.Parse(time.DateOnly, to)
		if err1 != nil || err2 != nil {
			return Range{}, errors.New("custom period needs from and to as YYYY-MM-DD")
		}
		if t.Before(f) {
			return Range{}, errors.New("to is before from")
		}
		if t.Sub(f) > maxRangeDays*24*time.Hour {
			return Range{}, fmt.Errorf("a range is at most %d days", maxRangeDays)
		}
		return Range{store.DayOf(f), store.DayOf(t)}, nil
	}
	return Range{}, errors.New("period must be today, yesterday, 7d, 30d, 90d, month or custom")
}

// Previous is the range of the same length just before r.
func (r Range) Previous() Range {
	days := int(r.To.Time().Sub(r.From.Time()).Hours()/24) + 1
	to := r.From.Time().AddDate(0, 0, -1)
	from := to.AddDate(0, 0, -(days - 1))
	return Range{store.DayOf(from), store.DayOf(to)}
}
