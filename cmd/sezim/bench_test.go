package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestMain lets the test binary stand in for sezim when bench starts itself
// as a child process (os.Executable is the test binary here).
func TestMain(m *testing.M) {
	if os.Getenv("SEZIM_TEST_BE_MAIN") == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestBenchChecksEveryAcknowledgedEvent runs a short load against a
// collector bench starts on the embedded store, with the baseline, and
// expects its end check (acknowledged == stored) to pass.
func TestBenchChecksEveryAcknowledgedEvent(t *testing.T) {
	storetest.RequireLib(t)
	t.Setenv("SEZIM_TEST_BE_MAIN", "1")
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"bench", "--duration", "1s", "--warmup", "200ms", "--conns", "8", "--baseline"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"baseline (bare Fiber GIF handler):", "collector / baseline throughput:", "collector memory:", "check: all"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
	t.Log(out.String())
}

// TestBenchConsentMix runs the consent mix at two connection counts against
// a collector bench starts on the embedded store, and expects its end
// check to pass: every acknowledged decision is in the consent log and the
// chain verifies.
func TestBenchConsentMix(t *testing.T) {
	storetest.RequireLib(t)
	t.Setenv("SEZIM_TEST_BE_MAIN", "1")
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"bench", "--mix", "consent", "--duration", "1s", "--warmup", "200ms", "--conns", "4,16"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"collector, 4 connections:", "collector, 16 connections:", "check: all 0 acknowledged events",
		"acknowledged consent decisions are in the consent log, in 1 chain(s) that verify"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "check: all 0 acknowledged consent") {
		t.Fatalf("no decision was stored:\n%s", out.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "collector") && strings.Contains(line, " ok, ") && !strings.Contains(line, " 0 not 2xx") {
			t.Fatalf("decisions refused (the mix must be valid and under the rate limit): %s", line)
		}
	}
	t.Log(out.String())
}
