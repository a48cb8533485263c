package dashboards

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sezim-analytics/sezim/ratelimit"
	"github.com/sezim-analytics/sezim/reqbody"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// Options configure the dashboards server.
type Options struct {
	Sites *site.Config
	Store store.Store
	// Directory holds the staff accounts; nil makes one over Store.
	Directory *Directory
	// Sessions holds the signed-in browsers; nil makes an empty table.
	Sessions *Sessions
	// Audit writes the audit log; nil makes an unkeyed one over Store.
	Audit *Auditor
	// InsecureCookie leaves Secure off the session cookie, for plain http
	// on loopback (browsers drop Secure cookies sent over http elsewhere).
	InsecureCookie bool
	Logger         *slog.Logger
	Now            func() time.Time
	// Updated is when the aggregates were last brought up to date (the
	// rollup's last successful run; zero before one), which the page shows
	// as "updated N s ago". Nil: not shown.
	Updated func() time.Time
	// AccountLimit and NetworkLimit are the failed sign-ins allowed per
	// account and per client network (IPv4 /24, IPv6 /48) in LimitWindow.
	// Defaults 10, 30 and 15 minutes. The account limit counts only
	// failures from networks that have not signed in to that account
	// within KnownNetworkAge (default 90 days), and refuses only them.
	AccountLimit, NetworkLimit int
	LimitWindow                time.Duration
	KnownNetworkAge            time.Duration
	// LimitKeys bounds each rate-limit table (accounts, networks) and the
	// tally of refused attempts (default 10,000).
	LimitKeys int
	// SetupTTL is how long a first-run setup link lives (default
	// DefaultSetupTTL; see SetupLink).
	SetupTTL time.Duration
	// Privacy feeds the privacy console's report.
	Privacy PrivacyOptions
}

// CookieName is the session cookie.
const CookieName = "sezim_session"

// Server is the dashboards app: the sign-in page, the dashboard pages under
// /app/ and the JSON API under /api/v1/, all behind staff sign-in.
//
// Authentication: a session cookie (browsers) or "Authorization: Bearer"
// with an API token (scripts). Authorisation is per site, in the handlers
// that take a site: a user sees the sites granted (an admin, all); another
// site answers 404, exactly like a site that does not exist.
//
// CSRF: the only state-changing requests are POSTs (sign-in, sign-out).
// The session cookie is SameSite=Strict, so no browser attaches it to a
// request started by another site; and every POST must carry an Origin (or,
// failing that, a Referer) naming this very host, and no Sec-Fetch-Site
// other than same-origin. The Origin check also covers what SameSite does
// not: a sibling subdomain is the same "site" for SameSite but another
// origin, and old browsers ignore SameSite. Bearer tokens are never sent
// by a browser on its own, so requests carrying one need no check. No
// token has to be threaded through forms, and the sign-in form (login CSRF)
// is covered by the same check.
type Server struct {
	o        Options
	api      *API
	dir      *Directory
	sess     *Sessions
	audit    *Auditor
	accounts *ratelimit.Limiter
	networks *ratelimit.Limiter
	known    *knownNets
	refused  *refusals
	hashing  chan struct{}
	dummy    string
	setup    setupLink
	app      *fiber.App
}

// New returns the dashboards server.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Directory == nil {
		o.Directory = NewDirectory(DirectoryOptions{Store: o.Store, Now: o.Now})
	}
	if o.Sessions == nil {
		o.Sessions = NewSessions(SessionOptions{Now: o.Now, Store: o.Store})
	}
	if o.AccountLimit == 0 {
		o.AccountLimit = 10
	}
	if o.NetworkLimit == 0 {
		o.NetworkLimit = 30
	}
	if o.LimitWindow == 0 {
		o.LimitWindow = 15 * time.Minute
	}
	if o.KnownNetworkAge == 0 {
		o.KnownNetworkAge = 90 * 24 * time.Hour
	}
	if o.LimitKeys == 0 {
		o.LimitKeys = 10_000
	}
	if o.SetupTTL == 0 {
		o.SetupTTL = DefaultSetupTTL
	}
	audit := o.Audit
	if audit == nil {
		audit = NewAuditor(o.Store, o.Now)
	}
	s := &Server{
		o:        o,
		api:      NewAPI(APIOptions{Sites: o.Sites, Store: o.Store, Now: o.Now, Updated: o.Updated}),
		dir:      o.Directory,
		sess:     o.Sessions,
		audit:    audit,
		accounts: ratelimit.New(ratelimit.Options{Limit: o.AccountLimit, Window: o.LimitWindow, MaxKeys: o.LimitKeys, Now: o.Now}),
		networks: ratelimit.New(ratelimit.Options{Limit: o.NetworkLimit, Window: o.LimitWindow, MaxKeys: o.LimitKeys, Now: o.Now}),
		known:    newKnownNets(audit, o.Now, o.KnownNetworkAge),
		refused:  newRefusals(o.LimitWindow, o.LimitKeys),
		// Each argon2id check takes ~19 MiB: bound how many run at once.
		hashing: make(chan struct{}, 4),
	}
	// Unknown names are checked against this, so they take as long as
	// known ones and the timing tells no one which names exist.
	s.dummy, _ = HashPassword(randomString(16), DefaultHashParams)
	s.app = s.newApp()
	return s
}

// App returns the Fiber app; serve it with Listener.
func (s *Server) App() *fiber.App { return s.app }

// Sessions returns the session table.
func (s *Server) Sessions() *Sessions { return s.sess }

func (s *Server) newApp() *fiber.App {
	app := fiber.New(fiber.Config{
		AppName:               "sezim-dashboards",
		DisableStartupMessage: true,
		ErrorHandler:          jsonError,
		ReadTimeout:           30 * time.Second,
		// Streamed bodies, each read by its handler within its own limit
		// (signInForm), never parsed ahead; a body too long is answered
		// like any other refusal, not by resetting the connection.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		BodyLimit:                    64 << 10,
	})
	// Every route is under these two; anything else is answered by
	// jsonError, which deals with an unread body itself.
	app.Use("/app", reqbody.Middleware)
	app.Use("/api", reqbody.Middleware)
	app.Use("/app", securityHeaders)
	app.Use("/api", securityHeaders)
	app.Get("/app/login", s.loginPage)
	app.Get("/app/setup", s.setupPage)
	app.Post("/app/setup", s.setupSubmit)
	app.Post("/app/login", s.login)
	app.Post("/app/logout", s.authenticate, s.logout)
	app.Get("/app", s.authenticate, s.appShell)
	app.Get("/app/assets/:name", s.authenticate, s.asset)
	app.Get("/api/v1/me", s.authenticate, s.me)
	app.Get("/api/v1/sites", s.authenticate, s.sites)
	s.api.Mount(app, s.authenticate)
	s.mountPrivacy(app)
	// Anything else under /app/ or /api/ is refused like the routes above
	// (sign-in first), so probing tells a stranger nothing.
	app.Use("/app", s.authenticate, notFound)
	app.Use("/api", s.authenticate, notFound)
	return app
}

func notFound(*fiber.Ctx) error { return fiber.NewError(fiber.StatusNotFound, "not found") }

func jsonError(c *fiber.Ctx, err error) error {
	code := fiber.StatusInternalServerError
	msg := "internal error"
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code, msg = fe.Code, fe.Message
	}
	reqbody.DiscardUnread(c) // a route outside the middleware's, or none
	return c.Status(code).JSON(fiber.Map{"error": msg})
}

// csp allows only this origin's own script and style: the pages inline
// no script.
const csp = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

func securityHeaders(c *fiber.Ctx) error {
	c.Set("Content-Security-Policy", csp)
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Referrer-Policy", "same-origin")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Cache-Control", "no-store")
	return c.Next()
}

const (
	localsUser    = "sezim.user"
	localsSession = "sezim.session"
)

// userOf returns the authenticated user of a request, or nil.
func userOf(c *fiber.Ctx) *User {
	u, _ := c.Locals(localsUser).(*User)
	return u
}

// authenticate lets a request through with a live session or API token and
// refuses it otherwise: pages redirect to sign-in, everything else gets 401.
func (s *Server) authenticate(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if h := c.Get(fiber.HeaderAuthorization); h != "" {
		raw, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return s.refuse(c)
		}
		u, _, err := s.dir.ByToken(ctx, strings.TrimSpace(raw))
		if err != nil {
			if !errors.Is(err, ErrNoUser) {
				return s.storeDown(c, err)
			}
			return s.refuse(c)
		}
		c.Locals(localsUser, u)
		return c.Next()
	}
	raw := c.Cookies(CookieName)
	name, ok, err := s.sess.User(ctx, raw)
	if err != nil {
		return s.storeDown(c, err)
	}
	if !ok {
		return s.refuse(c)
	}
	u, err := s.dir.User(ctx, name)
	if err != nil || u.Disabled {
		if err != nil && !errors.Is(err, ErrNoUser) {
			return s.storeDown(c, err)
		}
		_, _, _ = s.sess.Delete(ctx, raw)
		return s.refuse(c)
	}
	if !safeMethod(c.Method()) && !s.sameOrigin(c) {
		return fiber.NewError(fiber.StatusForbidden, "cross-origin request refused")
	}
	c.Locals(localsUser, u)
	c.Locals(localsSession, strings.Clone(raw))
	return c.Next()
}

func (s *Server) storeDown(c *fiber.Ctx, err error) error {
	s.o.Logger.Error("cannot read staff accounts", "err", err)
	return fiber.NewError(fiber.StatusServiceUnavailable, "accounts unavailable, try again")
}

func (s *Server) refuse(c *fiber.Ctx) error {
	if c.Method() == fiber.MethodGet && (c.Path() == "/app" || c.Path() == "/app/") {
		return c.Redirect("/app/login", fiber.StatusSeeOther)
	}
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="sezim"`)
	return fiber.NewError(fiber.StatusUnauthorized, "sign-in required")
}

func safeMethod(m string) bool {
	return m == fiber.MethodGet || m == fiber.MethodHead || m == fiber.MethodOptions
}

// sameOrigin is the CSRF check of state-changing requests (see Server).
func (s *Server) sameOrigin(c *fiber.Ctx) bool {
	if sfs := c.Get("Sec-Fetch-Site"); sfs != "" && sfs != "same-origin" {
		return false
	}
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" || origin == "null" {
		origin = c.Get(fiber.HeaderReferer)
	}
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, string(c.Request().Host()))
}

// clientNet is the client's network (IPv4 /24, IPv6 /48): the key of the
// per-network sign-in limit and what the audit log keeps of the address.
func (s *Server) clientNet(c *fiber.Ctx) string {
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	peer = peer.Unmap()
	addr := peer
	if s.o.Sites != nil && s.o.Sites.TrustedProxy(peer) {
		xff := c.Get(fiber.HeaderXForwardedFor)
		for xff != "" {
			i := strings.LastIndexByte(xff, ',')
			a, err := netip.ParseAddr(strings.TrimSpace(xff[i+1:]))
			if err != nil {
				break
			}
			addr = a.Unmap()
			if !s.o.Sites.TrustedProxy(addr) || i < 0 {
				break
			}
			xff = xff[:i]
		}
	}
	return ratelimit.ClientNet(addr)
}

func (s *Server) record(ctx context.Context, e AuditEntry) error {
	err := s.audit.Record(ctx, e)
	if err != nil {
		s.o.Logger.Error("cannot write the audit log", "action", e.Action, "err", err)
	}
	return err
}

// siteJSON is a site as /api/v1/me and /api/v1/sites list it.
type siteJSON struct {
	ID       string `json:"id"`
	TimeZone string `json:"timezone"`
	K        int    `json:"k"`
}

func (s *Server) visibleSites(u *User) []siteJSON {
	out := []siteJSON{}
	for _, st := range s.o.Sites.Sites {
		if u.CanSee(st.ID) {
			out = append(out, siteJSON{ID: st.ID, TimeZone: st.TimeZone, K: st.KThreshold})
		}
	}
	return out
}

func (s *Server) me(c *fiber.Ctx) error {
	u := userOf(c)
	return c.JSON(fiber.Map{"user": u.Name, "role": u.Role, "sites": s.visibleSites(u)})
}

func (s *Server) sites(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"sites": s.visibleSites(userOf(c))})
}
