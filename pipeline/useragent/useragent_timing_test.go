package useragent

import "testing"

var sinkInfo Info

func benchParse(b *testing.B, s string) {
	b.Helper()
	Init()
	b.ReportAllocs()
	for b.Loop() {
		sinkInfo = Parse(s)
	}
}

func BenchmarkParseChromeDesktop(b *testing.B) {
	benchParse(b, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36")
}

func BenchmarkParseSafariIPhone(b *testing.B) {
	benchParse(b, "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1")
}

func BenchmarkParseYandexAndroid(b *testing.B) {
	benchParse(b, "Mozilla/5.0 (Linux; arm_64; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/136.0.0.0 YaBrowser/25.6.3.79.00 SA/3 Mobile Safari/537.36")
}

func BenchmarkParseBot(b *testing.B) {
	benchParse(b, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
}
