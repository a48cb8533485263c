package main

import (
	"bytes"
	"testing"
)

// TestImportFlags: the command's own checks, before anything is read.
func TestImportFlags(t *testing.T) {
	for _, args := range [][]string{
		{"import"},
		{"import", "--collector", "http://x", "a.log"},
		{"import", "--format", "xml", "a.log"},
		{"import", "--direct", "--collector", "http://x", "a.log"},
	} {
		var out, errb bytes.Buffer
		if code := run(t.Context(), args, &out, &errb); code == 0 {
			t.Fatalf("%v: exit 0", args)
		}
	}
}
