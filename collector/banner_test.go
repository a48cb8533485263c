package collector

import (
	"bytes"
	"io"
	"testing"

	"github.com/sezim-analytics/sezim/web"
)

func TestBannerScript(t *testing.T) {
	f := newFixture(t)
	f2 := func(enc, wantEnc string, want []byte, wantTag string) {
		t.Helper()
		resp := f.do(t, req{method: "GET", target: "/banner.js", headers: map[string]string{"Accept-Encoding": enc}})
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != wantEnc || resp.Header.Get("ETag") != wantTag ||
			resp.Header.Get("Content-Type") != web.BannerContentType || !bytes.Equal(body, want) {
			t.Fatalf("banner (Accept-Encoding %q): %d %v, %d bytes", enc, resp.StatusCode, resp.Header, len(body))
		}
		resp = f.do(t, req{method: "GET", target: "/banner.js", headers: map[string]string{"Accept-Encoding": enc, "If-None-Match": wantTag}})
		if resp.StatusCode != 304 {
			t.Fatalf("conditional GET %d", resp.StatusCode)
		}
	}
	f2("gzip, br", "gzip", web.BannerGzip(), web.BannerGzipETag())
	f2("", "", web.Banner(), web.BannerETag())
}
