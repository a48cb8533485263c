package staff

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sezim-analytics/sezim/ratelimit"
)

// knownNets answers whether a client network has signed in successfully
// to an account: such networks are exempt from the per-account limit, so
// wrong passwords from strangers cannot lock the owner out of the networks
// the owner uses. The answer comes from the audit log (shared by every
// dashboards node, kept across restarts), read whole (account, network,
// last sign-in) and kept for ttl, like the Directory: a check costs a map
// lookup, whatever names and networks a stranger sends, and the store sees
// at most one query per ttl from it.
type knownNets struct {
	audit  *Auditor
	now    func() time.Time
	maxAge time.Duration // how old a sign-in may be and still vouch for its network
	ttl    time.Duration
	mu     sync.Mutex
	loaded time.Time
	last   map[[2]string]time.Time // {account, network} -> last sign-in
}

func newKnownNets(audit *Auditor, now func() time.Time, maxAge time.Duration) *knownNets {
	return &knownNets{audit: audit, now: now, maxAge: maxAge, ttl: 15 * time.Second}
}

// known reports whether client signed in to account within maxAge. When
// the audit log cannot be read it answers from the copy it has (none at
// first: no network is known, and the account limit applies as it would
// to a stranger) and returns the error, trying again after ttl.
func (k *knownNets) known(ctx context.Context, account, client string) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	var err error
	if k.loaded.IsZero() || now.Sub(k.loaded) >= k.ttl || now.Before(k.loaded) {
		var last map[[2]string]time.Time
		if last, err = k.audit.KnownNetworks(ctx, now.Add(-k.maxAge)); err == nil {
			// Sign-ins this node just saw stay known even when the read
			// missed them (a replica behind).
			for p, t := range k.last {
				if t.After(last[p]) && now.Sub(t) < k.ttl {
					last[p] = t
				}
			}
			k.last = last
		}
		k.loaded = now
	}
	t, ok := k.last[[2]string{account, client}]
	return ok && now.Sub(t) < k.maxAge, err
}

// add records a successful sign-in of account from client, which the
// audit log now holds too.
func (k *knownNets) add(account, client string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.last == nil {
		k.last = map[[2]string]time.Time{}
	}
	k.last[[2]string{strings.Clone(account), strings.Clone(client)}] = k.now()
}

// knownNet reports whether client signed in to account before (see
// knownNets); an error is logged and counts as no.
func (s *Gate) knownNet(ctx context.Context, account, client string) bool {
	if !ValidName(account) || client == "" {
		return false
	}
	ok, err := s.known.known(ctx, account, client)
	if err != nil {
		s.o.Logger.Error("cannot read the audit log", "err", err)
	}
	return ok
}

// Which limit refused a sign-in; kept in the audit row's detail.
const (
	limitAccount = 1 << iota
	limitNetwork
)

// refusals sums the sign-in attempts that a rate limit refused, per client
// network and window, so that a flood of attempts is one audit row with
// its count instead of one insert per request (which let a stranger fill
// the audit log and load the store at the request rate). A window starts at
// a network's first refusal and lasts the limit window; its row is written
// when it ends (FlushRateLimited). The table is bounded: past max networks,
// refusals are summed in one row for "(other)" (so it holds max+1).
type refusals struct {
	window time.Duration
	max    int
	mu     sync.Mutex
	m      map[string]*tally
	ended  []AuditEntry // ended windows not yet written
}

type tally struct {
	start    time.Time
	target   string
	several  bool
	limits   int
	attempts uint32
}

const otherNetworks = "(other)"

func newRefusals(window time.Duration, max int) *refusals {
	return &refusals{window: window, max: max, m: map[string]*tally{}}
}

// add counts one refused attempt on target from client.
func (r *refusals) add(client, target string, limit int, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.m[client]
	if t == nil && len(r.m) >= r.max {
		client = otherNetworks
		t = r.m[client]
	}
	if t != nil && now.Sub(t.start) >= r.window {
		r.endLocked(client, t)
		t = nil
	}
	if t == nil {
		// Copied: the caller's strings may be Fiber's reused memory.
		t = &tally{start: now, target: strings.Clone(target)}
		r.m[strings.Clone(client)] = t
	}
	if t.target != target {
		t.several = true
	}
	t.limits |= limit
	if t.attempts < ^uint32(0) {
		t.attempts++
	}
}

func (r *refusals) endLocked(client string, t *tally) {
	delete(r.m, client)
	target := t.target
	if t.several {
		target = "(several)"
	}
	var limits []string
	if t.limits&limitAccount != 0 {
		limits = append(limits, "account")
	}
	if t.limits&limitNetwork != 0 {
		limits = append(limits, "network")
	}
	// Bounded: room for every open window to end at once on top of a
	// full backlog; past it, the oldest rows waiting for a store that does
	// not answer are lost (the failed flushes are logged).
	if len(r.ended) >= r.maxEnded() {
		r.ended = r.ended[1:]
	}
	r.ended = append(r.ended, AuditEntry{Time: t.start, Actor: target, Action: AuditSignInFailed, Target: target,
		Outcome: "rate_limited", Client: client, Detail: "limit: " + strings.Join(limits, ", "), Attempts: t.attempts})
}

func (r *refusals) maxEnded() int { return 2*r.max + 1 }

// take returns the rows of the windows ended by now (of every window, when
// final), oldest first, and forgets them.
func (r *refusals) take(now time.Time, final bool) []AuditEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	for client, t := range r.m {
		if final || now.Sub(t.start) >= r.window {
			r.endLocked(client, t)
		}
	}
	out := r.ended
	r.ended = nil
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// putBack keeps rows that could not be written for the next flush.
func (r *refusals) putBack(rows []AuditEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended = append(rows, r.ended...)
	if n := len(r.ended) - r.maxEnded(); n > 0 {
		r.ended = r.ended[n:]
	}
}

// FlushRateLimited writes the audit rows of the rate-limited sign-in
// windows that have ended (all of them, when final: at shutdown), one row
// per client network and window with the number of attempts refused.
// Rows that cannot be written are kept for the next call.
func (s *Gate) FlushRateLimited(ctx context.Context, final bool) error {
	rows := s.refused.take(s.o.Now(), final)
	if len(rows) == 0 {
		return nil
	}
	if err := s.audit.RecordAll(ctx, rows); err != nil {
		s.refused.putBack(rows)
		s.o.Logger.Error("cannot write the audit log", "action", AuditSignInFailed, "outcome", "rate_limited", "err", err)
		return fmt.Errorf("cannot write %d rate-limited sign-in rows: %w", len(rows), err)
	}
	return nil
}

// Limits returns the per-account and per-network sign-in limiters, and
// how many refusal tallies wait for the audit log: what bounds a flood of
// fresh keys, for checks of those bounds.
func (s *Gate) Limits() (accounts, networks *ratelimit.Limiter, tallies int) {
	s.refused.mu.Lock()
	defer s.refused.mu.Unlock()
	return s.accounts, s.networks, len(s.refused.m)
}
