package privacy

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sezim-analytics/sezim/consent/consentlog"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// checkPairK finds the smallest stored pair cell (agg_pairs, summed per
// cell as the dashboards read it) per site, against the site's k. A salt
// day still open (its raw events exist) is stored unfolded, the rollup
// folding its small cells at the day's last run and the dashboards at
// read time, so only final days must hold nothing below k. The remainder
// rows (empty value) and the filter totals are not cells a reader sees alone.
func checkPairK(ctx context.Context, o Options, _ time.Time) (Outcome, error) {
	out := Outcome{Name: CheckPairK, What: "no stored pair cell of a final day below its site's k", OK: true}
	db := o.Store.DB().Stats
	kOf := func(string) int { return site.DefaultKThreshold }
	var ids, ks []string
	if o.Sites != nil {
		for _, s := range o.Sites.Sites {
			ids = append(ids, store.Quote(s.ID))
			ks = append(ks, fmt.Sprintf("toInt64(%d)", s.KThreshold))
		}
		kOf = func(id string) int {
			if s := o.Sites.Site(id); s != nil {
				return s.KThreshold
			}
			return site.DefaultKThreshold
		}
	}
	k := fmt.Sprintf("toInt64(%d)", site.DefaultKThreshold)
	if len(ids) > 0 {
		k = fmt.Sprintf("transform(site, [%s], [%s], %s)", strings.Join(ids, ", "), strings.Join(ks, ", "), k)
	}
	q := fmt.Sprintf(`SELECT site, toUInt64(salt_day IN (SELECT DISTINCT salt_day FROM %[1]s.events)) AS open, count(), min(v), countIf(v < %[2]s)
 FROM (SELECT site, salt_day, sum(visitors) AS v FROM %[1]s.agg_pairs WHERE dim != %[3]s AND value != ''
  GROUP BY site, day, fdim, fvalue, dim, value, salt_day
  HAVING (sum(visitors) + sum(visits) + sum(pageviews) + sum(events)) > 0)
 GROUP BY site, open ORDER BY site, open`, db, k, store.Quote(rollup.DimTotal))
	err := o.Store.Query(ctx, q, func(r store.Row) error {
		id, open, cells, least, below := r.String(0), r.Uint64(1) != 0, r.Uint64(2), r.Int64(3), r.Uint64(4)
		when := "final days"
		if open {
			when = "open salt days (folded at their last rollup and at read)"
		}
		line := fmt.Sprintf("site %s, %s: %d cells, smallest %d, k %d, %d below k", id, when, cells, least, kOf(id), below)
		if !open && below > 0 {
			out.OK = false
		}
		out.Evidence = append(out.Evidence, line)
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("cannot read the pair cells: %w", err)
	}
	if len(out.Evidence) == 0 {
		out.Evidence = append(out.Evidence, "no pair cells stored")
	}
	return out, nil
}

// checkChains verifies every chain of the consent log with the same code
// as `sezim verify consent-log`.
func checkChains(ctx context.Context, o Options, _ time.Time) (Outcome, error) {
	out := Outcome{Name: CheckConsentChains, What: "every chain of the consent log verifies", OK: true}
	reports, err := consentlog.Verify(ctx, o.Store)
	if err != nil {
		return out, err
	}
	var rows uint64
	for _, r := range reports {
		rows += r.Rows
		if r.Broken != nil {
			out.OK = false
			out.Evidence = append(out.Evidence, fmt.Sprintf("chain %s BROKEN at seq %d (receipt %s): %s", r.Chain, r.Broken.Seq, r.Broken.Receipt, r.Broken.Reason))
		}
	}
	out.Evidence = append(out.Evidence, fmt.Sprintf("%d chain(s), %d rows, %d broken", len(reports), rows, len(out.Evidence)))
	return out, nil
}

// RetentionRun is one run of the retention job and what it destroyed.
type RetentionRun struct {
	Time      time.Time
	Destroyed []Destruction
}

// Destruction is what one rule of a retention run destroyed.
type Destruction struct {
	Table string
	Rows  uint64
	Rule  string
}

// RetentionHistory reads the retention job's history; the report shows
// its last run. LastRun returns nil when no run is recorded.
type RetentionHistory interface {
	LastRun(ctx context.Context) (*RetentionRun, error)
}

// maxRetentionAge is how long ago the last retention run may be before the
// check fails: serve runs it every ten minutes, cron at least daily.
const maxRetentionAge = 25 * time.Hour

func checkRetention(ctx context.Context, o Options, now time.Time) (Outcome, error) {
	out := Outcome{Name: CheckRetention, What: "the retention job ran within 25 hours; what it destroyed"}
	if o.History == nil {
		out.Evidence = []string{"no history recorded"}
		return out, nil
	}
	run, err := o.History.LastRun(ctx)
	if err != nil {
		return out, fmt.Errorf("cannot read the retention history: %w", err)
	}
	if run == nil {
		out.Evidence = []string{"no history recorded"}
		return out, nil
	}
	ago := now.Sub(run.Time)
	out.OK = ago <= maxRetentionAge
	out.Evidence = append(out.Evidence, fmt.Sprintf("last run %s (%s ago)", run.Time.UTC().Format(time.RFC3339), ago.Truncate(time.Second)))
	for _, d := range run.Destroyed {
		out.Evidence = append(out.Evidence, fmt.Sprintf("%s: %d rows (%s)", d.Table, d.Rows, d.Rule))
	}
	if len(run.Destroyed) == 0 {
		out.Evidence = append(out.Evidence, "nothing was due")
	}
	return out, nil
}

// dropFamilies are the counters of what was refused or not kept, with
// their bounded labels. They live in the process (Prometheus counters
// since its start); nothing stores them.
var dropFamilies = []string{"sezim_collector_rejected_total", "sezim_pipeline_events_dropped_total"}

func checkDrops(ctx context.Context, o Options, _ time.Time) (Outcome, error) {
	out := Outcome{Name: CheckDrops, What: "drops by reason (the collector's counters since it started)"}
	if o.Metrics == nil {
		out.Evidence = []string{"the collector's counters are not available here: they live in the serving process (run the report in the console, or pass --metrics)"}
		return out, nil
	}
	fams, err := o.Metrics.Gather()
	if err != nil {
		out.Evidence = []string{"cannot read the counters: " + err.Error()}
		return out, nil
	}
	out.OK = true
	var total float64
	for _, f := range fams {
		if !contains(dropFamilies, f.GetName()) {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := m.GetCounter().GetValue()
			total += v
			out.Evidence = append(out.Evidence, fmt.Sprintf("%s{%s}: %.0f", strings.TrimSuffix(f.GetName(), "_total"), strings.Join(labels, ","), v))
		}
	}
	sort.Strings(out.Evidence)
	out.Evidence = append(out.Evidence, fmt.Sprintf("%.0f refused or dropped in all", total))
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// MetricsURL is a prometheus.Gatherer over a running collector's metrics
// endpoint (the admin listener's /metrics), for the command.
type MetricsURL struct {
	URL    string
	Client *http.Client
}

// Gather fetches and parses the text exposition at m.URL.
func (m MetricsURL) Gather() ([]*dto.MetricFamily, error) {
	c := m.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := c.Get(m.URL)
	if err != nil {
		return nil, fmt.Errorf("cannot fetch metrics (%s): %w", m.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cannot fetch metrics (%s): status %d", m.URL, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("cannot parse metrics (%s): %w", m.URL, err)
	}
	out := make([]*dto.MetricFamily, 0, len(fams))
	for _, f := range fams {
		out = append(out, f)
	}
	return out, nil
}

var _ prometheus.Gatherer = MetricsURL{}
