package consentlog

import (
	"context"
	"fmt"

	"github.com/sezim-analytics/sezim/store"
)

// ChainReport is the outcome of verifying one chain.
type ChainReport struct {
	Chain string
	Rows  uint64
	// Broken is the first row that does not verify; nil when the chain is
	// intact.
	Broken *Broken
}

// Broken names the first row of a chain that does not verify, and why.
type Broken struct {
	Seq     uint64
	Receipt string
	Reason  string
}

// Verify reads every chain of the consent log, in order, and checks each
// row: seq follows the previous one by exactly one (from 1), prev_hash is
// the previous row's row_hash, and row_hash is the hash of the row's
// content. It reports, per chain, the first row that fails. The error is
// only for a store that cannot be read.
func Verify(ctx context.Context, st store.Store) ([]ChainReport, error) {
	q := "SELECT " + joinColumns() + " FROM " + st.DB().Identified + ".consent_log ORDER BY chain, seq"
	var out []ChainReport
	var cur *ChainReport
	var prev string
	var prevSeq uint64
	err := st.Query(ctx, q, func(row store.Row) error {
		r := scan(row)
		if cur == nil || cur.Chain != r.Chain {
			out = append(out, ChainReport{Chain: r.Chain})
			cur = &out[len(out)-1]
			prev, prevSeq = "", 0
		}
		cur.Rows++
		if cur.Broken != nil {
			return nil
		}
		broken := func(why string) { cur.Broken = &Broken{Seq: r.Seq, Receipt: r.Receipt, Reason: why} }
		switch {
		case r.Seq == prevSeq:
			broken("a second row with the same seq")
		case r.Seq != prevSeq+1:
			broken(fmt.Sprintf("rows %d to %d are missing", prevSeq+1, r.Seq-1))
		case r.RowHash != r.Hash():
			broken("row_hash does not match the row's content: the row was altered")
		case r.PrevHash != prev:
			broken("prev_hash does not match the previous row: a row was removed, replaced or inserted")
		}
		prev, prevSeq = r.RowHash, r.Seq
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the consent log: %w", err)
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
		PrevHash: row.String(17), RowHash: row.String(18),
	}
}
