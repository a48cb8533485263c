package dashboards

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// APIOptions configure the stats API.
type APIOptions struct {
	Sites *site.Config
	Store store.Store
	Now   func() time.Time
}

// API serves /api/v1/stats/*.
type API struct {
	o APIOptions
	q *Querier
}

// NewAPI returns the stats API; Mount adds its routes to an app.
func NewAPI(o APIOptions) *API {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &API{o: o, q: NewQuerier(o.Store)}
}

// NewApp returns a Fiber app serving only the stats API, with JSON errors.
func (a *API) NewApp() *fiber.App {
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

// Mount adds the API's routes.
func (a *API) Mount(r fiber.Router) {
	g := r.Group("/api/v1/stats")
	g.Get("/aggregate", a.aggregate)
	g.Get("/timeseries", a.timeseries)
	g.Get("/breakdown", a.breakdown)
	g.Get("/realtime", a.realtime)
}

func badRequest(format string, args ...any) error {
	return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf(format, args...))
}

// common reads site, period and filter: every endpoint takes them.
func (a *API) common(c *fiber.Ctx) (*site.Site, Range, Filter, error) {
	id := c.Query("site")
	if id == "" {
		return nil, Range{}, Filter{}, badRequest("site is required")
	}
	s := a.o.Sites.Site(id)
	if s == nil {
		return nil, Range{}, Filter{}, fiber.NewError(fiber.StatusNotFound, "no such site")
	}
	r, err := ParsePeriod(c.Query("period", "30d"), c.Query("date"), c.Query("from"), c.Query("to"), a.o.Now().In(s.Location))
	if err != nil {
		return nil, Range{}, Filter{}, badRequest("%s", err.Error())
	}
	var f Filter
	if raw := c.Query("filter"); raw != "" {
		dim, value, ok := strings.Cut(raw, "==")
		if !ok || !validDim(dim) {
			return nil, Range{}, Filter{}, badRequest("filter must be DIMENSION==VALUE with a dimension of: %s", dimList())
		}
		f = Filter{Dim: dim, Value: value}
	}
	return s, r, f, nil
}

type rangeJSON struct {
	From string `json:"from"`
	To   string `json:"to"`
}

func rangeOut(r Range) rangeJSON { return rangeJSON{r.From.String(), r.To.String()} }

func (a *API) aggregate(c *fiber.Ctx) error {
	s, r, f, err := a.common(c)
	if err != nil {
		return err
	}
	m, err := a.q.Aggregate(c.UserContext(), s, r, f)
	if err != nil {
		return err
	}
	out := fiber.Map{"site": s.ID, "range": rangeOut(r), "results": m}
	if c.Query("compare") == "previous" {
		prev := r.Previous()
		pm, err := a.q.Aggregate(c.UserContext(), s, prev, f)
		if err != nil {
			return err
		}
		out["previous"] = fiber.Map{"range": rangeOut(prev), "results": pm}
	}
	return c.JSON(out)
}

func (a *API) timeseries(c *fiber.Ctx) error {
	s, r, f, err := a.common(c)
	if err != nil {
		return err
	}
	interval := c.Query("interval")
	if interval == "" {
		interval = "day"
		if r.From == r.To {
			interval = "hour"
		}
	}
	if interval != "hour" && interval != "day" {
		return badRequest("interval must be hour or day")
	}
	if interval == "hour" && r.To.Time().Sub(r.From.Time()) > 31*24*time.Hour {
		return badRequest("interval hour is limited to 31 days")
	}
	pts, err := a.q.Timeseries(c.UserContext(), s, r, interval == "hour", f)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"site": s.ID, "range": rangeOut(r), "interval": interval, "results": pts})
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
	if f.Dim != "" && f.Dim != dim {
		return badRequest("a breakdown can be filtered only by its own property for now")
	}
	limit := 100
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return badRequest("limit must be 1 to 1000")
		}
		limit = n
	}
	rows, err := a.q.Breakdown(c.UserContext(), s, r, dim, limit)
	if err != nil {
		return err
	}
	if f.Dim != "" {
		kept := rows[:0]
		for _, row := range rows {
			if row.Value == f.Value {
				kept = append(kept, row)
			}
		}
		rows = kept
	}
	if rows == nil {
		rows = []BreakdownRow{}
	}
	return c.JSON(fiber.Map{"site": s.ID, "range": rangeOut(r), "property": dim, "results": rows})
}

func (a *API) realtime(c *fiber.Ctx) error {
	id := c.Query("site")
	s := a.o.Sites.Site(id)
	if s == nil {
		return fiber.NewError(fiber.StatusNotFound, "no such site")
	}
	n, err := a.q.Realtime(c.UserContext(), s, a.o.Now())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"site": s.ID, "visitors": n})
}
