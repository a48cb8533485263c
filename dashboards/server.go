// Package dashboards composes the staff-facing app: staff sign-in (staff),
// the stats API and dashboard page (statistics) and the privacy console
// (console), behind one set of security headers and routes.
package dashboards

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sezim-analytics/sezim/dashboards/console"
	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/dashboards/statistics"
	"github.com/sezim-analytics/sezim/reqbody"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// Options configure the dashboards server.
type Options struct {
	Sites *site.Config
	Store store.Store
	// Directory holds the staff accounts; nil makes one over Store.
	Directory *staff.Directory
	// Sessions holds the signed-in browsers; nil makes an empty table.
	Sessions *staff.Sessions
	// Audit writes the audit log; nil makes an unkeyed one over Store.
	Audit *staff.Auditor
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
	Privacy console.PrivacyOptions
}

// CookieName is the session cookie.
const CookieName = staff.CookieName

// Server is the dashboards app: the sign-in page, the dashboard pages under
// /app/ and the JSON API under /api/v1/, all behind staff sign-in. It
// composes three parts: staff (accounts, sign-in, the audit log; see
// staff.Gate for authentication and CSRF), statistics (the stats API and
// the dashboard page) and console (the privacy console).
type Server struct {
	o       Options
	gate    *staff.Gate
	api     *statistics.API
	console *console.Console
	share   *staff.ShareGate
	app     *fiber.App
}

// New returns the dashboards server.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	gate := staff.NewGate(staff.GateOptions{Sites: o.Sites, Store: o.Store, Directory: o.Directory, Sessions: o.Sessions,
		Audit: o.Audit, InsecureCookie: o.InsecureCookie, Logger: o.Logger, Now: o.Now,
		AccountLimit: o.AccountLimit, NetworkLimit: o.NetworkLimit, LimitWindow: o.LimitWindow,
		KnownNetworkAge: o.KnownNetworkAge, LimitKeys: o.LimitKeys, SetupTTL: o.SetupTTL})
	s := &Server{
		o:    o,
		gate: gate,
		api: statistics.NewAPI(statistics.APIOptions{Sites: o.Sites, Store: o.Store, Now: o.Now, Updated: o.Updated,
			Audit: gate.Record}),
		console: console.New(console.Options{Sites: o.Sites, Store: o.Store, Privacy: o.Privacy, Gate: gate,
			Logger: o.Logger, Now: o.Now}),
	}
	s.share = staff.NewShareGate(gate, staff.ShareGateOptions{Shell: statistics.ShareShell})
	s.app = s.newApp()
	return s
}

// ShareLinks returns the shared links (see staff.ShareGate).
func (s *Server) ShareLinks() *staff.ShareLinks { return s.share.Links() }

// App returns the Fiber app; serve it with Listener.
func (s *Server) App() *fiber.App { return s.app }

// Sessions returns the session table.
func (s *Server) Sessions() *staff.Sessions { return s.gate.Sessions() }

// SetupLink is staff.Gate.SetupLink.
func (s *Server) SetupLink(ctx context.Context) (string, time.Time, error) {
	return s.gate.SetupLink(ctx)
}

// FlushRateLimited is staff.Gate.FlushRateLimited.
func (s *Server) FlushRateLimited(ctx context.Context, final bool) error {
	return s.gate.FlushRateLimited(ctx, final)
}

func (s *Server) newApp() *fiber.App {
	app := fiber.New(fiber.Config{
		AppName:               "sezim-dashboards",
		DisableStartupMessage: true,
		ErrorHandler:          jsonError,
		ReadTimeout:           30 * time.Second,
		// Streamed bodies, each read by its handler within its own limit
		// (staff.ReadForm), never parsed ahead; a body too long is answered
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
	auth := s.gate.Authenticate
	s.gate.Mount(app)
	app.Get("/app", auth, statistics.AppShell)
	app.Get("/app/assets/:name", auth, statistics.Asset)
	app.Get("/api/v1/me", auth, s.me)
	app.Get("/api/v1/sites", auth, s.sites)
	s.api.Mount(app, auth)
	s.console.Mount(app)
	// Shared links: the staff's API to make them, and /share/<token>, a
	// site's read-only dashboard without an account.
	s.share.MountAPI(app, auth)
	app.Use("/share", reqbody.Middleware)
	app.Use("/share", securityHeaders)
	app.Get("/share/_/:name", statistics.ShareAsset)
	s.share.MountPublic(app, func(r fiber.Router, mw fiber.Handler) { s.api.Mount(r, mw) })
	// Anything else under /app/ or /api/ is refused like the routes above
	// (sign-in first), so probing tells a stranger nothing.
	app.Use("/app", auth, notFound)
	app.Use("/api", auth, notFound)
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

// siteJSON is a site as /api/v1/me and /api/v1/sites list it.
type siteJSON struct {
	ID       string `json:"id"`
	TimeZone string `json:"timezone"`
	K        int    `json:"k"`
}

func (s *Server) visibleSites(u *staff.User) []siteJSON {
	out := []siteJSON{}
	for _, st := range s.o.Sites.Sites {
		if u.CanSee(st.ID) {
			out = append(out, siteJSON{ID: st.ID, TimeZone: st.TimeZone, K: st.KThreshold})
		}
	}
	return out
}

func (s *Server) me(c *fiber.Ctx) error {
	u := staff.UserOf(c)
	return c.JSON(fiber.Map{"user": u.Name, "role": u.Role, "sites": s.visibleSites(u)})
}

func (s *Server) sites(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"sites": s.visibleSites(staff.UserOf(c))})
}
