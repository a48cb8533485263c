package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline/wal"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// The fault tests run the real binary (this test binary standing in for it,
// see TestMain) against a real ClickHouse server, send load over loopback,
// break something, and then check every acknowledged event is stored
// exactly once. Every loop is bounded; the tests stop by themselves.
//
// Half of the load carries a valid signed consent cookie granting
// statistics and the identified purpose: those events also have a row in
// the identified database, which must be there exactly once too.

const faultUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// faultPolicy is the site's consent policy version.
const faultPolicy = "2026-11"

type faultEnv struct {
	dir     string
	url     string
	names   store.Names
	st      store.Store
	addr    string
	admin   string
	args    []string
	logs    *lockedBuffer
	consent string // a valid sezim_consent cookie value
}

// newFaultEnv prepares a collector on storeURL; st, which check reads, may
// be nil until then (an embedded store can be opened only once the
// collector has stopped).
func newFaultEnv(t *testing.T, storeURL string, names store.Names, st store.Store, dataDir string) *faultEnv {
	t.Helper()
	t.Setenv("SEZIM_TEST_BE_MAIN", "1")
	dir := t.TempDir()
	if dataDir == "" {
		dataDir = filepath.Join(dir, "data")
	}
	cfg := filepath.Join(dir, "sites.yaml")
	yaml := "sites:\n  - id: fault\n    domains: [fault.example]\n    consent:\n      purposes: [statistics, identified]\n" +
		"      policy_version: \"" + faultPolicy + "\"\n      policy_text_hash: \"" + strings.Repeat("5f2b0e3a", 8) + "\"\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &faultEnv{dir: dir, url: storeURL, names: names, st: st, logs: &lockedBuffer{}}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	t.Setenv("SEZIM_CONSENT_KEY", hex.EncodeToString(key)) // the child inherits it: no secret on its command line
	keys, err := consent.NewKeys(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c := consent.Cookie{Purposes: consent.Purposes(consent.Necessary).With(consent.Statistics).With(consent.Identified),
		Issued: now.Add(-time.Hour).Unix(), Expires: now.Add(24 * time.Hour).Unix(), Receipt: consent.NewReceipt(), HasReceipt: true}
	if e.consent, err = keys.Encode("fault", faultPolicy, &c); err != nil {
		t.Fatal(err)
	}
	if e.addr, err = freeAddr(); err != nil {
		t.Fatal(err)
	}
	api, _ := freeAddr()
	if e.admin, err = freeAddr(); err != nil {
		t.Fatal(err)
	}
	e.args = []string{"serve", "--automigrate", "--store", storeURL, "--config", cfg, "--data", dataDir,
		"--stats-db", e.names.Stats, "--identified-db", e.names.Identified, "--staff-db", e.names.Staff,
		"--addr", e.addr, "--api-addr", api, "--admin-addr", e.admin, "--flush-interval", "300ms"}
	return e
}

func (e *faultEnv) start(t *testing.T) *child {
	t.Helper()
	c, err := startChild(t.Context(), e.args, "http://"+e.admin+"/healthz", e.logs)
	if err != nil {
		t.Fatalf("%v\n%s", err, e.logs.String())
	}
	t.Cleanup(func() { _ = c.cmd.Process.Kill() })
	return c
}

func (e *faultEnv) ready() int {
	resp, err := http.Get("http://" + e.admin + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// load sends beacons with a unique path each, from workers, until stop is
// closed, and sorts every request by what the client can know of it. With
// a consent cookie, every other beacon carries it (and a user id): those
// paths must also have exactly one identified row when acknowledged.
type load struct {
	mu        sync.Mutex
	acked     map[string]bool // 202: must be stored exactly once
	uncertain map[string]bool // no answer: may or may not be stored
	consented map[string]bool // sent with the consent cookie
	refused   int             // 503: must not be stored
	stop      chan struct{}
	wg        sync.WaitGroup
}

func startLoad(addr string, workers int, pause time.Duration, limit time.Duration, consentCookie string) *load {
	l := &load{acked: map[string]bool{}, uncertain: map[string]bool{}, consented: map[string]bool{}, stop: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(limit)
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				path := fmt.Sprintf("/f/%d-%d", w, i)
				body := fmt.Sprintf(`{"s":"fault","u":"https://fault.example%s"}`, path)
				withConsent := consentCookie != "" && i%2 == 0
				if withConsent {
					body = fmt.Sprintf(`{"s":"fault","u":"https://fault.example%s","uid":"user-%d"}`, path, w)
				}
				req, _ := http.NewRequest("POST", "http://"+addr+"/e", strings.NewReader(body))
				req.Header.Set("User-Agent", faultUA)
				req.Header.Set("Accept", "*/*")
				req.Header.Set("Accept-Language", "ru")
				if withConsent {
					req.Header.Set("Cookie", "sezim_consent="+consentCookie+"; sezim_vid="+faultVisitor(w))
				}
				resp, err := client.Do(req)
				l.mu.Lock()
				if withConsent {
					l.consented[path] = true
				}
				switch {
				case err != nil:
					l.uncertain[path] = true
				case resp.StatusCode == 202:
					l.acked[path] = true
				case resp.StatusCode == 503:
					l.refused++
				default:
					l.uncertain[path] = true
				}
				l.mu.Unlock()
				if resp != nil {
					resp.Body.Close()
				}
				if err != nil {
					time.Sleep(20 * time.Millisecond) // the server is down: do not spin
				} else if pause > 0 {
					time.Sleep(pause)
				}
			}
		}()
	}
	return l
}

func (l *load) end() {
	close(l.stop)
	l.wg.Wait()
}

func (l *load) counts() (acked, uncertain, refused int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked), len(l.uncertain), l.refused
}

// faultVisitor is worker w's sezim_vid cookie (the form consent issues:
// 22 base64url characters).
func faultVisitor(w int) string { return fmt.Sprintf("fault%016dA", w) }

// check reads what was stored and compares it with what was acknowledged:
// every acknowledged event once in the events table, every acknowledged
// consented one once in the identified table, nothing twice, nothing that
// was never sent, and an event and its identified row either both stored
// or neither (they are one record in the write-ahead log).
func (e *faultEnv) check(t *testing.T, l *load) {
	t.Helper()
	stored := e.countByPath(t, "SELECT path, count() FROM "+e.names.Stats+".events WHERE site = 'fault' GROUP BY path")
	// A row counts only with the identity it should have: the worker's
	// visitor id, its user id and the loopback address truncated.
	identified := e.countByPath(t, "SELECT path, count() FROM "+e.names.Identified+".events WHERE site = 'fault'"+
		" AND visitor_id LIKE 'fault%' AND user_id LIKE 'user-%' AND ip = '127.0.0.0' GROUP BY path")
	allIdentified := e.countByPath(t, "SELECT path, count() FROM "+e.names.Identified+".events GROUP BY path")
	missing, doubled, unknown := 0, 0, 0
	for p, n := range stored {
		if n > 1 {
			doubled++
		}
		if !l.acked[p] && !l.uncertain[p] {
			unknown++
		}
	}
	for p := range l.acked {
		if stored[p] == 0 {
			missing++
		}
	}
	idMissing, idDoubled, idStray, ackedConsented, storedConsented := 0, 0, 0, 0, 0
	for p, n := range allIdentified {
		switch {
		case n > 1:
			idDoubled++
		case !l.consented[p] || identified[p] != n || stored[p] != n:
			idStray++ // an anonymous event's, a wrong identity, or without its event
		}
	}
	for p := range l.consented {
		if l.acked[p] {
			ackedConsented++
			if identified[p] != 1 {
				idMissing++
			}
		}
		if stored[p] > 0 {
			storedConsented++
			if allIdentified[p] == 0 {
				idMissing++ // the event without its row
			}
		}
	}
	acked, uncertain, refused := l.counts()
	t.Logf("acknowledged %d (%d consented), no answer %d, refused %d; stored %d distinct, %d identified rows",
		acked, ackedConsented, uncertain, refused, len(stored), len(allIdentified))
	if acked == 0 || missing > 0 || doubled > 0 || unknown > 0 {
		t.Fatalf("%d acknowledged events missing, %d stored twice, %d stored that were never sent (of %d acknowledged)\n%s",
			missing, doubled, unknown, acked, e.logs.String())
	}
	if ackedConsented == 0 || idMissing > 0 || idDoubled > 0 || idStray > 0 {
		t.Fatalf("identified rows: %d missing, %d stored twice, %d wrong or without their event (of %d acknowledged consented events, %d stored)\n%s",
			idMissing, idDoubled, idStray, ackedConsented, storedConsented, e.logs.String())
	}
}

// countByPath runs q, which selects a path and a count.
func (e *faultEnv) countByPath(t *testing.T, q string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	err := e.st.Query(t.Context(), q, func(r store.Row) error {
		out[r.String(0)] = r.Uint64(1)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestKill9UnderLoad: the collector is killed with SIGKILL in the middle of
// load and started again on the same data folder: every acknowledged event
// is stored once, none twice, and so is every acknowledged consented
// event's identified row. On the ClickHouse server and on the embedded
// engine (in the collector's process, so read once it has stopped).
func TestKill9UnderLoad(t *testing.T) {
	t.Run("clickhouse", func(t *testing.T) {
		st := storetest.Server(t)
		kill9UnderLoad(t, newFaultEnv(t, os.Getenv(storetest.EnvServer), st.DB(), st, ""))
	})
	t.Run("chdb", func(t *testing.T) {
		storetest.RequireLib(t) // for the collector, and for reading its store here
		url := "chdb://" + filepath.Join(t.TempDir(), "chdb")
		e := newFaultEnv(t, url, store.Names{Stats: "fault_stats", Identified: "fault_identified", Staff: "fault_staff"}, nil, "")
		kill9UnderLoad(t, e)
	})
}

func kill9UnderLoad(t *testing.T, e *faultEnv) {
	c := e.start(t)
	l := startLoad(e.addr, 8, 0, 20*time.Second, e.consent)
	time.Sleep(1500 * time.Millisecond)
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-c.done
	time.Sleep(300 * time.Millisecond)
	e.start(t)
	time.Sleep(1500 * time.Millisecond)
	l.end()
	c2 := e.lastChild(t)
	if err := c2.stop(); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, e.logs.String())
	}
	if e.st == nil {
		st, err := store.Open(t.Context(), e.url, e.names)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		e.st = st
	}
	e.check(t, l)
}

// lastChild finds the running collector by its admin address (the one start
// returned last); kept simple by starting at most two.
func (e *faultEnv) lastChild(t *testing.T) *child {
	t.Helper()
	out, err := exec.Command("pgrep", "-f", "--", e.admin).Output()
	if err != nil {
		t.Fatalf("collector not found: %v", err)
	}
	var pid int
	fmt.Sscan(string(bytes.Fields(out)[0]), &pid)
	p, _ := os.FindProcess(pid)
	done := make(chan error, 1)
	go func() {
		for {
			if err := p.Signal(syscall.Signal(0)); err != nil {
				done <- nil
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return &child{cmd: &exec.Cmd{Process: p}, done: done}
}

// TestClickHouseOutage: the ClickHouse server stops for 60 s under load and
// starts again; /readyz goes red, then green; the log drains; nothing is
// lost or doubled.
func TestClickHouseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("takes two minutes")
	}
	dir := t.TempDir()
	port := freePort(t)
	script := filepath.Join(moduleRoot(t), "scripts", "clickhouse-test-server.sh")
	chStart := func() {
		out, err := exec.Command("bash", script, "start", dir, fmt.Sprint(port)).CombinedOutput()
		if err != nil {
			t.Fatalf("cannot start ClickHouse: %v\n%s", err, out)
		}
	}
	chStop := func() { _ = exec.Command("bash", script, "stop", dir).Run() }
	chStart()
	t.Cleanup(chStop)
	url := fmt.Sprintf("clickhouse://default:@127.0.0.1:%d/", port)
	st, err := store.Open(t.Context(), url, store.Names{Stats: "fault_stats", Identified: "fault_identified", Staff: "fault_staff"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := newFaultEnv(t, url, st.DB(), st, "")
	c := e.start(t)
	l := startLoad(e.addr, 4, 5*time.Millisecond, 3*time.Minute, e.consent)
	time.Sleep(3 * time.Second)
	chStop()
	downAt := time.Now()
	sawRed := waitFor(70*time.Second, func() bool { return e.ready() == 503 })
	if !sawRed {
		t.Error("/readyz never went red while ClickHouse was down")
	}
	if d := time.Until(downAt.Add(60 * time.Second)); d > 0 {
		time.Sleep(d)
	}
	chStart()
	if !waitFor(90*time.Second, func() bool { return e.ready() == 200 }) {
		t.Errorf("/readyz did not go green again after ClickHouse returned\n%s", e.logs.String())
	}
	time.Sleep(time.Second)
	l.end()
	if err := c.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	// A fresh connection: the old one saw the server go away.
	st2, err := store.Open(context.Background(), url, e.names)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	e.st = st2
	e.check(t, l)
}

// TestUnwritableWAL: the folder of the write-ahead log can no longer be
// written under load (its file system is full): the collector answers 503,
// /readyz is red and says why, it logs the failure and does not crash;
// writable again, it recovers. Needs root (a small tmpfs is mounted for the
// folder and filled).
func TestUnwritableWAL(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	st := storetest.Server(t)
	data := t.TempDir()
	walDir := filepath.Join(data, "wal")
	os.MkdirAll(walDir, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", walDir).CombinedOutput(); err != nil {
		t.Fatalf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", walDir).Run() })
	e := newFaultEnv(t, os.Getenv(storetest.EnvServer), st.DB(), st, data)
	c := e.start(t)
	l := startLoad(e.addr, 4, 2*time.Millisecond, time.Minute, e.consent)
	time.Sleep(time.Second)
	filler := filepath.Join(walDir, "filler")
	fillDisk(t, filler)
	// Shipped segments are deleted and free space again, so the file
	// system is topped up on every look, and /readyz counts once seen red:
	// on a slow machine the two need not be seen at the same instant.
	sawRed := false
	if !waitFor(20*time.Second, func() bool {
		fillDisk(t, filler)
		sawRed = sawRed || e.ready() == 503
		_, _, r := l.counts()
		return r > 10 && sawRed
	}) {
		_, _, r := l.counts()
		t.Errorf("no 503s (%d) or /readyz never red (%v) while the log cannot be written", r, sawRed)
	}
	if err := c.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatal("the collector died")
	}
	if !strings.Contains(e.logs.String(), "wal") && !strings.Contains(e.logs.String(), "write-ahead") {
		t.Errorf("no log line about the write-ahead log:\n%s", e.logs.String())
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	before, _, _ := l.counts()
	if !waitFor(20*time.Second, func() bool { a, _, _ := l.counts(); return a > before+20 && e.ready() == 200 }) {
		t.Errorf("did not recover once the folder was writable again\n%s", e.logs.String())
	}
	l.end()
	if err := c.stop(); err != nil {
		t.Fatal(err)
	}
	e.check(t, l)
}

// TestCorruptSegmentOnStart: a segment damaged in the middle is found at
// start, reported, and its good part shipped.
func TestCorruptSegmentOnStart(t *testing.T) {
	st := storetest.Server(t)
	data := t.TempDir()
	walDir := filepath.Join(data, "wal")
	w, err := wal.Open(wal.Options{Dir: walDir}) // no store: nothing ships
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	const n = 200
	for i := range n {
		ev := event.Event{SiteID: "fault", Time: now, SaltDay: day, Visitor: uint64(i + 1), Kind: event.KindPageview,
			Path: fmt.Sprintf("/c/%03d", i), Tier: event.TierAnonymous}
		if err := w.Write(&ev); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	_ = w.Close(ctx)
	cancel()
	segs, _ := filepath.Glob(filepath.Join(walDir, "*.wal"))
	if len(segs) != 1 {
		t.Fatalf("want one segment, found %v", segs)
	}
	data2, _ := os.ReadFile(segs[0])
	data2[len(data2)/2] ^= 0xff // damage a record in the middle
	os.WriteFile(segs[0], data2, 0o600)

	e := newFaultEnv(t, os.Getenv(storetest.EnvServer), st.DB(), st, data)
	c := e.start(t)
	if !waitFor(30*time.Second, func() bool { return e.ready() == 200 }) {
		t.Fatalf("not ready\n%s", e.logs.String())
	}
	time.Sleep(time.Second)
	if err := c.stop(); err != nil {
		t.Fatal(err)
	}
	var got []string
	err = st.Query(t.Context(), "SELECT path FROM "+st.DB().Stats+".events WHERE site = 'fault' ORDER BY path", func(r store.Row) error {
		got = append(got, r.String(0))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || len(got) >= n {
		t.Fatalf("shipped %d of %d events; want the good part before the damage\n%s", len(got), n, e.logs.String())
	}
	for i, p := range got {
		if p != fmt.Sprintf("/c/%03d", i) {
			t.Fatalf("shipped events are not the prefix before the damage: %d is %q", i, p)
		}
	}
	if quarantined, _ := filepath.Glob(filepath.Join(walDir, "*.corrupt")); len(quarantined) != 1 {
		t.Fatalf("damaged segment not kept aside: %v", quarantined)
	}
	if !strings.Contains(strings.ToLower(e.logs.String()), "corrupt") && !strings.Contains(strings.ToLower(e.logs.String()), "damage") {
		t.Fatalf("the damage was not reported:\n%s", e.logs.String())
	}
	t.Logf("shipped the %d events before the damaged record", len(got))
}

// fillDisk writes path until its file system is full.
// fillDisk appends to path until the file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for range 100_000 {
		if _, err := f.Write(chunk); err != nil {
			return // ENOSPC: full
		}
	}
	t.Fatal("the file system never filled")
}

func waitFor(limit time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}

func freePort(t *testing.T) int {
	t.Helper()
	for p := 21000 + os.Getpid()%2000; p < 30000; p += 17 {
		a, _ := freeAddrAt(p)
		b, _ := freeAddrAt(p - 1000)
		c, _ := freeAddrAt(p + 9)
		if a && b && c {
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

func freeAddrAt(port int) (bool, error) {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false, err
	}
	ln.Close()
	return true, nil
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	t.Fatal("module root not found")
	return ""
}
