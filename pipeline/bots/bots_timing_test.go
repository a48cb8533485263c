package bots

import "testing"

var sinkBot bool

func benchDetect(b *testing.B, ua string) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		sinkBot, _ = Detect(ua, true, true)
	}
}

func BenchmarkDetectChromeDesktop(b *testing.B) {
	benchDetect(b, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36")
}

func BenchmarkDetectYandexAndroid(b *testing.B) {
	benchDetect(b, "Mozilla/5.0 (Linux; arm_64; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/136.0.0.0 YaBrowser/25.6.3.79.00 SA/3 Mobile Safari/537.36")
}

func BenchmarkDetectInApp(b *testing.B) {
	benchDetect(b, humans[25])
}

func BenchmarkDetectGooglebot(b *testing.B) {
	benchDetect(b, "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
}

func BenchmarkDetectCurl(b *testing.B) {
	benchDetect(b, "curl/8.5.0")
}

// BenchmarkDetectMix cycles through every human UA in the tests, to keep the branch
// predictor honest.
func BenchmarkDetectMix(b *testing.B) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sinkBot, _ = Detect(humans[i%len(humans)], true, true)
		i++
	}
}
