package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sezim-analytics/sezim/collector"
	"github.com/sezim-analytics/sezim/dashboards"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/pipeline/geo"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// storeFlags are shared by every command that opens the store.
type storeFlags struct {
	url        string
	config     string
	cluster    string
	statsDB    string
	identified string
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "store", "chdb://data/chdb", "ClickHouse to use: chdb://DIR (embedded engine, needs CHDB_LIB_PATH) or clickhouse://user:pass@host:9000/")
	fs.StringVar(&f.config, "config", "config/example.yaml", "site configuration file (YAML)")
	fs.StringVar(&f.cluster, "cluster", "", "ClickHouse cluster name for ON CLUSTER DDL and Replicated engines (server mode)")
	fs.StringVar(&f.statsDB, "stats-db", store.DefaultNames.Stats, "name of the aggregates database")
	fs.StringVar(&f.identified, "identified-db", store.DefaultNames.Identified, "name of the identified-data database")
}

func (f *storeFlags) open(ctx context.Context) (store.Store, error) {
	return store.Open(ctx, f.url, store.Names{Stats: f.statsDB, Identified: f.identified})
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
	adminAddr   string
	geoPath     string
	dataDir     string
	automigrate bool
	flushEvery  time.Duration
	maxBuffered int
	rollupEvery time.Duration
	logLevel    string
}

func (o *serveOptions) register(fs *flag.FlagSet) {
	o.sf.register(fs)
	fs.StringVar(&o.addr, "addr", ":8080", "public listener: pixel, beacon, tracker script")
	fs.StringVar(&o.apiAddr, "api-addr", "127.0.0.1:8090", "stats API listener; keep it on loopback until staff sign-in exists")
	fs.StringVar(&o.adminAddr, "admin-addr", "127.0.0.1:9090", "operator listener: /healthz, /readyz, /metrics")
	fs.StringVar(&o.geoPath, "geoip", "", "geo database (.mmdb: GeoIP2/GeoLite2/DB-IP, or the CC0 country_code database); empty: no countries")
	fs.StringVar(&o.dataDir, "data", "data", "folder for local state (salts; later the write-ahead log)")
	fs.BoolVar(&o.automigrate, "automigrate", false, "apply pending migrations at start instead of refusing to start")
	fs.DurationVar(&o.flushEvery, "flush-interval", time.Second, "longest time an event waits in memory before it is inserted")
	fs.IntVar(&o.maxBuffered, "max-buffered", 200_000, "events held in memory while the store is slow or down; past it the collector answers 503")
	fs.DurationVar(&o.rollupEvery, "rollup-interval", time.Minute, "how often the aggregates are recomputed from the last two days' events")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "Run the collector (public), the stats API (loopback by default: it has no sign-in yet) and the operator endpoints.", stderr)
	var o serveOptions
	o.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(stderr, o.logLevel)
	if err != nil {
		return err
	}
	cfg, err := site.Load(o.sf.config)
	if err != nil {
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
	ctx, stopSignals := onSignals(ctx)
	defer stopSignals()
	mig := store.NewMigrator(st, store.MigrateOptions{Cluster: o.sf.cluster})
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
	batcher := pipeline.NewBatcher(pipeline.BatchOptions{Store: st, FlushEvery: o.flushEvery, MaxBuffered: o.maxBuffered, Logger: log, Reg: reg})
	pipe := pipeline.New(pipeline.Options{Sites: cfg, Salts: salts, Geo: geoDB, Sink: batcher, Reg: reg})
	coll := collector.New(collector.Options{Sites: cfg, Pipeline: pipe, Reg: reg})
	api := dashboards.NewAPI(dashboards.APIOptions{Sites: cfg, Store: st})
	roll := rollup.New(rollup.Options{Store: st, Sites: cfg, Logger: log})

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
		{Name: "buffer", Func: func(context.Context) error {
			if n := batcher.Buffered(); n >= o.maxBuffered {
				return errors.New("event buffer is full")
			}
			return nil
		}},
	}
	admin := &http.Server{Handler: collector.AdminHandler(reg, checks), ReadHeaderTimeout: 5 * time.Second}

	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	go batcher.Run(runCtx)
	go loop(runCtx, o.rollupEvery, func(ctx context.Context) { rollupRecent(ctx, roll, salts, log) })
	go loop(runCtx, 10*time.Minute, func(ctx context.Context) { runRetention(ctx, roll, salts, log) })

	errc := make(chan error, 3)
	go func() { errc <- coll.App().Listener(pubLn) }()
	go func() { errc <- api.NewApp().Listener(apiLn) }()
	go func() { errc <- admin.Serve(adminLn) }()
	log.Info("sezim is serving", "addr", pubLn.Addr().String(), "api_addr", apiLn.Addr().String(),
		"admin_addr", adminLn.Addr().String(), "store", st.Engine(), "sites", len(cfg.Sites))
	fmt.Fprintf(stdout, "sezim: collector on http://%s, stats API on http://%s, operator endpoints on http://%s\n",
		pubLn.Addr(), apiLn.Addr(), adminLn.Addr())

	select {
	case <-ctx.Done():
	case err = <-errc:
		log.Error("a listener stopped", "err", err)
	}
	// Shut down in order: stop taking events, write what is buffered,
	// then let the deferred closes release the store.
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = coll.App().ShutdownWithContext(sctx)
	cancelRun()
	<-batcher.Done()
	rollupRecent(sctx, roll, salts, log)
	_ = admin.Shutdown(sctx)
	log.Info("stopped", "events_unwritten", batcher.Buffered())
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
		log.Debug("rollup", "salt_day", d.Format(time.DateOnly), "events", res.Events, "rows", res.Rows, "took", time.Since(began))
	}
}

// runRetention destroys expired salts, finishes and drops expired salt days
// and deletes aggregates past their retention.
func runRetention(ctx context.Context, r *rollup.Rollup, salts *anon.Salts, log *slog.Logger) {
	now := time.Now()
	destroyed, err := salts.Rotate(now)
	if err != nil {
		log.Error("cannot rotate salts", "err", err)
	}
	for _, d := range destroyed {
		log.Info("destroyed a salt", "salt_day", d.Format(time.DateOnly), "reason", "salt lifetime over (48h)")
	}
	days, err := r.Expired(ctx, now)
	if err != nil {
		log.Error("retention", "err", err)
		return
	}
	for _, d := range days {
		if _, err := r.Finish(ctx, d); err != nil {
			log.Error("retention", "salt_day", d.Format(time.DateOnly), "err", err)
		}
	}
	if err := r.Retention(ctx, now); err != nil {
		log.Error("retention", "err", err)
	}
}
