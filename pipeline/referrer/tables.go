package referrer

// The tables below are hand-written from the public domain names of the services; they
// are data, kept apart from the rules in classify.go so that adding a site is one line.

// mediumPaid are utm_medium values that mean an ad was paid for.
var mediumPaid = map[string]bool{
	"cpc": true, "ppc": true, "cpm": true, "cpv": true, "cpa": true, "cpp": true,
	"paid": true, "paidsearch": true, "paid_search": true, "paid-search": true,
	"paidsocial": true, "paid_social": true, "paid-social": true,
	"display": true, "banner": true, "retargeting": true, "remarketing": true,
	"ads": true, "ad": true, "adwords": true, "context": true, // "context": Yandex Direct's contextual ads
}

// mediumEmail are utm_medium values used by e-mail campaigns.
var mediumEmail = map[string]bool{
	"email": true, "e-mail": true, "e_mail": true, "mail": true, "newsletter": true,
	"mailing": true, "rassylka": true, // transliterated Russian "рассылка" (mailing)
}

// mediumChannel maps the remaining self-describing utm_medium values.
var mediumChannel = map[string]string{
	"social": ChannelSocial, "social-network": ChannelSocial, "social_network": ChannelSocial,
	"sm": ChannelSocial, "smm": ChannelSocial, "messenger": ChannelSocial,
	"organic": ChannelSearch, "seo": ChannelSearch,
	"referral": ChannelReferral, "partner": ChannelReferral, "affiliate": ChannelReferral,
}

// knownDomains maps a domain (and, through lookupHost, all its subdomains) to a channel.
// Webmail hosts sit next to their parent portals; the longest suffix wins.
var knownDomains = map[string]string{
	// Search engines.
	"bing.com":         ChannelSearch,
	"duckduckgo.com":   ChannelSearch,
	"go.mail.ru":       ChannelSearch,
	"search.yahoo.com": ChannelSearch,
	"baidu.com":        ChannelSearch,
	"ecosia.org":       ChannelSearch,
	"search.brave.com": ChannelSearch,
	"startpage.com":    ChannelSearch,
	"qwant.com":        ChannelSearch,
	"ya.ru":            ChannelSearch,
	"nova.rambler.ru":  ChannelSearch,
	"naver.com":        ChannelSearch,
	"seznam.cz":        ChannelSearch,
	"perplexity.ai":    ChannelSearch,
	"chatgpt.com":      ChannelSearch, // AI answers with links behave like search results
	// Webmail.
	"mail.yandex.ru":        ChannelEmail,
	"mail.yandex.kz":        ChannelEmail,
	"mail.yandex.com":       ChannelEmail,
	"mail.yandex.by":        ChannelEmail,
	"360.yandex.ru":         ChannelEmail,
	"e.mail.ru":             ChannelEmail,
	"touch.mail.ru":         ChannelEmail,
	"mail.google.com":       ChannelEmail,
	"outlook.live.com":      ChannelEmail,
	"outlook.office.com":    ChannelEmail,
	"outlook.office365.com": ChannelEmail,
	"mail.yahoo.com":        ChannelEmail,
	"mail.rambler.ru":       ChannelEmail,
	"mail.proton.me":        ChannelEmail,
	"icloud.com":            ChannelEmail,
	// Social networks, video and messengers.
	"vk.com":        ChannelSocial,
	"vk.ru":         ChannelSocial,
	"vk.me":         ChannelSocial,
	"ok.ru":         ChannelSocial,
	"t.me":          ChannelSocial,
	"telegram.org":  ChannelSocial,
	"telegram.me":   ChannelSocial,
	"instagram.com": ChannelSocial,
	"facebook.com":  ChannelSocial,
	"fb.com":        ChannelSocial,
	"x.com":         ChannelSocial,
	"twitter.com":   ChannelSocial,
	"t.co":          ChannelSocial,
	"youtube.com":   ChannelSocial,
	"youtu.be":      ChannelSocial,
	"tiktok.com":    ChannelSocial,
	"linkedin.com":  ChannelSocial,
	"lnkd.in":       ChannelSocial,
	"threads.net":   ChannelSocial,
	"threads.com":   ChannelSocial,
	"dzen.ru":       ChannelSocial,
	"zen.yandex.ru": ChannelSocial,
	"pinterest.com": ChannelSocial,
	"pin.it":        ChannelSocial,
	"reddit.com":    ChannelSocial,
	"wa.me":         ChannelSocial,
	"whatsapp.com":  ChannelSocial,
	"max.ru":        ChannelSocial,
	"rutube.ru":     ChannelSocial,
	"my.mail.ru":    ChannelSocial,
}

// brandDomains are brands that run the same service on many country domains:
// "google.kz", "google.co.uk", "yandex.com.tr", "pinterest.de".
var brandDomains = map[string]string{
	"google":    ChannelSearch,
	"yandex":    ChannelSearch,
	"bing":      ChannelSearch,
	"yahoo":     ChannelSearch,
	"ecosia":    ChannelSearch,
	"rambler":   ChannelSearch,
	"pinterest": ChannelSocial,
	"facebook":  ChannelSocial,
	"instagram": ChannelSocial,
}

// androidApps maps the package names Android apps send as android-app:// referrers.
var androidApps = map[string]string{
	"com.google.android.googlequicksearchbox": ChannelSearch,
	"ru.yandex.searchplugin":                  ChannelSearch,
	"com.google.android.gm":                   ChannelEmail,
	"ru.mail.mailapp":                         ChannelEmail,
	"ru.yandex.mail":                          ChannelEmail,
	"com.microsoft.office.outlook":            ChannelEmail,
	"org.telegram.messenger":                  ChannelSocial,
	"org.telegram.messenger.web":              ChannelSocial,
	"com.vkontakte.android":                   ChannelSocial,
	"ru.ok.android":                           ChannelSocial,
	"com.instagram.android":                   ChannelSocial,
	"com.facebook.katana":                     ChannelSocial,
	"com.twitter.android":                     ChannelSocial,
	"com.linkedin.android":                    ChannelSocial,
	"com.zhiliaoapp.musically":                ChannelSocial, // TikTok
	"com.whatsapp":                            ChannelSocial,
	"com.google.android.youtube":              ChannelSocial,
	"com.reddit.frontpage":                    ChannelSocial,
	"com.pinterest":                           ChannelSocial,
	"ru.oneme.app":                            ChannelSocial, // MAX messenger
}

// sourceNames maps common utm_source spellings to channels, for tagged links opened
// without a referrer (apps, messengers, e-mail clients strip it).
var sourceNames = map[string]string{
	"google": ChannelSearch, "yandex": ChannelSearch, "bing": ChannelSearch,
	"duckduckgo": ChannelSearch, "yahoo": ChannelSearch, "baidu": ChannelSearch,
	"ecosia": ChannelSearch, "brave": ChannelSearch, "mail.ru": ChannelSearch, "rambler": ChannelSearch,
	"vk": ChannelSocial, "vkontakte": ChannelSocial, "ok": ChannelSocial, "odnoklassniki": ChannelSocial,
	"telegram": ChannelSocial, "tg": ChannelSocial, "instagram": ChannelSocial, "ig": ChannelSocial,
	"facebook": ChannelSocial, "fb": ChannelSocial, "twitter": ChannelSocial, "x": ChannelSocial,
	"youtube": ChannelSocial, "yt": ChannelSocial, "tiktok": ChannelSocial, "linkedin": ChannelSocial,
	"threads": ChannelSocial, "dzen": ChannelSocial, "zen": ChannelSocial, "pinterest": ChannelSocial,
	"reddit": ChannelSocial, "whatsapp": ChannelSocial, "wa": ChannelSocial, "max": ChannelSocial,
	"email": ChannelEmail, "newsletter": ChannelEmail, "mailchimp": ChannelEmail,
	"sendpulse": ChannelEmail, "unisender": ChannelEmail, "gmail": ChannelEmail,
}
