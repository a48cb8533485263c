package consent

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"
)

// CookieName is the preference cookie.
const CookieName = "sezim_consent"

// ReceiptBytes is the size of a receipt id: 96 random bits.
const ReceiptBytes = 12

// cookiePrefix is the format version, and the first thing checked.
const cookiePrefix = "v1."

// Limits that keep the decoder's work bounded whatever the input.
const (
	maxCookieLen  = 512
	maxPayloadLen = 256
	sigLen        = sha256.Size
	sigB64Len     = 43 // base64url of 32 bytes, no padding
)

// Errors of Decode and Check: each means "no consent".
var (
	ErrMalformed  = errors.New("consent cookie is malformed")
	ErrSignature  = errors.New("consent cookie signature does not verify")
	ErrExpired    = errors.New("consent cookie has expired")
	ErrOtherSite  = errors.New("consent cookie is for another site")
	ErrOldPolicy  = errors.New("consent cookie is for another policy version")
	ErrNoKey      = errors.New("no consent signing key")
	errShortKey   = errors.New("a consent key needs at least 32 bytes")
	errKeyFormant = errors.New("a consent key must be hex or base64")
)

// Cookie is the content of a preference cookie.
//
// The payload, before base64url, is:
//
//	site length (1 byte), site, policy version length (1), version,
//	purposes (1, a Purposes mask), services (4, big endian mask),
//	issued (uvarint, unix seconds), expires (uvarint, unix seconds),
//	receipt length (1: 0 for a refusal, else ReceiptBytes), receipt.
//
// The cookie value is "v1." + base64url(payload) + "." +
// base64url(HMAC-SHA256(key, "v1." + base64url(payload))).
type Cookie struct {
	Purposes Purposes
	Services uint32
	Issued   int64 // unix seconds
	Expires  int64 // unix seconds
	// Receipt is the decision's receipt id; all zero (HasReceipt false)
	// in a refusal, which carries no identifier.
	Receipt    [ReceiptBytes]byte
	HasReceipt bool

	// site and version point into buf, so decoding into a Cookie on the
	// stack does not allocate.
	site, version []byte
	buf           [maxPayloadLen]byte
}

// Site is the cookie's site id.
func (c *Cookie) Site() string { return string(c.site) }

// PolicyVersion is the policy version the visitor decided on.
func (c *Cookie) PolicyVersion() string { return string(c.version) }

// Grants reports whether the cookie grants statistics (and so whether the
// visitor's events may be consented).
func (c *Cookie) Grants(p Purpose) bool { return c.Purposes.Has(p) }

// Keys sign new cookies with the current key and accept cookies signed with
// the current or the previous one, so a key can be rotated without turning
// every stored choice into "no consent" at once.
type Keys struct {
	current, previous *keyPool
}

type keyPool struct {
	key  []byte
	pool sync.Pool // of *macState: hmac.New allocates, Reset does not
}

// macState is a pooled MAC with a scratch buffer, so that signing a string
// needs no conversion to a fresh []byte.
type macState struct {
	h   hash.Hash
	buf [maxCookieLen]byte
	sum [sigLen]byte
}

func newKeyPool(key []byte) *keyPool {
	k := &keyPool{key: append([]byte(nil), key...)}
	k.pool.New = func() any { return &macState{h: hmac.New(sha256.New, k.key)} }
	return k
}

// sign writes the MAC of msg (at most maxCookieLen bytes) into out.
func (k *keyPool) sign(msg string, out *[sigLen]byte) {
	m := k.pool.Get().(*macState)
	m.h.Reset()
	for len(msg) > 0 {
		n := copy(m.buf[:], msg)
		_, _ = m.h.Write(m.buf[:n])
		msg = msg[n:]
	}
	copy(out[:], m.h.Sum(m.sum[:0]))
	k.pool.Put(m)
}

// NewKeys returns Keys signing with current and also accepting previous
// (nil: none). Each must hold at least 32 bytes.
func NewKeys(current, previous []byte) (*Keys, error) {
	if len(current) < 32 || (previous != nil && len(previous) < 32) {
		return nil, errShortKey
	}
	k := &Keys{current: newKeyPool(current)}
	if previous != nil {
		k.previous = newKeyPool(previous)
	}
	return k, nil
}

// ParseKey decodes a key given as hex or base64 (standard or URL alphabet,
// padded or not) and checks it holds at least 32 bytes. Its error never
// contains the key.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, ErrNoKey
	}
	var key []byte
	if b, err := hex.DecodeString(s); err == nil {
		key = b
	} else {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(s); err == nil {
				key = b
				break
			}
		}
	}
	if key == nil {
		return nil, errKeyFormant
	}
	if len(key) < 32 {
		return nil, errShortKey
	}
	return key, nil
}

// NewReceipt returns a random receipt id.
func NewReceipt() [ReceiptBytes]byte {
	var r [ReceiptBytes]byte
	if _, err := rand.Read(r[:]); err != nil {
		panic(fmt.Errorf("cannot read random bytes: %w", err)) // crypto/rand does not fail on Linux
	}
	return r
}

// ReceiptString is a receipt id's text form (base64url, 16 characters).
func ReceiptString(r [ReceiptBytes]byte) string { return base64.RawURLEncoding.EncodeToString(r[:]) }

// Encode returns the signed cookie value for c on site and policy version.
// c.HasReceipt false gives a refusal-style cookie with no identifier.
func (k *Keys) Encode(site, version string, c *Cookie) (string, error) {
	if len(site) == 0 || len(site) > 64 || len(version) == 0 || len(version) > 64 {
		return "", fmt.Errorf("cannot encode consent cookie: site and policy version must be 1-64 bytes")
	}
	p := make([]byte, 0, 2+len(site)+len(version)+5+2*binary.MaxVarintLen64+1+ReceiptBytes)
	p = append(p, byte(len(site)))
	p = append(p, site...)
	p = append(p, byte(len(version)))
	p = append(p, version...)
	p = append(p, byte(c.Purposes))
	p = binary.BigEndian.AppendUint32(p, c.Services)
	p = binary.AppendUvarint(p, uint64(max(c.Issued, 0)))
	p = binary.AppendUvarint(p, uint64(max(c.Expires, 0)))
	if c.HasReceipt {
		p = append(p, ReceiptBytes)
		p = append(p, c.Receipt[:]...)
	} else {
		p = append(p, 0)
	}
	signed := cookiePrefix + base64.RawURLEncoding.EncodeToString(p)
	var sig [sigLen]byte
	k.current.sign(signed, &sig)
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig[:]), nil
}

// Decode verifies value's signature (current key, then previous) in
// constant time and decodes it into c. It checks only the cookie's
// integrity; Check also checks site, policy version and expiry. It does not
// allocate.
func (k *Keys) Decode(value string, c *Cookie) error {
	if len(value) > maxCookieLen || !strings.HasPrefix(value, cookiePrefix) {
		return ErrMalformed
	}
	dot := strings.LastIndexByte(value, '.')
	if dot < len(cookiePrefix) || len(value)-dot-1 != sigB64Len {
		return ErrMalformed
	}
	signed, sigText := value[:dot], value[dot+1:]
	var scratch [maxCookieLen]byte
	var got [sigLen + 1]byte // DecodedLen(43) is 32; one spare byte for safety
	n, err := base64.RawURLEncoding.Decode(got[:], scratch[:copy(scratch[:], sigText)])
	if err != nil || n != sigLen {
		return ErrMalformed
	}
	var want [sigLen]byte
	k.current.sign(signed, &want)
	ok := hmac.Equal(got[:sigLen], want[:])
	if !ok && k.previous != nil {
		k.previous.sign(signed, &want)
		ok = hmac.Equal(got[:sigLen], want[:])
	}
	if !ok {
		return ErrSignature
	}
	payload := signed[len(cookiePrefix):]
	if base64.RawURLEncoding.DecodedLen(len(payload)) > maxPayloadLen {
		return ErrMalformed
	}
	n, err = base64.RawURLEncoding.Decode(c.buf[:], scratch[:copy(scratch[:], payload)])
	if err != nil {
		return ErrMalformed
	}
	return c.parse(c.buf[:n])
}

// parse reads a verified payload; a signed but inconsistent payload is
// still refused, so a bug in an old encoder cannot grant anything.
func (c *Cookie) parse(p []byte) error {
	str := func() ([]byte, bool) {
		if len(p) < 1 || int(p[0]) > len(p)-1 || p[0] == 0 {
			return nil, false
		}
		s := p[1 : 1+p[0]]
		p = p[1+p[0]:]
		return s, true
	}
	var ok bool
	if c.site, ok = str(); !ok {
		return ErrMalformed
	}
	if c.version, ok = str(); !ok {
		return ErrMalformed
	}
	if len(p) < 5 {
		return ErrMalformed
	}
	c.Purposes = Purposes(p[0])
	c.Services = binary.BigEndian.Uint32(p[1:5])
	p = p[5:]
	for _, t := range []*int64{&c.Issued, &c.Expires} {
		v, n := binary.Uvarint(p)
		if n <= 0 || v > 1<<40 {
			return ErrMalformed
		}
		*t = int64(v)
		p = p[n:]
	}
	if len(p) < 1 {
		return ErrMalformed
	}
	switch {
	case p[0] == 0 && len(p) == 1:
		c.HasReceipt = false
		c.Receipt = [ReceiptBytes]byte{}
	case p[0] == ReceiptBytes && len(p) == 1+ReceiptBytes:
		c.HasReceipt = true
		copy(c.Receipt[:], p[1:])
	default:
		return ErrMalformed
	}
	if c.Expires < c.Issued || (c.Purposes != 0 && !c.Purposes.Has(Necessary)) {
		return ErrMalformed
	}
	// A grant carries a receipt; a refusal carries none.
	if granted := c.Purposes&^Purposes(Necessary) != 0 || c.Services != 0; granted != c.HasReceipt {
		return ErrMalformed
	}
	return nil
}

// Check decodes value into c and checks that it is for site, for the
// current policy version and not expired at now. Any error means no
// consent. It does not allocate.
func (k *Keys) Check(value, site, version string, now time.Time, c *Cookie) error {
	if k == nil {
		return ErrNoKey
	}
	if value == "" {
		return ErrMalformed
	}
	if err := k.Decode(value, c); err != nil {
		return err
	}
	if string(c.site) != site {
		return ErrOtherSite
	}
	if now.Unix() >= c.Expires {
		return ErrExpired
	}
	if string(c.version) != version {
		return ErrOldPolicy
	}
	return nil
}
