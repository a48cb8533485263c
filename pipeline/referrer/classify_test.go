package referrer

import "testing"

func TestClassify(t *testing.T) {
	f := func(ref, page string, utm UTM, wantHost, wantChannel string) {
		t.Helper()
		host, ch := Classify(ref, page, utm)
		if host != wantHost || ch != wantChannel {
			t.Errorf("Classify(%q, %q, %+v) = %q, %q; want %q, %q", ref, page, utm, host, ch, wantHost, wantChannel)
		}
	}
	none := UTM{}
	// Direct and internal.
	f("", "sez.im", none, "", ChannelDirect)
	f("https://sez.im/psychologists", "sez.im", none, "", ChannelInternal)
	f("https://www.sez.im:443/", "sez.im", none, "", ChannelInternal)
	f("https://app.sez.im/", "sez.im", none, "app.sez.im", ChannelReferral) // other host: referral
	// Malformed or non-web referrers count as none.
	f("javascript:void(0)", "sez.im", none, "", ChannelDirect)
	f("about:blank", "sez.im", none, "", ChannelDirect)
	f("not a url", "sez.im", none, "", ChannelDirect)
	f("data:text/html,hi", "sez.im", none, "", ChannelDirect)
	// Search engines, on many country domains.
	f("https://www.google.com/", "sez.im", none, "google.com", ChannelSearch)
	f("https://www.google.kz/", "sez.im", none, "google.kz", ChannelSearch)
	f("https://www.google.co.uk/", "sez.im", none, "google.co.uk", ChannelSearch)
	f("https://yandex.ru/search/?text=психолог", "sez.im", none, "yandex.ru", ChannelSearch)
	f("https://yandex.kz/", "sez.im", none, "yandex.kz", ChannelSearch)
	f("https://yandex.com.tr/", "sez.im", none, "yandex.com.tr", ChannelSearch)
	f("https://ya.ru/", "sez.im", none, "ya.ru", ChannelSearch)
	f("https://www.bing.com/search?q=x", "sez.im", none, "bing.com", ChannelSearch)
	f("https://duckduckgo.com/", "sez.im", none, "duckduckgo.com", ChannelSearch)
	f("https://go.mail.ru/search?q=x", "sez.im", none, "go.mail.ru", ChannelSearch)
	f("https://nova.rambler.ru/search?query=x", "sez.im", none, "nova.rambler.ru", ChannelSearch)
	f("https://search.yahoo.com/", "sez.im", none, "search.yahoo.com", ChannelSearch)
	f("https://www.baidu.com/", "sez.im", none, "baidu.com", ChannelSearch)
	f("https://www.ecosia.org/", "sez.im", none, "ecosia.org", ChannelSearch)
	f("https://search.brave.com/search?q=x", "sez.im", none, "search.brave.com", ChannelSearch)
	// Not search although on a search brand's domain.
	f("https://docs.google.com/document/d/1", "sez.im", none, "docs.google.com", ChannelReferral)
	f("https://music.yandex.ru/", "sez.im", none, "music.yandex.ru", ChannelReferral)
	f("https://google.example.com/", "sez.im", none, "google.example.com", ChannelReferral)
	// Social networks and messengers.
	f("https://vk.com/away.php", "sez.im", none, "vk.com", ChannelSocial)
	f("https://m.vk.com/", "sez.im", none, "m.vk.com", ChannelSocial)
	f("https://ok.ru/", "sez.im", none, "ok.ru", ChannelSocial)
	f("https://t.me/sezim", "sez.im", none, "t.me", ChannelSocial)
	f("https://web.telegram.org/", "sez.im", none, "web.telegram.org", ChannelSocial)
	f("https://l.instagram.com/", "sez.im", none, "l.instagram.com", ChannelSocial)
	f("https://lm.facebook.com/", "sez.im", none, "lm.facebook.com", ChannelSocial)
	f("https://x.com/", "sez.im", none, "x.com", ChannelSocial)
	f("https://t.co/abc", "sez.im", none, "t.co", ChannelSocial)
	f("https://twitter.com/", "sez.im", none, "twitter.com", ChannelSocial)
	f("https://www.youtube.com/", "sez.im", none, "youtube.com", ChannelSocial)
	f("https://www.tiktok.com/", "sez.im", none, "tiktok.com", ChannelSocial)
	f("https://www.linkedin.com/", "sez.im", none, "linkedin.com", ChannelSocial)
	f("https://www.threads.net/", "sez.im", none, "threads.net", ChannelSocial)
	f("https://dzen.ru/", "sez.im", none, "dzen.ru", ChannelSocial)
	f("https://zen.yandex.ru/", "sez.im", none, "zen.yandex.ru", ChannelSocial)
	f("https://www.pinterest.de/", "sez.im", none, "pinterest.de", ChannelSocial)
	f("https://out.reddit.com/", "sez.im", none, "out.reddit.com", ChannelSocial)
	// Webmail.
	f("https://mail.yandex.ru/", "sez.im", none, "mail.yandex.ru", ChannelEmail)
	f("https://e.mail.ru/inbox", "sez.im", none, "e.mail.ru", ChannelEmail)
	f("https://mail.google.com/mail/u/0/", "sez.im", none, "mail.google.com", ChannelEmail)
	f("https://outlook.live.com/", "sez.im", none, "outlook.live.com", ChannelEmail)
	// Other sites: referral, with port and www stripped.
	f("https://www.Example.KZ:8443/post/1", "sez.im", none, "example.kz", ChannelReferral)
	f("http://[2001:db8::1]:8080/", "sez.im", none, "2001:db8::1", ChannelReferral)
	// Paid beats everything, including a search referrer.
	f("https://www.google.com/", "sez.im", UTM{Source: "google", Medium: "cpc"}, "google.com", ChannelPaid)
	f("https://yandex.ru/", "sez.im", UTM{PaidClick: true}, "yandex.ru", ChannelPaid)
	f("", "sez.im", UTM{Medium: "ppc"}, "", ChannelPaid)
	f("https://vk.com/", "sez.im", UTM{Medium: "paid_social"}, "vk.com", ChannelPaid)
	// E-mail campaigns.
	f("", "sez.im", UTM{Source: "mailchimp", Medium: "email"}, "", ChannelEmail)
	f("https://example.org/", "sez.im", UTM{Medium: "newsletter"}, "example.org", ChannelEmail)
	// Tags without a referrer (apps strip it).
	f("", "sez.im", UTM{Source: "telegram"}, "", ChannelSocial)
	f("", "sez.im", UTM{Source: "vk", Medium: "social"}, "", ChannelSocial)
	f("", "sez.im", UTM{Source: "yandex"}, "", ChannelSearch)
	f("", "sez.im", UTM{Source: "t.me"}, "", ChannelSocial)
	f("", "sez.im", UTM{Source: "partner-site"}, "", ChannelReferral)
	f("", "sez.im", UTM{Campaign: "spring"}, "", ChannelReferral)
	f("https://example.org/", "sez.im", UTM{Medium: "social"}, "example.org", ChannelSocial)
	// A tagged internal link is classified by its tags, without a referrer host.
	f("https://sez.im/blog", "sez.im", UTM{Source: "vk"}, "", ChannelSocial)
	// Android apps.
	f("android-app://com.google.android.googlequicksearchbox/", "sez.im", none, "com.google.android.googlequicksearchbox", ChannelSearch)
	f("android-app://com.google.android.gm/", "sez.im", none, "com.google.android.gm", ChannelEmail)
	f("android-app://org.telegram.messenger/", "sez.im", none, "org.telegram.messenger", ChannelSocial)
	f("android-app://com.example.someapp/", "sez.im", none, "com.example.someapp", ChannelReferral)
}
