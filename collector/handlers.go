package collector

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/reqbody"
)

// gif is the smallest valid transparent 1×1 GIF (43 bytes).
var gif = []byte{
	'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0,
	0, 0, 0, 0xff, 0xff, 0xff,
	'!', 0xf9, 4, 1, 0, 0, 0, 0,
	',', 0, 0, 0, 0, 1, 0, 1, 0, 0,
	2, 2, 'D', 1, 0, ';',
}

// pixel answers GET /p.gif. It always answers the GIF, so a page never shows
// a broken image; the status and the X-Sezim-Reason header say whether the
// event counted.
func (c *Collector) pixel(ctx *fiber.Ctx) error {
	w := c.get()
	defer c.put(w)
	h := &w.hit
	h.Source = event.SourcePixel
	status, why := c.decodePixel(ctx, h)
	if why == "" {
		c.fillHeaders(ctx, h)
		// The <noscript> pixel sends no page URL: the Referer header is
		// the page (often just its origin, by the browser's policy).
		if h.URL == "" {
			h.URL = ctx.Get(fiber.HeaderReferer)
		}
		status, why = c.process(w)
		c.refused("pixel", status, why)
	} else {
		c.o.Pipeline.Reject(h.Source, event.DropMalformed)
		c.rejected.WithLabelValues("pixel", string(why)).Inc()
	}
	if why != "" {
		ctx.Set("X-Sezim-Reason", string(why))
	}
	if status == fiber.StatusServiceUnavailable {
		ctx.Set(fiber.HeaderRetryAfter, "5")
	}
	if status == fiber.StatusAccepted {
		status = fiber.StatusOK // an image answers 200
	}
	c.count("pixel", status)
	ctx.Set(fiber.HeaderContentType, "image/gif")
	ctx.Set(fiber.HeaderCacheControl, "no-store, max-age=0")
	ctx.Status(status)
	return ctx.Send(gif)
}

// decodePixel reads the query parameters: s site, u page URL, r referrer,
// w screen width, l language, n event name.
func (c *Collector) decodePixel(ctx *fiber.Ctx, h *event.Hit) (int, reason) {
	args := ctx.Context().QueryArgs()
	var bad reason
	args.VisitAll(func(k, v []byte) {
		if len(v) > maxField {
			bad = reasonFieldTooLong
			return
		}
		if string(k) == "uid" { // the site's account id (kept only with consent)
			h.UserID = string(v)
			return
		}
		if len(k) != 1 {
			return
		}
		switch k[0] {
		case 's':
			h.SiteID = string(v)
		case 'u':
			h.URL = string(v)
		case 'r':
			h.Referrer = string(v)
		case 'l':
			h.Language = string(v)
		case 'n':
			h.Name = string(v)
		case 'w':
			n, err := strconv.Atoi(string(v))
			if err != nil || n < 0 || n > 100_000 {
				bad = reasonBadScreen
				return
			}
			h.Screen = n
		}
	})
	if bad != "" {
		return fiber.StatusBadRequest, bad
	}
	if h.SiteID == "" {
		return fiber.StatusBadRequest, reasonMissingSite
	}
	return 0, ""
}

// beaconBody is the JSON the tracker sends (the pixel's fields, spelled the
// same). P holds the custom event's properties (props.go).
type beaconBody struct {
	S string          `json:"s"`
	U string          `json:"u"`
	R string          `json:"r"`
	W json.Number     `json:"w"`
	L string          `json:"l"`
	N string          `json:"n"`
	P json.RawMessage `json:"p"`
	// UID is the site's account id for a logged-in visitor; kept only
	// with statistics and identified consent.
	UID string `json:"uid"`
}

// beacon answers POST /e with 202 when the event was taken (kept or dropped
// by the visitor's choice alike), 400 with a reason for bad input.
func (c *Collector) beacon(ctx *fiber.Ctx) error {
	c.cors(ctx)
	w := c.get()
	defer c.put(w)
	h := &w.hit
	h.Source = event.SourceBeacon
	status, why := c.decodeBeacon(ctx, w)
	if why == "" {
		c.fillHeaders(ctx, h)
		status, why = c.process(w)
		c.refused("beacon", status, why)
	} else {
		c.o.Pipeline.Reject(h.Source, event.DropMalformed)
		c.rejected.WithLabelValues("beacon", string(why)).Inc()
	}
	c.count("beacon", status)
	if why == reasonBadOrigin {
		uncors(ctx)
	}
	if status == fiber.StatusServiceUnavailable {
		ctx.Set(fiber.HeaderRetryAfter, "5")
	}
	if why != "" {
		return ctx.Status(status).JSON(fiber.Map{"error": string(why)})
	}
	return ctx.SendStatus(status)
}

// decodeBeacon parses the body: JSON, sent as application/json or as
// text/plain by navigator.sendBeacon.
// The body is read into the pooled w.body: the hot path allocates nothing
// for it.
func (c *Collector) decodeBeacon(ctx *fiber.Ctx, w *work) (int, reason) {
	h := &w.hit
	body, status, why := readBody(ctx, reqbody.Limit{Max: MaxBeaconBytes, Gzip: true}, w.body)
	if why != "" {
		return status, why
	}
	w.body = body[:0]
	var b beaconBody
	if err := json.Unmarshal(body, &b); err != nil {
		return fiber.StatusBadRequest, reasonBadJSON
	}
	for _, s := range []string{b.S, b.U, b.R, b.L, b.N, b.UID} {
		if len(s) > maxField {
			return fiber.StatusBadRequest, reasonFieldTooLong
		}
	}
	if b.S == "" {
		return fiber.StatusBadRequest, reasonMissingSite
	}
	if b.W != "" {
		n, err := strconv.Atoi(b.W.String())
		if err != nil || n < 0 || n > 100_000 {
			return fiber.StatusBadRequest, reasonBadScreen
		}
		h.Screen = n
	}
	h.SiteID, h.URL, h.Referrer, h.Language, h.Name = b.S, b.U, b.R, b.L, b.N
	h.UserID = b.UID
	if why := decodeProps(b.P, h); why != "" {
		return fiber.StatusBadRequest, why
	}
	return 0, ""
}

// cors answers for an Origin that some configured site allows. The site of a
// beacon is only known after its body is read, so the per-site origin check
// happens in the pipeline; here the browser only learns whether the origin
// may talk to this collector at all.
func (c *Collector) cors(ctx *fiber.Ctx) bool {
	origin := ctx.Get(fiber.HeaderOrigin)
	ctx.Vary(fiber.HeaderOrigin)
	if origin == "" || !c.originAllowed(origin) {
		return false
	}
	ctx.Set(fiber.HeaderAccessControlAllowOrigin, origin)
	ctx.Set(fiber.HeaderAccessControlAllowCredentials, "true")
	return true
}

// uncors takes back what cors answered, once the request's site turns out
// not to have configured its origin (another site did): the browser must
// not read the answer either.
func uncors(ctx *fiber.Ctx) {
	ctx.Response().Header.Del(fiber.HeaderAccessControlAllowOrigin)
	ctx.Response().Header.Del(fiber.HeaderAccessControlAllowCredentials)
}

func (c *Collector) originAllowed(origin string) bool {
	for _, s := range c.o.Sites.Sites {
		if s.AllowsOrigin(origin) {
			return true
		}
	}
	return false
}

func (c *Collector) preflight(ctx *fiber.Ctx) error {
	if !c.cors(ctx) {
		c.count("preflight", fiber.StatusForbidden)
		return ctx.SendStatus(fiber.StatusForbidden)
	}
	ctx.Set(fiber.HeaderAccessControlAllowMethods, "POST")
	ctx.Set(fiber.HeaderAccessControlAllowHeaders, strings.Join([]string{fiber.HeaderContentType}, ", "))
	ctx.Set(fiber.HeaderAccessControlMaxAge, "86400")
	c.count("preflight", fiber.StatusNoContent)
	return ctx.SendStatus(fiber.StatusNoContent)
}
