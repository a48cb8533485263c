package site

import (
	"strings"
	"testing"
)

func TestAllowsOrigin(t *testing.T) {
	cfg, err := Parse([]byte(`
sites:
  - id: a
    domains: [example.com]
    origins:
      - https://example.com
      - HTTP://Example.COM:8080/
      - https://shop.example.com:443
      - https://*.blog.example.com
      - http://*.dev.example.com:3000
      - http://127.0.0.1:8080
      - http://[::1]:8080
  - id: b
    domains: [other.kz]
`))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Site("a")
	f := func(origin string, want bool) {
		t.Helper()
		if got := a.AllowsOrigin(origin); got != want {
			t.Errorf("AllowsOrigin(%q) = %v, want %v", origin, got, want)
		}
	}
	// Exactly the configured origins, in the browser's spelling or another.
	f("https://example.com", true)
	f("https://example.com:443", true) // the default port is the same origin
	f("HTTPS://EXAMPLE.COM", true)
	f("http://example.com:8080", true) // configured in capitals with a slash
	f("https://shop.example.com", true)
	f("http://127.0.0.1:8080", true)
	f("http://[::1]:8080", true)
	f("http://[0:0:0:0:0:0:0:1]:8080", true)
	// Another scheme, port or host is another origin.
	f("http://example.com", false)
	f("https://example.com:8443", false)
	f("https://www.example.com", false) // a page host's subdomain is not an origin
	f("http://anything.example.com", false)
	f("https://evil-example.com", false)
	f("https://example.com.evil.kz", false)
	f("https://example.co", false)
	f("http://127.0.0.1:8081", false)
	f("http://localhost:8080", false)
	// Subdomain patterns: any depth, same scheme and port, never the domain itself.
	f("https://news.blog.example.com", true)
	f("https://a.b.c.blog.example.com", true)
	f("https://news.blog.example.com:443", true)
	f("https://blog.example.com", false)
	f("https://evilblog.example.com", false)
	f("https://news.blog.example.com.evil.kz", false)
	f("http://news.blog.example.com", false)
	f("https://news.blog.example.com:8443", false)
	f("http://x.dev.example.com:3000", true)
	f("http://x.dev.example.com", false)
	f("https://x.dev.example.com:3000", false)
	// What no browser sends as an origin.
	f("", false)
	f("null", false)
	f("https://example.com/", false)
	f("https://example.com/path", false)
	f("https://example.com?x", false)
	f("https://user@example.com", false)
	f("https://example.com:", false)
	f("https://example.com:0443", false)
	f("https://example.com:99999", false)
	f("https://example..com", false)
	f("https://-example.com", false)
	f("https://*.blog.example.com", false)
	f("ftp://example.com", false)
	f("example.com", false)
	f("https://[::1", false)
	f("https://[fe80::1%25eth0]", false)
	f(" https://example.com", false)

	// A site without origins takes none: Domains grant no origin.
	b := cfg.Site("b")
	for _, o := range []string{"https://other.kz", "http://other.kz", ""} {
		if b.AllowsOrigin(o) {
			t.Errorf("site without origins allows %q", o)
		}
	}
}

func TestAllowsOriginDoesNotAllocate(t *testing.T) {
	cfg, err := Parse([]byte("sites:\n  - id: a\n    domains: [sez.im]\n    origins: [https://sez.im, https://*.sez.im]\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Site("a")
	if n := testing.AllocsPerRun(100, func() { s.AllowsOrigin("https://sez.im") }); n != 0 {
		t.Fatalf("AllowsOrigin of a configured origin allocates %v times", n)
	}
}

func TestBadOriginsAreNamed(t *testing.T) {
	f := func(origin, want string) {
		t.Helper()
		_, err := Parse([]byte("sites:\n  - id: a\n    domains: [a.com]\n    origins: [https://a.com, \"" + origin + "\"]\n"))
		if err == nil || !strings.Contains(err.Error(), `sites[0].origins[1]: "`+origin+`": `) || !strings.Contains(err.Error(), want) {
			t.Fatalf("origin %q: error %v, want it to contain %q", origin, err, want)
		}
	}
	f("a.com", "not an origin like https://example.com")
	f("https://a.com/app", "not an origin like https://example.com")
	f("ftp://a.com", "not an origin like https://example.com")
	f("https://a.com:70000", "not an origin like https://example.com")
	f("https://*a.com", "* must be the whole first label")
	f("https://a.*.com", "* must be the whole first label")
	f("*.a.com", "* must be the whole first label")
	f("https://*.*.a.com", "not a subdomain pattern")
	f("https://*.com", `at least two labels after "*."`)
	f("https://*.10.0.0.1", "not an address")
	f("https://*.[::1]", `at least two labels after "*."`)
}

// FuzzAllowsOrigin feeds arbitrary Origin headers to the matcher: it must
// not panic, a parsed origin must print in a form that parses back to
// itself, and what is allowed must be a configured origin in normal form
// or a strict subdomain under a pattern.
func FuzzAllowsOrigin(f *testing.F) {
	cfg, err := Parse([]byte("sites:\n  - id: a\n    domains: [sez.im]\n    origins: [https://sez.im, http://127.0.0.1:8080, 'http://[::1]:3000', https://*.app.sez.im]\n"))
	if err != nil {
		f.Fatal(err)
	}
	s := cfg.Site("a")
	for _, seed := range []string{"https://sez.im", "HTTPS://SEZ.IM:443", "https://x.app.sez.im", "https://app.sez.im",
		"http://[::1]:3000", "http://[0::1]:3000", "null", "", "https://sez.im:", "https://[", "https://a..b", "https://*.app.sez.im"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, origin string) {
		allowed := s.AllowsOrigin(origin)
		o, ok := parseOrigin(origin)
		if !ok {
			if allowed {
				t.Fatalf("%q allowed but does not parse", origin)
			}
			return
		}
		again, ok := parseOrigin(o.String())
		if !ok || again != o {
			t.Fatalf("%q → %q → %+v %v", origin, o.String(), again, ok)
		}
		_, exact := s.origins[o.String()]
		under := o.scheme == "https" && o.port == "" && strings.HasSuffix(o.host, ".app.sez.im") && o.host != ".app.sez.im"
		if allowed != (exact || under) {
			t.Fatalf("%q (%+v): allowed %v, exact %v, under the pattern %v", origin, o, allowed, exact, under)
		}
	})
}
