package web

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// maxBannerGzip is the budget for the banner on the wire, its JS and CSS
// together (the CSS is a string inside the script).
const maxBannerGzip = 8 << 10

func TestBannerMinified(t *testing.T) {
	checkMinified(t, "banner.js", "banner.min.js", compactJS, Banner())
}

func TestBannerGzipSize(t *testing.T) {
	checkGzip(t, "banner (JS + CSS)", Banner(), BannerGzip(), maxBannerGzip)
}

func TestBannerETags(t *testing.T) {
	a, b := BannerETag(), BannerGzipETag()
	if a == b || a == TrackerETag() {
		t.Fatalf("ETags must differ per representation and per script: %s %s", a, b)
	}
	for _, e := range []string{a, b} {
		if len(e) < 10 || e[0] != '"' || e[len(e)-1] != '"' {
			t.Fatalf("not a strong quoted ETag: %s", e)
		}
	}
}

// The banner writes cookies only to delete them (a refusal, a withdrawal);
// the stored choice is the collector's cookie, never one set here. Every
// assignment to document.cookie must be an expiry.
func TestBannerOnlyExpiresCookies(t *testing.T) {
	writes := regexp.MustCompile(`d\.cookie=[^;\n]*`).FindAll(Banner(), -1)
	if len(writes) == 0 {
		t.Fatal("no cookie deletion found: did the code change shape?")
	}
	for _, w := range writes {
		if !bytes.Contains(w, []byte("n+past")) {
			t.Errorf("cookie write that is not an expiry: %s", w)
		}
	}
	if !bytes.Contains(Banner(), []byte("past='=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/'")) {
		t.Error("the expiry string changed")
	}
	for _, w := range []string{"localStorage.setItem", "sessionStorage", "indexedDB"} {
		if bytes.Contains(Banner(), []byte(w)) {
			t.Errorf("banner mentions %q", w)
		}
	}
}

// The behaviour is tested in a real browser (e2e/banner.test.mjs); this
// catches a syntax error early where node is installed.
func TestBannerParses(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	f := filepath.Join(t.TempDir(), "banner.js")
	if err := os.WriteFile(f, Banner(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(node, "--check", f).CombinedOutput(); err != nil {
		t.Fatalf("node --check: %v\n%s", err, out)
	}
}

func TestCompactJS(t *testing.T) {
	f := func(src, want string) {
		t.Helper()
		got, err := compactJS([]byte(src))
		if err != nil {
			t.Fatalf("compactJS(%q): %v", src, err)
		}
		if string(got) != want {
			t.Fatalf("compactJS(%q) = %q, want %q", src, got, want)
		}
	}
	f("", "")
	f("  var a = b + c;\n", "var a=b+c;\n")
	f("if (a) { return x; }\n// why\nb();\n", "if(a){return x;}\nb();\n")
	f("a = b + +c - -d;\n", "a=b+ +c- -d;\n")
	f("s = 'a  b' + \"c  'd'\" + 'e\\' f';\n", "s='a  b'+\"c  'd'\"+'e\\' f';\n")
	f("x = a / b;\n", "x=a/b;\n")
	f("typeof x == 'function'\n", "typeof x=='function'\n")
	f("t = 'Сезім  бар' + ы;\n", "t='Сезім  бар'+ы;\n")

	bad := func(src string) {
		t.Helper()
		if got, err := compactJS([]byte(src)); err == nil {
			t.Fatalf("compactJS(%q) = %q, want an error", src, got)
		}
	}
	bad("s.replace(/ +/, '');\n")
	bad("x = / a /.test(s);\n")
	bad("s = 'open;\n")
	bad("s = `tpl`;\n")
}

func TestBannerSnippet(t *testing.T) {
	got := BannerSnippet("https://stats.example/", `a"b`)
	want := `<script src="https://stats.example/banner.js" data-site="a&#34;b"></script>` + "\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
