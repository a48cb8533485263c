package anon

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestStateDays reads the days of the salts a Salts wrote, and changes
// nothing: the file is the same bytes afterwards.
func TestStateDays(t *testing.T) {
	path := filepath.Join(t.TempDir(), "salts.json")
	if days, err := StateDays(path, time.Now()); err != nil || len(days) != 0 {
		t.Fatalf("no file: %v %v", days, err)
	}
	now := time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)
	s, err := NewSalts(path, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(now.Add(2 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	days, err := StateDays(path, now.Add(2*time.Hour))
	want := []time.Time{time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}
	if err != nil || !slices.Equal(days, want) {
		t.Fatalf("days %v %v, want %v", days, err, want)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("reading changed the file")
	}
	// A seed left behind (the node stopped) still derives its old day:
	// the report must see it.
	if days, _ := StateDays(path, now.Add(5*24*time.Hour)); len(days) != 6 || !days[0].Equal(want[0]) {
		t.Fatalf("days of a stale seed: %v", days)
	}
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := StateDays(path, now); err == nil {
		t.Fatal("a broken file read as no salts")
	}
}
