// Package privacy proves the anonymisation on what is actually stored. Its
// first check, ScanStats, reads every column of every table of the stats
// database and looks for what must never be there: addresses, user agents,
// e-mail addresses, phone numbers, long numbers, tokens and query strings.
// `sezim privacy report` runs it; the privacy console will show it.
//
// The scan runs inside ClickHouse, one query per table (countIf and anyIf
// over match() for every text column and check), so the rows never leave
// the engine and a table costs one pass. The patterns are RE2, as match()
// takes them on ClickHouse 18.16 and 26.x alike, and are written to agree
// with what pipeline/scrub replaces: a value scrub lets through (a year, a
// date, "/psychologist/123") passes, and one it would have replaced fails.
package privacy

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/sezim-analytics/sezim/store"
)

// Names of the checks, stable: the command names the failed ones, and
// scripts may match them.
const (
	CheckAddress       = "ip_address"
	CheckAddressColumn = "ip_column"
	CheckUserAgent     = "user_agent"
	CheckEmail         = "email"
	CheckPhone         = "phone"
	CheckNumber        = "long_number"
	CheckToken         = "token"
	CheckQuery         = "query_string"
)

// pattern is one text check: an RE2 pattern for ClickHouse's match().
type pattern struct {
	name, what, re string
}

// patterns are the text checks, in report order.
var patterns = []pattern{
	{CheckAddress, "IPv4 or IPv6 addresses, full or truncated, in text",
		`(^|[^0-9.])(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}($|[^0-9.])` +
			`|(?i:(^|[^0-9a-z:])(([0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|([0-9a-f]{1,4}:){1,7}:([0-9a-f]{1,4}(:[0-9a-f]{1,4})*)?|::[0-9a-f]{1,4}(:[0-9a-f]{1,4})*)($|[^0-9a-z:]))`},
	{CheckUserAgent, "raw user agents",
		`(?i)(mozilla/[0-9]|applewebkit/|gecko/[0-9]|khtml|windows nt [0-9]|\((x11|iphone|ipad|linux|macintosh);|android [0-9]+;|dalvik/|curl/[0-9]|wget/[0-9]|python-requests/|okhttp/|go-http-client/)`},
	{CheckEmail, "e-mail addresses (also with %40 for @)",
		`[A-Za-z0-9._%+'-]+(@|%40)[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`},
	{CheckPhone, "phone numbers: nine or more digits in groups, or + and seven",
		`\+[0-9]([ ().-]{0,2}[0-9]){6,}|[0-9]([ ().-]{0,2}[0-9]){8,}`},
	{CheckNumber, "six or more digits in a row (ids, card numbers, integer addresses)",
		`[0-9]{6,}`},
	{CheckToken, "UUIDs, JWTs, prefixed keys, long hex or unbroken letter-and-digit runs",
		`(?i:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})|eyJ[A-Za-z0-9_-]{8,}` +
			`|(^|[^A-Za-z0-9])[a-z]{2,8}_([a-z]{2,8}_)?[A-Za-z0-9]*[A-Z0-9][A-Za-z0-9]*[A-Z0-9][A-Za-z0-9]{4,}` +
			`|(?i:[0-9a-f]{20,})|[A-Za-z0-9]{32,}`},
	{CheckQuery, "query strings and path parameters (?k=, &k=, ;k=)",
		`[?&;][A-Za-z0-9_.%\[\]-]+=`},
}

// Exemption is a bookkeeping column the scan does not hold to some checks,
// with the reason. The list is fixed in code and shown in every report.
type Exemption struct {
	Table  string   `json:"table"`
	Column string   `json:"column"`
	Checks []string `json:"checks"`
	Why    string   `json:"why"`
}

// exemptions are the stats database's columns that hold the collector's
// own bookkeeping, never a visitor's value. They are still scanned for
// addresses, user agents, e-mails and query strings.
var exemptions = []Exemption{
	{"events", "batch_id", []string{CheckPhone, CheckNumber, CheckToken},
		"names the write-ahead-log chunk a row was inserted with: instance, random nonce, day, index"},
	{"ingest_batches", "key", []string{CheckPhone, CheckNumber, CheckToken},
		"a session-log sender's idempotency key (sezim import: the input's identity and byte range)"},
	{"ingest_batches", "token", []string{CheckPhone, CheckNumber, CheckToken},
		"the random token of a batch claim"},
	{"ingest_batches", "summary", []string{CheckPhone, CheckNumber},
		"a batch's answer: counts of lines by outcome"},
}

// Finding is one column that failed a check.
type Finding struct {
	Table  string `json:"table"`
	Column string `json:"column"`
	// Cells is how many of the column's cells match.
	Cells uint64 `json:"cells"`
	// Sample is one matching cell, masked (letters and digits after the
	// first two become '*'), so the report shows the shape of what was
	// found without repeating it.
	Sample string `json:"sample"`
}

// Check is the outcome of one check over the whole database.
type Check struct {
	Name     string    `json:"name"`
	What     string    `json:"what"`
	OK       bool      `json:"ok"`
	Cells    uint64    `json:"cells"`
	Findings []Finding `json:"findings"`
}

// Report is what ScanStats found.
type Report struct {
	Database string `json:"database"`
	Tables   int    `json:"tables"`
	// Columns counts the text columns scanned; every column is looked at
	// for the address-column check.
	Columns   int         `json:"text_columns"`
	Rows      uint64      `json:"rows"`
	OK        bool        `json:"ok"`
	Checks    []Check     `json:"checks"`
	Exemption []Exemption `json:"exemptions"`
}

// Failed names the checks that did not pass, in report order.
func (r *Report) Failed() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c.Name)
		}
	}
	return out
}

type column struct{ name, typ string }

// ScanStats scans every column of every table of st's stats database. An
// error means the scan could not run (and says nothing of the data); a
// finding is reported in the Report, never in the error.
func ScanStats(ctx context.Context, st store.Store) (*Report, error) {
	db := st.DB().Stats
	r := &Report{Database: db, Exemption: exemptions}
	byName := map[string]*Check{}
	addrCol := Check{Name: CheckAddressColumn, What: "columns typed or named as an address (IPv4, IPv6, ip, addr, client, remote)", OK: true, Findings: []Finding{}}
	for _, p := range patterns {
		r.Checks = append(r.Checks, Check{Name: p.name, What: p.what, OK: true, Findings: []Finding{}})
	}
	r.Checks = append(r.Checks, addrCol)
	for i := range r.Checks {
		byName[r.Checks[i].Name] = &r.Checks[i]
	}
	tables, err := listTables(ctx, st, db)
	if err != nil {
		return nil, err
	}
	if len(tables) == 0 {
		// A report of nothing must not pass: the name is wrong, or the
		// store was never migrated.
		return nil, fmt.Errorf("cannot scan the stats database (%s): it has no tables", db)
	}
	r.Tables = len(tables)
	for _, table := range tables {
		cols, err := listColumns(ctx, st, db, table)
		if err != nil {
			return nil, err
		}
		var text []column
		for _, c := range cols {
			if addressColumn(c) {
				ch := byName[CheckAddressColumn]
				ch.OK = false
				ch.Findings = append(ch.Findings, Finding{Table: table, Column: c.name, Sample: c.typ})
			}
			if textType(c.typ) {
				text = append(text, c)
			}
		}
		r.Columns += len(text)
		rows, found, err := scanTable(ctx, st, db, table, text)
		if err != nil {
			return nil, err
		}
		r.Rows += rows
		for _, f := range found {
			ch := byName[f.check]
			ch.OK = false
			ch.Cells += f.Cells
			ch.Findings = append(ch.Findings, f.Finding)
		}
	}
	r.OK = true
	for _, c := range r.Checks {
		r.OK = r.OK && c.OK
	}
	return r, nil
}

type found struct {
	check string
	Finding
}

// scanTable counts, in one query, the cells of each text column that match
// each check, and takes one of them as the sample.
func scanTable(ctx context.Context, st store.Store, db, table string, cols []column) (uint64, []found, error) {
	type cell struct{ col, check string }
	exprs := []string{"count()"}
	var cells []cell
	for _, c := range cols {
		v := "toString(" + quoteIdent(c.name) + ")"
		for _, p := range patterns {
			if exempt(table, c.name, p.name) {
				continue
			}
			m := "match(" + v + ", " + store.Quote(p.re) + ")"
			exprs = append(exprs, "countIf("+m+")", "anyIf("+v+", "+m+")")
			cells = append(cells, cell{c.name, p.name})
		}
	}
	q := fmt.Sprintf("SELECT %s FROM %s.%s", strings.Join(exprs, ", "), db, quoteIdent(table))
	var rows uint64
	var out []found
	err := st.Query(ctx, q, func(row store.Row) error {
		rows = row.Uint64(0)
		for i, c := range cells {
			if n := row.Uint64(1 + 2*i); n > 0 {
				out = append(out, found{c.check, Finding{Table: table, Column: c.col, Cells: n, Sample: Mask(row.String(2 + 2*i))}})
			}
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("cannot scan table (%s.%s): %w", db, table, err)
	}
	return rows, out, nil
}

func exempt(table, col, check string) bool {
	for _, e := range exemptions {
		if e.Table == table && e.Column == col {
			for _, c := range e.Checks {
				if c == check {
					return true
				}
			}
		}
	}
	return false
}

// textType reports a column whose values are text (String, FixedString,
// and those wrapped in Nullable or LowCardinality). Numbers, dates and
// enums are not free text: a count or a day holds nothing personal, and
// an address stored as a number is found by its type or name instead.
func textType(t string) bool {
	for _, w := range []string{"Nullable(", "LowCardinality("} {
		if strings.HasPrefix(t, w) {
			t = strings.TrimSuffix(t[len(w):], ")")
		}
	}
	return t == "String" || strings.HasPrefix(t, "FixedString(") || strings.HasPrefix(t, "Array(String")
}

var addressName = regexp.MustCompile(`(?i)(^|_)(ip|ipv4|ipv6|addr|address|client|remote|peer)($|_)`)

// addressColumn reports a column that holds addresses by its type (IPv4,
// IPv6), or by its name when it is text or an integer wide enough for one
// (ip, client_addr, remote_ip): the stats database has none.
func addressColumn(c column) bool {
	if strings.Contains(c.typ, "IPv4") || strings.Contains(c.typ, "IPv6") {
		return true
	}
	if !addressName.MatchString(c.name) {
		return false
	}
	return textType(c.typ) || strings.Contains(c.typ, "Int32") || strings.Contains(c.typ, "Int64") || strings.Contains(c.typ, "Int128")
}

// Mask keeps the first two characters of s and the punctuation of the rest,
// and turns every other letter or digit into '*': "victim@mail.com" is
// "vi****@****.***". At most 64 characters are shown.
func Mask(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == 64 {
			b.WriteString("…")
			break
		}
		switch {
		case n < 2:
			b.WriteRune(r)
		case r < 0x80 && !('a' <= r|0x20 && r|0x20 <= 'z') && !('0' <= r && r <= '9'):
			b.WriteRune(r)
		default:
			b.WriteByte('*')
		}
		n++
	}
	return b.String()
}

func listTables(ctx context.Context, st store.Store, db string) ([]string, error) {
	var out []string
	err := st.Query(ctx, "SELECT name FROM system.tables WHERE database = "+store.Quote(db)+" ORDER BY name", func(r store.Row) error {
		out = append(out, r.String(0))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list tables (%s): %w", db, err)
	}
	sort.Strings(out)
	return out, nil
}

func listColumns(ctx context.Context, st store.Store, db, table string) ([]column, error) {
	var out []column
	q := "SELECT name, type FROM system.columns WHERE database = " + store.Quote(db) + " AND table = " + store.Quote(table) + " ORDER BY name"
	err := st.Query(ctx, q, func(r store.Row) error {
		out = append(out, column{r.String(0), r.String(1)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list columns (%s.%s): %w", db, table, err)
	}
	return out, nil
}

// quoteIdent quotes a table or column name with backticks.
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "\\`") + "`" }
