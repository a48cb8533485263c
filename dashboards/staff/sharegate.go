package staff

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sezim-analytics/sezim/reqbody"
)

// ShareCookie is the cookie of a share session. Its path is the link's own
// (/share/<token>), so it reaches nothing else: not /app/, not /api/, not
// another link.
const ShareCookie = "sezim_share"

// ShareGateOptions configure a ShareGate.
type ShareGateOptions struct {
	// Links holds the links; nil makes one over the gate's store.
	Links *ShareLinks
	// Sessions holds the share sessions; nil makes a table over the gate's
	// store (rows of staff_sessions whose user is "share:<id>", which no
	// staff account can be, so a share session never signs staff in).
	Sessions *Sessions
	// Shell serves the read-only dashboard page of a link, once the
	// request may see it.
	Shell fiber.Handler
}

// ShareGate lets people without an account see one site's dashboard, read
// only, through a link: staff make, list and revoke links through the JSON
// API (any staff member who may see the site), and /share/<token> starts a
// share session, after a password when the link has one. Wrong passwords
// count against the same per-network limit as sign-ins, and against a
// per-link one. Creating, using (once per share session) and revoking a
// link are audited.
type ShareGate struct {
	g     *Gate
	links *ShareLinks
	sess  *Sessions
	shell fiber.Handler
}

// NewShareGate returns the share gate beside g.
func NewShareGate(g *Gate, o ShareGateOptions) *ShareGate {
	if o.Links == nil {
		o.Links = NewShareLinks(g.o.Store, g.o.Now, HashParams{})
	}
	if o.Sessions == nil {
		o.Sessions = NewSessions(SessionOptions{Now: g.o.Now, Store: g.o.Store})
	}
	return &ShareGate{g: g, links: o.Links, sess: o.Sessions, shell: o.Shell}
}

// Links returns the shared links.
func (s *ShareGate) Links() *ShareLinks { return s.links }

// MountAPI adds the staff's JSON API of links behind auth.
func (s *ShareGate) MountAPI(app fiber.Router, auth fiber.Handler) {
	app.Get("/api/v1/shares", auth, s.list)
	app.Post("/api/v1/shares", auth, s.create)
	app.Post("/api/v1/shares/:id/revoke", auth, s.revoke)
}

// MountPublic adds /share/<token>: the page (or its password form), the
// password's POST, and the stats API under /share/<token>/, mounted by
// api with the middleware it is given.
func (s *ShareGate) MountPublic(app fiber.Router, api func(r fiber.Router, mw fiber.Handler)) {
	app.Get("/share/:token", s.page)
	app.Post("/share/:token", s.password)
	g := app.Group("/share/:token")
	g.Get("/api/v1/share", s.Authenticate, s.info)
	api(g, s.Authenticate)
}

// ShareUser is the user a share session acts as: it sees the link's site
// and nothing else, with the least role.
func shareUser(l *ShareLink) *User {
	return &User{Name: "share:" + l.ID, Role: RoleViewer, Sites: []string{l.Site}}
}

// shareLink reads the link of the request's token: 404 for none, 410 for
// a revoked one.
func (s *ShareGate) shareLink(c *fiber.Ctx) (*ShareLink, error) {
	link, err := s.links.ByToken(c.UserContext(), c.Params("token"))
	switch {
	case errors.Is(err, ErrNoShare):
		return nil, fiber.NewError(fiber.StatusNotFound, "no such link")
	case errors.Is(err, ErrShareRevoked):
		return nil, fiber.NewError(fiber.StatusGone, "link revoked")
	case err != nil:
		s.g.o.Logger.Error("cannot read shared links", "err", err)
		return nil, fiber.NewError(fiber.StatusServiceUnavailable, "links unavailable, try again")
	}
	return link, nil
}

// session reports whether the request carries a live share session of link.
func (s *ShareGate) session(c *fiber.Ctx, link *ShareLink) (bool, error) {
	name, ok, err := s.sess.User(c.UserContext(), c.Cookies(ShareCookie))
	if err != nil {
		return false, err
	}
	return ok && name == "share:"+link.ID, nil
}

// Authenticate lets through GETs with a live share session of a live
// link, as the link's share user; it refuses everything else.
func (s *ShareGate) Authenticate(c *fiber.Ctx) error {
	if !safeMethod(c.Method()) {
		return fiber.NewError(fiber.StatusMethodNotAllowed, "read only")
	}
	link, err := s.shareLink(c)
	if err != nil {
		return err
	}
	ok, err := s.session(c, link)
	if err != nil {
		return s.g.storeDown(c, err)
	}
	if !ok {
		return fiber.NewError(fiber.StatusUnauthorized, "open the link first")
	}
	c.Locals(localsUser, shareUser(link))
	return c.Next()
}

func (s *ShareGate) info(c *fiber.Ctx) error {
	u := UserOf(c)
	out := fiber.Map{"site": u.Sites[0]}
	if st := s.g.o.Sites.Site(u.Sites[0]); st != nil {
		out["timezone"], out["k"] = st.TimeZone, st.KThreshold
	}
	return c.JSON(out)
}

// page serves the link's dashboard, starting a share session (audited)
// when the request has none; a link with a password shows its form first.
func (s *ShareGate) page(c *fiber.Ctx) error {
	link, err := s.shareLink(c)
	if err != nil {
		return s.renderPage(c, err, false)
	}
	ok, err := s.session(c, link)
	if err != nil {
		return s.renderPage(c, s.g.storeDown(c, err), false)
	}
	if !ok {
		if link.Password {
			return s.renderForm(c, fiber.StatusOK, "")
		}
		if err := s.begin(c, link); err != nil {
			return s.renderPage(c, err, false)
		}
	}
	c.Locals(localsUser, shareUser(link))
	return s.shell(c)
}

// password checks the form's password and starts a share session.
func (s *ShareGate) password(c *fiber.Ctx) error {
	if !s.g.sameOrigin(c) {
		return fiber.NewError(fiber.StatusForbidden, "cross-origin request refused")
	}
	link, err := s.shareLink(c)
	if err != nil {
		return s.renderPage(c, err, false)
	}
	form, err := ReadForm(c)
	if err != nil {
		return err
	}
	if !link.Password {
		return c.Redirect(c.Path(), fiber.StatusSeeOther)
	}
	ctx := c.UserContext()
	client, target, now := s.g.ClientNet(c), "share:"+link.ID, s.g.o.Now()
	for _, lim := range []struct {
		peek  func() (allowed bool, retry time.Duration)
		which int
	}{
		{func() (bool, time.Duration) { d := s.g.networks.Peek(client); return d.Allowed, d.RetryAfter(now) }, limitNetwork},
		{func() (bool, time.Duration) { d := s.g.accounts.Peek(target); return d.Allowed, d.RetryAfter(now) }, limitAccount},
	} {
		if allowed, wait := lim.peek(); !allowed {
			s.g.refused.add(client, target, lim.which, now)
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(wait.Seconds())))
			return s.renderForm(c, fiber.StatusTooManyRequests,
				"Too many wrong passwords. Try again in "+max(wait.Round(time.Minute), time.Minute).String()+".")
		}
	}
	s.g.hashing <- struct{}{}
	ok, _ := CheckPassword(link.password, form.Get("password"))
	<-s.g.hashing
	if !ok {
		s.g.networks.Hit(client)
		s.g.accounts.Hit(target)
		_ = s.g.Record(ctx, AuditEntry{Actor: target, Action: AuditShareFailed, Target: link.ID, Outcome: "bad_password", Client: client, Detail: link.Site})
		return s.renderForm(c, fiber.StatusUnauthorized, "Wrong password.")
	}
	if err := s.begin(c, link); err != nil {
		return s.renderPage(c, err, false)
	}
	return c.Redirect(c.Path(), fiber.StatusSeeOther)
}

// begin starts a share session of link and audits it; a use that cannot
// be audited is refused.
func (s *ShareGate) begin(c *fiber.Ctx, link *ShareLink) error {
	ctx := c.UserContext()
	e := AuditEntry{Actor: "share:" + link.ID, Action: AuditShareUsed, Target: link.ID, Outcome: "ok", Client: s.g.ClientNet(c), Detail: link.Site}
	if err := s.g.Record(ctx, e); err != nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "links unavailable, try again")
	}
	raw, err := s.sess.New(ctx, "share:"+link.ID)
	if err != nil {
		s.g.o.Logger.Error("cannot start a share session", "err", err)
		return fiber.NewError(fiber.StatusServiceUnavailable, "links unavailable, try again")
	}
	// Lax, not Strict: a link opened from a mail or a chat is a
	// navigation from another site, and should find its session.
	c.Cookie(&fiber.Cookie{Name: ShareCookie, Value: raw, Path: "/share/" + strings.Clone(c.Params("token")), HTTPOnly: true,
		Secure: !s.g.o.InsecureCookie, SameSite: fiber.CookieSameSiteLaxMode})
	return nil
}

var shareTmpl = formPage("share", "Shared dashboard", `<p>Shared dashboard</p>
{{if .Form}}{{if .Error}}<p class="error" role="alert" id="share-error">{{.Error}}</p>{{end}}
<form method="post">
<label for="password">This link asks for a password</label>
<input id="password" name="password" type="password" autocomplete="off" required autofocus>
<button type="submit">Open</button>
</form>{{else}}<p id="share-error">{{.Error}}</p>{{end}}`)

func (s *ShareGate) renderForm(c *fiber.Ctx, status int, msg string) error {
	return s.render(c, status, true, msg)
}

// renderPage answers a page request refused with err as a page.
func (s *ShareGate) renderPage(c *fiber.Ctx, err error, form bool) error {
	status, msg := fiber.StatusInternalServerError, "internal error"
	var fe *fiber.Error
	if errors.As(err, &fe) {
		status, msg = fe.Code, fe.Message
	}
	switch status {
	case fiber.StatusNotFound:
		msg = "This link does not exist."
	case fiber.StatusGone:
		msg = "This link has been revoked."
	}
	return s.render(c, status, form, msg)
}

func (s *ShareGate) render(c *fiber.Ctx, status int, form bool, msg string) error {
	var b bytes.Buffer
	if err := shareTmpl.Execute(&b, struct {
		Form  bool
		Error string
	}{form, msg}); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).Send(b.Bytes())
}

// shareJSON is a link as the API lists it; URL and Token only on creation.
type shareJSON struct {
	*ShareLink
	URL   string `json:"url,omitempty"`
	Token string `json:"token,omitempty"`
}

func (s *ShareGate) list(c *fiber.Ctx) error {
	u := UserOf(c)
	site := c.Query("site")
	links, err := s.links.List(c.UserContext(), func(id string) bool { return u.CanSee(id) && (site == "" || id == site) })
	if err != nil {
		s.g.o.Logger.Error("cannot list shared links", "err", err)
		return fiber.NewError(fiber.StatusServiceUnavailable, "links unavailable, try again")
	}
	out := make([]shareJSON, len(links))
	for i, l := range links {
		out[i] = shareJSON{ShareLink: l}
	}
	return c.JSON(fiber.Map{"links": out})
}

// MaxShareBytes bounds a link's creation request: a site, a label and a
// password, as JSON.
const MaxShareBytes = 4 << 10

func (s *ShareGate) create(c *fiber.Ctx) error {
	body, err := reqbody.Read(c, reqbody.Limit{Max: MaxShareBytes}, nil)
	if err != nil {
		status, why := reqbody.Refusal(err)
		return fiber.NewError(status, why)
	}
	if mt, _, _ := mime.ParseMediaType(c.Get(fiber.HeaderContentType)); mt != fiber.MIMEApplicationJSON {
		return fiber.NewError(fiber.StatusUnsupportedMediaType, "unsupported_content_type")
	}
	var req struct {
		Site     string `json:"site"`
		Label    string `json:"label"`
		Password string `json:"password"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "bad_json")
	}
	u := UserOf(c)
	// A site the user may not see is answered like one that does not
	// exist, as everywhere in the API.
	if s.g.o.Sites.Site(req.Site) == nil || !u.CanSee(req.Site) {
		return fiber.NewError(fiber.StatusNotFound, "no such site")
	}
	if len([]rune(req.Label)) > 100 || strings.ContainsFunc(req.Label, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fiber.NewError(fiber.StatusBadRequest, "bad_label")
	}
	raw, link, err := s.links.Create(c.UserContext(), req.Site, req.Label, u.Name, req.Password)
	if errors.Is(err, ErrWeakPassword) {
		return fiber.NewError(fiber.StatusBadRequest, "weak_password")
	}
	if err != nil {
		s.g.o.Logger.Error("cannot create a shared link", "err", err)
		return fiber.NewError(fiber.StatusServiceUnavailable, "links unavailable, try again")
	}
	detail := link.Site
	if link.Password {
		detail += " with password"
	}
	if err := s.g.Record(c.UserContext(), AuditEntry{Actor: u.Name, Action: AuditShareCreated, Target: link.ID, Outcome: "ok", Client: s.g.ClientNet(c), Detail: detail}); err != nil {
		// Not audited, not usable: revoke at once.
		_, _ = s.links.Revoke(c.UserContext(), link.ID, u.Name)
		return fiber.NewError(fiber.StatusServiceUnavailable, "links unavailable, try again")
	}
	return c.Status(fiber.StatusCreated).JSON(shareJSON{ShareLink: link, URL: "/share/" + raw, Token: raw})
}

func (s *ShareGate) revoke(c *fiber.Ctx) error {
	u := UserOf(c)
	id := c.Params("id")
	links, err := s.links.List(c.UserContext(), u.CanSee)
	if err != nil {
		s.g.o.Logger.Error("cannot list shared links", "err", err)
		return fiber.NewError(fiber.StatusServiceUnavailable, "links unavailable, try again")
	}
	var found *ShareLink
	for _, l := range links {
		if l.ID == id {
			found = l
		}
	}
	if found == nil {
		return fiber.NewError(fiber.StatusNotFound, "no such link")
	}
	if !found.Revoked {
		if _, err := s.links.Revoke(c.UserContext(), id, u.Name); err != nil {
			s.g.o.Logger.Error("cannot revoke a shared link", "err", err)
			return fiber.NewError(fiber.StatusServiceUnavailable, "links unavailable, try again")
		}
		_ = s.g.Record(c.UserContext(), AuditEntry{Actor: u.Name, Action: AuditShareRevoked, Target: id, Outcome: "ok", Client: s.g.ClientNet(c), Detail: found.Site})
	}
	found.Revoked = true
	found.RevokedBy = u.Name
	return c.JSON(shareJSON{ShareLink: found})
}
