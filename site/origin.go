package site

import (
	"net/netip"
	"strconv"
	"strings"
)

// An origin as browsers send it in the Origin header: scheme "://" host,
// and a port only when it is not the scheme's default. Browsers lower-case
// the scheme and host, drop the default port and send an IDN host in its
// punycode form, so the configured origins are kept in that same form and
// the header is looked up as it comes; only a header in another spelling
// (which no browser sends) is parsed.

// originPattern is a configured subdomain pattern, https://*.example.com:
// any host under suffix (".example.com"), at any depth, with this scheme
// and port; not example.com itself.
type originPattern struct {
	scheme, suffix, port string
}

// parsedOrigin is an origin in normal form: lower-case scheme and host,
// the scheme's default port dropped.
type parsedOrigin struct {
	scheme, host, port string
}

func (o parsedOrigin) String() string {
	if o.port == "" {
		return o.scheme + "://" + o.host
	}
	return o.scheme + "://" + o.host + ":" + o.port
}

// parseOrigin reads "scheme://host[:port]" (http or https; a DNS name, an
// IPv4 address or a bracketed IPv6 address; nothing after the port) into
// its normal form.
func parseOrigin(s string) (parsedOrigin, bool) {
	var o parsedOrigin
	i := strings.Index(s, "://")
	if i < 0 {
		return o, false
	}
	o.scheme = strings.ToLower(s[:i])
	if o.scheme != "http" && o.scheme != "https" {
		return o, false
	}
	hostport := s[i+3:]
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return o, false
		}
		host, port = hostport[:end+1], hostport[end+1:]
		if port != "" && port[0] != ':' {
			return o, false
		}
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return o, false
		}
		host = "[" + a.String() + "]"
	} else {
		if c := strings.LastIndexByte(hostport, ':'); c >= 0 {
			host, port = hostport[:c], hostport[c:]
		}
		host = strings.ToLower(host)
		if !validHostName(host) {
			return o, false
		}
	}
	if port != "" {
		port = port[1:] // the colon
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return o, false
		}
		if (o.scheme == "http" && n == 80) || (o.scheme == "https" && n == 443) {
			port = ""
		}
	}
	o.host, o.port = host, port
	return o, true
}

// validHostName reports whether h is a lower-case DNS name (letters,
// digits and hyphens in dot-separated labels, none empty) or IPv4 address.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// parseOriginPattern reads a configured https://*.example.com[:port]: the
// * stands for one or more whole labels. The domain after it must be a
// DNS name of at least two labels, so that a pattern cannot cover a whole
// top-level domain (https://*.kz).
func parseOriginPattern(s string) (originPattern, string) {
	i := strings.Index(s, "://*.")
	if i < 0 {
		return originPattern{}, "* must be the whole first label of a subdomain pattern, like https://*.example.com"
	}
	base, ok := parseOrigin(s[:i+3] + s[i+5:])
	switch {
	case !ok:
		return originPattern{}, "not a subdomain pattern like https://*.example.com"
	case strings.HasPrefix(base.host, "["), !strings.Contains(base.host, "."):
		return originPattern{}, `a subdomain pattern needs a domain of at least two labels after "*."`
	}
	if _, err := netip.ParseAddr(base.host); err == nil {
		return originPattern{}, `a subdomain pattern needs a domain name after "*.", not an address`
	}
	return originPattern{scheme: base.scheme, suffix: "." + base.host, port: base.port}, ""
}

// match reports whether o is a subdomain of the pattern's domain with the
// pattern's scheme and port.
func (p originPattern) match(o parsedOrigin) bool {
	return o.scheme == p.scheme && o.port == p.port && len(o.host) > len(p.suffix) && strings.HasSuffix(o.host, p.suffix)
}

// addOrigin validates one configured origin or pattern and adds it to s;
// it returns what is wrong, or "".
func (s *Site) addOrigin(o string) string {
	o = strings.TrimSuffix(strings.TrimSpace(o), "/")
	if strings.Contains(o, "*") {
		p, why := parseOriginPattern(o)
		if why == "" {
			s.patterns = append(s.patterns, p)
		}
		return why
	}
	po, ok := parseOrigin(o)
	if !ok {
		return "not an origin like https://example.com (scheme, host and optional port; no path)"
	}
	s.origins[po.String()] = struct{}{}
	return ""
}

// AllowsOrigin reports whether a browser's Origin header value may talk to
// the collector for the site: only a configured origin (scheme, host and
// port exactly) or a subdomain of a configured pattern. An empty or
// "null" origin is not allowed: callers that accept requests without an
// Origin (the pixel, which a browser loads without one) decide so
// themselves. The usual header, in a browser's spelling, costs one map
// lookup and no allocation.
func (s *Site) AllowsOrigin(origin string) bool {
	if origin == "" {
		return false
	}
	if _, ok := s.origins[origin]; ok {
		return true
	}
	o, ok := parseOrigin(origin)
	if !ok {
		return false
	}
	if _, ok := s.origins[o.String()]; ok {
		return true
	}
	for _, p := range s.patterns {
		if p.match(o) {
			return true
		}
	}
	return false
}
