package statistics

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sezim-analytics/sezim/site"
)

// Chart intervals. An hour is read from agg_hourly, a day from agg_daily;
// a week (Monday to Sunday in the site's time zone: days are site-local
// already) or a month is the sum of its days in the range, so the first
// and last buckets may be partial, and a bucket's date is its first day in
// the range. A bucket is a cell like any other: its visitors are the sum
// of its days' visitors (as for any range), and a filtered chart protects
// its buckets as protectSeries does. Differencing a week with its days is
// differencing overlapping ranges, which k-suppression does not prevent
// (suppress.go); in the protective mode every bucket is a sum of published
// days.

// The intervals a chart can have.
const (
	IntervalHour  = "hour"
	IntervalDay   = "day"
	IntervalWeek  = "week"
	IntervalMonth = "month"
)

// Which interval a range allows: hours for up to maxHourDays days (a
// week of hours is 168 points), weeks from minWeekDays and months from
// minMonthDays (fewer would be one or two partial buckets).
const (
	maxHourDays  = 7
	minWeekDays  = 14
	minMonthDays = 28
)

// ParseInterval checks interval (empty: hour for one day, else day)
// against the length of r.
func ParseInterval(interval string, r Range) (string, error) {
	days := r.days()
	if interval == "" {
		if days == 1 {
			return IntervalHour, nil
		}
		return IntervalDay, nil
	}
	switch interval {
	case IntervalDay:
	case IntervalHour:
		if days > maxHourDays {
			return "", fmt.Errorf("interval hour is limited to %d days", maxHourDays)
		}
	case IntervalWeek:
		if days < minWeekDays {
			return "", fmt.Errorf("interval week needs a range of at least %d days", minWeekDays)
		}
	case IntervalMonth:
		if days < minMonthDays {
			return "", fmt.Errorf("interval month needs a range of at least %d days", minMonthDays)
		}
	default:
		return "", errors.New("interval must be hour, day, week or month")
	}
	return interval, nil
}

// days is the number of days in r.
func (r Range) days() int { return int(r.To.Time().Sub(r.From.Time()).Hours()/24) + 1 }

// bounds are the instants r starts and ends at in s's time zone.
func (r Range) bounds(s *site.Site) (from, to time.Time) {
	return time.Date(r.From.Year, r.From.Month, r.From.Day, 0, 0, 0, 0, s.Location),
		time.Date(r.To.Year, r.To.Month, r.To.Day+1, 0, 0, 0, 0, s.Location)
}

// bucketOf returns the key of the week or month a date (YYYY-MM-DD) is in:
// its Monday or its first day; for hours and days the date itself.
func bucketOf(interval string) func(date string) string {
	return func(date string) string {
		d, err := time.Parse(time.DateOnly, date)
		if err != nil {
			return date
		}
		switch interval {
		case IntervalWeek:
			return d.AddDate(0, 0, -(int(d.Weekday())+6)%7).Format(time.DateOnly)
		case IntervalMonth:
			return d.Format("2006-01") + "-01"
		}
		return date
	}
}

// bucketPoints sums daily points (in order) into weeks or months, each
// dated by its first day in the range.
func bucketPoints(pts []Point, interval string) []Point {
	if interval != IntervalWeek && interval != IntervalMonth {
		return pts
	}
	key := bucketOf(interval)
	var out []Point
	last := ""
	for _, p := range pts {
		if k := key(p.Date); k != last || len(out) == 0 {
			last = k
			out = append(out, Point{Date: p.Date})
		}
		out[len(out)-1].add(p.Metrics)
	}
	for i := range out {
		out[i].derive()
	}
	return out
}

// TimeseriesOf is Timeseries at any interval (ParseInterval's) under any
// filters (filters.go says which it answers).
func (q *Querier) TimeseriesOf(ctx context.Context, s *site.Site, r Range, interval string, fs []Filter) ([]Point, error) {
	p, err := planTop(fs)
	if err != nil {
		return nil, err
	}
	hourly := interval == IntervalHour
	var f Filter
	if p.one != nil {
		f = *p.one
	}
	pts, err := q.series(ctx, s, r, hourly, f)
	if err != nil {
		return nil, err
	}
	pts = bucketPoints(pts, interval)
	k := kOf(s)
	switch {
	case p.values != nil:
		key := bucketOf(interval)
		if hourly {
			key = func(t string) string {
				n, _ := strconv.ParseInt(t, 10, 64)
				return time.Unix(n, 0).In(s.Location).Format(time.RFC3339)
			}
		}
		cells, err := q.valueCells(ctx, s, r, hourly, *p.values, key)
		if err != nil {
			return nil, err
		}
		inv := make([]cellSum, len(pts))
		for i := range pts {
			c := cells[dateKey(pts[i].Date, interval, key)]
			inv[i] = c
			if p.values.positive {
				pts[i].Metrics = c.m
			} else {
				pts[i].sub(c.m)
			}
			pts[i].derive()
		}
		protectDerived(pts, inv, k)
	case p.isPair:
		if hourly {
			return nil, unavailable("two filters together are kept per day: choose day, week or month")
		}
		a, err := p.pairDays(ctx, q, s, r)
		if err != nil {
			return nil, err
		}
		if a.uncertain > 0 && interval != IntervalDay {
			return nil, unavailable("%s and %s together had fewer than %d visitors on %d day(s) of this period, and such days are kept only inside a remainder: choose day", p.pair[0].Dim, p.pair[1].Dim, k, a.uncertain)
		}
		daily := make([]Point, 0, r.days())
		for d := r.From.Time(); !d.After(r.To.Time()); d = d.AddDate(0, 0, 1) {
			date := d.Format(time.DateOnly)
			daily = append(daily, Point{Date: date, Metrics: a.byDay[date]})
		}
		pts = bucketPoints(daily, interval)
		inv := make([]cellSum, len(pts))
		for i := range pts {
			pts[i].derive()
			inv[i] = cellSum{m: pts[i].Metrics, hidden: a.unsure[pts[i].Date]}
		}
		protectDerived(pts, inv, k)
	case p.one != nil:
		protectSeries(pts, k)
	}
	coarsenPoints(pts, k)
	return pts, nil
}

// dateKey is the key valueCells gave the bucket of a point's date.
func dateKey(date, interval string, key func(string) string) string {
	if interval == IntervalHour {
		return date
	}
	return key(date)
}
