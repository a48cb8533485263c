package staff

import (
	"bytes"
	"strings"
	"testing"
)

// Every form page is the whole layout around its body: the stylesheet,
// the icon that keeps browsers from asking for /favicon.ico, its title.
func TestFormPagesUseTheLayout(t *testing.T) {
	pages := map[string]struct {
		render func(*bytes.Buffer) error
		title  string
		body   string
	}{
		"login": {func(b *bytes.Buffer) error { return loginTmpl.Execute(b, struct{ User, Error string }{"ann", ""}) }, "Sign in", `action="/app/login"`},
		"setup": {func(b *bytes.Buffer) error { return setupTmpl.Execute(b, setupView{Token: "t", Min: 12}) }, "First run", `action="/app/setup"`},
		"share": {func(b *bytes.Buffer) error {
			return shareTmpl.Execute(b, struct {
				Form  bool
				Error string
			}{true, ""})
		}, "Shared dashboard", `name="password"`},
	}
	for name, p := range pages {
		var b bytes.Buffer
		if err := p.render(&b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		html := b.String()
		for _, want := range []string{"<!doctype html>", `<link rel="icon" href="data:,">`, "<style>", "<title>" + p.title + " · Sezim Analytics</title>", p.body, "</html>"} {
			if !strings.Contains(html, want) {
				t.Errorf("%s page lacks %q:\n%s", name, want, html)
			}
		}
	}
}
