package site

import (
	"strings"
	"testing"
)

func TestSiteByDomain(t *testing.T) {
	cfg, err := Parse([]byte(`
sites:
  - id: main
    domains: [example.com]
  - id: shop
    domains: [shop.example.com, Other.ORG]
    umami_website_id: 94DB1CB1-74f4-4a40-ad6c-962362670409
`))
	if err != nil {
		t.Fatal(err)
	}
	f := func(host, want string) {
		t.Helper()
		got := ""
		if s := cfg.SiteByDomain(host); s != nil {
			got = s.ID
		}
		if got != want {
			t.Fatalf("SiteByDomain(%q) = %q, want %q", host, got, want)
		}
	}
	f("example.com", "main")
	f("www.example.com", "main")
	f("EXAMPLE.com.", "main")
	f("shop.example.com", "shop")
	f("a.b.shop.example.com", "shop")
	f("other.org", "shop")
	f("example.org", "")
	f("notexample.com", "")
	f("com", "")
	f("", "")

	if s := cfg.SiteByUmamiID("94db1cb1-74f4-4a40-AD6C-962362670409"); s == nil || s.ID != "shop" {
		t.Fatalf("SiteByUmamiID = %v, want shop", s)
	}
	for _, id := range []string{"", "94db1cb1-74f4-4a40-ad6c-962362670408", "main"} {
		if s := cfg.SiteByUmamiID(id); s != nil {
			t.Fatalf("SiteByUmamiID(%q) = %s, want none", id, s.ID)
		}
	}
}

func TestUmamiWebsiteIDChecked(t *testing.T) {
	f := func(yaml, want string) {
		t.Helper()
		_, err := Parse([]byte(yaml))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v, want an error with %q", err, want)
		}
	}
	f(`
sites:
  - id: a
    domains: [a.com]
    umami_website_id: not-a-uuid
`, `sites[0].umami_website_id: "not-a-uuid" is not a website id`)
	f(`
sites:
  - id: a
    domains: [a.com]
    umami_website_id: 94db1cb1-74f4-4a40-ad6c-962362670409
  - id: b
    domains: [b.com]
    umami_website_id: 94DB1CB1-74F4-4A40-AD6C-962362670409
`, `sites[1].umami_website_id: "94DB1CB1-74F4-4A40-AD6C-962362670409" is used by another site`)
}
