package sessionlog

import (
	"bytes"
	"fmt"
	"testing"
)

// benchLines makes n varied, real-looking lines in format f.
func benchLines(f Format, n int) [][]byte {
	uas := []string{chromeUA,
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}
	out := make([][]byte, n)
	for i := range out {
		ua := uas[i%len(uas)]
		if f == FormatCombined {
			out[i] = fmt.Appendf(nil, `203.0.%d.%d - - [24/Nov/2026:15:%02d:%02d +0500] "GET /psychologists/%d?utm_source=vk HTTP/1.1" 200 %d "https://www.google.com/" "%s"`,
				i%250, i%200, i%60, i%60, i%500, 1000+i, ua)
		} else {
			out[i] = fmt.Appendf(nil, `{"time":"2026-11-24T15:%02d:%02d+05:00","ip":"203.0.%d.%d","method":"GET","url":"/psychologists/%d?utm_source=vk","status":200,"user_agent":"%s","referrer":"https://www.google.com/","accept_language":"ru-RU,ru;q=0.9"}`,
				i%60, i%60, i%250, i%200, i%500, ua)
		}
	}
	return out
}

func benchParse(b *testing.B, f Format) {
	lines := benchLines(f, 1024)
	var p Parser
	var r Record
	size := 0
	for _, l := range lines {
		size += len(l) + 1
	}
	b.SetBytes(int64(size / len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.Parse(f, lines[i%len(lines)], &r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

func BenchmarkParseCombined(b *testing.B) { benchParse(b, FormatCombined) }
func BenchmarkParseNDJSON(b *testing.B)   { benchParse(b, FormatNDJSON) }

// BenchmarkSplitAndParse includes finding the lines in a batch body.
func BenchmarkSplitAndParse(b *testing.B) {
	body := bytes.Join(benchLines(FormatCombined, 10_000), []byte("\n"))
	var p Parser
	var r Record
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	lines := 0
	for i := 0; i < b.N; i++ {
		rest := body
		for len(rest) > 0 {
			j := bytes.IndexByte(rest, '\n')
			if j < 0 {
				j = len(rest)
			}
			if err := p.Combined(rest[:j], &r); err != nil {
				b.Fatal(err)
			}
			lines++
			rest = rest[min(j+1, len(rest)):]
		}
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
}
