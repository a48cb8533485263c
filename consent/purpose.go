// Package consent owns what a visitor can agree to and how the agreement is
// kept: the purposes and third-party services (with their destination
// countries), the per-site consent settings, what a decision grants, the
// signed preference cookie and the state a cookie allows. It sits at the bottom of the import graph (the site package
// embeds its Settings), so it imports nothing of the project; the consent
// log and its writer live in consent/consentlog.
package consent

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
)

// Purpose is one purpose a visitor may grant. The values are bits of the
// cookie's purpose mask and are stored: never renumber.
type Purpose uint8

const (
	// Necessary is always on: the consent cookie itself, load balancing.
	Necessary Purpose = 1 << 0
	// Functional keeps preferences (language, layout).
	Functional Purpose = 1 << 1
	// Statistics makes events "consented": a per-event row with the
	// visitor id cookie and the truncated IP in the identified database.
	Statistics Purpose = 1 << 2
	// Identified links visits to the site's own account id (user id).
	Identified Purpose = 1 << 3
	// ThirdParty forwards to named services (Yandex Metrica, Google
	// Analytics), each granted separately; the bit is set when at least
	// one service is granted.
	ThirdParty Purpose = 1 << 4
)

// Purposes is a set of purposes (a bit mask of Purpose values).
type Purposes uint8

// AllPurposes lists every purpose in the order the banner shows them.
var AllPurposes = []Purpose{Necessary, Functional, Statistics, Identified, ThirdParty}

// ID is the purpose's name in configuration, JSON and the consent log.
func (p Purpose) ID() string {
	switch p {
	case Necessary:
		return "necessary"
	case Functional:
		return "functional"
	case Statistics:
		return "statistics"
	case Identified:
		return "identified"
	case ThirdParty:
		return "third_party"
	}
	return ""
}

// PurposeByID returns the purpose named id, or false.
func PurposeByID(id string) (Purpose, bool) {
	for _, p := range AllPurposes {
		if p.ID() == id {
			return p, true
		}
	}
	return 0, false
}

// Has reports whether p is in the set.
func (s Purposes) Has(p Purpose) bool { return s&Purposes(p) != 0 }

// With returns the set with p added.
func (s Purposes) With(p Purpose) Purposes { return s | Purposes(p) }

// IDs lists the set's purpose names in AllPurposes order.
func (s Purposes) IDs() []string {
	out := make([]string, 0, len(AllPurposes))
	for _, p := range AllPurposes {
		if s.Has(p) {
			out = append(out, p.ID())
		}
	}
	return out
}

// String is IDs joined by commas: the consent log's form.
func (s Purposes) String() string { return strings.Join(s.IDs(), ",") }

// Service is a third-party service a site may forward to, under the
// third_party purpose. Bit is its position in the cookie's service mask
// and is stored: a service keeps its bit forever.
type Service struct {
	ID      string `yaml:"id" json:"id"`
	Name    string `yaml:"name" json:"name"`
	Country string `yaml:"country" json:"country"` // ISO 3166-1 alpha-2 destination
	Bit     int    `yaml:"bit" json:"-"`
}

// Catalogue holds the services a site may name by id alone; their bits are
// fixed. A site may add its own services with bits 16 to 31.
var Catalogue = []Service{
	{ID: "yandex_metrica", Name: "Yandex Metrica", Country: "RU", Bit: 0},
	{ID: "google_analytics", Name: "Google Analytics", Country: "US", Bit: 1},
	{ID: "google_ads", Name: "Google Ads", Country: "US", Bit: 2},
	{ID: "vk_pixel", Name: "VK Pixel", Country: "RU", Bit: 3},
	{ID: "meta_pixel", Name: "Meta Pixel", Country: "US", Bit: 4},
}

// Bits 16 to 31 are for a site's own services.
const (
	minCustomBit = 16
	maxCustomBit = 31
)

func catalogueService(id string) (Service, bool) {
	for _, s := range Catalogue {
		if s.ID == id {
			return s, true
		}
	}
	return Service{}, false
}

// VisitorCookieName is the first-party visitor id cookie, set only with
// statistics consent and deleted on withdrawal.
const VisitorCookieName = "sezim_vid"

// VisitorIDLen is the length of a visitor id: 128 random bits, base64url.
const VisitorIDLen = 22

// ValidVisitorID reports whether v has the form of a visitor id; anything
// else in the cookie is ignored (and replaced at the next consent).
func ValidVisitorID(v string) bool {
	if len(v) != VisitorIDLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	// 22 characters hold 132 bits: the last one may carry only 2 of them.
	return strings.IndexByte("AQgw", v[21]) >= 0
}

// NewVisitorID returns a fresh visitor id: 128 random bits, base64url.
func NewVisitorID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
