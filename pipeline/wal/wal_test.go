package wal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/site"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func open(t testing.TB, o Options) *WAL {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quiet
	}
	if o.SealAfter == 0 {
		o.SealAfter = time.Hour // tests ship with Flush
	}
	w, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.abandon() })
	return w
}

// onDisk decodes every record of every segment in dir, oldest first.
func onDisk(t testing.TB, dir string) []event.Event {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*"+segExt))
	slices.Sort(names)
	var out []event.Event
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		r := scan(data)
		if r.damage != intact {
			t.Fatalf("%s: damage %d (%s) after open", name, r.damage, r.why)
		}
		text := string(data)
		for _, off := range r.offsets {
			var e event.Event
			var id pipeline.Identity
			if _, err := decodeEvent(recordAt(text, off), r.version, &e, &id); err != nil {
				t.Fatal(err)
			}
			out = append(out, e)
		}
	}
	return out
}

// TestGroupCommit: 8 writers, small segments; every acknowledged event is
// on disk after a crash, and fsyncs were shared.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	w := open(t, Options{Dir: dir, CommitInterval: time.Millisecond, SegmentBytes: 64 << 10, Reg: reg})
	const writers, each = 8, 1000
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				e := sample(g*each + i)
				if err := w.Write(&e); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	commits := testutil.ToFloat64(w.commitCount)
	w.abandon() // a crash: nothing sealed, nothing shipped

	w2 := open(t, Options{Dir: dir})
	got := onDisk(t, dir)
	if len(got) != writers*each {
		t.Fatalf("%d events on disk, want %d", len(got), writers*each)
	}
	seen := map[uint64]bool{}
	for _, e := range got {
		seen[e.Visitor] = true
	}
	if len(seen) != writers*each {
		t.Fatalf("%d distinct events, want %d", len(seen), writers*each)
	}
	if b, n := w2.Pending(); n < 2 || b < int64(writers*each*50) {
		t.Fatalf("pending %d bytes in %d segments", b, n)
	}
	if commits >= writers*each {
		t.Fatalf("%v commits for %d events: no grouping", commits, writers*each)
	}
	t.Logf("%d events in %v commits (%.1f per fsync)", writers*each, commits, writers*each/commits)
}

// writeSegment writes n events to a fresh log in dir and closes it,
// leaving one sealed segment, whose path it returns.
func writeSegment(t *testing.T, dir string, n int) string {
	t.Helper()
	w := open(t, Options{Dir: dir, CommitInterval: -1})
	for i := range n {
		e := sample(i)
		if err := w.Write(&e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*"+segExt))
	if len(names) != 1 {
		t.Fatalf("%d segments", len(names))
	}
	return names[0]
}

// TestTornTail cuts the last record at every byte: the log keeps exactly
// the complete records, reports the cut, and writes on after them.
func TestTornTail(t *testing.T) {
	src := t.TempDir()
	path := writeSegment(t, src, 5)
	whole, _ := os.ReadFile(path)
	offs := scan(whole).offsets
	last := int(offs[4]) - frameSize
	for cut := last; cut < len(whole); cut++ {
		dir := t.TempDir()
		seg := filepath.Join(dir, filepath.Base(path))
		if err := os.WriteFile(seg, whole[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		w := open(t, Options{Dir: dir, Reg: reg})
		got := onDisk(t, dir)
		if len(got) != 4 || !sameEvent(got[3], sample(3)) {
			t.Fatalf("cut at %d: %d records", cut, len(got))
		}
		torn := testutil.ToFloat64(w.damaged.WithLabelValues("torn_tail"))
		if want := float64(min(cut-last, 1)); torn != want {
			t.Fatalf("cut at %d: torn tails counted %v, want %v", cut, torn, want)
		}
		if b, _ := w.Pending(); b != int64(last) {
			t.Fatalf("cut at %d: pending %d, want %d", cut, b, last)
		}
		e := sample(99)
		if err := w.Write(&e); err != nil {
			t.Fatal(err)
		}
		w.abandon()
		if got := onDisk(t, dir); len(got) != 5 || !sameEvent(got[4], sample(99)) {
			t.Fatalf("cut at %d: after a new write, %d records", cut, len(got))
		}
	}
	// A tail of zeros (the file grew, its data never reached the disk).
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, filepath.Base(path)), append(append([]byte{}, whole...), make([]byte, 4096)...), 0o600)
	open(t, Options{Dir: dir})
	if got := onDisk(t, dir); len(got) != 5 {
		t.Fatalf("zero tail: %d records", len(got))
	}
	// A file cut inside its header held nothing acknowledged: removed.
	dir = t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, filepath.Base(path)), whole[:10], 0o600)
	if w := open(t, Options{Dir: dir}); len(onDisk(t, dir)) != 0 || w.sealedCount() != 0 {
		t.Fatal("torn header kept")
	}
}

// TestCorruptMiddle: a bad record with good ones after it keeps the part
// before it and quarantines the file.
func TestCorruptMiddle(t *testing.T) {
	dir := t.TempDir()
	path := writeSegment(t, dir, 10)
	data, _ := os.ReadFile(path)
	offs := scan(data).offsets
	data[offs[6]+3] ^= 0x10
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	w := open(t, Options{Dir: dir, Reg: reg})
	got := onDisk(t, dir)
	if len(got) != 6 || !sameEvent(got[5], sample(5)) {
		t.Fatalf("%d records kept", len(got))
	}
	if _, err := os.Stat(path + corruptExt); err != nil {
		t.Fatalf("not quarantined: %v", err)
	}
	if n := testutil.ToFloat64(w.damaged.WithLabelValues("corrupt")); n != 1 {
		t.Fatalf("corrupt counted %v", n)
	}
	// The quarantined file is never read again, and its sequence never reused.
	w.abandon()
	w = open(t, Options{Dir: dir})
	e := sample(50)
	if err := w.Write(&e); err != nil {
		t.Fatal(err)
	}
	w.abandon()
	if got := onDisk(t, dir); len(got) != 7 {
		t.Fatalf("%d records after reopen", len(got))
	}
}

// TestUnwritableFolder: a folder that cannot be created fails Open with a
// clear error; one that stops being writable fails writes and readiness,
// and both recover when it comes back. As root, permissions do not stop
// writes, so a file stands where the folder should be.
func TestUnwritableFolder(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	_ = os.WriteFile(file, nil, 0o600)
	_, err := Open(Options{Dir: filepath.Join(file, "wal"), Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "cannot create WAL folder") {
		t.Fatalf("open under a file: %v", err)
	}
	if os.Getuid() != 0 {
		ro := filepath.Join(base, "ro")
		_ = os.Mkdir(ro, 0o500)
		if _, err := Open(Options{Dir: ro, Logger: quiet}); err == nil || !strings.Contains(err.Error(), "cannot write to WAL folder") {
			t.Fatalf("open read-only folder: %v", err)
		}
	}

	dir := filepath.Join(base, "wal")
	w := open(t, Options{Dir: dir, CommitInterval: -1})
	e := sample(1)
	if err := w.Write(&e); err != nil {
		t.Fatal(err)
	}
	_ = w.Flush(t.Context()) // seal: the next write needs a new file
	aside := filepath.Join(base, "aside")
	if err := os.Rename(dir, aside); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(dir, nil, 0o600)
	if err := w.Write(&e); err == nil || errors.Is(err, pipeline.ErrBackpressure) {
		t.Fatalf("write to a lost folder: %v", err)
	}
	if err := w.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), "cannot write the WAL") {
		t.Fatalf("ready: %v", err)
	}
	_ = os.Remove(dir)
	_ = os.Rename(aside, dir)
	if err := w.Write(&e); err != nil {
		t.Fatalf("after the folder came back: %v", err)
	}
	if err := w.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	if b, _ := w.Pending(); b != int64(2*(headerSize+frameSize+len(appendEvent(nil, &e, nil)))) {
		t.Fatalf("pending %d", b)
	}
}

func TestClose(t *testing.T) {
	w := open(t, Options{Dir: t.TempDir()})
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := sample(1)
	if err := w.Write(&e); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	if _, err := Open(Options{Dir: t.TempDir(), Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	// Two logs on one folder: the second is refused.
	dir := t.TempDir()
	open(t, Options{Dir: dir})
	if _, err := Open(Options{Dir: dir, Logger: quiet}); err == nil || !strings.Contains(err.Error(), "another sezim") {
		t.Fatalf("second open: %v", err)
	}
}

// TestNoAddressOrUserAgentInTheLog sends hits through the real pipeline
// into the log and scans its files for every address (text and binary,
// full and truncated) and user agent. Consented events (every other one in
// the second run) bring their identity into the log: the visitor id, the
// user id and the network prefix, which the identified row keeps; still
// never the rest of the address or the user agent.
func TestNoAddressOrUserAgentInTheLog(t *testing.T) {
	t.Run("anonymous", func(t *testing.T) { testNoAddressInTheLog(t, false) })
	t.Run("consented", func(t *testing.T) { testNoAddressInTheLog(t, true) })
}

func testNoAddressInTheLog(t *testing.T, consented bool) {
	cfg, err := site.Parse([]byte("sites:\n  - id: sez\n    domains: [sez.im]\n    timezone: Asia/Almaty\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	salts, _ := anon.NewSalts("", now)
	dir := t.TempDir()
	w := open(t, Options{Dir: dir, CommitInterval: -1})
	po := pipeline.Options{Sites: cfg, Salts: salts, Sink: w, Now: func() time.Time { return now }}
	if consented {
		po.Consent = func(h *event.Hit, _ *site.Site, _ time.Time) pipeline.ConsentState {
			if h.UserID == "" {
				return pipeline.ConsentNone
			}
			return pipeline.ConsentIdentified
		}
	}
	p := pipeline.New(po)
	wantIDs := 0
	var secrets [][]byte
	for i := range 200 {
		var ip netip.Addr
		if i%2 == 0 {
			// A /24 of its own: a consented record holds its prefix and
			// then a length byte, which must not pass for another
			// visitor's address in the same /24.
			ip = netip.AddrFrom4([4]byte{203, byte(i), 113, byte(i)})
		} else {
			ip = netip.MustParseAddr(fmt.Sprintf("2a02:6b8:%x:%x::%x", i, i*7, i*13))
		}
		ua := fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Marker%05d", i)
		h := event.Hit{Source: event.SourceBeacon, Time: now, SiteID: "sez", URL: "https://sez.im/p?gclid=CLICK" + fmt.Sprint(i),
			IP: ip, UserAgent: ua, HasAccept: true, HasAcceptLang: true}
		withID := consented && i%4 < 2 // both address families
		if withID {
			h.UserID, h.VisitorCookie = fmt.Sprintf("user-%d", i), fmt.Sprintf("vid%018dA", i)
			wantIDs++
		}
		var e event.Event
		if tier, why, err := p.Process(&h, &e); err != nil || tier == event.TierDrop {
			t.Fatalf("not kept: %v %s", err, why)
		}
		trunc := anon.TruncateIP(ip)
		secrets = append(secrets, []byte(ip.String()), []byte(ua), []byte(fmt.Sprintf("Marker%05d", i)),
			[]byte(trunc.String()), ip.AsSlice(), []byte(fmt.Sprintf("CLICK%d", i)))
		if ip.Is4() {
			b := ip.As4()
			secrets = append(secrets, []byte(fmt.Sprint(binary.BigEndian.Uint32(b[:]))), b[:3])
		} else if b := ip.As16(); !withID {
			secrets = append(secrets, b[:6]) // what a consented row keeps
		} else {
			secrets = append(secrets, b[:7]) // one byte past it
		}
	}
	w.abandon()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) == 0 {
		t.Fatal("no files")
	}
	for _, f := range files {
		data, _ := os.ReadFile(f)
		for _, s := range secrets {
			// A 3-byte /24 may occur by chance in a visitor hash; the
			// full forms (4 bytes and more) practically cannot.
			if len(s) < 4 {
				continue
			}
			if bytes.Contains(data, s) {
				t.Fatalf("%s holds %q", filepath.Base(f), s)
			}
		}
	}
	if n := len(onDisk(t, dir)); n != 200 {
		t.Fatalf("%d events on disk", n)
	}
	if n := identitiesOnDisk(t, dir); n != wantIDs {
		t.Fatalf("%d identities on disk, want %d", n, wantIDs)
	}
}

// identitiesOnDisk counts the records in dir that carry an identity.
func identitiesOnDisk(t testing.TB, dir string) int {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*"+segExt))
	n := 0
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		r := scan(data)
		for _, off := range r.offsets {
			var e event.Event
			var id pipeline.Identity
			has, err := decodeEvent(recordAt(string(data), off), r.version, &e, &id)
			if err != nil {
				t.Fatal(err)
			}
			if has {
				n++
			}
		}
	}
	return n
}

func TestCloseContextDeadline(t *testing.T) {
	w := open(t, Options{Dir: t.TempDir()})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatalf("close without a store: %v", err)
	}
}
