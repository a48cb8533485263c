package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sezim-analytics/sezim/collector"
	"github.com/sezim-analytics/sezim/consent/consentlog"
	"github.com/sezim-analytics/sezim/loadgen"
	"github.com/sezim-analytics/sezim/store"
)

// bench drives load against a collector. Without --target it starts one
// itself (this same binary, on the embedded store unless --store says
// otherwise), so it can also report the server's memory and check at the end
// that every acknowledged event reached ClickHouse. With --mix consent it
// posts consent decisions instead, and checks at the end that every
// acknowledged decision is in the consent log and that its chain verifies.
func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "rollup" {
		return benchRollup(ctx, args[1:], stdout, stderr)
	}
	fs := newFlagSet("bench", "Load-test a collector with a realistic mix of pixels and beacons, or of consent decisions (loopback only).", stderr)
	target := fs.String("target", "", "collector URL to load (http://127.0.0.1:PORT); empty: start one with --store")
	storeURL := fs.String("store", "", "store for the collector bench starts (default: embedded, in a temporary folder)")
	connList := fs.String("conns", "64", "connections (closed loop: requests in flight); a comma-separated list runs once per count")
	mixName := fs.String("mix", "default", "request mix: default (pixels and beacons) or consent (POST /consent decisions; the collector bench starts gets a consent block)")
	duration := fs.Duration("duration", 20*time.Second, "measured time of each run")
	warmup := fs.Duration("warmup", 3*time.Second, "unmeasured load before each run")
	rate := fs.Int("rate", 0, "fixed request rate per second (open loop, latency from the scheduled send time); 0: closed loop")
	baseline := fs.Bool("baseline", false, "also run a bare Fiber GIF handler the same way and print the ratio")
	serveArgs := fs.String("serve-args", "", "extra flags for the collector bench starts, space separated")
	seed := fs.Uint64("seed", 1, "seed of the request mix")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var connCounts []int
	for _, f := range strings.Split(*connList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("invalid --conns %q: want positive numbers separated by commas", *connList)
		}
		connCounts = append(connCounts, n)
	}
	opts := loadgen.Options{Site: "bench", Host: "bench.example", Rate: *rate, Mix: loadgen.DefaultMix, Seed: *seed,
		PolicyVersion: benchPolicyVersion}
	switch *mixName {
	case "default":
	case "consent":
		opts.Mix = loadgen.ConsentMix
	default:
		return fmt.Errorf("invalid --mix %q: use default or consent", *mixName)
	}
	// runOnce warms up and measures at one connection count; acknowledged
	// counts include the warm-up's, since its events are stored too.
	runOnce := func(url string, conns int) (*loadgen.Result, error) {
		opts.Target, opts.Conns = url, conns
		var acked, decided uint64
		if *warmup > 0 {
			o := opts
			o.Duration = *warmup
			r, err := loadgen.Run(ctx, o)
			if err != nil {
				return nil, err
			}
			acked, decided = r.Countable, r.Decisions
		}
		o := opts
		o.Duration = *duration
		r, err := loadgen.Run(ctx, o)
		if err != nil {
			return nil, err
		}
		r.Countable += acked
		r.Decisions += decided
		return r, nil
	}
	// runBoth runs at every connection count, printing each as name, and
	// returns the totals of the last run with the acknowledged counts of
	// all.
	runBoth := func(url, name string) (*loadgen.Result, error) {
		var countable, decisions uint64
		var r *loadgen.Result
		for _, n := range connCounts {
			var err error
			if r, err = runOnce(url, n); err != nil {
				return nil, err
			}
			countable += r.Countable
			decisions += r.Decisions
			if len(connCounts) > 1 {
				fmt.Fprintf(stdout, "%s, %d connections: %s\n", name, n, r)
			}
		}
		r.Countable, r.Decisions = countable, decisions
		return r, nil
	}
	mode := "closed loop"
	if *rate > 0 {
		mode = fmt.Sprintf("open loop at %d req/s", *rate)
	}
	fmt.Fprintf(stdout, "sezim bench: %s, %s connections, %v per run after %v warm-up, mix %s %+v\n", mode, *connList, *duration, *warmup, *mixName, opts.Mix)

	var base *loadgen.Result
	if *baseline {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		p, err := startChild(ctx, []string{"baseline", "--addr", addr}, "http://"+addr+"/p.gif", nil)
		if err != nil {
			return err
		}
		base, err = runBoth("http://"+addr, "baseline")
		p.stop()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "baseline (bare Fiber GIF handler): %s\n", base)
	}

	if *target != "" {
		r, err := runBoth(*target, "collector")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "collector: %s\n", r)
		printRatio(stdout, base, r)
		return nil
	}

	// Start a collector of our own.
	dir, err := os.MkdirTemp("", "sezim-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "sites.yaml")
	sites := "trusted_proxies: [127.0.0.1]\nsites:\n  - id: bench\n    domains: [bench.example]\n    timezone: Asia/Almaty\n"
	var env []string
	if *mixName == "consent" {
		sites += "    origins: [https://bench.example]\n    consent:\n      purposes: [functional, statistics]\n" +
			"      policy_version: " + benchPolicyVersion + "\n      policy_text_hash: " + loadgen.BannerTextHash + "\n"
		// In the environment, not on the command line, where ps shows it.
		var key [32]byte
		_, _ = rand.Read(key[:])
		env = append(env, "SEZIM_CONSENT_KEY="+hex.EncodeToString(key[:]))
	}
	if err := os.WriteFile(cfg, []byte(sites), 0o600); err != nil {
		return err
	}
	st := *storeURL
	if st == "" {
		st = "chdb://" + filepath.Join(dir, "chdb")
	}
	names := store.DefaultNames.WithPrefix(fmt.Sprintf("bench_%d_", time.Now().Unix()))
	addr, err1 := freeAddr()
	api, err2 := freeAddr()
	admin, err3 := freeAddr()
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	sargs := []string{"serve", "--automigrate", "--store", st, "--config", cfg, "--data", filepath.Join(dir, "data"),
		"--stats-db", names.Stats, "--identified-db", names.Identified, "--staff-db", names.Staff, "--staff-db", names.Staff,
		"--addr", addr, "--api-addr", api, "--admin-addr", admin, "--log-level", "warn"}
	if *serveArgs != "" {
		sargs = append(sargs, strings.Fields(*serveArgs)...)
	}
	srv, err := startChild(ctx, sargs, "http://"+admin+"/readyz", stderr, env...)
	if err != nil {
		return err
	}
	defer srv.stop()
	idle, _ := loadgen.ReadMemory(srv.cmd.Process.Pid)
	watch := watchRollup(ctx, "http://"+admin+"/metrics")
	r, err := runBoth("http://"+addr, "collector")
	lag := watch()
	if err != nil {
		return err
	}
	peak, _ := loadgen.ReadMemory(srv.cmd.Process.Pid)
	fmt.Fprintf(stdout, "collector: %s\n", r)
	printRatio(stdout, base, r)
	eps := float64(r.Countable+r.Decisions) / (r.Elapsed + *warmup).Seconds()
	above := float64(peak.Peak-peak.Lib) - float64(idle.RSS-idle.Lib)
	fmt.Fprintf(stdout, "rollup while loaded: %s\n", lag)
	fmt.Fprintf(stdout, "collector memory: idle %s, peak %s (libchdb mapped and resident apart: %s); %.2f MiB per 1k events/s above idle\n",
		mib(idle.RSS-idle.Lib), mib(peak.Peak-peak.Lib), mib(peak.Lib), above/(1<<20)/max(eps/1000, 0.001))

	// Stop the collector (it writes what it holds on SIGTERM), then count.
	if err := srv.stop(); err != nil {
		return fmt.Errorf("collector did not stop cleanly: %w", err)
	}
	s, err := store.Open(ctx, st, names)
	if err != nil {
		return err
	}
	defer s.Close()
	defer func() {
		for _, db := range names.All() {
			_ = s.Exec(ctx, "DROP DATABASE IF EXISTS "+db)
		}
	}()
	var stored, decisions uint64
	err = s.Query(ctx, "SELECT count() FROM "+names.Stats+".events WHERE site = 'bench'", func(row store.Row) error {
		stored = row.Uint64(0)
		return nil
	})
	if err == nil {
		err = s.Query(ctx, "SELECT count() FROM "+names.Identified+".consent_log WHERE site = 'bench'", func(row store.Row) error {
			decisions = row.Uint64(0)
			return nil
		})
	}
	if err != nil {
		return err
	}
	if decisions != r.Decisions {
		return fmt.Errorf("%d consent decisions acknowledged but %d stored", r.Decisions, decisions)
	}
	if r.Decisions > 0 {
		reports, err := consentlog.Verify(ctx, s)
		if err != nil {
			return err
		}
		for _, c := range reports {
			if c.Broken != nil {
				return fmt.Errorf("consent chain %s breaks at seq %d: %s: %w", c.Chain, c.Broken.Seq, c.Broken.Reason, consentlog.ErrBroken)
			}
		}
		fmt.Fprintf(stdout, "check: all %d acknowledged consent decisions are in the consent log, in %d chain(s) that verify\n", decisions, len(reports))
	}
	if stored != r.Countable {
		return fmt.Errorf("%d events acknowledged but %d stored", r.Countable, stored)
	}
	fmt.Fprintf(stdout, "check: all %d acknowledged events are in ClickHouse\n", stored)
	return nil
}

// benchPolicyVersion is the consent policy version of the site bench
// configures.
const benchPolicyVersion = "bench-1"

func printRatio(w io.Writer, base, r *loadgen.Result) {
	if base == nil || base.Throughput() == 0 {
		return
	}
	fmt.Fprintf(w, "collector / baseline throughput: %.0f%%\n", 100*r.Throughput()/base.Throughput())
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

type child struct {
	cmd  *exec.Cmd
	done chan error
}

// startChild runs this binary with args (and env added to this process's
// environment) and waits until ready answers 2xx.
func startChild(ctx context.Context, args []string, ready string, logs io.Writer, env ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	if logs != nil {
		cmd.Stderr = logs
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %w", args[0], err)
	}
	c := &child{cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-c.done:
			return nil, fmt.Errorf("%s exited before it was ready: %v", args[0], err)
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 || resp.StatusCode == 405 {
				return c, nil
			}
		}
	}
	c.stop()
	return nil, fmt.Errorf("%s was not ready within 90s", args[0])
}

// stop sends SIGTERM and waits (at most a minute) for the process to exit.
func (c *child) stop() error {
	if c.cmd.ProcessState != nil {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		c.done <- err
		return err
	case <-time.After(time.Minute):
		_ = c.cmd.Process.Kill()
		return errors.New("killed after a minute")
	}
}

// baselineCmd serves the bare Fiber handler bench compares against.
func baselineCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("baseline", "Serve a bare Fiber GIF handler (used by sezim bench --baseline).", stderr)
	addr := fs.String("addr", "127.0.0.1:8081", "listener")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx, stop := onSignals(ctx)
	defer stop()
	app := collector.Baseline()
	go func() {
		<-ctx.Done()
		_ = app.Shutdown()
	}()
	return app.Listen(*addr)
}

// rollupWatch is what watchRollup saw.
type rollupWatch struct {
	runs    float64 // rollup runs finished
	seconds float64 // their total duration
	maxLag  float64 // largest sezim_rollup_lag_seconds scraped
}

func (w rollupWatch) String() string {
	if w.runs == 0 {
		return "no run finished"
	}
	return fmt.Sprintf("%.0f runs, %.2f s each on average, lag at most %.0f s", w.runs, w.seconds/w.runs, w.maxLag)
}

// watchRollup scrapes the collector's rollup metrics every two seconds
// until the returned function is called, which returns what it saw.
func watchRollup(ctx context.Context, url string) func() rollupWatch {
	ctx, cancel := context.WithCancel(ctx)
	var (
		mu sync.Mutex
		w  rollupWatch
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
			resp.Body.Close()
			mu.Lock()
			for _, line := range strings.Split(string(b), "\n") {
				name, val, ok := strings.Cut(line, " ")
				if !ok {
					continue
				}
				f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
				if err != nil {
					continue
				}
				switch name {
				case "sezim_rollup_lag_seconds":
					w.maxLag = max(w.maxLag, f)
				case "sezim_rollup_duration_seconds_count":
					w.runs = f
				case "sezim_rollup_duration_seconds_sum":
					w.seconds = f
				}
			}
			mu.Unlock()
		}
	}()
	return func() rollupWatch {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return w
	}
}
