package bots

import "bytes"

// token is one entry of the compiled pattern list.
type token struct {
	s      string
	reason Reason
	// notAfter, when set, makes a match innocent if these bytes directly precede it.
	notAfter string
}

// matcher is the compiled form of the three token lists. A bitset over a hash of the first
// three bytes of every token rejects almost every position of a browser UA with one load
// and one test (a two-byte filter was tried first and was about twice as slow: "ht", "ch",
// "co", "ap" start tokens and are everywhere in browser UAs). Only positions that pass
// look their exact three-byte prefix up in a map and compare whole strings.
type matcher struct {
	filter  [1 << 16 / 64]uint64
	byStart map[uint32][]token
}

// trigram packs three bytes into one key; filterBit spreads it over the 64 Ki-bit filter.
func trigram(a, b, c byte) uint32 { return uint32(a)<<16 | uint32(b)<<8 | uint32(c) }

func filterBit(k uint32) uint32 { return (k * 0x9E3779B1) >> 16 }

var m = compile()

func compile() *matcher {
	m := &matcher{byStart: make(map[uint32][]token)}
	add := func(list []string, r Reason) {
		for _, s := range list {
			if len(s) < 3 || s != string(bytes.ToLower([]byte(s))) {
				panic("bots: token must be lower-case and at least 3 bytes: " + s)
			}
			t := token{s: s, reason: r}
			for _, fp := range falsePositives {
				if fp.token == s {
					t.notAfter = fp.before
				}
			}
			k := trigram(s[0], s[1], s[2])
			h := filterBit(k)
			m.filter[h/64] |= 1 << (h % 64)
			m.byStart[k] = append(m.byStart[k], t)
		}
	}
	// Headless and client tokens go first so that, say, "HeadlessChrome ... bot" reports
	// the more specific reason.
	add(headlessTokens, ReasonHeadless)
	add(clientTokens, ReasonHTTPClient)
	add(crawlerTokens, ReasonPattern)
	return m
}

// match returns the reason of the first token found in the lower-cased b, or ReasonNone.
// With overlapping matches at different positions the leftmost wins; at one position the
// list order (headless, client, crawler) decides.
func match(b []byte) Reason {
	for i := 0; i+2 < len(b); i++ {
		k := trigram(b[i], b[i+1], b[i+2])
		if h := filterBit(k); m.filter[h/64]&(1<<(h%64)) == 0 {
			continue
		}
		rest := b[i:]
		for _, t := range m.byStart[k] {
			if len(rest) < len(t.s) || string(rest[:len(t.s)]) != t.s {
				continue
			}
			if t.notAfter != "" && bytes.HasSuffix(b[:i], []byte(t.notAfter)) {
				continue
			}
			return t.reason
		}
	}
	return ReasonNone
}
