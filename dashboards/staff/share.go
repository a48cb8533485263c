package staff

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/sezim-analytics/sezim/store"
)

// Audit actions of shared links. The names are stored: never rename.
const (
	// AuditShareCreated is a new link; Target its id, Detail its site.
	AuditShareCreated = "share_created"
	// AuditShareUsed is a share session begun (once per browser session,
	// not per request); Actor "share:<id>".
	AuditShareUsed = "share_used"
	// AuditShareFailed is a wrong password given for a link.
	AuditShareFailed = "share_password_failed"
	// AuditShareRevoked is a link revoked.
	AuditShareRevoked = "share_revoked"
)

// SharePrefix starts every link token, so a leaked one is recognisable.
const SharePrefix = "sezim_share_"

// ShareLink is a shared link's record; the token itself is never stored.
type ShareLink struct {
	ID        string    `json:"id"`
	Site      string    `json:"site"`
	Label     string    `json:"label"`
	CreatedBy string    `json:"created_by"`
	Created   time.Time `json:"created"`
	Password  bool      `json:"password"` // whether it asks for one
	Revoked   bool      `json:"revoked"`
	RevokedBy string    `json:"revoked_by,omitempty"`
	hash      string    // SHA-256 of the token
	password  string    // PHC string, or ""
	version   uint64
}

// Errors of the shared links, mapped to statuses by the handlers.
var (
	ErrNoShare      = errors.New("no such link")
	ErrShareRevoked = errors.New("link revoked")
)

// ShareLinks reads and writes the shared links of the staff database. It
// keeps no copy: every request through a link reads its row, so that a
// revocation holds at once on every dashboards node.
type ShareLinks struct {
	st     store.Store
	now    func() time.Time
	params HashParams
}

// NewShareLinks returns the links of st; now nil means time.Now, params
// zero means DefaultHashParams.
func NewShareLinks(st store.Store, now func() time.Time, params HashParams) *ShareLinks {
	if now == nil {
		now = time.Now
	}
	if params == (HashParams{}) {
		params = DefaultHashParams
	}
	return &ShareLinks{st: st, now: now, params: params}
}

func (l *ShareLinks) table() string { return l.st.DB().Staff + ".share_links" }

// Create makes a link to siteID by user, with a password unless password
// is empty, and returns the raw token: it is shown once and never stored.
// A password shorter than MinPasswordLen is ErrWeakPassword.
func (l *ShareLinks) Create(ctx context.Context, siteID, label, user, password string) (string, *ShareLink, error) {
	link := &ShareLink{ID: randomString(9), Site: siteID, Label: label, CreatedBy: user, Created: l.now().UTC().Truncate(time.Second)}
	if password != "" {
		h, err := HashPassword(password, l.params)
		if err != nil {
			return "", nil, err
		}
		link.password, link.Password = h, true
	}
	raw := SharePrefix + randomString(32)
	link.hash = tokenHash(raw)
	if err := l.put(ctx, link); err != nil {
		return "", nil, err
	}
	return raw, link, nil
}

// Revoke marks the link with id revoked by user; it returns the link as
// it was, or ErrNoShare.
func (l *ShareLinks) Revoke(ctx context.Context, id, user string) (*ShareLink, error) {
	links, err := l.query(ctx, "id = "+store.Quote(id))
	if err != nil {
		return nil, err
	}
	if len(links) == 0 {
		return nil, ErrNoShare
	}
	r := *links[0]
	r.Revoked, r.RevokedBy = true, user
	if err := l.put(ctx, &r); err != nil {
		return nil, err
	}
	return links[0], nil
}

// List returns the links of the sites see allows, newest first.
func (l *ShareLinks) List(ctx context.Context, see func(siteID string) bool) ([]*ShareLink, error) {
	all, err := l.query(ctx, "1")
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, s := range all {
		if see(s.Site) {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Created.After(out[j].Created) || (out[i].Created.Equal(out[j].Created) && out[i].ID < out[j].ID)
	})
	return out, nil
}

// ByToken returns the link of the raw token: ErrNoShare when there is
// none, ErrShareRevoked (with the link) when it was revoked.
func (l *ShareLinks) ByToken(ctx context.Context, raw string) (*ShareLink, error) {
	if len(raw) != len(SharePrefix)+43 || raw[:len(SharePrefix)] != SharePrefix {
		return nil, ErrNoShare // not one of ours: no query
	}
	links, err := l.query(ctx, "token_hash = "+store.Quote(tokenHash(raw)))
	if err != nil {
		return nil, err
	}
	if len(links) == 0 {
		return nil, ErrNoShare
	}
	if links[0].Revoked {
		return links[0], ErrShareRevoked
	}
	return links[0], nil
}

func (l *ShareLinks) query(ctx context.Context, where string) ([]*ShareLink, error) {
	q := "SELECT id, token_hash, site, label, created_by, toUInt32(created), password, revoked, revoked_by, version FROM " +
		l.table() + " FINAL WHERE " + where
	var out []*ShareLink
	err := l.st.Query(ctx, q, func(r store.Row) error {
		out = append(out, &ShareLink{ID: r.String(0), hash: r.String(1), Site: r.String(2), Label: r.String(3), CreatedBy: r.String(4),
			Created: time.Unix(int64(r.Uint64(5)), 0).UTC(), password: r.String(6), Password: r.String(6) != "",
			Revoked: r.Uint64(7) == 1, RevokedBy: r.String(8), version: r.Uint64(9)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read shared links: %w", err)
	}
	return out, nil
}

func (l *ShareLinks) put(ctx context.Context, s *ShareLink) error {
	revoked := uint8(0)
	if s.Revoked {
		revoked = 1
	}
	cols := []string{"id", "token_hash", "site", "label", "created_by", "created", "password", "revoked", "revoked_by", "version"}
	// Above the row it replaces even when the clock has not moved (a
	// test's, or a coarse one): FINAL keeps the highest version.
	version := max(uint64(l.now().UnixNano()), s.version+1)
	row := []any{s.ID, s.hash, s.Site, s.Label, s.CreatedBy, s.Created, s.password, revoked, s.RevokedBy, version}
	if err := l.st.Insert(ctx, l.table(), cols, [][]any{row}); err != nil {
		return fmt.Errorf("cannot save shared link %q: %w", s.ID, err)
	}
	return nil
}
