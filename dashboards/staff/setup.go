package staff

// First run: the first admin account, made in the browser.
//
// A fresh install has no account, and the sign-in form alone is a dead end.
// When serve starts and finds no account, it asks for a setup link
// (SetupLink) and prints it: /app/setup?t=<token>, where the token is 256
// random bits held in this process's memory only, valid once and for
// Options.SetupTTL. The page makes the first admin; after that, or once any
// account exists (made with `sezim user add` meanwhile), the link is dead
// and the page answers 410. The form is protected like sign-in (same-origin
// POST, bounded body) and the creation is audited.

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// DefaultSetupTTL is how long a first-run setup link stays valid.
const DefaultSetupTTL = time.Hour

// AuditSetup is the audit action of the first admin made through the
// setup link. The name is stored: never rename.
const AuditSetup = "first_admin_created"

// setupLink is the one-time token of the first-run page.
type setupLink struct {
	mu      sync.Mutex
	token   string
	expires time.Time
}

// take reports whether t is the live token and, when use is set, spends
// it.
func (l *setupLink) take(t string, now time.Time, use bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.token == "" || t == "" || now.After(l.expires) ||
		subtle.ConstantTimeCompare([]byte(t), []byte(l.token)) != 1 {
		return false
	}
	if use {
		l.token = ""
	}
	return true
}

// SetupLink returns the path and query of a one-time first-run link
// (/app/setup?t=...) and when it expires, when no account exists yet; ""
// when one does. Each call replaces the previous link.
func (s *Gate) SetupLink(ctx context.Context) (string, time.Time, error) {
	users, err := s.dir.Users(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	if len(users) > 0 {
		return "", time.Time{}, nil
	}
	s.setup.mu.Lock()
	defer s.setup.mu.Unlock()
	s.setup.token = randomString(32)
	s.setup.expires = s.o.Now().Add(s.o.SetupTTL)
	return "/app/setup?t=" + s.setup.token, s.setup.expires, nil
}

var setupTmpl = formPage("setup", "First run", `{{if .Done}}<p id="setup-gone">{{.Done}}</p><p><a href="/app/login">Sign in</a></p>{{else}}
<p>No account exists yet. Create the first administrator: it can see every site and add the other accounts.</p>
{{if .Error}}<p class="error" role="alert" id="setup-error">{{.Error}}</p>{{end}}
<form method="post" action="/app/setup">
<input type="hidden" name="t" value="{{.Token}}">
<label for="user">User name</label>
<input id="user" name="user" autocomplete="username" autocapitalize="none" required value="{{.User}}" autofocus>
<label for="password">Password (at least {{.Min}} characters)</label>
<input id="password" name="password" type="password" autocomplete="new-password" required minlength="{{.Min}}">
<label for="password2">Password again</label>
<input id="password2" name="password2" type="password" autocomplete="new-password" required minlength="{{.Min}}">
<button type="submit">Create the administrator</button>
</form>{{end}}`)

type setupView struct {
	Token, User, Error, Done string
	Min                      int
}

func (s *Gate) renderSetup(c *fiber.Ctx, status int, v setupView) error {
	v.Min = MinPasswordLen
	var b bytes.Buffer
	if err := setupTmpl.Execute(&b, v); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	// The token is in the URL: keep it out of other sites' logs.
	c.Set("Referrer-Policy", "no-referrer")
	return c.Status(status).Send(b.Bytes())
}

const setupGone = "This setup link is no longer valid: an account exists or the link expired. Sign in, or make an account with sezim user add."

// setupPage shows the first-run form for a live link.
func (s *Gate) setupPage(c *fiber.Ctx) error {
	t := c.Query("t")
	if !s.setup.take(t, s.o.Now(), false) {
		return s.renderSetup(c, fiber.StatusGone, setupView{Done: setupGone})
	}
	return s.renderSetup(c, fiber.StatusOK, setupView{Token: t})
}

// setupSubmit makes the first admin and spends the link.
func (s *Gate) setupSubmit(c *fiber.Ctx) error {
	if !s.sameOrigin(c) {
		return fiber.NewError(fiber.StatusForbidden, "cross-origin request refused")
	}
	form, err := ReadForm(c)
	if err != nil {
		return err
	}
	t, name := form.Get("t"), strings.ToLower(strings.TrimSpace(form.Get("user")))
	now := s.o.Now()
	if !s.setup.take(t, now, false) {
		return s.renderSetup(c, fiber.StatusGone, setupView{Done: setupGone})
	}
	again := func(msg string) error {
		return s.renderSetup(c, fiber.StatusBadRequest, setupView{Token: t, User: name, Error: msg})
	}
	if !ValidName(name) {
		return again("A user name is 1–64 characters: lower-case letters, digits and . _ - @.")
	}
	if form.Get("password") != form.Get("password2") {
		return again("The two passwords differ.")
	}
	hash, err := HashPassword(form.Get("password"), DefaultHashParams)
	if errors.Is(err, ErrWeakPassword) {
		return again(ErrWeakPassword.Error() + ".")
	}
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	// Someone may have made an account since the link was printed.
	s.dir.Invalidate()
	users, err := s.dir.Users(ctx)
	if err != nil {
		return s.storeDown(c, err)
	}
	if len(users) > 0 || !s.setup.take(t, now, true) {
		return s.renderSetup(c, fiber.StatusGone, setupView{Done: setupGone})
	}
	if err := s.dir.PutUser(ctx, &User{Name: name, Role: RoleAdmin}, hash); err != nil {
		return s.storeDown(c, err)
	}
	if err := s.Record(ctx, AuditEntry{Actor: name, Action: AuditSetup, Target: name, Outcome: "ok",
		Client: s.ClientNet(c), Detail: "first admin, through the setup link"}); err != nil {
		s.o.Logger.Error("first admin created but not audited", "err", err)
	}
	return s.renderSetup(c, fiber.StatusCreated, setupView{Done: "The administrator " + name + " was created. Sign in with it."})
}
