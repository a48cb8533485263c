package sessionlog

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/site"
)

// Skip reasons: a line that is well formed but is not a page view to count.
// The set is closed (metric labels).
const (
	SkipMethod = "method" // not GET
	SkipStatus = "status" // not 2xx or 3xx
	SkipAsset  = "asset"  // an image, style sheet, script, font, ...
	SkipTooOld = "too_old"
	// The pipeline's own drops keep its names: bot, prefetch, dnt, gpc,
	// refused.
)

// Reject reasons beyond the parse errors.
var (
	ErrFuture      = errors.New("time in the future")
	ErrBadTarget   = errors.New("bad request target")
	ErrMalformed   = errors.New("malformed url")
	ErrOtherHost   = errors.New("host is not one of the site's domains")
	ErrUnavailable = errors.New("collector busy: line not processed")
	// ErrControl and ErrMarkup: the path, a UTM value or the event name
	// held a control character or markup (pipeline/scrub).
	ErrControl = errors.New("control character in a value")
	ErrMarkup  = errors.New("markup in a value")
)

// MaxErrors is how many rejected lines a Summary lists.
const MaxErrors = 10

// FutureSlack is how far ahead of the clock a line's time may be.
const FutureSlack = time.Hour

// Summary is the outcome of one batch, as answered to the sender and kept by
// the ledger for resends. It holds counts and fixed reasons only.
type Summary struct {
	Accepted  int            `json:"accepted"`
	Skipped   map[string]int `json:"skipped"`
	Rejected  int            `json:"rejected"`
	Errors    []LineError    `json:"errors"`
	Duplicate bool           `json:"duplicate,omitempty"`
}

// LineError says why one line was rejected; Line counts from 1 within the
// batch.
type LineError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// SkippedTotal adds up the skipped lines.
func (s *Summary) SkippedTotal() int {
	n := 0
	for _, v := range s.Skipped {
		n += v
	}
	return n
}

// Options configure an Ingester.
type Options struct {
	Pipeline *pipeline.Pipeline
	// Now is the clock (default time.Now); retention and "future" are
	// judged against it.
	Now func() time.Time
	Reg prometheus.Registerer
	// BusyWait bounds how long one batch waits, in total, for a full sink
	// to take events again before its remaining lines are rejected as
	// unavailable (default 30s).
	BusyWait time.Duration
	// Parallel is how many parts of a batch are processed at once (default
	// 256). The sink answers each event once it is durable (the WAL's group
	// commit): lines processed one after another would each wait for their
	// own fsync, so a batch is cut into this many runs of lines, processed
	// side by side, and one fsync covers a line of each.
	Parallel int
}

// Ingester feeds the lines of a batch through the pipeline, one Hit per
// line, exactly as the pixel does. It is safe for concurrent use.
type Ingester struct {
	o     Options
	pool  sync.Pool
	lines *prometheus.CounterVec
	ok    prometheus.Counter
}

// work is one batch's scratch, pooled.
type work struct {
	p   Parser
	rec Record
	hit event.Hit
	ev  event.Event
	url []byte
}

// NewIngester returns an Ingester and registers its metrics.
func NewIngester(o Options) *Ingester {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Reg == nil {
		o.Reg = prometheus.NewRegistry()
	}
	if o.BusyWait <= 0 {
		o.BusyWait = 30 * time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 256
	}
	in := &Ingester{o: o}
	in.pool.New = func() any { return new(work) }
	in.lines = promauto.With(o.Reg).NewCounterVec(prometheus.CounterOpts{
		Name: "sezim_sessionlog_lines_total",
		Help: "Session-log lines, by outcome (accepted, skipped, rejected) and reason."}, []string{"outcome", "reason"})
	in.ok = in.lines.WithLabelValues("accepted", "")
	return in
}

// Ingest processes every line of body (lines end in \n; \r\n and blank lines
// are fine) for site s. It never fails as a whole: a bad line is counted and
// listed, and the batch goes on. Once ctx ends, remaining lines are rejected
// as unavailable.
func (in *Ingester) Ingest(ctx context.Context, s *site.Site, f Format, body []byte) Summary {
	now := in.o.Now()
	// Cut the body into runs of whole lines, one per worker.
	parts := in.o.Parallel
	if lines := bytes.Count(body, []byte{'\n'}) + 1; lines < parts*8 {
		parts = max(1, lines/8)
	}
	type part struct {
		sum      Summary
		rejected map[string]int
	}
	results := make([]part, 0, parts)
	var bodies [][]byte
	var firsts []int
	line := 1
	for rest := body; len(rest) > 0; {
		end := len(rest)
		if len(bodies) < parts-1 {
			end = min(len(rest), len(body)/parts+1)
			if i := bytes.IndexByte(rest[end-1:], '\n'); i >= 0 {
				end += i // just past the newline at rest[end-1+i]
			} else {
				end = len(rest)
			}
		}
		bodies = append(bodies, rest[:end])
		firsts = append(firsts, line)
		line += bytes.Count(rest[:end], []byte{'\n'})
		rest = rest[end:]
	}
	results = results[:len(bodies)]
	var wg sync.WaitGroup
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i].sum, results[i].rejected = in.ingestPart(ctx, s, f, bodies[i], firsts[i], now)
		}()
	}
	wg.Wait()
	sum := Summary{Skipped: map[string]int{}, Errors: []LineError{}}
	rejected := map[string]int{}
	for _, r := range results {
		sum.Accepted += r.sum.Accepted
		sum.Rejected += r.sum.Rejected
		for k, v := range r.sum.Skipped {
			sum.Skipped[k] += v
		}
		for k, v := range r.rejected {
			rejected[k] += v
		}
		// Parts are in line order, so the first errors come first.
		for _, e := range r.sum.Errors {
			if len(sum.Errors) < MaxErrors {
				sum.Errors = append(sum.Errors, e)
			}
		}
	}
	in.ok.Add(float64(sum.Accepted))
	for k, v := range sum.Skipped {
		in.lines.WithLabelValues("skipped", k).Add(float64(v))
	}
	for k, v := range rejected {
		in.lines.WithLabelValues("rejected", k).Add(float64(v))
	}
	return sum
}

// ingestPart processes one run of lines; n0 is its first line's number.
func (in *Ingester) ingestPart(ctx context.Context, s *site.Site, f Format, body []byte, n0 int, now time.Time) (Summary, map[string]int) {
	w := in.pool.Get().(*work)
	defer in.pool.Put(w)
	sum := Summary{Skipped: map[string]int{}}
	rejected := map[string]int{}
	cutoff := RetentionCutoff(s, now)
	future := now.Add(FutureSlack)
	busyUntil := time.Time{}

	reject := func(n int, err error) {
		sum.Rejected++
		rejected[err.Error()]++
		if len(sum.Errors) < MaxErrors {
			sum.Errors = append(sum.Errors, LineError{Line: n, Reason: err.Error()})
		}
	}
	n := n0 - 1
	for len(body) > 0 {
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		n++
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if ctx.Err() != nil {
			reject(n, ErrUnavailable)
			continue
		}
		if err := w.p.Parse(f, line, &w.rec); err != nil {
			reject(n, err)
			continue
		}
		r := &w.rec
		if r.Time.After(future) {
			reject(n, ErrFuture)
			continue
		}
		if skip := filter(r, cutoff); skip != "" {
			sum.Skipped[skip]++
			continue
		}
		if !in.fill(w, s) {
			reject(n, ErrBadTarget)
			continue
		}
		_, why, err := in.o.Pipeline.Process(&w.hit, &w.ev)
		for err != nil && ctx.Err() == nil {
			// The sink is full: wait for it to drain, then try the
			// same line again (Process cleared the hit's address).
			if busyUntil.IsZero() {
				busyUntil = time.Now().Add(in.o.BusyWait)
			}
			if time.Now().After(busyUntil) {
				break
			}
			sleep(ctx, 50*time.Millisecond)
			w.hit.Reset()
			w.ev.Reset()
			in.fill(w, s)
			_, why, err = in.o.Pipeline.Process(&w.hit, &w.ev)
		}
		w.hit.Reset()
		w.ev.Reset()
		switch {
		case err != nil:
			reject(n, ErrUnavailable)
		case why == event.DropNone:
			sum.Accepted++
		case why == event.DropMalformed || why == event.DropUnknownSite:
			reject(n, ErrMalformed)
		case why == event.DropOrigin:
			reject(n, ErrOtherHost)
		case why == event.DropControl:
			reject(n, ErrControl)
		case why == event.DropMarkup:
			reject(n, ErrMarkup)
		default:
			sum.Skipped[string(why)]++
		}
	}
	w.rec.Reset()
	return sum, rejected
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// RetentionCutoff is the first instant a line may have to be kept: the
// start of the oldest site-local day the daily aggregates still hold.
func RetentionCutoff(s *site.Site, now time.Time) time.Time {
	l := now.In(s.Location).AddDate(0, 0, -s.Retention.DailyDays)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, s.Location)
}

// filter says why a parsed line is not a page view to count, or "".
func filter(r *Record, cutoff time.Time) string {
	switch {
	case r.Method != "GET":
		return SkipMethod
	case r.Status != 0 && (r.Status < 200 || r.Status > 399):
		return SkipStatus
	case IsAsset(r.Target):
		return SkipAsset
	case r.Time.Before(cutoff):
		return SkipTooOld
	}
	return ""
}

// fill builds the Hit for w.rec: the URL made absolute with the line's host
// or the site's first domain. It reports false for a target that is neither
// a path nor an absolute http(s) URL.
func (in *Ingester) fill(w *work, s *site.Site) bool {
	r, h := &w.rec, &w.hit
	switch {
	case hasPrefix(r.Target, "/"):
		host := r.Host
		if host == "" {
			host = s.Domains[0]
		}
		w.url = append(append(append(w.url[:0], "https://"...), host...), r.Target...)
		h.URL = str(w.url)
	case hasPrefixFold(r.Target, "http://") || hasPrefixFold(r.Target, "https://"):
		h.URL = r.Target
	default:
		return false
	}
	h.Source = event.SourceSessionLog
	h.Time = r.Time
	h.SiteID = s.ID
	h.Referrer = r.Referrer
	h.IP = r.IP
	h.UserAgent = r.UserAgent
	h.AcceptLanguage = r.AcceptLanguage
	// Logs do not record Accept and Accept-Language presence; a browser
	// always sends them, and the user-agent patterns still catch robots.
	h.HasAccept, h.HasAcceptLang = true, true
	h.ConsentCookie = r.ConsentCookie
	h.VisitorCookie = r.VisitorCookie
	h.UserID = r.UserID
	return true
}

func hasPrefixFold(s, p string) bool {
	if len(s) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}

// assetExt lists the file extensions of requests that are not page views.
var assetExt = map[string]struct{}{}

func init() {
	for _, e := range []string{
		// images
		"png", "jpg", "jpeg", "gif", "webp", "avif", "svg", "svgz", "ico", "bmp", "tif", "tiff", "cur", "heic",
		// styles, scripts, source maps, data the pages fetch
		"css", "js", "mjs", "cjs", "map", "json", "xml", "txt", "wasm", "webmanifest",
		// fonts
		"woff", "woff2", "ttf", "otf", "eot",
		// media
		"mp4", "webm", "ogg", "ogv", "mp3", "wav", "m4a", "m4v", "flac", "aac", "vtt",
	} {
		assetExt[e] = struct{}{}
	}
}

// IsAsset reports whether a request target names a static file by its
// extension (query and fragment ignored, case-insensitive).
func IsAsset(target string) bool {
	if i := indexAny2(target, '?', '#'); i >= 0 {
		target = target[:i]
	}
	dot := -1
	for i := len(target) - 1; i >= 0; i-- {
		c := target[i]
		if c == '.' {
			dot = i
			break
		}
		if c == '/' {
			return false
		}
	}
	if dot < 0 || len(target)-dot-1 > 11 {
		return false
	}
	var buf [12]byte
	ext := buf[:0]
	for i := dot + 1; i < len(target); i++ {
		c := target[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		ext = append(ext, c)
	}
	_, ok := assetExt[string(ext)]
	return ok
}

func indexAny2(s string, a, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == a || s[i] == b {
			return i
		}
	}
	return -1
}
