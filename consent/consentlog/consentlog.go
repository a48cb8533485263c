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
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/sezim-analytics/sezim/consent"
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
	"prev_hash", "row_hash"}

// Values gives r's values in Columns order.
func (r *Record) Values() []any {
	return []any{r.Chain, r.Seq, r.Receipt, r.Site, r.Time.UTC(), r.Action, r.PolicyVersion, r.PolicyHash,
		r.TextHash, r.Lang, r.PurposesGranted, r.PurposesDenied, r.Services, b2u(r.GPC), b2u(r.DNT), r.IP, r.Browser,
		r.PrevHash, r.RowHash}
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

// Hash is the row hash of r: SHA-256, hex, over every column but row_hash
// (prev_hash included), each as a length-prefixed byte string in Columns
// order; numbers and times as decimal text, booleans as "0"/"1". The
// length prefixes make the encoding unambiguous: no two different rows
// encode the same.
func (r *Record) Hash() string {
	h := sha256.New()
	var lb [binary.MaxVarintLen64]byte
	put := func(s string) {
		h.Write(lb[:binary.PutUvarint(lb[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	put(hashDomain)
	put(r.Chain)
	put(strconv.FormatUint(r.Seq, 10))
	put(r.Receipt)
	put(r.Site)
	put(strconv.FormatInt(r.Time.Unix(), 10))
	put(r.Action)
	put(r.PolicyVersion)
	put(r.PolicyHash)
	put(r.TextHash)
	put(r.Lang)
	put(r.PurposesGranted)
	put(r.PurposesDenied)
	put(r.Services)
	put(strconv.Itoa(int(b2u(r.GPC))))
	put(strconv.Itoa(int(b2u(r.DNT))))
	put(r.IP)
	put(r.Browser)
	put(r.PrevHash)
	return hex.EncodeToString(h.Sum(nil))
}
