package statistics

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/sezim-analytics/sezim/dashboards/internal/csvcell"
	"github.com/sezim-analytics/sezim/site"
)

// writeCSV answers a breakdown as CSV: the shown rows, then "(other)",
// then "(total)". A suppressed cell reads "< k", as on the page.
func writeCSV(c *fiber.Ctx, s *site.Site, r Range, dim string, b Breakdown) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{dim, "visitors", "visits", "pageviews", "events", "views_per_visit", "bounce_rate", "visit_duration"})
	line := func(value string, m Metrics) {
		if m.Suppressed {
			hidden := "< " + strconv.Itoa(m.K)
			_ = w.Write([]string{csvcell.Safe(value), hidden, hidden, hidden, hidden, hidden, hidden, hidden})
			return
		}
		u := func(v uint64) string { return strconv.FormatUint(v, 10) }
		f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
		_ = w.Write([]string{csvcell.Safe(value), u(m.Visitors), u(m.Visits), u(m.Pageviews), u(m.Events),
			f(m.ViewsPerVisit), f(m.BounceRate), f(m.VisitDuration)})
	}
	for _, row := range b.Rows {
		line(row.Value, row.Metrics)
	}
	if b.Other != nil {
		line(OtherValue, b.Other.Metrics)
	}
	line("(total)", b.Total)
	w.Flush()
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="sezim-%s-%s-%s-%s.csv"`, s.ID, dim, r.From, r.To))
	return c.Send(buf.Bytes())
}
