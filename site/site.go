// Package site owns the site configuration: which sites the collector accepts,
// from which origins, in which time zone, how long each table keeps data and
// what to do when a visitor refuses or sends GPC/DNT. It is loaded once at
// start and validated there, so a mistake stops the service with a message
// that names the file, the key and what is wrong.
package site

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/pipeline/scrub"
)

// Action is what to do with an event a visitor asked not to be tracked.
type Action string

const (
	// ActionAnonymous keeps the event in the aggregates only (the default).
	ActionAnonymous Action = "anonymous"
	// ActionDrop keeps nothing but a counter.
	ActionDrop Action = "drop"
)

// Disclosure is how a site's numbers are published (see the README,
// "Disclosure control").
type Disclosure string

const (
	// DisclosureCellKey publishes every stored cell with a fixed noise set
	// by who is in it (pipeline/rollup/perturb.go), so that no combination
	// of answers subtracts down to one visitor (the default).
	DisclosureCellKey Disclosure = "cellkey"
	// DisclosureExact publishes the counts as counted, cells below
	// k_threshold suppressed.
	DisclosureExact Disclosure = "exact"
)

// Retention says how many days each table keeps its rows. The raw events
// table is not listed: it lives exactly as long as the salt (48 hours).
type Retention struct {
	HourlyDays     int `yaml:"agg_hourly_days"`
	DailyDays      int `yaml:"agg_daily_days"`
	IdentifiedDays int `yaml:"identified_days"`
	ConsentLogDays int `yaml:"consent_log_days"`
}

// GlobalRetention says how many days the tables that belong to no one
// site keep their rows: the staff audit log, the record of data-subject
// requests and the retention history itself. They are evidence that the
// operator kept its promises, so they outlive the data they speak of.
type GlobalRetention struct {
	AuditLogDays         int `yaml:"audit_log_days"`
	SubjectRequestsDays  int `yaml:"subject_requests_days"`
	RetentionHistoryDays int `yaml:"retention_history_days"`
}

// Site is one site the collector accepts events for.
type Site struct {
	ID string `yaml:"id"`
	// Domains are the page hosts the site's events may come from
	// (subdomains included): the page URL of every event is checked.
	Domains []string `yaml:"domains"`
	// Origins are the browser origins that get CORS answers and may post
	// beacons and consent decisions: scheme, host and port exactly
	// (https://example.com), or every subdomain of a domain by an
	// explicit pattern (https://*.example.com). Nothing else is derived
	// from Domains.
	Origins   []string  `yaml:"origins"`
	TimeZone  string    `yaml:"timezone"`
	Retention Retention `yaml:"retention"`
	OnRefusal Action    `yaml:"on_refusal"`
	OnGPC     Action    `yaml:"on_gpc"`
	OnDNT     Action    `yaml:"on_dnt"`
	// KThreshold hides dashboard cells computed from fewer visitors.
	KThreshold int `yaml:"k_threshold"`
	// Disclosure is DisclosureCellKey unless the site asks for exact
	// numbers; use Perturbed, which reads an unset mode as protective.
	Disclosure Disclosure `yaml:"disclosure"`
	// Consent is the banner and cookie configuration; nil: no banner, and
	// no event of the site can be consented.
	Consent *consent.Settings `yaml:"consent"`
	// IngestKeys authenticate POST /sessionlog for this site; several, so
	// a key can be rotated. Secrets: never logged, never shown.
	IngestKeys []string `yaml:"ingest_keys"`
	// PathPatterns are the site's own path rules ("/psychologist/:id"),
	// applied before the built-in ones so that ids the built-in rules
	// leave alone (short numbers, names) are not stored (pipeline/scrub).
	PathPatterns []string `yaml:"path_patterns"`
	// UmamiWebsiteID is the website id an Umami tracker already on the
	// site's pages sends (data-website-id), so that POST /api/send finds
	// the site by it; without one the page's host decides (dropin.go).
	UmamiWebsiteID string `yaml:"umami_website_id"`
	// Funnels are counted by the rollup per visit (funnels.go).
	Funnels []Funnel `yaml:"funnels"`
	// Goals are the conversions the site counts (goals.go); the console
	// can add more (stored in the stats database).
	Goals []Goal `yaml:"goals"`
	// Properties are the custom event property keys the site keeps; the
	// collector drops every other key and counts it.
	Properties []string `yaml:"properties"`

	// Location is TimeZone loaded.
	Location *time.Location `yaml:"-"`
	domains  map[string]struct{}
	origins  map[string]struct{} // in normal form (origin.go)
	patterns []originPattern
	// PathRules are PathPatterns compiled; nil when there are none.
	PathRules *scrub.Rules `yaml:"-"`
	// properties is Properties as a set.
	properties map[string]bool
}

// Config is the whole configuration file.
type Config struct {
	// TrustedProxies are the direct peers whose X-Forwarded-For and
	// X-Forwarded-Proto are believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
	Sites          []*Site  `yaml:"sites"`
	// Retention of the tables that are not per site.
	Retention GlobalRetention `yaml:"retention"`

	proxies []netip.Prefix
	byID    map[string]*Site
	byUmami map[string]*Site
	dir     string // the file's folder: relative paths in it start there
}

// Defaults applied to keys a site leaves out.
const (
	DefaultHourlyDays     = 90
	DefaultDailyDays      = 3 * 365
	DefaultIdentifiedDays = 180
	DefaultConsentLogDays = 5 * 365
	// The evidence tables keep their rows as long as the consent log, so
	// a request or an erasure can be proven as long as the consent can.
	DefaultAuditLogDays         = 5 * 365
	DefaultSubjectRequestsDays  = 5 * 365
	DefaultRetentionHistoryDays = 5 * 365
	DefaultKThreshold           = 5
)

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Load reads and validates the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config %q: %w", path, err)
	}
	cfg, err := parse(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes and validates a configuration; errors name the key.
func Parse(data []byte) (*Config, error) { return parse(data, "") }

func parse(data []byte, dir string) (*Config, error) {
	cfg := Config{dir: dir}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("cannot parse config: %w", err)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func (c *Config) validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	for i, p := range c.TrustedProxies {
		pfx, err := parseProxy(p)
		if err != nil {
			bad(fmt.Sprintf("trusted_proxies[%d]", i), "%q is not an IP address or CIDR prefix", p)
			continue
		}
		c.proxies = append(c.proxies, pfx)
	}
	if len(c.Sites) == 0 {
		bad("sites", "at least one site is required")
	}
	g := &c.Retention
	retentionDays("retention", bad, []retentionKey{
		{"audit_log_days", &g.AuditLogDays, DefaultAuditLogDays},
		{"subject_requests_days", &g.SubjectRequestsDays, DefaultSubjectRequestsDays},
		{"retention_history_days", &g.RetentionHistoryDays, DefaultRetentionHistoryDays},
	})
	c.byID = make(map[string]*Site, len(c.Sites))
	ingest := map[string]bool{}
	for i, s := range c.Sites {
		key := fmt.Sprintf("sites[%d]", i)
		if s == nil {
			bad(key, "empty site")
			continue
		}
		if !idPattern.MatchString(s.ID) {
			bad(key+".id", "%q must be 1-64 characters of a-z, 0-9, '.', '_' or '-'", s.ID)
		} else if _, dup := c.byID[s.ID]; dup {
			bad(key+".id", "%q is used by another site", s.ID)
		} else {
			c.byID[s.ID] = s
		}
		s.validate(key, bad)
		for j, k := range s.IngestKeys {
			if len(k) < 16 || strings.ContainsAny(k, " \t\r\n") {
				bad(fmt.Sprintf("%s.ingest_keys[%d]", key, j), "must be at least 16 characters without spaces")
			} else if ingest[k] {
				bad(fmt.Sprintf("%s.ingest_keys[%d]", key, j), "is used twice: a key must name one site")
			}
			ingest[k] = true
		}
		if s.Consent != nil {
			s.Consent.Validate(key+".consent", c.dir, s.Domains, bad)
		}
		c.addUmami(key, s, bad)
	}
	return errors.Join(errs...)
}

func (s *Site) validate(key string, bad func(key, format string, args ...any)) {
	if len(s.Domains) == 0 {
		bad(key+".domains", "at least one domain is required")
	}
	s.domains = make(map[string]struct{}, len(s.Domains))
	for j, d := range s.Domains {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" || strings.ContainsAny(d, "/:@ ") {
			bad(fmt.Sprintf("%s.domains[%d]", key, j), "%q is not a host name", s.Domains[j])
			continue
		}
		s.domains[d] = struct{}{}
	}
	s.origins = make(map[string]struct{}, len(s.Origins))
	for j, o := range s.Origins {
		if why := s.addOrigin(o); why != "" {
			bad(fmt.Sprintf("%s.origins[%d]", key, j), "%q: %s", o, why)
		}
	}
	if s.TimeZone == "" {
		s.TimeZone = "UTC"
	}
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		bad(key+".timezone", "unknown time zone %q", s.TimeZone)
	}
	s.Location = loc
	for _, a := range []struct {
		name string
		v    *Action
	}{{"on_refusal", &s.OnRefusal}, {"on_gpc", &s.OnGPC}, {"on_dnt", &s.OnDNT}} {
		switch *a.v {
		case "":
			*a.v = ActionAnonymous
		case ActionAnonymous, ActionDrop:
		default:
			bad(key+"."+a.name, "%q must be %q or %q", *a.v, ActionAnonymous, ActionDrop)
		}
	}
	switch s.Disclosure {
	case "":
		s.Disclosure = DisclosureCellKey
	case DisclosureCellKey, DisclosureExact:
	default:
		bad(key+".disclosure", "%q must be %q or %q", s.Disclosure, DisclosureCellKey, DisclosureExact)
	}
	r := &s.Retention
	retentionDays(key+".retention", bad, []retentionKey{
		{"agg_hourly_days", &r.HourlyDays, DefaultHourlyDays},
		{"agg_daily_days", &r.DailyDays, DefaultDailyDays},
		{"identified_days", &r.IdentifiedDays, DefaultIdentifiedDays},
		{"consent_log_days", &r.ConsentLogDays, DefaultConsentLogDays},
	})
	s.validatePaths(key, bad)
	s.validateFunnels(key, bad)
	s.validateGoals(key, bad)
	switch {
	case s.KThreshold == 0:
		s.KThreshold = DefaultKThreshold
	case s.KThreshold < 1 || s.KThreshold > 1000:
		bad(key+".k_threshold", "%d must be between 1 and 1000", s.KThreshold)
	}
}

// retentionKey is one retention setting: its key, where it goes, its default.
type retentionKey struct {
	name string
	v    *int
	def  int
}

// retentionDays fills left-out retention keys with their defaults and
// refuses a period below one day or above a century.
func retentionDays(key string, bad func(key, format string, args ...any), keys []retentionKey) {
	for _, d := range keys {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0 || *d.v > 100*365:
			bad(key+"."+d.name, "%d must be between 1 and 36500 days", *d.v)
		}
	}
}

// validatePaths compiles the site's path patterns; an error names the
// pattern and what is wrong with it.
func (s *Site) validatePaths(key string, bad func(key, format string, args ...any)) {
	if len(s.PathPatterns) > scrub.MaxPatterns {
		bad(key+".path_patterns", "%d patterns; at most %d", len(s.PathPatterns), scrub.MaxPatterns)
		return
	}
	var ps []scrub.Pattern
	seen := map[string]bool{}
	for j, raw := range s.PathPatterns {
		k := fmt.Sprintf("%s.path_patterns[%d]", key, j)
		p, err := scrub.ParsePattern(raw)
		switch {
		case err != nil:
			bad(k, "%q: %v", raw, err)
		case seen[raw]:
			bad(k, "%q is listed twice", raw)
		default:
			seen[raw] = true
			ps = append(ps, p)
		}
	}
	s.PathRules = scrub.NewRules(ps)
}

func parseProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// ConsentConfigured reports whether any site has a consent block (and so
// whether a cookie signing key is needed).
func (c *Config) ConsentConfigured() bool {
	for _, s := range c.Sites {
		if s != nil && s.Consent != nil {
			return true
		}
	}
	return false
}

// Site returns the site with id, or nil.
func (c *Config) Site(id string) *Site { return c.byID[id] }

// TrustedProxy reports whether the direct peer addr may set X-Forwarded-For.
func (c *Config) TrustedProxy(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range c.proxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// AllowsHost reports whether host (a page's host) belongs to the site.
func (s *Site) AllowsHost(host string) bool {
	host = strings.ToLower(host)
	if _, ok := s.domains[host]; ok {
		return true
	}
	// A listed domain also covers its subdomains.
	for d := range s.domains {
		if strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

// Day is the site-local calendar day of t, and HourStart the start of its
// site-local hour as an instant.
func (s *Site) HourStart(t time.Time) time.Time {
	l := t.In(s.Location)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), 0, 0, 0, s.Location).UTC()
}

// Perturbed reports whether the site's numbers are published perturbed: a
// site that did not go through Parse (no mode set) is, so that forgetting
// the mode never publishes exact numbers.
func (s *Site) Perturbed() bool { return s.Disclosure != DisclosureExact }
