package hashchain

import (
	"fmt"
	"sort"
)

// Row is what the verifier needs of one stored row.
type Row struct {
	Chain    string
	Seq      uint64
	PrevHash string
	RowHash  string
	Alg      string
	// ID names the row in a report (a receipt, an action); may be empty.
	ID string
}

// Reasons a chain does not verify. They are fixed strings, so a report
// can be matched on them; the Broken's Detail gives the values.
const (
	ReasonDuplicate  = "duplicate seq"
	ReasonMissing    = "rows missing"
	ReasonUnknownAlg = "unknown hash_alg"
	ReasonDowngrade  = "unkeyed row after keyed rows"
	ReasonAltered    = "row altered"
	ReasonWrongKey   = "row_hash does not verify under this key"
	ReasonRelinked   = "prev_hash does not match"
	ReasonRewritten  = "chain rewritten"
	ReasonTruncated  = "newest rows removed"
	ReasonVanished   = "chain missing"
)

// Broken names the first row of a chain that does not verify, and why.
type Broken struct {
	Seq    uint64
	ID     string
	Reason string // one of the Reason constants
	Detail string // a sentence with the values
}

// Report is the outcome of verifying one chain.
type Report struct {
	Chain string
	Rows  uint64
	// Keyed rows were hashed under the key; Unkeyed rows with plain
	// SHA-256 (written before keyed chains, or by a tamperer without the
	// key); Unchecked are keyed rows whose hash could not be checked
	// because no key was given.
	Keyed, Unkeyed, Unchecked uint64
	// Checkpoint is the chain's newest checkpoint, nil when it has none.
	Checkpoint *Checkpoint
	// Pruned is the seq up to which retention destroyed the chain's rows
	// (by its anchor), 0 when none were; Last is the last seq read.
	Pruned, Last uint64
	// Broken is the first failure; nil when the chain verifies.
	Broken *Broken
}

// Verifier checks chains row by row, in chain and seq order, against the
// key and the checkpoints. Rows of one chain must come together, in
// ascending seq.
type Verifier struct {
	log   string
	key   *Key
	heads *Heads

	out     []Report
	cur     *Report
	prev    string
	prevSeq uint64
}

// NewVerifier returns a Verifier of the chains of log. With a nil key,
// keyed rows are checked for their links only (Report.Unchecked); with nil
// heads, nothing is compared with checkpoints.
func NewVerifier(log string, k *Key, heads *Heads) *Verifier {
	if heads == nil {
		heads = &Heads{byChain: map[string]Checkpoint{}, pruned: map[string]Checkpoint{}}
	}
	return &Verifier{log: log, key: k, heads: heads}
}

// Add checks the next row. sum computes the row's hash from its content:
// under the key it is given, or plain SHA-256 when that is nil.
func (v *Verifier) Add(r Row, sum func(k *Key) string) {
	if v.cur == nil || v.cur.Chain != r.Chain {
		v.out = append(v.out, Report{Chain: r.Chain})
		v.cur = &v.out[len(v.out)-1]
		v.prev, v.prevSeq = "", 0
		if cp, ok := v.heads.Of(v.log, r.Chain); ok {
			v.cur.Checkpoint = &cp
		}
		// Rows destroyed by retention: the chain goes on from the
		// anchor, which only the key holder can write.
		if a, ok := v.heads.PrunedOf(v.log, r.Chain); ok && r.Seq == a.Seq+1 && r.Seq > 1 {
			v.prev, v.prevSeq = a.Hash, a.Seq
			v.cur.Pruned = a.Seq
		}
	}
	c := v.cur
	c.Rows++
	keyed := Keyed(r.Alg)
	switch {
	case keyed && v.key == nil:
		c.Unchecked++
	case keyed:
		c.Keyed++
	default:
		c.Unkeyed++
	}
	if c.Broken != nil {
		return
	}
	broken := func(reason, format string, args ...any) {
		c.Broken = &Broken{Seq: r.Seq, ID: r.ID, Reason: reason, Detail: fmt.Sprintf(format, args...)}
	}
	switch {
	case r.Seq == v.prevSeq:
		broken(ReasonDuplicate, "a second row with seq %d", r.Seq)
	case r.Seq != v.prevSeq+1:
		broken(ReasonMissing, "rows %d to %d are missing: removed from the middle of the chain", v.prevSeq+1, r.Seq-1)
	case !Known(r.Alg):
		broken(ReasonUnknownAlg, "hash_alg %q is not one this version writes", r.Alg)
	case !keyed && c.Keyed+c.Unchecked > 0:
		broken(ReasonDowngrade, "row %d is hashed without the key after keyed rows: rewritten by someone without the key", r.Seq)
	case keyed && v.key != nil && r.RowHash != sum(v.key) && c.Keyed == 1:
		// The chain's first keyed row fails: far likelier a wrong key
		// than an altered row, and the checkpoints tell which.
		broken(ReasonWrongKey, "row %d's row_hash does not verify under this key: the wrong key, or the row was altered", r.Seq)
	case keyed && v.key != nil && r.RowHash != sum(v.key):
		broken(ReasonAltered, "row %d's row_hash does not match its content under the key: the row was altered", r.Seq)
	case !keyed && r.RowHash != sum(nil):
		broken(ReasonAltered, "row %d's row_hash does not match its content: the row was altered", r.Seq)
	case r.PrevHash != v.prev:
		broken(ReasonRelinked, "row %d's prev_hash is not row %d's row_hash: a row was removed, replaced or inserted", r.Seq, v.prevSeq)
	case c.Checkpoint != nil && r.Seq == c.Checkpoint.Seq && (r.RowHash != c.Checkpoint.Hash || r.Alg != c.Checkpoint.Alg):
		broken(ReasonRewritten, "row %d differs from the checkpoint of %s: the chain was rewritten", r.Seq, c.Checkpoint.Time.Format("2006-01-02 15:04:05Z"))
	}
	v.prev, v.prevSeq = r.RowHash, r.Seq
	c.Last = r.Seq
}

// Reports ends the walk: it checks each chain's end against its checkpoint
// (a chain that ends before its checkpoint lost its newest rows) and
// reports checkpointed chains that have no rows at all. Chains are sorted
// by id.
func (v *Verifier) Reports() []Report {
	seen := map[string]bool{}
	for i := range v.out {
		c := &v.out[i]
		seen[c.Chain] = true
		last := c.Last
		if c.Broken == nil && c.Checkpoint != nil && last < c.Checkpoint.Seq {
			c.Broken = &Broken{Seq: last + 1, Reason: ReasonTruncated,
				Detail: fmt.Sprintf("the chain ends at row %d, but its checkpoint of %s names row %d: rows %d to %d were removed",
					last, c.Checkpoint.Time.Format("2006-01-02 15:04:05Z"), c.Checkpoint.Seq, last+1, c.Checkpoint.Seq)}
		}
	}
	for _, cp := range v.heads.Chains(v.log) {
		if seen[cp.Chain] {
			continue
		}
		if a, ok := v.heads.PrunedOf(v.log, cp.Chain); ok && a.Seq >= cp.Seq {
			continue // every row destroyed by retention, as recorded
		}
		cp := cp
		v.out = append(v.out, Report{Chain: cp.Chain, Checkpoint: &cp, Broken: &Broken{Seq: 1, Reason: ReasonVanished,
			Detail: fmt.Sprintf("no rows, but its checkpoint of %s names row %d: the whole chain was removed", cp.Time.Format("2006-01-02 15:04:05Z"), cp.Seq)}})
	}
	sort.Slice(v.out, func(i, j int) bool { return v.out[i].Chain < v.out[j].Chain })
	return v.out
}
