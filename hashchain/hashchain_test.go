package hashchain

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// row is a toy log row: its content is one string.
type row struct {
	Row
	content string
}

func (r *row) sum(k *Key) string {
	h := NewHasher(k, "test log")
	h.Put(r.Chain)
	h.Put(strconv.FormatUint(r.Seq, 10))
	h.Put(r.content)
	h.Put(r.PrevHash)
	return h.Sum()
}

// chain builds n rows of chain id under k (nil: unkeyed).
func chain(id string, n int, k *Key) []*row {
	var out []*row
	prev := ""
	for i := 1; i <= n; i++ {
		r := &row{Row: Row{Chain: id, Seq: uint64(i), PrevHash: prev, ID: "r" + strconv.Itoa(i)}, content: "c" + strconv.Itoa(i)}
		if k != nil {
			r.Alg = AlgHMAC
		}
		r.RowHash = r.sum(k)
		prev = r.RowHash
		out = append(out, r)
	}
	return out
}

func head(rows []*row) Checkpoint {
	r := rows[len(rows)-1]
	return Checkpoint{Log: LogAudit, Chain: r.Chain, Seq: r.Seq, Hash: r.RowHash, Alg: r.Alg}
}

// heads writes cps to a checkpoint file under k and reads them back.
func heads(t *testing.T, k *Key, cps ...Checkpoint) *Heads {
	t.Helper()
	path := filepath.Join(t.TempDir(), CheckpointFile)
	c, err := OpenCheckpoints(path, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(cps...); err != nil {
		t.Fatal(err)
	}
	c.Close()
	h, err := ReadHeads(k, path)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestVerifier(t *testing.T) {
	k := RandomKey()
	f := func(name string, rows []*row, key *Key, h *Heads, wantReason string, wantSeq uint64) {
		t.Helper()
		v := NewVerifier(LogAudit, key, h)
		for _, r := range rows {
			v.Add(r.Row, r.sum)
		}
		reps := v.Reports()
		var got *Broken
		for _, rep := range reps {
			if rep.Broken != nil {
				got = rep.Broken
			}
		}
		switch {
		case wantReason == "" && got != nil:
			t.Errorf("%s: want intact, got %+v", name, got)
		case wantReason != "" && (got == nil || got.Reason != wantReason || got.Seq != wantSeq):
			t.Errorf("%s: want %q at seq %d, got %+v", name, wantReason, wantSeq, got)
		}
	}
	good := chain("a", 5, k)
	f("intact", good, k, heads(t, k, head(good)), "", 0)
	f("intact, older checkpoint", good, k, heads(t, k, head(good[:3])), "", 0)
	f("legacy unkeyed", chain("a", 5, nil), k, nil, "", 0)

	altered := chain("a", 5, k)
	altered[2].content = "changed"
	f("altered", altered, k, nil, ReasonAltered, 3)

	f("middle row removed", append(append([]*row{}, good[:2]...), good[3:]...), k, nil, ReasonMissing, 4)
	f("truncated", good[:3], k, heads(t, k, head(good)), ReasonTruncated, 4)
	f("chain removed", nil, k, heads(t, k, head(good)), ReasonVanished, 1)
	f("rewritten with plain SHA-256", chain("a", 5, nil), k, heads(t, k, head(good)), ReasonRewritten, 5)
	f("wrong key", good, RandomKey(), nil, ReasonWrongKey, 1)

	dup := append(append([]*row{}, good[:3]...), good[2:]...)
	f("duplicate seq", dup, k, nil, ReasonDuplicate, 3)

	relinked := chain("a", 5, k)
	relinked[3].PrevHash = "00"
	relinked[3].RowHash = relinked[3].sum(k) // as someone with the key would
	f("relinked", relinked, k, nil, ReasonRelinked, 4)

	// Old rows, then keyed ones: an upgrade; keyed, then unkeyed: a
	// rewrite by someone without the key.
	mixed := chain("a", 4, nil)
	r := &row{Row: Row{Chain: "a", Seq: 5, PrevHash: mixed[3].RowHash, Alg: AlgHMAC}, content: "new"}
	r.RowHash = r.sum(k)
	f("upgrade", append(mixed, r), k, nil, "", 0)
	down := append([]*row{}, good...)
	d := &row{Row: Row{Chain: "a", Seq: 6, PrevHash: good[4].RowHash}, content: "forged"}
	d.RowHash = d.sum(nil)
	f("downgrade", append(down, d), k, nil, ReasonDowngrade, 6)

	// Retention destroyed rows 1 to 3 after anchoring them.
	anchor := head(good[:3])
	anchor.Pruned = true
	f("pruned after an anchor", good[3:], k, heads(t, k, head(good), anchor), "", 0)
	f("pruned without an anchor", good[3:], k, heads(t, k, head(good)), ReasonMissing, 4)
	f("pruned past the anchor", good[4:], k, heads(t, k, head(good), anchor), ReasonMissing, 5)
	all := head(good)
	all.Pruned = true
	f("every row pruned after an anchor", nil, k, heads(t, k, head(good), all), "", 0)

	unknown := chain("a", 2, nil)
	unknown[1].Alg = "md5"
	f("unknown alg", unknown, k, nil, ReasonUnknownAlg, 2)
}

func TestVerifierWithoutKeyChecksLinks(t *testing.T) {
	k := RandomKey()
	v := NewVerifier(LogConsent, nil, nil)
	rows := chain("a", 3, k)
	for _, r := range rows {
		v.Add(r.Row, r.sum)
	}
	reps := v.Reports()
	if len(reps) != 1 || reps[0].Broken != nil || reps[0].Unchecked != 3 || reps[0].Keyed != 0 {
		t.Fatalf("%+v", reps)
	}
}

func TestCheckpoints(t *testing.T) {
	k := RandomKey()
	dir := t.TempDir()
	path := filepath.Join(dir, CheckpointFile)
	c, err := OpenCheckpoints(path, k)
	if err != nil {
		t.Fatal(err)
	}
	// Writers in parallel, as the consent log and the audit log of one
	// process do: every line whole.
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= 50; i++ {
				if err := c.Write(Checkpoint{Log: LogConsent, Chain: "c" + strconv.Itoa(g), Seq: uint64(i), Hash: strings.Repeat("a", 64), Alg: AlgHMAC}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	c.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("checkpoint file: %v %v", fi, err)
	}
	h, err := ReadHeads(k, path, filepath.Join(dir, "missing"))
	if err != nil {
		t.Fatal(err)
	}
	if h.Files != 1 || h.Lines != 200 || h.Bad != 0 || len(h.Chains(LogConsent)) != 4 || len(h.Chains(LogAudit)) != 0 {
		t.Fatalf("heads: %+v", h)
	}
	if cp, ok := h.Of(LogConsent, "c2"); !ok || cp.Seq != 50 {
		t.Fatalf("head of c2: %+v", cp)
	}

	// A torn last line (a crash while appending) is skipped; an altered
	// line is bad; under another key every line is bad.
	data, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(data), "\n")
	forged := strings.Replace(lines[0], " 1 ", " 9 ", 1)
	if err := os.WriteFile(path, []byte(forged+strings.Join(lines[1:], "")+"v1 consent c9 7"), 0o600); err != nil {
		t.Fatal(err)
	}
	if h, _ = ReadHeads(k, path); h.Lines != 200 || h.Bad != 1 || !strings.HasSuffix(h.BadLine, ":1") {
		t.Fatalf("altered line: %+v", h)
	}
	if h, _ = ReadHeads(RandomKey(), path); h.Bad != 200 || len(h.Chains(LogConsent)) != 0 {
		t.Fatalf("wrong key: %+v", h)
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", KeyFile)
	if _, err := LoadKey(path); err == nil {
		t.Fatal("LoadKey created a key")
	}
	var wg sync.WaitGroup
	keys := make([]*Key, 8)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := LoadOrCreateKey(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if k == nil || string(k.b) != string(keys[0].b) {
			t.Fatal("processes starting at once got different keys")
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	k, err := LoadKey(path)
	if err != nil || string(k.b) != string(keys[0].b) {
		t.Fatalf("reload: %v", err)
	}
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err == nil {
		t.Fatal("a damaged key file was replaced or accepted")
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}
