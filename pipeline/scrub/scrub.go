// Package scrub is the pipeline step that keeps personal data out of the
// free-form values an event carries: the page path, the UTM values and the
// event name (and, once they exist, event properties). Every ingest route
// (pixel, beacon, session log, import) reaches it through pipeline.Process,
// before anything is written to the WAL or the store.
//
// What it does, in order:
//
//  1. Refuse. A value holding a control character (C0, DEL, C1), an
//     invisible format character (zero-width, bidirectional overrides and
//     isolates, line separators) or markup ('<', '>') is refused, not
//     cleaned: no browser sends them in a path or a name (it percent-encodes
//     them), so they are forged or a scanner's probe. Cleaning would store
//     half of an attacker's choosing and merge it with real values; refusing
//     keeps the dimension honest and tells the sender why (the reason is a
//     bounded metric label). The dashboard renders with textContent, so
//     escaping would protect nothing a refusal does not.
//  2. Decode. Percent-escapes left after the URL's one decoding are decoded
//     until none is left (a double-encoded "%2540" is an '@'), and step 1
//     is applied again to what that reveals.
//  3. Replace. Personal or secret shapes become placeholders: e-mail
//     addresses (:email), card numbers passing the Luhn check (:card), phone
//     numbers (:phone), long digit runs (:id), UUIDs (:uuid), IP addresses
//     (:ip), long random-looking or prefixed secret tokens (:token). In a
//     path, ";name=value" parameters (jsessionid and the like) are removed,
//     what follows a secret-bearing segment (/reset/…, /verify/…,
//     /unsubscribe/…) becomes one :token, and a site's own patterns
//     (/psychologist/:id) are applied first.
//  4. Bound. The result is cut to the caller's limit on a rune boundary and
//     normalised again, until it no longer changes: normalising twice gives
//     what normalising once gave.
//
// No regular expression runs per event: the rules are hand-written byte
// scans, and a value with nothing to replace costs two short scans (check,
// then a look for anything a rule starts from) and no allocation (see
// scrub_timing_test.go).
package scrub

import (
	"net/netip"
	"strings"
	"unicode/utf8"
)

// Reason says why a value was refused. The set is closed and small: it is a
// metric label and a response text.
type Reason string

const (
	// ReasonNone: the value was kept (possibly with placeholders).
	ReasonNone Reason = ""
	// ReasonControl: a control or invisible format character.
	ReasonControl Reason = "control_character"
	// ReasonMarkup: '<' or '>'.
	ReasonMarkup Reason = "markup"
	// ReasonEncoding: not valid UTF-8 once decoded, or percent-encoded
	// more than maxDecodes times over (no sender does that; decoding
	// such a value costs a pass per level).
	ReasonEncoding Reason = "bad_encoding"
)

// The placeholders a replaced value becomes. They are stored: never rename
// one. Each starts with ':' and holds only lower-case letters, so no rule
// matches a placeholder again.
const (
	Email = ":email"
	Card  = ":card"
	Phone = ":phone"
	ID    = ":id"
	UUID  = ":uuid"
	IP    = ":ip"
	Token = ":token"
)

// maxRounds bounds the normalise-until-stable loop. A pass that changes
// anything replaces a span by a shorter placeholder or cuts the value, so
// two or three rounds settle every input seen in fuzzing; the bound only
// keeps a pathological input from looping.
const maxRounds = 8

// maxDecodes bounds how many times a value is percent-decoded.
const maxDecodes = 16

// Value normalises one free-form value (a UTM value, an event name) and
// cuts it to at most max bytes (no limit when max <= 0). It returns the
// value with placeholders, or "" and the reason it was refused.
func Value(v string, max int) (string, Reason) {
	v, why := check(v)
	if why != ReasonNone {
		return "", why
	}
	return settle(v, max, nil, false), ReasonNone
}

// Path normalises a page path ("/a/b", as referrer.ParsePage returns it,
// uncut): r holds the site's own patterns (nil: none). The result starts
// with '/', has no trailing '/' (except the root) and is at most max bytes
// (no limit when max <= 0). It returns "" and the reason when the path is
// refused.
func Path(p string, r *Rules, max int) (string, Reason) {
	p, why := check(p)
	if why != ReasonNone {
		return "", why
	}
	return settle(p, max, r, true), ReasonNone
}

// check refuses control characters, markup and invalid UTF-8, and decodes
// percent-escapes until none is left, checking again what each round
// reveals. It allocates only when there is something to decode.
func check(s string) (string, Reason) {
	for round := 0; ; round++ {
		if !utf8.ValidString(s) {
			return "", ReasonEncoding
		}
		escaped := false
		for i := 0; i < len(s); i++ {
			c := s[i]
			if class[c]&cCheck == 0 {
				continue
			}
			switch {
			case c < ' ' || c == 0x7f:
				return "", ReasonControl
			case c == '<' || c == '>':
				return "", ReasonMarkup
			case c == '%':
				escaped = escaped || (i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]))
			default: // the lead byte of a rune that may be invisible
				if r, _ := utf8.DecodeRuneInString(s[i:]); invisible(r) {
					return "", ReasonControl
				}
			}
		}
		if !escaped {
			return s, ReasonNone
		}
		if round == maxDecodes {
			return "", ReasonEncoding
		}
		s = unescape(s)
	}
}

// invisible reports C1 controls and the format characters that change how
// text around them is shown without being seen themselves: zero-width
// spaces and joiners, direction marks, embeddings, overrides and isolates,
// line and paragraph separators, the byte-order mark, interlinear
// annotation and tag characters.
func invisible(r rune) bool {
	switch {
	case r < 0xa0:
		return r >= 0x80
	case r < 0x200b:
		return false
	case r <= 0x200f, 0x2028 <= r && r <= 0x202e, 0x2060 <= r && r <= 0x206f:
		return true
	case r == 0xfeff, 0xfff9 <= r && r <= 0xfffb, 0xe0000 <= r && r <= 0xe007f:
		return true
	}
	return false
}

// unescape decodes every %XX once.
func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// settle rewrites s until a pass changes nothing and it fits max. A value
// no rule can touch is returned as it is after one scan; otherwise the
// first pass writes into a buffer on the stack, and only a changed value
// is allocated.
func settle(s string, max int, r *Rules, path bool) string {
	if max <= 0 || len(s) <= max {
		switch {
		case !path && quiet(s):
			return s
		case path && calmPath(s, r):
			if s = strings.TrimRight(s, "/"); s == "" {
				s = "/"
			}
			return s
		}
	}
	return settleSlow(s, max, r, path)
}

func settleSlow(s string, max int, r *Rules, path bool) string {
	var arr [512]byte
	for range maxRounds {
		b, changed := rewrite(arr[:0], s, r, path)
		if changed {
			s = string(b)
		}
		cut := max > 0 && len(s) > max
		if cut {
			s = capRunes(s, max)
		}
		if path {
			if s = strings.TrimRight(s, "/"); s == "" {
				s = "/"
			}
		}
		if !changed && !cut {
			break
		}
	}
	return s
}

func rewrite(dst []byte, s string, r *Rules, path bool) ([]byte, bool) {
	if path && strings.HasPrefix(s, "/") {
		return rewritePath(dst, s, r)
	}
	return rewriteText(dst, s)
}

// capRunes cuts s to at most n bytes without splitting a UTF-8 sequence.
func capRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Host returns IP for a host that is an IP address (a referrer such as
// "http://10.1.2.3/"), and the host itself otherwise: an address is never
// a dimension.
func Host(h string) string {
	if h == "" || !(isDigit(h[0]) || strings.IndexByte(h, ':') >= 0) {
		return h
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return IP
	}
	return h
}
