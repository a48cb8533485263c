package main

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secretFlags is a flag set with one secret and a store, writing to out.
func secretFlags(out *bytes.Buffer) (*storeFlags, *string, func(args ...string) error) {
	fs := newFlagSet("x", "", out)
	var sf storeFlags
	sf.register(fs)
	var key string
	secretVar(fs, &key, "consent-key", "key")
	return &sf, &key, func(args ...string) error { return parseFlags(fs, args) }
}

func TestSecretsFromFilesAndTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "key")
	os.WriteFile(file, []byte("from-file\r\nsecond line\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)

	f := func(env map[string]string, args []string, wantKey, wantErr string, warn bool) {
		t.Helper()
		for _, k := range []string{"SEZIM_CONSENT_KEY", "SEZIM_CONSENT_KEY_FILE", "SEZIM_STORE", "SEZIM_STORE_PASSWORD"} {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
		for k, v := range env {
			t.Setenv(k, v)
		}
		var out bytes.Buffer
		_, key, parse := secretFlags(&out)
		err := parse(args...)
		switch {
		case wantErr != "":
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("%v %v: err %v, want %q", env, args, err, wantErr)
			}
			if strings.Contains(err.Error(), "from-env") || strings.Contains(err.Error(), "from-file") {
				t.Fatalf("the error quotes the secret: %v", err)
			}
			return
		case err != nil:
			t.Fatalf("%v %v: %v", env, args, err)
		}
		if *key != wantKey {
			t.Fatalf("%v %v: key %q, want %q", env, args, *key, wantKey)
		}
		if got := strings.Contains(out.String(), "warning: --consent-key on the command line"); got != warn {
			t.Fatalf("%v %v: warning %v, want %v (%q)", env, args, got, warn, out.String())
		}
	}
	f(nil, []string{"--consent-key", "from-flag"}, "from-flag", "", true)
	f(nil, []string{"--consent-key-file", file}, "from-file", "", false)
	f(map[string]string{"SEZIM_CONSENT_KEY": "from-env"}, nil, "from-env", "", false)
	f(map[string]string{"SEZIM_CONSENT_KEY_FILE": file}, nil, "from-file", "", false)
	// The command line wins over the environment, file or not.
	f(map[string]string{"SEZIM_CONSENT_KEY": "from-env"}, []string{"--consent-key-file", file}, "from-file", "", false)
	f(map[string]string{"SEZIM_CONSENT_KEY_FILE": file}, []string{"--consent-key", "from-flag"}, "from-flag", "", true)
	// Two sources in one place, a missing or empty file: errors.
	f(nil, []string{"--consent-key", "x", "--consent-key-file", file}, "", "not both", false)
	f(map[string]string{"SEZIM_CONSENT_KEY": "from-env", "SEZIM_CONSENT_KEY_FILE": file}, nil, "", "not both", false)
	f(nil, []string{"--consent-key-file", filepath.Join(dir, "missing")}, "", "cannot read secret file", false)
	f(nil, []string{"--consent-key-file", empty}, "", "is empty", false)
}

func TestStorePasswordFromAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(file, []byte("s3cret/:@\n"), 0o600)

	var out bytes.Buffer
	sf, _, parse := secretFlags(&out)
	if err := parse("--store", "clickhouse://sezim@db:9000/", "--store-password-file", file); err != nil {
		t.Fatal(err)
	}
	raw, err := sf.storeURL()
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if pw, _ := u.User.Password(); err != nil || u.User.Username() != "sezim" || pw != "s3cret/:@" || u.Host != "db:9000" {
		t.Fatalf("store URL %q, %v", raw, err)
	}
	if out.Len() != 0 {
		t.Fatalf("warned without a secret on the command line: %q", out.String())
	}

	out.Reset()
	_, _, parse = secretFlags(&out)
	if err := parse("--store", "clickhouse://sezim:inline@db:9000/"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "warning: --store on the command line") || strings.Contains(out.String(), "inline") {
		t.Fatalf("a password in --store: warning %q", out.String())
	}

	sf, _, parse = secretFlags(&out)
	if err := parse("--store", "chdb://data", "--store-password-file", file); err != nil {
		t.Fatal(err)
	}
	if _, err := sf.storeURL(); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("a password for an embedded store: %v", err)
	}
}
