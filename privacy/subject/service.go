package subject

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// Audit actions written for each request. The names are stored: never
// rename.
const (
	AuditExport  = "subject_export"
	AuditBlock   = "subject_block"
	AuditUnblock = "subject_unblock"
	AuditErase   = "subject_erase"
)

// AuditEvent is what a request adds to the staff audit log. The target is
// the reference's fingerprint, never the visitor or user id.
type AuditEvent struct {
	Time    time.Time
	Actor   string
	Action  string // one of the Audit* names
	Target  string
	Outcome string // "ok", or the error kind
	Detail  string
}

// Options configure a Service.
type Options struct {
	Store store.Store
	// Sites gives each site's retention periods, for the dates in an
	// export.
	Sites *site.Config
	// Audit appends to the staff audit log (the dashboards' Auditor);
	// required: a request that cannot be audited is refused.
	Audit func(ctx context.Context, e AuditEvent) error
	// Blocks, when set, is refreshed after a block or unblock, so ingest
	// in this process follows at once (others follow at their next
	// refresh).
	Blocks *BlockSet
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Service answers data-subject requests over one store. It is safe for
// concurrent use.
type Service struct {
	o Options
}

// New returns a Service.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Service{o: o}
}

// Request is one data-subject request as staff make it.
type Request struct {
	Ref Ref
	// Actor is who makes the request: a staff user name, or "cli:USER".
	Actor string
	// Reason is the legal reason given (the subject's request and its
	// date, a court decision, a confirmed breach), recorded as given.
	Reason string
}

func (r *Request) validate() error {
	if err := r.Ref.Validate(); err != nil {
		return err
	}
	r.Reason = strings.TrimSpace(r.Reason)
	switch {
	case r.Reason == "" || r.Actor == "":
		return ErrNoReason
	case len(r.Reason) > MaxReason || !utf8.ValidString(r.Reason) || len(r.Actor) > 256:
		return fmt.Errorf("the reason is at most %d bytes of text: %w", MaxReason, ErrNoReason)
	}
	return nil
}

// Outcome is the result of a block, unblock or erase.
type Outcome struct {
	// ID names the request in <identified>.subject_requests.
	ID   string `json:"id"`
	Kind string `json:"kind"` // export, block, unblock, erase
	// Subject is the reference's fingerprint (Ref.Fingerprint).
	Subject string `json:"subject"`
	// Rows is what the request reached: rows exported, hidden by the
	// block, shown again by the unblock, or erased.
	Rows uint64 `json:"rows"`
	// Result says what happened, for a person: "blocked", "erased, 0 rows
	// left", ...
	Result string `json:"result"`
	// Detail adds what a privacy officer should know (rows kept and why).
	Detail string `json:"detail,omitempty"`
}

// RequestRecord is one row of <identified>.subject_requests.
type RequestRecord struct {
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Kind    string    `json:"kind"`
	RefKind Kind      `json:"ref_kind"`
	Ref     string    `json:"ref"` // fingerprint
	Site    string    `json:"site,omitempty"`
	Reason  string    `json:"reason"`
	Outcome string    `json:"outcome"`
	Rows    uint64    `json:"rows"`
	Detail  string    `json:"detail,omitempty"`
}

var requestColumns = []string{"id", "ts", "actor", "kind", "ref_kind", "ref", "site", "reason", "outcome", "rows", "detail"}

// record writes the request to subject_requests and the audit log. A
// request whose record cannot be written is reported as failed, even when
// its effect happened: the caller must know the evidence is missing.
func (s *Service) record(ctx context.Context, req *Request, out *Outcome, action string, failure error) error {
	rec := RequestRecord{ID: out.ID, Time: s.o.Now().UTC(), Actor: req.Actor, Kind: out.Kind, RefKind: req.Ref.Kind,
		Ref: out.Subject, Site: req.Ref.Site, Reason: req.Reason, Outcome: out.Result, Rows: out.Rows, Detail: out.Detail}
	outcome := "ok"
	if failure != nil {
		rec.Outcome, outcome = "failed: "+failureKind(failure), failureKind(failure)
	}
	row := []any{rec.ID, rec.Time, rec.Actor, rec.Kind, string(rec.RefKind), rec.Ref, rec.Site, rec.Reason, rec.Outcome, rec.Rows, rec.Detail}
	var errs []error
	if err := s.o.Store.Insert(ctx, s.o.Store.DB().Identified+".subject_requests", requestColumns, [][]any{row}); err != nil {
		errs = append(errs, fmt.Errorf("cannot record the request (%s %s): %w", rec.Kind, rec.ID, err))
	}
	if s.o.Audit == nil {
		errs = append(errs, fmt.Errorf("cannot audit the request (%s %s): no audit log", rec.Kind, rec.ID))
	} else if err := s.o.Audit(ctx, AuditEvent{Time: rec.Time, Actor: rec.Actor, Action: action, Target: rec.Ref, Outcome: outcome,
		Detail: fmt.Sprintf("request %s; %s; rows %d; reason: %s", rec.ID, rec.Outcome, rec.Rows, rec.Reason)}); err != nil {
		errs = append(errs, fmt.Errorf("cannot audit the request (%s %s): %w", rec.Kind, rec.ID, err))
	}
	return errors.Join(errs...)
}

// failureKind is a short, fixed name for a failed request's outcome.
func failureKind(err error) string {
	switch {
	case errors.Is(err, ErrUnresolved):
		return "unresolved"
	case errors.Is(err, ErrNotErased):
		return "not_erased"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "timeout"
	}
	return "store_error"
}

// Requests returns at most limit recorded requests, newest first.
func (s *Service) Requests(ctx context.Context, limit int) ([]RequestRecord, error) {
	if limit <= 0 {
		limit = 100
	}
	q := fmt.Sprintf("SELECT id, toUInt32(ts), actor, kind, ref_kind, ref, site, reason, outcome, rows, detail FROM %s.subject_requests ORDER BY ts DESC, id LIMIT %d",
		s.o.Store.DB().Identified, limit)
	var out []RequestRecord
	err := s.o.Store.Query(ctx, q, func(r store.Row) error {
		out = append(out, RequestRecord{ID: r.String(0), Time: time.Unix(int64(r.Uint64(1)), 0).UTC(), Actor: r.String(2), Kind: r.String(3),
			RefKind: Kind(r.String(4)), Ref: r.String(5), Site: r.String(6), Reason: r.String(7), Outcome: r.String(8), Rows: r.Uint64(9), Detail: r.String(10)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the subject requests: %w", err)
	}
	return out, nil
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// scope is what a reference resolves to: the visitor ids, the receipts
// and the conditions that select the subject's rows.
type scope struct {
	visitors []string
	receipts []string
	// events selects the subject's rows of <identified>.events; "" when
	// the reference reaches none (a receipt with no visitor).
	events string
	// links selects the subject's rows of consent_visitors.
	links string
}

func (s *Service) table(name string) string { return s.o.Store.DB().Identified + "." + name }

func siteCond(site string) string {
	if site == "" {
		return ""
	}
	return " AND site = " + store.Quote(site)
}

func inList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = store.Quote(v)
	}
	return "(" + strings.Join(q, ", ") + ")"
}

// resolve finds the rows a reference reaches (see the package comment).
func (s *Service) resolve(ctx context.Context, ref Ref) (*scope, error) {
	sc := &scope{}
	sc0 := siteCond(ref.Site)
	distinct := func(q string) ([]string, error) {
		var out []string
		err := s.o.Store.Query(ctx, q, func(r store.Row) error {
			if v := r.String(0); v != "" {
				out = append(out, v)
			}
			return nil
		})
		return out, err
	}
	var err error
	switch ref.Kind {
	case KindVisitor:
		sc.visitors = []string{ref.Value}
	case KindReceipt:
		sc.visitors, err = distinct(fmt.Sprintf("SELECT DISTINCT visitor_id FROM %s WHERE receipt = %s%s ORDER BY 1",
			s.table("consent_visitors"), store.Quote(ref.Value), sc0))
	case KindUser:
		sc.events = "user_id = " + store.Quote(ref.Value) + sc0
		sc.visitors, err = distinct(fmt.Sprintf("SELECT DISTINCT visitor_id FROM %s WHERE %s ORDER BY 1", s.table("events"), sc.events))
	}
	if err != nil {
		return nil, fmt.Errorf("cannot resolve the subject (%s): %w", ref.Fingerprint(), err)
	}
	if len(sc.visitors) > 0 {
		if ref.Kind != KindUser {
			sc.events = "visitor_id IN " + inList(sc.visitors) + sc0
		}
		sc.links = "visitor_id IN " + inList(sc.visitors) + sc0
		sc.receipts, err = distinct(fmt.Sprintf("SELECT DISTINCT receipt FROM %s WHERE %s ORDER BY 1", s.table("consent_visitors"), sc.links))
		if err != nil {
			return nil, fmt.Errorf("cannot read the receipts of the subject (%s): %w", ref.Fingerprint(), err)
		}
	}
	if ref.Kind == KindReceipt {
		if !contains(sc.receipts, ref.Value) {
			sc.receipts = append(sc.receipts, ref.Value)
		}
		cond := "receipt = " + store.Quote(ref.Value) + sc0
		if sc.links == "" {
			sc.links = cond
		} else {
			sc.links = "(" + sc.links + ") OR (" + cond + ")"
		}
	}
	if ref.Kind == KindUser {
		// A user reference erases the user's rows, not the links of the
		// visitors seen on them (their other rows are not the user's).
		sc.links = ""
	}
	return sc, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
