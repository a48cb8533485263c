package statistics

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// APIOptions configure the stats API.
type APIOptions struct {
	Sites *site.Config
	Store store.Store
	Now   func() time.Time
	// Updated is Options.Updated: when the aggregates were last brought up
	// to date; nil or a zero time: unknown.
	Updated func() time.Time
	// Audit records a change of the console's goals; nil: not recorded
	// (NewApp's tests).
	Audit func(ctx context.Context, e staff.AuditEntry) error
}

// API serves /api/v1/stats/*. Each handler answers only for a site the
// request's user (set by staff.Gate.Authenticate) may see.
type API struct {
	o APIOptions
	q *Querier
	// open serves every site without a user: NewApp only.
	open bool
}

// NewAPI returns the stats API; Mount adds its routes to an app.
func NewAPI(o APIOptions) *API {
	if o.Now == nil {
		o.Now = time.Now
	}
	q := NewQuerier(o.Store)
	q.now = o.Now
	return &API{o: o, q: q}
}

// NewApp returns a Fiber app serving only the stats API, with JSON errors
// and NO sign-in: every site is visible. It is for in-process tests and
// tools; `sezim serve` serves the API through dashboards.Server, behind sign-in.
func (a *API) NewApp() *fiber.App {
	a.open = true
	app := fiber.New(fiber.Config{
		AppName:               "sezim-api",
		DisableStartupMessage: true,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			code := fiber.StatusInternalServerError
			msg := "internal error"
			var fe *fiber.Error
			if errors.As(err, &fe) {
				code, msg = fe.Code, fe.Message
			}
			return c.Status(code).JSON(fiber.Map{"error": msg})
		},
	})
	a.Mount(app)
	return app
}

// Mount adds the API's routes, each behind the handlers mw (authentication).
func (a *API) Mount(r fiber.Router, mw ...fiber.Handler) {
	route := func(path string, h fiber.Handler) {
		r.Get("/api/v1/stats"+path, append(append([]fiber.Handler{}, mw...), h)...)
	}
	route("/aggregate", a.aggregate)
	route("/timeseries", a.timeseries)
	route("/breakdown", a.breakdown)
	route("/realtime", a.realtime)
	route("/realtime/detail", a.realtimeDetail)
	route("/funnels", a.funnels)
	route("/funnel", a.funnel)
	route("/goals", a.listGoals)
	r.Put("/api/v1/stats/goals", append(append([]fiber.Handler{}, mw...), a.putGoal)...)
	r.Delete("/api/v1/stats/goals", append(append([]fiber.Handler{}, mw...), a.deleteGoal)...)
}

// site returns the site named by the request's site parameter if the
// request may see it. A site it may not see is answered exactly like one
// that does not exist.
func (a *API) site(c *fiber.Ctx) (*site.Site, error) { return a.siteNamed(c, c.Query("site")) }

// siteNamed is site for an id read elsewhere (a JSON body).
func (a *API) siteNamed(c *fiber.Ctx, id string) (*site.Site, error) {
	if id == "" {
		return nil, badRequest("site is required")
	}
	s := a.o.Sites.Site(id)
	if s == nil {
		return nil, fiber.NewError(fiber.StatusNotFound, "no such site")
	}
	if a.open {
		return s, nil
	}
	u := staff.UserOf(c)
	if u == nil {
		return nil, fiber.NewError(fiber.StatusUnauthorized, "sign-in required")
	}
	if !u.CanSee(s.ID) {
		return nil, fiber.NewError(fiber.StatusNotFound, "no such site")
	}
	return s, nil
}

func badRequest(format string, args ...any) error {
	return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf(format, args...))
}

// common reads site, period and filters (repeated filter parameters,
// filters.go): every endpoint takes them.
func (a *API) common(c *fiber.Ctx) (*site.Site, Range, []Filter, error) {
	s, err := a.site(c)
	if err != nil {
		return nil, Range{}, nil, err
	}
	r, err := ParsePeriod(c.Query("period", "30d"), c.Query("date"), c.Query("from"), c.Query("to"), a.o.Now().In(s.Location))
	if err != nil {
		return nil, Range{}, nil, badRequest("%s", err.Error())
	}
	var raws []string
	for _, raw := range c.Context().QueryArgs().PeekMulti("filter") {
		raws = append(raws, string(raw))
	}
	fs, err := ParseFilters(raws)
	if err != nil {
		return nil, Range{}, nil, badRequest("%s", err.Error())
	}
	return s, r, fs, nil
}

// answerErr turns a question the aggregates cannot answer into a 400
// with its reason.
func answerErr(err error) error {
	if errors.Is(err, ErrFilterUnavailable) {
		return badRequest("%s", err.Error())
	}
	return err
}

type rangeJSON struct {
	From string `json:"from"`
	To   string `json:"to"`
}

func rangeOut(r Range) rangeJSON { return rangeJSON{r.From.String(), r.To.String()} }

// filterOut is the filters as answers echo them: "filter" is null, or
// {"property", "value"} for one "is" filter (as before several existed);
// "filters" lists every filter with its operator.
func filterOut(out fiber.Map, fs []Filter) fiber.Map {
	out["filter"] = nil
	if len(fs) == 1 && fs[0].Op == OpIs {
		out["filter"] = fiber.Map{"property": fs[0].Dim, "value": fs[0].Value}
	}
	list := make([]fiber.Map, len(fs))
	for i, f := range fs {
		list[i] = fiber.Map{"property": f.Dim, "op": f.Op.String(), "value": f.Value}
	}
	out["filters"] = list
	return out
}

func (a *API) aggregate(c *fiber.Ctx) error {
	s, r, f, err := a.common(c)
	if err != nil {
		return err
	}
	ranges := []Range{r}
	if c.Query("compare") == "previous" {
		ranges = append(ranges, r.Previous())
	}
	goal, err := a.goalOf(c, s)
	if err != nil {
		return err
	}
	ms, err := a.q.AggregatesOf(c.UserContext(), s, ranges, f)
	if err != nil {
		return answerErr(err)
	}
	results := make([]any, len(ms))
	for i := range ms {
		results[i] = ms[i]
	}
	if goal != "" {
		conv, err := a.goalAggregate(c.UserContext(), s, ranges, f, ms, goal)
		if err != nil {
			return answerErr(err)
		}
		for i := range conv {
			results[i] = conv[i]
		}
	}
	out := filterOut(fiber.Map{"site": s.ID, "range": rangeOut(r), "k": kOf(s), "results": results[0]}, f)
	if goal != "" {
		out["goal"] = goal
	}
	if len(ranges) > 1 {
		out["previous"] = fiber.Map{"range": rangeOut(ranges[1]), "results": results[1]}
	}
	return c.JSON(out)
}

func (a *API) timeseries(c *fiber.Ctx) error {
	s, r, f, err := a.common(c)
	if err != nil {
		return err
	}
	interval, err := ParseInterval(c.Query("interval"), r)
	if err != nil {
		return badRequest("%s", err.Error())
	}
	goal, err := a.goalOf(c, s)
	if err != nil {
		return err
	}
	// Under a filter, a goal's conversions are pair cells: daily.
	hf := f
	if gf, err := goalFilters(f, goal); goal != "" && err == nil {
		hf = gf
	}
	if c.Query("interval") == "" && interval == IntervalHour && !hoursAnswerable(hf) {
		interval = IntervalDay
	}
	pts, err := a.q.TimeseriesOf(c.UserContext(), s, r, interval, f)
	if err != nil {
		return answerErr(err)
	}
	if goal != "" {
		conv, err := a.goalSeries(c.UserContext(), s, r, interval, f, pts, goal)
		if err != nil {
			return answerErr(err)
		}
		return c.JSON(filterOut(fiber.Map{"site": s.ID, "range": rangeOut(r), "k": kOf(s), "goal": goal, "interval": interval, "results": conv}, f))
	}
	return c.JSON(filterOut(fiber.Map{"site": s.ID, "range": rangeOut(r), "k": kOf(s), "interval": interval, "results": pts}, f))
}

func (a *API) breakdown(c *fiber.Ctx) error {
	s, r, f, err := a.common(c)
	if err != nil {
		return err
	}
	dim := c.Query("property")
	if !validDim(dim) {
		return badRequest("property must be one of: %s", dimList())
	}
	limit := 100
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return badRequest("limit must be 1 to 1000")
		}
		limit = n
	}
	// Another property's filter: the breakdown over the visits that have
	// its value (pairs.go says what each number means, filters.go which
	// filters combine).
	b, err := a.q.BreakdownOf(c.UserContext(), s, r, dim, limit, f)
	if err != nil {
		return answerErr(err)
	}
	goal, err := a.goalOf(c, s)
	if err != nil {
		return err
	}
	format := c.Query("format", "json")
	if format != "json" && format != "csv" {
		return badRequest("format must be json or csv")
	}
	var conv *goalConversions
	if goal != "" {
		g, err := a.goalBreakdown(c.UserContext(), s, r, dim, limit, f, b, goal)
		if err != nil {
			return answerErr(err)
		}
		conv = &g
	}
	if format == "csv" {
		return writeCSV(c, s, r, dim, b, conv)
	}
	if goal != "" || dim == rollup.DimGoal {
		var out fiber.Map
		if conv != nil {
			out = conv.json(b)
		} else if out, err = a.goalRates(c.UserContext(), s, r, f, b); err != nil {
			return answerErr(err)
		}
		out["site"], out["range"], out["k"], out["property"] = s.ID, rangeOut(r), kOf(s), dim
		if goal != "" {
			out["goal"] = goal
		}
		return c.JSON(filterOut(out, f))
	}
	return c.JSON(filterOut(fiber.Map{"site": s.ID, "range": rangeOut(r), "k": kOf(s),
		"property": dim, "results": b.Rows, "other": b.Other, "total": b.Total}, f))
}

func (a *API) realtime(c *fiber.Ctx) error {
	s, err := a.site(c)
	if err != nil {
		return err
	}
	n, err := a.q.Realtime(c.UserContext(), s, a.o.Now())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"site": s.ID, "visitors": n, "updated_seconds_ago": a.updatedAgo()})
}

// updatedAgo is how many whole seconds ago the aggregates were brought up
// to date, or nil when that is not known. The realtime answer carries it
// because the page polls realtime: the "updated N s ago" beside it stays
// current without another request.
func (a *API) updatedAgo() any {
	if a.o.Updated == nil {
		return nil
	}
	t := a.o.Updated()
	if t.IsZero() {
		return nil
	}
	return int64(max(a.o.Now().Sub(t), 0) / time.Second)
}
