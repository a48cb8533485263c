package bots

import (
	"slices"
	"testing"
)

func FuzzDetect(f *testing.F) {
	for _, ua := range humans[:5] {
		f.Add(ua, true, true)
	}
	f.Add("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", true, false)
	f.Add("curl/8.5.0", false, false)
	f.Add("Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36", true, true)
	f.Add("", false, false)
	f.Add("\x00\xff", true, true)
	reasons := Reasons()
	f.Fuzz(func(t *testing.T, ua string, accept, lang bool) {
		bot, reason := Detect(ua, accept, lang)
		if bot != (reason != ReasonNone) {
			t.Fatalf("Detect(%q) = %v, %q: bot and reason disagree", ua, bot, reason)
		}
		if bot && !slices.Contains(reasons, reason) {
			t.Fatalf("Detect(%q) reason %q outside the closed set", ua, reason)
		}
		// Matching is case-insensitive for ASCII: flipping the case must not change anything.
		up := []byte(ua)
		for i, c := range up {
			if 'a' <= c && c <= 'z' {
				up[i] = c - ('a' - 'A')
			}
		}
		if bot2, reason2 := Detect(string(up), accept, lang); bot2 != bot || reason2 != reason {
			t.Fatalf("Detect(%q) = %v, %q but upper-cased = %v, %q", ua, bot, reason, bot2, reason2)
		}
	})
}
