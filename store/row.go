package store

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// colInfo is what a Row needs to know about a result column beyond its
// values: whether it is a Date (no zone) and the zone of a DateTime.
type colInfo struct {
	date bool           // Date or Date32
	loc  *time.Location // zone of a DateTime column; UTC when none is named
}

// colInfoOf reads a ClickHouse type name such as "DateTime('UTC')",
// "Nullable(Date)" or "String".
func colInfoOf(typ string) colInfo {
	typ = strings.TrimPrefix(typ, "Nullable(")
	typ = strings.TrimPrefix(typ, "LowCardinality(")
	switch {
	case strings.HasPrefix(typ, "Date32"), strings.HasPrefix(typ, "Date") && !strings.HasPrefix(typ, "DateTime"):
		return colInfo{date: true, loc: time.UTC}
	case strings.HasPrefix(typ, "DateTime"):
		if i := strings.IndexByte(typ, '\''); i >= 0 {
			if j := strings.IndexByte(typ[i+1:], '\''); j >= 0 {
				return colInfo{loc: loadLocation(typ[i+1 : i+1+j])}
			}
		}
	}
	return colInfo{loc: time.UTC}
}

var locations sync.Map // zone name → *time.Location

// loadLocation caches time.LoadLocation, which reads a file each call; an
// unknown zone falls back to UTC, this project's only zone.
func loadLocation(name string) *time.Location {
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		l = time.UTC
	}
	locations.Store(name, l)
	return l
}

// convErr records the first failed conversion of a row so that Query can
// return it once fn is done; the Row interface has no error results. It
// names the column and the wanted type, never the value.
type convErr struct{ err error }

func (c *convErr) fail(i int, want string) {
	if c.err == nil {
		c.err = fmt.Errorf("cannot read column %d as %s", i, want)
	}
}

// textRow is a row of a TabSeparated result (embedded driver). Fields are
// already unescaped; a NULL is the raw field \N.
type textRow struct {
	fields []string
	null   []bool
	cols   []colInfo
	convErr
}

func (r *textRow) Len() int { return len(r.fields) }

func (r *textRow) String(i int) string { return r.fields[i] }

func (r *textRow) Uint64(i int) uint64 {
	if r.null[i] {
		return 0
	}
	u, ok := parseUintText(r.fields[i])
	if !ok {
		r.fail(i, "uint64")
	}
	return u
}

func (r *textRow) Int64(i int) int64 {
	if r.null[i] {
		return 0
	}
	n, ok := parseIntText(r.fields[i])
	if !ok {
		r.fail(i, "int64")
	}
	return n
}

func (r *textRow) Float64(i int) float64 {
	if r.null[i] {
		return 0
	}
	f, ok := parseFloatText(r.fields[i])
	if !ok {
		r.fail(i, "float64")
	}
	return f
}

func (r *textRow) Time(i int) time.Time {
	if r.null[i] {
		return time.Time{}
	}
	t, ok := parseTimeText(r.fields[i], r.cols[i].loc)
	if !ok {
		r.fail(i, "time")
	}
	return t
}

// valueRow is a row scanned by clickhouse-go (server driver): dest holds
// one pointer per column, of the column's scan type, reused across rows.
// Matching types convert directly; anything else goes through the
// column's text form so both drivers agree.
type valueRow struct {
	dest []any
	cols []colInfo
	convErr
}

func (r *valueRow) Len() int { return len(r.dest) }

// value dereferences column i; a NULL of a Nullable column is nil.
func (r *valueRow) value(i int) any {
	switch d := r.dest[i].(type) {
	case *string:
		return *d
	case *uint64:
		return *d
	case *time.Time:
		return *d
	}
	v := reflect.ValueOf(r.dest[i]).Elem()
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	return v.Interface()
}

func (r *valueRow) String(i int) string {
	if d, ok := r.dest[i].(*string); ok {
		return *d
	}
	switch v := r.value(i).(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	case time.Time:
		if r.cols[i].date {
			return v.Format(time.DateOnly)
		}
		return v.In(r.cols[i].loc).Format(dateTimeLayout)
	case float32:
		return formatFloatText(float64(v))
	case float64:
		return formatFloatText(v)
	case fmt.Stringer:
		return v.String()
	default:
		return fmt.Sprint(v)
	}
}

func (r *valueRow) Uint64(i int) uint64 {
	switch d := r.dest[i].(type) {
	case *uint64:
		return *d
	case *uint32:
		return uint64(*d)
	case *uint16:
		return uint64(*d)
	case *uint8:
		return uint64(*d)
	}
	switch v := r.value(i).(type) {
	case nil:
		return 0
	case int64, int32, int16, int8, int:
		n := reflect.ValueOf(v).Int()
		if n < 0 {
			r.fail(i, "uint64")
			return 0
		}
		return uint64(n)
	}
	u, ok := parseUintText(r.String(i))
	if !ok {
		r.fail(i, "uint64")
	}
	return u
}

func (r *valueRow) Int64(i int) int64 {
	switch d := r.dest[i].(type) {
	case *int64:
		return *d
	case *int32:
		return int64(*d)
	case *int16:
		return int64(*d)
	case *int8:
		return int64(*d)
	case *uint8:
		return int64(*d)
	case *uint16:
		return int64(*d)
	case *uint32:
		return int64(*d)
	case *uint64:
		if *d > math.MaxInt64 {
			r.fail(i, "int64")
			return 0
		}
		return int64(*d)
	}
	if r.value(i) == nil {
		return 0
	}
	n, ok := parseIntText(r.String(i))
	if !ok {
		r.fail(i, "int64")
	}
	return n
}

func (r *valueRow) Float64(i int) float64 {
	switch v := r.value(i).(type) {
	case nil:
		return 0
	case float64:
		return v
	case float32:
		return float64(v)
	case uint64, uint32, uint16, uint8:
		return float64(reflect.ValueOf(v).Uint())
	case int64, int32, int16, int8:
		return float64(reflect.ValueOf(v).Int())
	}
	f, ok := parseFloatText(r.String(i))
	if !ok {
		r.fail(i, "float64")
	}
	return f
}

func (r *valueRow) Time(i int) time.Time {
	switch v := r.value(i).(type) {
	case nil:
		return time.Time{}
	case time.Time:
		if r.cols[i].date {
			return DayOf(v).Time()
		}
		return v.UTC()
	}
	t, ok := parseTimeText(r.String(i), r.cols[i].loc)
	if !ok {
		r.fail(i, "time")
	}
	return t
}
