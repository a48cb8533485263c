package referrer

import "strings"

// Screen classes ScreenClass returns. The breakpoints follow the common CSS framework
// grid (576/992 px) plus two desktop steps, so a dashboard reads like a designer thinks.
const (
	ScreenMobile  = "mobile"  // < 576 px
	ScreenTablet  = "tablet"  // < 992 px
	ScreenLaptop  = "laptop"  // < 1440 px
	ScreenDesktop = "desktop" // < 2560 px
	ScreenWide    = "wide"    // ≥ 2560 px
)

// maxScreen is wider than any real display (8K is 7680 CSS px at 1×); larger values are
// forged and count as unknown rather than wide.
const maxScreen = 16384

// ScreenClass buckets a screen width in CSS pixels; "" when the width is unknown (≤ 0) or
// implausible. Buckets instead of exact widths keep the dimension small and make it
// useless for fingerprinting.
func ScreenClass(width int) string {
	switch {
	case width <= 0 || width > maxScreen:
		return ""
	case width < 576:
		return ScreenMobile
	case width < 992:
		return ScreenTablet
	case width < 1440:
		return ScreenLaptop
	case width < 2560:
		return ScreenDesktop
	default:
		return ScreenWide
	}
}

// Language returns the primary language subtag ("ru", "kk", "en", "fil") of the
// browser's language: navigator.language when the tracker sent a valid one, else the
// Accept-Language entry with the highest weight. It is lower-case, 2–3 letters, or ""
// when neither holds a usable tag ("*", "x-klingon", garbage). The result never shares
// memory with the arguments, so it is safe with reused header buffers.
func Language(navigatorLang, acceptLanguage string) string {
	if l := primaryTag(navigatorLang); l != "" {
		return l
	}
	best, bestQ := "", -1
	for rest := acceptLanguage; rest != ""; {
		var item string
		item, rest, _ = strings.Cut(rest, ",")
		tag, params, _ := strings.Cut(item, ";")
		l := primaryTag(tag)
		if l == "" {
			continue
		}
		q := qValue(params)
		if q > bestQ { // strictly greater: on ties the earlier entry wins, as browsers order them
			best, bestQ = l, q
		}
	}
	if bestQ <= 0 {
		return "" // no tag, or only q=0 ("not acceptable") ones
	}
	return best
}

// primaryTag extracts and interns the primary subtag of a BCP 47 tag ("ru-KZ", "kk_KZ").
func primaryTag(tag string) string {
	tag = strings.TrimSpace(tag)
	if i := strings.IndexAny(tag, "-_"); i >= 0 {
		tag = tag[:i]
	}
	if len(tag) < 2 || len(tag) > 3 {
		return ""
	}
	var b [3]byte
	for i := 0; i < len(tag); i++ {
		c := tag[i] | 0x20 // ASCII lower-case; non-letters are rejected below
		if c < 'a' || c > 'z' {
			return ""
		}
		b[i] = c
	}
	if len(tag) == 2 {
		// Two-letter codes come from a static table: no allocation, no aliasing.
		i := (int(b[0]-'a')*26 + int(b[1]-'a')) * 2
		return twoLetter[i : i+2]
	}
	return string(b[:3])
}

// twoLetter holds every pair "aa" … "zz" back to back, so primaryTag can return a slice.
var twoLetter = func() string {
	var sb strings.Builder
	for a := byte('a'); a <= 'z'; a++ {
		for b := byte('a'); b <= 'z'; b++ {
			sb.WriteByte(a)
			sb.WriteByte(b)
		}
	}
	return sb.String()
}()

// qValue parses the weight of an Accept-Language entry as thousandths ("q=0.8" → 800);
// absent or malformed weights count as 1000, the default in RFC 9110.
func qValue(params string) int {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		p = strings.TrimSpace(p)
		if len(p) < 3 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=' {
			continue
		}
		v := p[2:]
		switch {
		case v == "1" || strings.HasPrefix(v, "1."):
			return 1000
		case v == "0":
			return 0
		case strings.HasPrefix(v, "0."):
			q, scale := 0, 100
			for i := 2; i < len(v) && i < 5; i++ {
				if v[i] < '0' || v[i] > '9' {
					return 1000
				}
				q += int(v[i]-'0') * scale
				scale /= 10
			}
			return q
		default:
			return 1000
		}
	}
	return 1000
}
