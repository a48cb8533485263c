// Package consentlog owns the consent log: the append-only record of every
// consent decision in <identified>.consent_log, kept as hash chains so that
// an altered, removed or inserted row is detectable.
//
// Several collectors write at once, so there is no single chain: each
// collector instance has its own, identified by a random chain id kept in
// its data folder (and locked there, so two processes never share one).
// Within an instance, one writer stores the decisions in group commits
// (several per fdatasync of a local journal, in queue order): seq
// increments by one and prev_hash is the row_hash of the row before. A
// decision is answered only once its group is durable, so a receipt given
// out is a row stored; a shipper moves the journal into consent_log about
// once a second (journal.go). Verify walks every chain in the store
// independently.
package consentlog

import (
	"strconv"
	"strings"
	"time"

	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/hashchain"
)

// Actions a decision can be (the consent package owns them). They are
// stored: never rename.
const (
	ActionShown     = consent.ActionShown
	ActionAcceptAll = consent.ActionAcceptAll
	ActionRejectAll = consent.ActionRejectAll
	ActionCustom    = consent.ActionCustom
	ActionWithdraw  = consent.ActionWithdraw
)

// Record is one row of the consent log.
type Record struct {
	Chain           string
	Seq             uint64
	Receipt         string
	Site            string
	Time            time.Time // server time, second precision, UTC
	Action          string
	PolicyVersion   string
	PolicyHash      string // SHA-256 of the policy text, hex
	TextHash        string // SHA-256 of the banner text shown, hex
	Lang            string
	PurposesGranted string // comma-separated purpose ids
	PurposesDenied  string
	Services        string // granted services as "id:COUNTRY", comma-separated
	GPC, DNT        bool
	IP              string // truncated: IPv4 /24, IPv6 /48
	Browser         string // family only
	PrevHash        string
	RowHash         string
	// Alg is how RowHash was made: hashchain.AlgHMAC for rows written by
	// this version, AlgLegacy ("") for plain SHA-256 rows written before.
	Alg string
}

// NewRecord is the log row of decision d on a site whose consent settings
// are cs, before the chain fields are filled by Append. A "shown" row
// records what was shown and grants nothing, so it lists no purposes and
// no services; a choice lists what it grants, what the site offered and
// it denied, and each granted service with its destination country.
func NewRecord(cs *consent.Settings, d *consent.Decision) *Record {
	r := &Record{
		Receipt: consent.ReceiptString(d.Receipt), Site: d.Site, Time: d.Time.UTC().Truncate(time.Second), Action: d.Action,
		PolicyVersion: cs.PolicyVersion, PolicyHash: cs.PolicyTextHash, TextHash: d.TextHash, Lang: d.Lang,
		GPC: d.GPC, DNT: d.DNT, IP: d.IP, Browser: d.Browser,
	}
	if d.Choice() {
		r.PurposesGranted = d.Granted.String()
		r.PurposesDenied = (cs.Enabled() &^ d.Granted).String()
		var pairs []string
		for _, sv := range cs.ServicesIn(d.Services) {
			pairs = append(pairs, sv.ID+":"+sv.Country)
		}
		r.Services = strings.Join(pairs, ",")
	}
	return r
}

// Columns are the consent_log columns in the order Values gives them.
var Columns = []string{"chain", "seq", "receipt", "site", "ts", "action", "policy_version", "policy_hash",
	"text_hash", "lang", "purposes_granted", "purposes_denied", "services", "gpc", "dnt", "ip", "browser",
	"prev_hash", "row_hash", "hash_alg"}

// Values gives r's values in Columns order.
func (r *Record) Values() []any {
	return []any{r.Chain, r.Seq, r.Receipt, r.Site, r.Time.UTC(), r.Action, r.PolicyVersion, r.PolicyHash,
		r.TextHash, r.Lang, r.PurposesGranted, r.PurposesDenied, r.Services, b2u(r.GPC), b2u(r.DNT), r.IP, r.Browser,
		r.PrevHash, r.RowHash, r.Alg}
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// hashDomain starts every hashed encoding, so a row hash can never be
// mistaken for a hash of anything else.
const hashDomain = "sezim consent log v1"

// Hash is the unkeyed row hash of r, as rows were chained before keyed
// chains (hash_alg ""): SHA-256, hex, over every column but row_hash and
// hash_alg (prev_hash included), each as a length-prefixed byte string in
// Columns order; numbers and times as decimal text, booleans as "0"/"1".
// The length prefixes make the encoding unambiguous: no two different rows
// encode the same. Anyone can recompute it, so it shows damage, not
// tampering: new rows use KeyedHash.
func (r *Record) Hash() string { return r.sum(nil) }

// KeyedHash is the row hash of rows written with hash_alg hmac-sha256: the
// encoding of Hash under HMAC-SHA-256 with k.
func (r *Record) KeyedHash(k *hashchain.Key) string { return r.sum(k) }

// sum is the encoding of Hash, under k (nil: plain SHA-256).
func (r *Record) sum(k *hashchain.Key) string {
	h := hashchain.NewHasher(k, hashDomain)
	h.Put(r.Chain)
	h.Put(strconv.FormatUint(r.Seq, 10))
	h.Put(r.Receipt)
	h.Put(r.Site)
	h.Put(strconv.FormatInt(r.Time.Unix(), 10))
	h.Put(r.Action)
	h.Put(r.PolicyVersion)
	h.Put(r.PolicyHash)
	h.Put(r.TextHash)
	h.Put(r.Lang)
	h.Put(r.PurposesGranted)
	h.Put(r.PurposesDenied)
	h.Put(r.Services)
	h.Put(strconv.Itoa(int(b2u(r.GPC))))
	h.Put(strconv.Itoa(int(b2u(r.DNT))))
	h.Put(r.IP)
	h.Put(r.Browser)
	h.Put(r.PrevHash)
	return h.Sum()
}

// sumAs is the row hash r should have by its own hash_alg: keyed under k,
// or plain for legacy rows ("" when r claims a keyed hash and k is nil).
func (r *Record) sumAs(k *hashchain.Key) string {
	if !hashchain.Keyed(r.Alg) {
		return r.sum(nil)
	}
	if k == nil {
		return ""
	}
	return r.sum(k)
}
