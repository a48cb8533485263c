package referrer

import "strings"

// Channels are the values Classify returns. They are stored: never rename one.
const (
	ChannelDirect   = "direct"   // no referrer and no campaign tags
	ChannelInternal = "internal" // a navigation within the site itself
	ChannelSearch   = "search"   // an organic search engine result
	ChannelSocial   = "social"   // a social network or messenger
	ChannelEmail    = "email"    // a webmail client or an e-mail campaign
	ChannelPaid     = "paid"     // an ad click (paid medium or ad click id)
	ChannelReferral = "referral" // any other site, or tagged traffic we cannot place
)

// Classify names the traffic channel of a pageview and the referrer's host (lower-case,
// without "www." and port; "" when there is none or it is the page's own host).
//
// The rules, first match wins:
//  1. utm_medium says paid (cpc, ppc, cpm, paid...) or the landing URL had an ad click
//     id (utm.PaidClick): paid.
//  2. utm_medium says e-mail, or the referrer is a webmail host: email.
//  3. A referrer on the page's own host: internal, refHost "" (unless tagged, see 4).
//     Counting these as direct would bury real direct visits under every internal click.
//  4. utm_medium "social"/"organic"/"referral": that channel.
//  5. The referrer host is a known search engine or social network: that channel; any
//     other referrer: referral.
//  6. No usable referrer but utm_source names a known engine or network: that channel;
//     another utm_source: referral. Nothing at all: direct.
//
// Android apps send "android-app://<package>/" referrers; known packages (Google app,
// Gmail, Telegram, VK...) are classified like their sites and refHost is the package.
func Classify(referrer, pageHost string, utm UTM) (refHost, channel string) {
	refHost, refScheme := referrerHost(referrer)
	if refHost != "" && refHost == pageHost {
		refHost = ""
		if utm == (UTM{}) {
			return "", ChannelInternal
		}
	}
	if utm.PaidClick || mediumPaid[utm.Medium] {
		return refHost, ChannelPaid
	}
	var hostChannel string
	if refHost != "" {
		if refScheme == "android-app" {
			hostChannel = androidApps[refHost]
		} else {
			hostChannel = lookupHost(refHost)
		}
	}
	if hostChannel == ChannelEmail || mediumEmail[utm.Medium] {
		return refHost, ChannelEmail
	}
	if ch := mediumChannel[utm.Medium]; ch != "" {
		return refHost, ch
	}
	if refHost != "" {
		if hostChannel == "" {
			hostChannel = ChannelReferral
		}
		return refHost, hostChannel
	}
	if utm.Source != "" {
		if ch := sourceNames[utm.Source]; ch != "" {
			return "", ch
		}
		if ch := lookupHost(utm.Source); ch != "" {
			return "", ch
		}
		return "", ChannelReferral
	}
	if utm != (UTM{}) {
		return "", ChannelReferral
	}
	return "", ChannelDirect
}

// referrerHost extracts the normalised host of an http(s) or android-app referrer; other
// or malformed referrers count as none.
func referrerHost(referrer string) (host, scheme string) {
	if referrer == "" {
		return "", ""
	}
	scheme, hostport, _, ok := splitURL(referrer)
	if !ok {
		return "", ""
	}
	switch scheme {
	case "http", "https":
		if h, ok := normalizeHost(hostport); ok {
			return h, scheme
		}
	case "android-app":
		// Package names are case-insensitive in practice and look like host names.
		if h, ok := normalizeHost(hostport); ok && strings.Contains(h, ".") {
			return h, scheme
		}
	}
	return "", ""
}

// lookupHost classifies a normalised host: first by the longest known domain suffix
// ("l.facebook.com" → "facebook.com"), then by the brand label that search engines use
// with many country domains ("google.kz", "yandex.com.tr").
func lookupHost(host string) string {
	for h := host; ; {
		if ch, ok := knownDomains[h]; ok {
			return ch
		}
		i := strings.IndexByte(h, '.')
		if i < 0 {
			break
		}
		h = h[i+1:]
	}
	brand, tail, ok := strings.Cut(host, ".")
	if !ok || !countryTail(tail) {
		return ""
	}
	return brandDomains[brand]
}

// countryTail accepts the public suffixes brands use per country: "kz", "com", "co.uk",
// "com.tr" (one or two labels, each at most three letters).
func countryTail(tail string) bool {
	first, second, two := strings.Cut(tail, ".")
	if len(first) == 0 || len(first) > 3 || (two && (len(second) == 0 || len(second) > 3)) {
		return false
	}
	return !strings.Contains(second, ".")
}
