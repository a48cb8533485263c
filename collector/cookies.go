package collector

import (
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// SecureMode says when the consent cookies get the Secure attribute.
type SecureMode string

const (
	// SecureAuto follows the scheme visitors use: the public URL's when
	// one is configured; else https, unless the request came in plain
	// and a trusted proxy reports X-Forwarded-Proto: http. The Host
	// header is never read: a proxy rewrites it (nginx's proxy_pass
	// sends the upstream's address), and a visitor chooses it.
	SecureAuto SecureMode = "auto"
	// SecureAlways sets Secure on every cookie.
	SecureAlways SecureMode = "always"
	// SecureNever never sets it: plain http only, such as local tests.
	SecureNever SecureMode = "never"
)

// ValidSecureMode reports whether m is one of the modes.
func ValidSecureMode(m SecureMode) bool {
	return m == SecureAuto || m == SecureAlways || m == SecureNever
}

// secure decides the Secure attribute of the cookies a consent request
// sets (see SecureAuto). Without a public URL the default is Secure: a
// browser that reached the collector over plain http then drops the
// cookie, which fails closed (no consent stored), while a missing Secure
// behind a TLS proxy would send a six-month visitor id in clear text.
func (h *consentHandlers) secure(ctx *fiber.Ctx) bool {
	switch h.o.Secure {
	case SecureAlways:
		return true
	case SecureNever:
		return false
	}
	if h.o.PublicURL != nil {
		return h.o.PublicURL.Scheme == "https"
	}
	if ctx.Context().IsTLS() || !h.c.o.Sites.TrustedProxy(peerAddr(ctx)) {
		return true
	}
	// The right-most value is the one the trusted peer added or set.
	proto := ctx.Get(fiber.HeaderXForwardedProto)
	proto = strings.TrimSpace(proto[strings.LastIndexByte(proto, ',')+1:])
	return !strings.EqualFold(proto, "http")
}

// setCookie adds a Set-Cookie header; maxAge < 0 deletes the cookie
// (Max-Age=0).
func (h *consentHandlers) setCookie(ctx *fiber.Ctx, name, value, domain string, maxAge int, secure, httpOnly bool) {
	hc := &http.Cookie{Name: name, Value: value, Path: "/", Domain: domain, MaxAge: maxAge,
		Secure: secure, HttpOnly: httpOnly, SameSite: http.SameSiteLaxMode}
	ctx.Response().Header.Add(fiber.HeaderSetCookie, hc.String())
}
