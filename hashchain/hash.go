package hashchain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
)

// Hash algorithms, as stored in a row's hash_alg column. They are stored:
// never rename.
const (
	// AlgLegacy is the empty hash_alg of rows written before keyed
	// chains: plain SHA-256, like AlgSHA256.
	AlgLegacy = ""
	// AlgSHA256 is plain SHA-256: anyone can recompute it, so it shows
	// accidental damage, not tampering.
	AlgSHA256 = "sha256"
	// AlgHMAC is HMAC-SHA-256 under the chain key.
	AlgHMAC = "hmac-sha256"
)

// Keyed tells whether alg is a keyed algorithm.
func Keyed(alg string) bool { return alg == AlgHMAC }

// Known tells whether alg is an algorithm this package verifies.
func Known(alg string) bool { return alg == AlgLegacy || alg == AlgSHA256 || alg == AlgHMAC }

// Hasher hashes a row as a sequence of length-prefixed fields, so no two
// different rows encode the same. It starts with a domain string, so a
// row hash of one log is never the hash of anything else.
type Hasher struct {
	h  hash.Hash
	lb [binary.MaxVarintLen64]byte
}

// NewHasher starts a hash under k (HMAC-SHA-256), or plain SHA-256 when k
// is nil, with domain as its first field.
func NewHasher(k *Key, domain string) *Hasher {
	var h hash.Hash
	if k == nil {
		h = sha256.New()
	} else {
		h = hmac.New(sha256.New, k.b)
	}
	s := &Hasher{h: h}
	s.Put(domain)
	return s
}

// Put adds one field.
func (s *Hasher) Put(v string) {
	s.h.Write(s.lb[:binary.PutUvarint(s.lb[:], uint64(len(v)))])
	s.h.Write([]byte(v))
}

// Sum is the hash so far, in hex.
func (s *Hasher) Sum() string { return hex.EncodeToString(s.h.Sum(nil)) }
