package hashchain

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// CheckpointFile is the checkpoint file's default name in the data folder.
const CheckpointFile = "log-chain.checkpoints"

// Logs whose chains are checkpointed: the first field of a checkpoint.
const (
	LogConsent = "consent"
	LogAudit   = "audit"
)

// checkpointDomain starts every checkpoint's MAC.
const checkpointDomain = "sezim log checkpoint v1"

// Checkpoint is the head of one chain at a time: its last row stored. A
// checkpoint with Pruned set is instead an anchor left by retention: rows
// up to Seq were destroyed on purpose, and the chain goes on after Hash.
type Checkpoint struct {
	Pruned bool
	Log    string // LogConsent or LogAudit
	Chain  string
	Seq    uint64
	Hash   string // the row_hash of row Seq
	Alg    string
	Time   time.Time // when it was written, second precision
}

// mac is the checkpoint's HMAC under k, over every field.
func (c *Checkpoint) mac(k *Key) string {
	h := NewHasher(k, checkpointDomain)
	h.Put(c.kind())
	h.Put(c.Log)
	h.Put(c.Chain)
	h.Put(strconv.FormatUint(c.Seq, 10))
	h.Put(c.Hash)
	h.Put(c.Alg)
	h.Put(strconv.FormatInt(c.Time.Unix(), 10))
	return h.Sum()
}

func (c *Checkpoint) kind() string {
	if c.Pruned {
		return "v1-pruned"
	}
	return "v1"
}

// line is c as one line of the file: space-separated fields, the MAC last.
// Every field is a fixed name, hex or a number, so none holds a space.
func (c *Checkpoint) line(k *Key) string {
	alg := c.Alg
	if alg == "" {
		alg = "-"
	}
	return fmt.Sprintf("%s %s %s %d %s %s %d %s\n", c.kind(), c.Log, c.Chain, c.Seq, c.Hash, alg, c.Time.Unix(), c.mac(k))
}

func parseCheckpoint(s string) (Checkpoint, string, bool) {
	f := strings.Fields(s)
	if len(f) != 8 || f[0] != "v1" && f[0] != "v1-pruned" {
		return Checkpoint{}, "", false
	}
	seq, err1 := strconv.ParseUint(f[3], 10, 64)
	ts, err2 := strconv.ParseInt(f[6], 10, 64)
	if err1 != nil || err2 != nil {
		return Checkpoint{}, "", false
	}
	alg := f[5]
	if alg == "-" {
		alg = ""
	}
	return Checkpoint{Pruned: f[0] == "v1-pruned", Log: f[1], Chain: f[2], Seq: seq, Hash: f[4], Alg: alg, Time: time.Unix(ts, 0).UTC()}, f[7], true
}

// Checkpoints appends checkpoints to a file. It is safe for concurrent
// use, and several processes may append to one file: each write holds an
// exclusive lock on it.
type Checkpoints struct {
	key  *Key
	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenCheckpoints opens (creating, mode 0600) the checkpoint file at path
// for appending checkpoints MACed under k.
func OpenCheckpoints(path string, k *Key) (*Checkpoints, error) {
	if k == nil {
		return nil, errors.New("cannot open checkpoints without a key")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open the log checkpoints %q: %w", path, err)
	}
	return &Checkpoints{key: k, path: path, f: f}, nil
}

// Path is the file's path.
func (c *Checkpoints) Path() string { return c.path }

// Write appends cps with one write and makes them durable before it
// returns. A zero Time is stamped with the current time.
func (c *Checkpoints) Write(cps ...Checkpoint) error {
	if len(cps) == 0 {
		return nil
	}
	var buf bytes.Buffer
	now := time.Now().UTC().Truncate(time.Second)
	for _, cp := range cps {
		if cp.Time.IsZero() {
			cp.Time = now
		}
		buf.WriteString(cp.line(c.key))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return fmt.Errorf("cannot write the log checkpoints %q: closed", c.path)
	}
	fd := int(c.f.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_EX); err != nil {
		return fmt.Errorf("cannot lock the log checkpoints %q: %w", c.path, err)
	}
	defer syscall.Flock(fd, syscall.LOCK_UN)
	if _, err := c.f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("cannot write the log checkpoints %q: %w", c.path, err)
	}
	if err := syscall.Fdatasync(fd); err != nil {
		return fmt.Errorf("cannot sync the log checkpoints %q: %w", c.path, err)
	}
	return nil
}

// Close closes the file.
func (c *Checkpoints) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}

// Heads are the newest checkpoint of each chain read from checkpoint
// files, and what could not be trusted in them.
type Heads struct {
	// Files is how many checkpoint files were read (a missing one counts
	// as not read).
	Files int
	// Lines is how many checkpoints were read, Bad how many of them do not
	// verify under the key (forged or altered lines, or the wrong key).
	Lines, Bad int
	// BadLine is the first bad line's file and number, for the report.
	BadLine string
	byChain map[string]Checkpoint // log + " " + chain
	pruned  map[string]Checkpoint
}

// PrunedOf is the newest retention anchor of a chain of log.
func (h *Heads) PrunedOf(log, chain string) (Checkpoint, bool) {
	c, ok := h.pruned[log+" "+chain]
	return c, ok
}

// Of is the newest checkpoint of a chain of log.
func (h *Heads) Of(log, chain string) (Checkpoint, bool) {
	c, ok := h.byChain[log+" "+chain]
	return c, ok
}

// Chains are the checkpointed chains of log.
func (h *Heads) Chains(log string) []Checkpoint {
	var out []Checkpoint
	for _, c := range h.byChain {
		if c.Log == log {
			out = append(out, c)
		}
	}
	return out
}

// ReadHeads reads checkpoint files and keeps, per chain, the checkpoint
// with the highest seq among those whose MAC verifies under k. A missing
// file is skipped (Files tells); a torn last line (a crash while
// appending) is not counted as bad.
func ReadHeads(k *Key, paths ...string) (*Heads, error) {
	h := &Heads{byChain: map[string]Checkpoint{}, pruned: map[string]Checkpoint{}}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read the log checkpoints %q: %w", p, err)
		}
		h.Files++
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		n := 0
		for sc.Scan() {
			n++
			text := sc.Text()
			torn := n == bytes.Count(data, []byte{'\n'})+1 // no newline after it
			cp, mac, ok := parseCheckpoint(text)
			if torn && !ok {
				continue
			}
			h.Lines++
			if !ok || !hmac.Equal([]byte(mac), []byte(cp.mac(k))) {
				h.Bad++
				if h.BadLine == "" {
					h.BadLine = fmt.Sprintf("%s:%d", p, n)
				}
				continue
			}
			m := h.byChain
			if cp.Pruned {
				m = h.pruned
			}
			id := cp.Log + " " + cp.Chain
			if old, ok := m[id]; !ok || cp.Seq >= old.Seq {
				m[id] = cp
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("cannot read the log checkpoints %q: %w", p, err)
		}
	}
	return h, nil
}
