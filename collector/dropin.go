package collector

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/reqbody"
)

// Drop-in event APIs: a site running Plausible's or Umami's script switches
// to this collector by pointing the script at it. Each body is mapped onto
// the beacon's fields and then takes the beacon's path: the same body
// limits, CORS and origin checks, consent decision and rejection counting.
// Custom properties (Plausible's props, Umami's data) take the beacon's
// properties path: the site's keys are kept. What the other products keep
// and we do not (revenue, engagement pings, Umami's identify calls) is
// answered like a kept event and counted in
// sezim_collector_dropin_discarded_total.

// dropinHit is what a drop-in body says, before the site is known.
type dropinHit struct {
	// Domain finds the site (Plausible's d, Umami's hostname); UmamiID
	// finds it first where a site configured umami_website_id.
	Domain, UmamiID string
	URL, Referrer   string
	Name, Language  string
	Screen          int
	// Discard names what was sent and is not kept, each a bounded label
	// value; Skip is set when the whole event is not kept.
	Discard []string
	Skip    bool
	// Props is the custom properties object, decoded once the site is
	// known (decodeProps).
	Props json.RawMessage
}

// The values of Discard.
const (
	discardRevenue    = "revenue"
	discardEngagement = "engagement"
	discardIdentify   = "identify"
)

// plausibleBody is Plausible's event body: the short names its script
// sends, and the long ones its API documents for servers.
type plausibleBody struct {
	N        string          `json:"n"`
	Name     string          `json:"name"`
	U        string          `json:"u"`
	URL      string          `json:"url"`
	D        string          `json:"d"`
	Domain   string          `json:"domain"`
	R        *string         `json:"r"`
	Referrer *string         `json:"referrer"`
	W        json.Number     `json:"w"`
	H        json.Number     `json:"h"`
	P        json.RawMessage `json:"p"`
	Props    json.RawMessage `json:"props"`
	Revenue  json.RawMessage `json:"$"`
	Revenue2 json.RawMessage `json:"revenue"`
}

// decodePlausible maps a Plausible event body: n "pageview" is a pageview,
// "engagement" (time on page, scroll depth) is skipped, any other n is a
// custom event of that name. The fragment of u is dropped unless h says the
// site routes by it.
func decodePlausible(body []byte) (dropinHit, reason) {
	var b plausibleBody
	var d dropinHit
	if err := json.Unmarshal(body, &b); err != nil {
		return d, reasonBadJSON
	}
	name, u, domain := first(b.N, b.Name), first(b.U, b.URL), first(b.D, b.Domain)
	ref := b.R
	if ref == nil {
		ref = b.Referrer
	}
	if ref != nil {
		d.Referrer = *ref
	}
	for _, s := range []string{name, u, domain, d.Referrer} {
		if len(s) > maxField {
			return d, reasonFieldTooLong
		}
	}
	if domain == "" {
		return d, reasonMissingSite
	}
	if name == "" || u == "" {
		return d, reasonMalformed
	}
	if b.W != "" {
		n, err := strconv.Atoi(b.W.String())
		if err != nil || n < 0 || n > 100_000 {
			return d, reasonBadScreen
		}
		d.Screen = n
	}
	// One script may report to several Plausible sites at once
	// ("a.com,b.com"): the first names ours, the others are the site's
	// roll-ups elsewhere.
	d.Domain, _, _ = strings.Cut(domain, ",")
	d.Domain = strings.TrimSpace(d.Domain)
	if d.Domain == "" {
		// ",b.com" or " ": no first site to be ours.
		return d, reasonMissingSite
	}
	d.URL = u
	if b.H.String() != "1" {
		d.URL, _, _ = strings.Cut(u, "#")
	}
	if d.URL == "" {
		// "#top": a fragment and no page.
		return d, reasonMalformed
	}
	switch name {
	case "pageview":
	case "engagement":
		d.Skip = true
		d.Discard = append(d.Discard, discardEngagement)
	default:
		d.Name = name
	}
	d.Props = b.P
	if !hasValue(d.Props) {
		d.Props = b.Props
	}
	if hasValue(b.Revenue) || hasValue(b.Revenue2) {
		d.Discard = append(d.Discard, discardRevenue)
	}
	return d, ""
}

// umamiBody is Umami's /api/send body.
type umamiBody struct {
	Type    string `json:"type"`
	Payload struct {
		Website  string          `json:"website"`
		Hostname string          `json:"hostname"`
		URL      string          `json:"url"`
		Referrer string          `json:"referrer"`
		Name     string          `json:"name"`
		Data     json.RawMessage `json:"data"`
		Language string          `json:"language"`
		Screen   string          `json:"screen"`
		// Title is read to be bounded, never kept: a page title can
		// name a person (a profile, an appointment).
		Title string `json:"title"`
	} `json:"payload"`
}

// decodeUmami maps an Umami body: type "event" without a name is a
// pageview, with one a custom event; "identify" (which ties data to a
// session) is skipped. The url is the page's path and query, on hostname.
func decodeUmami(body []byte) (dropinHit, reason) {
	var b umamiBody
	var d dropinHit
	if err := json.Unmarshal(body, &b); err != nil {
		return d, reasonBadJSON
	}
	p := &b.Payload
	for _, s := range []string{b.Type, p.Website, p.Hostname, p.URL, p.Referrer, p.Name, p.Language, p.Screen, p.Title} {
		if len(s) > maxField {
			return d, reasonFieldTooLong
		}
	}
	switch b.Type {
	case "event", "":
	case "identify":
		d.Skip = true
		d.Discard = append(d.Discard, discardIdentify)
	default:
		return d, reasonMalformed
	}
	if p.Hostname == "" && p.Website == "" {
		return d, reasonMissingSite
	}
	if strings.ContainsAny(p.Hostname, "/\\?#@: ") {
		return d, reasonMalformed
	}
	switch {
	case strings.HasPrefix(p.URL, "http://"), strings.HasPrefix(p.URL, "https://"):
		d.URL = p.URL
	case strings.HasPrefix(p.URL, "/") && !strings.HasPrefix(p.URL, "//") && p.Hostname != "":
		// The scheme is not sent; nothing kept depends on it.
		d.URL = "https://" + p.Hostname + p.URL
	default:
		return d, reasonMalformed
	}
	if u, err := url.Parse(d.URL); err == nil && u.Host == "" {
		// "http://" and no host: no page of any site.
		return d, reasonMalformed
	}
	if p.Screen != "" {
		w, _, _ := strings.Cut(p.Screen, "x")
		n, err := strconv.Atoi(w)
		if err != nil || n < 0 || n > 100_000 {
			return d, reasonBadScreen
		}
		d.Screen = n
	}
	d.Domain, d.UmamiID = p.Hostname, p.Website
	d.Referrer, d.Name, d.Language = p.Referrer, p.Name, p.Language
	d.Props = p.Data
	return d, ""
}

// first returns a unless it is empty, else b.
func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// hasValue reports whether a JSON value carries anything: not absent,
// null, false, an empty object, array or string (or a string holding an
// empty object, as Plausible's older scripts sent props).
func hasValue(raw json.RawMessage) bool {
	v := bytes.TrimSpace(raw)
	switch string(v) {
	case "", "null", "false", "{}", "[]", `""`, `"{}"`, `"null"`:
		return false
	}
	return true
}

// dropin is the state of the drop-in routes.
type dropin struct {
	discarded *prometheus.CounterVec
}

// routeDropin adds POST /api/event (Plausible) and POST /api/send (Umami).
func (c *Collector) routeDropin(reg prometheus.Registerer) {
	c.di = &dropin{
		discarded: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "sezim_collector_dropin_discarded_total",
			Help: "Parts of Plausible and Umami events that are answered but not kept (revenue, engagement, identify), by api and what.",
		}, []string{"api", "what"}),
	}
	c.app.Post("/api/event", func(ctx *fiber.Ctx) error { return c.dropinEvent(ctx, "plausible", decodePlausible) })
	c.app.Options("/api/event", c.preflight)
	c.app.Post("/api/send", func(ctx *fiber.Ctx) error { return c.dropinEvent(ctx, "umami", decodeUmami) })
	c.app.Options("/api/send", c.umamiPreflight)
}

// dropinEvent answers a drop-in API as the beacon answers /e: 202 when the
// event was taken (kept, dropped by the visitor's choice, or not a kind we
// keep), 400 or 403 with a reason for bad input.
func (c *Collector) dropinEvent(ctx *fiber.Ctx, api string, decode func([]byte) (dropinHit, reason)) error {
	c.cors(ctx)
	w := c.get()
	defer c.put(w)
	h := &w.hit
	h.Source = event.SourceBeacon
	status, why := c.decodeDropin(ctx, w, api, decode)
	switch {
	case status == fiber.StatusAccepted:
		// Not an event we keep: answered, counted as discarded.
	case why == "":
		c.fillHeaders(ctx, h)
		status, why = c.process(w)
		c.refused(api, status, why)
	default:
		c.o.Pipeline.Reject(h.Source, event.DropMalformed)
		c.rejected.WithLabelValues(api, string(why)).Inc()
	}
	c.count(api, status)
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

// decodeDropin reads and maps the body and finds the site. It returns 202
// for an event that is answered and not kept.
func (c *Collector) decodeDropin(ctx *fiber.Ctx, w *work, api string, decode func([]byte) (dropinHit, reason)) (int, reason) {
	body, status, why := readBody(ctx, reqbody.Limit{Max: MaxBeaconBytes, Gzip: true}, w.body)
	if why != "" {
		return status, why
	}
	w.body = body[:0]
	d, why := decode(body)
	if why != "" {
		return fiber.StatusBadRequest, why
	}
	s := c.o.Sites.SiteByUmamiID(d.UmamiID)
	if s == nil {
		s = c.o.Sites.SiteByDomain(d.Domain)
	}
	if s == nil {
		return fiber.StatusBadRequest, reasonUnknownSite
	}
	for _, what := range d.Discard {
		c.di.discarded.WithLabelValues(api, what).Inc()
	}
	if d.Skip {
		return fiber.StatusAccepted, ""
	}
	h := &w.hit
	h.SiteID, h.URL, h.Referrer, h.Name, h.Language, h.Screen = s.ID, d.URL, d.Referrer, d.Name, d.Language, d.Screen
	if why := decodeProps(d.Props, h); why != "" {
		return fiber.StatusBadRequest, why
	}
	return 0, ""
}

// umamiPreflight allows the header Umami's script sends back with every
// event after the first (X-Umami-Cache: whatever the last answer said).
func (c *Collector) umamiPreflight(ctx *fiber.Ctx) error {
	err := c.preflight(ctx)
	if ctx.Response().StatusCode() == fiber.StatusNoContent {
		ctx.Set(fiber.HeaderAccessControlAllowHeaders, fiber.HeaderContentType+", X-Umami-Cache")
	}
	return err
}
