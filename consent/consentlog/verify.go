package consentlog

import (
	"context"
	"fmt"

	"github.com/sezim-analytics/sezim/hashchain"
	"github.com/sezim-analytics/sezim/store"
)

// ChainReport is the outcome of verifying one chain.
type ChainReport struct {
	Chain string
	Rows  uint64
	// Keyed, Unkeyed and Unchecked count the rows by how their hash was
	// checked (see hashchain.Report): unkeyed rows are plain SHA-256,
	// written before keyed chains.
	Keyed, Unkeyed, Unchecked uint64
	// Checkpoint is the chain's newest checkpoint; nil when it has none.
	Checkpoint *hashchain.Checkpoint
	// Pruned is the seq up to which retention destroyed rows, by the
	// chain's anchor (hashchain.Anchor); 0 when none.
	Pruned uint64
	// Broken is the first row that does not verify; nil when the chain is
	// intact.
	Broken *Broken
}

// Broken names the first row of a chain that does not verify, and why.
type Broken struct {
	Seq     uint64
	Receipt string
	Reason  string // a hashchain.Reason* constant
	Detail  string // a sentence with the values
}

// VerifyOptions are what Verify checks the chains against.
type VerifyOptions struct {
	// Key checks the keyed rows' hashes; without it they are checked for
	// their links only (ChainReport.Unchecked).
	Key *hashchain.Key
	// Heads are the checkpoints: with them, removed newest rows, removed
	// chains and rewritten chains are detected too.
	Heads *hashchain.Heads
}

// Verify checks the consent log's links without a key or checkpoints: see
// VerifyWith.
func Verify(ctx context.Context, st store.Store) ([]ChainReport, error) {
	return VerifyWith(ctx, st, VerifyOptions{})
}

// VerifyWith reads every chain of the consent log, in order, and checks
// each row: seq follows the previous one by exactly one (from 1),
// prev_hash is the previous row's row_hash, row_hash is the hash of the
// row's content (keyed rows under o.Key), no unkeyed row follows a keyed
// one, and each chain reaches its checkpoint with the checkpointed hash.
// It reports, per chain, the first failure. The error is only for a store
// that cannot be read.
func VerifyWith(ctx context.Context, st store.Store, o VerifyOptions) ([]ChainReport, error) {
	q := "SELECT " + joinColumns() + " FROM " + st.DB().Identified + ".consent_log ORDER BY chain, seq"
	v := hashchain.NewVerifier(hashchain.LogConsent, o.Key, o.Heads)
	err := st.Query(ctx, q, func(row store.Row) error {
		r := scan(row)
		v.Add(hashchain.Row{Chain: r.Chain, Seq: r.Seq, PrevHash: r.PrevHash, RowHash: r.RowHash, Alg: r.Alg, ID: r.Receipt}, r.sum)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the consent log: %w", err)
	}
	var out []ChainReport
	for _, r := range v.Reports() {
		c := ChainReport{Chain: r.Chain, Rows: r.Rows, Keyed: r.Keyed, Unkeyed: r.Unkeyed, Unchecked: r.Unchecked, Checkpoint: r.Checkpoint, Pruned: r.Pruned}
		if b := r.Broken; b != nil {
			c.Broken = &Broken{Seq: b.Seq, Receipt: b.ID, Reason: b.Reason, Detail: b.Detail}
		}
		out = append(out, c)
	}
	return out, nil
}

func joinColumns() string {
	s := ""
	for i, c := range Columns {
		if i > 0 {
			s += ", "
		}
		if c == "gpc" || c == "dnt" || c == "seq" {
			c = "toUInt64(" + c + ")"
		}
		s += c
	}
	return s
}

func scan(row store.Row) Record {
	return Record{
		Chain: row.String(0), Seq: row.Uint64(1), Receipt: row.String(2), Site: row.String(3), Time: row.Time(4),
		Action: row.String(5), PolicyVersion: row.String(6), PolicyHash: row.String(7), TextHash: row.String(8),
		Lang: row.String(9), PurposesGranted: row.String(10), PurposesDenied: row.String(11), Services: row.String(12),
		GPC: row.Uint64(13) != 0, DNT: row.Uint64(14) != 0, IP: row.String(15), Browser: row.String(16),
		PrevHash: row.String(17), RowHash: row.String(18), Alg: row.String(19),
	}
}
