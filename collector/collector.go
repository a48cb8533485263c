// Package collector is the Fiber app for public traffic: the tracking pixel,
// the beacon endpoint and the tracker script. Handlers only validate, copy
// what they need out of the request and hand a Hit to the pipeline: every
// decision and every enrichment happens there.
package collector

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/reqbody"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/web"
)

// MaxBeaconBytes limits a beacon's body.
const MaxBeaconBytes = 16 << 10

// Options configure the collector app.
type Options struct {
	Sites    *site.Config
	Pipeline *pipeline.Pipeline
	// Now is the clock; tests inject one.
	Now func() time.Time
	Reg prometheus.Registerer
	// Consent enables /consent, /consent/config and /consent/state
	// (collector/consent.go); nil: no consent endpoints.
	Consent *ConsentOptions
	// SessionLog configures POST /sessionlog (collector/sessionlog.go).
	SessionLog SessionLogOptions
}

// Collector serves public traffic.
type Collector struct {
	o        Options
	app      *fiber.App
	pool     sync.Pool
	requests *prometheus.CounterVec
	rejected *prometheus.CounterVec
	pixelOK  prometheus.Counter
	beaconOK prometheus.Counter
	sl       *sessionLog
	di       *dropin // the Plausible and Umami APIs (dropin.go)
}

// work is the per-request scratch, pooled so the hot path does not allocate.
type work struct {
	hit  event.Hit
	ev   event.Event
	body []byte // the beacon's body, read by reqbody.Read
}

// New builds the Fiber app.
func New(o Options) *Collector {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Reg == nil {
		o.Reg = prometheus.NewRegistry()
	}
	f := promauto.With(o.Reg)
	c := &Collector{
		o: o,
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sezim_collector_requests_total", Help: "Requests, by route and status code."}, []string{"route", "status"}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sezim_collector_rejected_total", Help: "Requests refused as bad input, by route and reason."}, []string{"route", "reason"}),
	}
	c.pixelOK = c.requests.WithLabelValues("pixel", "200")
	c.beaconOK = c.requests.WithLabelValues("beacon", "202")
	c.pool.New = func() any { return new(work) }
	c.app = fiber.New(fiber.Config{
		AppName:               "sezim",
		DisableStartupMessage: true,
		// Streamed bodies: a handler runs once the headers are in and
		// reads its body itself, through reqbody.Read with its own route's
		// limit (Fiber has one limit per app, and /sessionlog checks its
		// key before reading 16 MiB). BodyLimit then only bounds what is
		// read ahead with the headers (fasthttp reads at most 8 KiB ahead);
		// multipart is never parsed ahead.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		BodyLimit:                    MaxBeaconBytes,
		// Pixel URLs carry the page URL and referrer in the query string;
		// each may be up to maxField bytes.
		ReadBufferSize: 16 << 10,
		ReadTimeout:    10 * time.Second,
		WriteTimeout:   10 * time.Second,
		IdleTimeout:    60 * time.Second,
		ErrorHandler:   c.errorHandler,
	})
	c.app.Use(c.bodyGuard)
	c.app.Get("/p.gif", c.pixel)
	c.app.Post("/e", c.beacon)
	c.app.Options("/e", c.preflight)
	c.app.Get("/s.js", c.script)
	c.routeConsent(o.Reg)
	c.app.Get("/banner.js", c.bannerScript)
	c.routeSessionLog(o.Reg)
	c.routeDropin(o.Reg)
	return c
}

// App returns the Fiber app (for Listen and for tests' app.Test).
func (c *Collector) App() *fiber.App { return c.app }

// reason is a short, fixed explanation for a refused request. It is a
// metric label and a response text: never a value from the request.
type reason string

const (
	reasonBadQuery     reason = "bad_query"
	reasonBadJSON      reason = "bad_json"
	reasonTooLarge     reason = "too_large"
	reasonMissingSite  reason = "missing_site"
	reasonUnknownSite  reason = "unknown_site"
	reasonBadOrigin    reason = "origin_not_allowed"
	reasonMalformed    reason = "malformed_event"
	reasonUnavailable  reason = "unavailable"
	reasonBadScreen    reason = "bad_screen_width"
	reasonFieldTooLong reason = "field_too_long"
	// A free-form value held a control character or markup (pipeline/scrub).
	reasonControl reason = "control_character"
	reasonMarkup  reason = "markup"
)

// maxField bounds every string field of an event; longer input is refused
// rather than silently cut, so a bug in a sender shows.
const maxField = 4096

func (c *Collector) count(route string, status int) {
	// The two answers of the hot path are resolved once.
	switch {
	case route == "pixel" && status == fiber.StatusOK:
		c.pixelOK.Inc()
	case route == "beacon" && status == fiber.StatusAccepted:
		c.beaconOK.Inc()
	default:
		c.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	}
}

// clientIP is the visitor's address: the direct peer, or, when the peer is a
// trusted proxy, the right-most X-Forwarded-For entry that is not itself a
// trusted proxy.
func (c *Collector) clientIP(ctx *fiber.Ctx) netip.Addr {
	peer := peerAddr(ctx)
	if !c.o.Sites.TrustedProxy(peer) {
		return peer
	}
	xff := ctx.Get(fiber.HeaderXForwardedFor)
	for xff != "" {
		i := strings.LastIndexByte(xff, ',')
		part := strings.TrimSpace(xff[i+1:])
		xff = xff[:max(i, 0)]
		a, err := netip.ParseAddr(part)
		if err != nil {
			return peer // a garbled header: trust only what we saw
		}
		a = a.Unmap()
		if !c.o.Sites.TrustedProxy(a) {
			return a
		}
		if i < 0 {
			break
		}
	}
	return peer
}

// peerAddr is the address of the direct peer (a visitor or a proxy).
func peerAddr(ctx *fiber.Ctx) netip.Addr {
	peer, _ := netip.AddrFromSlice(ctx.Context().RemoteIP())
	return peer.Unmap()
}

// fillHeaders copies what the pipeline needs from the request headers.
func (c *Collector) fillHeaders(ctx *fiber.Ctx, h *event.Hit) {
	h.Time = c.o.Now().UTC()
	h.IP = c.clientIP(ctx)
	h.UserAgent = ctx.Get(fiber.HeaderUserAgent)
	h.DNT = ctx.Get("DNT") == "1"
	h.GPC = ctx.Get("Sec-GPC") == "1"
	h.Purpose = ctx.Get("Sec-Purpose")
	if h.Purpose == "" {
		h.Purpose = ctx.Get("Purpose")
	}
	if h.Purpose == "" && ctx.Get("X-Moz") == "prefetch" {
		h.Purpose = "prefetch"
	}
	h.AcceptLanguage = ctx.Get(fiber.HeaderAcceptLanguage)
	h.HasAcceptLang = h.AcceptLanguage != ""
	h.HasAccept = ctx.Get(fiber.HeaderAccept) != ""
	h.Origin = ctx.Get(fiber.HeaderOrigin)
	h.ConsentCookie = ctx.Cookies("sezim_consent")
	h.VisitorCookie = ctx.Cookies("sezim_vid")
}

// process runs the pipeline and maps its outcome to a status and a reason.
// Robots and visitors whose choice says "drop" get the same answer as a kept
// event: nothing in the response tells them apart.
func (c *Collector) process(w *work) (int, reason) {
	_, why, err := c.o.Pipeline.Process(&w.hit, &w.ev)
	switch {
	case errors.Is(err, pipeline.ErrBackpressure):
		return fiber.StatusServiceUnavailable, reasonUnavailable
	case err != nil:
		return fiber.StatusServiceUnavailable, reasonUnavailable
	case why == event.DropUnknownSite:
		return fiber.StatusBadRequest, reasonUnknownSite
	case why == event.DropOrigin:
		return fiber.StatusForbidden, reasonBadOrigin
	case why == event.DropMalformed:
		return fiber.StatusBadRequest, reasonMalformed
	case why == event.DropControl:
		return fiber.StatusBadRequest, reasonControl
	case why == event.DropMarkup:
		return fiber.StatusBadRequest, reasonMarkup
	}
	return fiber.StatusAccepted, ""
}

// refused counts a request the pipeline refused as bad input (400 or 403
// with a reason) under its route.
func (c *Collector) refused(route string, status int, why reason) {
	if why != "" && (status == fiber.StatusBadRequest || status == fiber.StatusForbidden) {
		c.rejected.WithLabelValues(route, string(why)).Inc()
	}
}

// bodyGuard refuses a body on GET and HEAD, which no route here takes, and
// after every handler deals with a body left unread (reqbody.DiscardUnread).
func (c *Collector) bodyGuard(ctx *fiber.Ctx) error {
	if m := ctx.Method(); (m == fiber.MethodGet || m == fiber.MethodHead) && reqbody.HasBody(ctx) {
		reqbody.DiscardUnread(ctx)
		c.rejected.WithLabelValues("get", string(reasonTooLarge)).Inc()
		c.count("get", fiber.StatusRequestEntityTooLarge)
		return ctx.Status(fiber.StatusRequestEntityTooLarge).JSON(fiber.Map{"error": string(reasonTooLarge)})
	}
	err := ctx.Next()
	reqbody.DiscardUnread(ctx)
	return err
}

// readBody reads a POST body within its route's limit l, and turns a
// refusal into the status and reason the route answers and counts.
func readBody(ctx *fiber.Ctx, l reqbody.Limit, dst []byte) ([]byte, int, reason) {
	body, err := reqbody.Read(ctx, l, dst)
	if err != nil {
		st, r := reqbody.Refusal(err)
		return nil, st, reason(r)
	}
	return body, 0, ""
}

func (c *Collector) get() *work { return c.pool.Get().(*work) }

func (c *Collector) put(w *work) {
	w.hit.Reset()
	w.ev.Reset()
	c.pool.Put(w)
}

func (c *Collector) errorHandler(ctx *fiber.Ctx, err error) error {
	code := fiber.StatusInternalServerError
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code = fe.Code
	}
	msg := "internal error"
	switch code {
	case fiber.StatusRequestEntityTooLarge:
		msg = string(reasonTooLarge)
	case fiber.StatusNotFound:
		msg = "not found"
	case fiber.StatusMethodNotAllowed:
		msg = "method not allowed"
	}
	return ctx.Status(code).JSON(fiber.Map{"error": msg})
}

// asset is one embedded script in its two representations.
type asset struct {
	route, contentType string
	plain, gzip        func() []byte
	etag, gzipETag     func() string
}

var (
	trackerAsset = asset{"script", web.TrackerContentType, web.Tracker, web.TrackerGzip, web.TrackerETag, web.TrackerGzipETag}
	bannerAsset  = asset{"banner", web.BannerContentType, web.Banner, web.BannerGzip, web.BannerETag, web.BannerGzipETag}
)

func (c *Collector) script(ctx *fiber.Ctx) error       { return c.serveAsset(ctx, &trackerAsset) }
func (c *Collector) bannerScript(ctx *fiber.Ctx) error { return c.serveAsset(ctx, &bannerAsset) }

// serveAsset answers with a script: gzip when accepted, a strong ETag per
// representation (304 on a match), and an hour of caching, so a new release
// reaches visitors within the hour.
func (c *Collector) serveAsset(ctx *fiber.Ctx, a *asset) error {
	ctx.Set(fiber.HeaderContentType, a.contentType)
	ctx.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	ctx.Set(fiber.HeaderVary, fiber.HeaderAcceptEncoding)
	body, etag := a.plain(), a.etag()
	if strings.Contains(ctx.Get(fiber.HeaderAcceptEncoding), "gzip") {
		body, etag = a.gzip(), a.gzipETag()
		ctx.Set(fiber.HeaderContentEncoding, "gzip")
	}
	ctx.Set(fiber.HeaderETag, etag)
	if ctx.Get(fiber.HeaderIfNoneMatch) == etag {
		c.count(a.route, fiber.StatusNotModified)
		return ctx.SendStatus(fiber.StatusNotModified)
	}
	c.count(a.route, fiber.StatusOK)
	return ctx.Send(body)
}
