package scrub

import (
	"strings"
	"testing"
)

func TestValue(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		got, why := Value(in, 100)
		if why != ReasonNone || got != want {
			t.Errorf("Value(%q) = %q, %q; want %q", in, got, why, want)
		}
		if again, _ := Value(got, 100); again != got {
			t.Errorf("Value(Value(%q)) = %q; want %q", in, again, got)
		}
	}
	// The examples.
	f("victim@mail.com", Email)
	f("ssn-123-45-6789", "ssn-"+ID)
	// Kept as they are.
	f("", "")
	f("google", "google")
	f("spring_sale", "spring_sale")
	f("spring-sale-2026", "spring-sale-2026")
	f("психолог алматы", "психолог алматы")
	f("signup", "signup")
	f("page 12345", "page 12345")
	f("50% off", "50% off")
	f("2026-11-24", "2026-11-24")
	f("v1.2.3", "v1.2.3")
	f("@sezim", "@sezim")
	f("a@b", "a@b")
	f("iPhone15ProMax", "iPhone15ProMax")
	f("how-to-choose-a-psychologist-in-almaty-2026", "how-to-choose-a-psychologist-in-almaty-2026")
	// E-mail addresses, plain and hidden.
	f("contact John.Doe+tag@Example.co.uk now", "contact "+Email+" now")
	f("a%40b.kz", Email)
	f("a%2540b.kz", Email)
	f("a%"+strings.Repeat("25", 15)+"40b.kz", Email)
	f("иван@почта.рф", Email)
	f("a@b.com@c.org", Email)
	// Numbers.
	f("+7 701 123 45 67", Phone)
	f("+7 (701) 123-45-67", Phone)
	f("8 701 123 4567", Phone)
	f("call 87011234567", "call "+ID)
	f("tel:+77011234567", "tel:"+Phone)
	f("4111 1111 1111 1111", Card)
	f("4111111111111111", Card)
	f("4111111111111112", ID) // not Luhn: still a long digit run
	f("order 123456", "order "+ID)
	f("050000", ID)               // a postal code narrows a visitor to a district
	f("12.345.678", "12.345.678") // eight digits in groups: a date, a price
	f("123.456.789", ID)
	f("3232235777", ID) // 192.168.1.1 as an integer
	// Addresses.
	f("192.168.1.1", IP)
	f("from 10.0.0.7 today", "from "+IP+" today")
	f("2001:db8::1", IP)
	f("2a02:6b8::", IP)
	f("[::1]:80", "["+IP+"]:80")
	// UUIDs and tokens.
	f("550e8400-e29b-41d4-a716-446655440000", UUID)
	f("id=550E8400-E29B-41D4-A716-446655440000", "id="+UUID)
	f("tok_ABCDEF", Token)
	f("sk_live_4eC39HqLyjWDarjtT1zdp7dc", Token)
	f("eyJhbGciOiJIUzI1NiJ9", Token)
	f("5f3e2a1b9c8d7e6f", Token)
	f("ab12cd34ef56ab78cd90", Token)
	f("dGhpcyBpcyBhIHNlY3JldCB0b2tlbg", Token)
	f("about_company", "about_company")
	// Cut on a rune boundary, after replacing.
	f(strings.Repeat("я", 60), strings.Repeat("я", 50))
	f(strings.Repeat("x", 95)+" a@b.kz", strings.Repeat("x", 95)+" :ema")
}

func TestPath(t *testing.T) {
	rules := mustRules(t, "/psychologist/:id", "/:lang/clinic/:clinic")
	f := func(in, want string) {
		t.Helper()
		got, why := Path(in, rules, 512)
		if why != ReasonNone || got != want {
			t.Errorf("Path(%q) = %q, %q; want %q", in, got, why, want)
		}
		if again, _ := Path(got, rules, 512); again != got {
			t.Errorf("Path(Path(%q)) = %q; want %q", in, again, got)
		}
	}
	// The examples (the markup one is refused: see TestRefused).
	f("/account;jsessionid=SECRET123/reset/tok_ABCDEF", "/account/reset/"+Token)
	f("/psychologist/123", "/psychologist/:id")
	f("/psychologist/john.doe@mail.com/reviews", "/psychologist/:id/reviews")
	f("/psychologist", "/psychologist")
	f("/ru/clinic/almaty-center", "/:lang/clinic/:clinic")
	// Kept as they are.
	f("/", "/")
	f("/psychologists", "/psychologists")
	f("/psychologists/anna-ivanova", "/psychologists/anna-ivanova")
	f("/blog/2026/11/24/how-to-start", "/blog/2026/11/24/how-to-start")
	f("/психологи/алматы", "/психологи/алматы")
	f("/a//b", "/a//b")
	f("/password", "/password")
	f("/reset/:token", "/reset/"+Token)
	// Secret-bearing links.
	f("/verify/ab", "/verify/"+Token)
	f("/Unsubscribe/weekly/x", "/Unsubscribe/"+Token)
	f("/reset/Mq/bq8k5u-4f1e0c0a9b8d7e6f5a4b3c2d", "/reset/"+Token)
	f("/email/verify/17/1f2e3d4c5b6a79880706f5e4d3c2b1a0f9e8d7c6", "/email/verify/"+Token)
	f("/reset/:token/x", "/reset/"+Token)
	f("/password/forgot", "/password/forgot")
	f("/auth/reset-password/Q2hhbmdlTWU", "/auth/reset-password/"+Token)
	// Built-in rules per segment.
	f("/u/victim@mail.com/settings", "/u/"+Email+"/settings")
	f("/orders/1234567", "/orders/"+ID)
	f("/files/550e8400-e29b-41d4-a716-446655440000.pdf", "/files/"+UUID+".pdf")
	f("/s/a8Kd93jfLq0PzX7vB2nM", "/s/"+Token)
	f("/ping/10.1.2.3", "/ping/"+IP)
	f("/a;jsessionid=x/", "/a")
	f("/;sid=1", "/")
	f("/cart;jsessionid=ABC", "/cart")
	// Double-encoded.
	f("/u/a%2540b.kz", "/u/"+Email)
	f("/a%252Fb", "/a/b")
	// Long paths: cut, then trimmed of the trailing slash the cut left.
	long := "/" + strings.Repeat("a", 300) + "/" + strings.Repeat("b", 300)
	f(long, "/"+strings.Repeat("a", 300)+"/"+strings.Repeat("b", 210))
	f("/"+strings.Repeat("a", 510)+"/b", "/"+strings.Repeat("a", 510))
	deep := strings.Repeat("/x", 40) + "/a@b.kz"
	f(deep, strings.Repeat("/x", 40)+"/"+Email)
}

func TestRefused(t *testing.T) {
	f := func(in string, want Reason) {
		t.Helper()
		if got, why := Value(in, 0); why != want || got != "" {
			t.Errorf("Value(%q) = %q, %q; want refused %q", in, got, why, want)
		}
		if got, why := Path("/"+in, nil, 0); why != want || got != "" {
			t.Errorf("Path(%q) = %q, %q; want refused %q", "/"+in, got, why, want)
		}
	}
	// The examples.
	f("<img src=x onerror=alert(1)>;jsessionid=SECRET123/reset/tok_ABCDEF", ReasonMarkup)
	f("sign\nup\t\x00", ReasonControl)
	f("a\tb", ReasonControl)
	f("a\x7fb", ReasonControl)
	f("a\u0085b", ReasonControl) // C1 next line
	f("a\u200bb", ReasonControl) // zero-width space
	f("a\u202eb", ReasonControl) // right-to-left override
	f("a\u2066b", ReasonControl) // left-to-right isolate
	f("a\ufeffb", ReasonControl)
	f("a\u2028b", ReasonControl)
	f("a>b", ReasonMarkup)
	f("%3Cscript%3E", ReasonMarkup)
	f("%253Cscript%253E", ReasonMarkup)
	f("a%0Ab", ReasonControl)
	f("a%250Ab", ReasonControl)
	f("\xff", ReasonEncoding)
	f("a%FFb", ReasonEncoding)
	f("a%"+strings.Repeat("25", 17)+"41", ReasonEncoding)
}

func TestHost(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := Host(in); got != want {
			t.Errorf("Host(%q) = %q; want %q", in, got, want)
		}
	}
	f("", "")
	f("google.com", "google.com")
	f("10.1.2.3", IP)
	f("2001:db8::1", IP)
	f("1password.com", "1password.com")
	f("999.1.1.1", "999.1.1.1")
}

func TestParsePattern(t *testing.T) {
	bad := func(in, want string) {
		t.Helper()
		_, err := ParsePattern(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePattern(%q) = %v; want an error with %q", in, err, want)
		}
	}
	bad("psychologist/:id", "must start with '/'")
	bad("/psychologist", "no placeholder")
	bad("/psychologist/", "empty segment")
	bad("//:id", "empty segment")
	bad("/a/:", "placeholder \":\"")
	bad("/a/:Id", "placeholder \":Id\"")
	bad("/a/:id-x", "placeholder")
	bad("/a?b/:id", "may not hold")
	bad("/a;b/:id", "may not hold")
	bad("/a b/:id", "may not hold")
	bad("/<b>/:id", "may not hold")
	bad("/a\x00/:id", "not plain text")
	bad("/a\u202e/:id", "not plain text")
	bad(strings.Repeat("/:a", 17), "at most 16")
	p, err := ParsePattern("/психолог/:id/:tab_2")
	if err != nil || p.String() != "/психолог/:id/:tab_2" {
		t.Errorf("ParsePattern = %v, %v", p, err)
	}
}

func mustRules(t testing.TB, patterns ...string) *Rules {
	t.Helper()
	var ps []Pattern
	for _, s := range patterns {
		p, err := ParsePattern(s)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return NewRules(ps)
}
