package web

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/tdewolff/minify/v2"
	"github.com/tdewolff/minify/v2/js"
)

// minifyJS is what "go generate ./web" runs over s.js and banner.js: a full
// JavaScript minifier (it parses, renames locals and folds expressions), so
// the sources may use any syntax the browsers of the day run, regular
// expression and template literals included, and comments anywhere. It lives
// in a test file on purpose: the minifier is a build-time tool and never
// reaches the binary, which embeds the committed output.
//
// Version 2015 keeps the output within ES2015 (no newer syntax introduced by
// the minifier itself), so what a browser ran before still runs.
func minifyJS(src []byte) ([]byte, error) {
	m := minify.New()
	var out bytes.Buffer
	if err := (&js.Minifier{Version: 2015}).Minify(m, &out, bytes.NewReader(src), nil); err != nil {
		return nil, fmt.Errorf("cannot minify script (%d bytes): %w", len(src), err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// The rules the old line-based minifier imposed (comments on lines of their
// own, no regular expression or template literal in the banner) are gone:
// each of these once had to be refused and now minifies to working code.
func TestMinifyJS(t *testing.T) {
	f := func(src, want string) {
		t.Helper()
		got, err := minifyJS([]byte(src))
		if err != nil {
			t.Fatalf("minifyJS(%q): %v", src, err)
		}
		if string(got) != want {
			t.Fatalf("minifyJS(%q) = %q, want %q", src, got, want)
		}
	}
	f("", "\n")
	f("a(); // trailing\n", "a()\n")
	f("a(/* inline */ 1);\n", "a(1)\n")
	f("s.replace(/ +/, '');\n", "s.replace(/ +/,\"\")\n")
	f("x = `tpl ${y}`;\n", "x=`tpl ${y}`\n")
	f("s = 'a  b' + \"c  'd'\";\n", "s=\"a  bc  'd'\"\n")
	f("a = b + +c - -d;\n", "a=b+ +c- -d\n")

	if got, err := minifyJS([]byte("a = (;\n")); err == nil {
		t.Fatalf("a syntax error minified to %q, want an error", got)
	}
}
