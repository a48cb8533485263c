package bots

import (
	"strings"
	"testing"
)

// humans are real-looking browser UAs, desktop and mobile, that must never be dropped.
var humans = []string{
	// Chrome.
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.0.0 Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/136.0.0.0 Safari/537.36",
	"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/138.0.7204.119 Mobile/15E148 Safari/604.1",
	// Firefox.
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0",
	"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:139.0) Gecko/20100101 Firefox/139.0",
	"Mozilla/5.0 (Android 15; Mobile; rv:140.0) Gecko/140.0 Firefox/140.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/140.0 Mobile/15E148 Safari/605.1.15",
	// Safari.
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (iPad; CPU OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
	// Edge.
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36 Edg/138.0.3351.65",
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Mobile Safari/537.36 EdgA/138.0.0.0",
	// Opera.
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 Safari/537.36 OPR/119.0.0.0",
	"Opera/9.80 (Android; Opera Mini/36.2.2254/191.249; U; ru) Presto/2.12.423 Version/12.16",
	// Yandex Browser and the Yandex search app.
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/136.0.0.0 YaBrowser/25.6.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 YaBrowser/25.4.0.0 Yowser/2.5 Safari/537.36",
	"Mozilla/5.0 (Linux; arm_64; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/136.0.0.0 YaBrowser/25.6.3.79.00 SA/3 Mobile Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 YaBrowser/25.6.4.530.10 SA/3 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; arm_64; Android 13; 2201117TY) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 YaApp_Android/25.61.1 YaSearchBrowser/25.61.1 BroPP/1.0 SA/3 Mobile Safari/537.36",
	// Samsung Internet.
	"Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Safari/537.36",
	// In-app browsers are people too.
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 385.0.0.26.91 (iPhone15,2; iOS 18_5; ru_RU; ru; scale=3.00; 1179x2556; 742365198)",
	"Mozilla/5.0 (Linux; Android 14; 23106RN0DA Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/138.0.7204.63 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/520.0.0.50.83;]",
	"Mozilla/5.0 (Linux; Android 12; M2101K6G Build/SKQ1.210908.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/137.0.7151.115 Mobile Safari/537.36 Telegram-Android/11.12.0 (Xiaomi M2101K6G; Android 12; SDK 31; AVERAGE)",
	// A phone whose brand contains "bot".
	"Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
	// Old but human.
	"Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
	"Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1; Trident/6.0)",
}

func TestDetectHumans(t *testing.T) {
	for _, ua := range humans {
		if bot, reason := Detect(ua, true, true); bot || reason != ReasonNone {
			t.Errorf("Detect(%q) = %v, %q; want human", ua, bot, reason)
		}
	}
}

func TestDetect(t *testing.T) {
	f := func(ua string, want bool, wantReason Reason) {
		t.Helper()
		bot, reason := Detect(ua, true, true)
		if bot != want || reason != wantReason {
			t.Errorf("Detect(%q) = %v, %q; want %v, %q", ua, bot, reason, want, wantReason)
		}
	}
	// AI crawlers and agents.
	f("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)", true, ReasonPattern)
	f("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot", true, ReasonPattern)
	f("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; OAI-SearchBot/1.0; +https://openai.com/searchbot", true, ReasonPattern)
	f("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)", true, ReasonPattern)
	f("anthropic-ai", true, ReasonPattern)
	f("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)", true, ReasonPattern)
	f("CCBot/2.0 (https://commoncrawl.org/faq/)", true, ReasonPattern)
	f("Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)", true, ReasonPattern)
	f("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 (compatible; Amazonbot/0.1)", true, ReasonPattern)
	f("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1)", true, ReasonPattern)
	f("meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)", true, ReasonPattern)
	// Search engines, Yandex's many robots included.
	f("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", true, ReasonPattern)
	f("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Mobile Safari/537.36 (compatible; Googlebot/2.1)", true, ReasonPattern)
	f("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36", true, ReasonPattern)
	f("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", true, ReasonPattern)
	f("Mozilla/5.0 (compatible; YandexImages/3.0)", true, ReasonPattern)
	f("Mozilla/5.0 (compatible; YandexMetrika/2.0)", true, ReasonPattern)
	f("Mozilla/5.0 (compatible; YandexDirect/3.0)", true, ReasonPattern)
	f("Mozilla/5.0 (compatible; YandexWebmaster/2.0)", true, ReasonPattern)
	f("Mozilla/5.0 (compatible; YandexFavicons/1.0)", true, ReasonPattern)
	f("Mozilla/5.0 (iPhone; CPU iPhone OS 15_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.4 Mobile/15E148 Safari/604.1 (compatible; YandexMobileBot/3.0)", true, ReasonPattern)
	f("Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)", true, ReasonPattern)
	f("DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)", true, ReasonPattern)
	f("Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)", true, ReasonPattern)
	f("Mozilla/5.0 (compatible; Linux x86_64; Mail.RU_Bot/2.0)", true, ReasonPattern)
	f("StackRambler/2.0 (MSIE incompatible)", true, ReasonPattern)
	// SEO crawlers.
	f("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", true, ReasonPattern)
	f("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", true, ReasonPattern)
	f("Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)", true, ReasonPattern)
	f("Mozilla/5.0 (compatible; DotBot/1.2)", true, ReasonPattern)
	f("Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)", true, ReasonPattern)
	f("Screaming Frog SEO Spider/20.0", true, ReasonPattern)
	// Link previews.
	f("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", true, ReasonPattern)
	f("Twitterbot/1.0", true, ReasonPattern)
	f("TelegramBot (like TwitterBot)", true, ReasonPattern)
	f("WhatsApp/2.23.20.0 A", true, ReasonPattern)
	f("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", true, ReasonPattern)
	f("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", true, ReasonPattern)
	f("LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)", true, ReasonPattern)
	f("Mozilla/5.0 (compatible; vkShare; +http://vk.com/dev/Share)", true, ReasonPattern)
	// Monitors.
	f("Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", true, ReasonPattern)
	f("Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)", true, ReasonPattern)
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 StatusCake", true, ReasonPattern)
	f("Uptime-Kuma/1.23.16", true, ReasonPattern)
	f("kube-probe/1.30", true, ReasonPattern)
	// HTTP libraries and tools.
	f("curl/8.5.0", true, ReasonHTTPClient)
	f("Wget/1.21.4", true, ReasonHTTPClient)
	f("python-requests/2.32.3", true, ReasonHTTPClient)
	f("Python-urllib/3.12", true, ReasonHTTPClient)
	f("Go-http-client/2.0", true, ReasonHTTPClient)
	f("okhttp/4.12.0", true, ReasonHTTPClient)
	f("Java/17.0.11", true, ReasonHTTPClient)
	f("libwww-perl/6.72", true, ReasonHTTPClient)
	f("Apache-HttpClient/4.5.14 (Java/17.0.2)", true, ReasonHTTPClient)
	f("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", true, ReasonHTTPClient)
	f("axios/1.7.7", true, ReasonHTTPClient)
	f("PostmanRuntime/7.42.0", true, ReasonHTTPClient)
	f("Scrapy/2.11.2 (+https://scrapy.org)", true, ReasonHTTPClient)
	f("MyApp/5.2 CFNetwork/1494.0.7 Darwin/23.4.0", true, ReasonHTTPClient)
	f("Dalvik/2.1.0 (Linux; U; Android 13; SM-A536B Build/TP1A.220624.014)", true, ReasonHTTPClient)
	// Headless and automated browsers.
	f("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/138.0.0.0 Safari/537.36", true, ReasonHeadless)
	f("Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1", true, ReasonHeadless)
	f("Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse", true, ReasonHeadless)
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Cypress/13.6.0 Chrome/118.0.5993.159 Electron/27.1.3 Safari/537.36", true, ReasonHeadless)
	// Heuristics.
	f("", true, ReasonEmptyUA)
	f("Mozilla/5.0", true, ReasonTooShort)
	f("Mozilla/5.0 (Windows NT 10.0)", true, ReasonTooShort)
	f("SomeApp/1.0 (Windows NT 10.0; Win64; x64) Thing/2.0", true, ReasonNotBrowser)
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\nX-Injected: 1 AppleWebKit/537.36", true, ReasonInvalid)
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) "+strings.Repeat("A", 1100), true, ReasonTooLong)
	// Case does not matter.
	f("MOZILLA/5.0 (COMPATIBLE; GOOGLEBOT/2.1)", true, ReasonPattern)
	f("mozilla/5.0 (compatible; yandexbot/3.0)", true, ReasonPattern)
}

func TestDetectHeaders(t *testing.T) {
	f := func(ua string, accept, lang bool, want bool, wantReason Reason) {
		t.Helper()
		bot, reason := Detect(ua, accept, lang)
		if bot != want || reason != wantReason {
			t.Errorf("Detect(%q, %v, %v) = %v, %q; want %v, %q", ua, accept, lang, bot, reason, want, wantReason)
		}
	}
	chrome := humans[0]
	f(chrome, true, true, false, ReasonNone)
	f(chrome, true, false, true, ReasonNoBrowserHeaders)
	f(chrome, false, true, true, ReasonNoBrowserHeaders)
	f(chrome, false, false, true, ReasonNoBrowserHeaders)
	// A declared bot keeps its more precise reason whatever its headers.
	f("curl/8.5.0", false, false, true, ReasonHTTPClient)
	f("", false, false, true, ReasonEmptyUA)
}

func TestReasonsClosed(t *testing.T) {
	seen := map[Reason]bool{}
	for _, r := range Reasons() {
		if r == ReasonNone || seen[r] {
			t.Fatalf("Reasons() has empty or duplicate %q", r)
		}
		seen[r] = true
	}
}
