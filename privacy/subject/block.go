package subject

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sezim-analytics/sezim/store"
)

// block is one block in force: a visitor or user id, on one site or ("")
// on every site.
type block struct {
	Kind  Kind
	Value string
	Site  string
}

// blocksQuery lists the blocks in force: the newest version of each key
// decides (GROUP BY rather than FINAL, the same on 18.16 and 26.x).
func blocksQuery(db string) string {
	return "SELECT ref_kind, value, site FROM " + db + ".subject_blocks GROUP BY ref_kind, value, site HAVING argMax(blocked, version) = 1"
}

func readBlocks(ctx context.Context, st store.Store) ([]block, error) {
	var out []block
	err := st.Query(ctx, blocksQuery(st.DB().Identified), func(r store.Row) error {
		out = append(out, block{Kind: Kind(r.String(0)), Value: r.String(1), Site: r.String(2)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the subject blocks: %w", err)
	}
	return out, nil
}

// blockKey indexes the blocks by kind and id; the value lists the sites
// ("" for all).
type blockKey struct {
	kind  Kind
	value string
}

type blockMap map[blockKey][]string

func (m blockMap) has(kind Kind, value, site string) bool {
	if value == "" {
		return false
	}
	for _, s := range m[blockKey{kind, value}] {
		if s == "" || s == site {
			return true
		}
	}
	return false
}

// BlockSet is the set of blocked subjects as ingest sees it: a snapshot of
// <identified>.subject_blocks in memory, replaced whole at each refresh,
// so that the hot path reads it without a lock (an atomic load and, while
// nothing is blocked, nothing else). Its Blocked method is the pipeline's
// block list.
type BlockSet struct {
	st  store.Store
	log *slog.Logger
	m   atomic.Pointer[blockMap]
}

// NewBlockSet returns an empty set over st; call Refresh (or Run) to load
// it.
func NewBlockSet(st store.Store, log *slog.Logger) *BlockSet {
	if log == nil {
		log = slog.Default()
	}
	b := &BlockSet{st: st, log: log}
	b.m.Store(&blockMap{})
	return b
}

// Blocked reports whether an identified row of this site, visitor and user
// must not be kept.
func (b *BlockSet) Blocked(site, visitorID, userID string) bool {
	m := *b.m.Load()
	if len(m) == 0 {
		return false
	}
	return m.has(KindVisitor, visitorID, site) || m.has(KindUser, userID, site)
}

// Refresh reloads the set from the store; on error the last set stays.
func (b *BlockSet) Refresh(ctx context.Context) error {
	list, err := readBlocks(ctx, b.st)
	if err != nil {
		return err
	}
	m := make(blockMap, len(list))
	for _, x := range list {
		k := blockKey{x.Kind, x.Value}
		m[k] = append(m[k], x.Site)
	}
	b.m.Store(&m)
	return nil
}

// DefaultRefresh is how often Run reloads the blocks: a block made by
// another process (`sezim subject block`) reaches ingest within it.
const DefaultRefresh = 30 * time.Second

// Run refreshes the set every interval (DefaultRefresh when 0) until ctx
// ends. A failed refresh keeps the last set and is logged.
func (b *BlockSet) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultRefresh
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := b.Refresh(ctx); err != nil {
				b.log.Warn("cannot refresh the subject blocks; keeping the last ones", "err", err)
			}
		}
	}
}

// Block stops ingest from keeping the subject's identified rows and hides
// what is held from every read of this Service, until Unblock. A receipt
// blocks the visitors it leads to (ErrUnresolved when none). The rows stay
// stored: Rows counts those now hidden.
func (s *Service) Block(ctx context.Context, req Request) (Outcome, error) {
	return s.setBlock(ctx, req, true)
}

// Unblock lifts a block made with the same reference (policy 6.2.5: the
// breach was not confirmed). Rows counts the rows shown again.
func (s *Service) Unblock(ctx context.Context, req Request) (Outcome, error) {
	return s.setBlock(ctx, req, false)
}

func (s *Service) setBlock(ctx context.Context, req Request, blocked bool) (Outcome, error) {
	kind, action, result := "block", AuditBlock, "blocked"
	if !blocked {
		kind, action, result = "unblock", AuditUnblock, "unblocked"
	}
	if err := req.validate(); err != nil {
		return Outcome{}, err
	}
	out := Outcome{ID: newID(), Kind: kind, Subject: req.Ref.Fingerprint()}
	err := s.applyBlock(ctx, req.Ref, blocked, &out)
	if err == nil {
		out.Result = result
	}
	if rerr := s.record(ctx, &req, &out, action, err); rerr != nil {
		return out, fmt.Errorf("%s done but not recorded: %w", kind, rerr)
	}
	return out, err
}

func (s *Service) applyBlock(ctx context.Context, ref Ref, blocked bool, out *Outcome) error {
	sc, err := s.resolve(ctx, ref)
	if err != nil {
		return err
	}
	keys := []block{{Kind: ref.Kind, Value: ref.Value, Site: ref.Site}}
	if ref.Kind == KindReceipt {
		if len(sc.visitors) == 0 {
			return fmt.Errorf("cannot %s the subject (%s): %w", out.Kind, out.Subject, ErrUnresolved)
		}
		keys = keys[:0]
		for _, v := range sc.visitors {
			keys = append(keys, block{Kind: KindVisitor, Value: v, Site: ref.Site})
		}
	}
	now := s.o.Now().UTC()
	// The newest version wins: above every version these ids have, so a
	// block and its unblock in the same clock tick still order.
	values := make([]string, len(keys))
	for i, k := range keys {
		values[i] = k.Value
	}
	version := uint64(now.UnixNano())
	err = s.o.Store.Query(ctx, "SELECT max(version) FROM "+s.table("subject_blocks")+" WHERE value IN "+inList(values), func(r store.Row) error {
		version = max(version, r.Uint64(0)+1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot read the subject's blocks (%s): %w", out.Subject, err)
	}
	rows := make([][]any, len(keys))
	for i, k := range keys {
		rows[i] = []any{string(k.Kind), k.Value, k.Site, blocked, now, version}
	}
	if err := s.o.Store.Insert(ctx, s.table("subject_blocks"), []string{"ref_kind", "value", "site", "blocked", "ts", "version"}, rows); err != nil {
		return fmt.Errorf("cannot %s the subject (%s): %w", out.Kind, out.Subject, err)
	}
	if sc.events != "" {
		if out.Rows, err = store.CountWhere(ctx, s.o.Store, s.table("events"), sc.events); err != nil {
			return err
		}
	}
	if s.o.Blocks != nil {
		if err := s.o.Blocks.Refresh(ctx); err != nil {
			s.o.Logger.Warn("cannot refresh the subject blocks after a change; the next refresh will", "err", err)
		}
	}
	return nil
}
