package privacy

import (
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"

	"github.com/sezim-analytics/sezim/store"
)

// The schema inventory: every column of every table, with its tier,
// purpose and retention, read from the migrations themselves so that it
// cannot drift from the schema. The migrations carry it as comments:
//
//   - a column of CREATE TABLE has its purpose as a trailing comment on its
//     line: `visitor UInt64, -- the daily visitor hash`;
//   - a column added by ALTER TABLE ... ADD COLUMN has it as a comment
//     line naming it above the statement: `-- batch_id: the insert ...`;
//   - the comment block right above CREATE TABLE holds a line
//     `-- Retention: ...`, and `-- Tier: staff` for staff tables (otherwise
//     the tier is the table's database: stats or identified).
//
// Tables dropped by a later migration are left out; a table that a later
// migration moves (RENAME TABLE to another database) is listed where it
// ends up, with the comments of its CREATE TABLE.

// Tiers of data (see ARCHITECTURE.md).
const (
	TierStats      = "stats"
	TierIdentified = "identified"
	TierStaff      = "staff"
)

// InventoryColumn is one column of the schema.
type InventoryColumn struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Purpose string `json:"purpose"`
	// Migration is the file that created it.
	Migration string `json:"migration"`
}

// InventoryTable is one table of the schema.
type InventoryTable struct {
	Database  string            `json:"database"` // stats, identified or staff
	Name      string            `json:"name"`
	Tier      string            `json:"tier"`
	Retention string            `json:"retention"`
	Columns   []InventoryColumn `json:"columns"`
}

var (
	createRe = regexp.MustCompile(`^CREATE TABLE (?:IF NOT EXISTS )?\{\{\.(Stats|Identified|Staff)\}\}\.(\w+)`)
	alterRe  = regexp.MustCompile(`^ALTER TABLE \{\{\.(Stats|Identified|Staff)\}\}\.(\w+).*\bADD COLUMN (\w+) ([^;]+?)(?: DEFAULT [^;]*)?;`)
	dropRe   = regexp.MustCompile(`^DROP TABLE (?:IF EXISTS )?\{\{\.(Stats|Identified|Staff)\}\}\.(\w+)`)
	renameRe = regexp.MustCompile(`^RENAME TABLE \{\{\.(Stats|Identified|Staff)\}\}\.(\w+) TO \{\{\.(Stats|Identified|Staff)\}\}\.(\w+)`)
	colRe    = regexp.MustCompile(`^\s+(\w+) ([^-]+?),?\s*(?:--\s*(.*))?$`)
)

// Inventory reads the schema inventory from the migrations in files (nil:
// the embedded ones). The error names every column without a purpose and
// every table without a retention: the inventory is only as good as the
// comments, so a migration that leaves one out is refused by the tests.
func Inventory(files fs.FS) ([]InventoryTable, error) {
	if files == nil {
		files = store.MigrationFiles()
	}
	names, err := fs.Glob(files, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("cannot list migrations: %w", err)
	}
	sort.Strings(names)
	tables := map[string]*InventoryTable{}
	var order []string
	var missing []string
	for _, name := range names {
		b, err := fs.ReadFile(files, name)
		if err != nil {
			return nil, fmt.Errorf("cannot read migration %s: %w", name, err)
		}
		mig := strings.TrimSuffix(name, ".sql")
		var block []string // the comment lines right above the current line
		var cur *InventoryTable
		for _, line := range strings.Split(string(b), "\n") {
			t := strings.TrimSpace(line)
			if cur != nil {
				if strings.HasPrefix(t, ")") {
					cur = nil
					continue
				}
				m := colRe.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				if m[3] == "" {
					missing = append(missing, fmt.Sprintf("%s: %s.%s has no purpose comment", mig, cur.Name, m[1]))
				}
				cur.Columns = append(cur.Columns, InventoryColumn{Name: m[1], Type: strings.TrimSpace(m[2]), Purpose: strings.TrimSpace(m[3]), Migration: mig})
				continue
			}
			switch {
			case strings.HasPrefix(t, "--"):
				block = append(block, strings.TrimSpace(strings.TrimPrefix(t, "--")))
				continue
			case strings.HasPrefix(t, "{{") && strings.HasSuffix(t, "}}"):
				continue // a template condition: the comment above still belongs to what follows
			}
			if m := createRe.FindStringSubmatch(t); m != nil {
				key := m[1] + "." + m[2]
				tb := &InventoryTable{Database: strings.ToLower(m[1]), Name: m[2], Tier: strings.ToLower(m[1])}
				for _, c := range block {
					if v, ok := strings.CutPrefix(c, "Retention:"); ok {
						tb.Retention = strings.TrimSpace(v)
					}
					if v, ok := strings.CutPrefix(c, "Tier:"); ok {
						tb.Tier = strings.TrimSpace(v)
					}
				}
				if tb.Retention == "" {
					missing = append(missing, fmt.Sprintf("%s: table %s has no Retention: comment", mig, m[2]))
				}
				if _, ok := tables[key]; !ok {
					order = append(order, key)
				}
				tables[key] = tb
				cur = tb
			} else if m := alterRe.FindStringSubmatch(t); m != nil {
				tb := tables[m[1]+"."+m[2]]
				if base, ok := strings.CutSuffix(m[2], "_local"); ok && tb == nil && tables[m[1]+"."+base] != nil {
					// A cluster node's part of a sharded table
					// (019_sharded.sql) has the table's columns: they
					// are listed once, under the table.
					block = block[:0]
					continue
				}
				if tb == nil {
					return nil, fmt.Errorf("cannot read migration %s: it alters %s before any migration creates it", name, m[2])
				}
				purpose := ""
				for _, c := range block {
					if v, ok := strings.CutPrefix(c, m[3]+":"); ok {
						purpose = strings.TrimSpace(v)
					}
				}
				if purpose == "" {
					missing = append(missing, fmt.Sprintf("%s: %s.%s has no purpose comment (-- %s: ...)", mig, m[2], m[3], m[3]))
				}
				tb.Columns = append(tb.Columns, InventoryColumn{Name: m[3], Type: strings.TrimSpace(m[4]), Purpose: purpose, Migration: mig})
			} else if m := dropRe.FindStringSubmatch(t); m != nil {
				delete(tables, m[1]+"."+m[2])
			} else if m := renameRe.FindStringSubmatch(t); m != nil {
				from, to := m[1]+"."+m[2], m[3]+"."+m[4]
				tb := tables[from]
				if tb == nil {
					return nil, fmt.Errorf("cannot read migration %s: it renames %s before any migration creates it", name, m[2])
				}
				delete(tables, from)
				tb.Database, tb.Name = strings.ToLower(m[3]), m[4]
				if _, ok := tables[to]; !ok {
					order = append(order, to)
				}
				tables[to] = tb
			}
			block = block[:0]
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("cannot build the schema inventory: %s", strings.Join(missing, "; "))
	}
	out := make([]InventoryTable, 0, len(tables))
	for _, key := range order {
		if tb, ok := tables[key]; ok {
			out = append(out, *tb)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Database != out[j].Database {
			return out[i].Database > out[j].Database // stats first
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}
