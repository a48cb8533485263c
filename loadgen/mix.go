package loadgen

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"strings"
)

// Mix says what share of requests has each property.
type Mix struct {
	Pixel   float64 // pixel GETs; the rest are beacon POSTs
	Bot     float64 // robot user agents (answered, never kept)
	IPv6    float64
	Consent float64 // carrying a sezim_consent cookie (not a valid one: counts anonymous)
	// Decisions are POST /consent bodies as the banner sends them, for a
	// site with a consent block whose policy version is
	// Options.PolicyVersion and whose purposes include statistics. They
	// are recorded in the consent log, not counted as events.
	Decisions float64
}

// DefaultMix is a plausible day of traffic.
var DefaultMix = Mix{Pixel: 0.3, Bot: 0.05, IPv6: 0.3, Consent: 0.4}

// ConsentMix is consent banners only: per visitor one "shown" and one
// choice, from many networks (so a per-network limit is not what is
// measured).
var ConsentMix = Mix{IPv6: 0.3, Decisions: 1}

// BannerTextHash is the text_hash the consent mix sends: the SHA-256 of a
// banner text, hex.
const BannerTextHash = "5e2f3c0a9b1d4e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7"

var choices = []string{`"action":"accept_all"`, `"action":"reject_all"`, `"action":"accept_all"`,
	`"action":"custom","purposes":["statistics"]`}

// request is one prepared request: everything is built before the run so
// the client spends its time sending, not formatting.
type request struct {
	post      bool
	uri       string
	origin    string
	body      []byte
	ua        string
	xff       string
	lang      string
	cookie    string
	countable bool // a kept event when acknowledged (not a robot)
	decision  bool // a consent decision: a consent log row when acknowledged
}

var browsers = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.%d Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:%d.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_%d like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 13; M2101K6G) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.0.0 YaBrowser/24.10.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.0.0 Safari/537.36 Edg/131.0.0.0",
}

var robots = []string{
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
	"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"curl/8.5.0",
	"python-requests/2.32.3",
}

var referrers = []string{
	"", "", "", "https://www.google.com/", "https://yandex.kz/search/?text=psychologist",
	"https://vk.com/", "https://t.me/", "https://www.instagram.com/", "https://mail.yandex.ru/",
	"https://news.example.kz/article/1",
}

var languages = []string{"ru-RU", "ru", "kk-KZ", "en-US", "en-GB", "kk"}

// prepare builds n requests for site, whose pages are on host, using seed;
// consent decisions name policyVersion.
func prepare(n int, site, host, policyVersion string, m Mix, seed uint64) []request {
	rng := rand.New(rand.NewPCG(seed, seed^0x5e21))
	zipf := rand.NewZipf(rng, 1.2, 1, 1999)
	out := make([]request, n)
	for i := range out {
		r := &out[i]
		bot := rng.Float64() < m.Bot
		if bot {
			r.ua = robots[rng.IntN(len(robots))]
		} else {
			r.ua = fmt.Sprintf(browsers[rng.IntN(len(browsers))], 100+rng.IntN(32))
		}
		r.countable = !bot
		r.xff = randomIP(rng, rng.Float64() < m.IPv6).String()
		r.lang = languages[rng.IntN(len(languages))]
		if rng.Float64() < m.Consent {
			r.cookie = fmt.Sprintf("sezim_consent=v1.%016x.%016x", rng.Uint64(), rng.Uint64())
		}
		page := fmt.Sprintf("https://%s/p/%d", host, zipf.Uint64())
		if rng.IntN(10) == 0 {
			page += "?utm_source=vk&utm_medium=social&utm_campaign=c" + fmt.Sprint(rng.IntN(20))
		}
		ref := referrers[rng.IntN(len(referrers))]
		if rng.Float64() < m.Decisions {
			// Half are the banner being shown, half a choice.
			action := `"action":"shown"`
			if rng.IntN(2) == 0 {
				action = choices[rng.IntN(len(choices))]
			}
			r.post, r.uri, r.origin, r.decision, r.countable = true, "/consent", "https://"+host, true, false
			r.body = fmt.Appendf(nil, `{"s":%q,%s,"lang":%q,"text_hash":%q,"policy_version":%q}`,
				site, action, []string{"ru", "kk", "en"}[rng.IntN(3)], BannerTextHash, policyVersion)
			continue
		}
		width := []int{390, 412, 768, 1280, 1440, 1920}[rng.IntN(6)]
		if rng.Float64() < m.Pixel {
			v := url.Values{"s": {site}, "u": {page}, "r": {ref}, "w": {fmt.Sprint(width)}, "l": {r.lang}}
			r.uri = "/p.gif?" + v.Encode()
		} else {
			r.post = true
			r.uri = "/e"
			r.body = fmt.Appendf(nil, `{"s":%q,"u":%q,"r":%q,"w":%d,"l":%q}`, site, page, ref, width, r.lang)
		}
	}
	return out
}

// randomIP returns a public-looking address (never one of the loopback or
// private ranges, so the collector treats it as a visitor's).
func randomIP(rng *rand.Rand, v6 bool) netip.Addr {
	if v6 {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], 0x2a00000000000000|rng.Uint64()>>8)
		binary.BigEndian.PutUint64(b[8:], rng.Uint64())
		return netip.AddrFrom16(b)
	}
	for {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], rng.Uint32())
		a := netip.AddrFrom4(b)
		if b[0] != 0 && b[0] < 224 && !a.IsPrivate() && !a.IsLoopback() && !strings.HasPrefix(a.String(), "169.254.") {
			return a
		}
	}
}
