package staff

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sezim-analytics/sezim/ratelimit"
)

var loginTmpl = formPage("login", "Sign in", `{{if .Error}}<p class="error" role="alert" id="login-error">{{.Error}}</p>{{end}}
<form method="post" action="/app/login">
<label for="user">User name</label>
<input id="user" name="user" autocomplete="username" autocapitalize="none" required value="{{.User}}" autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>`)

func (s *Gate) renderLogin(c *fiber.Ctx, status int, user, msg string) error {
	var b bytes.Buffer
	if err := loginTmpl.Execute(&b, struct{ User, Error string }{user, msg}); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).Send(b.Bytes())
}

func (s *Gate) loginPage(c *fiber.Ctx) error { return s.renderLogin(c, fiber.StatusOK, "", "") }

const badLogin = "Wrong user name or password."

// login checks a user name and password and starts a session. Failures
// are counted per account and per client network, and every attempt is
// audited. A successful sign-in that cannot be audited is refused.
func (s *Gate) login(c *fiber.Ctx) error {
	if !s.sameOrigin(c) {
		return fiber.NewError(fiber.StatusForbidden, "cross-origin request refused")
	}
	ctx := c.UserContext()
	// Cloned: Fiber reuses the request's memory, and the name is kept as a
	// rate-limit key (ToLower returns its input unchanged when it can).
	user, password, err := signInForm(c)
	if err != nil {
		return err
	}
	name := strings.Clone(strings.ToLower(strings.TrimSpace(user)))
	now := s.o.Now()
	client := s.ClientNet(c)
	target := name
	if !ValidName(name) {
		// Whatever was typed into the name field is not kept: it may be a
		// password typed in the wrong box.
		target = "(invalid)"
	}
	entry := AuditEntry{Actor: target, Action: AuditSignInFailed, Target: target, Client: client}
	fail := func(status int, outcome, msg string) error {
		entry.Outcome = outcome
		_ = s.Record(ctx, entry)
		return s.renderLogin(c, status, target, msg)
	}
	// The network limit stops guessing from one place. A full table counts
	// new networks in one shared bucket; a network that signed in to this
	// account before is not held back by a bucket that strangers drained.
	if d := s.networks.Peek(client); !d.Allowed && !(d.Shared && s.knownNet(ctx, target, client)) {
		return s.tooMany(c, now, d, target, client, limitNetwork)
	}
	// The account limit holds back only networks that never signed in to
	// the account, so a stranger's wrong passwords cannot lock the owner
	// out of the networks the owner uses.
	known := false
	if d := s.accounts.Peek(target); !d.Allowed {
		if known = s.knownNet(ctx, target, client); !known {
			return s.tooMany(c, now, d, target, client, limitAccount)
		}
	}
	u, err := s.dir.User(ctx, name)
	if err != nil && !errors.Is(err, ErrNoUser) {
		s.o.Logger.Error("cannot read staff accounts", "err", err)
		return s.renderLogin(c, fiber.StatusServiceUnavailable, target, "Sign-in is unavailable, try again shortly.")
	}
	hash := s.dummy
	if u != nil {
		hash = u.password
	}
	s.hashing <- struct{}{}
	ok, _ := CheckPassword(hash, password)
	<-s.hashing
	outcome := ""
	switch {
	case u == nil:
		outcome = "no_such_user"
	case !ok:
		outcome = "bad_password"
	case u.Disabled:
		outcome = "disabled"
	}
	if outcome != "" {
		s.networks.Hit(client)
		// Asked for every valid name, known or not, so that the time a
		// failure takes tells nothing about which names exist.
		if !known && !s.knownNet(ctx, target, client) {
			s.accounts.Hit(target)
		}
		return fail(fiber.StatusUnauthorized, outcome, badLogin)
	}
	entry.Action, entry.Outcome = AuditSignIn, "ok"
	if err := s.Record(ctx, entry); err != nil {
		return s.renderLogin(c, fiber.StatusServiceUnavailable, target, "Sign-in is unavailable, try again shortly.")
	}
	s.known.add(target, client)
	raw, err := s.sess.New(ctx, u.Name)
	if err != nil {
		s.o.Logger.Error("cannot start a session", "err", err)
		return s.renderLogin(c, fiber.StatusServiceUnavailable, target, "Sign-in is unavailable, try again shortly.")
	}
	c.Cookie(&fiber.Cookie{Name: CookieName, Value: raw, Path: "/", HTTPOnly: true, Secure: !s.o.InsecureCookie, SameSite: fiber.CookieSameSiteStrictMode})
	return c.Redirect("/app/", fiber.StatusSeeOther)
}

// tooMany refuses a rate-limited attempt with 429 and Retry-After. The
// attempt is not written on its own: it is counted in its network's
// window, which becomes one audit row with the count (FlushRateLimited).
func (s *Gate) tooMany(c *fiber.Ctx, now time.Time, d ratelimit.Decision, target, client string, limit int) error {
	s.refused.add(client, target, limit, now)
	wait := d.RetryAfter(now)
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(wait.Seconds())))
	return s.renderLogin(c, fiber.StatusTooManyRequests, target,
		"Too many failed attempts. Try again in "+max(wait.Round(time.Minute), time.Minute).String()+".")
}

// logout ends the session and audits it.
func (s *Gate) logout(c *fiber.Ctx) error {
	raw, _ := c.Locals(localsSession).(string)
	if raw != "" {
		name, ok, err := s.sess.Delete(c.UserContext(), raw)
		if err != nil {
			// The cookie is cleared all the same; the row ends at its
			// idle timeout.
			s.o.Logger.Error("cannot end a session in the store", "err", err)
		}
		if ok {
			_ = s.Record(c.UserContext(), AuditEntry{Actor: name, Action: AuditSignOut, Target: name, Outcome: "ok", Client: s.ClientNet(c)})
		}
	}
	c.Cookie(&fiber.Cookie{Name: CookieName, Value: "", Path: "/", HTTPOnly: true, Secure: !s.o.InsecureCookie,
		SameSite: fiber.CookieSameSiteStrictMode, Expires: time.Unix(1, 0)})
	return c.Redirect("/app/login", fiber.StatusSeeOther)
}
