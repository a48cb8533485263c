package collector

import (
	"encoding/json"
	"io"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestDecodePlausible(t *testing.T) {
	f := func(body string, want dropinHit, wantWhy reason) {
		t.Helper()
		got, why := decodePlausible([]byte(body))
		if why != wantWhy {
			t.Fatalf("decodePlausible(%s): reason %q, want %q", body, why, wantWhy)
		}
		if why == "" && !reflect.DeepEqual(got, want) {
			t.Fatalf("decodePlausible(%s) =\n%+v, want\n%+v", body, got, want)
		}
	}
	// What @plausible-analytics/tracker sends for a pageview.
	f(`{"n":"pageview","v":36,"u":"https://sez.im/a?utm_source=vk#top","d":"sez.im","r":"https://ya.ru/"}`,
		dropinHit{Domain: "sez.im", URL: "https://sez.im/a?utm_source=vk", Referrer: "https://ya.ru/"}, "")
	f(`{"n":"pageview","u":"https://sez.im/#/app/settings","d":"sez.im","r":null,"h":1}`,
		dropinHit{Domain: "sez.im", URL: "https://sez.im/#/app/settings"}, "")
	f(`{"n":"Signup","u":"https://sez.im/","d":"sez.im,rollup.example","r":null,"p":{"plan":"a"}}`,
		dropinHit{Domain: "sez.im", URL: "https://sez.im/", Name: "Signup", Props: json.RawMessage(`{"plan":"a"}`)}, "")
	f(`{"n":"Purchase","u":"https://sez.im/","d":"sez.im","p":"{}","$":{"amount":"9.99","currency":"EUR"}}`,
		dropinHit{Domain: "sez.im", URL: "https://sez.im/", Name: "Purchase", Discard: []string{discardRevenue}}, "")
	f(`{"n":"engagement","sd":40,"d":"sez.im","u":"https://sez.im/","p":{},"e":3100,"v":36}`,
		dropinHit{Domain: "sez.im", URL: "https://sez.im/", Skip: true, Discard: []string{discardEngagement}}, "")
	// The long names of the documented server API.
	f(`{"name":"pageview","url":"https://sez.im/b","domain":"sez.im","referrer":"https://t.co/","props":{"a":1},"w":390}`,
		dropinHit{Domain: "sez.im", URL: "https://sez.im/b", Referrer: "https://t.co/", Screen: 390, Props: json.RawMessage(`{"a":1}`)}, "")

	f(`{"n":"pageview","u":"https://sez.im/"}`, dropinHit{}, reasonMissingSite)
	f(`{"u":"https://sez.im/","d":"sez.im"}`, dropinHit{}, reasonMalformed)
	f(`{"n":"pageview","d":"sez.im"}`, dropinHit{}, reasonMalformed)
	f(`{"n":"pageview","u":"https://sez.im/","d":"sez.im","w":"wide"}`, dropinHit{}, reasonBadJSON)
	f(`{"n":"pageview","u":"https://sez.im/","d":"sez.im","w":-1}`, dropinHit{}, reasonBadScreen)
	f(`{"n":"pageview","u":"https://sez.im/`+strings.Repeat("a", maxField)+`","d":"sez.im"}`, dropinHit{}, reasonFieldTooLong)
	f(`{"n":`, dropinHit{}, reasonBadJSON)
	f(`[]`, dropinHit{}, reasonBadJSON)
}

func TestDecodeUmami(t *testing.T) {
	f := func(body string, want dropinHit, wantWhy reason) {
		t.Helper()
		got, why := decodeUmami([]byte(body))
		if why != wantWhy {
			t.Fatalf("decodeUmami(%s): reason %q, want %q", body, why, wantWhy)
		}
		if why == "" && !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeUmami(%s) =\n%+v, want\n%+v", body, got, want)
		}
	}
	const id = "94db1cb1-74f4-4a40-ad6c-962362670409"
	// What Umami's script sends for a pageview: the path and query, with
	// the host apart; the title is never kept.
	f(`{"type":"event","payload":{"website":"`+id+`","hostname":"sez.im","screen":"1280x720","language":"kk-KZ","title":"Dr%20Aigerim","url":"/a?utm_source=vk","referrer":"https://ya.ru/"}}`,
		dropinHit{Domain: "sez.im", UmamiID: id, URL: "https://sez.im/a?utm_source=vk", Referrer: "https://ya.ru/", Language: "kk-KZ", Screen: 1280}, "")
	f(`{"type":"event","payload":{"website":"`+id+`","hostname":"sez.im","url":"/","name":"signup","data":{"plan":"a"}}}`,
		dropinHit{Domain: "sez.im", UmamiID: id, URL: "https://sez.im/", Name: "signup", Props: json.RawMessage(`{"plan":"a"}`)}, "")
	f(`{"type":"identify","payload":{"website":"`+id+`","hostname":"sez.im","url":"/","data":{"email":"a@b.c"}}}`,
		dropinHit{Domain: "sez.im", UmamiID: id, URL: "https://sez.im/", Skip: true, Props: json.RawMessage(`{"email":"a@b.c"}`), Discard: []string{discardIdentify}}, "")
	// Sent by a server with an absolute URL and no hostname.
	f(`{"type":"event","payload":{"website":"`+id+`","url":"https://sez.im/x","data":{}}}`,
		dropinHit{UmamiID: id, URL: "https://sez.im/x", Props: json.RawMessage(`{}`)}, "")

	f(`{"type":"event","payload":{"url":"/"}}`, dropinHit{}, reasonMissingSite)
	f(`{"type":"bogus","payload":{"hostname":"sez.im","url":"/"}}`, dropinHit{}, reasonMalformed)
	f(`{"type":"event","payload":{"hostname":"sez.im","url":"//evil.example/"}}`, dropinHit{}, reasonMalformed)
	f(`{"type":"event","payload":{"hostname":"sez.im","url":"javascript:alert(1)"}}`, dropinHit{}, reasonMalformed)
	f(`{"type":"event","payload":{"hostname":"evil.example/x","url":"/"}}`, dropinHit{}, reasonMalformed)
	f(`{"type":"event","payload":{"hostname":"sez.im","url":"/","screen":"big"}}`, dropinHit{}, reasonBadScreen)
	f(`{"type":"event","payload":{"hostname":"sez.im","url":"/","title":"`+strings.Repeat("t", maxField+1)+`"}}`, dropinHit{}, reasonFieldTooLong)
	f(`{"type":"event","payload":"x"}`, dropinHit{}, reasonBadJSON)
}

// The handlers, through the app: each API maps onto the pipeline with the
// beacon's rules (origin, body limit, counting by route and reason).
func TestDropinHandlers(t *testing.T) {
	cases := []struct {
		name, target, body string
		headers            map[string]string
		status             int
		reason             string
		kept               int
		wantPath, wantName string
	}{
		{name: "plausible pageview", target: "/api/event", body: `{"n":"pageview","u":"https://sez.im/a/?utm_source=vk#x","d":"sez.im","r":"https://ya.ru/"}`,
			headers: map[string]string{"Origin": "https://sez.im"}, status: 202, kept: 1, wantPath: "/a"},
		{name: "plausible event on a subdomain", target: "/api/event", body: `{"n":"Signup","u":"https://app.sez.im/u/victim%40mail.com","d":"app.sez.im","p":{"plan":"a"}}`,
			status: 202, kept: 1, wantPath: "/u/:email", wantName: "Signup"},
		{name: "plausible engagement answered, not kept", target: "/api/event", body: `{"n":"engagement","u":"https://sez.im/","d":"sez.im","e":3000}`, status: 202},
		{name: "plausible unknown domain", target: "/api/event", body: `{"n":"pageview","u":"https://x.example/","d":"x.example"}`, status: 400, reason: "unknown_site"},
		{name: "plausible page of another host", target: "/api/event", body: `{"n":"pageview","u":"https://evil.example/","d":"sez.im"}`, status: 403, reason: "origin_not_allowed"},
		{name: "plausible foreign origin", target: "/api/event", body: `{"n":"pageview","u":"https://sez.im/","d":"sez.im"}`,
			headers: map[string]string{"Origin": "https://evil.example"}, status: 403, reason: "origin_not_allowed"},
		{name: "plausible name with markup", target: "/api/event", body: `{"n":"<img src=x>","u":"https://sez.im/","d":"sez.im"}`, status: 400, reason: "markup"},
		{name: "plausible too large", target: "/api/event", body: `{"n":"pageview","d":"sez.im","u":"` + strings.Repeat("a", MaxBeaconBytes) + `"}`, status: 413, reason: "too_large"},
		{name: "umami pageview by website id", target: "/api/send", body: `{"type":"event","payload":{"website":"94DB1CB1-74F4-4A40-AD6C-962362670409","hostname":"sez.im","url":"/psy/?x=1","screen":"390x844","language":"ru"}}`,
			headers: map[string]string{"Origin": "https://sez.im"}, status: 202, kept: 1, wantPath: "/psy"},
		{name: "umami event by hostname", target: "/api/send", body: `{"type":"event","payload":{"website":"00000000-0000-0000-0000-000000000000","hostname":"sez.im","url":"/","name":"book call","data":{"who":"x"}}}`,
			status: 202, kept: 1, wantPath: "/", wantName: "book call"},
		{name: "umami identify answered, not kept", target: "/api/send", body: `{"type":"identify","payload":{"hostname":"sez.im","url":"/","data":{"email":"a@b.c"}}}`, status: 202},
		{name: "umami bad json", target: "/api/send", body: `{"type":`, status: 400, reason: "bad_json"},
		{name: "umami bad url", target: "/api/send", body: `{"type":"event","payload":{"hostname":"sez.im","url":"//evil.example/"}}`, status: 400, reason: "malformed_event"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newDropinFixture(t)
			resp := f.do(t, req{method: "POST", target: tc.target, body: tc.body, contentType: "text/plain;charset=UTF-8", headers: tc.headers})
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tc.status, body)
			}
			if tc.reason != "" && string(body) != `{"error":"`+tc.reason+`"}` {
				t.Fatalf("body %q, want reason %q", body, tc.reason)
			}
			if o := tc.headers["Origin"]; o != "" && tc.status == 202 && resp.Header.Get("Access-Control-Allow-Origin") != o {
				t.Fatalf("CORS header %q, want %q", resp.Header.Get("Access-Control-Allow-Origin"), o)
			}
			got := f.sink.all()
			if len(got) != tc.kept {
				t.Fatalf("kept %d events, want %d", len(got), tc.kept)
			}
			if tc.kept == 1 && (got[0].Path != tc.wantPath || got[0].Name != tc.wantName || got[0].SiteID != "sez") {
				t.Fatalf("kept site %q path %q name %q, want sez %q %q", got[0].SiteID, got[0].Path, got[0].Name, tc.wantPath, tc.wantName)
			}
			api := map[string]string{"/api/event": "plausible", "/api/send": "umami"}[tc.target]
			if tc.reason != "" {
				if n := testutil.ToFloat64(f.c.rejected.WithLabelValues(api, tc.reason)); n != 1 {
					t.Fatalf("rejected{%s,%s} = %v, want 1", api, tc.reason, n)
				}
			}
		})
	}
}

// What is answered and not kept is counted, by api and what.
func TestDropinDiscardsCounted(t *testing.T) {
	f := newDropinFixture(t)
	for _, r := range []req{
		{method: "POST", target: "/api/event", body: `{"n":"a","u":"https://sez.im/","d":"sez.im","p":{"k":"v"}}`},
		{method: "POST", target: "/api/event", body: `{"n":"engagement","u":"https://sez.im/","d":"sez.im"}`},
		{method: "POST", target: "/api/send", body: `{"type":"event","payload":{"hostname":"sez.im","url":"/","name":"b","data":{"k":"v"}}}`},
		{method: "POST", target: "/api/send", body: `{"type":"identify","payload":{"hostname":"sez.im","url":"/","data":{"k":"v"}}}`},
	} {
		if resp := f.do(t, r); resp.StatusCode != 202 {
			t.Fatalf("%s %s: status %d", r.target, r.body, resp.StatusCode)
		}
	}
	for _, c := range []struct {
		api, what string
		n         float64
	}{{"plausible", "engagement", 1}, {"umami", "identify", 1}} {
		if n := testutil.ToFloat64(f.c.di.discarded.WithLabelValues(c.api, c.what)); n != c.n {
			t.Errorf("discarded{%s,%s} = %v, want %v", c.api, c.what, n, c.n)
		}
	}
	if n := len(f.sink.all()); n != 2 {
		t.Fatalf("kept %d events, want the two custom events", n)
	}
}

// Umami's script sends application/json and, after its first event, an
// X-Umami-Cache header: both need a preflight answer for an allowed origin.
func TestUmamiPreflight(t *testing.T) {
	f := newDropinFixture(t)
	resp := f.do(t, req{method: "OPTIONS", target: "/api/send", headers: map[string]string{
		"Origin": "https://sez.im", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-umami-cache"}})
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://sez.im" ||
		!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "x-umami-cache") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	resp = f.do(t, req{method: "OPTIONS", target: "/api/send", headers: map[string]string{"Origin": "https://evil.example"}})
	if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from a foreign origin: %d %v", resp.StatusCode, resp.Header)
	}
}

// newDropinFixture is newFixture's collector with a site that maps an Umami
// website id.
func newDropinFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureFrom(t, `
sites:
  - id: sez
    domains: [sez.im]
    origins: [https://sez.im]
    umami_website_id: 94db1cb1-74f4-4a40-ad6c-962362670409
  - id: other
    domains: [other.kz]
`)
}

// FuzzDecodePlausible: any body maps or is refused with a reason, never a
// panic; what maps has bounded fields and no fragment unless asked for.
func FuzzDecodePlausible(f *testing.F) {
	for _, s := range []string{
		`{"n":"pageview","v":36,"u":"https://sez.im/a?utm_source=vk#top","d":"sez.im","r":"https://ya.ru/"}`,
		`{"n":"Signup","u":"https://sez.im/","d":"a.com,b.com","p":"{\"a\":1}","$":{"amount":1},"h":1}`,
		`{"name":"pageview","url":"x","domain":"d","referrer":null,"props":[],"w":1e3}`,
		`{"n":"engagement"}`, `null`, `{"n":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, why := decodePlausible(body)
		if why != "" {
			return
		}
		checkDropinHit(t, d)
		if d.Domain == "" || d.URL == "" || strings.Contains(d.Domain, ",") {
			t.Fatalf("mapped without a domain or URL: %+v", d)
		}
	})
}

// FuzzDecodeUmami: as FuzzDecodePlausible, and a mapped URL is absolute
// http(s) with a host.
func FuzzDecodeUmami(f *testing.F) {
	for _, s := range []string{
		`{"type":"event","payload":{"website":"94db1cb1-74f4-4a40-ad6c-962362670409","hostname":"sez.im","screen":"1280x720","language":"kk","title":"T","url":"/a?b=c","referrer":""}}`,
		`{"type":"identify","payload":{"hostname":"sez.im","url":"/","data":{"a":[1,2]}}}`,
		`{"payload":{"url":"https://sez.im/x","website":"w","screen":"x"}}`, `{}`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, why := decodeUmami(body)
		if why != "" {
			return
		}
		checkDropinHit(t, d)
		if !strings.HasPrefix(d.URL, "https://") && !strings.HasPrefix(d.URL, "http://") {
			t.Fatalf("mapped a URL that is not absolute: %q", d.URL)
		}
		if u, err := url.Parse(d.URL); err == nil && u.Host == "" {
			t.Fatalf("mapped URL %q names no host", d.URL)
		}
	})
}

func checkDropinHit(t *testing.T, d dropinHit) {
	t.Helper()
	for _, s := range []string{d.Domain, d.UmamiID, d.Referrer, d.Name, d.Language} {
		if len(s) > maxField {
			t.Fatalf("a field of %d bytes mapped", len(s))
		}
	}
	if d.Screen < 0 || d.Screen > 100_000 {
		t.Fatalf("screen %d mapped", d.Screen)
	}
	for _, w := range d.Discard {
		switch w {
		case discardRevenue, discardEngagement, discardIdentify:
		default:
			t.Fatalf("unbounded discard label %q", w)
		}
	}
}
