package collector

import (
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// fuzzServe runs one request through the app's handler without a network.
func fuzzServe(t *testing.T, f *fixture, build func(r *fasthttp.Request)) *fasthttp.Response {
	var req fasthttp.Request
	build(&req)
	req.Header.Set("User-Agent", chromeUA)
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Accept-Language", "ru")
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 1}, nil)
	f.c.App().Handler()(&ctx)
	return &ctx.Response
}

// FuzzPixelQuery: any query string gets the GIF and a 2xx, 4xx or 503,
// never a panic or a 500, and anything kept has a bounded path.
func FuzzPixelQuery(f *testing.F) {
	for _, s := range []string{
		"s=sez&u=https%3A%2F%2Fsez.im%2F&w=390&l=ru",
		"s=sez&u=https://sez.im/%D0%BF%D1%81%D0%B8&r=https://ya.ru/&n=signup",
		"s=&u=", "w=-1", "s=sez&u=javascript:alert(1)", "s=sez&u=https://sez.im/%ZZ&w=99999999999",
		"s=sez&s=other&u=https://sez.im/a&u=https://evil.example/",
	} {
		f.Add(s)
	}
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, q string) {
		// A raw request target cannot hold these: the HTTP parser refuses
		// such a request before any handler runs.
		if strings.ContainsAny(q, "# \x7f") || strings.IndexFunc(q, func(r rune) bool { return r < 0x20 }) >= 0 {
			t.Skip()
		}
		resp := fuzzServe(t, fx, func(r *fasthttp.Request) {
			r.Header.SetMethod("GET")
			r.SetRequestURI("/p.gif?" + q)
		})
		code := resp.StatusCode()
		if code >= 500 && code != 503 {
			t.Fatalf("status %d for %q", code, q)
		}
		if !strings.HasPrefix(string(resp.Body()), "GIF89a") {
			t.Fatalf("no GIF for %q", q)
		}
		for _, e := range fx.sink.all() {
			if len(e.Path) > 600 {
				t.Fatalf("path of %d bytes kept", len(e.Path))
			}
		}
	})
}

// FuzzBeaconBody: any body gets 202, 4xx or 503 with a JSON reason, never a
// panic or a 500.
func FuzzBeaconBody(f *testing.F) {
	for _, s := range []string{
		`{"s":"sez","u":"https://sez.im/","r":"","w":1920,"l":"kk"}`,
		`{"s":"sez","u":"https://sez.im/a","n":"signup","p":{"plan":"a","n":[1,2]}}`,
		`{"s":"sez","w":"12"}`, `{"s":"sez","w":1e309}`, `[]`, `null`, `{"s":1}`, "\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		resp := fuzzServe(t, fx, func(r *fasthttp.Request) {
			r.Header.SetMethod("POST")
			r.SetRequestURI("/e")
			r.Header.SetContentType("text/plain")
			r.SetBody(body)
		})
		code := resp.StatusCode()
		if code >= 500 && code != 503 {
			t.Fatalf("status %d for %q", code, body)
		}
		if code >= 400 && !strings.Contains(string(resp.Body()), `"error"`) {
			t.Fatalf("status %d without a reason for %q", code, body)
		}
	})
}
