package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/sessionlog"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

const clusterIngestKey = "cluster-test-ingest-key-0001"

// TestTwoShardCluster runs the sharded layout for real: two ClickHouse
// servers as the two shards of a cluster (scripts/clickhouse-test-cluster.sh),
// migrated node by node, and two collectors (`sezim serve`) writing at
// once through the Distributed events table. Every session-log batch is
// posted to both collectors at the same moment under one Idempotency-Key,
// as a sender retrying through a load balancer would, so it also checks
// that a batch counts once across collectors. Then each collector's rollup
// runs on its shard's local tables (serve --store-shard), and the
// aggregates read through the Distributed tables must equal, number for
// number, those of one node rolling up the same events.
func TestTwoShardCluster(t *testing.T) {
	if _, err := exec.LookPath("clickhouse-server"); err != nil {
		if os.Getenv("SEZIM_TEST_CLUSTER_REQUIRED") == "1" {
			t.Fatal("clickhouse-server is missing and the cluster test is required")
		}
		t.Skip("clickhouse-server is not installed (scripts/clickhouse-test-server.sh install)")
	}
	t.Setenv("SEZIM_TEST_BE_MAIN", "1")
	ctx := t.Context()
	dir := t.TempDir()
	p1 := freePort(t)
	p2 := 0
	for p := p1 + 17; p2 == 0 && p < p1+2000; p += 17 {
		a, _ := freeAddrAt(p)
		b, _ := freeAddrAt(p - 1000)
		c, _ := freeAddrAt(p + 9)
		if a && b && c && p-1000 != p1 && p+9 != p1-1000 {
			p2 = p
		}
	}
	if p2 == 0 {
		t.Fatal("no second free port")
	}
	script := filepath.Join(moduleRoot(t), "scripts", "clickhouse-test-cluster.sh")
	if out, err := exec.Command("bash", script, "start", dir, fmt.Sprint(p1), fmt.Sprint(p2)).CombinedOutput(); err != nil {
		t.Fatalf("cannot start the cluster: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("bash", script, "stop", dir).Run() })
	nodes := []string{fmt.Sprintf("clickhouse://default:@127.0.0.1:%d/", p1), fmt.Sprintf("clickhouse://default:@127.0.0.1:%d/", p2)}

	cfgPath := filepath.Join(dir, "sites.yaml")
	if err := os.WriteFile(cfgPath, []byte("sites:\n  - id: sez\n    domains: [sez.test]\n    timezone: UTC\n    ingest_keys: ["+clusterIngestKey+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := site.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	clustered := store.Names{Stats: "cl_stats", Identified: "cl_identified", Staff: "cl_staff"}
	single := store.Names{Stats: "one_stats", Identified: "one_identified", Staff: "one_staff"}
	run := func(args ...string) {
		t.Helper()
		self, _ := os.Executable()
		if out, err := exec.Command(self, args...).CombinedOutput(); err != nil {
			t.Fatalf("sezim %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, n := range nodes {
		run("migrate", "up", "--store", n, "--cluster", "sezim_test", "--cluster-per-node",
			"--stats-db", clustered.Stats, "--identified-db", clustered.Identified, "--staff-db", clustered.Staff, "--config", cfgPath)
	}
	run("migrate", "up", "--store", nodes[0], "--stats-db", single.Stats, "--identified-db", single.Identified, "--staff-db", single.Staff, "--config", cfgPath)

	// Two collectors. Both take node 1 as their store (the ledger, the
	// consent log and the staff tables are not sharded), and write events
	// through its Distributed table; insert_distributed_sync makes an
	// acknowledged insert one that reached its shard. Each names its own
	// shard for the rollup. The second starts with the first's salts, as
	// the README says, so a visitor counts once whichever it reaches.
	type coll struct {
		addr string
		c    *child
		logs *lockedBuffer
	}
	colls := make([]*coll, 2)
	for i := range colls {
		data := filepath.Join(dir, fmt.Sprintf("data%d", i))
		if err := os.MkdirAll(data, 0o700); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			b, err := os.ReadFile(filepath.Join(dir, "data0", "salts.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(data, "salts.json"), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		var addrs [3]string
		for j := range addrs {
			if addrs[j], err = freeAddr(); err != nil {
				t.Fatal(err)
			}
		}
		c := &coll{addr: addrs[0], logs: &lockedBuffer{}}
		args := []string{"serve", "--store", nodes[0] + "?insert_distributed_sync=1", "--cluster", "sezim_test",
			"--store-shard", nodes[i], "--stats-db", clustered.Stats, "--identified-db", clustered.Identified, "--staff-db", clustered.Staff,
			"--config", cfgPath, "--data", data, "--addr", addrs[0], "--api-addr", addrs[1], "--admin-addr", addrs[2],
			"--rollup-interval", "1h", "--flush-interval", "200ms", "--log-level", "warn"}
		if c.c, err = startChild(ctx, args, "http://"+addrs[2]+"/readyz", c.logs); err != nil {
			t.Fatalf("%v\n%s", err, c.logs.String())
		}
		t.Cleanup(func() { _ = c.c.cmd.Process.Kill() })
		colls[i] = c
	}

	// Session-log batches of 120 visitors over the last hours: gaps of up
	// to 50 minutes make several visits per visitor, and bounces, and
	// durations. A visitor's lines fall into many batches, and so reach
	// both collectors.
	now := time.Now().UTC()
	start := now.Add(-3 * time.Hour)
	if day := now.Truncate(24 * time.Hour); start.Before(day) && now.Sub(day) > 40*time.Minute {
		start = day // one salt day, unless the day is younger than 40 min
	}
	rng := rand.New(rand.NewPCG(13, 6))
	paths := []string{"/", "/pricing", "/doctors", "/doctors/12", "/blog/anxiety", "/contacts"}
	refs := []string{"", "", "https://www.google.com/", "https://t.me/", "https://yandex.kz/"}
	type line struct {
		at   time.Time
		text string
	}
	var lines []line
	span := now.Add(-time.Minute).Sub(start)
	for v := range 120 {
		at := start.Add(time.Duration(rng.Int64N(int64(span))))
		ua := fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/13%d.0.%d.0 Safari/537.36", v%3, v)
		ip := fmt.Sprintf("198.51.%d.%d", v, 1+v%200)
		for n := 1 + rng.IntN(6); n > 0 && at.Before(now.Add(-time.Minute)); n-- {
			js, _ := json.Marshal(map[string]any{"time": at.Format(time.RFC3339), "ip": ip, "url": "https://sez.test" + paths[rng.IntN(len(paths))],
				"status": 200, "user_agent": ua, "referrer": refs[rng.IntN(len(refs))], "accept_language": "ru"})
			lines = append(lines, line{at, string(js)})
			at = at.Add(time.Duration(rng.IntN(50*60)) * time.Second)
		}
	}
	rng.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	var batches []string
	for i := 0; i < len(lines); i += 25 {
		var b strings.Builder
		for _, l := range lines[i:min(i+25, len(lines))] {
			b.WriteString(l.text + "\n")
		}
		batches = append(batches, b.String())
	}

	// Every batch to both collectors at once; 409 is retried after a
	// random pause, as a sender honouring Retry-After would.
	client := &http.Client{Timeout: 30 * time.Second}
	post := func(c *coll, key, body string) (int, sessionlog.Summary, error) {
		req, _ := http.NewRequest("POST", "http://"+c.addr+"/sessionlog", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("Authorization", "Bearer "+clusterIngestKey)
		req.Header.Set("Idempotency-Key", key)
		resp, err := client.Do(req)
		if err != nil {
			return 0, sessionlog.Summary{}, err
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var sum sessionlog.Summary
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(data, &sum); err != nil {
				return 0, sum, fmt.Errorf("%w: %s", err, data)
			}
		}
		return resp.StatusCode, sum, nil
	}
	var mu sync.Mutex
	processed, accepted := map[string]int{}, 0
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for bi, body := range batches {
		key := fmt.Sprintf("cluster-batch-%d", bi)
		for _, c := range colls {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				for attempt := 0; ; attempt++ {
					code, sum, err := post(c, key, body)
					if err != nil {
						t.Errorf("batch %d: %v", bi, err)
						return
					}
					if code == http.StatusConflict && attempt < 100 {
						time.Sleep(time.Duration(10+rand.IntN(100)) * time.Millisecond)
						continue
					}
					if code != http.StatusOK {
						t.Errorf("batch %d: status %d", bi, code)
						return
					}
					mu.Lock()
					if !sum.Duplicate {
						processed[key]++
						accepted += sum.Accepted
					}
					mu.Unlock()
					return
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for bi := range batches {
		if n := processed[fmt.Sprintf("cluster-batch-%d", bi)]; n != 1 {
			t.Errorf("batch %d processed %d times", bi, n)
		}
	}
	if accepted != len(lines) {
		t.Fatalf("%d lines accepted of %d", accepted, len(lines))
	}
	open := func(url string, names store.Names) store.Store {
		t.Helper()
		st, err := store.Open(ctx, url, names)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	count := func(st store.Store, q string) uint64 {
		t.Helper()
		var n uint64
		if err := st.Query(ctx, q, func(r store.Row) error { n = r.Uint64(0); return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	coord := open(nodes[0], clustered)
	// Every acknowledged line is shipped from the write-ahead logs within
	// moments; then the collectors wait out the rollup's settle time (an
	// insert may take up to 15 s to become visible, so a run counts only
	// what was inserted before that) and stop, and stopping runs each
	// one's rollup on its shard (--store-shard) over all of it.
	if !waitFor(60*time.Second, func() bool {
		return count(coord, "SELECT count() FROM cl_stats.events") >= uint64(len(lines))
	}) {
		t.Fatalf("only %d of %d events reached the cluster", count(coord, "SELECT count() FROM cl_stats.events"), len(lines))
	}
	time.Sleep(16 * time.Second)
	for i, c := range colls {
		if err := c.c.stop(); err != nil {
			t.Fatalf("collector %d: %v\n%s", i, err, c.logs.String())
		}
		if l := c.logs.String(); strings.Contains(l, `"level":"ERROR"`) || strings.Contains(l, "rollup failed") {
			t.Errorf("collector %d logged errors:\n%s", i, l)
		}
	}
	if n := count(coord, "SELECT count() FROM cl_stats.events"); n != uint64(len(lines)) {
		t.Fatalf("%d events through the Distributed table, want %d", n, len(lines))
	}
	shards := []store.Store{coord, open(nodes[1], clustered)}
	seen := map[string]int{}
	for i, st := range shards {
		n := uint64(0)
		err := st.Query(ctx, "SELECT toString(salt_day), toString(visitor), count() FROM cl_stats.events_local GROUP BY salt_day, visitor", func(r store.Row) error {
			seen[r.String(0)+"/"+r.String(1)] |= 1 << i
			n += r.Uint64(2)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 || n == uint64(len(lines)) {
			t.Fatalf("shard %d holds %d of %d events: the events are not spread", i+1, n, len(lines))
		}
	}
	split := 0
	for _, mask := range seen {
		if mask == 3 {
			split++
		}
	}
	if split > 0 {
		t.Errorf("%d of %d visitors have events on both shards", split, len(seen))
	}
	var days []time.Time
	if err := coord.Query(ctx, "SELECT DISTINCT toString(salt_day) FROM cl_stats.events", func(r store.Row) error {
		d, err := time.Parse(time.DateOnly, r.String(0))
		days = append(days, d)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// Each collector's rollup wrote its own shard's numbers.
	for i, st := range shards {
		if n := count(st, "SELECT count() FROM cl_stats.agg_daily_local"); n == 0 {
			t.Fatalf("shard %d has no aggregates of its own: its collector's rollup did not run there", i+1)
		}
	}
	// One node's rollup over a copy of the same events.
	one := open(nodes[0], single)
	if err := one.Exec(ctx, "INSERT INTO one_stats.events SELECT * FROM cl_stats.events"); err != nil {
		t.Fatal(err)
	}
	r := rollup.New(rollup.Options{Store: one, Sites: cfg, Settle: -1})
	for _, d := range days {
		if _, err := r.Run(ctx, d); err != nil {
			t.Fatal(err)
		}
	}

	// Number for number: every key's visitors, visits, pageviews, bounces,
	// durations and events.
	read := func(db, table, key, final string) []string {
		t.Helper()
		q := fmt.Sprintf("SELECT %[1]s, sum(visitors), sum(visits), sum(pageviews), sum(bounces), sum(duration), sum(events) "+
			"FROM (SELECT * FROM %[2]s.%[3]s %[4]s) GROUP BY %[1]s ORDER BY %[1]s", key, db, table, final)
		var out []string
		err := coord.Query(ctx, q, func(row store.Row) error {
			var b bytes.Buffer
			for i := range row.Len() {
				b.WriteString(row.String(i) + "\t")
			}
			out = append(out, b.String())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, c := range []struct{ table, key, final string }{
		{"agg_hourly", "site, hour, dim, value, salt_day", "FINAL"},
		{"agg_daily", "site, day, dim, value, salt_day", "FINAL"},
		{"agg_pairs", "site, day, fdim, fvalue, dim, value, salt_day", ""},
	} {
		got, want := read("cl_stats", c.table, c.key, c.final), read("one_stats", c.table, c.key, c.final)
		if len(want) < 10 {
			t.Fatalf("%s: only %d rows on the single node", c.table, len(want))
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: the shards do not add up to one node's numbers:\n%s", c.table, diffLines(got, want))
		}
	}
	total := read("cl_stats", "agg_daily", "dim", "FINAL WHERE dim = ''")
	t.Logf("%d events, %d batches, %d salt day(s); site totals (visitors, visits, pageviews, bounces, duration, events): %s",
		len(lines), len(batches), len(days), total)
}

// diffLines lists the rows only one side has (at most 20).
func diffLines(got, want []string) string {
	in := map[string]int{}
	for _, l := range want {
		in[l]++
	}
	for _, l := range got {
		in[l]--
	}
	var b strings.Builder
	n := 0
	for l, c := range in {
		if c != 0 && n < 20 {
			fmt.Fprintf(&b, "%+d\t%s\n", -c, l)
			n++
		}
	}
	return fmt.Sprintf("%d rows from the shards, %d from one node; +got -want:\n%s", len(got), len(want), b.String())
}

// TestServeClusterFlags: serve refuses, before touching any store, a
// cluster whose rollup would run on the Distributed tables and a shard
// named without a cluster.
func TestServeClusterFlags(t *testing.T) {
	f := func(want string, args ...string) {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append([]string{"serve", "--store", "clickhouse://default:@127.0.0.1:1/", "--config", "../../config/example.yaml", "--data", t.TempDir()}, args...)
		if code := run(t.Context(), args, &out, &errOut); code != 2 && code != 1 || !strings.Contains(errOut.String(), want) {
			t.Fatalf("%v: exit %d: %s", args, code, errOut.String())
		}
	}
	f("--store-shard needs --cluster", "--store-shard", "clickhouse://default:@127.0.0.1:2/")
	f("give --store-shard", "--cluster", "c")
}
