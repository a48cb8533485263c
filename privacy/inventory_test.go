package privacy

import (
	"strings"
	"testing"
	"testing/fstest"
)

// TestInventory reads the embedded migrations: every column has a purpose,
// every table a tier and a retention. A migration that adds a column
// without a purpose comment fails here, and so does a table without a
// retention.
func TestInventory(t *testing.T) {
	tables, err := Inventory(nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]InventoryTable{}
	cols := 0
	for _, tb := range tables {
		byName[tb.Database+"."+tb.Name] = tb
		cols += len(tb.Columns)
		if tb.Tier != TierStats && tb.Tier != TierIdentified && tb.Tier != TierStaff {
			t.Errorf("%s: tier %q", tb.Name, tb.Tier)
		}
		for _, c := range tb.Columns {
			if c.Purpose == "" || c.Type == "" || strings.Contains(c.Type, "--") {
				t.Errorf("%s.%s: %+v", tb.Name, c.Name, c)
			}
		}
	}
	for name, tier := range map[string]string{"stats.events": TierStats, "stats.agg_pairs": TierStats, "identified.consent_log": TierIdentified,
		"identified.events": TierIdentified, "staff.audit_log": TierStaff, "staff.staff_users": TierStaff, "staff.staff_sessions": TierStaff} {
		if byName[name].Tier != tier {
			t.Errorf("%s: tier %q, want %q", name, byName[name].Tier, tier)
		}
	}
	if _, ok := byName["stats.agg_daily_pairs"]; ok {
		t.Error("a dropped table is listed")
	}
	for _, moved := range []string{"identified.audit_log", "identified.staff_users", "identified.staff_tokens", "identified.staff_sessions"} {
		if _, ok := byName[moved]; ok {
			t.Errorf("%s is listed where it was before migration 018 moved it", moved)
		}
	}
	has := func(table, col string) bool {
		for _, c := range byName[table].Columns {
			if c.Name == col {
				return true
			}
		}
		return false
	}
	if !has("stats.events", "batch_id") || !has("stats.events", "inserted") || !has("staff.audit_log", "attempts") || !has("staff.audit_log", "row_hash") {
		t.Error("a column added by ALTER TABLE is missing")
	}
	if cols < 100 {
		t.Errorf("%d columns", cols)
	}

	f := func(sql, want string) {
		t.Helper()
		_, err := Inventory(fstest.MapFS{"001_a.sql": {Data: []byte(sql)}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
	f("-- Retention: 1 day\nCREATE TABLE {{.Stats}}.t (\n    a String, -- why\n    b UInt8\n) ENGINE = Memory;\n", "t.b has no purpose comment")
	f("CREATE TABLE {{.Stats}}.t (\n    a String -- why\n) ENGINE = Memory;\n", "table t has no Retention")
	f("RENAME TABLE {{.Identified}}.t TO {{.Staff}}.t;\n", "renames t before any migration creates it")
	f("-- Retention: 1 day\nCREATE TABLE {{.Stats}}.t (\n    a String -- why\n) ENGINE = Memory;\n-- A new column.\n{{if true}}\nALTER TABLE {{.Stats}}.t ADD COLUMN c String;\n{{end}}\n", "t.c has no purpose comment")
}
