package importer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sezim-analytics/sezim/collector"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/pipeline/wal"
	"github.com/sezim-analytics/sezim/sessionlog"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

const testIngestKey = "import-test-key-0123456789abcdef"

func importConfig(t *testing.T) *site.Config {
	t.Helper()
	cfg, err := site.Parse([]byte(`
sites:
  - id: sez
    domains: [sez.im]
    timezone: Asia/Almaty
    ingest_keys: [` + testIngestKey + `]
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// genLog is what the generator wrote: per site-local day, the page views
// and the distinct visitors the pipeline must count, and the skipped and
// rejected lines.
type genLog struct {
	lines    int
	accepted int
	skipped  map[string]int
	rejected int
	days     map[string][2]uint64 // pageviews, visitors
}

// writeLog generates n combined lines over the three days before now,
// gzipped, in time order.
func writeLog(t testing.TB, path string, n int, loc *time.Location) genLog {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	w := bufio.NewWriterSize(zw, 1<<20)
	g := genLog{lines: n, skipped: map[string]int{}, days: map[string][2]uint64{}}
	uas := []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
	}
	const bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	end := time.Now().Add(-time.Hour).Truncate(time.Second)
	start := end.Add(-72 * time.Hour)
	step := (end.Sub(start)) / time.Duration(n)
	visitors := map[string]map[int]bool{}
	const nVisitors = 5000
	for i := 0; i < n; i++ {
		ts := start.Add(time.Duration(i) * step)
		v := (i * 7919) % nVisitors
		ip := fmt.Sprintf("%d.%d.%d.9", 11+v/65536, (v/256)%256, v%256)
		ua := uas[v%len(uas)]
		path := "/page/" + strconv.Itoa(i%50)
		status := 200
		switch {
		case i%10007 == 5:
			fmt.Fprintf(w, "broken line %d\n", i)
			g.rejected++
			continue
		case i%20 == 1:
			path = "/static/app.js"
			g.skipped["asset"]++
		case i%50 == 2:
			status = 404
			g.skipped["status"]++
		case i%97 == 3:
			ua = bot
			g.skipped["bot"]++
		default:
			g.accepted++
			day := ts.In(loc).Format(time.DateOnly)
			d := g.days[day]
			d[0]++
			if visitors[day] == nil {
				visitors[day] = map[int]bool{}
			}
			if !visitors[day][v] {
				visitors[day][v] = true
				d[1]++
			}
			g.days[day] = d
		}
		fmt.Fprintf(w, "%s - - [%s] \"GET %s HTTP/1.1\" %d 1234 \"https://www.google.com/\" \"%s\"\n",
			ip, ts.UTC().Format("02/Jan/2006:15:04:05 -0700"), path, status, ua)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return g
}

// testBatchLines is the default batch size, or smaller for short logs: the
// interrupted run must stop with batches still to come (-short imports only
// 20,000 lines).
func testBatchLines(g genLog) int { return min(DefaultBatchLines, g.lines/10) }

func importLines(t *testing.T) int {
	if v := os.Getenv("SEZIM_IMPORT_LINES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			t.Fatalf("SEZIM_IMPORT_LINES=%q: want a number of at least 1000", v)
		}
		return n
	}
	if testing.Short() {
		return 20_000
	}
	return 100_000
}

func dailyTotals(t *testing.T, st store.Store) map[string][2]uint64 {
	t.Helper()
	out := map[string][2]uint64{}
	q := "SELECT toString(day), toUInt64(sum(pageviews)), toUInt64(sum(visitors)) FROM " + st.DB().Stats +
		".agg_daily FINAL WHERE site = 'sez' AND dim = '' GROUP BY day HAVING sum(pageviews) > 0"
	err := st.Query(t.Context(), q, func(r store.Row) error {
		out[r.String(0)] = [2]uint64{r.Uint64(1), r.Uint64(2)}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// stopAfter processes k batches, then the k+1-th one too but loses its
// acknowledgement (as a timeout would) and stops the run.
type stopAfter struct {
	s      Sender
	k      int
	cancel context.CancelFunc
}

func (s *stopAfter) Send(ctx context.Context, b *Batch) (sessionlog.Summary, error) {
	if s.k == 0 {
		_, _ = s.s.Send(ctx, b)
		s.cancel()
		return sessionlog.Summary{}, context.Canceled
	}
	s.k--
	return s.s.Send(ctx, b)
}

func checkSummary(t *testing.T, out string, g genLog) {
	t.Helper()
	var acc, rej int
	for _, line := range bytes.Split([]byte(out), []byte("\n")) {
		if i := bytes.Index(line, []byte("accepted ")); i >= 0 {
			fmt.Sscanf(string(line[i:]), "accepted %d", &acc)
		}
		if i := bytes.Index(line, []byte(", rejected ")); i >= 0 {
			fmt.Sscanf(string(line[i:]), ", rejected %d", &rej)
		}
	}
	if acc != g.accepted || rej != g.rejected {
		t.Fatalf("summary says accepted %d rejected %d, want %d %d:\n%s", acc, rej, g.accepted, g.rejected, out)
	}
}

// TestImportDirect imports a generated gzipped log straight into the store,
// stopped after a few batches with the last acknowledgement lost, then
// resumed: the aggregates match what the generator wrote, exactly once.
// SEZIM_IMPORT_LINES=1000000 runs the million-line version.
func TestImportDirect(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		cfg := importConfig(t)
		dir := t.TempDir()
		logPath := filepath.Join(dir, "access.log.gz")
		g := writeLog(t, logPath, importLines(t), cfg.Sites[0].Location)
		var out bytes.Buffer
		o := Options{BatchLines: testBatchLines(g), StatePath: logPath + ".sezim-import", Progress: "none", Stdout: &out}
		salts, err := anon.NewSalts(filepath.Join(dir, "salts.json"), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		d, err := NewDirectSender(DirectOptions{Store: st, Site: cfg.Sites[0], Pipeline: pipeline.Options{Sites: cfg, Salts: salts}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		err = Run(ctx, []string{logPath}, &stopAfter{s: d, k: 2, cancel: cancel}, o)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted run: %v", err)
		}
		began := time.Now()
		out.Reset()
		if err := Run(t.Context(), []string{logPath}, d, o); err != nil {
			t.Fatal(err)
		}
		took := time.Since(began)
		if err := d.Finish(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Logf("direct, %s: %d lines resumed in %s; %s", st.Engine(), g.lines, took, bytes.TrimSpace(out.Bytes()))
		if !bytes.Contains(out.Bytes(), []byte("1 batch(es) already counted")) {
			t.Fatalf("the batch whose acknowledgement was lost was not recognised:\n%s", out.String())
		}
		if got := dailyTotals(t, st); !reflect.DeepEqual(got, g.days) {
			t.Fatalf("daily totals %v, want %v", got, g.days)
		}
		// A third run has nothing to do.
		out.Reset()
		if err := Run(t.Context(), []string{logPath}, d, o); err != nil || !bytes.Contains(out.Bytes(), []byte(": 0 lines")) {
			t.Fatalf("third run: %v\n%s", err, out.String())
		}
		// Without the state file every batch is a duplicate: still once.
		if err := os.Remove(o.StatePath); err != nil {
			t.Fatal(err)
		}
		out.Reset()
		if err := Run(t.Context(), []string{logPath}, d, o); err != nil {
			t.Fatal(err)
		}
		checkSummary(t, out.String(), g)
		if err := d.Finish(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := dailyTotals(t, st); !reflect.DeepEqual(got, g.days) {
			t.Fatalf("daily totals after a run without state %v, want %v", got, g.days)
		}
	})
}

// TestImportViaCollector sends a generated log to a collector over loopback
// HTTP, stops and resumes, and checks the aggregates.
func TestImportViaCollector(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		cfg := importConfig(t)
		dir := t.TempDir()
		log := slog.New(slog.NewJSONHandler(io.Discard, nil))
		reg := prometheus.NewRegistry()
		w, err := wal.Open(wal.Options{Dir: filepath.Join(dir, "wal"), Store: st, Logger: log, Reg: reg})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close(context.Background())
		salts, err := anon.NewSalts(filepath.Join(dir, "salts.json"), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		p := pipeline.New(pipeline.Options{Sites: cfg, Salts: salts, Sink: w, Reg: reg})
		coll := collector.New(collector.Options{Sites: cfg, Pipeline: p, Reg: reg,
			SessionLog: collector.SessionLogOptions{Ledger: sessionlog.NewStoreLedger(st, nil)}})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = coll.App().Listener(ln) }()
		defer coll.App().Shutdown()

		logPath := filepath.Join(dir, "access.log.gz")
		g := writeLog(t, logPath, importLines(t), cfg.Sites[0].Location)
		var out bytes.Buffer
		o := Options{BatchLines: testBatchLines(g), StatePath: logPath + ".sezim-import", Progress: "none", Stdout: &out}
		hs, err := NewHTTPSender(HTTPOptions{Collector: "http://" + ln.Addr().String(), Key: testIngestKey, Site: "sez",
			Retries: 3, Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		if err := Run(ctx, []string{logPath}, &stopAfter{s: hs, k: 1, cancel: cancel}, o); !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted run: %v", err)
		}
		began := time.Now()
		out.Reset()
		if err := Run(t.Context(), []string{logPath}, hs, o); err != nil {
			t.Fatal(err)
		}
		t.Logf("via collector, %s: %d lines resumed in %s; %s", st.Engine(), g.lines, time.Since(began), bytes.TrimSpace(out.Bytes()))
		if err := w.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		roll := rollup.New(rollup.Options{Store: st, Sites: cfg, Logger: log, Settle: -1})
		for _, d := range salts.Days() {
			if _, err := roll.Run(t.Context(), d); err != nil {
				t.Fatal(err)
			}
		}
		if got := dailyTotals(t, st); !reflect.DeepEqual(got, g.days) {
			t.Fatalf("daily totals %v, want %v", got, g.days)
		}
	})
}

// failFirst refuses every batch, as a collector that answers 400 would.
type failFirst struct{ calls atomic.Int32 }

func (f *failFirst) Send(ctx context.Context, b *Batch) (sessionlog.Summary, error) {
	f.calls.Add(1)
	return sessionlog.Summary{}, errFatal{"collector answered 400"}
}

// TestImportStopsReaderBeforeClosing returns early from a gzipped input
// while the batch reader is still reading it: under -race, a reader that
// outlived the deferred Close of its gzip stream and file was reported
// here. The input is several batches long so the reader is mid-stream.
func TestImportStopsReaderBeforeClosing(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log.gz")
	writeLog(t, logPath, 30_000, time.UTC)
	for i := 0; i < 20; i++ {
		f := &failFirst{}
		err := Run(t.Context(), []string{logPath}, f, Options{BatchLines: 500, Progress: "none"})
		var fatal errFatal
		if !errors.As(err, &fatal) || f.calls.Load() != 1 {
			t.Fatalf("run %d: err %v after %d sends, want the first send's error", i, err, f.calls.Load())
		}
	}
}
