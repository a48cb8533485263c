package store

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// migrationFiles are the schema's migrations, applied in version order.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// MigrationFiles returns the embedded migrations (NNN_name.sql at the
// root), for readers of the schema such as the privacy report's inventory.
func MigrationFiles() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // cannot happen: the folder is embedded
	}
	return sub
}

// MigrateOptions configure a Migrator; the zero value migrates a single
// node with the embedded migrations.
type MigrateOptions struct {
	// Cluster, when set, puts ON CLUSTER on DDL, switches engines to
	// their Replicated twins, and shards the tables of ShardedTables over
	// the cluster through Distributed tables (migration 019).
	Cluster string
	// PerNode applies a Cluster's migrations to the connected node only:
	// no ON CLUSTER and plain engines, the Distributed tables still over
	// Cluster. It is for shards without replicas, where no Keeper runs
	// (ON CLUSTER needs one): run `sezim migrate up` on every node.
	PerNode bool
	// Files holds NNN_name.sql files at its root; nil means the embedded
	// migrations/ folder. Tests use it to try other sets.
	Files fs.FS
}

// Migrator applies the forward-only, numbered migrations to a Store and
// records them in a schema_migrations table in the stats database.
// Every statement is idempotent (IF NOT EXISTS), so a migration that
// crashed halfway is simply applied again.
type Migrator struct {
	store   Store
	cluster string
	perNode bool
	files   fs.FS
}

// MigrationStatus is one migration and whether it has been applied.
type MigrationStatus struct {
	Version   uint32
	Name      string // file name without .sql, e.g. "001_stats"
	Applied   bool
	AppliedAt time.Time // zero when not applied
}

// migration is one parsed file.
type migration struct {
	version uint32
	name    string
	text    string
}

// NewMigrator returns a Migrator for s.
func NewMigrator(s Store, opts MigrateOptions) *Migrator {
	m := &Migrator{store: s, cluster: opts.Cluster, perNode: opts.PerNode, files: opts.Files}
	if m.files == nil {
		sub, err := fs.Sub(migrationFiles, "migrations")
		if err != nil {
			panic(err) // cannot happen: the folder is embedded
		}
		m.files = sub
	}
	return m
}

var migrationName = regexp.MustCompile(`^(\d{3,})_[a-z0-9_]+\.sql$`)

// load reads and orders the migration files.
func (m *Migrator) load() ([]migration, error) {
	entries, err := fs.ReadDir(m.files, ".")
	if err != nil {
		return nil, fmt.Errorf("cannot list migrations: %w", err)
	}
	var out []migration
	seen := map[uint32]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		match := migrationName.FindStringSubmatch(e.Name())
		if match == nil {
			return nil, fmt.Errorf("cannot use migration %s: want NNN_name.sql", e.Name())
		}
		v, err := strconv.ParseUint(match[1], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("cannot use migration %s: %w", e.Name(), err)
		}
		if prev, ok := seen[uint32(v)]; ok {
			return nil, fmt.Errorf("cannot use migration %s: version %d is also %s", e.Name(), v, prev)
		}
		seen[uint32(v)] = e.Name()
		text, err := fs.ReadFile(m.files, e.Name())
		if err != nil {
			return nil, fmt.Errorf("cannot read migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: uint32(v), name: strings.TrimSuffix(e.Name(), ".sql"), text: string(text)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// templateData is what a migration file sees.
type templateData struct {
	Stats      string
	Identified string
	Staff      string
	OnCluster  string // "" or " ON CLUSTER name"
	Cluster    string // the cluster's name, "" on a single node
}

// render expands a migration's template and splits it into statements.
func (m *Migrator) render(ctx context.Context, mig migration) ([]string, error) {
	names := m.store.DB()
	tmpl, err := template.New(mig.name).
		Option("missingkey=error").
		Funcs(template.FuncMap{"engine": m.engine, "hasColumn": func(table, col string) (bool, error) {
			return m.hasColumn(ctx, table, col)
		}, "sharded": func() []string { return shardedBy019 }}).
		Parse(mig.text)
	if err != nil {
		return nil, fmt.Errorf("cannot parse migration %s: %w", mig.name, err)
	}
	var b bytes.Buffer
	data := templateData{Stats: names.Stats, Identified: names.Identified, Staff: names.Staff, OnCluster: m.onCluster(), Cluster: m.cluster}
	if err := tmpl.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("cannot render migration %s: %w", mig.name, err)
	}
	return splitStatements(b.String()), nil
}

// hasColumn is the template func `hasColumn TABLE COLUMN`: whether the
// column exists now. ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS, so
// a migration adding a column wraps it in {{if not (hasColumn ...)}} to
// stay idempotent. TABLE is in the stats database unless qualified.
func (m *Migrator) hasColumn(ctx context.Context, table, col string) (bool, error) {
	db, name, ok := strings.Cut(table, ".")
	if !ok {
		db, name = m.store.DB().Stats, table
	}
	if !isIdent(db) || !isIdent(name) || !isIdent(col) {
		return false, fmt.Errorf("hasColumn wants identifiers")
	}
	n := uint64(0)
	q := "SELECT count() FROM system.columns WHERE database = '" + db + "' AND table = '" + name + "' AND name = '" + col + "'"
	if err := m.store.Query(ctx, q, func(r Row) error {
		n = r.Uint64(0)
		return nil
	}); err != nil {
		return false, fmt.Errorf("cannot read the columns of %s.%s: %w", db, name, err)
	}
	return n > 0, nil
}

func (m *Migrator) onCluster() string {
	if m.cluster == "" || m.perNode {
		return ""
	}
	return " ON CLUSTER " + m.cluster
}

// engine is the template func `engine NAME TABLE [ARGS...]`: NAME(ARGS)
// on a single node, ReplicatedNAME with the ZooKeeper path and replica
// macro on a cluster. TABLE is in the stats database unless it is
// qualified ("db.table").
func (m *Migrator) engine(name, table string, args ...string) string {
	if m.cluster != "" && !m.perNode {
		if !strings.Contains(table, ".") {
			table = m.store.DB().Stats + "." + table
		}
		zk := []string{"'/clickhouse/tables/{shard}/" + table + "'", "'{replica}'"}
		return "Replicated" + name + "(" + strings.Join(append(zk, args...), ", ") + ")"
	}
	if len(args) == 0 {
		return name
	}
	return name + "(" + strings.Join(args, ", ") + ")"
}

// splitStatements cuts a script at lines ending in ";", dropping "--"
// comment lines and blank statements.
func splitStatements(script string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			out = append(out, s)
		}
		cur.Reset()
	}
	for _, line := range strings.Split(script, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") {
			continue
		}
		// A column's purpose is a trailing comment (the privacy report's
		// schema inventory reads it): the server gets the SQL without it,
		// and a ; before such a comment still ends the statement.
		line = stripComment(line)
		t = strings.TrimSpace(line)
		if strings.HasSuffix(t, ";") {
			cur.WriteString(strings.TrimSuffix(strings.TrimRight(line, " \t\r"), ";"))
			flush()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return out
}

// stripComment cuts a line's "--" comment, one outside a quoted string.
func stripComment(line string) string {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0 && c == '\\':
			i++
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
		case c == '\'' || c == '`' || c == '"':
			quote = c
		case c == '-' && i+1 < len(line) && line[i+1] == '-':
			return strings.TrimRight(line[:i], " \t")
		}
	}
	return line
}

// checkNames refuses database names that are not bare identifiers: they
// are spliced into DDL.
func (m *Migrator) checkNames() error {
	n := m.store.DB()
	if !isIdent(n.Stats) || !isIdent(n.Identified) || !isIdent(n.Staff) {
		return fmt.Errorf("cannot migrate: database names must be identifiers")
	}
	if m.cluster != "" && !isIdent(m.cluster) {
		return fmt.Errorf("cannot migrate: cluster name must be an identifier")
	}
	return nil
}

// ensureTable creates the stats database and schema_migrations, which
// must exist before the first migration can be recorded.
func (m *Migrator) ensureTable(ctx context.Context) error {
	db := m.store.DB().Stats
	stmts := []string{
		"CREATE DATABASE IF NOT EXISTS " + db + m.onCluster(),
		"CREATE TABLE IF NOT EXISTS " + db + ".schema_migrations" + m.onCluster() + " (\n" +
			"    version UInt32,\n    name String,\n    applied_at DateTime('UTC')\n" +
			") ENGINE = " + m.engine("MergeTree", "schema_migrations") + "\nORDER BY version",
	}
	for _, s := range stmts {
		if err := m.store.Exec(ctx, s); err != nil {
			return fmt.Errorf("cannot create schema_migrations: %w", err)
		}
	}
	return nil
}

// applied reads schema_migrations; a missing table means nothing applied.
// Two migrators racing can record a version twice; the first record wins.
func (m *Migrator) applied(ctx context.Context) (map[uint32]time.Time, error) {
	db := m.store.DB().Stats
	exists := false
	q := "SELECT count() FROM system.tables WHERE database = '" + db + "' AND name = 'schema_migrations'"
	if err := m.store.Query(ctx, q, func(r Row) error {
		exists = r.Uint64(0) > 0
		return nil
	}); err != nil {
		return nil, fmt.Errorf("cannot read migration status: %w", err)
	}
	out := map[uint32]time.Time{}
	if !exists {
		return out, nil
	}
	q = "SELECT version, min(applied_at) FROM " + db + ".schema_migrations GROUP BY version"
	if err := m.store.Query(ctx, q, func(r Row) error {
		out[uint32(r.Uint64(0))] = r.Time(1)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("cannot read migration status: %w", err)
	}
	return out, nil
}

// Status lists every known migration in order with whether and when it
// was applied. It returns an error when the files are malformed or the
// store cannot be read.
func (m *Migrator) Status(ctx context.Context) ([]MigrationStatus, error) {
	if err := m.checkNames(); err != nil {
		return nil, err
	}
	migs, err := m.load()
	if err != nil {
		return nil, err
	}
	done, err := m.applied(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]MigrationStatus, len(migs))
	for i, mig := range migs {
		at, ok := done[mig.version]
		out[i] = MigrationStatus{Version: mig.version, Name: mig.name, Applied: ok, AppliedAt: at}
	}
	return out, nil
}

// Pending counts the migrations Up would apply.
func (m *Migrator) Pending(ctx context.Context) (int, error) {
	st, err := m.Status(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range st {
		if !s.Applied {
			n++
		}
	}
	return n, nil
}

// Up applies the pending migrations in order and returns their names. It
// stops at the first failing statement; the migrations before it stay
// recorded, and re-running Up resumes with the failed one.
func (m *Migrator) Up(ctx context.Context) (applied []string, err error) {
	st, err := m.Status(ctx)
	if err != nil {
		return nil, err
	}
	migs, err := m.load()
	if err != nil {
		return nil, err
	}
	// Render everything first so a template error applies nothing.
	stmts := make([][]string, len(migs))
	for i, mig := range migs {
		if st[i].Applied {
			continue
		}
		if stmts[i], err = m.render(ctx, mig); err != nil {
			return nil, err
		}
	}
	ensured := false
	for i, mig := range migs {
		if st[i].Applied {
			continue
		}
		if !ensured {
			if err := m.ensureTable(ctx); err != nil {
				return nil, err
			}
			ensured = true
		}
		for n, s := range stmts[i] {
			if err := m.store.Exec(ctx, s); err != nil {
				return applied, fmt.Errorf("cannot apply migration %s (statement %d): %w", mig.name, n+1, err)
			}
		}
		row := []any{mig.version, mig.name, time.Now().UTC()}
		if err := m.store.Insert(ctx, m.store.DB().Stats+".schema_migrations", []string{"version", "name", "applied_at"}, [][]any{row}); err != nil {
			return applied, fmt.Errorf("cannot record migration %s: %w", mig.name, err)
		}
		applied = append(applied, mig.name)
	}
	return applied, nil
}
