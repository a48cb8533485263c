package collector

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"
)

func benchHandler(b *testing.B, build func(r *fasthttp.Request)) {
	f := newFixture(b)
	h := f.c.App().Handler()
	var req fasthttp.Request
	build(&req)
	req.Header.Set("User-Agent", chromeUA)
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Accept-Language", "ru-RU,ru;q=0.9")
	addr := &net.TCPAddr{IP: net.ParseIP("203.0.113.77"), Port: 4000}
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Init(&req, addr, nil)
		h(&ctx)
		if ctx.Response.StatusCode() >= 300 {
			b.Fatalf("status %d", ctx.Response.StatusCode())
		}
	}
	b.StopTimer()
	if n := len(f.sink.all()); n == 0 {
		b.Fatal("nothing kept")
	}
}

// BenchmarkPixel is one pixel request through the Fiber handler and the
// whole pipeline, up to the sink (no network, no store).
func BenchmarkPixel(b *testing.B) {
	benchHandler(b, func(r *fasthttp.Request) {
		r.Header.SetMethod("GET")
		r.SetRequestURI("/p.gif?s=sez&u=https%3A%2F%2Fsez.im%2Fpsychologists%3Futm_source%3Dvk&r=https%3A%2F%2Fyandex.ru%2F&w=1920&l=ru-RU")
	})
}

// BenchmarkBeacon is one beacon (JSON body) through handler and pipeline.
func BenchmarkBeacon(b *testing.B) {
	benchHandler(b, func(r *fasthttp.Request) {
		r.Header.SetMethod("POST")
		r.SetRequestURI("/e")
		r.Header.SetContentType("text/plain;charset=UTF-8")
		r.SetBodyString(`{"s":"sez","u":"https://sez.im/psychologists?utm_source=vk","r":"https://yandex.ru/","w":1920,"l":"ru-RU"}`)
	})
}
