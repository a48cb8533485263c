// Package bots decides whether a request comes from a robot rather than a person, so the
// pipeline can drop it before anything is stored. It combines a hand-written list of
// crawler, AI-agent, monitor and HTTP-library tokens with a few header heuristics.
//
// Detect is on the hot path of every event: it lower-cases the User-Agent into a stack
// buffer and scans it once against a trigram filter over all tokens, so a normal browser
// UA costs a few hundred nanoseconds and no allocation.
package bots

import "bytes"

// Reason says why a request was classified as a bot. The set is closed and small so it
// can be a Prometheus label; the empty Reason means "human".
type Reason string

// The reasons Detect returns. Values are stored in metrics: never rename one.
const (
	ReasonNone             Reason = ""                   // not a bot
	ReasonEmptyUA          Reason = "empty_ua"           // no User-Agent header at all
	ReasonTooShort         Reason = "too_short"          // shorter than any real browser sends
	ReasonTooLong          Reason = "too_long"           // longer than any real browser sends
	ReasonInvalid          Reason = "invalid_ua"         // control characters: forged or broken
	ReasonPattern          Reason = "pattern"            // a crawler, preview fetcher, AI agent or monitor token
	ReasonHTTPClient       Reason = "http_client"        // an HTTP library or command-line tool
	ReasonHeadless         Reason = "headless"           // an automated or headless browser
	ReasonNotBrowser       Reason = "not_browser"        // does not even claim to be a browser
	ReasonNoBrowserHeaders Reason = "no_browser_headers" // claims a browser but lacks Accept or Accept-Language
)

// Reasons returns every non-empty Reason, e.g. to pre-create metric label values.
func Reasons() []Reason {
	return []Reason{
		ReasonEmptyUA, ReasonTooShort, ReasonTooLong, ReasonInvalid, ReasonPattern,
		ReasonHTTPClient, ReasonHeadless, ReasonNotBrowser, ReasonNoBrowserHeaders,
	}
}

const (
	// minLen: the shortest real browser UAs (Firefox on Android) are ~70 bytes; tools
	// that send "Mozilla/5.0" alone or a bare product/version are well below 30.
	minLen = 30
	// maxLen bounds the stack buffer. In-app browsers reach ~400 bytes; beyond 1 KiB it
	// is padding meant to break parsers, not a browser.
	maxLen = 1024
)

// Detect reports whether a request is from a bot and why. hasAccept and
// hasAcceptLanguage say whether the request carried those headers; browsers always send
// both on page, image and beacon requests. Callers that cannot know (imported access-log
// lines) pass true for both.
func Detect(ua string, hasAccept, hasAcceptLanguage bool) (bot bool, reason Reason) {
	if ua == "" {
		return true, ReasonEmptyUA
	}
	if len(ua) > maxLen {
		return true, ReasonTooLong
	}
	var buf [maxLen]byte
	b := buf[:len(ua)]
	for i := 0; i < len(ua); i++ {
		c := ua[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return true, ReasonInvalid
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b[i] = c
	}
	if r := match(b); r != ReasonNone {
		return true, r
	}
	if len(b) < minLen {
		return true, ReasonTooShort
	}
	// Every current browser, in-app web views included, starts with Mozilla/5.0; Presto
	// Opera started with Opera/.
	if !bytes.HasPrefix(b, []byte("mozilla/")) && !bytes.HasPrefix(b, []byte("opera/")) {
		return true, ReasonNotBrowser
	}
	if !hasAccept || !hasAcceptLanguage {
		return true, ReasonNoBrowserHeaders
	}
	return false, ReasonNone
}
