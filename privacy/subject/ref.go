// Package subject answers data-subject requests (policy 4.2, 6.1, 6.2.4,
// 6.2.5): export everything held about one person, block it (reversibly:
// ingest stops keeping their identified rows and every read here hides
// them), lift the block, or erase it (irreversibly, then verified). Each
// request is recorded with who asked, when, the legal reason and the
// outcome, in <identified>.subject_requests and in the staff audit log.
//
// A subject is named by one reference, and each kind reaches different rows:
//
//   - visitor (the sezim_vid cookie): the consented events with that
//     visitor id, the receipts of the decisions that set it, and those
//     receipts' consent-log rows;
//   - receipt (from the banner or POST /consent): its consent-log rows,
//     and, through the receipt's link to the visitor id its decision set,
//     everything the visitor reference reaches;
//   - user (the site's account id, kept only with the identified
//     purpose): the consented events carrying that user id, and the
//     consent history of the visitors seen on them. A user's events made
//     before signing in carry no user id: name the visitor to reach them.
//
// An optional site narrows a reference to one site.
package subject

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/sezim-analytics/sezim/consent"
)

// Kind is the kind of a subject reference. The values are stored.
type Kind string

// The kinds of reference.
const (
	KindReceipt Kind = "receipt"
	KindVisitor Kind = "visitor"
	KindUser    Kind = "user"
)

// Errors at the package seam; a caller maps them to a status or an exit
// code. Each wraps into a message naming what is wrong, never the value.
var (
	// ErrBadRef is a reference that cannot name anyone: an unknown kind,
	// a malformed visitor id or receipt, an empty or oversized user id.
	ErrBadRef = errors.New("invalid subject reference")
	// ErrNoReason is a request without a legal reason, or without an
	// actor to record.
	ErrNoReason = errors.New("a request needs a reason and an actor")
	// ErrUnresolved is a receipt that leads to no visitor (a refusal, or
	// a decision whose visitor was erased), for a request that acts on
	// the visitor's rows.
	ErrUnresolved = errors.New("the receipt leads to no visitor")
	// ErrNotErased is an erasure after which rows were still counted.
	ErrNotErased = errors.New("rows are left after the erasure")
)

// MaxUserID and MaxReason bound what a request carries.
const (
	MaxUserID = 256
	MaxReason = 1000
)

// Ref names a subject.
type Ref struct {
	Kind  Kind   `json:"kind"`
	Value string `json:"value"`
	// Site narrows the reference to one site; "" reaches every site.
	Site string `json:"site,omitempty"`
}

// Validate checks the reference's form; the error wraps ErrBadRef.
func (r Ref) Validate() error {
	switch r.Kind {
	case KindVisitor:
		if !consent.ValidVisitorID(r.Value) {
			return fmt.Errorf("a visitor id is the %d-character value of the sezim_vid cookie: %w", consent.VisitorIDLen, ErrBadRef)
		}
	case KindReceipt:
		if !validReceipt(r.Value) {
			return fmt.Errorf("a receipt is %d characters of A-Z, a-z, 0-9, '-' and '_': %w", receiptLen, ErrBadRef)
		}
	case KindUser:
		if r.Value == "" || len(r.Value) > MaxUserID || !utf8.ValidString(r.Value) || hasControl(r.Value) {
			return fmt.Errorf("a user id is 1 to %d bytes of text: %w", MaxUserID, ErrBadRef)
		}
	default:
		return fmt.Errorf("the kind must be receipt, visitor or user: %w", ErrBadRef)
	}
	if len(r.Site) > 64 || hasControl(r.Site) {
		return fmt.Errorf("the site is not a site id: %w", ErrBadRef)
	}
	return nil
}

// Fingerprint stands for the reference in the request record and the
// audit log: "visitor:" and the first 16 hex digits of SHA-256 over the
// kind and value. The record of an erasure then does not keep the id it
// erased, and a later request for the same subject has the same one.
func (r Ref) Fingerprint() string {
	h := sha256.Sum256([]byte(string(r.Kind) + ":" + r.Value))
	return string(r.Kind) + ":" + hex.EncodeToString(h[:8])
}

// receiptLen is the text length of a receipt (consent.ReceiptString).
const receiptLen = (consent.ReceiptBytes*8 + 5) / 6

func validReceipt(v string) bool {
	if len(v) != receiptLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}
