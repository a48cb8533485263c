package staff

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/sezim-analytics/sezim/hashchain"
	"github.com/sezim-analytics/sezim/privacy/subject"
	"github.com/sezim-analytics/sezim/store"
)

// Audit actions: every staff action on personal data or on the system
// that guards it. The names are stored: never rename.
const (
	AuditSignIn       = "sign_in"
	AuditSignInFailed = "sign_in_failed"
	AuditSignOut      = "sign_out"
	AuditUserChanged  = "user_changed"
	AuditTokenAdded   = "token_added"
	AuditTokenRevoked = "token_revoked"

	// AuditViewIdentified is any read of identified data: a page or API
	// answer of the privacy console, a receipt lookup. Target names what
	// was read (a receipt, a visitor id's hash, a table).
	AuditViewIdentified = "view_identified"
	// AuditExport is a data-subject export; AuditBlock, AuditUnblock and
	// AuditErase the other data-subject requests. Detail holds the legal
	// reason.
	AuditExport  = "subject_export"
	AuditBlock   = "subject_block"
	AuditUnblock = "subject_unblock"
	AuditErase   = "subject_erase"
	// AuditRetention is a run of the retention job (Actor "system" inside
	// serve), Detail what it destroyed.
	AuditRetention = "retention_run"
	// AuditReport is a run of the privacy report, Outcome pass or fail.
	AuditReport = "privacy_report"
	// AuditVerify is a verification of the consent or audit log, Target
	// which, Outcome ok or broken.
	AuditVerify = "verify"
	// AuditConfigLoaded is a start with a site configuration, Detail its
	// SHA-256; AuditConfigChanged a change of it while running.
	AuditConfigLoaded  = "config_loaded"
	AuditConfigChanged = "config_changed"
	// AuditLogExport is an export of the audit log itself.
	AuditLogExport = "audit_export"
)

// auditDomain starts every audit row hash.
const auditDomain = "sezim audit log v1"

// AuditEntry is one row of the append-only audit log.
type AuditEntry struct {
	Time    time.Time
	Actor   string // who did it: a user name, or "cli:<os user>"
	Action  string
	Target  string // what it was done to: a user name, a token id
	Outcome string // ok, or why it failed (bad_password, rate_limited, ...)
	Client  string // the client's network (IPv4 /24, IPv6 /48), if any
	Detail  string
	// Attempts is how many attempts the row stands for: 1 (also when
	// left 0), or the count of sign-ins a rate limit refused from one
	// network in one window, which are written as one row.
	Attempts uint32

	// The chain fields, filled by RecordAll and read back by the reader.
	Chain    string
	Seq      uint64
	PrevHash string
	RowHash  string
	Alg      string
}

// sum is e's row hash under k (nil: plain SHA-256): every field but
// row_hash and hash_alg, length-prefixed.
func (e *AuditEntry) sum(k *hashchain.Key) string {
	h := hashchain.NewHasher(k, auditDomain)
	h.Put(e.Chain)
	h.Put(strconv.FormatUint(e.Seq, 10))
	h.Put(strconv.FormatInt(e.Time.Unix(), 10))
	h.Put(e.Actor)
	h.Put(e.Action)
	h.Put(e.Target)
	h.Put(e.Outcome)
	h.Put(e.Client)
	h.Put(e.Detail)
	h.Put(strconv.FormatUint(uint64(max(e.Attempts, 1)), 10))
	h.Put(e.PrevHash)
	return h.Sum()
}

// Auditor appends to sezim_staff.audit_log. Each Auditor writes its
// own hash chain, with a random id: several processes (every serve, every
// command) write the log at once, and one chain per writer needs no
// coordination between them. Rows are keyed with AuditorOptions.Key and
// each chain's head is checkpointed after every insert.
type Auditor struct {
	st  store.Store
	now func() time.Time
	key *hashchain.Key
	cps *hashchain.Checkpoints

	mu    sync.Mutex // held across an insert, so the chain is stored in order
	chain string
	seq   uint64
	head  string
	// unsure is set after a failed insert, which may have landed: the
	// head is read back from the store before the next one.
	unsure bool
}

// AuditorOptions configure an Auditor.
type AuditorOptions struct {
	Store store.Store
	Now   func() time.Time
	// Key keys the chain (HMAC-SHA-256); nil writes plain SHA-256 rows,
	// which verify reports as unkeyed.
	Key *hashchain.Key
	// Checkpoints receives the chain's head after each insert; nil
	// writes none.
	Checkpoints *hashchain.Checkpoints
}

// NewAuditor returns an Auditor writing to st, unkeyed and without
// checkpoints; serve and the commands use NewAuditorOptions with the key.
func NewAuditor(st store.Store, now func() time.Time) *Auditor {
	return NewAuditorOptions(AuditorOptions{Store: st, Now: now})
}

// NewAuditorOptions returns an Auditor with its own new chain.
func NewAuditorOptions(o AuditorOptions) *Auditor {
	if o.Now == nil {
		o.Now = time.Now
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return &Auditor{st: o.Store, now: o.Now, key: o.Key, cps: o.Checkpoints, chain: hex.EncodeToString(b[:])}
}

// Chain is the id of the Auditor's chain.
func (a *Auditor) Chain() string { return a.chain }

// Record appends e, stamping the time when it has none.
func (a *Auditor) Record(ctx context.Context, e AuditEntry) error {
	if err := a.RecordAll(ctx, []AuditEntry{e}); err != nil {
		return fmt.Errorf("cannot write the audit log (%s): %w", e.Action, err)
	}
	return nil
}

// RecordAll appends entries in one insert, stamping the time of those
// that have none.
func (a *Auditor) RecordAll(ctx context.Context, entries []AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.unsure {
		if err := a.readHead(ctx); err != nil {
			return err
		}
	}
	alg := hashchain.AlgSHA256
	if a.key != nil {
		alg = hashchain.AlgHMAC
	}
	seq, head := a.seq, a.head
	rows := make([][]any, 0, len(entries))
	for _, e := range entries {
		if e.Time.IsZero() {
			e.Time = a.now()
		}
		seq++
		e.Time = e.Time.UTC().Truncate(time.Second)
		e.Attempts = max(e.Attempts, 1)
		e.Chain, e.Seq, e.PrevHash, e.Alg = a.chain, seq, head, alg
		e.RowHash = e.sum(a.key)
		head = e.RowHash
		rows = append(rows, []any{e.Time, e.Actor, e.Action, e.Target, e.Outcome, e.Client, e.Detail, e.Attempts,
			e.Chain, e.Seq, e.PrevHash, e.RowHash, e.Alg})
	}
	if err := a.st.Insert(ctx, a.st.DB().Staff+".audit_log", auditColumns, rows); err != nil {
		a.unsure = true
		return fmt.Errorf("cannot write the audit log (%d rows): %w", len(rows), err)
	}
	a.seq, a.head = seq, head
	if a.cps != nil {
		cp := hashchain.Checkpoint{Log: hashchain.LogAudit, Chain: a.chain, Seq: seq, Hash: head, Alg: alg}
		if err := a.cps.Write(cp); err != nil {
			return fmt.Errorf("cannot checkpoint the audit log (rows written): %w", err)
		}
	}
	return nil
}

// auditColumns are the audit_log columns RecordAll writes.
var auditColumns = []string{"ts", "actor", "action", "target", "outcome", "client", "detail", "attempts",
	"chain", "seq", "prev_hash", "row_hash", "hash_alg"}

// readHead reads the chain's last stored row after an insert that may or
// may not have landed, so the next row neither reuses nor skips a seq.
func (a *Auditor) readHead(ctx context.Context) error {
	q := fmt.Sprintf("SELECT seq, row_hash FROM %s.audit_log WHERE chain = %s ORDER BY seq DESC LIMIT 1",
		a.st.DB().Staff, store.Quote(a.chain))
	seq, head := uint64(0), ""
	if err := a.st.Query(ctx, q, func(r store.Row) error {
		seq, head = r.Uint64(0), r.String(1)
		return nil
	}); err != nil {
		return fmt.Errorf("cannot read the audit chain's head: %w", err)
	}
	a.seq, a.head, a.unsure = seq, head, false
	return nil
}

// KnownNetworks returns, for each account and client network with a
// successful sign-in since the given time, the time of the last one, by
// the audit log (which every dashboards node writes, so it holds across
// nodes and restarts). At most 100,000 pairs, the most recent first: staff
// sign-ins, not visitors, so far fewer in practice.
func (a *Auditor) KnownNetworks(ctx context.Context, since time.Time) (map[[2]string]time.Time, error) {
	q := fmt.Sprintf("SELECT target, client, toUInt32(max(ts)) AS last FROM %s.audit_log WHERE action = %s AND outcome = 'ok' AND ts >= toDateTime(%d, 'UTC') GROUP BY target, client ORDER BY last DESC LIMIT 100000",
		a.st.DB().Staff, store.Quote(AuditSignIn), since.Unix())
	out := map[[2]string]time.Time{}
	if err := a.st.Query(ctx, q, func(r store.Row) error {
		out[[2]string{r.String(0), r.String(1)}] = time.Unix(int64(r.Uint64(2)), 0).UTC()
		return nil
	}); err != nil {
		return nil, fmt.Errorf("cannot read the networks staff signed in from: %w", err)
	}
	return out, nil
}

// SubjectAudit returns the Audit function of a subject.Service that writes
// its requests to a's chain: one audit log, one chain per process.
func SubjectAudit(a *Auditor) func(context.Context, subject.AuditEvent) error {
	return func(ctx context.Context, e subject.AuditEvent) error {
		return a.Record(ctx, AuditEntry{Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target, Outcome: e.Outcome, Detail: e.Detail})
	}
}
