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
	if days, err := StateDays(path); err != nil || len(days) != 0 {
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
	days, err := StateDays(path)
	want := []time.Time{time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}
	if err != nil || !slices.Equal(days, want) {
		t.Fatalf("days %v %v, want %v", days, err, want)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("reading changed the file")
	}
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := StateDays(path); err == nil {
		t.Fatal("a broken file read as no salts")
	}
}
