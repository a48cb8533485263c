package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sezim-analytics/sezim/sessionlog"
)

// importOptions are import's flags.
type importOptions struct {
	sf          storeFlags
	collector   string
	key         string
	siteID      string
	direct      bool
	dataDir     string
	geoPath     string
	consentKey  string
	format      string
	batchLines  int
	statePath   string
	gzipBody    bool
	progress    string
	progressInt time.Duration
	retries     int
	timeout     time.Duration
}

func (o *importOptions) register(fs *flag.FlagSet) {
	o.sf.register(fs)
	fs.StringVar(&o.collector, "collector", "", "collector to send to, e.g. https://stats.example.com (not with --direct)")
	secretVar(fs, &o.key, "key", "the site's ingest key (sent as a bearer token; never printed)")
	fs.StringVar(&o.siteID, "site", "", "site id (required with --direct when the config has several sites)")
	fs.BoolVar(&o.direct, "direct", false, "write straight into the store with the pipeline in this process (--store, --config, --data, --geoip)")
	fs.StringVar(&o.dataDir, "data", "data", "--direct: folder of the salts file (share it with the collector to share the day's visitor hash)")
	fs.StringVar(&o.geoPath, "geoip", "", "--direct: geo database (.mmdb); empty: no countries")
	secretVar(fs, &o.consentKey, "consent-key", "--direct: key that signs consent cookies, to honour sezim_consent in the log; empty: every line anonymous")
	fs.StringVar(&o.format, "format", "auto", "line format: combined, ndjson or auto (by the first line)")
	fs.IntVar(&o.batchLines, "batch-lines", 10_000, "lines per batch (one request, or one insert with --direct)")
	fs.StringVar(&o.statePath, "state", "", "resume state file (default: FIRST_INPUT.sezim-import; none for stdin unless given)")
	fs.BoolVar(&o.gzipBody, "gzip", true, "gzip request bodies")
	fs.StringVar(&o.progress, "progress", "auto", "progress display: auto (a bar on a terminal, periodic lines otherwise), bar, lines or none")
	fs.DurationVar(&o.progressInt, "progress-interval", 10*time.Second, "how often a progress line is printed when not on a terminal")
	fs.IntVar(&o.retries, "retries", 8, "attempts per batch on network errors, 409 and 5xx answers")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "time limit of one request")
}

const importSummary = `Import access logs: nginx/Apache "combined" lines (optionally with the Cookie
header appended as a quoted field) or NDJSON records, plain or gzipped, from
files or "-" (stdin). Lines go through the same pipeline as the pixel, via a
collector's POST /sessionlog or straight into the store (--direct).

Runs are resumable: the state file records how far each input was
acknowledged; run the same command again to continue. Every batch has an
idempotency key made of the input's identity and its byte range, so a batch
that was processed but not acknowledged still counts once.

  sezim import --collector https://stats.example.com --key KEY --site example access.log.1.gz access.log
  sezim import --direct --store clickhouse://… --config sites.yaml --site example access.log`

func importCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import", importSummary, stderr)
	var o importOptions
	o.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	inputs := fs.Args()
	if len(inputs) == 0 {
		return errors.New("name at least one input file, or - for stdin")
	}
	if o.batchLines < 1 || o.batchLines > 1_000_000 {
		return fmt.Errorf("--batch-lines %d must be between 1 and 1000000", o.batchLines)
	}
	var fmtFixed sessionlog.Format
	switch o.format {
	case "combined":
		fmtFixed = sessionlog.FormatCombined
	case "ndjson":
		fmtFixed = sessionlog.FormatNDJSON
	case "auto":
	default:
		return fmt.Errorf("--format %q: use combined, ndjson or auto", o.format)
	}
	if o.statePath == "" && inputs[0] != "-" {
		o.statePath = inputs[0] + ".sezim-import"
	}
	var send sender
	var err error
	if o.direct {
		if o.collector != "" {
			return errors.New("--direct writes to the store: leave out --collector")
		}
		d, err := newDirectSender(ctx, &o, stderr)
		if err != nil {
			return err
		}
		defer d.close()
		ctx, stop := onSignals(ctx)
		defer stop()
		send = d
		err = runImport(ctx, &o, inputs, fmtFixed, send, stdout, stderr)
		if ferr := d.finish(context.WithoutCancel(ctx)); err == nil {
			err = ferr
		}
		return err
	}
	if o.collector == "" || o.key == "" || o.siteID == "" {
		return errors.New("--collector, --key and --site are required (or use --direct)")
	}
	if send, err = newHTTPSender(&o); err != nil {
		return err
	}
	ctx, stop := onSignals(ctx)
	defer stop()
	return runImport(ctx, &o, inputs, fmtFixed, send, stdout, stderr)
}

// sender processes one batch and returns its summary.
type sender interface {
	send(ctx context.Context, b *batch) (sessionlog.Summary, error)
}

// batch is a run of whole lines of one input.
type batch struct {
	format     sessionlog.Format
	body       []byte
	lines      int
	firstLine  int   // line number of the first line in its input, from 1
	start, end int64 // byte range in the (decompressed) input
	key        string
}

// importState is the resume file: per input, how far it was acknowledged.
type importState struct {
	Version int                    `json:"version"`
	Inputs  map[string]*inputState `json:"inputs"`
}

type inputState struct {
	Identity string `json:"identity"`
	Offset   int64  `json:"offset"`
	Lines    int    `json:"lines"`
	Done     bool   `json:"done"`
}

func loadState(path string) (*importState, error) {
	st := &importState{Version: 1, Inputs: map[string]*inputState{}}
	if path == "" {
		return st, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read state %q: %w", path, err)
	}
	if err := json.Unmarshal(data, st); err != nil || st.Inputs == nil {
		return nil, fmt.Errorf("cannot use state %q: not a sezim import state file", path)
	}
	return st, nil
}

// save writes the state atomically: a crash leaves the old or the new file.
func (s *importState) save(path string) error {
	if path == "" {
		return nil
	}
	data, _ := json.MarshalIndent(s, "", "  ")
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("cannot write state %q: %w", path, err)
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("cannot write state %q: %w", path, err)
	}
	return nil
}

// totals add up the batches' summaries.
type totals struct {
	lines, accepted, rejected, duplicates int
	skipped                               map[string]int
	errors                                []string
	bytes                                 atomic.Int64 // input bytes read, as stored (compressed)
	size                                  int64        // known total of the inputs' sizes
	began                                 time.Time
}

const maxShownErrors = 20

func (t *totals) add(b *batch, s sessionlog.Summary, input string) {
	if s.Duplicate {
		t.duplicates++
	}
	t.accepted += s.Accepted
	t.rejected += s.Rejected
	for k, v := range s.Skipped {
		t.skipped[k] += v
	}
	for _, e := range s.Errors {
		if len(t.errors) < maxShownErrors {
			t.errors = append(t.errors, fmt.Sprintf("%s:%d: %s", input, b.firstLine+e.Line-1, e.Reason))
		}
	}
}

// runImport reads every input in turn, in batches, resuming from the state.
func runImport(ctx context.Context, o *importOptions, inputs []string, fixed sessionlog.Format, send sender, stdout, stderr io.Writer) error {
	state, err := loadState(o.statePath)
	if err != nil {
		return err
	}
	tot := &totals{skipped: map[string]int{}, began: time.Now()}
	for _, in := range inputs {
		if in != "-" {
			if fi, err := os.Stat(in); err == nil {
				tot.size += fi.Size()
			}
		}
	}
	prog := newProgress(o, stderr, tot)
	defer prog.stop()
	for _, in := range inputs {
		if err := importInput(ctx, o, in, fixed, state, send, tot, prog); err != nil {
			prog.stop()
			printSummary(stdout, tot, false)
			return err
		}
	}
	prog.stop()
	printSummary(stdout, tot, true)
	return nil
}

// countingReader counts the bytes read from the input as stored.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func importInput(ctx context.Context, o *importOptions, name string, fixed sessionlog.Format, state *importState, send sender, tot *totals, prog *progress) error {
	var raw io.Reader = os.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("cannot open %q: %w", name, err)
		}
		defer f.Close()
		raw = f
	}
	raw = countingReader{raw, &tot.bytes}
	br := bufio.NewReaderSize(raw, 256<<10)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("cannot read %q as gzip: %w", name, err)
		}
		defer zr.Close()
		r = zr
	}
	lr := bufio.NewReaderSize(r, 256<<10)
	// The input's identity: a hash of its first 64 KiB (decompressed), so
	// a renamed or rotated file is still recognised and another is not.
	head, _ := lr.Peek(64 << 10)
	if len(head) == 0 {
		return nil
	}
	sum := sha256.Sum256(head)
	identity := hex.EncodeToString(sum[:12])
	format := fixed
	if format == 0 {
		format = sessionlog.FormatCombined
		if trimmed := bytes.TrimLeft(head, " \t\r\n\ufeff"); len(trimmed) > 0 && trimmed[0] == '{' {
			format = sessionlog.FormatNDJSON
		}
	}
	key := name
	if name != "-" {
		if abs, err := filepath.Abs(name); err == nil {
			key = abs
		}
	}
	is := state.Inputs[key]
	if is == nil || is.Identity != identity {
		is = &inputState{Identity: identity}
		state.Inputs[key] = is
	}
	if is.Done {
		prog.note(fmt.Sprintf("%s: already imported (state %s)", name, o.statePath))
		return nil
	}
	offset, line := is.Offset, is.Lines
	if offset > 0 {
		if _, err := io.CopyN(io.Discard, lr, offset); err != nil {
			return fmt.Errorf("cannot skip to the resume point of %q (offset %d): %w", name, offset, err)
		}
		prog.note(fmt.Sprintf("%s: resuming at line %d (byte %d)", name, line+1, offset))
	}
	// Read batches ahead while the previous one is being sent.
	// The reader goroutine reads lr, which wraps the gzip reader and the
	// file closed by the defers above: on every return path it must have
	// ended before they run. Deferred calls run last-in first-out, so this
	// one (cancel, drain, wait) runs before the closes.
	batches := make(chan *batch, 2)
	readErr := make(chan error, 1)
	readerDone := make(chan struct{})
	rctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		for range batches {
		}
		<-readerDone
	}()
	go func() {
		defer close(readerDone)
		defer close(batches)
		readErr <- readBatches(rctx, lr, format, o.batchLines, offset, line, identity, batches)
	}()
	for b := range batches {
		s, err := send.send(ctx, b)
		if err != nil {
			return fmt.Errorf("%s, lines %d-%d: %w", name, b.firstLine, b.firstLine+b.lines-1, err)
		}
		tot.lines += b.lines
		tot.add(b, s, name)
		is.Offset, is.Lines = b.end, b.firstLine+b.lines-1
		if err := state.save(o.statePath); err != nil {
			return err
		}
		prog.update()
	}
	if err := <-readErr; err != nil {
		return fmt.Errorf("cannot read %q: %w", name, err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	is.Done = true
	return state.save(o.statePath)
}

// readBatches cuts the input into batches of whole lines. A line longer
// than sessionlog.MaxLine is sent cut short, so the server rejects it with
// its line number rather than the import stopping.
func readBatches(ctx context.Context, r *bufio.Reader, f sessionlog.Format, n int, offset int64, line int, identity string, out chan<- *batch) error {
	for {
		b := &batch{format: f, start: offset, firstLine: line + 1}
		for b.lines < n {
			chunk, err := r.ReadSlice('\n')
			offset += int64(len(chunk))
			long := false
			for errors.Is(err, bufio.ErrBufferFull) {
				if !long && len(chunk) > 0 {
					b.body = append(b.body, chunk[:min(len(chunk), sessionlog.MaxLine+1)]...)
				}
				long = true
				chunk, err = r.ReadSlice('\n')
				offset += int64(len(chunk))
			}
			if !long {
				b.body = append(b.body, chunk...)
			}
			if len(chunk) > 0 || long {
				b.lines++
				if long || (len(chunk) > 0 && chunk[len(chunk)-1] != '\n') {
					b.body = append(b.body, '\n')
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
		if b.lines == 0 {
			return nil
		}
		b.end = offset
		b.key = "import/" + identity + "/" + strconv.FormatInt(b.start, 10) + "-" + strconv.FormatInt(b.end, 10)
		line += b.lines
		select {
		case out <- b:
		case <-ctx.Done():
			return nil
		}
		if b.lines < n {
			return nil
		}
	}
}

// httpSender posts batches to a collector's /sessionlog.
type httpSender struct {
	o      *importOptions
	url    string
	client *http.Client
	zbuf   bytes.Buffer
	zw     *gzip.Writer
}

func newHTTPSender(o *importOptions) (*httpSender, error) {
	u, err := url.Parse(strings.TrimRight(o.collector, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--collector %q is not an http(s) URL", o.collector)
	}
	u.Path += "/sessionlog"
	u.RawQuery = url.Values{"site": {o.siteID}}.Encode()
	s := &httpSender{o: o, url: u.String(), client: &http.Client{Timeout: o.timeout}}
	s.zw, _ = gzip.NewWriterLevel(&s.zbuf, gzip.BestSpeed)
	return s, nil
}

// errFatal marks an answer that retrying cannot fix.
type errFatal struct{ msg string }

func (e errFatal) Error() string { return e.msg }

func (s *httpSender) send(ctx context.Context, b *batch) (sessionlog.Summary, error) {
	body := b.body
	if s.o.gzipBody {
		s.zbuf.Reset()
		s.zw.Reset(&s.zbuf)
		_, _ = s.zw.Write(body)
		_ = s.zw.Close()
		body = s.zbuf.Bytes()
	}
	ctype := "text/plain; charset=utf-8"
	if b.format == sessionlog.FormatNDJSON {
		ctype = "application/x-ndjson"
	}
	var last error
	for attempt := 0; attempt < max(1, s.o.retries); attempt++ {
		if attempt > 0 {
			wait := min(time.Duration(1<<min(attempt-1, 5))*500*time.Millisecond, 15*time.Second)
			var ra *retryAfter
			if errors.As(last, &ra) {
				wait = ra.d
			}
			select {
			case <-ctx.Done():
				return sessionlog.Summary{}, ctx.Err()
			case <-time.After(wait):
			}
		}
		sum, err := s.post(ctx, body, ctype, b.key)
		if err == nil {
			return sum, nil
		}
		var fatal errFatal
		if errors.As(err, &fatal) || ctx.Err() != nil {
			return sessionlog.Summary{}, err
		}
		last = err
	}
	return sessionlog.Summary{}, fmt.Errorf("giving up after %d attempts: %w", s.o.retries, last)
}

type retryAfter struct {
	d   time.Duration
	msg string
}

func (r *retryAfter) Error() string { return r.msg }

func (s *httpSender) post(ctx context.Context, body []byte, ctype, key string) (sessionlog.Summary, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return sessionlog.Summary{}, errFatal{err.Error()}
	}
	req.Header.Set("Authorization", "Bearer "+s.o.key)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Idempotency-Key", key)
	if s.o.gzipBody {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return sessionlog.Summary{}, fmt.Errorf("cannot reach the collector: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return sessionlog.Summary{}, fmt.Errorf("cannot read the collector's answer: %w", err)
	}
	var e struct {
		Error string `json:"error"`
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		var sum sessionlog.Summary
		if err := json.Unmarshal(data, &sum); err != nil {
			return sessionlog.Summary{}, fmt.Errorf("cannot read the collector's answer: %w", err)
		}
		return sum, nil
	case resp.StatusCode == http.StatusConflict || resp.StatusCode >= 500:
		_ = json.Unmarshal(data, &e)
		d := 2 * time.Second
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 && n < 600 {
			d = time.Duration(n) * time.Second
		}
		return sessionlog.Summary{}, &retryAfter{d: d, msg: fmt.Sprintf("collector answered %d %s", resp.StatusCode, e.Error)}
	default:
		_ = json.Unmarshal(data, &e)
		return sessionlog.Summary{}, errFatal{fmt.Sprintf("collector answered %d %s", resp.StatusCode, e.Error)}
	}
}

// printSummary writes the run's outcome.
func printSummary(w io.Writer, t *totals, complete bool) {
	took := time.Since(t.began)
	rate := float64(t.lines) / max(took.Seconds(), 1e-9)
	state := "done"
	if !complete {
		state = "stopped (run the same command again to resume)"
	}
	fmt.Fprintf(w, "import %s: %d lines in %s (%.0f lines/s, %s read)\n", state, t.lines, took.Round(time.Millisecond), rate, humanBytes(t.bytes.Load()))
	skipped := 0
	keys := make([]string, 0, len(t.skipped))
	for k, v := range t.skipped {
		skipped += v
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, t.skipped[k]))
	}
	fmt.Fprintf(w, "  accepted %d, skipped %d", t.accepted, skipped)
	if len(parts) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, ", rejected %d", t.rejected)
	if t.duplicates > 0 {
		fmt.Fprintf(w, ", %d batch(es) already counted before", t.duplicates)
	}
	fmt.Fprintln(w)
	for _, e := range t.errors {
		fmt.Fprintf(w, "  rejected %s\n", e)
	}
	if t.rejected > len(t.errors) && len(t.errors) > 0 {
		fmt.Fprintf(w, "  … and %d more rejected lines\n", t.rejected-len(t.errors))
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
