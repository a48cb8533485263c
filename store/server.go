package store

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// serverStore talks to a ClickHouse server over the native protocol, the
// one protocol that works against 18.16 as well as current servers.
type serverStore struct {
	conn  driver.Conn
	names Names
}

// OpenServer connects to the ClickHouse server at url
// (clickhouse://user:pass@host:port/?dial_timeout=5s; the query options
// are clickhouse-go's) and pings it. It returns an error, with the password
// left out, when the URL does not parse or the server does not answer.
func OpenServer(ctx context.Context, url string, names Names) (Store, error) {
	opts, err := clickhouse.ParseDSN(url)
	if err != nil {
		return nil, fmt.Errorf("cannot parse ClickHouse URL (%s): %w", redactURL(url), err)
	}
	if opts.Protocol != clickhouse.Native {
		return nil, fmt.Errorf("cannot use ClickHouse URL (%s): only the native protocol (clickhouse://) is supported", redactURL(url))
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("cannot open ClickHouse (%s): %w", redactURL(url), err)
	}
	s := &serverStore{conn: conn, names: names}
	if err := s.Ping(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("cannot reach ClickHouse (%s): %w", redactURL(url), err)
	}
	return s, nil
}

// redactURL drops the password from a store URL so it can go into errors
// and logs.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return u
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return u
	}
	return scheme + "://" + user + ":xxxxx" + rest[at:]
}

func (s *serverStore) Engine() string { return "clickhouse" }

func (s *serverStore) DB() Names { return s.names }

func (s *serverStore) Close() error { return s.conn.Close() }

func (s *serverStore) Ping(ctx context.Context) error {
	if err := s.conn.Ping(ctx); err != nil {
		return fmt.Errorf("cannot ping ClickHouse: %w", err)
	}
	return nil
}

func (s *serverStore) Version(ctx context.Context) (string, error) {
	var v string
	err := s.Query(ctx, "SELECT version()", func(r Row) error {
		v = r.String(0)
		return nil
	})
	return v, err
}

func (s *serverStore) Exec(ctx context.Context, query string) error {
	if err := s.conn.Exec(ctx, query); err != nil {
		return fmt.Errorf("cannot execute statement (%s): %w", firstWords(query), err)
	}
	return nil
}

func (s *serverStore) Query(ctx context.Context, query string, fn func(Row) error) error {
	rows, err := s.conn.Query(ctx, query)
	if err != nil {
		return fmt.Errorf("cannot run query (%s): %w", firstWords(query), err)
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	row := &valueRow{dest: make([]any, len(types)), cols: make([]colInfo, len(types))}
	for i, ct := range types {
		// One destination per column, of the driver's own scan type, so
		// any column type scans without a conversion table here.
		row.dest[i] = reflect.New(ct.ScanType()).Interface()
		row.cols[i] = colInfoOf(ct.DatabaseTypeName())
	}
	for rows.Next() {
		if err := rows.Scan(row.dest...); err != nil {
			return fmt.Errorf("cannot scan row (%s): %w", firstWords(query), err)
		}
		if err := fn(row); err != nil {
			return err
		}
		if row.err != nil {
			return fmt.Errorf("cannot convert result (%s): %w", firstWords(query), row.err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot read rows (%s): %w", firstWords(query), err)
	}
	return nil
}

func (s *serverStore) Insert(ctx context.Context, table string, cols []string, rows [][]any) (err error) {
	if len(rows) == 0 {
		return nil
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("cannot insert into %s (%d rows): %w", table, len(rows), err)
		}
	}()
	stmt, err := insertPrefix(table, cols)
	if err != nil {
		return err
	}
	// 18.16 rejects an INSERT without its column list when the driver
	// prepares a batch, so the list is always spelled out.
	batch, err := s.conn.PrepareBatch(ctx, stmt)
	if err != nil {
		return err
	}
	defer func() {
		if !batch.IsSent() {
			_ = batch.Abort()
		}
	}()
	vals := make([]any, len(cols))
	for n, row := range rows {
		if len(row) != len(cols) {
			return fmt.Errorf("row %d has %d values for %d columns", n, len(row), len(cols))
		}
		for i, v := range row {
			vals[i] = nativeValue(v)
		}
		if err := batch.Append(vals...); err != nil {
			return fmt.Errorf("row %d: %w", n, err)
		}
	}
	return batch.Send()
}

// nativeValue maps this package's value types to what clickhouse-go
// appends; everything else it already takes.
func nativeValue(v any) any {
	switch v := v.(type) {
	case Day:
		return v.Time()
	case time.Time:
		return v.UTC()
	}
	return v
}

// insertPrefix builds "INSERT INTO db.table (a, b)" after checking every
// name is a plain identifier: names are spliced into SQL, so they must
// come from code, never from a request.
func insertPrefix(table string, cols []string) (string, error) {
	if !isQualifiedIdent(table) {
		return "", fmt.Errorf("invalid table name")
	}
	if len(cols) == 0 {
		return "", fmt.Errorf("no columns")
	}
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(table)
	b.WriteString(" (")
	for i, c := range cols {
		if !isIdent(c) {
			return "", fmt.Errorf("invalid column name at position %d", i)
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c)
	}
	b.WriteString(")")
	return b.String(), nil
}

// isIdent reports whether s is a bare SQL identifier ([A-Za-z_][A-Za-z0-9_]*).
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// isQualifiedIdent reports whether s is "table" or "db.table".
func isQualifiedIdent(s string) bool {
	db, t, ok := strings.Cut(s, ".")
	if !ok {
		return isIdent(s)
	}
	return isIdent(db) && isIdent(t)
}

// firstWords gives enough of a statement to tell which one failed without
// echoing literals, which could hold visitor values.
func firstWords(q string) string {
	q = strings.TrimSpace(q)
	for _, stop := range []string{"'", "\n"} {
		if i := strings.Index(q, stop); i >= 0 {
			q = q[:i]
		}
	}
	if len(q) > 60 {
		q = q[:60]
	}
	return strings.TrimSpace(q) + "…"
}
