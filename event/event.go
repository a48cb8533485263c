// Package event holds the domain types every other package shares: what
// arrives at the collector (Hit), what the pipeline decides (Tier, Drop) and
// what is written to the stats database (Event). It imports nothing of the
// project, so every package may import it.
package event

import (
	"net/netip"
	"strings"
	"time"
)

// Kind says what an event records. The values are stored: never renumber.
type Kind uint8

const (
	// KindPageview is a page view (the tracker's default, the pixel's default).
	KindPageview Kind = 1
	// KindCustom is a named custom event sent through the tracker's API.
	KindCustom Kind = 2
)

// Tier is the outcome of the one decision made for every event at ingress.
// The values are stored: never renumber.
type Tier uint8

const (
	// TierDrop keeps nothing but a counter of the reason.
	TierDrop Tier = 0
	// TierAnonymous feeds the aggregates only.
	TierAnonymous Tier = 1
	// TierConsented feeds the aggregates and a per-event row in the
	// identified database.
	TierConsented Tier = 2
)

// String names the tier for metric labels and logs.
func (t Tier) String() string {
	switch t {
	case TierAnonymous:
		return "anonymous"
	case TierConsented:
		return "consented"
	default:
		return "drop"
	}
}

// Source says which endpoint an event came through; it is a bounded metric
// label and never stored.
type Source uint8

const (
	SourcePixel Source = iota + 1
	SourceBeacon
	SourceSessionLog
)

// String names the source for metric labels.
func (s Source) String() string {
	switch s {
	case SourcePixel:
		return "pixel"
	case SourceBeacon:
		return "beacon"
	case SourceSessionLog:
		return "sessionlog"
	}
	return "unknown"
}

// Hit is one event as received, before any decision. It holds the full IP
// address and the raw user agent: it lives only in memory, between the
// request and the anonymiser, and is never logged, stored or put in an error.
type Hit struct {
	Source   Source
	Time     time.Time // server receive time (or the log line's time), UTC
	SiteID   string
	URL      string // page URL as sent by the tracker
	Referrer string
	Name     string // custom event name; empty for a page view
	Screen   int    // screen width in CSS pixels, 0 when unknown
	Language string // navigator.language or Accept-Language
	// PropKeys and PropValues are the custom event properties as sent,
	// in pairs; the pipeline keeps the site's keys only.
	PropKeys, PropValues []string

	IP        netip.Addr
	UserAgent string

	// Origin is the browser's Origin header (empty for the pixel and for
	// server session logs).
	Origin string

	// Headers the decision reads.
	DNT            bool
	GPC            bool
	Purpose        string // Sec-Purpose / Purpose / X-Moz header (prefetch)
	AcceptLanguage string
	HasAccept      bool // an Accept header was present (bots often omit it)
	HasAcceptLang  bool

	// ConsentCookie is the raw value of the sezim_consent cookie, if any.
	ConsentCookie string
	// VisitorCookie is the raw first-party visitor id cookie, if any.
	VisitorCookie string
	// UserID is the site's own account id, passed by the site for logged-in
	// visitors; kept only with the identified purpose granted.
	UserID string
}

// Reset clears every field so a pooled Hit keeps nothing of the last visitor.
func (h *Hit) Reset() { *h = Hit{} }

// Event is an event after anonymisation and enrichment: exactly what the
// stats database may hold about one event. Nothing in it identifies a person
// once the salt of SaltDay is destroyed.
type Event struct {
	SiteID string
	Time   time.Time // UTC, second precision
	// SaltDay is the UTC day whose salt produced Visitor. The raw events
	// table is partitioned by it and the partition is dropped when the salt
	// is destroyed.
	SaltDay time.Time
	// Visitor is the cookieless daily visitor hash.
	Visitor uint64
	Kind    Kind
	Name    string

	Path        string
	RefHost     string
	Channel     string
	UTMSource   string
	UTMMedium   string
	UTMCampaign string
	UTMContent  string
	UTMTerm     string

	Country        string
	Region         string
	Browser        string
	BrowserVersion uint16
	OS             string
	Device         string
	Screen         string
	Language       string
	// PropKeys and PropValues are the event's kept properties, in pairs:
	// keys the site lists, values scrubbed and bounded (pipeline/props.go).
	PropKeys, PropValues []string

	Tier Tier
}

// Reset clears every field for reuse.
func (e *Event) Reset() { *e = Event{} }

// Drop names why an event was not kept. The set is closed and small: it is
// used as a metric label.
type Drop string

const (
	DropNone        Drop = ""
	DropBot         Drop = "bot"
	DropPrefetch    Drop = "prefetch"
	DropUnknownSite Drop = "unknown_site"
	DropOrigin      Drop = "origin"
	DropMalformed   Drop = "malformed"
	DropDNT         Drop = "dnt"
	DropGPC         Drop = "gpc"
	DropRefused     Drop = "refused"
	// DropControl and DropMarkup: a free-form value (path, UTM value,
	// event name) held a control or invisible character, or markup
	// (pipeline/scrub says why these are refused, not cleaned).
	DropControl Drop = "control_character"
	DropMarkup  Drop = "markup"
)

// OwnStrings replaces every field that may point into a request's buffer
// with its own copy. A Sink calls it before keeping an Event, since HTTP
// frameworks reuse request memory after the handler returns.
func (e *Event) OwnStrings() {
	for _, p := range []*string{&e.Name, &e.Path, &e.RefHost, &e.UTMSource, &e.UTMMedium,
		&e.UTMCampaign, &e.UTMContent, &e.UTMTerm, &e.Language} {
		if *p != "" {
			*p = strings.Clone(*p)
		}
	}
	if len(e.PropKeys) > 0 {
		e.PropKeys, e.PropValues = cloneAll(e.PropKeys), cloneAll(e.PropValues)
	}
}

// cloneAll copies a slice of strings and every string in it.
func cloneAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strings.Clone(v)
	}
	return out
}
