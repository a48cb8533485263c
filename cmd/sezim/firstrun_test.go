package main

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestFirstRunAndUserWhileServing plays a new operator on the embedded
// store: serve prints a setup link, the first admin is made through it in
// the browser's way (form POST), the link is then dead, and `sezim user`
// works while serve holds the store (through its control socket), its
// account able to sign in at once.
func TestFirstRunAndUserWhileServing(t *testing.T) {
	storetest.RequireLib(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sites.yaml")
	if err := os.WriteFile(cfg, []byte("sites:\n  - id: first\n    domains: [first.example]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var addrs [3]string
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = a
	}
	api := addrs[1]
	storeURL := "chdb://" + filepath.Join(dir, "chdb")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out, logs := &lockedBuffer{}, &lockedBuffer{}
	serve := exec.Command(self, "serve", "--automigrate", "--store", storeURL, "--config", cfg,
		"--data", filepath.Join(dir, "data"), "--addr", addrs[0], "--api-addr", api, "--admin-addr", addrs[2],
		"--insecure-cookie", "--rollup-interval", "0")
	serve.Env = append(os.Environ(), "SEZIM_TEST_BE_MAIN=1")
	serve.Stdout, serve.Stderr = out, logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	defer func() {
		_ = serve.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(time.Minute):
			_ = serve.Process.Kill()
		}
	}()
	linkRE := regexp.MustCompile(`http://\S+/app/setup\?t=[A-Za-z0-9_-]+`)
	var link string
	for deadline := time.Now().Add(90 * time.Second); link == "" && time.Now().Before(deadline); {
		select {
		case err := <-exited:
			t.Fatalf("serve exited: %v\n%s\n%s", err, out.String(), logs.String())
		case <-time.After(100 * time.Millisecond):
		}
		link = linkRE.FindString(out.String())
	}
	if link == "" {
		t.Fatalf("no setup link printed:\n%s\n%s", out.String(), logs.String())
	}
	if strings.Contains(logs.String(), "/app/setup?t=") {
		t.Fatal("the setup link reached the log")
	}
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) int {
		t.Helper()
		resp, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	post := func(path string, form url.Values) int {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+api+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://"+api)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	token := link[strings.Index(link, "t=")+2:]
	if code := get(link); code != http.StatusOK {
		t.Fatalf("GET setup link: %d", code)
	}
	if code := get("http://" + api + "/app/setup?t=" + token + "x"); code != http.StatusGone {
		t.Fatalf("GET a wrong token: %d, want 410", code)
	}
	pw := "first admin password"
	form := url.Values{"t": {token}, "user": {"root-admin"}, "password": {pw}, "password2": {pw + "!"}}
	if code := post("/app/setup", form); code != http.StatusBadRequest {
		t.Fatalf("passwords that differ: %d, want 400", code)
	}
	form.Set("password2", pw)
	if code := post("/app/setup", form); code != http.StatusCreated {
		t.Fatalf("setup: %d, want 201\n%s", code, logs.String())
	}
	if code := post("/app/setup", form); code != http.StatusGone {
		t.Fatalf("setup link used twice: %d, want 410", code)
	}
	if code := get(link); code != http.StatusGone {
		t.Fatalf("GET the spent link: %d, want 410", code)
	}
	if code := post("/app/login", url.Values{"user": {"root-admin"}, "password": {pw}}); code != http.StatusSeeOther {
		t.Fatalf("the first admin signs in: %d, want 303", code)
	}

	// `sezim user` while serve holds the folder: carried out by serve.
	user := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(self, append([]string{"user"}, args...)...)
		cmd.Env = append(os.Environ(), "SEZIM_TEST_BE_MAIN=1")
		cmd.Stdin = strings.NewReader(stdin)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("sezim user %v: %v\n%s", args, err, b)
		}
		return string(b)
	}
	viewerPW := "viewer password 123"
	if got := user(viewerPW+"\n", "add", "--role", "viewer", "--sites", "first", "--store", storeURL, "--config", cfg, "vera"); !strings.Contains(got, "added vera (viewer)") {
		t.Fatalf("user add: %q", got)
	}
	list := user("", "list", "--store", storeURL, "--config", cfg)
	if !strings.Contains(list, "root-admin") || !strings.Contains(list, "vera") {
		t.Fatalf("user list: %q", list)
	}
	if code := post("/app/login", url.Values{"user": {"vera"}, "password": {viewerPW}}); code != http.StatusSeeOther {
		t.Fatalf("the account added while serving signs in: %d, want 303", code)
	}
	fi, err := os.Stat(filepath.Join(dir, "chdb", controlSocket))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket mode %v, want 0600", fi.Mode().Perm())
	}
}
