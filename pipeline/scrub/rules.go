package scrub

import (
	"net/netip"
	"strings"
)

// Byte classes, looked up once per byte on the hot path.
const (
	cDigit = 1 << iota
	cHex
	cAlpha
	cWord  // a token's characters: letters, digits, '_', '-'
	cAddr  // an e-mail address's: letters, digits, ".%+-_'@", and UTF-8
	cSep   // what may sit between the digit groups of a phone number
	cLoud  // a byte some rule starts from: digits, '@', ':'
	cCheck // a byte check looks at: controls, markup, '%', lead bytes of invisible runes
)

var class = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		switch {
		case '0' <= b && b <= '9':
			t[c] |= cDigit | cHex | cWord | cAddr
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z':
			t[c] |= cAlpha | cWord | cAddr
			if 'a' <= b|0x20 && b|0x20 <= 'f' {
				t[c] |= cHex
			}
		case b >= 0x80:
			t[c] |= cAddr
		}
	}
	for _, b := range []byte("_-") {
		t[b] |= cWord
	}
	for _, b := range []byte(".%+-_'@") {
		t[b] |= cAddr
	}
	for _, b := range []byte(" -.()") {
		t[b] |= cSep
	}
	for _, b := range []byte("0123456789@:") {
		t[b] |= cLoud
	}
	for c := 0; c < ' '; c++ {
		t[c] |= cCheck
	}
	// The invisible runes (see invisible) are U+0080–U+009F (lead 0xC2),
	// U+2000–U+206F (0xE2), U+FEFF and U+FFF9–U+FFFB (0xEF) and the tag
	// characters (0xF3).
	for _, b := range []byte{0x7f, '<', '>', '%', 0xc2, 0xe2, 0xef, 0xf3} {
		t[b] |= cCheck
	}
	return t
}()

func is(c byte, k uint8) bool { return class[c]&k != 0 }

func isHex(c byte) bool   { return is(c, cHex) }
func isDigit(c byte) bool { return is(c, cDigit) }
func isAlnum(c byte) bool { return is(c, cDigit|cAlpha) }

// runEnd returns the end of the run of bytes of class k starting at i.
func runEnd(s string, i int, k uint8) int {
	for i < len(s) && is(s[i], k) {
		i++
	}
	return i
}

// quiet reports that no rule can match in s: it has no digit, '@' or ':',
// no word of 16 characters or more, and no word with both '_' and a
// capital (a prefixed token). Most paths and values are quiet, and this
// one pass is all they cost.
func quiet(s string) bool {
	word, under, upper := 0, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		k := class[c]
		if k&cLoud != 0 {
			return false
		}
		if k&cWord == 0 {
			word, under, upper = 0, false, false
			continue
		}
		if word++; word >= 16 {
			return false
		}
		under = under || c == '_'
		upper = upper || ('A' <= c && c <= 'Z')
		if under && upper {
			return false
		}
	}
	return true
}

// rewriteText appends s to dst with every personal or secret shape
// replaced by its placeholder, and reports whether anything was replaced.
// At each position the rules are tried in a fixed order: e-mail (the whole
// run of address characters), UUID and token (the whole word), IPv6, IPv4,
// then digit sequences (cards, phones, long runs).
func rewriteText(dst []byte, s string) ([]byte, bool) {
	if quiet(s) {
		return append(dst, s...), false
	}
	hasAt := strings.IndexByte(s, '@') >= 0
	hasColon := strings.IndexByte(s, ':') >= 0
	last, digitsDone, changed := 0, 0, false
	for i := 0; i < len(s); {
		c := s[i]
		end, ph := 0, ""
		if hasAt && is(c, cAddr) && (i == 0 || !is(s[i-1], cAddr)) {
			if e := runEnd(s, i, cAddr); isEmail(s[i:e]) {
				end, ph = e, Email
			}
		}
		if ph == "" && is(c, cWord) && (i == 0 || !is(s[i-1], cWord)) {
			e := runEnd(s, i, cWord)
			if ph = wordPlaceholder(s[i:e]); ph != "" {
				end = e
			}
		}
		if ph == "" && hasColon && (isHex(c) || c == ':') && (i == 0 || !(isAlnum(s[i-1]) || s[i-1] == ':' || s[i-1] == '.')) {
			end = ipv6At(s, i)
			if end > i {
				ph = IP
			}
		}
		if ph == "" && isDigit(c) && (i == 0 || !(isDigit(s[i-1]) || s[i-1] == '.')) {
			if e := ipv4At(s, i); e > i {
				end, ph = e, IP
			}
		}
		if ph == "" && (isDigit(c) || c == '+' || c == '(') && i >= digitsDone && (i == 0 || !isDigit(s[i-1])) {
			if e, p := digitsAt(s, i); e > i {
				digitsDone = e
				end, ph = e, p
			}
		}
		if ph == "" {
			i++
			continue
		}
		dst = append(dst, s[last:i]...)
		dst = append(dst, ph...)
		last, i, changed = end, end, true
	}
	if !changed {
		return append(dst, s...), false
	}
	return append(dst, s[last:]...), true
}

// isEmail reports whether a run of address characters holds an address:
// an '@' with a character before it and, after it (up to the next '@'), a
// '.' that has a character before it and two letters or digits after it.
// The whole run is then replaced: whatever is glued to an address is part
// of it.
func isEmail(run string) bool {
	for i := 1; i < len(run); i++ {
		if run[i] != '@' {
			continue
		}
		dom := run[i+1:]
		if j := strings.IndexByte(dom, '@'); j >= 0 {
			dom = dom[:j]
		}
		for k := 1; k+2 < len(dom); k++ {
			if dom[k] == '.' && isAlnumOrUTF8(dom[k+1]) && isAlnumOrUTF8(dom[k+2]) {
				return true
			}
		}
	}
	return false
}

func isAlnumOrUTF8(c byte) bool { return isAlnum(c) || c >= 0x80 }

// wordPlaceholder classifies a whole word (a run of letters, digits, '_'
// and '-'): a UUID, or a token. Anything else is left for the digit rules.
func wordPlaceholder(w string) string {
	if len(w) == 36 && isUUID(w) {
		return UUID
	}
	if len(w) >= 16 && isRandom(w) {
		return Token
	}
	if isPrefixedToken(w) {
		return Token
	}
	return ""
}

func isUUID(w string) bool {
	for i := 0; i < 36; i++ {
		switch i {
		case 8, 13, 18, 23:
			if w[i] != '-' {
				return false
			}
		default:
			if !isHex(w[i]) {
				return false
			}
		}
	}
	return true
}

// isRandom tells a secret from a slug. A slug is words joined by '-' or
// '_' ("how-to-choose-a-psychologist-2024") and changes between lower
// case, upper case and digits only at its separators, or rarely
// ("iPhone15ProMax"); random base64 changes class at about two of three
// characters and random hex at about half. So a word of 16 or more is a
// token when at least a third of its neighbouring characters change class,
// when it is all hex with a digit and a letter (all digits is a number,
// for the digit rules), or when an unbroken run of 24 or more
// letters and digits mixes the two.
func isRandom(w string) bool {
	n, changes, hexOnly, hasDigit, hexLetter := 0, 0, true, false, false
	piece, pieceDigit, pieceAlpha := 0, false, false
	prev := byte(0) // class of the previous character in the piece: 0 none
	for i := 0; i < len(w); i++ {
		c := w[i]
		var k byte
		switch {
		case isDigit(c):
			k, hasDigit, pieceDigit = 1, true, true
		case 'a' <= c && c <= 'z':
			k, pieceAlpha = 2, true
		case 'A' <= c && c <= 'Z':
			k, pieceAlpha = 3, true
		default: // '_' or '-': a separator ends the piece
			hexOnly = false
			prev, piece, pieceDigit, pieceAlpha = 0, 0, false, false
			continue
		}
		if !isHex(c) {
			hexOnly = false
		} else if k != 1 {
			hexLetter = true
		}
		n++
		piece++
		if prev != 0 && prev != k {
			changes++
		}
		prev = k
		if piece >= 24 && pieceDigit && pieceAlpha {
			return true
		}
	}
	return n >= 16 && (changes*3 >= n || (hexOnly && hasDigit && hexLetter))
}

// isPrefixedToken recognises keys with a type prefix, as payment and API
// providers issue them: "tok_", "sk_live_", "pi_" and the like, followed by
// six or more letters and digits of which at least two are capitals or
// digits ("tok_ABCDEF", "sk_live_4eC39HqLyjWD"), so "about_company" stays.
func isPrefixedToken(w string) bool {
	rest := w
	for parts := 0; parts < 2; parts++ {
		j := 0
		for j < len(rest) && 'a' <= rest[j] && rest[j] <= 'z' {
			j++
		}
		if j < 2 || j > 8 || j >= len(rest) || rest[j] != '_' {
			break
		}
		rest = rest[j+1:]
		tail, strong := 0, 0
		for tail < len(rest) && isAlnum(rest[tail]) {
			if c := rest[tail]; isDigit(c) || ('A' <= c && c <= 'Z') {
				strong++
			}
			tail++
		}
		if tail == len(rest) && tail >= 6 && strong >= 2 {
			return true
		}
	}
	return false
}

// ipv6At returns the end of an IPv6 address starting at i (two colons at
// least, ending where letters and digits end), or i.
func ipv6At(s string, i int) int {
	e, colons := i, 0
	for e < len(s) && (isHex(s[e]) || s[e] == ':' || s[e] == '.') {
		if s[e] == ':' {
			colons++
		}
		e++
	}
	if colons < 2 || (e < len(s) && isAlnum(s[e])) {
		return i
	}
	if _, err := netip.ParseAddr(s[i:e]); err != nil {
		return i
	}
	return e
}

// ipv4At returns the end of a dotted IPv4 address starting at i, or i.
// "1.2.3.4.5" and "1.2.3.4a" are not addresses.
func ipv4At(s string, i int) int {
	e := i
	for part := 0; part < 4; part++ {
		if part > 0 {
			if e >= len(s) || s[e] != '.' {
				return i
			}
			e++
		}
		v, n := 0, 0
		for e < len(s) && isDigit(s[e]) && n < 4 {
			v = v*10 + int(s[e]-'0')
			e++
			n++
		}
		if n == 0 || n > 3 || v > 255 {
			return i
		}
	}
	if e < len(s) && (isAlnum(s[e]) || (s[e] == '.' && e+1 < len(s) && isDigit(s[e+1]))) {
		return i
	}
	return e
}

// digitsAt looks at the digit sequence starting at i: digit groups joined
// by at most two of " -.()", with an optional leading '+' or '('. It
// returns the end of what is replaced and its placeholder, or i:
//
//   - 13 to 19 digits passing the Luhn check: :card;
//   - a leading '+' and 7 to 15 digits, or 10 to 15 digits in groups: :phone;
//   - six digits in a row, or nine in groups: :id (order and account
//     numbers, dates of birth with time, tax ids, integer addresses).
//
// Shorter numbers (years, dates, page numbers, "/psychologist/123") stay:
// a site names its own ids with a pattern.
func digitsAt(s string, i int) (int, string) {
	j, plus := i, false
	if s[j] == '+' || s[j] == '(' {
		if i > 0 && isAlnum(s[i-1]) {
			return i, ""
		}
		plus = s[j] == '+'
		j++
		if j < len(s) && s[j] == '(' && plus {
			j++
		}
	}
	if j >= len(s) || !isDigit(s[j]) {
		return i, ""
	}
	digits, groups, longest, run, end := 0, 0, 0, 0, j
	var luhn [19]byte
	for j < len(s) {
		if isDigit(s[j]) {
			if digits < len(luhn) {
				luhn[digits] = s[j] - '0'
			}
			digits++
			run++
			j++
			end = j
			continue
		}
		groups++
		longest = max(longest, run)
		run = 0
		k := j
		for k < len(s) && k-j < 2 && is(s[k], cSep) {
			k++
		}
		if k == j || k >= len(s) || !isDigit(s[k]) {
			break
		}
		j = k
	}
	if run > 0 {
		groups++
		longest = max(longest, run)
	}
	switch {
	case digits >= 13 && digits <= 19 && luhnValid(luhn[:digits]):
		return end, Card
	case plus && digits >= 7 && digits <= 15, groups > 1 && digits >= 10 && digits <= 15:
		return end, Phone
	case longest >= 6 || (groups > 1 && digits >= 9):
		return end, ID
	}
	return end, "" // the caller skips the whole sequence: no part of it matches either
}

func luhnValid(d []byte) bool {
	sum := 0
	for i := range d {
		v := int(d[len(d)-1-i])
		if i%2 == 1 {
			if v *= 2; v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}
