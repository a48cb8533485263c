// Package staff is who may use the dashboards: accounts (the Directory of
// users and API tokens), passwords, sessions, sign-in and sign-out with
// their rate limits and lockout, first-run setup, and the hash-chained
// audit log of what staff did.
package staff

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
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// GateOptions configure the staff gate; the fields are those of the
// dashboards' Options of the same names, with the same defaults.
type GateOptions struct {
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
}

// CookieName is the session cookie.
const CookieName = "sezim_session"

// Gate is staff sign-in: the sign-in, sign-out and first-run setup pages,
// the rate limits and lockout of failed sign-ins, and Authenticate, the
// middleware in front of every other staff route.
//
// Authentication: a session cookie (browsers) or "Authorization: Bearer"
// with an API token (scripts). Authorisation is per site, in the handlers
// that take a site: a user sees the sites granted (an admin, all); another
// site answers 404, exactly like a site that does not exist.
//
// CSRF: the only state-changing requests are POSTs. The session cookie is
// SameSite=Strict, so no browser attaches it to a request started by
// another site; and every POST must carry an Origin (or, failing that, a
// Referer) naming this very host, and no Sec-Fetch-Site other than
// same-origin. The Origin check also covers what SameSite does not: a
// sibling subdomain is the same "site" for SameSite but another origin,
// and old browsers ignore SameSite. Bearer tokens are never sent by a
// browser on its own, so requests carrying one need no check. No token has
// to be threaded through forms, and the sign-in form (login CSRF) is
// covered by the same check.
type Gate struct {
	o        GateOptions
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
}

// NewGate returns the staff gate; Mount adds its pages to an app.
func NewGate(o GateOptions) *Gate {
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
	if o.Audit == nil {
		o.Audit = NewAuditor(o.Store, o.Now)
	}
	s := &Gate{
		o:        o,
		dir:      o.Directory,
		sess:     o.Sessions,
		audit:    o.Audit,
		accounts: ratelimit.New(ratelimit.Options{Limit: o.AccountLimit, Window: o.LimitWindow, MaxKeys: o.LimitKeys, Now: o.Now}),
		networks: ratelimit.New(ratelimit.Options{Limit: o.NetworkLimit, Window: o.LimitWindow, MaxKeys: o.LimitKeys, Now: o.Now}),
		known:    newKnownNets(o.Audit, o.Now, o.KnownNetworkAge),
		refused:  newRefusals(o.LimitWindow, o.LimitKeys),
		// Each argon2id check takes ~19 MiB: bound how many run at once.
		hashing: make(chan struct{}, 4),
	}
	// Unknown names are checked against this, so they take as long as
	// known ones and the timing tells no one which names exist.
	s.dummy, _ = HashPassword(randomString(16), DefaultHashParams)
	return s
}

// Mount adds the sign-in, setup and sign-out routes.
func (s *Gate) Mount(app fiber.Router) {
	app.Get("/app/login", s.loginPage)
	app.Get("/app/setup", s.setupPage)
	app.Post("/app/setup", s.setupSubmit)
	app.Post("/app/login", s.login)
	app.Post("/app/logout", s.Authenticate, s.logout)
}

// Directory returns the staff accounts.
func (s *Gate) Directory() *Directory { return s.dir }

// Sessions returns the session table.
func (s *Gate) Sessions() *Sessions { return s.sess }

// Auditor returns the audit log the gate writes to.
func (s *Gate) Auditor() *Auditor { return s.audit }

const (
	localsUser    = "sezim.user"
	localsSession = "sezim.session"
)

// UserOf returns the user Authenticate let through, or nil.
func UserOf(c *fiber.Ctx) *User {
	u, _ := c.Locals(localsUser).(*User)
	return u
}

// Authenticate lets a request through with a live session or API token and
// refuses it otherwise: pages redirect to sign-in, everything else gets 401.
func (s *Gate) Authenticate(c *fiber.Ctx) error {
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

func (s *Gate) storeDown(c *fiber.Ctx, err error) error {
	s.o.Logger.Error("cannot read staff accounts", "err", err)
	return fiber.NewError(fiber.StatusServiceUnavailable, "accounts unavailable, try again")
}

func (s *Gate) refuse(c *fiber.Ctx) error {
	if c.Method() == fiber.MethodGet && (c.Path() == "/app" || c.Path() == "/app/") {
		return c.Redirect("/app/login", fiber.StatusSeeOther)
	}
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="sezim"`)
	return fiber.NewError(fiber.StatusUnauthorized, "sign-in required")
}

func safeMethod(m string) bool {
	return m == fiber.MethodGet || m == fiber.MethodHead || m == fiber.MethodOptions
}

// sameOrigin is the CSRF check of state-changing requests (see Gate).
func (s *Gate) sameOrigin(c *fiber.Ctx) bool {
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

// ClientNet is the client's network (IPv4 /24, IPv6 /48): the key of the
// per-network sign-in limit and what the audit log keeps of the address.
func (s *Gate) ClientNet(c *fiber.Ctx) string {
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

// Record writes e to the audit log, and logs a failure.
func (s *Gate) Record(ctx context.Context, e AuditEntry) error {
	err := s.audit.Record(ctx, e)
	if err != nil {
		s.o.Logger.Error("cannot write the audit log", "action", e.Action, "err", err)
	}
	return err
}
