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
	"github.com/sezim-analytics/sezim/store"
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
//
// Under filters (filters.go says what each filter answers), conversions
// are answered where stored cells hold them exactly:
//
//   - top line and chart under one "is" filter F: visitors are F's cell,
//     conversions the pair cell of F and the goal (either orientation, as
//     two "is" filters read it: daily, and refused over a span that needs
//     a day on which the pair was below k and folded into a remainder);
//     under the goal's own filter every visitor converted. Where F's
//     property has one value per visit, the goal's conversions minus
//     those under each value leave the goal's folded remainder, so while
//     that remainder is 0 < n < k over a span (the range, a point of the
//     chart) no value's conversions are shown for it (goalRemainder);
//   - a breakdown of D under filters on D only: D's passing rows with
//     their conversions; the total's conversions are the rows' when none
//     of them is folded or unknown, else null;
//   - the goals panel under one "is" filter: the pair cells of F and each
//     goal over F's visitors;
//   - anything else (a breakdown of D under a filter on another property,
//     is not or contains, two filters) needs visits counted by three
//     properties, or differences of folded cells: 400 with the reason.
//
// Each number is a published cell suppressed and rounded as filters.go
// and suppress.go say, so goal against no goal under a filter shows no
// cell that either hides.

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
// site (400 otherwise). Which filters it combines with is checked where
// the conversions are read (goalFilters, goalBreakdown).
func (a *API) goalOf(c *fiber.Ctx, s *site.Site) (string, error) {
	name := c.Query("goal")
	if name == "" {
		return "", nil
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

// goalFilters are the filters whose answer is the conversions of the top
// line or chart under fs: the goal alone, the goal's own filter, or the
// pair of one "is" filter and the goal. Anything more would count visits
// by three properties, or subtract pair cells that are folded when small.
func goalFilters(fs []Filter, goal string) ([]Filter, error) {
	g := goalFilter(goal)
	switch {
	case len(fs) == 0 || len(fs) == 1 && fs[0] == g:
		return []Filter{g}, nil
	case len(fs) == 1 && fs[0].Op == OpIs:
		return []Filter{fs[0], g}, nil
	}
	return nil, unavailable("conversions can be shown under one is filter only: under more filters, is not or contains they would need visits counted by three properties together, or differences of cells that are folded when small")
}

// goalAggregate is aggregate's answer with conversions: under fs, the pair
// cell of fs's filter and the goal (see goalFilters).
func (a *API) goalAggregate(ctx context.Context, s *site.Site, ranges []Range, fs []Filter, ms []Metrics, goal string) ([]withConversion, error) {
	gf, err := goalFilters(fs, goal)
	if err != nil {
		return nil, err
	}
	conv, err := a.q.AggregatesOf(ctx, s, ranges, gf)
	if err != nil {
		return nil, err
	}
	for i, r := range ranges {
		rest, err := a.q.goalRemainder(ctx, s, r, gf)
		if err != nil {
			return nil, err
		}
		var sum uint64
		for _, v := range rest {
			sum += v
		}
		hideUnder(&conv[i], sum, kOf(s))
	}
	out := make([]withConversion, len(ms))
	for i := range ms {
		out[i] = withConversion{ms[i], convert(&conv[i], &ms[i])}
	}
	return out, nil
}

// goalSeries is timeseries's answer with conversions per point.
func (a *API) goalSeries(ctx context.Context, s *site.Site, r Range, interval string, fs []Filter, pts []Point, goal string) ([]withConversion, error) {
	gf, err := goalFilters(fs, goal)
	if err != nil {
		return nil, err
	}
	conv, err := a.q.TimeseriesOf(ctx, s, r, interval, gf)
	if err != nil {
		return nil, err
	}
	rest, err := a.q.goalRemainder(ctx, s, r, gf)
	if err != nil {
		return nil, err
	}
	byBucket := map[string]uint64{}
	for day, v := range rest {
		byBucket[bucketOf(interval)(day)] += v
	}
	for i := range conv {
		hideUnder(&conv[i].Metrics, byBucket[bucketOf(interval)(conv[i].Date)], kOf(s))
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

// goalRemainder is, per day (YYYY-MM-DD) of r, the visitors of the goal's
// pair cells of the filter's property that are folded into the remainder
// (below k on their day), when gf is one per-visit filter and the goal:
// nil otherwise. Every visitor of the goal has one value of such a
// property, so the goal's conversions minus those shown under each of its
// values is this remainder; while it holds 0 < n < k visitors no value's
// conversions are shown (hideUnder), as a breakdown's "(other)" is never
// left below k.
func (q *Querier) goalRemainder(ctx context.Context, s *site.Site, r Range, gf []Filter) (map[string]uint64, error) {
	if len(gf) != 2 || !perVisit(gf[0].Dim) || gf[0].Dim == rollup.DimGoal || kOf(s) <= 1 {
		return nil, nil
	}
	q.prepare(ctx)
	k, g := kOf(s), gf[1]
	// An open salt day's cells are stored unfolded: fold them here, per
	// stored cell, as FilteredBreakdown does.
	sql := fmt.Sprintf("SELECT toString(day) AS t, toUInt64(sum(if(value = '' OR visitors < %d, visitors, 0))) FROM %s GROUP BY t", k,
		q.pairCells(fmt.Sprintf("site = %s AND fdim = %s AND fvalue = %s AND dim = %s AND day >= %s AND day <= %s",
			store.Quote(s.ID), store.Quote(g.Dim), store.Quote(g.Value), store.Quote(gf[0].Dim), store.Quote(r.From.String()), store.Quote(r.To.String()))))
	out := map[string]uint64{}
	err := q.st.Query(ctx, sql, func(row store.Row) error {
		out[row.String(0)] = row.Uint64(1)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot query the folded conversions of site %q by %s: %w", s.ID, gf[0].Dim, err)
	}
	return out, nil
}

// hideUnder suppresses m when rest, the remainder its span leaves (see
// goalRemainder), is below k but not 0.
func hideUnder(m *Metrics, rest uint64, k int) {
	if rest > 0 && rest < uint64(k) {
		m.Suppressed, m.K = true, k
	}
}

// goalConversions are a breakdown's conversions, line by line as b has
// them: rows, "(other)" (never known: its values are not named) and the
// total. JSON and CSV write the same ones.
type goalConversions struct {
	rows         []conversion
	other, total conversion
}

// goalBreakdown returns the conversions of b, a breakdown of dim under
// fs: the goal's filtered breakdown of dim, matched by value. Filters on
// dim only select its rows; the goal's own filter is b itself; a filter
// on another property is refused (three properties together).
func (a *API) goalBreakdown(ctx context.Context, s *site.Site, r Range, dim string, limit int, fs []Filter, b Breakdown, goal string) (goalConversions, error) {
	var own bool
	var others []Filter
	for _, f := range fs {
		if f.Dim == dim {
			own = true
		} else {
			others = append(others, f)
		}
	}
	var conv Breakdown
	var err error
	switch {
	case len(others) == 1 && others[0] == goalFilter(goal) && dim != rollup.DimGoal:
		// Under the goal itself every visitor of b converted.
		conv = b
	case len(others) > 0:
		return goalConversions{}, unavailable("a breakdown of %s under a filter of %s cannot show conversions: it would need visits counted by three properties together (%s, %s and the goal); remove the filter or the goal", dim, others[0].Dim, dim, others[0].Dim)
	case dim == rollup.DimGoal:
		// The goal's own row is its conversions.
		conv, err = a.q.Breakdown(ctx, s, r, dim, limit, &goal)
	default:
		conv, err = a.q.FilteredBreakdown(ctx, s, r, dim, max(limit, 1000), goalFilter(goal))
	}
	if err != nil {
		return goalConversions{}, err
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
	out := goalConversions{rows: make([]conversion, len(b.Rows))}
	var sum Metrics
	known := b.Other == nil
	for i := range b.Rows {
		c := byValue[b.Rows[i].Value]
		if c == nil {
			c = none
		}
		out.rows[i] = convert(c, &b.Rows[i].Metrics)
		if n := out.rows[i].conversions; n != nil {
			sum.Visitors += *n
		} else {
			known = false
		}
	}
	switch {
	case !own:
		out.total = convert(&conv.Total, &b.Total)
	case known:
		// Under filters on dim the total is the passing rows: its
		// conversions are theirs, each published, when none is folded.
		out.total = convert(&sum, &b.Total)
	}
	return out, nil
}

// json is the breakdown's JSON answer with the conversions.
func (g goalConversions) json(b Breakdown) fiber.Map {
	rows := make([]withConversion, len(b.Rows))
	for i := range b.Rows {
		rows[i] = withConversion{b.Rows[i], g.rows[i]}
	}
	out := fiber.Map{"results": rows, "total": withConversion{b.Total, g.total}, "other": nil}
	if b.Other != nil {
		out["other"] = withConversion{*b.Other, g.other}
	}
	return out
}

// goalRates adds to a breakdown of the goal dimension each goal's
// conversion rate over the visitors in the range under fs's filters on
// other properties (the site's visitors without them): the goals panel.
func (a *API) goalRates(ctx context.Context, s *site.Site, r Range, fs []Filter, b Breakdown) (fiber.Map, error) {
	var others []Filter
	for _, f := range fs {
		if f.Dim != rollup.DimGoal {
			others = append(others, f)
		}
	}
	ms, err := a.q.AggregatesOf(ctx, s, []Range{r}, others)
	if err != nil {
		return nil, err
	}
	all := ms[0]
	if len(others) == 1 {
		// Each goal's row under a filter is a pair cell: hidden, with the
		// total that would give it back, while the goal's remainder by
		// the filter's property is small (goalRemainder).
		k := kOf(s)
		for i := range b.Rows {
			rest, err := a.q.goalRemainder(ctx, s, r, []Filter{others[0], goalFilter(b.Rows[i].Value)})
			if err != nil {
				return nil, err
			}
			var sum uint64
			for _, v := range rest {
				sum += v
			}
			if sum > 0 && sum < uint64(k) {
				b.Rows[i].Metrics = Metrics{Suppressed: true, K: k}
				b.Total = Metrics{Suppressed: true, K: k}
			}
		}
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
