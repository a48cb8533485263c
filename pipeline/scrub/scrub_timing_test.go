package scrub

import "testing"

var sinkS string

func benchPath(b *testing.B, p string, r *Rules) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		sinkS, _ = Path(p, r, 512)
	}
}

func benchValue(b *testing.B, v string) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		sinkS, _ = Value(v, 100)
	}
}

// The common case: a clean path, kept as it is.
func BenchmarkPathClean(b *testing.B) { benchPath(b, "/psychologists/anna-ivanova", nil) }

func BenchmarkPathCleanCyrillic(b *testing.B) {
	benchPath(b, "/психологи/алматы/семейная-терапия", nil)
}

func BenchmarkPathSitePatterns(b *testing.B) {
	r := mustRules(b, "/psychologist/:id", "/clinic/:clinic", "/:lang/blog/:post", "/articles/:slug/comments")
	benchPath(b, "/psychologists/anna-ivanova/reviews", r)
}

func BenchmarkPathSitePatternHit(b *testing.B) {
	r := mustRules(b, "/psychologist/:id", "/clinic/:clinic", "/:lang/blog/:post", "/articles/:slug/comments")
	benchPath(b, "/psychologist/123", r)
}

func BenchmarkPathReplaced(b *testing.B) {
	benchPath(b, "/account;jsessionid=SECRET123/reset/tok_ABCDEF", nil)
}

func BenchmarkPathEmail(b *testing.B) { benchPath(b, "/u/victim@mail.com/settings", nil) }

func BenchmarkValueClean(b *testing.B) { benchValue(b, "spring_sale") }

func BenchmarkValueEmail(b *testing.B) { benchValue(b, "victim@mail.com") }
