// Package hashchain makes append-only logs tamper-evident: rows are linked
// by a keyed hash (HMAC-SHA-256 under a key kept outside the database), and
// the head of each chain is checkpointed to a local file, also HMACed, so
// that removing the newest rows, or rewriting a whole chain, is detected
// too. The consent log and the staff audit log both use it.
//
// The key never enters the database: an attacker who can rewrite rows in
// ClickHouse but cannot read the key file cannot compute row hashes that
// verify, and cannot forge a checkpoint.
package hashchain

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// KeyFile is the key's default name in the data folder, beside the salts.
const KeyFile = "log-chain.key"

// KeySize is the key's length in bytes.
const KeySize = 32

// Key is the secret that keys row hashes and checkpoints.
type Key struct{ b []byte }

// NewKey returns a Key of b, which must be KeySize bytes.
func NewKey(b []byte) (*Key, error) {
	if len(b) != KeySize {
		return nil, fmt.Errorf("cannot use a log chain key of %d bytes: want %d", len(b), KeySize)
	}
	return &Key{b: bytes.Clone(b)}, nil
}

// RandomKey returns a new random Key.
func RandomKey() *Key {
	b := make([]byte, KeySize)
	_, _ = rand.Read(b)
	return &Key{b: b}
}

// LoadKey reads the key file at path (64 hex digits and a newline). It does
// not create one: verifying with a fresh key would only say that nothing
// verifies.
func LoadKey(path string) (*Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the log chain key %q: %w", path, err)
	}
	b, err := hex.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil || len(b) != KeySize {
		return nil, fmt.Errorf("cannot use the log chain key %q: want %d hex digits", path, 2*KeySize)
	}
	return &Key{b: b}, nil
}

// LoadOrCreateKey reads the key file at path, creating it (mode 0600, with
// a random key) when it does not exist. Creation writes a temporary file
// and links it into place, so two processes starting at once agree on one
// key and a crash never leaves a half-written one.
func LoadOrCreateKey(path string) (*Key, error) {
	k, err := LoadKey(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create folder %q: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".log-chain-key-*")
	if err != nil {
		return nil, fmt.Errorf("cannot create the log chain key in %q: %w", dir, err)
	}
	defer os.Remove(tmp.Name())
	k = RandomKey()
	_, err = tmp.WriteString(hex.EncodeToString(k.b) + "\n")
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("cannot write the log chain key %q: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return LoadKey(path) // another process created it first
		}
		return nil, fmt.Errorf("cannot create the log chain key %q: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	return k, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot open folder %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot sync folder %q: %w", dir, err)
	}
	return nil
}
