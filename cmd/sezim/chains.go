package main

// The chain key and checkpoints of the consent and audit logs, shared by
// every command that writes or verifies them, and the audit trail of the
// commands themselves.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/hashchain"
	"github.com/sezim-analytics/sezim/store"
)

// chainFlags are --log-key and --checkpoints; both default to files in
// the data folder (*dataDir), beside the salts.
type chainFlags struct {
	dataDir     *string
	key         string
	checkpoints string
}

func (f *chainFlags) register(fs *flag.FlagSet, dataDir *string) {
	f.dataDir = dataDir
	fs.StringVar(&f.key, "log-key", "", "file of the key that chains the consent and audit logs (default DATA/"+hashchain.KeyFile+", created with mode 0600 on first start); keep a copy off the machine: without it the logs cannot be verified")
	fs.StringVar(&f.checkpoints, "checkpoints", "", "file the heads of the log chains are checkpointed to (default DATA/"+hashchain.CheckpointFile+"); verify takes several, comma-separated, one per collector")
}

func (f *chainFlags) keyPath() string {
	if f.key != "" {
		return f.key
	}
	return filepath.Join(*f.dataDir, hashchain.KeyFile)
}

func (f *chainFlags) checkpointPaths() []string {
	if f.checkpoints == "" {
		return []string{filepath.Join(*f.dataDir, hashchain.CheckpointFile)}
	}
	var out []string
	for _, p := range strings.Split(f.checkpoints, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// open loads the key, creating it on first use, and opens the checkpoint
// file for appending: for the commands that write the logs.
func (f *chainFlags) open() (*hashchain.Key, *hashchain.Checkpoints, error) {
	if err := os.MkdirAll(*f.dataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("cannot create data folder %q: %w", *f.dataDir, err)
	}
	k, err := hashchain.LoadOrCreateKey(f.keyPath())
	if err != nil {
		return nil, nil, err
	}
	paths := f.checkpointPaths()
	if len(paths) != 1 {
		return nil, nil, fmt.Errorf("--checkpoints: a writer takes one file, not %d", len(paths))
	}
	cps, err := hashchain.OpenCheckpoints(paths[0], k)
	if err != nil {
		return nil, nil, err
	}
	return k, cps, nil
}

// auditor opens the key and checkpoints and returns a keyed Auditor over
// st; close releases the checkpoint file.
func (f *chainFlags) auditor(st store.Store) (a *staff.Auditor, close func(), err error) {
	k, cps, err := f.open()
	if err != nil {
		return nil, nil, err
	}
	a = staff.NewAuditorOptions(staff.AuditorOptions{Store: st, Key: k, Checkpoints: cps})
	return a, func() { cps.Close() }, nil
}

// cliActor names the person running a command in the audit log.
func cliActor() string {
	if u, err := user.Current(); err == nil {
		return "cli:" + u.Username
	}
	return "cli"
}

// recordAudit writes e and logs a failure: the action itself already
// happened, and a command's own result matters more than its audit row,
// but a missing row must not go unnoticed.
func recordAudit(ctx context.Context, a *staff.Auditor, log *slog.Logger, e staff.AuditEntry) {
	if a == nil {
		return
	}
	if err := a.Record(ctx, e); err != nil {
		log.Error("cannot write the audit log", "action", e.Action, "err", err)
	}
}

// fileSHA256 is the SHA-256 of a file in hex, for the audit log's record
// of which configuration was loaded ("" when it cannot be read).
func fileSHA256(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
