package loadgen

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/sezim-analytics/sezim/event"
)

// EventGen makes a site's stored events with realistic cardinalities, for
// the benchmarks of the rollup and the dashboards: 5,000 paths and 300
// referrers (Zipf), 30 countries, browsers with versions, OS, devices,
// screens, 15 languages, UTM campaigns on a tenth of the visits, 10 custom
// events; visits of 1–10 pageviews. It is deterministic and not safe for
// concurrent use.
type EventGen struct {
	// Paths are the pages, the most visited first.
	Paths []string

	site                               string
	rng                                *rand.Rand
	path, ref, country, campaign, lang *rand.Zipf
	refs, countries, campaigns         []string
	langs                              []string
}

// NewEventGen returns a generator of events of the site with id site.
func NewEventGen(site string) *EventGen {
	rng := rand.New(rand.NewPCG(10, 20))
	g := &EventGen{rng: rng, site: site}
	for i := range 5000 {
		g.Paths = append(g.Paths, fmt.Sprintf("/%s/%d", []string{"psychologists", "articles", "tests", "help"}[i%4], i))
	}
	g.Paths[0] = "/"
	for i := range 300 {
		g.refs = append(g.refs, fmt.Sprintf("site%d.example", i))
	}
	copy(g.refs, []string{"google.com", "yandex.ru", "vk.com", "t.me", "instagram.com", "facebook.com", "bing.com", "mail.ru"})
	g.countries = strings.Fields("KZ RU UZ KG US DE TR CN GB FR AE IN UA BY AZ GE AM TJ TM PL IT ES NL CA KR JP IL CZ LT LV")
	for i := range 50 {
		g.campaigns = append(g.campaigns, fmt.Sprintf("campaign-%d", i))
	}
	g.langs = strings.Fields("ru kk en uz ky de tr zh fr ar hi uk be az ka")
	g.path = rand.NewZipf(rng, 1.1, 1, uint64(len(g.Paths)-1))
	g.ref = rand.NewZipf(rng, 1.2, 1, uint64(len(g.refs)-1))
	g.country = rand.NewZipf(rng, 1.3, 1, uint64(len(g.countries)-1))
	g.campaign = rand.NewZipf(rng, 1.1, 1, uint64(len(g.campaigns)-1))
	g.lang = rand.NewZipf(rng, 1.5, 1, uint64(len(g.langs)-1))
	return g
}

func channelOf(ref string) string {
	switch ref {
	case "":
		return "direct"
	case "google.com", "yandex.ru", "bing.com":
		return "search"
	case "vk.com", "t.me", "instagram.com", "facebook.com":
		return "social"
	case "mail.ru":
		return "email"
	}
	return "referral"
}

// Day makes about n events of one salt day, ordered by nothing in
// particular (ClickHouse sorts them).
func (g *EventGen) Day(saltDay time.Time, n int) []event.Event {
	rng := g.rng
	out := make([]event.Event, 0, n+16)
	browsers := []struct{ name, os string }{{"Chrome", "Windows"}, {"Chrome", "Android"}, {"Safari", "iOS"}, {"Safari", "macOS"},
		{"Firefox", "Windows"}, {"Edge", "Windows"}, {"Yandex Browser", "Android"}, {"Opera", "Windows"}, {"Samsung Internet", "Android"}, {"Chrome", "Linux"}}
	devices := map[string]string{"Android": "mobile", "iOS": "mobile", "Windows": "desktop", "macOS": "desktop", "Linux": "desktop"}
	screens := map[string]string{"mobile": "small", "desktop": "large", "tablet": "medium"}
	names := []string{"signup", "book", "pay", "search", "contact", "download", "share", "play", "subscribe", "call"}
	for len(out) < n {
		visitor := rng.Uint64()
		ref := ""
		if rng.IntN(10) >= 4 {
			ref = g.refs[g.ref.Uint64()]
		}
		b := browsers[rng.IntN(len(browsers))]
		device := devices[b.os]
		if b.os == "Android" && rng.IntN(8) == 0 {
			device = "tablet"
		}
		base := event.Event{SiteID: g.site, SaltDay: saltDay, Visitor: visitor, Kind: event.KindPageview,
			RefHost: ref, Channel: channelOf(ref), Country: g.countries[g.country.Uint64()],
			Browser: b.name, BrowserVersion: uint16(100 + rng.IntN(30)), OS: b.os, Device: device, Screen: screens[device],
			Language: g.langs[g.lang.Uint64()]}
		if rng.IntN(10) == 0 {
			base.UTMSource = []string{"newsletter", "vk", "telegram", "yandex", "google"}[rng.IntN(5)]
			base.UTMMedium = []string{"email", "social", "cpc", "banner"}[rng.IntN(4)]
			base.UTMCampaign = g.campaigns[g.campaign.Uint64()]
			if base.UTMMedium == "cpc" {
				base.Channel = "paid"
			}
		}
		// One or two visits a day, most in the daytime of Asia/Almaty.
		for range 1 + rng.IntN(5)/4 {
			sec := (rng.IntN(16*3600) + 2*3600 + rng.IntN(6*3600)) % 86400
			at := saltDay.Add(time.Duration(sec) * time.Second)
			pages := 1 + rng.IntN(10)
			for i := range pages {
				e := base
				e.Time = at
				e.Path = g.Paths[g.path.Uint64()]
				out = append(out, e)
				if rng.IntN(12) == 0 {
					c := e
					c.Kind, c.Name = event.KindCustom, names[rng.IntN(len(names))]
					c.Time = at.Add(5 * time.Second)
					out = append(out, c)
				}
				at = at.Add(time.Duration(10+rng.IntN(170)) * time.Second)
				if at.Sub(saltDay) >= 24*time.Hour {
					break
				}
				_ = i
			}
		}
	}
	return out
}
