package staff

// Reading the audit log: the console's list, its export, and verify.

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sezim-analytics/sezim/dashboards/internal/csvcell"
	"github.com/sezim-analytics/sezim/hashchain"
	"github.com/sezim-analytics/sezim/store"
)

// AuditFilter selects audit rows; zero fields select everything.
type AuditFilter struct {
	Actor  string
	Action string
	// Since and Until bound the time: Since <= ts < Until.
	Since, Until time.Time
	// Limit bounds the rows (default and most 100,000): the console pages,
	// an export takes a range.
	Limit int
}

// MaxAuditRows bounds one read of the audit log.
const MaxAuditRows = 100_000

const auditSelect = "toUInt32(ts), actor, action, target, outcome, client, detail, toUInt64(attempts), chain, toUInt64(seq), prev_hash, row_hash, hash_alg"

func scanAudit(r store.Row) AuditEntry {
	return AuditEntry{Time: time.Unix(int64(r.Uint64(0)), 0).UTC(), Actor: r.String(1), Action: r.String(2),
		Target: r.String(3), Outcome: r.String(4), Client: r.String(5), Detail: r.String(6), Attempts: uint32(r.Uint64(7)),
		Chain: r.String(8), Seq: r.Uint64(9), PrevHash: r.String(10), RowHash: r.String(11), Alg: r.String(12)}
}

// Query returns the audit rows f selects, newest first. Times have second
// precision: rows of one second are ordered by chain, and newest first
// within a chain (processes writing at once have no order between them).
func (a *Auditor) Query(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var where []string
	if f.Actor != "" {
		where = append(where, "actor = "+store.Quote(f.Actor))
	}
	if f.Action != "" {
		where = append(where, "action = "+store.Quote(f.Action))
	}
	if !f.Since.IsZero() {
		where = append(where, fmt.Sprintf("ts >= toDateTime(%d, 'UTC')", f.Since.Unix()))
	}
	if !f.Until.IsZero() {
		where = append(where, fmt.Sprintf("ts < toDateTime(%d, 'UTC')", f.Until.Unix()))
	}
	limit := f.Limit
	if limit <= 0 || limit > MaxAuditRows {
		limit = MaxAuditRows
	}
	q := "SELECT " + auditSelect + " FROM " + a.st.DB().Staff + ".audit_log"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY ts DESC, chain, seq DESC LIMIT " + strconv.Itoa(limit)
	var out []AuditEntry
	if err := a.st.Query(ctx, q, func(r store.Row) error {
		out = append(out, scanAudit(r))
		return nil
	}); err != nil {
		return nil, fmt.Errorf("cannot read the audit log: %w", err)
	}
	return out, nil
}

// Entries returns the newest audit rows, at most limit, newest first.
func (a *Auditor) Entries(ctx context.Context, limit int) ([]AuditEntry, error) {
	return a.Query(ctx, AuditFilter{Limit: limit})
}

// Export formats.
const (
	ExportCSV  = "csv"
	ExportJSON = "json"
)

// auditJSON is an audit row as exported.
type auditJSON struct {
	Time     string `json:"time"`
	Actor    string `json:"actor"`
	Action   string `json:"action"`
	Target   string `json:"target"`
	Outcome  string `json:"outcome"`
	Client   string `json:"client"`
	Detail   string `json:"detail"`
	Attempts uint32 `json:"attempts"`
	Chain    string `json:"chain"`
	Seq      uint64 `json:"seq"`
	RowHash  string `json:"row_hash"`
	HashAlg  string `json:"hash_alg"`
}

// WriteAudit writes entries to w as CSV (a header line, then a row each;
// cells that a spreadsheet would run as a formula are quoted with ') or
// as a JSON array. The chain fields are included, so an exported row can
// be matched with the stored one.
func WriteAudit(w io.Writer, format string, entries []AuditEntry) error {
	switch format {
	case ExportJSON:
		out := make([]auditJSON, len(entries))
		for i, e := range entries {
			out[i] = auditJSON{e.Time.UTC().Format(time.RFC3339), e.Actor, e.Action, e.Target, e.Outcome, e.Client, e.Detail,
				max(e.Attempts, 1), e.Chain, e.Seq, e.RowHash, e.Alg}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return fmt.Errorf("cannot write the audit export: %w", err)
		}
		return nil
	case ExportCSV:
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"time", "actor", "action", "target", "outcome", "client", "detail", "attempts", "chain", "seq", "row_hash", "hash_alg"})
		for _, e := range entries {
			_ = cw.Write([]string{e.Time.UTC().Format(time.RFC3339), csvcell.Safe(e.Actor), csvcell.Safe(e.Action), csvcell.Safe(e.Target),
				csvcell.Safe(e.Outcome), csvcell.Safe(e.Client), csvcell.Safe(e.Detail), strconv.FormatUint(uint64(max(e.Attempts, 1)), 10),
				e.Chain, strconv.FormatUint(e.Seq, 10), e.RowHash, e.Alg})
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return fmt.Errorf("cannot write the audit export: %w", err)
		}
		return nil
	}
	return fmt.Errorf("cannot export the audit log as %q: use csv or json", format)
}

// AuditVerification is the outcome of verifying the audit log.
type AuditVerification struct {
	Chains []hashchain.Report
	// Unchained is how many rows were written before the audit log had
	// chains (chain ''): they cannot be verified, only counted.
	Unchained uint64
}

// Broken is how many chains do not verify.
func (v *AuditVerification) Broken() int {
	n := 0
	for _, c := range v.Chains {
		if c.Broken != nil {
			n++
		}
	}
	return n
}

// VerifyAudit reads every chain of the audit log, in order, and checks it
// like the consent log's (see hashchain.Verifier): links, hashes under k
// (nil: keyed rows are checked for links only), and checkpoints in heads.
// The error is only for a store that cannot be read.
func VerifyAudit(ctx context.Context, st store.Store, k *hashchain.Key, heads *hashchain.Heads) (*AuditVerification, error) {
	out := &AuditVerification{}
	v := hashchain.NewVerifier(hashchain.LogAudit, k, heads)
	q := "SELECT " + auditSelect + " FROM " + st.DB().Staff + ".audit_log ORDER BY chain, seq"
	if err := st.Query(ctx, q, func(r store.Row) error {
		e := scanAudit(r)
		if e.Chain == "" {
			out.Unchained++
			return nil
		}
		v.Add(hashchain.Row{Chain: e.Chain, Seq: e.Seq, PrevHash: e.PrevHash, RowHash: e.RowHash, Alg: e.Alg, ID: e.Action}, e.sum)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("cannot read the audit log: %w", err)
	}
	out.Chains = v.Reports()
	return out, nil
}
