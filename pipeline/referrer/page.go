// Package referrer reduces the page URL, the referrer and a few browser values to the
// bounded dimensions the stats database keeps: host, path (no query, no fragment), UTM
// values, referrer host and channel, screen class and language. Everything else in a URL
// (click ids, session tokens, e-mail addresses in query strings) is dropped here.
//
// Returned strings may share memory with the arguments. Callers holding strings that
// point into reused buffers (fasthttp/Fiber values) must copy them before calling.
package referrer

import (
	"strings"
	"unicode/utf8"
)

// UTM holds the campaign parameters of a landing URL. Source and Medium are lower-cased
// so that "Google" and "google" count as one source; the others keep their case. They
// are decoded and trimmed, not cut: the pipeline scrubs them, then cuts them to MaxUTM.
type UTM struct {
	Source, Medium, Campaign, Content, Term string
	// PaidClick reports that the URL carried an ad-network click id (gclid, yclid,
	// msclkid...). The id itself is always dropped; only this fact is kept, so Classify
	// can call the visit paid even when the advertiser forgot utm_medium=cpc.
	PaidClick bool
}

const (
	// DefaultMaxPath is the path cap ParsePage uses when given maxPath <= 0.
	DefaultMaxPath = 256
	// MaxUTM is what the pipeline cuts each stored UTM value to, on a rune boundary.
	MaxUTM = 100
)

// paidClickIDs are the query parameters ad networks append to the landing URL of a paid
// click. fbclid and ysclid are left out on purpose: Facebook and Yandex add them to
// organic outbound links too, so they say nothing about payment.
var paidClickIDs = map[string]bool{
	"gclid":     true, // Google Ads
	"gbraid":    true, // Google Ads (iOS app campaigns)
	"wbraid":    true, // Google Ads (web to app)
	"dclid":     true, // Google Display & Video 360
	"yclid":     true, // Yandex Direct
	"_openstat": true, // Yandex Direct (older tagging)
	"msclkid":   true, // Microsoft Advertising
	"ttclid":    true, // TikTok Ads
	"twclid":    true, // X/Twitter Ads
	"li_fat_id": true, // LinkedIn Ads
	"vkclid":    true, // VK Ads
}

// ParsePage splits an absolute http(s) page URL into the host (lower-case, without
// "www.", port or trailing dot), the path and the UTM parameters. The path is
// percent-decoded once, loses its query string and fragment and its trailing slashes
// ("/a/" → "/a", "/" stays), and is capped at maxPath bytes on a rune boundary
// (DefaultMaxPath when maxPath <= 0). Every query parameter except utm_* is dropped.
//
// ok is false for anything that is not an absolute http or https URL with a host
// (data:, javascript:, file:, relative URLs, empty input, raw spaces or control
// characters), and for a path that decodes to invalid UTF-8. A path that decodes to
// control characters or markup is returned as it is, for the scrub step to refuse with
// its own reason (pipeline/scrub).
func ParsePage(rawURL string, maxPath int) (host, path string, utm UTM, ok bool) {
	scheme, hostport, rest, ok := splitURL(rawURL)
	if !ok || (scheme != "http" && scheme != "https") {
		return "", "", UTM{}, false
	}
	host, ok = normalizeHost(hostport)
	if !ok {
		return "", "", UTM{}, false
	}
	rawPath, query := rest, ""
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rawPath = rest[:i]
		if rest[i] == '?' {
			query = rest[i+1:]
			if j := strings.IndexByte(query, '#'); j >= 0 {
				query = query[:j]
			}
		}
	}
	path, ok = cleanPath(rawPath, maxPath)
	if !ok {
		return "", "", UTM{}, false
	}
	return host, path, parseUTM(query), true
}

// splitURL cuts "scheme://authority/rest" without allocating. The scheme comes back
// lower-cased only when it is one of the few this package cares about.
func splitURL(raw string) (scheme, authority, rest string, ok bool) {
	i := strings.IndexByte(raw, ':')
	if i <= 0 || !strings.HasPrefix(raw[i:], "://") {
		return "", "", "", false
	}
	scheme = raw[:i]
	for _, known := range [...]string{"http", "https", "android-app"} {
		if strings.EqualFold(scheme, known) {
			scheme = known
			break
		}
	}
	raw = raw[i+3:]
	for j := 0; j < len(raw); j++ {
		if c := raw[j]; c <= ' ' || c == 0x7f {
			return "", "", "", false // browsers percent-encode these; raw ones are forged
		}
	}
	end := strings.IndexAny(raw, "/?#")
	if end < 0 {
		end = len(raw)
	}
	authority, rest = raw[:end], raw[end:]
	// Userinfo may hold credentials: never look at it, never keep it.
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		authority = authority[at+1:]
	}
	return scheme, authority, rest, authority != ""
}

// normalizeHost lower-cases a host[:port], drops the port, a trailing dot and a leading
// "www.", and checks that what remains is a plausible host name or IP literal.
func normalizeHost(hostport string) (string, bool) {
	host := hostport
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 || !validPort(host[end+1:]) {
			return "", false
		}
		host = host[1:end]
		if host == "" || strings.Trim(host, "0123456789abcdefABCDEF:.") != "" {
			return "", false
		}
		return lowerASCII(host), true
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		if !validPort(host[i:]) {
			return "", false
		}
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" || len(host) > 253 {
		return "", false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.', c == '_':
		case 'A' <= c && c <= 'Z':
		case c >= 0x80: // internationalised names from server logs; browsers send punycode
		default:
			return "", false
		}
	}
	if !utf8.ValidString(host) || strings.Contains(host, "..") || host[0] == '.' {
		return "", false
	}
	host = lowerHost(host)
	if rest, ok := strings.CutPrefix(host, "www."); ok && rest != "" {
		host = rest
	}
	return host, true
}

// validPort accepts "" or ":" followed by up to five digits.
func validPort(s string) bool {
	if s == "" {
		return true
	}
	if s[0] != ':' || len(s) > 6 {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// cleanPath percent-decodes once, validates, caps and trims trailing slashes.
func cleanPath(raw string, maxPath int) (string, bool) {
	if maxPath <= 0 {
		maxPath = DefaultMaxPath
	}
	if raw == "" {
		return "/", true
	}
	// Control characters and markup are the scrub step's to refuse, with
	// a reason of their own (pipeline/scrub).
	p := unescape(raw, false)
	if !utf8.ValidString(p) {
		return "", false
	}
	p = capRunes(p, maxPath)
	// splitURL guarantees raw starts with "/", and decoding never touches that byte, so
	// trimming leaves either "" (the root) or a path that still starts with "/".
	if p = strings.TrimRight(p, "/"); p == "" {
		return "/", true
	}
	return p, true
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

// unescape decodes %XX sequences (and '+' as space when plus is set) once. A '%' not
// followed by two hex digits stays literal, as the WHATWG URL parser leaves it. It only
// allocates when there is something to decode.
func unescape(s string, plus bool) string {
	escapes, pluses := 0, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '%' && i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]):
			escapes++
			i += 2
		case plus && s[i] == '+':
			pluses++
		}
	}
	if escapes == 0 && pluses == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) - 2*escapes) // each %XX shrinks by two bytes; '+' → ' ' keeps its size
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%' && i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		case plus && c == '+':
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// lowerASCII lower-cases ASCII letters, allocating only when there is one to change.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// lowerHost is lowerASCII that also folds non-ASCII letters, for hosts like "Сезим.kz".
func lowerHost(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || ('A' <= s[i] && s[i] <= 'Z') {
			return strings.ToLower(s)
		}
	}
	return s
}

// parseUTM walks the query string once and keeps only utm_* values and the fact that a
// paid click id was present.
func parseUTM(q string) UTM {
	var u UTM
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(kv, "=")
		if len(k) < 4 {
			continue
		}
		if len(k) > 4 && strings.EqualFold(k[:4], "utm_") {
			var dst *string
			switch strings.ToLower(k[4:]) {
			case "source":
				dst = &u.Source
			case "medium":
				dst = &u.Medium
			case "campaign":
				dst = &u.Campaign
			case "content":
				dst = &u.Content
			case "term":
				dst = &u.Term
			default:
				continue
			}
			if *dst == "" { // the first occurrence wins, as in URLSearchParams.get
				*dst = utmValue(v)
			}
			continue
		}
		if v != "" && paidClickIDs[strings.ToLower(k)] {
			u.PaidClick = true
		}
	}
	u.Source = lowerHost(u.Source)
	u.Medium = lowerHost(u.Medium)
	return u
}

// utmValue decodes a query value and drops it when it is not UTF-8. It is
// not cut here: the scrub step cuts it to MaxUTM once personal data is
// replaced, and refuses control characters and markup (pipeline/scrub).
func utmValue(v string) string {
	v = strings.TrimSpace(unescape(v, true))
	if !utf8.ValidString(v) {
		return ""
	}
	return v
}
