package rollup

// Goals: conversions counted in the aggregation.
//
// A visit reaches a goal when one of its events is the goal's custom event
// or a page view whose path matches the goal's pattern. Such a visit adds
// the value (goal, name) to the values it contains, like a page or an event
// name it contains (visitsSQL's vals, the accumulator's last loop): so
// agg_daily's (goal, name) row counts the distinct visitors of the day who
// converted and their converting visits, and the goal is a pair filter, so
// that (goal=name) × (source, value) is "converted visitors from that
// source", read like any filtered breakdown. The conversion rate is that
// count over the same cell's visitors, made by the dashboards.
//
// Goals come from the site file and from the console (the goals table of
// the stats database); both are read at the start of every run. A change
// of goals makes the next run of every open salt day recompute it whole:
// days whose raw events are gone keep the numbers of the goals they had.

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// DimGoal is the dimension of conversions: value is a goal's name.
const DimGoal = "goal"

// Goals returns a site's goals: the site file's, then the console's whose
// names the file does not use.
func Goals(ctx context.Context, st store.Store, s *site.Site) ([]site.Goal, error) {
	var extra []site.Goal
	q := fmt.Sprintf("SELECT name, event, page FROM %s.goals FINAL WHERE site = %s AND deleted = 0 ORDER BY name",
		st.DB().Stats, store.Quote(s.ID))
	err := st.Query(ctx, q, func(row store.Row) error {
		extra = append(extra, site.Goal{Name: row.String(0), Event: row.String(1), Page: row.String(2)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the goals of site %q: %w", s.ID, err)
	}
	return site.MergeGoals(s.Goals, extra), nil
}

// loadGoals reads a site's goals for this run. When they differ from the
// ones the last run used, the states this Rollup wrote for the site are
// forgotten, so that every open salt day is recomputed whole with the new
// goals rather than continued incrementally from numbers made with the old.
func (r *Rollup) loadGoals(ctx context.Context, s *site.Site) ([]site.Goal, error) {
	gs, err := Goals(ctx, r.st, s)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	for _, g := range gs {
		fmt.Fprintf(h, "%q %q %q\n", g.Name, g.Event, g.Page)
	}
	fp := string(h.Sum(nil))
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.goalPrint[s.ID]; ok && old != fp {
		for k := range r.mine {
			if k.site == s.ID {
				delete(r.mine, k)
			}
		}
	}
	r.goalPrint[s.ID] = fp
	r.goals[s.ID] = gs
	return gs, nil
}

// goalsOf returns the goals loadGoals read for a site.
func (r *Rollup) goalsOf(s *site.Site) []site.Goal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.goals[s.ID]
}

// goalValsSQL is the array of (goal, name) values a visit reaches, over its
// events' kinds ek and values ev (visitsSQL); "" without goals.
func goalValsSQL(gs []site.Goal) string {
	if len(gs) == 0 {
		return ""
	}
	items := make([]string, len(gs))
	for i, g := range gs {
		cond := fmt.Sprintf("arrayExists((k, v) -> k != 1 AND v = %s, ek, ev)", store.Quote(g.Event))
		if g.Page != "" {
			cond = fmt.Sprintf("arrayExists((k, v) -> k = 1 AND match(v, %s), ek, ev)", store.Quote(g.PagePattern()))
		}
		items[i] = fmt.Sprintf("('%s', if(%s, %s, ''))", DimGoal, cond, store.Quote(g.Name))
	}
	return fmt.Sprintf("arrayFilter(g -> g.2 != '', [%s])", strings.Join(items, ", "))
}

// goalMatcher is the Go path's twin of goalValsSQL.
type goalMatcher struct {
	name  string
	match func(pageview bool, value string) bool
}

func goalMatchers(gs []site.Goal) []goalMatcher {
	out := make([]goalMatcher, len(gs))
	for i, g := range gs {
		out[i] = goalMatcher{g.Name, g.Matcher()}
	}
	return out
}

// reached returns the names of the goals a visit reaches.
func reached(ms []goalMatcher, evs []event.Event) []string {
	var out []string
	for _, m := range ms {
		for i := range evs {
			ev := &evs[i]
			pv := ev.Kind == event.KindPageview
			v := ev.Path
			if !pv {
				v = ev.Name
			}
			if m.match(pv, v) {
				out = append(out, m.name)
				break
			}
		}
	}
	return out
}

// addGoalsTop gives every goal pair rows on a finished day: goals are few
// and chosen by the site, so they need no ranking.
func addGoalsTop(top map[dimValue]bool, gs []site.Goal) map[dimValue]bool {
	if top == nil {
		top = map[dimValue]bool{}
	}
	for _, g := range gs {
		top[dimValue{DimGoal, g.Name}] = true
	}
	return top
}
