package main

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/store/storetest"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestHelpListsEveryFlagWithItsEnvironmentTwin(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"--help"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "serve") || !strings.Contains(out.String(), "migrate") {
		t.Fatalf("sezim --help: %d %q", code, out.String())
	}
	for _, cmd := range [][]string{{"serve", "--help"}, {"migrate", "--help"}, {"retention", "--help"}} {
		out.Reset()
		errOut.Reset()
		if code := run(t.Context(), cmd, &out, &errOut); code != 0 {
			t.Fatalf("%v: exit %d: %s", cmd, code, errOut.String())
		}
		if !strings.Contains(errOut.String(), "SEZIM_STORE") {
			t.Fatalf("%v help lacks SEZIM_STORE:\n%s", cmd, errOut.String())
		}
	}
	// Every serve flag is listed with its twin and a description.
	fs := newFlagSet("serve", "", nil)
	var o serveOptions
	o.register(fs)
	errOut.Reset()
	run(t.Context(), []string{"serve", "--help"}, &out, &errOut)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(errOut.String(), "--"+f.Name+"  ["+envName(f.Name)+"]") || f.Usage == "" {
			t.Errorf("serve help lacks --%s [%s]", f.Name, envName(f.Name))
		}
	})
}

func TestEnvironmentTwinsAndCommandLinePrecedence(t *testing.T) {
	fs := newFlagSet("x", "", nil)
	a := fs.String("store", "default", "")
	b := fs.String("admin-addr", "default", "")
	t.Setenv("SEZIM_STORE", "from-env")
	t.Setenv("SEZIM_ADMIN_ADDR", "from-env")
	if err := parseFlags(fs, []string{"--admin-addr", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	if *a != "from-env" || *b != "from-flag" {
		t.Fatalf("store=%q admin-addr=%q", *a, *b)
	}
}

func TestServeRejectsABadConfigByName(t *testing.T) {
	p := t.TempDir() + "/sites.yaml"
	os.WriteFile(p, []byte("sites:\n  - id: a\n    domains: [a.kz]\n    timezone: Nowhere/City\n"), 0o600)
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"serve", "--config", p, "--data", t.TempDir()}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), p+": sites[0].timezone") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}

// TestServeOnAServerWithoutLibchdb starts the service against a ClickHouse
// server on a machine where libchdb does not exist: the embedded driver must
// not be loaded unless a chdb:// store is asked for. It also checks the
// refusal to start with pending migrations, and a clean SIGTERM-style stop.
func TestServeOnAServerWithoutLibchdb(t *testing.T) {
	empty := storetest.ServerEmpty(t) // unique, not yet created databases
	names := empty.DB()
	url := os.Getenv(storetest.EnvServer)
	t.Setenv("CHDB_LIB_PATH", "/nonexistent/libchdb.so")
	cfg := "../../config/example.yaml"
	args := []string{"serve", "--store", url, "--config", cfg, "--data", t.TempDir(),
		"--stats-db", names.Stats, "--identified-db", names.Identified, "--staff-db", names.Staff,
		"--addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}

	var out, errOut lockedBuffer
	if code := run(t.Context(), args, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "pending") {
		t.Fatalf("serve with pending migrations: exit %d: %s", code, errOut.String())
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int)
	go func() { done <- run(ctx, append(args, "--automigrate"), &out, &errOut) }()
	admin := ""
	re := regexp.MustCompile(`operator endpoints on (http://\S+)`)
	for deadline := time.Now().Add(30 * time.Second); admin == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			admin = m[1]
		}
	}
	if admin == "" {
		cancel()
		t.Fatalf("serve did not start: %s", errOut.String())
	}
	resp, err := http.Get(admin + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}
