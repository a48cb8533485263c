package importer

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sezim-analytics/sezim/sessionlog"
)

// HTTPOptions configure an HTTPSender.
type HTTPOptions struct {
	// Collector is the collector's base URL, e.g. https://stats.example.com.
	Collector string
	// Key is the site's ingest key, sent as a bearer token.
	Key string
	// Site is the site's id.
	Site string
	// Plain sends bodies uncompressed; by default they are gzipped.
	Plain bool
	// Retries is the number of attempts per batch on network errors, 409
	// and 5xx answers; default 8.
	Retries int
	// Timeout bounds one request; default 2 minutes.
	Timeout time.Duration
}

// HTTPSender posts batches to a collector's POST /sessionlog, each with its
// name as Idempotency-Key, so a batch resent after a lost answer is counted
// once by the collector's ledger. It is not safe for concurrent use: Run
// sends one batch at a time.
type HTTPSender struct {
	o      HTTPOptions
	url    string
	client *http.Client
	zbuf   bytes.Buffer
	zw     *gzip.Writer
}

// NewHTTPSender returns a sender to o.Collector; an error when the URL is
// not http(s) or the key or site is missing.
func NewHTTPSender(o HTTPOptions) (*HTTPSender, error) {
	if o.Retries <= 0 {
		o.Retries = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Key == "" || o.Site == "" {
		return nil, errors.New("cannot send to a collector without the site and its ingest key")
	}
	u, err := url.Parse(strings.TrimRight(o.Collector, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("cannot send to collector %q: not an http(s) URL", o.Collector)
	}
	u.Path += "/sessionlog"
	u.RawQuery = url.Values{"site": {o.Site}}.Encode()
	s := &HTTPSender{o: o, url: u.String(), client: &http.Client{Timeout: o.Timeout}}
	s.zw, _ = gzip.NewWriterLevel(&s.zbuf, gzip.BestSpeed)
	return s, nil
}

// errFatal marks an answer that retrying cannot fix.
type errFatal struct{ msg string }

func (e errFatal) Error() string { return e.msg }

// Send implements Sender. It retries network errors, 409 (the batch is
// being processed by another request) and 5xx answers, waiting as the
// collector's Retry-After says or backing off, and gives up at once on any
// other answer.
func (s *HTTPSender) Send(ctx context.Context, b *Batch) (sessionlog.Summary, error) {
	body := b.Body
	if !s.o.Plain {
		s.zbuf.Reset()
		s.zw.Reset(&s.zbuf)
		_, _ = s.zw.Write(body)
		_ = s.zw.Close()
		body = s.zbuf.Bytes()
	}
	ctype := "text/plain; charset=utf-8"
	if b.Format == sessionlog.FormatNDJSON {
		ctype = "application/x-ndjson"
	}
	var last error
	for attempt := 0; attempt < s.o.Retries; attempt++ {
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
		sum, err := s.post(ctx, body, ctype, b.Name)
		if err == nil {
			return sum, nil
		}
		var fatal errFatal
		if errors.As(err, &fatal) || ctx.Err() != nil {
			return sessionlog.Summary{}, err
		}
		last = err
	}
	return sessionlog.Summary{}, fmt.Errorf("giving up after %d attempts: %w", s.o.Retries, last)
}

type retryAfter struct {
	d   time.Duration
	msg string
}

func (r *retryAfter) Error() string { return r.msg }

func (s *HTTPSender) post(ctx context.Context, body []byte, ctype, name string) (sessionlog.Summary, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return sessionlog.Summary{}, errFatal{err.Error()}
	}
	req.Header.Set("Authorization", "Bearer "+s.o.Key)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Idempotency-Key", name)
	if !s.o.Plain {
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
