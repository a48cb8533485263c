package site

import "strings"

// addUmami indexes the site's Umami website id: a UUID, as Umami makes
// them, and one site's only (an id names the site its events count for).
func (c *Config) addUmami(key string, s *Site, bad func(key, format string, args ...any)) {
	if s.UmamiWebsiteID == "" {
		return
	}
	if !isUUID(s.UmamiWebsiteID) {
		bad(key+".umami_website_id", "%q is not a website id (a UUID such as 94db1cb1-74f4-4a40-ad6c-962362670409)", s.UmamiWebsiteID)
		return
	}
	id := strings.ToLower(s.UmamiWebsiteID)
	if c.byUmami == nil {
		c.byUmami = map[string]*Site{}
	}
	if _, dup := c.byUmami[id]; dup {
		bad(key+".umami_website_id", "%q is used by another site", s.UmamiWebsiteID)
		return
	}
	s.UmamiWebsiteID = id
	c.byUmami[id] = s
}

// SiteByUmamiID returns the site whose umami_website_id is id (in any
// letter case), or nil.
func (c *Config) SiteByUmamiID(id string) *Site {
	if len(id) != 36 || c.byUmami == nil {
		return nil
	}
	return c.byUmami[strings.ToLower(id)]
}

// SiteByDomain returns the site a page host belongs to, for senders that
// name a domain instead of a site id (the Plausible and Umami APIs): the
// site listing host itself, else the one listing the closest parent domain
// (shop.example.com before example.com); among equals the first in the
// file. It returns nil when no site lists the host or a parent of it.
func (c *Config) SiteByDomain(host string) *Site {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return nil
	}
	for h := host; ; {
		for _, s := range c.Sites {
			if _, ok := s.domains[h]; ok {
				return s
			}
		}
		i := strings.IndexByte(h, '.')
		if i < 0 {
			return nil
		}
		h = h[i+1:]
	}
}

// isUUID reports whether id is a UUID in its 36-character text form.
func isUUID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return false
		}
	}
	return true
}
