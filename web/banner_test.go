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
const maxBannerGzip = 7680

func TestBannerMinified(t *testing.T) {
	checkMinified(t, "banner.js", "banner.min.js", minifyJS, Banner())
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
	// The minifier renames locals, so the expiry string's variable is found
	// by its value and every write must append that variable.
	past := regexp.MustCompile(`(\w+)="=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/"`).FindSubmatch(Banner())
	if past == nil {
		t.Fatal("the expiry string changed")
	}
	writes := regexp.MustCompile(`\.cookie=[^;\n]*`).FindAll(Banner(), -1)
	if len(writes) == 0 {
		t.Fatal("no cookie deletion found: did the code change shape?")
	}
	for _, w := range writes {
		if !regexp.MustCompile(`^\.cookie=\w+\+` + string(past[1]) + `\b`).Match(w) {
			t.Errorf("cookie write that is not an expiry: %s", w)
		}
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

func TestBannerSnippet(t *testing.T) {
	got := BannerSnippet("https://stats.example/", `a"b`)
	want := `<script src="https://stats.example/banner.js" data-site="a&#34;b"></script>` + "\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
