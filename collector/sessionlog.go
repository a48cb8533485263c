package collector

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"mime"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sezim-analytics/sezim/reqbody"
	"github.com/sezim-analytics/sezim/sessionlog"
	"github.com/sezim-analytics/sezim/site"
)

// DefaultSessionLogMaxBytes bounds a session-log batch, compressed and
// after decompression alike.
const DefaultSessionLogMaxBytes = 16 << 20

// SessionLogOptions configure POST /sessionlog.
type SessionLogOptions struct {
	// MaxBytes bounds a request body as sent and after gunzip (so a small
	// zip bomb cannot expand past it); default DefaultSessionLogMaxBytes.
	MaxBytes int
	// Ledger remembers processed batches so a resend counts once; nil
	// keeps it in memory (resends recognised by this process only).
	Ledger sessionlog.Ledger
	// Timeout bounds one batch's processing (default 2 minutes, well
	// inside sessionlog.ClaimLease).
	Timeout time.Duration
}

// sessionLog is the state of the /sessionlog route.
type sessionLog struct {
	o       SessionLogOptions
	ingest  *sessionlog.Ingester
	keys    map[*site.Site][][sha256.Size]byte
	batches *prometheus.CounterVec
}

// Reasons of the session-log route.
const (
	reasonUnauthorized  reason = "unauthorized"
	reasonContentType   reason = "unsupported_content_type"
	reasonBadIdemKey    reason = "bad_idempotency_key"
	reasonInProgress    reason = "batch_in_progress"
	reasonLedgerFailure reason = "ledger_unavailable"
)

func (c *Collector) routeSessionLog(reg prometheus.Registerer) {
	o := c.o.SessionLog
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultSessionLogMaxBytes
	}
	if o.Ledger == nil {
		o.Ledger = sessionlog.NewMemoryLedger()
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	sl := &sessionLog{
		o:      o,
		ingest: sessionlog.NewIngester(sessionlog.Options{Pipeline: c.o.Pipeline, Now: c.o.Now, Reg: reg}),
		keys:   map[*site.Site][][sha256.Size]byte{},
		batches: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "sezim_sessionlog_batches_total",
			Help: "Session-log batches, by result (processed, duplicate, in_progress, unrecorded)."}, []string{"result"}),
	}
	for _, s := range c.o.Sites.Sites {
		for _, k := range s.IngestKeys {
			sl.keys[s] = append(sl.keys[s], sha256.Sum256([]byte(k)))
		}
	}
	c.sl = sl
	c.app.Post("/sessionlog", c.sessionLogHandler)
}

// sessionLogHandler answers POST /sessionlog: a batch of NDJSON records or
// combined access-log lines for one site. The answer is 200 with a Summary
// whatever the lines held (a line never fails the batch); 401 without a
// valid ingest key, 413 past the size bound, 415 for another format, 409
// while the same batch is being processed elsewhere, 503 when the ledger
// cannot be reached (nothing was processed: send again later).
func (c *Collector) sessionLogHandler(ctx *fiber.Ctx) error {
	sl := c.sl
	fail := func(status int, why reason) error {
		c.rejected.WithLabelValues("sessionlog", string(why)).Inc()
		c.count("sessionlog", status)
		switch status {
		case fiber.StatusUnauthorized:
			ctx.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="sezim"`)
		case fiber.StatusConflict, fiber.StatusServiceUnavailable:
			ctx.Set(fiber.HeaderRetryAfter, "5")
		}
		return ctx.Status(status).JSON(fiber.Map{"error": string(why)})
	}
	s := sl.authenticate(c.o.Sites, ctx.Get(fiber.HeaderAuthorization), ctx.Query("site"))
	if s == nil {
		return fail(fiber.StatusUnauthorized, reasonUnauthorized)
	}
	var format sessionlog.Format
	mt, _, _ := mime.ParseMediaType(ctx.Get(fiber.HeaderContentType))
	switch mt {
	case "application/x-ndjson", "application/jsonl", "application/json-lines", "application/ndjson":
		format = sessionlog.FormatNDJSON
	case "text/plain", "":
		format = sessionlog.FormatCombined
	default:
		return fail(fiber.StatusUnsupportedMediaType, reasonContentType)
	}
	// Only now, with the key and the format checked, is the body read.
	body, status, why := readBody(ctx, reqbody.Limit{Max: sl.o.MaxBytes, Gzip: true}, nil)
	if why != "" {
		return fail(status, why)
	}
	name := ctx.Get("Idempotency-Key")
	if !validIdempotencyKey(name) {
		return fail(fiber.StatusBadRequest, reasonBadIdemKey)
	}
	if name == "" {
		name = sessionlog.ContentName(body)
	}

	rctx, cancel := context.WithTimeout(context.Background(), sl.o.Timeout)
	defer cancel()
	sum, err := sessionlog.RunBatch(rctx, sl.o.Ledger, s.ID, name, sessionlog.BatchOptions{},
		func(ctx context.Context) (sessionlog.Summary, error) {
			return sl.ingest.Ingest(ctx, s, format, body), nil
		})
	switch {
	case errors.Is(err, sessionlog.ErrInProgress):
		sl.batches.WithLabelValues("in_progress").Inc()
		return fail(fiber.StatusConflict, reasonInProgress)
	case errors.Is(err, sessionlog.ErrUnrecorded):
		// The lines are counted; only a resend could count them again.
		sl.batches.WithLabelValues("unrecorded").Inc()
	case err != nil:
		return fail(fiber.StatusServiceUnavailable, reasonLedgerFailure)
	case sum.Duplicate:
		sl.batches.WithLabelValues("duplicate").Inc()
		c.count("sessionlog", fiber.StatusOK)
		return ctx.Status(fiber.StatusOK).JSON(sum)
	default:
		sl.batches.WithLabelValues("processed").Inc()
	}
	if ex, ok := sl.o.Ledger.(interface{ Expire(context.Context) error }); ok {
		go func() {
			ectx, ecancel := context.WithTimeout(context.Background(), time.Minute)
			defer ecancel()
			_ = ex.Expire(ectx)
		}()
	}
	c.count("sessionlog", fiber.StatusOK)
	return ctx.Status(fiber.StatusOK).JSON(sum)
}

// authenticate returns the site the bearer key belongs to: the site named by
// siteID, or, without one, the site whose key it is. Every comparison is of
// SHA-256 digests in constant time, and every key of the candidate sites is
// compared, so timing tells nothing about how much of a key was right.
func (sl *sessionLog) authenticate(sites *site.Config, auth, siteID string) *site.Site {
	const prefix = "bearer "
	if len(auth) <= len(prefix) || !strings.EqualFold(auth[:len(prefix)], prefix) {
		return nil
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(auth[len(prefix):])))
	var found *site.Site
	check := func(s *site.Site) {
		for _, want := range sl.keys[s] {
			if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
				found = s
			}
		}
	}
	if siteID != "" {
		if s := sites.Site(siteID); s != nil {
			check(s)
		}
		return found
	}
	for _, s := range sites.Sites {
		check(s)
	}
	return found
}

// validIdempotencyKey accepts "" (none) or up to 256 visible ASCII bytes.
func validIdempotencyKey(k string) bool {
	if len(k) > 256 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return false
		}
	}
	return true
}
