package statistics

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// Funnels over a range, from the rollup's funnel counts
// (pipeline/rollup/funnels.go): per step, the visits that went through
// steps 1 to it in order and their visitors (daily distinct, summed over
// days like every visitor count), the conversion from the previous step and
// from step 1, and the drop-off from the previous step.
//
// Disclosure. A step is a cell: its visitors are a subset of the site's,
// so it follows the site's mode.
//
//   - cellkey: each stored (day, funnel, step) cell is published with the
//     noise its cell key fixes, as every other cell, and a range adds the
//     published cells up. The noise of two steps is independent, so a later
//     step could come out above an earlier one: it is shown as at most the
//     step before (a function of published numbers, which reveals nothing
//     more), so that conversions stay rates.
//   - exact: a step of fewer than k visitors is suppressed, and so is every
//     later step: a later step is a subset of it, and showing it would let
//     a reader subtract. The drop-off between two shown steps is a cell too
//     (the visitors who reached one and not the next, as a difference), so
//     a step whose drop-off from the previous one is 1 to k-1 visitors is
//     suppressed with every later step as well.

// FunnelStep is one step of a funnel answer. Numbers are null when the
// step is suppressed.
type FunnelStep struct {
	Step int `json:"step"`
	// Kind is "page" or "event", Label the page (or pattern) or the event.
	Kind  string `json:"kind"`
	Label string `json:"label"`
	// Visitors and Visits reached this step.
	Visitors uint64 `json:"visitors"`
	Visits   uint64 `json:"visits"`
	// Conversion from the previous step and from step 1 (percent of
	// visits; 100 for step 1 when it has visits).
	FromPrevious float64 `json:"conversion_from_previous"`
	FromFirst    float64 `json:"conversion_from_first"`
	// Dropoff is the visits of the previous step that did not reach this
	// one (0 for step 1), DropoffRate that as a percent of them.
	Dropoff     uint64  `json:"dropoff"`
	DropoffRate float64 `json:"dropoff_rate"`
	Suppressed  bool    `json:"suppressed"`
	K           int     `json:"k,omitempty"`
}

// MarshalJSON writes the step, with null numbers when it is suppressed.
func (f FunnelStep) MarshalJSON() ([]byte, error) {
	type plain FunnelStep
	if !f.Suppressed {
		return json.Marshal(plain(f))
	}
	return json.Marshal(struct {
		Step         int    `json:"step"`
		Kind         string `json:"kind"`
		Label        string `json:"label"`
		Visitors     *int   `json:"visitors"`
		Visits       *int   `json:"visits"`
		FromPrevious *int   `json:"conversion_from_previous"`
		FromFirst    *int   `json:"conversion_from_first"`
		Dropoff      *int   `json:"dropoff"`
		DropoffRate  *int   `json:"dropoff_rate"`
		Suppressed   bool   `json:"suppressed"`
		K            int    `json:"k"`
	}{Step: f.Step, Kind: f.Kind, Label: f.Label, Suppressed: true, K: f.K})
}

// Funnel returns the steps of one of the site's funnels over r, published
// in the site's mode and suppressed as the comment above says.
func (q *Querier) Funnel(ctx context.Context, s *site.Site, f *site.Funnel, r Range) ([]FunnelStep, error) {
	db := q.st.DB().Stats
	src := fmt.Sprintf("(SELECT * FROM %s.%s FINAL WHERE site = %s AND day >= %s AND day <= %s AND funnel = %s AND step <= %d)",
		db, rollup.FunnelsTable, store.Quote(s.ID), store.Quote(r.From.String()), store.Quote(r.To.String()),
		store.Quote(f.Name), len(f.Steps))
	sql := fmt.Sprintf("SELECT step, sum(visitors), sum(visits) FROM %s GROUP BY step", publishFunnel(s, src))
	got := make([][2]uint64, len(f.Steps))
	err := q.st.Query(ctx, sql, func(row store.Row) error {
		if i := int(row.Uint64(0)) - 1; i >= 0 && i < len(got) {
			got[i] = [2]uint64{row.Uint64(1), row.Uint64(2)}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot query funnel %q of site %q: %w", f.Name, s.ID, err)
	}
	return funnelSteps(f, got, s.Perturbed(), kOf(s)), nil
}

// publishFunnel is src (funnel rows, one per key and salt day) as the site
// publishes it: one row per cell (site, day, funnel, step) with its
// visitors and visits perturbed by the cell's key, or unchanged in the
// exact mode. A cell without a key is keyed by its coordinates, as in
// publishBy.
func publishFunnel(s *site.Site, src string) string {
	if !s.Perturbed() {
		return src
	}
	const keys = "site, day, funnel, step"
	p := rollup.Perturbation
	return fmt.Sprintf(`(SELECT %[1]s, %[2]s AS visitors, %[3]s AS visits
 FROM (SELECT %[1]s, c0, c1, if(ck = 0, %[4]s, %[5]s) AS u
  FROM (SELECT %[1]s, sum(visitors) AS c0, sum(visits) AS c1, sum(ckey) AS ck FROM %[6]s GROUP BY %[1]s)))`,
		keys, p.PublishSQL("c0", "u"), p.PublishSQL("c1", "u"),
		rollup.ReduceKeySQL("cityHash64("+keys+")"), rollup.ReduceKeySQL("ck"), src)
}

// funnelSteps makes the answer from each step's (visitors, visits).
func funnelSteps(f *site.Funnel, got [][2]uint64, perturbed bool, k int) []FunnelStep {
	out := make([]FunnelStep, len(f.Steps))
	hidden := false
	for i, st := range f.Steps {
		o := FunnelStep{Step: i + 1, Kind: "page", Label: st.Page, Visitors: got[i][0], Visits: got[i][1]}
		if st.Event != "" {
			o.Kind, o.Label = "event", st.Event
		}
		if i > 0 {
			prev := out[i-1]
			if perturbed {
				o.Visitors, o.Visits = min(o.Visitors, prev.Visitors), min(o.Visits, prev.Visits)
			}
			// Visitors are daily distinct per step, and every visitor of a
			// step reached the step before on the same day, so this is
			// never below 0 on exact counts.
			if drop := prev.Visitors - min(o.Visitors, prev.Visitors); !perturbed && drop > 0 && drop < uint64(k) {
				hidden = true
			}
			o.Dropoff = prev.Visits - min(o.Visits, prev.Visits)
			o.FromPrevious = percent(o.Visits, prev.Visits)
			o.DropoffRate = percent(o.Dropoff, prev.Visits)
			o.FromFirst = percent(o.Visits, out[0].Visits)
		} else if o.Visits > 0 {
			o.FromPrevious, o.FromFirst = 100, 100
		}
		if !perturbed && o.Visitors > 0 && o.Visitors < uint64(k) {
			hidden = true
		}
		if hidden {
			o = FunnelStep{Step: o.Step, Kind: o.Kind, Label: o.Label, Suppressed: true, K: k}
		}
		out[i] = o
	}
	return out
}

func percent(n, of uint64) float64 {
	if of == 0 {
		return 0
	}
	return round2(100 * float64(n) / float64(of))
}

// funnelsOut is a site's funnels as the list answer names them.
func funnelsOut(s *site.Site) []fiber.Map {
	out := make([]fiber.Map, 0, len(s.Funnels))
	for _, f := range s.Funnels {
		steps := make([]fiber.Map, len(f.Steps))
		for i, st := range f.Steps {
			if st.Event != "" {
				steps[i] = fiber.Map{"event": st.Event}
			} else {
				steps[i] = fiber.Map{"page": st.Page}
			}
		}
		out = append(out, fiber.Map{"name": f.Name, "steps": steps})
	}
	return out
}

// funnels answers GET /api/v1/stats/funnels: the site's funnels.
func (a *API) funnels(c *fiber.Ctx) error {
	s, err := a.site(c)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"site": s.ID, "funnels": funnelsOut(s)})
}

// funnel answers GET /api/v1/stats/funnel?funnel=NAME: one funnel over
// the period.
func (a *API) funnel(c *fiber.Ctx) error {
	s, r, f, err := a.common(c)
	if err != nil {
		return err
	}
	if len(f) > 0 {
		return badRequest("funnels take no filter")
	}
	name := c.Query("funnel")
	if name == "" {
		return badRequest("funnel is required")
	}
	fn := s.Funnel(name)
	if fn == nil {
		return fiber.NewError(fiber.StatusNotFound, "no such funnel")
	}
	steps, err := a.q.Funnel(c.UserContext(), s, fn, r)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"site": s.ID, "range": rangeOut(r), "k": kOf(s), "funnel": fn.Name, "steps": steps})
}
