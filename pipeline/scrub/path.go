package scrub

import (
	"errors"
	"fmt"
	"strings"
)

// MaxPatterns bounds a site's own path patterns: each is tried against
// every pageview's path.
const MaxPatterns = 100

// maxPatternSegments bounds one pattern.
const maxPatternSegments = 16

// Pattern is one of a site's own path rules, "/psychologist/:id": literal
// segments and placeholders. It matches a path whose first segments are
// the literals where the pattern has them and anything non-empty where it
// has a placeholder, which then replaces that segment. Later segments of
// the path are left to the built-in rules, so "/psychologist/:id" also
// turns "/psychologist/123/reviews" into "/psychologist/:id/reviews".
type Pattern struct {
	segs []string
}

// String returns the pattern as written.
func (p Pattern) String() string { return "/" + strings.Join(p.segs, "/") }

// ParsePattern checks and compiles a pattern. It must start with '/', have
// no empty segment, query, fragment, ';' parameter, escape, space, control
// character or markup, and hold at least one placeholder: ':' followed by
// a lower-case letter and up to 31 lower-case letters, digits or '_'.
func ParsePattern(s string) (Pattern, error) {
	if !strings.HasPrefix(s, "/") {
		return Pattern{}, errors.New("must start with '/'")
	}
	segs := strings.Split(s[1:], "/")
	if len(segs) > maxPatternSegments {
		return Pattern{}, fmt.Errorf("has %d segments; at most %d", len(segs), maxPatternSegments)
	}
	holes := 0
	for _, seg := range segs {
		switch {
		case seg == "":
			return Pattern{}, errors.New("has an empty segment ('//' or a trailing '/')")
		case strings.HasPrefix(seg, ":"):
			if !placeholderName(seg[1:]) {
				return Pattern{}, fmt.Errorf("placeholder %q must be ':' and a lower-case letter followed by up to 31 lower-case letters, digits or '_'", seg)
			}
			holes++
		case strings.ContainsAny(seg, "?#;%:*<> \t"):
			return Pattern{}, fmt.Errorf("segment %q may not hold '?', '#', ';', '%%', ':', '*', '<', '>' or spaces", seg)
		default:
			if v, why := check(seg); why != ReasonNone || v != seg {
				return Pattern{}, fmt.Errorf("segment %q is not plain text", seg)
			}
		}
	}
	if holes == 0 {
		return Pattern{}, errors.New("has no placeholder (such as :id): it would change nothing")
	}
	return Pattern{segs: segs}, nil
}

func placeholderName(n string) bool {
	if len(n) == 0 || len(n) > 32 || n[0] < 'a' || n[0] > 'z' {
		return false
	}
	for i := 1; i < len(n); i++ {
		if c := n[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Rules are a site's patterns, tried in order; the first that matches a
// path applies. A nil *Rules has none.
type Rules struct {
	pats []Pattern
}

// NewRules returns the rules of ps, in order (nil when there is none).
func NewRules(ps []Pattern) *Rules {
	if len(ps) == 0 {
		return nil
	}
	return &Rules{pats: ps}
}

// Len is the number of patterns.
func (r *Rules) Len() int {
	if r == nil {
		return 0
	}
	return len(r.pats)
}

// matchesAny reports whether some pattern matches p ("/a/b", without
// ';' parameters), walking p in place.
func (r *Rules) matchesAny(p string) bool {
	if r == nil {
		return false
	}
	for _, pt := range r.pats {
		if pt.matchPrefix(p[1:]) {
			return true
		}
	}
	return false
}

// matchPrefix reports whether the first segments of rest (a path without
// its leading '/') match the pattern, as apply decides.
func (pt Pattern) matchPrefix(rest string) bool {
	for k, ps := range pt.segs {
		seg, tail, more := strings.Cut(rest, "/")
		if ps[0] == ':' {
			if seg == "" {
				return false
			}
		} else if ps != seg {
			return false
		}
		if !more {
			return k == len(pt.segs)-1
		}
		rest = tail
	}
	return true
}

// calmPath reports that no rule can change p: no ';' parameter, nothing
// the value rules start from, no secret-bearing segment and no site pattern
// that matches.
func calmPath(p string, r *Rules) bool {
	if !strings.HasPrefix(p, "/") || strings.IndexByte(p, ';') >= 0 || !quiet(p) {
		return false
	}
	for rest := p[1:]; rest != ""; {
		seg, tail, _ := strings.Cut(rest, "/")
		if isSecretBefore(seg) {
			return false
		}
		rest = tail
	}
	return !r.matchesAny(p)
}

// apply marks the segments the first matching pattern replaces.
func (r *Rules) apply(segs []string, ph []string) {
	if r == nil {
		return
	}
next:
	for _, p := range r.pats {
		if len(p.segs) > len(segs) {
			continue
		}
		for k, ps := range p.segs {
			if ps[0] == ':' {
				if segs[k] == "" {
					continue next
				}
			} else if ps != segs[k] {
				continue next
			}
		}
		for k, ps := range p.segs {
			if ps[0] == ':' {
				ph[k] = ps
			}
		}
		return
	}
}

// secretBefore are segment names whose following segments, in the links
// sites send by e-mail, are a one-time secret: a password reset, an
// address confirmation, an invitation, an unsubscribe link, a magic
// sign-in link. ("password" alone is left out: /password/forgot is a page,
// and /password/reset/<token> is caught by "reset".)
var secretBefore = []string{
	"reset", "reset-password", "reset_password", "password-reset", "password_reset",
	"verify", "verify-email", "verification", "confirm", "confirm-email", "confirmation",
	"activate", "activation", "unsubscribe", "invite", "invitation", "magic", "magic-link",
	"token", "otp",
}

func isSecretBefore(seg string) bool {
	if len(seg) < 3 || len(seg) > 14 {
		return false
	}
	for _, k := range secretBefore {
		if len(k) == len(seg) && strings.EqualFold(k, seg) {
			return true
		}
	}
	return false
}

// isPlaceholder reports a segment that is already one (":id", ":token").
func isPlaceholder(seg string) bool { return len(seg) > 1 && seg[0] == ':' && placeholderName(seg[1:]) }

// maxSegments bounds how many segments get the site's patterns and the
// secret-link rule; the rest of a longer path gets the value rules only.
const maxSegments = 32

// rewritePath appends the normalised path p (starting with '/') to dst.
func rewritePath(dst []byte, p string, r *Rules) ([]byte, bool) {
	var segArr, phArr [maxSegments]string
	segs, ph := segArr[:0], phArr[:]
	changed := false
	rest := p[1:]
	for len(segs) < maxSegments {
		seg, tail, more := strings.Cut(rest, "/")
		// ";name=value" parameters name a session, never a page.
		if i := strings.IndexByte(seg, ';'); i >= 0 {
			seg, changed = seg[:i], true
		}
		segs = append(segs, seg)
		if !more {
			rest = ""
			break
		}
		rest = tail
		if len(segs) == maxSegments {
			rest = p[len(p)-len(tail)-1:] // from its '/', rewritten as a value below
		}
	}
	r.apply(segs, ph)
	// Everything after a secret-bearing segment is the secret (Django's
	// /reset/<uid>/<token>, Laravel's /email/verify/<id>/<hash>): it
	// becomes one :token.
	for k := 0; k+1 < len(segs); k++ {
		if ph[k] != "" || segs[k+1] == "" || !isSecretBefore(segs[k]) {
			continue
		}
		if ph[k+1] == "" && !isPlaceholder(segs[k+1]) {
			ph[k+1] = Token
		}
		if k+2 < len(segs) || rest != "" {
			segs, rest, changed = segs[:k+2], "", true
		}
		break
	}
	for k, seg := range segs {
		dst = append(dst, '/')
		if ph[k] != "" {
			dst = append(dst, ph[k]...)
			changed = changed || ph[k] != seg
			continue
		}
		var c bool
		dst, c = rewriteText(dst, seg)
		changed = changed || c
	}
	if rest != "" {
		var c bool
		dst, c = rewriteText(dst, rest)
		changed = changed || c
	}
	return dst, changed
}
