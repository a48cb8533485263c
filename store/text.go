package store

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// This file holds ClickHouse's text forms, shared by both drivers: the
// embedded one reads and writes TabSeparated, and the server one falls back
// to the text form for conversions the Row contract defines that way.

// dateTimeLayout parses "YYYY-MM-DD hh:mm:ss" with an optional fraction
// (DateTime64).
const dateTimeLayout = "2006-01-02 15:04:05.999999999"

// parseUintText parses a ClickHouse UInt text (also accepts a Bool's
// true/false, which is how 26.x prints Bool).
func parseUintText(s string) (uint64, bool) {
	switch s {
	case "true":
		return 1, true
	case "false":
		return 0, true
	}
	u, err := strconv.ParseUint(s, 10, 64)
	return u, err == nil
}

// parseIntText parses a ClickHouse Int text.
func parseIntText(s string) (int64, bool) {
	switch s {
	case "true":
		return 1, true
	case "false":
		return 0, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// parseFloatText parses a ClickHouse Float text; Go's parser already takes
// ClickHouse's inf, -inf and nan spellings.
func parseFloatText(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// parseTimeText parses a Date or DateTime text in loc (the column's time
// zone; UTC for this project's columns) and returns it in UTC.
func parseTimeText(s string, loc *time.Location) (time.Time, bool) {
	if loc == nil {
		loc = time.UTC
	}
	layout := dateTimeLayout
	if len(s) == len(time.DateOnly) {
		// A Date has no time zone: midnight UTC, whatever loc is.
		layout, loc = time.DateOnly, time.UTC
	}
	t, err := time.ParseInLocation(layout, s, loc)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// formatFloatText writes f the way ClickHouse's text parsers accept it.
func formatFloatText(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// appendTSVEscaped appends s escaped for a TabSeparated field: the
// separators and the escape character itself must not appear raw.
func appendTSVEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc byte
		switch s[i] {
		case '\\':
			esc = '\\'
		case '\t':
			esc = 't'
		case '\n':
			esc = 'n'
		case '\r':
			esc = 'r'
		case 0:
			esc = '0'
		default:
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, '\\', esc)
		start = i + 1
	}
	return append(b, s[start:]...)
}

// unescapeTSV undoes ClickHouse's TabSeparated escaping. Fields without a
// backslash (almost all) are returned as they are, without copying.
func unescapeTSV(s string) string {
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch c = s[i]; c {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case '0':
			b.WriteByte(0)
		case 'a':
			b.WriteByte('\a')
		case 'v':
			b.WriteByte('\v')
		case 'e':
			b.WriteByte(0x1b)
		default:
			// \\, \' and any escape ClickHouse may add later stand for
			// the character itself.
			b.WriteByte(c)
		}
	}
	return b.String()
}

// appendTSVValue appends one Insert value as a TabSeparated field. The
// error names the Go type only, never the value, since values may belong
// to a visitor.
func appendTSVValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, '\\', 'N'), nil
	case string:
		return appendTSVEscaped(b, v), nil
	case []byte:
		return appendTSVEscaped(b, string(v)), nil
	case bool:
		if v {
			return append(b, '1'), nil
		}
		return append(b, '0'), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int8:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int16:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int32:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case uint:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint8:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint16:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(b, v, 10), nil
	case float32:
		return append(b, formatFloatText(float64(v))...), nil
	case float64:
		return append(b, formatFloatText(v)...), nil
	case time.Time:
		// DateTime('UTC') columns: the text is read in the column's zone.
		return v.UTC().AppendFormat(b, time.DateTime), nil
	case Day:
		return appendDay(b, v), nil
	case []string:
		// An Array(String) field: ['a','b'], each element quoted as a
		// literal, the whole then escaped as a TabSeparated field.
		var arr []byte
		arr = append(arr, '[')
		for i, s := range v {
			if i > 0 {
				arr = append(arr, ',')
			}
			arr = append(arr, Quote(s)...)
		}
		arr = append(arr, ']')
		return appendTSVEscaped(b, string(arr)), nil
	}
	return b, fmt.Errorf("cannot write a %T value", v)
}

// appendDay writes YYYY-MM-DD without Day.String's allocation; inserts
// write one per event row.
func appendDay(b []byte, d Day) []byte {
	if d.Year < 0 || d.Year > 9999 || d.Month < 1 || d.Month > 12 || d.Day < 1 || d.Day > 31 {
		// Out of range for ClickHouse anyway: let it reject the
		// normalised text rather than write a malformed field.
		return append(b, d.String()...)
	}
	b = append(b, byte('0'+d.Year/1000), byte('0'+d.Year/100%10), byte('0'+d.Year/10%10), byte('0'+d.Year%10), '-')
	b = append(b, byte('0'+d.Month/10), byte('0'+d.Month%10), '-')
	return append(b, byte('0'+d.Day/10), byte('0'+d.Day%10))
}
