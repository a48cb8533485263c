package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These benchmarks justify the embedded driver's text formats: they
// compare TabSeparated with the JSON formats for 100k events, both ways.
// Run: go test -run '^$' -bench 'ChdbFormat' ./store/

var fmtCols = []string{"salt_day", "site", "ts", "visitor", "kind", "name", "path", "country", "browser_version"}

func fmtRows(n int) [][]any {
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{
			Day{2024, time.May, 1 + i%3}, "site", time.Unix(1714550400+int64(i), 0).UTC(),
			uint64(1<<63) + uint64(i), uint8(i), "pageview\tx", "/blog/пост-" + strconv.Itoa(i), "KG", uint16(i),
		}
	}
	return rows
}

func fmtSession(b *testing.B) *chdbStore {
	if os.Getenv("CHDB_LIB_PATH") == "" {
		b.Skip("CHDB_LIB_PATH not set")
	}
	s, err := OpenEmbedded(b.TempDir(), DefaultNames.WithPrefix("fmtbench_"))
	if err != nil {
		b.Skip(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	c := s.(*chdbStore)
	ctx := context.Background()
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS fmtbench",
		"CREATE TABLE IF NOT EXISTS fmtbench.e (salt_day Date, site String, ts DateTime('UTC'), visitor UInt64, kind UInt8, name String, path String, country String, browser_version UInt16) ENGINE = MergeTree PARTITION BY salt_day ORDER BY (site, visitor, ts)",
	} {
		if err := c.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

// buildJSONInsert is the JSONEachRow alternative to buildTSVInsert.
func buildJSONInsert(table string, cols []string, rows [][]any) string {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "INSERT INTO %s (%s) FORMAT JSONEachRow\n", table, strings.Join(cols, ", "))
	for _, row := range rows {
		buf.WriteByte('{')
		for i, v := range row {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(strconv.Quote(cols[i]))
			buf.WriteByte(':')
			switch v := v.(type) {
			case time.Time:
				v2, _ := json.Marshal(v.Format(time.DateTime))
				buf.Write(v2)
			case Day:
				v2, _ := json.Marshal(v.String())
				buf.Write(v2)
			default:
				v2, _ := json.Marshal(v)
				buf.Write(v2)
			}
		}
		buf.WriteString("}\n")
	}
	buf.WriteByte(0)
	return buf.String()
}

func BenchmarkChdbFormatInsert(b *testing.B) {
	c := fmtSession(b)
	rows := fmtRows(100_000)
	ctx := context.Background()
	for _, f := range []string{"TabSeparated", "JSONEachRow"} {
		b.Run(f, func(b *testing.B) {
			for b.Loop() {
				var q string
				if f == "TabSeparated" {
					var err error
					if q, err = buildTSVInsert("fmtbench.e", fmtCols, rows); err != nil {
						b.Fatal(err)
					}
				} else {
					q = buildJSONInsert("fmtbench.e", fmtCols, rows)
				}
				if err := c.run(ctx, q, "TabSeparated", nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(rows))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
		// The engine's share alone: the same text, built once.
		b.Run(f+"/engine-only", func(b *testing.B) {
			q := buildJSONInsert("fmtbench.e", fmtCols, rows)
			if f == "TabSeparated" {
				q, _ = buildTSVInsert("fmtbench.e", fmtCols, rows)
			}
			for b.Loop() {
				if err := c.run(ctx, q, "TabSeparated", nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(rows))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

func BenchmarkChdbFormatQuery(b *testing.B) {
	c := fmtSession(b)
	rows := fmtRows(100_000)
	ctx := context.Background()
	q, err := buildTSVInsert("fmtbench.e", fmtCols, rows)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.run(ctx, q, "TabSeparated", nil); err != nil {
		b.Fatal(err)
	}
	sel := "SELECT " + strings.Join(fmtCols, ", ") + " FROM fmtbench.e"
	b.Run("TabSeparatedWithNamesAndTypes", func(b *testing.B) {
		for b.Loop() {
			n := 0
			err := c.run(ctx, sel, queryFormat, func(buf []byte) error {
				return parseTSVResult(string(buf), func(r Row) error {
					_, _, _ = r.String(6), r.Uint64(3), r.Time(2)
					n++
					return nil
				})
			})
			if err != nil || n != len(rows) {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("JSONCompactEachRow", func(b *testing.B) {
		for b.Loop() {
			n := 0
			err := c.run(ctx, sel, "JSONCompactEachRow", func(buf []byte) error {
				sc := bufio.NewScanner(bytes.NewReader(buf))
				sc.Buffer(nil, 1<<20)
				var vals []any
				for sc.Scan() {
					vals = vals[:0]
					d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
					d.UseNumber()
					if err := d.Decode(&vals); err != nil {
						return err
					}
					_, _ = vals[6].(string), vals[3].(json.Number)
					if _, err := time.Parse(time.DateTime, vals[2].(string)); err != nil {
						return err
					}
					n++
				}
				return sc.Err()
			})
			if err != nil || n != len(rows) {
				b.Fatal(n, err)
			}
		}
	})
}
