// Package rollup turns the short-lived anonymous events into the aggregates
// the dashboards read.
//
// Why this mechanism. The stats database may single out nobody once a day's
// salt is destroyed. Sketches (uniqState, HyperLogLog) kept forever would
// still hold hashed visitor ids that link the pages one visitor saw, so the
// aggregates here are plain numbers only. The per-event rows, with their
// daily visitor hash, are written to sezim_stats.events partitioned by the
// salt's day; this package recomputes, from those rows, the hourly and daily
// counts of every dimension, and the retention job drops the partition when
// the salt is destroyed, after a last recomputation. Visits, bounces,
// durations, entry and exit pages need a visitor's events in order; doing
// that here, over the rows in ClickHouse, means it is correct with any number
// of collectors writing (no in-memory session state, no sticky sessions for
// sessionisation) and it is the same code on every ClickHouse version.
//
// A recomputation of one salt day is idempotent: rows carry the salt day and
// a version, the tables are ReplacingMergeTree, and queries read them FINAL
// and add the salt days up. A key that a recomputation no longer produces
// (an entry page changed because an earlier event arrived late) is written
// again with zeros, so nothing is counted twice.
package rollup

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// SessionTimeout ends a visit after this much inactivity.
const SessionTimeout = 30 * time.Minute

// Dimensions names every breakdown the aggregates hold, as stored in the
// dim column. "" is the site total. The names are stored: never rename.
var Dimensions = []string{
	DimPage, DimEntryPage, DimExitPage, DimSource, DimChannel,
	DimUTMSource, DimUTMMedium, DimUTMCampaign, DimUTMContent, DimUTMTerm,
	DimCountry, DimRegion, DimBrowser, DimBrowserVersion, DimOS, DimDevice,
	DimScreen, DimLanguage, DimEvent, DimGoal,
}

// Dimension names.
const (
	DimTotal          = ""
	DimPage           = "page"
	DimEntryPage      = "entry_page"
	DimExitPage       = "exit_page"
	DimSource         = "source"
	DimChannel        = "channel"
	DimUTMSource      = "utm_source"
	DimUTMMedium      = "utm_medium"
	DimUTMCampaign    = "utm_campaign"
	DimUTMContent     = "utm_content"
	DimUTMTerm        = "utm_term"
	DimCountry        = "country"
	DimRegion         = "region"
	DimBrowser        = "browser"
	DimBrowserVersion = "browser_version"
	DimOS             = "os"
	DimDevice         = "device"
	DimScreen         = "screen"
	DimLanguage       = "language"
	DimEvent          = "event"
)

// rowsPerShard bounds how many events one pass holds in memory: a salt day
// with more is read in shards of visitors (visitor % n).
const rowsPerShard = 500_000

// Options configure a Rollup.
type Options struct {
	Store  store.Store
	Sites  *site.Config
	Logger *slog.Logger
	// Now is the clock; tests inject one.
	Now func() time.Time
	// PairTopN is how many values per filter dimension and salt day get
	// pair rows (see pairs.go): 0 means DefaultPairTopN, below 0 none.
	PairTopN int
	// InGo makes the rollup read the events into Go and count them there
	// (accumulate.go) instead of letting ClickHouse aggregate them
	// (sql.go). The Go path is the oracle the SQL path is tested against;
	// it always recomputes whole salt days.
	InGo bool
	// Settle is how long an event's insert may take: a run covers the
	// events inserted until Settle before now (default 15 s). An insert
	// that commits later than that is noticed at the next run and makes it
	// recompute the whole day (incremental.go). Below 0: every event stored
	// when the run starts, for a process that runs the rollup after its own
	// inserts and nobody else's (an import, tests).
	Settle time.Duration
	// Reg registers the rollup's metrics; nil: a registry of its own.
	Reg prometheus.Registerer
	// Destroyed, when set, is told of every destruction Finish and
	// Retention make, for the retention history (privacy/retention).
	Destroyed func(ctx context.Context, d Destruction)
	// Threads caps the engine's threads for the rollup's statements
	// (max_threads, and max_insert_threads where the engine has it), so
	// that a run beside the collector leaves it cores; 0: the engine's
	// default (a thread per core).
	Threads int
}

// Rollup recomputes aggregates.
type Rollup struct {
	st     store.Store
	sites  *site.Config
	log    *slog.Logger
	now    func() time.Time
	insert int // rows per insert
	topN   int // pair rows per filter dimension; 0: none
	inGo   bool
	settle time.Duration
	// destroyed is Options.Destroyed, never nil.
	destroyed func(ctx context.Context, d Destruction)

	// mine is the version of the last rollup_state this Rollup wrote per
	// site and salt day: a run continues incrementally only from its own
	// state (incremental.go).
	mu   sync.Mutex
	mine map[stateKey]uint64
	// goals and goalPrint are each site's goals as the last run read
	// them, and their fingerprint (goals.go).
	goals     map[string][]site.Goal
	goalPrint map[string]string
	// seq names the tables a run makes for itself.
	seq atomic.Uint64
	// insertSettings end every INSERT … SELECT (insertSelect), learnt
	// once from the engine's version.
	settingsOnce   sync.Once
	insertSettings string
	// selectSettings end every CREATE TABLE … AS SELECT of a run (createAs).
	selectSettings string
	threads        int

	runTime  prometheus.Histogram
	rowsRead prometheus.Counter
	// newest is the unix time of the newest event the aggregates include,
	// for the lag metric.
	newest atomic.Int64
	// lastRun is the unix time at which the last run of every salt day
	// asked for finished without an error.
	lastRun atomic.Int64
}

// Newest is the time of the newest event the aggregates include; zero
// before the first run that saw an event.
func (r *Rollup) Newest() time.Time {
	if n := r.newest.Load(); n != 0 {
		return time.Unix(n, 0).UTC()
	}
	return time.Time{}
}

// LastRun is when the last successful run finished; zero before one has.
func (r *Rollup) LastRun() time.Time {
	if n := r.lastRun.Load(); n != 0 {
		return time.Unix(n, 0).UTC()
	}
	return time.Time{}
}

// New returns a Rollup.
func New(o Options) *Rollup {
	r := &Rollup{st: o.Store, sites: o.Sites, log: o.Logger, now: o.Now, insert: 50_000, topN: max(o.PairTopN, 0),
		inGo: o.InGo, settle: o.Settle, mine: map[stateKey]uint64{}, threads: max(o.Threads, 0),
		goals: map[string][]site.Goal{}, goalPrint: map[string]string{}}
	if r.settle == 0 {
		r.settle = 15 * time.Second
	}
	if o.PairTopN == 0 {
		r.topN = DefaultPairTopN
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.destroyed = o.Destroyed; r.destroyed == nil {
		r.destroyed = func(context.Context, Destruction) {}
	}
	if o.Reg == nil {
		o.Reg = prometheus.NewRegistry()
	}
	f := promauto.With(o.Reg)
	r.runTime = f.NewHistogram(prometheus.HistogramOpts{Name: "sezim_rollup_duration_seconds",
		Help:    "How long a recomputation of one salt day's aggregates took, all sites together.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)})
	r.rowsRead = f.NewCounter(prometheus.CounterOpts{Name: "sezim_rollup_rows_read_total",
		Help: "Events the recomputations read."})
	// Computed when scraped, so that the lag grows while no run succeeds.
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "sezim_rollup_lag_seconds",
		Help: "Now minus the time of the newest event the aggregates include; 0 before the first event."},
		func() float64 {
			n := r.newest.Load()
			if n == 0 {
				return 0
			}
			return max(r.now().Sub(time.Unix(n, 0)).Seconds(), 0)
		})
	return r
}

// Result says what one recomputation did.
type Result struct {
	Events int // events read
	Rows   int // aggregate rows written (including zeroed ones)
	// PairRows are the agg_pairs rows written (changes to cells).
	PairRows int
	// Newest is the time of the newest event read; zero without events.
	Newest time.Time
	// Incremental says the run read only the visitors with new events
	// (for Run: on every site).
	Incremental bool
}

// mode says whether a salt day is still open (its raw events exist and
// more may come) or being finished (the last run before they are dropped).
type mode uint8

const (
	// open: incremental where possible; pair rows for every filter value,
	// unfolded (the dashboards fold them when they read).
	open mode = iota
	// final: the whole day; pair rows for the top values only, small
	// cells folded: what stays once the raw events are gone.
	final
)

// Run brings the aggregates of every configured site up to date with the
// events of one salt day (a UTC day): incrementally when it can (see
// incremental.go), else by recomputing the day.
func (r *Rollup) Run(ctx context.Context, saltDay time.Time) (Result, error) {
	return r.run(ctx, saltDay, open)
}

func (r *Rollup) run(ctx context.Context, saltDay time.Time, m mode) (Result, error) {
	began := time.Now()
	total := Result{Incremental: true}
	for _, s := range r.sites.Sites {
		res, err := r.runSite(ctx, s, saltDay, m)
		total.Events += res.Events
		total.Rows += res.Rows
		total.PairRows += res.PairRows
		total.Incremental = total.Incremental && res.Incremental
		if res.Newest.After(total.Newest) {
			total.Newest = res.Newest
		}
		if err != nil {
			return total, err
		}
	}
	r.runTime.Observe(time.Since(began).Seconds())
	r.lastRun.Store(r.now().Unix())
	return total, nil
}

// RunSite brings one site's aggregates up to date with one salt day.
func (r *Rollup) RunSite(ctx context.Context, s *site.Site, saltDay time.Time) (Result, error) {
	return r.runSite(ctx, s, saltDay, open)
}

func (r *Rollup) runSite(ctx context.Context, s *site.Site, saltDay time.Time, m mode) (Result, error) {
	res, err := r.runSiteMode(ctx, s, saltDay, m)
	r.rowsRead.Add(float64(res.Events))
	if err != nil {
		res.Newest = time.Time{}
		return res, err
	}
	for n := res.Newest.Unix(); !res.Newest.IsZero(); {
		old := r.newest.Load()
		if n <= old || r.newest.CompareAndSwap(old, n) {
			break
		}
	}
	return res, nil
}

// nextVersion is the version of the rows a run writes. It must exceed
// every earlier run's, or the tables would keep the older rows: a clock
// that stepped back, or a collector whose clock lags another's, must not
// lose. So it is the later of now and the largest version stored for this
// salt day + 1.
func (r *Rollup) nextVersion(ctx context.Context, s *site.Site, day store.Day) (uint64, error) {
	db := r.st.DB().Stats
	where := fmt.Sprintf("salt_day = %s AND site = %s", store.Quote(day.String()), store.Quote(s.ID))
	version := uint64(r.now().UnixNano())
	for _, table := range []string{"agg_hourly", "agg_daily", "rollup_state"} {
		err := r.st.Query(ctx, fmt.Sprintf("SELECT max(version) FROM %s.%s WHERE %s", db, table, where), func(row store.Row) error {
			version = max(version, row.Uint64(0)+1)
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("cannot read the aggregates' version of %s for site %q: %w", day, s.ID, err)
		}
	}
	return version, nil
}

// countEvents counts the events matching where and finds the newest one's
// time (zero without events).
func (r *Rollup) countEvents(ctx context.Context, where string) (uint64, time.Time, error) {
	var count uint64
	var newest time.Time
	err := r.st.Query(ctx, "SELECT count(), toUInt32(max(ts)) FROM "+r.st.DB().Stats+".events WHERE "+where, func(row store.Row) error {
		count = row.Uint64(0)
		if count > 0 {
			newest = time.Unix(int64(row.Uint64(1)), 0).UTC()
		}
		return nil
	})
	return count, newest, err
}

func (r *Rollup) runSiteMode(ctx context.Context, s *site.Site, saltDay time.Time, m mode) (_ Result, err error) {
	day := store.DayOf(saltDay.UTC())
	// A late write into a compacted month (an import for an old day) must
	// be read FINAL again from now on (compact.go).
	if err := r.Reopen(ctx, saltDay); err != nil {
		return Result{}, err
	}
	// And its days' published sums must be built again (published.go).
	if err := r.Unpublish(ctx, s, saltDay); err != nil {
		return Result{}, err
	}
	version, err := r.nextVersion(ctx, s, day)
	if err != nil {
		return Result{}, err
	}
	if _, err := r.loadGoals(ctx, s); err != nil {
		return Result{}, err
	}
	where := fmt.Sprintf("salt_day = %s AND site = %s", store.Quote(day.String()), store.Quote(s.ID))
	if m == final && r.topN > 0 {
		// The cells this run takes away must leave the disk too.
		defer func() {
			if err == nil {
				err = r.mergePairs(ctx, day)
			}
		}()
	}
	if r.inGo {
		return r.runGo(ctx, s, day, version, where, m)
	}
	if m == open {
		return r.runOpen(ctx, s, day, version, where)
	}
	// The final run reads every event, whenever it was inserted, and
	// leaves no state: nothing continues from a finished day.
	count, newest, err := r.countEvents(ctx, where)
	if err != nil {
		return Result{}, fmt.Errorf("cannot count events of %s for site %q: %w", day, s.ID, err)
	}
	r.forget(s, day)
	res, err := r.runSQL(ctx, s, day, version, where, count, final)
	res.Newest = newest
	return res, err
}

// runGo recomputes one site's salt day by reading its events into Go.
func (r *Rollup) runGo(ctx context.Context, s *site.Site, day store.Day, version uint64, where string, m mode) (Result, error) {
	db := r.st.DB().Stats
	count, newest, err := r.countEvents(ctx, where)
	if err != nil {
		return Result{}, fmt.Errorf("cannot count events of %s for site %q: %w", day, s.ID, err)
	}
	shards := uint64(1 + count/rowsPerShard)
	acc := newAccumulator(s)
	acc.goals = goalMatchers(r.goalsOf(s))
	if r.topN > 0 {
		acc.pairs = map[pairKey]*counts{}
		if m == open {
			acc.allPairs = true
		} else if count > 0 {
			if acc.top, err = r.topValues(ctx, where, r.topN); err != nil {
				return Result{}, fmt.Errorf("cannot choose the pair values of %s for site %q: %w", day, s.ID, err)
			}
			acc.top = addGoalsTop(acc.top, r.goalsOf(s))
		}
	}
	for shard := uint64(0); shard < shards; shard++ {
		q := fmt.Sprintf(`SELECT visitor, toUInt32(ts), kind, name, path, ref_host, channel,
 utm_source, utm_medium, utm_campaign, utm_content, utm_term, country, region,
 browser, browser_version, os, device, screen, language, %s
 FROM %s.events WHERE %s AND visitor %% %d = %d ORDER BY visitor, %s`, propsColumnSQL, db, where, shards, shard, eventOrder)
		err := r.st.Query(ctx, q, func(row store.Row) error {
			e := readEvent(row)
			parseProps(row.String(20), &e)
			acc.add(e)
			return nil
		})
		if err != nil {
			return Result{Events: acc.events}, fmt.Errorf("cannot read events of %s for site %q: %w", day, s.ID, err)
		}
		acc.flushVisitor()
	}
	n, err := r.write(ctx, s, day, version, acc)
	if err != nil || r.topN <= 0 {
		// With pairs off earlier pair rows stay as they were; with no
		// events left the write zeroes them.
		return Result{Events: acc.events, Rows: n, Newest: newest}, err
	}
	if m == final {
		foldSmallPairs(acc.pairs, s.KThreshold)
	}
	p, err := r.writePairs(ctx, s, day, acc.pairs)
	return Result{Events: acc.events, Rows: n, PairRows: p, Newest: newest}, err
}

func readEvent(row store.Row) event.Event {
	return event.Event{
		Visitor:        row.Uint64(0),
		Time:           time.Unix(int64(row.Uint64(1)), 0).UTC(),
		Kind:           event.Kind(row.Uint64(2)),
		Name:           row.String(3),
		Path:           row.String(4),
		RefHost:        row.String(5),
		Channel:        row.String(6),
		UTMSource:      row.String(7),
		UTMMedium:      row.String(8),
		UTMCampaign:    row.String(9),
		UTMContent:     row.String(10),
		UTMTerm:        row.String(11),
		Country:        row.String(12),
		Region:         row.String(13),
		Browser:        row.String(14),
		BrowserVersion: uint16(row.Uint64(15)),
		OS:             row.String(16),
		Device:         row.String(17),
		Screen:         row.String(18),
		Language:       row.String(19),
	}
}

// write inserts the accumulated counts, and zeros for keys of this salt day
// that earlier recomputations wrote but this one did not produce.
func (r *Rollup) write(ctx context.Context, s *site.Site, day store.Day, version uint64, acc *accumulator) (int, error) {
	db := r.st.DB().Stats
	written := 0
	for _, g := range []granularity{hourly, daily} {
		table, col := "agg_hourly", "hour"
		if g == daily {
			table, col = "agg_daily", "day"
		}
		counts := acc.byGran[g]
		var stale []aggKey
		q := fmt.Sprintf(`SELECT toUInt32(%s), dim, value FROM %s.%s FINAL
 WHERE site = %s AND salt_day = %s AND (visitors + visits + pageviews + events) > 0`,
			col, db, table, store.Quote(s.ID), store.Quote(day.String()))
		err := r.st.Query(ctx, q, func(row store.Row) error {
			k := aggKey{period: int64(row.Uint64(0)), dim: row.String(1), value: row.String(2)}
			if g == daily {
				// toUInt32(Date) is days since the epoch, not seconds.
				k.period *= 86400
			}
			if _, ok := counts[k]; !ok {
				stale = append(stale, k)
			}
			return nil
		})
		if err != nil {
			return written, fmt.Errorf("cannot read earlier aggregates of %s for site %q: %w", day, s.ID, err)
		}
		cols := []string{"site", col, "dim", "value", "salt_day", "visitors", "visits", "pageviews", "bounces", "duration", "events", "version"}
		rows := make([][]any, 0, min(len(counts)+len(stale), r.insert))
		period := func(p int64) any {
			t := time.Unix(p, 0).UTC()
			if g == daily {
				return store.DayOf(t)
			}
			return t
		}
		flush := func() error {
			if len(rows) == 0 {
				return nil
			}
			if err := r.st.Insert(ctx, db+"."+table, cols, rows); err != nil {
				return fmt.Errorf("cannot write aggregates of %s for site %q: %w", day, s.ID, err)
			}
			written += len(rows)
			rows = rows[:0]
			return nil
		}
		for k, c := range counts {
			rows = append(rows, []any{s.ID, period(k.period), k.dim, k.value, day,
				c.visitors, c.visits, c.pageviews, c.bounces, c.duration, c.events, version})
			if len(rows) == r.insert {
				if err := flush(); err != nil {
					return written, err
				}
			}
		}
		for _, k := range stale {
			rows = append(rows, []any{s.ID, period(k.period), k.dim, k.value, day,
				uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), version})
			if len(rows) == r.insert {
				if err := flush(); err != nil {
					return written, err
				}
			}
		}
		if err := flush(); err != nil {
			return written, err
		}
	}
	return written, nil
}
