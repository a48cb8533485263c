package scrub

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// What no output may hold, written independently of the rules: an e-mail
// address, six digits in a row, nine digits in groups, a UUID standing
// alone, a dotted IPv4 address standing alone.
var leaks = map[string]*regexp.Regexp{
	"e-mail":       regexp.MustCompile(`[A-Za-z0-9]@[A-Za-z0-9-]+\.[A-Za-z]{2}`),
	"digit run":    regexp.MustCompile(`[0-9]{6}`),
	"digit groups": regexp.MustCompile(`[0-9](?:[ ().-]{0,2}[0-9]){8}`),
	"uuid":         regexp.MustCompile(`(?:^|[^A-Za-z0-9_-])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?:$|[^A-Za-z0-9_-])`),
	"ipv4":         regexp.MustCompile(`(?:^|[^0-9.])(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}(?:$|[^0-9A-Za-z.])`),
}

func checkOutput(t *testing.T, fn, in, out string, why Reason, max int) {
	t.Helper()
	if why != ReasonNone {
		if out != "" {
			t.Fatalf("%s(%q) refused (%s) but returned %q", fn, in, why, out)
		}
		return
	}
	if max > 0 && len(out) > max {
		t.Fatalf("%s(%q) = %q: %d bytes, over %d", fn, in, out, len(out), max)
	}
	if !utf8.ValidString(out) || strings.ContainsAny(out, "<>\x00\n\r\t") {
		t.Fatalf("%s(%q) = %q: invalid text", fn, in, out)
	}
	for name, re := range leaks {
		if m := re.FindString(out); m != "" {
			t.Fatalf("%s(%q) = %q: holds a %s %q", fn, in, out, name, m)
		}
	}
}

func FuzzValue(f *testing.F) {
	for _, s := range []string{
		"victim@mail.com", "ssn-123-45-6789", "sign\nup\t\x00", "+7 (701) 123-45-67",
		"4111 1111 1111 1111", "550e8400-e29b-41d4-a716-446655440000", "tok_ABCDEF",
		"2001:db8::1", "10.0.0.7", "a%2540b.kz", "психолог", "spring-sale-2026",
		"(701) 123-4567.x@mail.com", "12345678901234567890123@x.yz",
	} {
		f.Add(s, 100)
	}
	f.Fuzz(func(t *testing.T, in string, max int) {
		max %= 600
		out, why := Value(in, max)
		checkOutput(t, "Value", in, out, why, max)
		if why == ReasonNone {
			if again, why2 := Value(out, max); again != out || why2 != ReasonNone {
				t.Fatalf("Value(%q) = %q, but Value of that = %q, %q", in, out, again, why2)
			}
		}
	})
}

func FuzzPath(f *testing.F) {
	for _, s := range []string{
		"/account;jsessionid=SECRET123/reset/tok_ABCDEF", "/psychologist/123/reviews",
		"/u/victim@mail.com", "/ru/clinic/x", "/a//b/", "/reset/:token", "/",
		"/<img src=x onerror=alert(1)>", "/files/550e8400-e29b-41d4-a716-446655440000.pdf",
	} {
		f.Add(s, 512)
	}
	rules := mustRules(f, "/psychologist/:id", "/:lang/clinic/:clinic")
	f.Fuzz(func(t *testing.T, in string, max int) {
		max %= 600
		in = "/" + strings.TrimPrefix(in, "/")
		out, why := Path(in, rules, max)
		checkOutput(t, "Path", in, out, why, max)
		if why != ReasonNone {
			return
		}
		if !strings.HasPrefix(out, "/") || (out != "/" && strings.HasSuffix(out, "/")) {
			t.Fatalf("Path(%q) = %q: not a clean path", in, out)
		}
		if again, why2 := Path(out, rules, max); again != out || why2 != ReasonNone {
			t.Fatalf("Path(%q) = %q, but Path of that = %q, %q", in, out, again, why2)
		}
	})
}
