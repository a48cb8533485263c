package referrer

import "testing"

var (
	sinkS   string
	sinkUTM UTM
	sinkOK  bool
)

func benchParsePage(b *testing.B, raw string) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		sinkS, sinkS, sinkUTM, sinkOK = ParsePage(raw, 0)
	}
	if !sinkOK {
		b.Fatal("rejected")
	}
}

func BenchmarkParsePagePlain(b *testing.B) {
	benchParsePage(b, "https://sez.im/psychologists/anna-ivanova")
}

func BenchmarkParsePageUTM(b *testing.B) {
	benchParsePage(b, "https://www.sez.im/landing/?utm_source=google&utm_medium=cpc&utm_campaign=spring_sale&gclid=EAIaIQobChMI8abc")
}

func BenchmarkParsePageCyrillic(b *testing.B) {
	benchParsePage(b, "https://sez.im/%D0%BF%D1%81%D0%B8%D1%85%D0%BE%D0%BB%D0%BE%D0%B3%D0%B8/?utm_term=%D0%BF%D1%81%D0%B8%D1%85%D0%BE%D0%BB%D0%BE%D0%B3")
}

func benchClassify(b *testing.B, ref string, utm UTM) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		sinkS, sinkS = Classify(ref, "sez.im", utm)
	}
}

func BenchmarkClassifySearch(b *testing.B) {
	benchClassify(b, "https://www.google.kz/", UTM{})
}

func BenchmarkClassifySocial(b *testing.B) {
	benchClassify(b, "https://l.instagram.com/?u=https%3A%2F%2Fsez.im%2F", UTM{})
}

func BenchmarkClassifyReferral(b *testing.B) {
	benchClassify(b, "https://blog.example.com/2025/10/therapy-online", UTM{})
}

func BenchmarkClassifyInternal(b *testing.B) {
	benchClassify(b, "https://sez.im/psychologists", UTM{})
}

func BenchmarkClassifyPaid(b *testing.B) {
	benchClassify(b, "https://yandex.ru/", UTM{Source: "yandex", Medium: "cpc"})
}

func BenchmarkScreenClass(b *testing.B) {
	b.ReportAllocs()
	w := 0
	for b.Loop() {
		sinkS = ScreenClass(w & 4095)
		w += 97
	}
}

func BenchmarkLanguage(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkS = Language("", "ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7,kk;q=0.6")
	}
}
