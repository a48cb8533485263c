package collector

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/consent/consentlog"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/pipeline/useragent"
	"github.com/sezim-analytics/sezim/ratelimit"
	"github.com/sezim-analytics/sezim/reqbody"
	"github.com/sezim-analytics/sezim/site"
)

// MaxConsentBytes limits a consent decision's body.
const MaxConsentBytes = 8 << 10

// ConsentLog stores a decision before it is answered (consentlog.Log).
type ConsentLog interface {
	Append(ctx context.Context, r *consentlog.Record) error
}

// ConsentOptions enable the consent endpoints.
type ConsentOptions struct {
	Keys *consent.Keys
	Log  ConsentLog
	// Secure is SecureAuto unless set.
	Secure SecureMode
	// PublicURL is the collector's address as visitors reach it; in auto
	// mode its scheme decides the Secure attribute (collector/cookies.go).
	// nil: a trusted proxy's X-Forwarded-Proto decides.
	PublicURL *url.URL
	// Links, when set, is told which visitor id a decision set, so a
	// receipt can later reach the visitor's rows (privacy/subject).
	Links interface {
		Link(site, receipt, visitorID string, t time.Time)
	}
	// RateLimit bounds POST /consent per client network (IPv4 /24, IPv6
	// /48): past Limit decisions in a Window it answers 429 with
	// Retry-After. Zero values take DefaultConsentRateLimit per minute and
	// DefaultConsentRateKeys networks; Now defaults to the collector's.
	RateLimit ratelimit.Options
}

// A banner posts one "shown" and one decision per visitor, so the default
// leaves room for 150 new visitors a minute behind one network (an office,
// a carrier's NAT) while a flood of fake rows from one network is cut to
// this rate.
const (
	DefaultConsentRateLimit = 300
	DefaultConsentRateKeys  = 100_000 // about 15 MiB when full
)

// Reasons of the consent endpoints, beside the shared ones.
const (
	reasonConsentOff    reason = "consent_not_configured"
	reasonBadAction     reason = "bad_action"
	reasonBadPurpose    reason = "unknown_purpose"
	reasonBadService    reason = "unknown_service"
	reasonBadLang       reason = "bad_lang"
	reasonBadTextHash   reason = "bad_text_hash"
	reasonPolicyVersion reason = "policy_version_mismatch"
	reasonMissingOrigin reason = "missing_origin"
	reasonRateLimited   reason = "rate_limited"
)

// consentBody is a decision as the banner sends it.
type consentBody struct {
	S             string   `json:"s"`
	Action        string   `json:"action"`
	Purposes      []string `json:"purposes"`
	Services      []string `json:"services"`
	Lang          string   `json:"lang"`
	TextHash      string   `json:"text_hash"`
	PolicyVersion string   `json:"policy_version"`
}

// consentReply is the answer to a decision.
type consentReply struct {
	Receipt       string   `json:"receipt"`
	Purposes      []string `json:"purposes"`
	Services      []string `json:"services"`
	PolicyVersion string   `json:"policy_version"`
	Expires       string   `json:"expires,omitempty"`
}

type consentHandlers struct {
	c         *Collector
	o         ConsentOptions
	decisions *prometheus.CounterVec
	limit     *ratelimit.Limiter
}

// routeConsent adds the consent endpoints when consent is configured.
func (c *Collector) routeConsent(reg prometheus.Registerer) {
	o := c.o.Consent
	if o == nil {
		return
	}
	if o.Secure == "" {
		o.Secure = SecureAuto
	}
	rl := o.RateLimit
	if rl.Limit <= 0 {
		rl.Limit = DefaultConsentRateLimit
	}
	if rl.MaxKeys <= 0 {
		rl.MaxKeys = DefaultConsentRateKeys
	}
	if rl.Now == nil {
		rl.Now = c.o.Now
	}
	h := &consentHandlers{c: c, o: *o, limit: ratelimit.New(rl), decisions: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
		Name: "sezim_consent_decisions_total", Help: "Consent decisions recorded, by action."}, []string{"action"})}
	for _, a := range consent.Actions {
		h.decisions.WithLabelValues(a)
	}
	c.app.Post("/consent", h.decide)
	c.app.Options("/consent", c.preflight)
	c.app.Get("/consent/config", h.config)
	c.app.Get("/consent/state", h.state)
}

// fail answers a refused request with its reason.
func (h *consentHandlers) fail(ctx *fiber.Ctx, route string, status int, why reason) error {
	h.c.rejected.WithLabelValues(route, string(why)).Inc()
	h.c.count(route, status)
	return ctx.Status(status).JSON(fiber.Map{"error": string(why)})
}

// site finds the site of a consent request and checks its origin.
func (h *consentHandlers) site(ctx *fiber.Ctx, route, id string) (*site.Site, error) {
	if id == "" {
		return nil, h.fail(ctx, route, fiber.StatusBadRequest, reasonMissingSite)
	}
	s := h.c.o.Sites.Site(id)
	origin := ctx.Get(fiber.HeaderOrigin)
	switch {
	case s == nil:
		return nil, h.fail(ctx, route, fiber.StatusBadRequest, reasonUnknownSite)
	case origin == "" && ctx.Method() == fiber.MethodPost:
		// Browsers send Origin with every POST: a decision without one
		// comes from a script, which must not decide in a visitor's name.
		return nil, h.fail(ctx, route, fiber.StatusForbidden, reasonMissingOrigin)
	case origin != "" && !s.AllowsOrigin(origin):
		uncors(ctx)
		return nil, h.fail(ctx, route, fiber.StatusForbidden, reasonBadOrigin)
	case s.Consent == nil:
		return nil, h.fail(ctx, route, fiber.StatusBadRequest, reasonConsentOff)
	}
	return s, nil
}

// decide answers POST /consent: it validates the decision, appends it to
// the consent log (and answers 503 if that fails: a receipt is only given
// for a stored decision), then sets or deletes the cookies.
func (h *consentHandlers) decide(ctx *fiber.Ctx) error {
	const route = "consent"
	h.c.cors(ctx)
	ctx.Set(fiber.HeaderCacheControl, "no-store")
	// Counted before the body is read, so a flood costs little and every
	// post counts, valid or not.
	ip := h.c.clientIP(ctx)
	if d := h.limit.Hit(ratelimit.ClientNet(ip)); !d.Allowed {
		ctx.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(d.RetryAfter(h.c.o.Now())/time.Second)))
		return h.fail(ctx, route, fiber.StatusTooManyRequests, reasonRateLimited)
	}
	body, status, why := readBody(ctx, reqbody.Limit{Max: MaxConsentBytes, Gzip: true}, nil)
	if why != "" {
		return h.fail(ctx, route, status, why)
	}
	var b consentBody
	if err := json.Unmarshal(body, &b); err != nil {
		return h.fail(ctx, route, fiber.StatusBadRequest, reasonBadJSON)
	}
	if len(b.S) > 64 || len(b.Purposes) > 16 || len(b.Services) > 32 || len(b.PolicyVersion) > 64 {
		return h.fail(ctx, route, fiber.StatusBadRequest, reasonFieldTooLong)
	}
	s, err := h.site(ctx, route, b.S)
	if s == nil {
		return err
	}
	cs := s.Consent
	switch {
	case !consent.ValidAction(b.Action):
		return h.fail(ctx, route, fiber.StatusBadRequest, reasonBadAction)
	case b.Lang != "ru" && b.Lang != "kk" && b.Lang != "en":
		return h.fail(ctx, route, fiber.StatusBadRequest, reasonBadLang)
	case !isHexHash(b.TextHash):
		return h.fail(ctx, route, fiber.StatusBadRequest, reasonBadTextHash)
	case b.PolicyVersion != cs.PolicyVersion:
		return h.fail(ctx, route, fiber.StatusBadRequest, reasonPolicyVersion)
	}
	granted, services, err := cs.Grant(b.Action, b.Purposes, b.Services)
	switch {
	case errors.Is(err, consent.ErrUnknownPurpose):
		return h.fail(ctx, route, fiber.StatusBadRequest, reasonBadPurpose)
	case err != nil:
		return h.fail(ctx, route, fiber.StatusBadRequest, reasonBadService)
	}

	d := &consent.Decision{Site: s.ID, Time: h.c.o.Now().UTC(), Action: b.Action, Lang: b.Lang, TextHash: b.TextHash,
		Granted: granted, Services: services, GPC: ctx.Get("Sec-GPC") == "1", DNT: ctx.Get("DNT") == "1",
		IP: truncatedIP(ip), Browser: useragent.Parse(ctx.Get(fiber.HeaderUserAgent)).Browser,
		Receipt: consent.NewReceipt()}
	rec := consentlog.NewRecord(cs, d)
	// Not derived from ctx.Context(): fasthttp cancels that only at
	// shutdown, when a decision in flight should still be stored and
	// answered, and a context derived from it reads the server's state
	// from a goroutine that can outlive the handler (a data race with
	// Shutdown).
	lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.o.Log.Append(lctx, rec); err != nil {
		h.c.count(route, fiber.StatusServiceUnavailable)
		ctx.Set(fiber.HeaderRetryAfter, "5")
		return ctx.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": string(reasonUnavailable)})
	}
	h.decisions.WithLabelValues(b.Action).Inc()

	reply := consentReply{Receipt: rec.Receipt, Purposes: granted.IDs(), Services: []string{}, PolicyVersion: cs.PolicyVersion}
	if !d.Choice() {
		h.c.count(route, fiber.StatusOK)
		return ctx.JSON(reply)
	}
	for _, sv := range cs.ServicesIn(services) {
		reply.Services = append(reply.Services, sv.ID)
	}
	cookie := cs.CookieFor(d)
	value, err := h.o.Keys.Encode(s.ID, cs.PolicyVersion, &cookie)
	if err != nil {
		return err
	}
	maxAge := int(cs.Lifetime() / time.Second)
	secure := h.secure(ctx)
	h.setCookie(ctx, consent.CookieName, value, cs.CookieDomain, maxAge, secure, false)
	if d.KeepsVisitorID() {
		vid := ctx.Cookies(consent.VisitorCookieName)
		if !consent.ValidVisitorID(vid) {
			vid = consent.NewVisitorID()
		}
		h.setCookie(ctx, consent.VisitorCookieName, vid, cs.CookieDomain, maxAge, secure, true)
		if h.o.Links != nil {
			h.o.Links.Link(s.ID, rec.Receipt, vid, d.Time)
		}
	} else {
		h.setCookie(ctx, consent.VisitorCookieName, "", cs.CookieDomain, -1, secure, true)
	}
	reply.Expires = time.Unix(cookie.Expires, 0).UTC().Format(time.RFC3339)
	h.c.count(route, fiber.StatusOK)
	return ctx.JSON(reply)
}

func isHexHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// truncatedIP is the IPv4 /24 or IPv6 /48 of ip, as text: all the consent
// log keeps of an address.
func truncatedIP(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return anon.TruncateIP(ip).String()
}

// configReply is what the banner needs to render.
type configReply struct {
	PolicyVersion string                       `json:"policy_version"`
	Purposes      []configPurpose              `json:"purposes"`
	Services      []configService              `json:"services"`
	Texts         map[string]map[string]string `json:"texts"`
	LifetimeDays  int                          `json:"lifetime_days"`
}

type configPurpose struct {
	ID       string `json:"id"`
	Required bool   `json:"required"`
}

type configService struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Purpose string `json:"purpose"`
	Country string `json:"country"`
}

// config answers GET /consent/config?s=SITE.
func (h *consentHandlers) config(ctx *fiber.Ctx) error {
	const route = "consent_config"
	h.c.cors(ctx)
	s, err := h.site(ctx, route, ctx.Query("s"))
	if s == nil {
		return err
	}
	cs := s.Consent
	out := configReply{PolicyVersion: cs.PolicyVersion, Purposes: []configPurpose{}, Services: []configService{},
		Texts: cs.Texts, LifetimeDays: cs.LifetimeDays}
	if out.Texts == nil {
		out.Texts = map[string]map[string]string{}
	}
	for _, p := range consent.AllPurposes {
		if cs.Enabled().Has(p) {
			out.Purposes = append(out.Purposes, configPurpose{ID: p.ID(), Required: p == consent.Necessary})
		}
	}
	for _, sv := range cs.Services {
		out.Services = append(out.Services, configService{ID: sv.ID, Name: sv.Name, Purpose: consent.ThirdParty.ID(), Country: sv.Country})
	}
	body, err := json.Marshal(out)
	if err != nil {
		return err
	}
	// Revalidated on every use: a cached copy would make the banner post
	// the previous policy version (and get 400) after a bump. The ETag
	// keeps the revalidation a 304 while nothing changed.
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	ctx.Set(fiber.HeaderCacheControl, "no-cache")
	ctx.Set(fiber.HeaderETag, etag)
	if etagMatch(ctx.Get(fiber.HeaderIfNoneMatch), etag) {
		h.c.count(route, fiber.StatusNotModified)
		return ctx.SendStatus(fiber.StatusNotModified)
	}
	h.c.count(route, fiber.StatusOK)
	ctx.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return ctx.Send(body)
}

// etagMatch reports whether an If-None-Match header names etag (weak
// comparison, as RFC 9110 asks for If-None-Match).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

type stateReply struct {
	Valid         bool     `json:"valid"`
	Purposes      []string `json:"purposes"`
	Services      []string `json:"services"`
	PolicyVersion string   `json:"policy_version"`
	NeedsPrompt   bool     `json:"needs_prompt"`
	// Receipt is the cookie's receipt id, which the banner's settings
	// show the visitor to quote in a request about their data; "" for a
	// refusal, which carries none.
	Receipt string `json:"receipt,omitempty"`
}

// state answers GET /consent/state?s=SITE from the visitor's cookie. A
// cookie that is signed, for this site and unexpired is valid even for an
// older policy version; needs_prompt then says the banner must ask again
// (and until it does, the old cookie grants nothing).
func (h *consentHandlers) state(ctx *fiber.Ctx) error {
	const route = "consent_state"
	h.c.cors(ctx)
	ctx.Set(fiber.HeaderCacheControl, "no-store")
	s, err := h.site(ctx, route, ctx.Query("s"))
	if s == nil {
		return err
	}
	cs := s.Consent
	out := stateReply{Purposes: []string{}, Services: []string{}, NeedsPrompt: true}
	var c consent.Cookie
	err = h.o.Keys.Check(ctx.Cookies(consent.CookieName), s.ID, cs.PolicyVersion, h.c.o.Now(), &c)
	if err == nil || err == consent.ErrOldPolicy {
		out.Valid = true
		out.NeedsPrompt = err != nil
		out.PolicyVersion = c.PolicyVersion()
		if c.HasReceipt {
			out.Receipt = consent.ReceiptString(c.Receipt)
		}
		out.Purposes = c.Purposes.With(consent.Necessary).IDs()
		for _, sv := range cs.ServicesIn(c.Services) {
			out.Services = append(out.Services, sv.ID)
		}
	}
	h.c.count(route, fiber.StatusOK)
	return ctx.JSON(out)
}
