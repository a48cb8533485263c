package sessionlog

import (
	"testing"
	"time"
)

// checkParsed holds for every line a parser accepts, whatever it was.
func checkParsed(t *testing.T, r *Record) {
	t.Helper()
	if !r.IP.IsValid() || r.IP.Zone() != "" || r.IP.Is4In6() {
		t.Fatalf("accepted address %v", r.IP)
	}
	if r.Time.Location() != time.UTC || r.Time.Year() < 1969 || r.Time.Year() > 10000 {
		t.Fatalf("accepted time %v", r.Time)
	}
	for _, s := range []string{r.Target, r.UserAgent, r.Referrer, r.AcceptLanguage, r.Host, r.UserID} {
		if len(s) > maxField {
			t.Fatalf("accepted a field of %d bytes", len(s))
		}
	}
	if r.Status != 0 && (r.Status < 100 || r.Status > 999) {
		t.Fatalf("accepted status %d", r.Status)
	}
}

func FuzzCombined(f *testing.F) {
	for _, s := range []string{
		`203.0.113.7 - - [24/Nov/2026:15:04:05 +0500] "GET /a?b=1 HTTP/1.1" 200 5123 "https://www.google.com/" "Mozilla/5.0"`,
		`2001:db8::1 - u [01/Jan/2026:00:00:00 +0000] "GET / HTTP/2.0" 304 0 "-" "-" "sezim_consent=v1.a.b"`,
		`192.0.2.1 - - [24/Nov/2026:10:00:00 +0000] "\x16\x03\x01" 400 157 "-" "a \"b\" \\"`,
		`192.0.2.1 - - [24/Nov/2026:10:00:00] "-" 408 0`,
		`x`, `"`, `[`, `1.2.3.4 [`, `1.2.3.4 - - [] "" 200 1 "" ""`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var p Parser
		var r Record
		if p.Combined(line, &r) == nil {
			checkParsed(t, &r)
		}
	})
}

func FuzzNDJSON(f *testing.F) {
	for _, s := range []string{
		`{"time":"2026-11-24T15:04:05+05:00","ip":"203.0.113.7","url":"https://sez.im/a","status":200,"user_agent":"x","referrer":"-"}`,
		`{"time":1795946645.5,"ip":"2001:db8::1","url":"/a","host":"sez.im","cookie":"sezim_consent=v1.a.b"}`,
		`{"time":"1795946645","ip":"192.0.2.1","url":"/\u00e9\ud83d\ude00","x":[1,{"y":[true,false,null]}]}`,
		`{"time":"24/Nov/2026:15:00:00 +0500","ip":"[::1]","url":"/","status":"302"}`,
		`{`, `{"`, `{"time":1e400}`, `[]`, `{"a":"\`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var p Parser
		var r Record
		if p.NDJSON(line, &r) == nil {
			checkParsed(t, &r)
		}
	})
}
