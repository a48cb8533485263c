package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Options configure one run.
type Options struct {
	// Target is the collector's base URL; only loopback addresses are
	// accepted, since load must never leave this machine.
	Target string
	Site   string
	Host   string // page host of the site (must be allowed by its config)
	// Conns is the number of connections (closed loop: concurrent
	// requests; open loop: the most requests in flight).
	Conns    int
	Duration time.Duration
	// Rate, when > 0, sends at this fixed rate (open loop) and measures
	// each latency from the request's scheduled send time, so a stalled
	// server cannot hide its queue (no coordinated omission).
	Rate int
	Mix  Mix
	Seed uint64
	// PolicyVersion is the site's consent policy version, for the
	// decisions of the mix.
	PolicyVersion string
}

// Result is what a run measured.
type Result struct {
	Sent      uint64
	OK        uint64 // 2xx answers
	Countable uint64 // 2xx answers to requests that are not robots: events that must be stored
	Decisions uint64 // 2xx answers to consent decisions: consent log rows that must be stored
	Errors    uint64 // transport errors
	Status    map[int]uint64
	Elapsed   time.Duration
	Latency   Histogram
	// Behind counts open-loop requests sent more than 1 ms after their
	// scheduled time because every connection was busy.
	Behind uint64
	// FirstError is the first transport error seen, if any.
	FirstError error
}

// Throughput is answered requests per second.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK+r.failed()) / r.Elapsed.Seconds()
}

func (r *Result) failed() uint64 {
	var n uint64
	for code, c := range r.Status {
		if code < 200 || code > 299 {
			n += c
		}
	}
	return n
}

// String is the human summary.
func (r *Result) String() string {
	return fmt.Sprintf("%d requests in %.1fs: %.0f req/s; latency p50 %v p99 %v p99.9 %v max %v; %d ok, %d not 2xx, %d transport errors%s",
		r.Sent, r.Elapsed.Seconds(), r.Throughput(),
		r.Latency.Quantile(0.5), r.Latency.Quantile(0.99), r.Latency.Quantile(0.999), r.Latency.Max(),
		r.OK, r.failed(), r.Errors, behind(r.Behind)) + firstError(r.FirstError)
}

func firstError(err error) string {
	if err == nil {
		return ""
	}
	return " (first: " + err.Error() + ")"
}

func behind(n uint64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; %d sent late (all connections busy)", n)
}

type worker struct {
	hist      Histogram
	sent      uint64
	ok        uint64
	countable uint64
	decisions uint64
	errors    uint64
	behind    uint64
	status    map[int]uint64
	firstErr  error
}

// Run sends load until Duration is over or ctx ends.
func Run(ctx context.Context, o Options) (*Result, error) {
	u, err := url.Parse(o.Target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("cannot use target %q: want http://127.0.0.1:PORT", o.Target)
	}
	if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" && h != "::1" {
		return nil, errors.New("load is only ever sent to this machine: the target must be 127.0.0.1, localhost or ::1")
	}
	if o.Conns <= 0 {
		o.Conns = 64
	}
	if o.Duration <= 0 || o.Duration > time.Hour {
		return nil, errors.New("duration must be between 0 and 1h")
	}
	if o.Site == "" || o.Host == "" {
		return nil, errors.New("site and host are required")
	}
	reqs := prepare(8192, o.Site, o.Host, o.PolicyVersion, o.Mix, o.Seed)
	client := &fasthttp.HostClient{
		Addr:                          u.Host,
		MaxConns:                      o.Conns,
		ReadTimeout:                   10 * time.Second,
		WriteTimeout:                  10 * time.Second,
		MaxIdleConnDuration:           time.Minute,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()

	workers := make([]*worker, o.Conns)
	var wg sync.WaitGroup
	start := time.Now()
	var sched chan time.Time
	if o.Rate > 0 {
		sched = make(chan time.Time, o.Conns)
		go schedule(ctx, sched, o.Rate, start)
	}
	for i := range workers {
		w := &worker{status: map[int]uint64{}}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(ctx, client, u.Host, reqs, i, sched)
		}()
	}
	wg.Wait()
	res := &Result{Elapsed: time.Since(start), Status: map[int]uint64{}}
	for _, w := range workers {
		res.Latency.Merge(&w.hist)
		res.Sent += w.sent
		res.OK += w.ok
		res.Countable += w.countable
		res.Decisions += w.decisions
		res.Errors += w.errors
		res.Behind += w.behind
		if res.FirstError == nil {
			res.FirstError = w.firstErr
		}
		for k, v := range w.status {
			res.Status[k] += v
		}
	}
	return res, nil
}

// schedule emits the send time of request i, start + i/rate, until ctx ends.
func schedule(ctx context.Context, out chan<- time.Time, rate int, start time.Time) {
	defer close(out)
	interval := time.Second / time.Duration(rate)
	for i := int64(0); ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > time.Millisecond {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		}
		select {
		case <-ctx.Done():
			return
		case out <- at:
		}
	}
}

func (w *worker) loop(ctx context.Context, c *fasthttp.HostClient, host string, reqs []request, id int, sched <-chan time.Time) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	for i := id; ; i += 7 {
		var at time.Time
		if sched != nil {
			var ok bool
			if at, ok = <-sched; !ok {
				return
			}
			if time.Since(at) > time.Millisecond {
				w.behind++
			}
		} else {
			if ctx.Err() != nil {
				return
			}
			at = time.Now()
		}
		r := &reqs[i%len(reqs)]
		req.Reset()
		req.SetRequestURI(r.uri)
		req.Header.SetHost(host)
		req.Header.Set("User-Agent", r.ua)
		req.Header.Set("Accept", "*/*")
		req.Header.Set("Accept-Language", r.lang)
		req.Header.Set("X-Forwarded-For", r.xff)
		if r.cookie != "" {
			req.Header.Set("Cookie", r.cookie)
		}
		if r.origin != "" {
			req.Header.Set("Origin", r.origin)
		}
		if r.post {
			req.Header.SetMethod("POST")
			req.Header.SetContentType("text/plain;charset=UTF-8")
			req.SetBodyRaw(r.body)
		}
		err := c.Do(req, resp)
		w.hist.Record(time.Since(at))
		w.sent++
		if err != nil {
			if w.errors == 0 {
				w.firstErr = err
			}
			w.errors++
			continue
		}
		code := resp.StatusCode()
		w.status[code]++
		if code/100 == 2 {
			w.ok++
			if r.countable {
				w.countable++
			}
			if r.decision {
				w.decisions++
			}
		}
	}
}
