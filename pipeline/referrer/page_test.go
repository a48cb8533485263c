package referrer

import (
	"strings"
	"testing"
)

func TestParsePage(t *testing.T) {
	f := func(raw string, maxPath int, wantHost, wantPath string, wantUTM UTM) {
		t.Helper()
		host, path, utm, ok := ParsePage(raw, maxPath)
		if !ok || host != wantHost || path != wantPath || utm != wantUTM {
			t.Errorf("ParsePage(%q, %d)\n got %q %q %+v %v\nwant %q %q %+v true", raw, maxPath, host, path, utm, ok, wantHost, wantPath, wantUTM)
		}
	}
	none := UTM{}
	f("https://sez.im/", 0, "sez.im", "/", none)
	f("https://sez.im", 0, "sez.im", "/", none)
	f("https://www.sez.im/psychologists/", 0, "sez.im", "/psychologists", none)
	f("https://WWW.Sez.IM/Psychologists/Anna", 0, "sez.im", "/Psychologists/Anna", none)
	f("HTTP://sez.im:8080/a/b//", 0, "sez.im", "/a/b", none)
	f("https://sez.im./a", 0, "sez.im", "/a", none)
	f("https://user:secret@sez.im/private", 0, "sez.im", "/private", none)
	f("https://www/", 0, "www", "/", none) // a host literally named www is left alone
	// Query strings and fragments never survive; click ids leave only a flag.
	f("https://sez.im/a?session=abc&email=a@b.kz#top", 0, "sez.im", "/a", none)
	f("https://sez.im/a#/spa/route?x=1", 0, "sez.im", "/a", none)
	f("https://sez.im/?gclid=EAIaIQobChMI", 0, "sez.im", "/", UTM{PaidClick: true})
	f("https://sez.im/?yclid=123456789", 0, "sez.im", "/", UTM{PaidClick: true})
	f("https://sez.im/?fbclid=IwAR0abc&ysclid=lq1", 0, "sez.im", "/", none)
	f("https://sez.im/?gclid=", 0, "sez.im", "/", none)
	// UTM.
	f("https://sez.im/landing?utm_source=Google&utm_medium=CPC&utm_campaign=Spring_Sale&utm_content=banner%201&utm_term=%D0%BF%D1%81%D0%B8%D1%85%D0%BE%D0%BB%D0%BE%D0%B3",
		0, "sez.im", "/landing", UTM{Source: "google", Medium: "cpc", Campaign: "Spring_Sale", Content: "banner 1", Term: "психолог"})
	f("https://sez.im/?UTM_SOURCE=telegram&utm_medium=social+post&utm_source=ignored", 0, "sez.im", "/", UTM{Source: "telegram", Medium: "social post"})
	f("https://sez.im/?utm_source=%FF%FE&utm_campaign=ok", 0, "sez.im", "/", UTM{Campaign: "ok"})
	// Control characters and length are the scrub step's (pipeline/scrub).
	f("https://sez.im/?utm_source=a%0Ab&utm_foo=bar&utm_=x&utm", 0, "sez.im", "/", UTM{Source: "a\nb"})
	f("https://sez.im/?utm_campaign="+strings.Repeat("я", 80), 0, "sez.im", "/", UTM{Campaign: strings.Repeat("я", 80)})
	f("https://sez.im/a%0D%0Ab", 0, "sez.im", "/a\r\nb", none)
	f("https://sez.im/?utm_source=+vk+", 0, "sez.im", "/", UTM{Source: "vk"})
	f("https://sez.im/?utm_medium=+", 0, "sez.im", "/", none) // found by FuzzParsePage
	f("https://sez.im/?utm_term=a+%2B+b", 0, "sez.im", "/", UTM{Term: "a + b"})
	// Cyrillic and percent-encoding: decoded exactly once.
	f("https://sez.im/%D0%BF%D1%81%D0%B8%D1%85%D0%BE%D0%BB%D0%BE%D0%B3%D0%B8/", 0, "sez.im", "/психологи", none)
	f("https://sez.im/психологи/анна", 0, "sez.im", "/психологи/анна", none)
	f("https://sez.im/a%2520b", 0, "sez.im", "/a%20b", none)
	f("https://sez.im/100%", 0, "sez.im", "/100%", none)
	f("https://sez.im/a%zzb", 0, "sez.im", "/a%zzb", none)
	f("https://sez.im/a+b", 0, "sez.im", "/a+b", none) // '+' is only a space in queries
	// Length cap on a rune boundary, then trailing slashes trimmed again.
	f("https://sez.im/"+strings.Repeat("a", 1000), 0, "sez.im", "/"+strings.Repeat("a", DefaultMaxPath-1), none)
	f("https://sez.im/abcdef", 4, "sez.im", "/abc", none)
	f("https://sez.im/ab/cdef", 4, "sez.im", "/ab", none)
	f("https://sez.im/яяя", 4, "sez.im", "/я", none) // 1 + 2 + (1 of 2 bytes) → cut before it
	f("https://sez.im/яяя", 1, "sez.im", "/", none)
	// Hosts: IPv4, IPv6, ports, internationalised names.
	f("http://127.0.0.1:8080/x", 0, "127.0.0.1", "/x", none)
	f("http://[2001:DB8::1]:8443/x/", 0, "2001:db8::1", "/x", none)
	f("http://[::1]/", 0, "::1", "/", none)
	f("https://xn--e1aqbgu.kz/", 0, "xn--e1aqbgu.kz", "/", none)
	f("https://СЕЗИМ.kz/", 0, "сезим.kz", "/", none)
}

func TestParsePageRejects(t *testing.T) {
	f := func(raw string) {
		t.Helper()
		if host, path, utm, ok := ParsePage(raw, 0); ok {
			t.Errorf("ParsePage(%q) = %q %q %+v, true; want ok=false", raw, host, path, utm)
		}
	}
	f("")
	f("/relative/path")
	f("sez.im/a")
	f("//sez.im/a")
	f("javascript:alert(document.cookie)")
	f("JavaScript://%0Aalert(1)")
	f("data:text/html;base64,PHNjcmlwdD4=")
	f("file:///etc/passwd")
	f("ftp://sez.im/a")
	f("chrome-extension://abcdef/popup.html")
	f("about:blank")
	f("https://")
	f("https:///path")
	f("https://user@/path")
	f("https://sez.im:port/")
	f("https://sez.im:123456/")
	f("https://sez..im/")
	f("https://.sez.im/")
	f("https://sez im/")
	f("https://sez.im/a b")
	f("https://sez.im/a\tb")
	f("https://[2001:db8::1/")
	f("https://[zz::1]/")
	f("https://sez.im/%FF%FE")    // invalid UTF-8 after decoding
	f("https://sez.im/\xff")      // raw invalid UTF-8
	f("https://sez.im/" + "\x7f") // DEL
	f("https://s\xffz.im/")
}
