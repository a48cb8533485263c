package web

import (
	"bytes"
	"compress/gzip"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite s.min.js and banner.min.js from their sources")

// maxTrackerGzip is the budget for the tracker on the wire: small enough to
// cost a page nothing noticeable, with room for the consent work to come.
const maxTrackerGzip = 1472

// checkMinified fails when the embedded min file is not what minify makes
// of its source (or rewrites it with -update).
func checkMinified(t *testing.T, src, min string, minify func([]byte) ([]byte, error), served []byte) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	out, err := minify(data)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(min, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(out, served) {
		t.Fatalf("%s is stale: run go generate ./web", min)
	}
}

// checkGzip enforces a script's budget on the wire and that its gzip
// representation is the same bytes.
func checkGzip(t *testing.T, name string, plain, gz []byte, budget int) {
	t.Helper()
	t.Logf("%s: %d bytes, %d gzipped", name, len(plain), len(gz))
	if len(gz) > budget {
		t.Fatalf("%s is %d bytes gzipped, over the %d-byte budget", name, len(gz), budget)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatalf("the gzip representation of %s does not decompress to it", name)
	}
}

func TestTrackerMinified(t *testing.T) { checkMinified(t, "s.js", "s.min.js", minifyJS, Tracker()) }

func TestTrackerGzipSize(t *testing.T) {
	checkGzip(t, "tracker", Tracker(), TrackerGzip(), maxTrackerGzip)
}

func TestTrackerETags(t *testing.T) {
	a, b := TrackerETag(), TrackerGzipETag()
	for _, e := range []string{a, b} {
		if len(e) < 10 || e[0] != '"' || e[len(e)-1] != '"' || strings.HasPrefix(e, `W/`) {
			t.Fatalf("not a strong quoted ETag: %s", e)
		}
	}
	if a == b {
		t.Fatal("plain and gzip representations share an ETag")
	}
}

// The tracker promises no storage and no identifier; a word in the served
// bytes that could break that promise must be a deliberate, reviewed change.
func TestTrackerKeepsNothing(t *testing.T) {
	for _, w := range []string{"cookie", "Storage", "indexedDB", "caches", "random", "crypto", "Date"} {
		if bytes.Contains(Tracker(), []byte(w)) {
			t.Errorf("tracker mentions %q", w)
		}
	}
}

// The real check of behaviour is the browser suite in e2e/; this only
// catches a syntax error early where node is installed.
func TestTrackerParses(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	f := filepath.Join(t.TempDir(), "s.js")
	if err := os.WriteFile(f, Tracker(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(node, "--check", f).CombinedOutput(); err != nil {
		t.Fatalf("node --check: %v\n%s", err, out)
	}
}

func TestEmbedSnippet(t *testing.T) {
	got := EmbedSnippet("https://collector.example/", "SITE_ID")
	want := `<script defer src="https://collector.example/s.js" data-site="SITE_ID"></script>` + "\n" +
		`<noscript><img src="https://collector.example/p.gif?s=SITE_ID" alt="" width="1" height="1" style="position:absolute;left:-9999px"></noscript>` + "\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	got = EmbedSnippet("https://c.example", `a"&b`)
	if !strings.Contains(got, `data-site="a&#34;&amp;b"`) || !strings.Contains(got, `p.gif?s=a%22%26b"`) {
		t.Fatalf("site id not escaped: %s", got)
	}
}
