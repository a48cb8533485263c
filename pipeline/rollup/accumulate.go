package rollup

import (
	"strconv"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

type granularity uint8

const (
	hourly granularity = iota
	daily
)

// aggKey addresses one aggregate row of one granularity; period is the
// unix time of the hour's start, or of the site-local day's date at 00:00 UTC.
type aggKey struct {
	period int64
	dim    string
	value  string
}

type counts struct {
	visitors, visits, pageviews, bounces, duration, events uint64
	// lastVisitor makes "visitors" a distinct count without a set: all
	// events of one visitor are processed together, so a key is touched by
	// a new visitor exactly when lastVisitor differs.
	lastVisitor uint64
}

// accumulator sessionises one visitor's events at a time and adds them to
// the counts of every key they touch.
type accumulator struct {
	site   *site.Site
	byGran [2]map[aggKey]*counts
	seq    uint64 // visitor sequence number, starting at 1
	cur    []event.Event
	events int

	// sess holds the daily counts of the visit being added; mergeSession
	// adds them to byGran[daily] and, for every filter value the visit has
	// that is in top, to pairs (see pairs.go).
	sess  map[aggKey]*counts
	top   map[dimValue]bool   // the filter values that get pair rows
	pairs map[pairKey]*counts // nil: no pair rows
	// allPairs gives every value of every pair filter dimension pair rows,
	// not only those in top (an open salt day, see Options).
	allPairs bool
	// goals are the site's goals (goals.go).
	goals []goalMatcher
}

func newAccumulator(s *site.Site) *accumulator {
	return &accumulator{site: s, byGran: [2]map[aggKey]*counts{{}, {}}, sess: map[aggKey]*counts{}}
}

// add takes the events ordered by (visitor, time).
func (a *accumulator) add(e event.Event) {
	a.events++
	if len(a.cur) > 0 && a.cur[0].Visitor != e.Visitor {
		a.flushVisitor()
	}
	a.cur = append(a.cur, e)
}

func (a *accumulator) flushVisitor() {
	if len(a.cur) == 0 {
		return
	}
	a.seq++
	start := 0
	for i := 1; i <= len(a.cur); i++ {
		if i == len(a.cur) || a.cur[i].Time.Sub(a.cur[i-1].Time) > SessionTimeout {
			a.session(a.cur[start:i])
			a.mergeSession()
			start = i
		}
	}
	a.cur = a.cur[:0]
}

// get returns the counts a visit adds to: the visit's own daily counts
// (merged when it ends), or the hourly row itself.
func (a *accumulator) get(g granularity, period int64, dim, value string) *counts {
	k := aggKey{period, dim, value}
	if g == daily {
		c := a.sess[k]
		if c == nil {
			c = &counts{}
			a.sess[k] = c
		}
		return c
	}
	c := a.byGran[g][k]
	if c == nil {
		c = &counts{}
		a.byGran[g][k] = c
	}
	if c.lastVisitor != a.seq {
		c.lastVisitor = a.seq
		c.visitors++
	}
	return c
}

func (a *accumulator) periodsOf(ev *event.Event) [2]int64 {
	loc := a.site.Location
	return [2]int64{
		a.site.HourStart(ev.Time).Unix(),
		store.DayOf(ev.Time.In(loc)).Time().Unix(),
	}
}

// session adds one visit. Visits, bounces and duration count in the period
// the visit started; pageviews and events in the period they happened; a
// visitor counts once in every period and value they touched.
func (a *accumulator) session(evs []event.Event) {
	first := &evs[0]
	for i := range evs {
		if evs[i].Kind == event.KindPageview {
			first = &evs[i]
			break
		}
	}
	var last *event.Event
	pageviews, customs := 0, 0
	for i := range evs {
		if evs[i].Kind == event.KindPageview {
			last = &evs[i]
			pageviews++
		} else {
			customs++
		}
	}
	entry, exit := "", ""
	if first.Kind == event.KindPageview {
		entry = first.Path
	}
	if last != nil {
		exit = last.Path
	}
	bounce := uint64(0)
	if pageviews <= 1 && customs == 0 {
		bounce = 1
	}
	duration := uint64(evs[len(evs)-1].Time.Sub(evs[0].Time).Seconds())
	version := ""
	if first.Browser != "" && first.BrowserVersion > 0 {
		version = first.Browser + " " + strconv.Itoa(int(first.BrowserVersion))
	}
	// The session-level dimensions: one value per visit, from its first page.
	sess := [...]struct{ dim, value string }{
		{DimTotal, ""},
		{DimEntryPage, entry},
		{DimExitPage, exit},
		{DimSource, first.RefHost},
		{DimChannel, first.Channel},
		{DimUTMSource, first.UTMSource},
		{DimUTMMedium, first.UTMMedium},
		{DimUTMCampaign, first.UTMCampaign},
		{DimUTMContent, first.UTMContent},
		{DimUTMTerm, first.UTMTerm},
		{DimCountry, first.Country},
		{DimRegion, first.Region},
		{DimBrowser, first.Browser},
		{DimBrowserVersion, version},
		{DimOS, first.OS},
		{DimDevice, first.Device},
		{DimScreen, first.Screen},
		{DimLanguage, first.Language},
	}
	startP := a.periodsOf(&evs[0])
	for g := range 2 {
		for _, d := range sess {
			if d.dim != DimTotal && d.value == "" {
				continue
			}
			c := a.get(granularity(g), startP[g], d.dim, d.value)
			c.visits++
			c.bounces += bounce
			c.duration += duration
		}
	}
	for i := range evs {
		ev := &evs[i]
		p := a.periodsOf(ev)
		for g := range 2 {
			gr := granularity(g)
			for _, d := range sess {
				if d.dim != DimTotal && d.value == "" {
					continue
				}
				// Entry and exit pages count their visits, not every
				// pageview of the visit.
				if d.dim == DimEntryPage || d.dim == DimExitPage {
					continue
				}
				c := a.get(gr, p[g], d.dim, d.value)
				if ev.Kind == event.KindPageview {
					c.pageviews++
				} else {
					c.events++
				}
			}
			if ev.Kind == event.KindPageview {
				c := a.get(gr, p[g], DimPage, ev.Path)
				c.pageviews++
				// Time on page: until the visit's next event; the last
				// page of a visit adds nothing, as no later event says
				// when it was left.
				if i+1 < len(evs) {
					c.duration += uint64(evs[i+1].Time.Sub(ev.Time).Seconds())
				}
			} else if ev.Name != "" {
				a.get(gr, p[g], DimEvent, ev.Name).events++
			}
		}
	}
	// A page or event name counts each visit that contains it once.
	for g := range 2 {
		seen := map[aggKey]bool{}
		for i := range evs {
			ev := &evs[i]
			dim, val := DimPage, ev.Path
			if ev.Kind != event.KindPageview {
				dim, val = DimEvent, ev.Name
				if val == "" {
					continue
				}
			}
			k := aggKey{startP[g], dim, val}
			if seen[k] {
				continue
			}
			seen[k] = true
			c := a.get(granularity(g), startP[g], dim, val)
			c.visits++
			if dim == DimPage && bounce == 1 {
				c.bounces++
			}
		}
		// A goal the visit reaches counts it once, like a page it
		// contains.
		for _, name := range reached(a.goals, evs) {
			a.get(granularity(g), startP[g], DimGoal, name).visits++
		}
	}
	if len(a.site.Properties) > 0 {
		a.addProps(evs, startP)
	}
}
