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
// then "(total)". A suppressed cell reads "< k", as on the page. With a
// goal's conversions (conv not nil) each line ends with its conversions
// and conversion rate, empty where the JSON has null.
func writeCSV(c *fiber.Ctx, s *site.Site, r Range, dim string, b Breakdown, conv *goalConversions) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	head := []string{dim, "visitors", "visits", "pageviews", "events", "views_per_visit", "bounce_rate", "visit_duration"}
	if conv != nil {
		head = append(head, "conversions", "conversion_rate")
	}
	_ = w.Write(head)
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	line := func(value string, m Metrics, cv conversion) {
		var rec []string
		if m.Suppressed {
			hidden := "< " + strconv.Itoa(m.K)
			rec = []string{csvcell.Safe(value), hidden, hidden, hidden, hidden, hidden, hidden, hidden}
		} else {
			rec = []string{csvcell.Safe(value), u(m.Visitors), u(m.Visits), u(m.Pageviews), u(m.Events),
				f(m.ViewsPerVisit), f(m.BounceRate), f(m.VisitDuration)}
		}
		if conv != nil {
			n, rate := "", ""
			if cv.conversions != nil {
				n = u(*cv.conversions)
			}
			if cv.rate != nil {
				rate = f(*cv.rate)
			}
			rec = append(rec, n, rate)
		}
		_ = w.Write(rec)
	}
	at := func(i int) conversion {
		if conv == nil {
			return conversion{}
		}
		return conv.rows[i]
	}
	for i, row := range b.Rows {
		line(row.Value, row.Metrics, at(i))
	}
	if b.Other != nil {
		line(OtherValue, b.Other.Metrics, conversion{})
	}
	var total conversion
	if conv != nil {
		total = conv.total
	}
	line("(total)", b.Total, total)
	w.Flush()
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="sezim-%s-%s-%s-%s.csv"`, s.ID, dim, r.From, r.To))
	return c.Send(buf.Bytes())
}
