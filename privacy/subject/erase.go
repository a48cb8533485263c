package subject

import (
	"context"
	"fmt"
	"time"

	"github.com/sezim-analytics/sezim/store"
)

// EraseTimeout bounds how long Erase waits for ClickHouse to finish the
// delete (a mutation, in the background on a server) before it reports the
// erasure as not verified.
const EraseTimeout = 5 * time.Minute

// Erase destroys the subject's identified rows (policy 6.1.2, 6.2.4,
// 10.2): the consented events the reference reaches and the links from
// its receipts to its visitor ids. It waits for the delete to finish, then
// counts what is left: the outcome says "0 rows left", or the error wraps
// ErrNotErased. The consent-log rows stay, as the proof of consent the
// operator must keep (policy 6.2.3) until consent_log_days: with the links
// gone they lead to no visitor. Erasure cannot be undone.
func (s *Service) Erase(ctx context.Context, req Request) (Outcome, error) {
	if err := req.validate(); err != nil {
		return Outcome{}, err
	}
	out := Outcome{ID: newID(), Kind: "erase", Subject: req.Ref.Fingerprint()}
	err := s.erase(ctx, req.Ref, &out)
	if rerr := s.record(ctx, &req, &out, AuditErase, err); rerr != nil {
		return out, fmt.Errorf("erasure made but not recorded: %w", rerr)
	}
	return out, err
}

func (s *Service) erase(ctx context.Context, ref Ref, out *Outcome) error {
	sc, err := s.resolve(ctx, ref)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, EraseTimeout)
	defer cancel()
	targets := []struct{ table, where string }{{"events", sc.events}, {"consent_visitors", sc.links}}
	for _, t := range targets {
		if t.where == "" {
			continue
		}
		n, err := store.DeleteWhere(ctx, s.o.Store, s.table(t.table), t.where)
		if err != nil {
			return fmt.Errorf("cannot erase the subject's rows of %s (%s): %w", t.table, out.Subject, err)
		}
		out.Rows += n
	}
	// Verified apart from the delete's own wait: counted again, on every
	// table the reference reaches.
	var left uint64
	for _, t := range targets {
		if t.where == "" {
			continue
		}
		n, err := store.CountWhere(ctx, s.o.Store, s.table(t.table), t.where)
		if err != nil {
			return err
		}
		left += n
	}
	if left > 0 {
		out.Result = fmt.Sprintf("not erased: %d rows left", left)
		return fmt.Errorf("cannot erase the subject (%s): %d rows left: %w", out.Subject, left, ErrNotErased)
	}
	out.Result = "erased, 0 rows left"
	if len(sc.receipts) > 0 {
		kept, err := store.CountWhere(ctx, s.o.Store, s.table("consent_log"), "receipt IN "+inList(sc.receipts)+siteCond(ref.Site))
		if err != nil {
			return err
		}
		if kept > 0 {
			out.Detail = fmt.Sprintf("%d consent-log rows kept as proof of consent until consent_log_days, no longer linked to a visitor", kept)
		}
	}
	return nil
}
