// Package store owns everything that talks to ClickHouse: the schema and its
// migrations, the two drivers (a ClickHouse server over the native protocol,
// and the embedded chDB engine), and small helpers to build SQL safely.
// Every query the project runs goes through the Store interface, and the same
// SQL runs unchanged on ClickHouse 18.16 and on current versions.
package store

import (
	"context"
	"time"
)

// Store is one connection to ClickHouse, server or embedded.
type Store interface {
	// Exec runs a statement that returns no rows.
	Exec(ctx context.Context, query string) error
	// Query runs a SELECT and calls fn once per row, in order. fn's Row is
	// valid only during the call.
	Query(ctx context.Context, query string, fn func(Row) error) error
	// Insert writes rows into db.table naming the columns. Each row holds
	// one value per column: string, bool, int*/uint* (any width), float64,
	// time.Time (for DateTime columns, written in UTC) or Day (for Date).
	Insert(ctx context.Context, table string, cols []string, rows [][]any) error
	// Ping checks the store answers.
	Ping(ctx context.Context) error
	// Version is the ClickHouse version string, e.g. "18.16.1" or "26.7.3.1".
	Version(ctx context.Context) (string, error)
	// Engine is "clickhouse" or "chdb".
	Engine() string
	// DB names the databases (see Names).
	DB() Names
	// Close releases the connection.
	Close() error
}

// Row is one result row. Columns are addressed by position; conversions
// follow ClickHouse's text form, so a query that wants a type should cast
// (toUInt64, toString, toFloat64) rather than rely on the driver.
type Row interface {
	Len() int
	String(i int) string
	Uint64(i int) uint64
	Int64(i int) int64
	Float64(i int) float64
	// Time reads a DateTime (UTC) or Date column.
	Time(i int) time.Time
}

// Names are the database names. Tests use a prefix to keep suites apart on
// one server or one embedded session.
type Names struct {
	Stats      string // aggregates and anonymous data only
	Identified string // consented per-visitor rows, consent log, subject requests
	// Staff holds the staff accounts, tokens, sessions and the audit log:
	// what the dashboards must read and write to sign staff in. It is a
	// database of its own because ClickHouse 18.16's users.xml grants
	// whole databases only, and the dashboards' user must not reach
	// Identified.
	Staff string
}

// DefaultNames are the production database names.
var DefaultNames = Names{Stats: "sezim_stats", Identified: "sezim_identified", Staff: "sezim_staff"}

// WithPrefix returns names with prefix prepended ("t1_" → "t1_sezim_stats").
func (n Names) WithPrefix(prefix string) Names {
	return Names{Stats: prefix + n.Stats, Identified: prefix + n.Identified, Staff: prefix + n.Staff}
}

// All lists the databases, stats first.
func (n Names) All() []string { return []string{n.Stats, n.Identified, n.Staff} }

// Day is a calendar date for a Date column, free of time zones.
type Day struct {
	Year  int
	Month time.Month
	Day   int
}

// DayOf returns the calendar date of t in t's location.
func DayOf(t time.Time) Day {
	y, m, d := t.Date()
	return Day{y, m, d}
}

// String formats the day as YYYY-MM-DD, ClickHouse's Date text form.
func (d Day) String() string {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
}

// Time is midnight UTC of the day.
func (d Day) Time() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }
