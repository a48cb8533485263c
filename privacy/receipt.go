package privacy

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/consent/consentlog"
	"github.com/sezim-analytics/sezim/store"
)

// ErrBadReceipt is a receipt id that is not one: not 16 base64url
// characters.
var ErrBadReceipt = errors.New("invalid receipt id")

// ReceiptRow is one consent-log row of a receipt, as the console shows it.
type ReceiptRow struct {
	Chain           string    `json:"chain"`
	Seq             uint64    `json:"seq"`
	Site            string    `json:"site"`
	Time            time.Time `json:"time"`
	Action          string    `json:"action"`
	PolicyVersion   string    `json:"policy_version"`
	Lang            string    `json:"lang"`
	PurposesGranted string    `json:"purposes_granted"`
	PurposesDenied  string    `json:"purposes_denied"`
	Services        string    `json:"services"`
}

// ReceiptChain is a chain holding rows of a receipt, and whether it
// verifies as a whole (consentlog.Verify).
type ReceiptChain struct {
	Chain  string             `json:"chain"`
	Rows   uint64             `json:"rows"`
	Intact bool               `json:"intact"`
	Broken *consentlog.Broken `json:"broken,omitempty"`
}

// ReceiptLookup is what the consent log holds for one receipt.
type ReceiptLookup struct {
	Receipt string         `json:"receipt"`
	Rows    []ReceiptRow   `json:"rows"`
	Chains  []ReceiptChain `json:"chains"`
}

// LookupReceipt finds a receipt's rows in the consent log with their chain
// and position, and verifies each chain they sit in. No rows is a lookup
// with none, not an error; a malformed id is ErrBadReceipt.
func LookupReceipt(ctx context.Context, st store.Store, receipt string) (*ReceiptLookup, error) {
	if !validReceipt(receipt) {
		return nil, ErrBadReceipt
	}
	out := &ReceiptLookup{Receipt: receipt, Rows: []ReceiptRow{}, Chains: []ReceiptChain{}}
	q := "SELECT chain, toUInt64(seq), site, ts, action, policy_version, lang, purposes_granted, purposes_denied, services FROM " +
		st.DB().Identified + ".consent_log WHERE receipt = " + store.Quote(receipt) + " ORDER BY ts, chain, seq"
	chains := map[string]bool{}
	err := st.Query(ctx, q, func(r store.Row) error {
		row := ReceiptRow{Chain: r.String(0), Seq: r.Uint64(1), Site: r.String(2), Time: r.Time(3).UTC(), Action: r.String(4),
			PolicyVersion: r.String(5), Lang: r.String(6), PurposesGranted: r.String(7), PurposesDenied: r.String(8), Services: r.String(9)}
		out.Rows = append(out.Rows, row)
		chains[row.Chain] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot look up a receipt in the consent log: %w", err)
	}
	if len(chains) == 0 {
		return out, nil
	}
	reports, err := consentlog.Verify(ctx, st)
	if err != nil {
		return nil, err
	}
	for _, r := range reports {
		if chains[r.Chain] {
			out.Chains = append(out.Chains, ReceiptChain{Chain: r.Chain, Rows: r.Rows, Intact: r.Broken == nil, Broken: r.Broken})
		}
	}
	return out, nil
}

// validReceipt reports a receipt id's text form (consent.ReceiptString):
// ReceiptBytes as unpadded base64url, canonical.
func validReceipt(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == consent.ReceiptBytes && consent.ReceiptString([consent.ReceiptBytes]byte(b)) == s
}
