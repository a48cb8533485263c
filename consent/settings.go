package consent

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Lifetime limits, in days: the default is six months, the most a consent
// may last is a year.
const (
	DefaultLifetimeDays = 183
	MaxLifetimeDays     = 366
)

// Languages are the banner languages a site may override texts for.
var Languages = []string{"ru", "kk", "en"}

// Settings are a site's consent configuration: the `consent:` block of a
// site in the configuration file. A site without it has no banner, and
// every event of it is anonymous (no cookie can grant statistics).
type Settings struct {
	// Purposes enabled besides necessary, which is always on.
	Purposes []string `yaml:"purposes"`
	// Services under third_party: a catalogue id alone, or a full entry
	// (id, name, country, bit 16-31) for a service of the site's own.
	Services []Service `yaml:"services"`
	// PolicyVersion is the privacy policy's version; a cookie for another
	// version is no consent, and the banner prompts again.
	PolicyVersion string `yaml:"policy_version"`
	// PolicyTextHash is the SHA-256 (hex) of the policy text; or give
	// PolicyFile and it is computed at load.
	PolicyTextHash string `yaml:"policy_text_hash"`
	PolicyFile     string `yaml:"policy_file"`
	LifetimeDays   int    `yaml:"lifetime_days"`
	// CookieDomain is the Domain attribute of the cookies (empty: the
	// collector's host only).
	CookieDomain string `yaml:"cookie_domain"`
	// Texts overrides the banner's texts per language (ru, kk, en).
	Texts map[string]map[string]string `yaml:"texts"`

	enabled  Purposes
	services map[string]*Service
}

var (
	versionPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	serviceID      = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)
	textKey        = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	hexHash        = regexp.MustCompile(`^[0-9a-f]{64}$`)
	countryCode    = regexp.MustCompile(`^[A-Z]{2}$`)
)

// maxText bounds one banner text override, in bytes.
const maxText = 4000

// Validate checks the settings and fills defaults and derived fields. It
// reports each problem through bad with its key (prefixed by key); dir is
// the folder a relative policy_file is read from.
func (s *Settings) Validate(key, dir string, domains []string, bad func(key, format string, args ...any)) {
	s.enabled = Purposes(Necessary)
	for i, id := range s.Purposes {
		p, ok := PurposeByID(id)
		if !ok {
			bad(fmt.Sprintf("%s.purposes[%d]", key, i), "%q is not a purpose: use functional, statistics, identified or third_party", id)
			continue
		}
		if s.enabled.Has(p) && p != Necessary {
			bad(fmt.Sprintf("%s.purposes[%d]", key, i), "%q is listed twice", id)
		}
		s.enabled = s.enabled.With(p)
	}
	if s.enabled.Has(Identified) && !s.enabled.Has(Statistics) {
		bad(key+".purposes", "identified needs statistics: account ids are kept only on consented per-event rows")
	}
	s.validateServices(key, bad)

	if !versionPattern.MatchString(s.PolicyVersion) {
		bad(key+".policy_version", "%q must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'", s.PolicyVersion)
	}
	switch {
	case s.PolicyFile != "" && s.PolicyTextHash != "":
		bad(key+".policy_file", "give policy_file or policy_text_hash, not both")
	case s.PolicyFile != "":
		p := s.PolicyFile
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		text, err := os.ReadFile(p)
		if err != nil {
			bad(key+".policy_file", "cannot read %q", s.PolicyFile)
			break
		}
		sum := sha256.Sum256(text)
		s.PolicyTextHash = hex.EncodeToString(sum[:])
	case !hexHash.MatchString(s.PolicyTextHash):
		bad(key+".policy_text_hash", "%q must be the SHA-256 of the policy text as 64 lowercase hex digits (or give policy_file)", s.PolicyTextHash)
	}

	switch {
	case s.LifetimeDays == 0:
		s.LifetimeDays = DefaultLifetimeDays
	case s.LifetimeDays < 1 || s.LifetimeDays > MaxLifetimeDays:
		bad(key+".lifetime_days", "%d must be between 1 and %d days", s.LifetimeDays, MaxLifetimeDays)
	}
	if s.CookieDomain != "" {
		d := strings.ToLower(strings.TrimPrefix(s.CookieDomain, "."))
		ok := false
		for _, sd := range domains {
			sd = strings.ToLower(sd)
			if d == sd || strings.HasSuffix(d, "."+sd) {
				ok = true
			}
		}
		if !ok || strings.ContainsAny(d, "/:@ ") {
			bad(key+".cookie_domain", "%q must be one of the site's domains or a subdomain of one", s.CookieDomain)
		}
		s.CookieDomain = d
	}
	for lang, texts := range s.Texts {
		if !isLanguage(lang) {
			bad(key+".texts."+lang, "%q is not a banner language: use ru, kk or en", lang)
			continue
		}
		for k, v := range texts {
			if !textKey.MatchString(k) {
				bad(key+".texts."+lang, "%q is not a text key (a-z, 0-9, '_')", k)
			} else if len(v) > maxText {
				bad(key+".texts."+lang+"."+k, "is longer than %d bytes", maxText)
			}
		}
	}
}

func (s *Settings) validateServices(key string, bad func(key, format string, args ...any)) {
	s.services = make(map[string]*Service, len(s.Services))
	bits := map[int]string{}
	for i := range s.Services {
		sv := &s.Services[i]
		k := fmt.Sprintf("%s.services[%d]", key, i)
		if !serviceID.MatchString(sv.ID) {
			bad(k+".id", "%q must be 1-48 characters of a-z, 0-9 or '_'", sv.ID)
			continue
		}
		if c, ok := catalogueService(sv.ID); ok {
			if sv.Bit != 0 && sv.Bit != c.Bit {
				bad(k+".bit", "%s has the fixed bit %d", sv.ID, c.Bit)
			}
			sv.Bit = c.Bit
			if sv.Name == "" {
				sv.Name = c.Name
			}
			if sv.Country == "" {
				sv.Country = c.Country
			}
		} else if sv.Bit < minCustomBit || sv.Bit > maxCustomBit {
			bad(k+".bit", "%d: a service not in the catalogue needs a bit between %d and %d, never reused", sv.Bit, minCustomBit, maxCustomBit)
		}
		if sv.Name == "" || len(sv.Name) > 100 {
			bad(k+".name", "a name of 1-100 bytes is required")
		}
		if !countryCode.MatchString(sv.Country) {
			bad(k+".country", "%q must be the destination country as two capital letters (ISO 3166-1)", sv.Country)
		}
		if _, dup := s.services[sv.ID]; dup {
			bad(k+".id", "%q is listed twice", sv.ID)
		}
		if other, dup := bits[sv.Bit]; dup {
			bad(k+".bit", "%d is also the bit of %s", sv.Bit, other)
		}
		bits[sv.Bit] = sv.ID
		s.services[sv.ID] = sv
	}
	switch {
	case len(s.Services) > 0 && !s.enabled.Has(ThirdParty):
		bad(key+".services", "services need the third_party purpose")
	case len(s.Services) == 0 && s.enabled.Has(ThirdParty):
		bad(key+".purposes", "third_party needs at least one service")
	}
}

func isLanguage(lang string) bool {
	for _, l := range Languages {
		if l == lang {
			return true
		}
	}
	return false
}

// Enabled is the set of purposes the site offers (necessary included).
func (s *Settings) Enabled() Purposes { return s.enabled }

// Service returns the site's service named id, or nil.
func (s *Settings) Service(id string) *Service { return s.services[id] }

// ServiceMask is the set of services as a cookie service mask.
func (s *Settings) ServiceMask(ids []string) uint32 {
	var m uint32
	for _, id := range ids {
		if sv := s.services[id]; sv != nil {
			m |= 1 << sv.Bit
		}
	}
	return m
}

// ServicesIn lists the site's services whose bits are in mask, in
// configuration order.
func (s *Settings) ServicesIn(mask uint32) []*Service {
	var out []*Service
	for i := range s.Services {
		if sv := &s.Services[i]; mask&(1<<sv.Bit) != 0 {
			out = append(out, sv)
		}
	}
	return out
}

// AllServices is the mask of every service of the site.
func (s *Settings) AllServices() uint32 {
	var m uint32
	for _, sv := range s.Services {
		m |= 1 << sv.Bit
	}
	return m
}
