package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sezim-analytics/sezim/collector"
	"github.com/sezim-analytics/sezim/dashboards"
	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/pipeline/geo"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/pipeline/wal"
	"github.com/sezim-analytics/sezim/privacy/subject"
	"github.com/sezim-analytics/sezim/sessionlog"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// storeFlags are shared by every command that opens the store.
type storeFlags struct {
	url        string
	config     string
	cluster    string
	perNode    bool
	statsDB    string
	identified string
	staffDB    string
	password   string
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "store", "chdb://data/chdb", "ClickHouse to use: chdb://DIR (embedded engine, needs CHDB_LIB_PATH) or clickhouse://user:pass@host:9000/")
	fs.StringVar(&f.config, "config", "config/example.yaml", "site configuration file (YAML)")
	fs.StringVar(&f.cluster, "cluster", "", "ClickHouse cluster name for ON CLUSTER DDL, Replicated engines and the Distributed tables of the sharded ones (server mode)")
	fs.BoolVar(&f.perNode, "cluster-per-node", false, "with --cluster: migrate only the node --store names, without ON CLUSTER and with plain engines (shards without replicas and without Keeper: migrate every node)")
	fs.StringVar(&f.statsDB, "stats-db", store.DefaultNames.Stats, "name of the aggregates database")
	fs.StringVar(&f.identified, "identified-db", store.DefaultNames.Identified, "name of the identified-data database")
	fs.StringVar(&f.staffDB, "staff-db", store.DefaultNames.Staff, "name of the staff database (accounts, tokens, sessions, audit log)")
	secretVar(fs, &f.password, "store-password", "password of the ClickHouse user named in a clickhouse:// --store (replaces one in the URL)")
}

func (f *storeFlags) open(ctx context.Context) (store.Store, error) {
	u, err := f.storeURL()
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, u, f.names())
}

// names are the database names the flags ask for.
func (f *storeFlags) names() store.Names {
	return store.Names{Stats: f.statsDB, Identified: f.identified, Staff: f.staffDB}
}

// migrateOptions are the Migrator's options the flags ask for.
func (f *storeFlags) migrateOptions() store.MigrateOptions {
	return store.MigrateOptions{Cluster: f.cluster, PerNode: f.perNode}
}

// storeURL is --store with --store-password put in. Errors never quote
// the URL, which may hold a password.
func (f *storeFlags) storeURL() (string, error) {
	return withPassword(f.url, f.password, "--store")
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid log level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// serveOptions are serve's flags.
type serveOptions struct {
	sf          storeFlags
	addr        string
	apiAddr     string
	insecureCk  bool
	adminAddr   string
	geoPath     string
	dataDir     string
	automigrate bool
	flushEvery  time.Duration
	walCommit   time.Duration
	walMax      int64
	walSegment  int64
	rollupEvery time.Duration
	storeShard  string
	logLevel    string
	slogMax     int
	consent     consentFlags
	consentRate int
	roles       []roleStoreFlags
	chains      chainFlags
	gcPercent   int
	rollThreads int
}

func (o *serveOptions) register(fs *flag.FlagSet) {
	o.sf.register(fs)
	for _, r := range serveRoles {
		o.roles = append(o.roles, roleStoreFlags{role: r})
	}
	for i := range o.roles {
		o.roles[i].register(fs)
	}
	fs.StringVar(&o.addr, "addr", ":8080", "public listener: pixel, beacon, tracker script")
	fs.StringVar(&o.apiAddr, "api-addr", "127.0.0.1:8090", "dashboards listener: pages under /app/ and the stats API under /api/v1/, behind staff sign-in (put TLS in front to expose it)")
	fs.BoolVar(&o.insecureCk, "insecure-cookie", false, "send the dashboards session cookie without Secure, for plain http; only with a loopback --api-addr")
	fs.StringVar(&o.adminAddr, "admin-addr", "127.0.0.1:9090", "operator listener: /healthz, /readyz, /metrics")
	fs.StringVar(&o.geoPath, "geoip", "", "geo database (.mmdb: GeoIP2/GeoLite2/DB-IP, or the CC0 country_code database); empty: no countries")
	fs.StringVar(&o.dataDir, "data", "data", "folder for local state: the salts, and the write-ahead log in DATA/wal")
	fs.BoolVar(&o.automigrate, "automigrate", false, "apply pending migrations at start instead of refusing to start")
	fs.DurationVar(&o.flushEvery, "flush-interval", wal.DefaultSealAfter, "longest time an event waits in the write-ahead log before it is shipped to the store, while the store keeps up (at most one insert per interval)")
	fs.DurationVar(&o.walCommit, "wal-commit-interval", wal.DefaultCommitInterval, "shortest time between two fsyncs of the write-ahead log: longer saves fsyncs under load, shorter answers sooner; 0 fsyncs as soon as the previous one ends")
	fs.Int64Var(&o.walMax, "wal-max-bytes", wal.DefaultMaxBytes, "bytes the write-ahead log may hold while the store is slow or down; past it the collector answers 503")
	fs.Int64Var(&o.walSegment, "wal-segment-bytes", wal.DefaultSegmentBytes, "size of one write-ahead log segment file")
	fs.DurationVar(&o.rollupEvery, "rollup-interval", time.Minute, "how often the aggregates are brought up to date with new events (0: never, for a collector beside another that does it)")
	fs.StringVar(&o.storeShard, "store-shard", "", "with --cluster: this shard's own node (clickhouse://…); the rollup and the retention of the aggregates run on its local tables. One collector per shard sets it; the others run with --rollup-interval 0")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.IntVar(&o.slogMax, "sessionlog-max-bytes", collector.DefaultSessionLogMaxBytes, "largest POST /sessionlog body, as sent and after gunzip")
	o.consent.register(fs)
	o.chains.register(fs, &o.dataDir)
	fs.IntVar(&o.rollThreads, "rollup-threads", -1, "threads the engine may use for the rollup's statements: 0 one per core; -1 one on the embedded store, which shares the collector's cores, and one per core on a server")
	fs.IntVar(&o.gcPercent, "gc-percent", defaultGCPercent, "the Go garbage collector's target (GOGC), unless GOGC is set: heap growth between collections, in percent of the live heap; higher collects less often, for a shorter latency tail, in more memory")
	fs.IntVar(&o.consentRate, "consent-rate-limit", collector.DefaultConsentRateLimit, "POST /consent decisions one client network (IPv4 /24, IPv6 /48) may post per minute; past it: 429 with Retry-After")
}

// defaultGCPercent is serve's garbage-collector target. Go's default of 100
// collects often under load, and its pauses and assists stall requests
// waiting on the write-ahead log: at 20,000 events/s, open loop, rollup
// off, the collector's p99 was 47–49 ms at 100, 40 ms at 200 and 20–35 ms
// at 400, for 150–200 MiB more peak memory (README, "The collector under
// load").
const defaultGCPercent = 400

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "Run the collector (public), the dashboards and stats API (behind staff sign-in; loopback by default) and the operator endpoints.", stderr)
	var o serveOptions
	o.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(stderr, o.logLevel)
	if err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" && o.gcPercent > 0 {
		debug.SetGCPercent(o.gcPercent)
	}
	cfg, err := site.Load(o.sf.config)
	if err != nil {
		return err
	}
	if err := checkRoles(o.sf.url, o.roles); err != nil {
		return err
	}
	if err := o.checkCluster(); err != nil {
		return err
	}
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return fmt.Errorf("cannot create data folder %q: %w", o.dataDir, err)
	}
	st, err := o.sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	roles, err := openRoles(ctx, st, st.DB(), o.roles)
	if err != nil {
		return err
	}
	defer roles.Close()
	ctx, stopSignals := onSignals(ctx)
	defer stopSignals()
	mig := store.NewMigrator(st, o.sf.migrateOptions())
	pending, err := mig.Pending(ctx)
	if err != nil {
		return err
	}
	if pending > 0 {
		if !o.automigrate {
			return fmt.Errorf("%d migration(s) pending: run \"sezim migrate up\" or start with --automigrate", pending)
		}
		applied, err := mig.Up(ctx)
		if err != nil {
			return err
		}
		log.Info("applied migrations", "migrations", applied)
	}
	var geoDB *geo.DB
	if o.geoPath != "" {
		if geoDB, err = geo.Open(o.geoPath); err != nil {
			return err
		}
		defer geoDB.Close()
	}
	salts, err := anon.NewSalts(filepath.Join(o.dataDir, "salts.json"), time.Now())
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	commitEvery := o.walCommit
	if commitEvery == 0 {
		commitEvery = -1 // the option's "no wait"; its zero means the default
	}
	wlog, err := wal.Open(wal.Options{Dir: filepath.Join(o.dataDir, "wal"), Store: roles.collector, CommitInterval: commitEvery,
		SegmentBytes: o.walSegment, SealAfter: o.flushEvery, MaxBytes: o.walMax, Logger: log, Reg: reg})
	if err != nil {
		return err
	}
	// Closed on every return; the orderly shutdown below closes it
	// first, with its deadline, and then this is a no-op.
	defer wlog.Close(context.Background())
	chainKey, checkpoints, err := o.chains.open()
	if err != nil {
		return err
	}
	defer checkpoints.Close()
	audit := staff.NewAuditorOptions(staff.AuditorOptions{Store: st, Key: chainKey, Checkpoints: checkpoints})
	recordAudit(ctx, audit, log, staff.AuditEntry{Actor: "system", Action: staff.AuditConfigLoaded, Target: o.sf.config,
		Outcome: "ok", Detail: "sha256 " + fileSHA256(o.sf.config)})
	cons, err := o.consent.setup(cfg, roles.collector, o.dataDir, chainKey, checkpoints, log, reg)
	if err != nil {
		return err
	}
	defer cons.close()
	if cons.collector != nil {
		cons.collector.RateLimit.Limit = o.consentRate
	}
	// Blocked subjects are loaded before the first event: a start that
	// cannot read them does not start (fail closed).
	blocks := subject.NewBlockSet(st, log)
	if err := blocks.Refresh(ctx); err != nil {
		return err
	}
	links := subject.NewLinkWriter(st, reg)
	if cons.collector != nil {
		cons.collector.Links = links
	}
	pipe := pipeline.New(pipeline.Options{Sites: cfg, Salts: salts, Geo: geoDB, Sink: wlog, Reg: reg,
		Consent: cons.state, Blocked: blocks})
	coll := collector.New(collector.Options{Sites: cfg, Pipeline: pipe, Reg: reg, Consent: cons.collector,
		SessionLog: collector.SessionLogOptions{MaxBytes: o.slogMax, Ledger: sessionlog.NewStoreLedger(roles.collector, nil)}})
	if o.rollupEvery < 0 {
		return fmt.Errorf("--rollup-interval %v: want a duration, or 0 to leave the aggregates to another collector", o.rollupEvery)
	}
	if o.insecureCk && !loopbackAddr(o.apiAddr) {
		return fmt.Errorf("--insecure-cookie needs a loopback --api-addr, not %q: serve the dashboards over https", o.apiAddr)
	}
	rp := newRetentionParts(st, cfg, serveProcess(), checkpoints, log)
	rollStore, ownsStats, err := o.rollupStore(ctx, st)
	if err != nil {
		return err
	}
	if rollStore != st {
		defer rollStore.Close()
	}
	roll := rollup.New(rollup.Options{Store: rollStore, Sites: cfg, Logger: log, Reg: reg, Destroyed: rp.statsDestroyed, Threads: rollupThreads(o.rollThreads, rollStore)})
	started, rollupStall := time.Now(), max(30*time.Minute, 10*o.rollupEvery)
	accounts := staff.NewDirectory(staff.DirectoryOptions{Store: roles.dashboards})
	privacyOpts := privacyConsole(salts, reg, roles.privacy)
	// The console's subject requests read and erase with the privacy
	// role's user, are audited on serve's keyed chain, and a block reaches
	// this process's ingest at once.
	privacyOpts.Subjects = subject.New(subject.Options{Store: roles.privacy, Sites: cfg, Audit: staff.SubjectAudit(audit), Blocks: blocks, Logger: log})
	dash := dashboards.New(dashboards.Options{Sites: cfg, Store: roles.dashboards, Audit: audit, Logger: log, InsecureCookie: o.insecureCk,
		Updated: roll.LastRun, Directory: accounts, Privacy: privacyOpts})

	// Listen first, so a busy port fails the start rather than later.
	pubLn, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", o.addr, err)
	}
	apiLn, err := net.Listen("tcp", o.apiAddr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", o.apiAddr, err)
	}
	adminLn, err := net.Listen("tcp", o.adminAddr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", o.adminAddr, err)
	}
	checks := []collector.Check{
		{Name: "store", Func: st.Ping},
		{Name: "migrations", Func: func(ctx context.Context) error {
			n, err := mig.Pending(ctx)
			if err == nil && n > 0 {
				err = fmt.Errorf("%d pending", n)
			}
			return err
		}},
		{Name: "wal", Func: wlog.Ready},
		// Red only when no rollup has succeeded for a long while (see
		// rollup.Health): 30 minutes, or ten intervals if they are longer.
		{Name: "rollup", Func: func(context.Context) error {
			_, err := roll.Health(time.Now(), started, rollupStall)
			return err
		}, Detail: func() string {
			d, _ := roll.Health(time.Now(), started, rollupStall)
			return d
		}},
	}
	checks = append(checks, roles.checks()...)
	admin := &http.Server{Handler: collector.AdminHandler(reg, checks), ReadHeaderTimeout: 5 * time.Second}

	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	if o.rollupEvery > 0 {
		go loop(runCtx, o.rollupEvery, func(ctx context.Context) { rollupRecent(ctx, roll, salts, log) })
	}
	go loop(runCtx, 10*time.Minute, func(ctx context.Context) {
		outcome := "ok"
		if !runRetention(ctx, roll, salts, rp, log, ownsStats) {
			outcome = "incomplete"
		}
		recordAudit(ctx, audit, log, staff.AuditEntry{Actor: "system", Action: staff.AuditRetention, Outcome: outcome})
	})
	go blocks.Run(runCtx, subject.DefaultRefresh)
	go loop(runCtx, time.Second, func(ctx context.Context) {
		if err := links.Flush(ctx); err != nil {
			log.Warn("cannot write receipt links; will retry", "err", err)
		}
	})
	go loop(runCtx, time.Minute, func(ctx context.Context) { _ = dash.FlushRateLimited(ctx, false) })
	go loop(runCtx, time.Hour, func(ctx context.Context) {
		if err := staff.SweepSessions(ctx, st, time.Now()); err != nil {
			log.Error("cannot drop old sign-in sessions", "err", err)
		}
	})
	if roles.collector != st {
		// The collector's user may not drop partitions: the owner expires
		// the session-log batch ledger's old days instead.
		ledger := sessionlog.NewStoreLedger(st, nil)
		go loop(runCtx, time.Hour, func(ctx context.Context) {
			if err := ledger.Expire(ctx); err != nil {
				log.Warn("cannot expire the session-log batch ledger; will retry", "err", err)
			}
		})
	}

	errc := make(chan error, 3)
	go func() { errc <- coll.App().Listener(pubLn) }()
	go func() { errc <- dash.App().Listener(apiLn) }()
	go func() { errc <- admin.Serve(adminLn) }()
	for _, s := range cfg.Sites {
		if s.Consent != nil && len(s.Origins) == 0 {
			log.Warn("site has a consent block but no origins: a banner's decisions will be refused (server session logs still carry consent)", "site", s.ID)
		}
	}
	log.Info("sezim is serving", "addr", pubLn.Addr().String(), "api_addr", apiLn.Addr().String(),
		"admin_addr", adminLn.Addr().String(), "store", st.Engine(), "sites", len(cfg.Sites))
	fmt.Fprintf(stdout, "sezim: collector on http://%s, dashboards on http://%s/app/, operator endpoints on http://%s\n",
		pubLn.Addr(), apiLn.Addr(), adminLn.Addr())
	if folder, ok := strings.CutPrefix(o.sf.url, "chdb://"); ok {
		// `sezim user` reaches the store through this process while it
		// holds the folder.
		stopControl, err := serveControl(runCtx, folder, userEnv{st: st, dir: accounts, cfg: cfg, audit: audit}, log)
		if err != nil {
			return err
		}
		defer func() { cancelRun(); stopControl() }()
	}
	if link, until, err := dash.SetupLink(ctx); err != nil {
		log.Warn("cannot check for staff accounts; no first-run link", "err", err)
	} else if link != "" {
		// On standard output only: the link is a credential for as long
		// as it lives, and log lines are kept and shipped.
		fmt.Fprintf(stdout, "sezim: no staff account yet. Create the first administrator at http://%s%s\n"+
			"       (the link works once, until %s UTC; or run: sezim user add NAME --role admin)\n",
			apiLn.Addr(), link, until.UTC().Format("15:04"))
		log.Info("no staff account yet: a first-run setup link was printed on standard output")
	}

	select {
	case <-ctx.Done():
	case err = <-errc:
		log.Error("a listener stopped", "err", err)
	}
	// Shut down in order: stop taking events, commit the WAL and ship what
	// the deadline allows (the rest is shipped at the next start), then
	// let the deferred closes release the store.
	log.Info("shutting down")
	stopping := time.Now()
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = coll.App().ShutdownWithContext(sctx)
	// The dashboards stop too, so that the refused sign-ins counted so far
	// reach the audit log (errors are logged by the flush).
	_ = dash.App().ShutdownWithContext(sctx)
	_ = dash.FlushRateLimited(sctx, true)
	cancelRun()
	if lerr := links.Flush(sctx); lerr != nil {
		log.Error("receipt links lost at shutdown (the decisions are kept)", "err", lerr)
	}
	if werr := wlog.Close(sctx); werr != nil {
		log.Error("events kept in the WAL for the next start", "err", werr)
	}
	if o.rollupEvery > 0 {
		rollupRecent(sctx, roll, salts, log)
	}
	_ = admin.Shutdown(sctx)
	walBytes, walSegments := wlog.Pending()
	log.Info("stopped", "wal_pending_bytes", walBytes, "wal_segments", walSegments, "took", time.Since(stopping).Round(time.Millisecond).String())
	return err
}

// loop calls fn every interval until ctx ends.
func loop(ctx context.Context, every time.Duration, fn func(context.Context)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// rollupRecent recomputes the aggregates of the salt days that still exist.
func rollupRecent(ctx context.Context, r *rollup.Rollup, salts *anon.Salts, log *slog.Logger) {
	for _, d := range salts.Days() {
		began := time.Now()
		res, err := r.Run(ctx, d)
		if err != nil {
			log.Warn("rollup failed; will retry", "salt_day", d.Format(time.DateOnly), "err", err)
			continue
		}
		log.Debug("rollup", "salt_day", d.Format(time.DateOnly), "incremental", res.Incremental, "events_read", res.Events,
			"rows", res.Rows, "pair_rows", res.PairRows, "took", time.Since(began))
	}
}

// runRetention destroys expired salts, finishes and drops expired salt days,
// deletes aggregates and identified rows past their retention and compacts
// closed months; every destruction goes to the retention history. It
// reports whether every step succeeded.
// Without stats (a cluster's collector that rolls up no shard) it leaves
// the aggregates and the events to the shards' own collectors.
func runRetention(ctx context.Context, r *rollup.Rollup, salts *anon.Salts, rp *retentionParts, log *slog.Logger, stats bool) bool {
	ok := true
	now := time.Now()
	destroyed, err := salts.Rotate(now)
	if err != nil {
		log.Error("cannot rotate salts", "err", err)
		ok = false
	}
	for _, d := range destroyed {
		log.Info("destroyed a salt", "salt_day", d.Format(time.DateOnly), "reason", "salt lifetime over (48h)")
		rp.statsDestroyed(ctx, rollup.Destruction{Table: "salts (local state file)", Rows: 1, Rule: "salt lifetime (48h)", Cutoff: d.Format(time.DateOnly)})
	}
	if !stats {
		if _, err := rp.job.Apply(ctx, now); err != nil {
			log.Error("retention of identified data", "err", err)
			ok = false
		}
		return ok
	}
	days, err := r.Expired(ctx, now)
	if err != nil {
		log.Error("retention", "err", err)
		ok = false
	}
	for _, d := range days {
		if _, err := r.Finish(ctx, d); err != nil {
			log.Error("retention", "salt_day", d.Format(time.DateOnly), "err", err)
			ok = false
		}
	}
	if err := r.Retention(ctx, now); err != nil {
		log.Error("retention", "err", err)
		ok = false
	}
	if _, err := rp.job.Apply(ctx, now); err != nil {
		log.Error("retention of identified data", "err", err)
		ok = false
	}
	// Months whose salt days were all finished no longer change: merged
	// once to one row per key, long dashboard ranges read them fast.
	if err := r.Compact(ctx, now); err != nil {
		log.Error("compaction of closed months", "err", err)
		ok = false
	}
	// Days that can no longer change: their published numbers are summed
	// once, so that protective-mode ranges read a few blocks.
	if err := r.Publish(ctx, now); err != nil {
		log.Error("published sums of final days", "err", err)
		ok = false
	}
	return ok
}

// rollupThreads is the rollup's thread cap (rollup.Options.Threads) for
// --rollup-threads n: below 0, one on the embedded store, whose engine runs
// in this process on the collector's cores. At 20,000 events/s for five
// minutes (open loop, 512 connections, a rollup a minute) the collector's
// p99 was 426 ms with a thread per core and 44 ms with one, while the runs
// took as long (11.7 and 11.8 s on average): under load the cores are busy
// either way (README, "The collector under load").
func rollupThreads(n int, st store.Store) int {
	if n >= 0 {
		return n
	}
	if st.Engine() == "chdb" {
		return 1
	}
	return 0
}

// rollupStore is the store the rollup and the stats retention run on: the
// owner's store on a single node; on a cluster, the local tables of this
// collector's shard (--store-shard, see store.ShardLocal), since a shard's
// visitors are whole there and the shards' numbers add up. ownsStats is
// false for a cluster's collector without a shard, which must then leave
// the rollup to the others.
func (o *serveOptions) rollupStore(ctx context.Context, owner store.Store) (st store.Store, ownsStats bool, err error) {
	if o.storeShard == "" {
		return owner, o.sf.cluster == "", nil
	}
	shard, err := store.Open(ctx, o.storeShard, o.sf.names())
	if err != nil {
		return nil, false, err
	}
	return store.ShardLocal(shard), true, nil
}

// checkCluster refuses the flag combinations in which a cluster's rollup
// would run on the Distributed tables, or a shard is named without one.
func (o *serveOptions) checkCluster() error {
	switch {
	case o.storeShard != "" && o.sf.cluster == "":
		return fmt.Errorf("--store-shard needs --cluster")
	case o.storeShard == "" && o.sf.cluster != "" && o.rollupEvery > 0:
		return fmt.Errorf("--cluster: the rollup runs on each shard's local tables: give --store-shard (this shard's node), or --rollup-interval 0 to leave it to the shards' collectors")
	}
	return nil
}

// loopbackAddr reports whether a listen address is on loopback only.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
