package statistics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/reqbody"
	"github.com/sezim-analytics/sezim/site"
)

// Conversions: goal=<name> on aggregate, timeseries and breakdown.
//
// A goal's conversions in a cell are the cell's visitors who reached the
// goal (the rollup's goal dimension, pipeline/rollup/goals.go): the top
// line and the chart read agg_daily's and agg_hourly's (goal, name) rows,
// a breakdown reads the pair cells (goal=name) × (property, value) like a
// filtered breakdown. Each is published and suppressed under k like any
// other cell, and the conversion rate is 100 × conversions / visitors of
// the same cell, both published numbers: a rate is shown only where both
// are. In a breakdown, a value missing from the goal's cells converted
// nobody when none of them was folded (0); when some were folded into
// "(other)" it shows null, as it may be among them.

// conversion is what goal=<name> adds to a row.
type conversion struct {
	conversions *uint64
	rate        *float64
}

// convert is the conversion of conv visitors out of all, both published
// cells: nil numbers when either is suppressed or missing.
func convert(conv, all *Metrics) conversion {
	if conv == nil || all == nil || conv.Suppressed || all.Suppressed {
		return conversion{}
	}
	n := conv.Visitors
	c := conversion{conversions: &n}
	if all.Visitors > 0 {
		r := round2(100 * float64(n) / float64(all.Visitors))
		c.rate = &r
	} else if n == 0 {
		zero := 0.0
		c.rate = &zero
	}
	return c
}

// withConversion is a value marshalled with "conversions" and
// "conversion_rate" added to its JSON object.
type withConversion struct {
	v any
	c conversion
}

// MarshalJSON writes v's object with the two fields appended.
func (w withConversion) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(w.v)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimRight(b, " \n")
	if len(b) < 2 || b[len(b)-1] != '}' {
		return nil, fmt.Errorf("cannot add conversions to a %T", w.v)
	}
	extra, err := json.Marshal(struct {
		Conversions *uint64  `json:"conversions"`
		Rate        *float64 `json:"conversion_rate"`
	}{w.c.conversions, w.c.rate})
	if err != nil {
		return nil, err
	}
	sep := ","
	if len(b) == 2 {
		sep = ""
	}
	out := append(b[:len(b)-1:len(b)-1], sep...)
	return append(out, extra[1:]...), nil
}

// goalOf reads the goal parameter: "" when absent, else a goal of the
// site (400 otherwise). A goal does not combine with a filter yet.
func (a *API) goalOf(c *fiber.Ctx, s *site.Site, fs []Filter) (string, error) {
	name := c.Query("goal")
	if name == "" {
		return "", nil
	}
	if len(fs) > 0 {
		return "", badRequest("goal cannot be combined with filter")
	}
	gs, err := rollup.Goals(c.UserContext(), a.o.Store, s)
	if err != nil {
		return "", err
	}
	for _, g := range gs {
		if g.Name == name {
			return name, nil
		}
	}
	return "", badRequest("no such goal")
}

func goalFilter(name string) Filter { return Filter{Dim: rollup.DimGoal, Value: name} }

// goalAggregate is aggregate's answer with conversions.
func (a *API) goalAggregate(ctx context.Context, s *site.Site, ranges []Range, ms []Metrics, goal string) ([]withConversion, error) {
	conv, err := a.q.Aggregates(ctx, s, ranges, goalFilter(goal))
	if err != nil {
		return nil, err
	}
	out := make([]withConversion, len(ms))
	for i := range ms {
		out[i] = withConversion{ms[i], convert(&conv[i], &ms[i])}
	}
	return out, nil
}

// goalSeries is timeseries's answer with conversions per point.
func (a *API) goalSeries(ctx context.Context, s *site.Site, r Range, interval string, pts []Point, goal string) ([]withConversion, error) {
	conv, err := a.q.TimeseriesOf(ctx, s, r, interval, []Filter{goalFilter(goal)})
	if err != nil {
		return nil, err
	}
	out := make([]withConversion, len(pts))
	for i := range pts {
		var c *Metrics
		if i < len(conv) && conv[i].Date == pts[i].Date {
			c = &conv[i].Metrics
		}
		out[i] = withConversion{pts[i], convert(c, &pts[i].Metrics)}
	}
	return out, nil
}

// goalBreakdown adds conversions to b, a breakdown of dim: the goal's
// filtered breakdown of dim, matched by value.
func (a *API) goalBreakdown(ctx context.Context, s *site.Site, r Range, dim string, limit int, b Breakdown, goal string) (fiber.Map, error) {
	var conv Breakdown
	var err error
	if dim == rollup.DimGoal {
		// The goal's own row is its conversions.
		conv, err = a.q.Breakdown(ctx, s, r, dim, limit, &goal)
	} else {
		conv, err = a.q.FilteredBreakdown(ctx, s, r, dim, max(limit, 1000), goalFilter(goal))
	}
	if err != nil {
		return nil, err
	}
	byValue := map[string]*Metrics{}
	for i := range conv.Rows {
		byValue[conv.Rows[i].Value] = &conv.Rows[i].Metrics
	}
	// When nothing of the goal's breakdown was folded, a value missing
	// from it converted nobody.
	var none *Metrics
	if conv.Other == nil {
		none = &Metrics{}
	}
	rows := make([]withConversion, len(b.Rows))
	for i := range b.Rows {
		c := byValue[b.Rows[i].Value]
		if c == nil {
			c = none
		}
		rows[i] = withConversion{b.Rows[i], convert(c, &b.Rows[i].Metrics)}
	}
	out := fiber.Map{"results": rows, "total": withConversion{b.Total, convert(&conv.Total, &b.Total)}}
	if b.Other != nil {
		out["other"] = withConversion{*b.Other, conversion{}}
	} else {
		out["other"] = nil
	}
	return out, nil
}

// goalRates adds to a breakdown of the goal dimension each goal's
// conversion rate over the site's visitors in the range: the goals panel.
func (a *API) goalRates(ctx context.Context, s *site.Site, r Range, b Breakdown) (fiber.Map, error) {
	all, err := a.q.Aggregate(ctx, s, r, Filter{})
	if err != nil {
		return nil, err
	}
	rows := make([]withConversion, len(b.Rows))
	for i := range b.Rows {
		rows[i] = withConversion{b.Rows[i], convert(&b.Rows[i].Metrics, &all)}
	}
	out := fiber.Map{"results": rows, "total": b.Total, "other": nil}
	if b.Other != nil {
		out["other"] = b.Other
	}
	return out, nil
}

// goalJSON is a goal as the goals endpoint lists it.
type goalJSON struct {
	site.Goal
	// Source is "file" (the site file; read-only here) or "console".
	Source string `json:"source"`
}

// listGoals answers GET /api/v1/stats/goals?site=: the site's goals and
// the property keys it keeps (the dashboard's Properties panel).
func (a *API) listGoals(c *fiber.Ctx) error {
	s, err := a.site(c)
	if err != nil {
		return err
	}
	gs, err := rollup.Goals(c.UserContext(), a.o.Store, s)
	if err != nil {
		return err
	}
	fromFile := map[string]bool{}
	for _, g := range s.Goals {
		fromFile[g.Name] = true
	}
	out := make([]goalJSON, len(gs))
	for i, g := range gs {
		out[i] = goalJSON{g, "console"}
		if fromFile[g.Name] {
			out[i].Source = "file"
		}
	}
	props := s.Properties
	if props == nil {
		props = []string{}
	}
	return c.JSON(fiber.Map{"site": s.ID, "goals": out, "properties": props})
}

// goalBody is the JSON of PUT /api/v1/stats/goals.
type goalBody struct {
	Site string `json:"site"`
	site.Goal
}

// putGoal answers PUT /api/v1/stats/goals (admin): add or change a console
// goal. The site file's goals are not changed here.
func (a *API) putGoal(c *fiber.Ctx) error {
	var b goalBody
	body, err := reqbody.Read(c, reqbody.Limit{Max: 4 << 10}, nil)
	if err != nil {
		status, why := reqbody.Refusal(err)
		return fiber.NewError(status, why)
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return badRequest("body must be JSON: {site, name, event | page}")
	}
	return a.writeGoal(c, b.Site, b.Goal, false)
}

// deleteGoal answers DELETE /api/v1/stats/goals?site=&name= (admin).
func (a *API) deleteGoal(c *fiber.Ctx) error {
	return a.writeGoal(c, c.Query("site"), site.Goal{Name: c.Query("name")}, true)
}

// writeGoal stores a console goal's new version and audits it.
func (a *API) writeGoal(c *fiber.Ctx, siteID string, g site.Goal, deleted bool) error {
	s, err := a.siteNamed(c, siteID)
	if err != nil {
		return err
	}
	u := staff.UserOf(c)
	if !a.open && (u == nil || u.Role != staff.RoleAdmin) {
		return fiber.NewError(fiber.StatusForbidden, "admin role required")
	}
	if g.Name == "" {
		return badRequest("name is required")
	}
	if !deleted {
		if why := g.Check(); why != "" {
			return badRequest("%s", why)
		}
	}
	for _, fg := range s.Goals {
		if fg.Name == g.Name {
			return fiber.NewError(fiber.StatusConflict, "goal is defined in the site file")
		}
	}
	ctx := c.UserContext()
	if !deleted {
		gs, err := rollup.Goals(ctx, a.o.Store, s)
		if err != nil {
			return err
		}
		n := len(gs)
		for _, old := range gs {
			if old.Name == g.Name {
				n--
			}
		}
		if n >= site.MaxGoals {
			return badRequest("at most %d goals per site", site.MaxGoals)
		}
	}
	del := uint8(0)
	if deleted {
		del = 1
	}
	row := []any{s.ID, g.Name, g.Event, g.Page, del, uint64(a.o.Now().UnixNano())}
	if err := a.o.Store.Insert(ctx, a.o.Store.DB().Stats+".goals", []string{"site", "name", "event", "page", "deleted", "version"}, [][]any{row}); err != nil {
		return fmt.Errorf("cannot write goal of site %q: %w", s.ID, err)
	}
	if a.o.Audit != nil {
		actor := ""
		if u != nil {
			actor = u.Name
		}
		detail := "set " + g.Name
		if deleted {
			detail = "removed " + g.Name
		}
		if err := a.o.Audit(ctx, staff.AuditEntry{Time: a.o.Now().UTC().Truncate(time.Second), Actor: actor,
			Action: staff.AuditConfigChanged, Target: "goals:" + s.ID, Outcome: "ok", Detail: detail}); err != nil {
			return err
		}
	}
	return c.JSON(fiber.Map{"site": s.ID, "goal": g, "deleted": deleted})
}
