package sessionlog

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

const chromeUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// want is what a test expects of a parsed record; the zero time and
// address mean "not checked".
type want struct {
	time                 string
	ip                   string
	method, target, host string
	status               int
	ua, ref, lang        string
	consent, vid, uid    string
}

func check(t *testing.T, r *Record, w want) {
	t.Helper()
	if w.time != "" {
		wt, err := time.Parse(time.RFC3339Nano, w.time)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Time.Equal(wt) || r.Time.Location() != time.UTC {
			t.Fatalf("time %v, want %v (UTC)", r.Time, wt)
		}
	}
	if w.ip != "" && r.IP != netip.MustParseAddr(w.ip) {
		t.Fatalf("ip %v, want %s", r.IP, w.ip)
	}
	for _, f := range []struct{ name, got, want string }{
		{"method", r.Method, w.method}, {"target", r.Target, w.target}, {"host", r.Host, w.host},
		{"user agent", r.UserAgent, w.ua}, {"referrer", r.Referrer, w.ref}, {"accept-language", r.AcceptLanguage, w.lang},
		{"consent", r.ConsentCookie, w.consent}, {"visitor", r.VisitorCookie, w.vid}, {"uid", r.UserID, w.uid},
	} {
		if f.got != f.want {
			t.Fatalf("%s %q, want %q", f.name, f.got, f.want)
		}
	}
	if r.Status != w.status {
		t.Fatalf("status %d, want %d", r.Status, w.status)
	}
}

func TestCombined(t *testing.T) {
	var p Parser
	f := func(line string, w want) {
		t.Helper()
		var r Record
		if err := p.Combined([]byte(line), &r); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		check(t, &r, w)
	}
	// nginx's default "combined".
	f(`203.0.113.7 - - [24/Nov/2026:15:04:05 +0500] "GET /psychologists?utm_source=vk HTTP/1.1" 200 5123 "https://www.google.com/" "`+chromeUA+`"`,
		want{time: "2026-11-24T10:04:05Z", ip: "203.0.113.7", method: "GET", target: "/psychologists?utm_source=vk", status: 200, ua: chromeUA, ref: "https://www.google.com/"})
	// Apache's example, with a user and a negative offset.
	f(`127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"`,
		want{time: "2000-10-10T20:55:36Z", ip: "127.0.0.1", method: "GET", target: "/apache_pb.gif", status: 200, ua: "Mozilla/4.08 [en] (Win98; I ;Nav)", ref: "http://www.example.com/start.html"})
	// IPv6, missing referrer and user agent.
	f(`2001:db8:85a3::8a2e:370:7334 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/2.0" 304 0 "-" "-"`,
		want{time: "2026-01-01T00:00:00Z", ip: "2001:db8:85a3::8a2e:370:7334", method: "GET", target: "/", status: 304})
	// IPv4 mapped in IPv6 is unmapped; bracketed addresses are fine.
	f(`[::ffff:198.51.100.20] - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "x"`,
		want{time: "2026-01-01T00:00:00Z", ip: "198.51.100.20", method: "GET", target: "/", status: 200, ua: "x"})
	// Apache's \" and \\ escapes in the user agent and the referrer.
	f(`198.51.100.20 - - [24/Nov/2026:10:00:00 +0000] "GET /a HTTP/1.1" 200 10 "https://ex.kz/?q=\"quoted\"" "Mozilla/5.0 \"odd\" agent \\ backslash"`,
		want{ip: "198.51.100.20", method: "GET", target: "/a", status: 200, ref: `https://ex.kz/?q="quoted"`, ua: `Mozilla/5.0 "odd" agent \ backslash`})
	// nginx's \xHH escapes (escape=default writes " as \x22), in the
	// request too; the raw bytes of a TLS handshake on a plain port.
	f(`198.51.100.20 - - [24/Nov/2026:10:00:00 +0000] "GET /caf\xC3\xA9?x=\x22y\x22 HTTP/1.1" 200 10 "-" "curl/8.5.0 \x22hi\x22"`,
		want{ip: "198.51.100.20", method: "GET", target: "/café?x=\"y\"", status: 200, ua: `curl/8.5.0 "hi"`})
	f(`192.0.2.1 - - [24/Nov/2026:10:00:00 +0000] "\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03" 400 157 "-" "-"`,
		want{ip: "192.0.2.1", method: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", status: 400})
	// nginx logs "-" as the request of a connection closed early.
	f(`192.0.2.1 - - [24/Nov/2026:10:00:00 +0000] "-" 408 0 "-" "-"`, want{ip: "192.0.2.1", status: 408})
	// HTTP/0.9 style (no protocol), an absolute-form target, a HEAD.
	f(`192.0.2.1 - - [24/Nov/2026:10:00:00 +0000] "GET /old" 200 10 "-" "x"`, want{ip: "192.0.2.1", method: "GET", target: "/old", status: 200, ua: "x"})
	f(`192.0.2.1 - - [24/Nov/2026:10:00:00 +0000] "GET https://sez.im/p HTTP/1.1" 200 10 "-" "x"`, want{ip: "192.0.2.1", method: "GET", target: "https://sez.im/p", status: 200, ua: "x"})
	f(`192.0.2.1 - - [24/Nov/2026:10:00:00 +0000] "HEAD / HTTP/1.1" 200 - "-" "x"`, want{ip: "192.0.2.1", method: "HEAD", target: "/", status: 200, ua: "x"})
	// The "common" format: no referrer, no user agent.
	f(`192.0.2.1 - - [24/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 10`, want{ip: "192.0.2.1", method: "GET", target: "/", status: 200})
	// A cookie field appended: the consent and visitor cookies are read
	// from it, other cookies ignored; more fields after it are ignored.
	f(`203.0.113.7 - - [24/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 10 "-" "`+chromeUA+`" "_ga=GA1.1.1; sezim_consent=v1.AbC-_.sig; sezim_vid=vid123" 0.012 "rt"`,
		want{ip: "203.0.113.7", method: "GET", target: "/", status: 200, ua: chromeUA, consent: "v1.AbC-_.sig", vid: "vid123"})
	f(`203.0.113.7 - - [24/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 10 "-" "x" "-"`, want{ip: "203.0.113.7", method: "GET", target: "/", status: 200, ua: "x"})
	f(`203.0.113.7 - - [24/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 10 "-" "x" "sezim_consentX=1; other=2"`, want{ip: "203.0.113.7", method: "GET", target: "/", status: 200, ua: "x"})
	// Odd user agents: empty quotes, non-ASCII, very long tokens.
	f(`203.0.113.7 - - [24/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 10 "" ""`, want{ip: "203.0.113.7", method: "GET", target: "/", status: 200})
	f(`203.0.113.7 - - [24/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 10 "-" "Мой браузер/1.0 (Linux; ядро)"`,
		want{ip: "203.0.113.7", method: "GET", target: "/", status: 200, ua: "Мой браузер/1.0 (Linux; ядро)"})
	// A time without an offset is UTC.
	f(`203.0.113.7 - - [24/Nov/2026:10:00:00] "GET / HTTP/1.1" 200 10 "-" "x"`, want{time: "2026-11-24T10:00:00Z", ip: "203.0.113.7", method: "GET", target: "/", status: 200, ua: "x"})
}

func TestCombinedBroken(t *testing.T) {
	var p Parser
	f := func(line string, wantErr error) {
		t.Helper()
		var r Record
		err := p.Combined([]byte(line), &r)
		if !errors.Is(err, wantErr) {
			t.Fatalf("%q: error %v, want %v", line, err, wantErr)
		}
	}
	f(``, ErrTruncated)
	f(`garbage`, ErrTruncated)
	f(`999.1.1.1 - - [24/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 10 "-" "x"`, ErrBadIP)
	f(`203.0.113.7 - - [24/Nov/2026:10:00:00 +0000 "GET / HTTP/1.1" 200 10 "-" "x"`, ErrTruncated)
	f(`203.0.113.7 - - [24/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 10 "-" "x`, ErrBadQuoted)
	f(`203.0.113.7 - - [24/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 2x0 10 "-" "x"`, ErrBadStatus)
	f(`203.0.113.7 - - [24/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1"`, ErrBadStatus)
	f(`203.0.113.7 - - [24/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 10 - "x"`, ErrBadQuoted)
	f(`203.0.113.7 - - [31/Feb/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 10 "-" "x"`, ErrBadTime)
	f(`203.0.113.7 - - [24/Foo/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 10 "-" "x"`, ErrBadTime)
	f(`203.0.113.7 - - [24/Nov/2026:10:00:00 +9900] "GET / HTTP/1.1" 200 10 "-" "x"`, ErrBadTime)
	f(`203.0.113.7 - - [24/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 10 "-" "x" "unterminated`, ErrBadCookieFld)
	long := make([]byte, MaxLine+1)
	for i := range long {
		long[i] = 'a'
	}
	f(string(long), ErrLineTooLong)
}

func TestNDJSON(t *testing.T) {
	var p Parser
	f := func(line string, w want) {
		t.Helper()
		var r Record
		if err := p.NDJSON([]byte(line), &r); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		check(t, &r, w)
	}
	f(`{"time":"2026-11-24T15:04:05+05:00","ip":"203.0.113.7","method":"GET","url":"https://sez.im/a?b=1","status":200,"user_agent":"`+chromeUA+`","referrer":"https://ya.ru/","accept_language":"ru-RU,ru;q=0.9","consent_cookie":"v1.x.y","uid":"u-17"}`,
		want{time: "2026-11-24T10:04:05Z", ip: "203.0.113.7", method: "GET", target: "https://sez.im/a?b=1", status: 200, ua: chromeUA, ref: "https://ya.ru/", lang: "ru-RU,ru;q=0.9", consent: "v1.x.y", uid: "u-17"})
	// Unix seconds, a path with a host, method defaults to GET, no status.
	f(`{"time":1795946645,"ip":"2001:db8::1","url":"/a","host":"sez.im"}`,
		want{time: "2026-11-29T10:04:05Z", ip: "2001:db8::1", method: "GET", target: "/a", host: "sez.im"})
	// Milliseconds, fractions, strings of digits, Z and a space for T.
	f(`{"time":1795946645123,"ip":"192.0.2.1","url":"/"}`, want{time: "2026-11-29T10:04:05.123Z", ip: "192.0.2.1", method: "GET", target: "/"})
	f(`{"time":1795946645.5,"ip":"192.0.2.1","url":"/"}`, want{time: "2026-11-29T10:04:05.5Z", ip: "192.0.2.1", method: "GET", target: "/"})
	f(`{"time":"1795946645","ip":"192.0.2.1","url":"/"}`, want{time: "2026-11-29T10:04:05Z", ip: "192.0.2.1", method: "GET", target: "/"})
	f(`{"time":"2026-11-24 10:00:00.25Z","ip":"192.0.2.1","url":"/"}`, want{time: "2026-11-24T10:00:00.25Z", ip: "192.0.2.1", method: "GET", target: "/"})
	f(`{"time":"24/Nov/2026:15:00:00 +0500","ip":"192.0.2.1","url":"/"}`, want{time: "2026-11-24T10:00:00Z", ip: "192.0.2.1", method: "GET", target: "/"})
	// Escapes, \u with a surrogate pair, whitespace, unknown keys of
	// every kind, nulls, a string status, "-" for missing values.
	f(` { "time" : "2026-11-24T10:00:00Z" , "ip":"192.0.2.1", "url":"/caf\u00e9\/x", "user_agent":"A \"quoted\" agent \ud83d\ude00",
	  "extra": {"nested": [1, 2, {"a": "b\"}"}], "t": true, "f": false}, "n": null, "num": -1.5e3,
	  "referrer": "-", "status": "302", "consent_cookie": null } `,
		want{time: "2026-11-24T10:00:00Z", ip: "192.0.2.1", method: "GET", target: "/café/x", ua: "A \"quoted\" agent 😀", status: 302})
	// The raw Cookie header instead of consent_cookie.
	f(`{"time":"2026-11-24T10:00:00Z","ip":"192.0.2.1","url":"/","cookie":"a=1; sezim_consent=v1.q.r; sezim_vid=abc"}`,
		want{time: "2026-11-24T10:00:00Z", ip: "192.0.2.1", method: "GET", target: "/", consent: "v1.q.r", vid: "abc"})
	f(`{"time":"2026-11-24T10:00:00Z","ip":"192.0.2.1","url":"/","method":"POST","status":201}`,
		want{time: "2026-11-24T10:00:00Z", ip: "192.0.2.1", method: "POST", target: "/", status: 201})
}

func TestNDJSONBroken(t *testing.T) {
	var p Parser
	f := func(line string, wantErr error) {
		t.Helper()
		var r Record
		err := p.NDJSON([]byte(line), &r)
		if !errors.Is(err, wantErr) {
			t.Fatalf("%q: error %v, want %v", line, err, wantErr)
		}
	}
	f(``, ErrNotObject)
	f(`[1,2]`, ErrNotObject)
	f(`{}`, ErrMissingTime)
	f(`{"time":"2026-11-24T10:00:00Z"}`, ErrMissingIP)
	f(`{"time":"2026-11-24T10:00:00Z","ip":"192.0.2.1"}`, ErrMissingURL)
	f(`{"time":"2026-11-24T10:00:00Z","ip":"192.0.2.1","url":"/"`, ErrBadJSON)
	f(`{"time":"2026-11-24T10:00:00Z","ip":"192.0.2.1","url":"/"} trailing`, ErrBadJSON)
	f(`{"time":"2026-11-24T10:00:00Z","ip":"192.0.2.1","url":"/",}`, ErrBadJSON)
	f(`{"time":"yesterday","ip":"192.0.2.1","url":"/"}`, ErrBadTime)
	f(`{"time":"2026-13-24T10:00:00Z","ip":"192.0.2.1","url":"/"}`, ErrBadTime)
	f(`{"time":-5,"ip":"192.0.2.1","url":"/"}`, ErrBadTime)
	f(`{"time":true,"ip":"192.0.2.1","url":"/"}`, ErrBadFieldType)
	f(`{"time":"2026-11-24T10:00:00Z","ip":"not an ip","url":"/"}`, ErrBadIP)
	f(`{"time":"2026-11-24T10:00:00Z","ip":"192.0.2.1","url":5}`, ErrBadFieldType)
	f(`{"time":"2026-11-24T10:00:00Z","ip":"192.0.2.1","url":"/","status":2000}`, ErrBadStatus)
	f(`{"time":"2026-11-24T10:00:00Z","ip":"192.0.2.1","url":"/","status":"ok"}`, ErrBadStatus)
	f(`{"time":"2026-11-24T10:00:00Z","ip":"192.0.2.1","url":"/\x"}`, ErrBadJSON)
	f("{\"time\":\"2026-11-24T10:00:00Z\",\"ip\":\"192.0.2.1\",\"url\":\"/\u0001\"}", ErrBadJSON)
	f(`{"time":"2026-11-24T10:00:00Z","ip":"192.0.2.1","url":"/","x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`, ErrBadJSON)
}

func TestIsAsset(t *testing.T) {
	f := func(target string, want bool) {
		t.Helper()
		if got := IsAsset(target); got != want {
			t.Fatalf("IsAsset(%q) = %v", target, got)
		}
	}
	for _, a := range []string{"/logo.PNG", "/s/app.js?v=3", "/a.css#x", "/f/inter.woff2", "/app.js.map", "/favicon.ico", "/x.svg", "https://sez.im/v.mp4", "/site.webmanifest"} {
		f(a, true)
	}
	for _, p := range []string{"/", "/psychologists", "/a.b/c", "/report.pdf", "/page.html", "/index.php?x=a.js", "/v1.2", "/file.veryveryverylongext", ""} {
		f(p, false)
	}
}

func TestCookieValue(t *testing.T) {
	f := func(h, name, want string) {
		t.Helper()
		if got := cookieValue(h, name); got != want {
			t.Fatalf("cookieValue(%q, %q) = %q, want %q", h, name, got, want)
		}
	}
	f("sezim_consent=a", "sezim_consent", "a")
	f("x=1;sezim_consent=a ; y=2", "sezim_consent", "a")
	f(`sezim_consent="quoted"`, "sezim_consent", "quoted")
	f("xsezim_consent=a; sezim_consent=b", "sezim_consent", "b")
	f("sezim_consent", "sezim_consent", "")
	f("", "sezim_consent", "")
}

// TestParseDoesNotAllocate: the common lines, escapes included, parse
// without allocating.
func TestParseDoesNotAllocate(t *testing.T) {
	var p Parser
	var r Record
	comb := []byte(`203.0.113.7 - - [24/Nov/2026:15:04:05 +0500] "GET /a?b=1 HTTP/1.1" 200 5123 "https://www.google.com/" "Mozilla/5.0 \"x\" \x22y\x22" "sezim_consent=v1.a.b"`)
	nd := []byte(`{"time":"2026-11-24T15:04:05+05:00","ip":"2001:db8::1","url":"/a\u00e9","status":200,"user_agent":"` + chromeUA + `","referrer":"-","x":[1,{"y":2}]}`)
	_ = p.Combined(comb, &r)
	_ = p.NDJSON(nd, &r)
	if n := testing.AllocsPerRun(200, func() {
		if err := p.Combined(comb, &r); err != nil {
			t.Fatal(err)
		}
		if err := p.NDJSON(nd, &r); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per two lines", n)
	}
}
