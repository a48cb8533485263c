package staff

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sezim-analytics/sezim/store"
)

// Role is what a staff account may do. The names are stored: never rename.
type Role string

// Roles, from least to most.
const (
	// RoleViewer reads the dashboards of the sites granted.
	RoleViewer Role = "viewer"
	// RolePrivacy also opens the privacy console (/app/privacy/).
	RolePrivacy Role = "privacy"
	// RoleAdmin sees every site and manages accounts.
	RoleAdmin Role = "admin"
)

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RolePrivacy:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// AtLeast reports whether r includes everything min may do.
func (r Role) AtLeast(min Role) bool { return r.rank() >= min.rank() && r.rank() > 0 }

// ParseRole returns the role named s, or an error naming the choices.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if r.rank() == 0 {
		return "", fmt.Errorf("unknown role %q: use viewer, privacy or admin", s)
	}
	return r, nil
}

// User is a staff account as the newest row of staff_users says.
type User struct {
	Name      string
	Role      Role
	Sites     []string // granted site ids; ignored for admins
	Disabled  bool
	UpdatedAt time.Time
	password  string // PHC string
	// allSites: the account is an admin's, even when acting through a
	// token of a lower role (which lowers what it may do, not what it sees).
	allSites bool
}

// CanSee reports whether u may read siteID's dashboards.
func (u *User) CanSee(siteID string) bool {
	if u == nil || u.Disabled {
		return false
	}
	return u.Role == RoleAdmin || u.allSites || slices.Contains(u.Sites, siteID)
}

// Token is an API token's record; the token itself is never stored.
type Token struct {
	ID      string
	User    string
	Role    Role
	Label   string
	Created time.Time
	Revoked bool
	hash    string
}

// Errors of the directory, mapped to messages by the callers.
var (
	ErrNoUser    = errors.New("no such user")
	ErrUserExist = errors.New("user already exists")
	ErrBadName   = errors.New("a user name is 1 to 64 characters of a-z, 0-9, '.', '_', '-' or '@'")
)

// DirectoryOptions configure a Directory.
type DirectoryOptions struct {
	Store store.Store
	Now   func() time.Time
	// TTL is how long the in-memory copy of the staff tables is trusted
	// before it is read again: the delay before a disabled account or a
	// revoked token stops working on every dashboards node. Default 15s.
	TTL time.Duration
}

// Directory reads and writes staff accounts and API tokens in the
// staff database. Reads come from an in-memory copy of the (small)
// tables, refreshed after TTL, so a dashboards request costs no query.
type Directory struct {
	o      DirectoryOptions
	mu     sync.Mutex
	loaded time.Time
	users  map[string]*User
	tokens map[string]*Token // by hash
}

// NewDirectory returns a Directory over o.Store.
func NewDirectory(o DirectoryOptions) *Directory {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TTL == 0 {
		o.TTL = 15 * time.Second
	}
	return &Directory{o: o}
}

func (d *Directory) table(name string) string { return d.o.Store.DB().Staff + "." + name }

// Invalidate makes the next read reload the tables.
func (d *Directory) Invalidate() {
	d.mu.Lock()
	d.loaded = time.Time{}
	d.mu.Unlock()
}

// snapshot returns the current copy, reloading it when stale.
func (d *Directory) snapshot(ctx context.Context) (map[string]*User, map[string]*Token, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.o.Now()
	if d.users != nil && now.Sub(d.loaded) < d.o.TTL && !d.loaded.IsZero() {
		return d.users, d.tokens, nil
	}
	users := map[string]*User{}
	q := "SELECT name, role, sites, password, disabled, toUInt32(updated_at) FROM " + d.table("staff_users") + " FINAL"
	err := d.o.Store.Query(ctx, q, func(r store.Row) error {
		u := &User{Name: r.String(0), Role: Role(r.String(1)), password: r.String(3), Disabled: r.Uint64(4) != 0,
			UpdatedAt: time.Unix(int64(r.Uint64(5)), 0).UTC()}
		if s := r.String(2); s != "" {
			u.Sites = strings.Split(s, ",")
		}
		users[u.Name] = u
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read staff accounts: %w", err)
	}
	tokens := map[string]*Token{}
	q = "SELECT id, hash, user, role, label, toUInt32(created_at), revoked FROM " + d.table("staff_tokens") + " FINAL"
	err = d.o.Store.Query(ctx, q, func(r store.Row) error {
		t := &Token{ID: r.String(0), hash: r.String(1), User: r.String(2), Role: Role(r.String(3)), Label: r.String(4),
			Created: time.Unix(int64(r.Uint64(5)), 0).UTC(), Revoked: r.Uint64(6) != 0}
		tokens[t.hash] = t
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read API tokens: %w", err)
	}
	d.users, d.tokens, d.loaded = users, tokens, now
	return users, tokens, nil
}

// User returns the account called name, or ErrNoUser.
func (d *Directory) User(ctx context.Context, name string) (*User, error) {
	users, _, err := d.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	u := users[name]
	if u == nil {
		return nil, ErrNoUser
	}
	return u, nil
}

// Users returns every account, by name.
func (d *Directory) Users(ctx context.Context) ([]*User, error) {
	users, _, err := d.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*User, 0, len(users))
	for _, u := range users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Tokens returns every API token record, newest first.
func (d *Directory) Tokens(ctx context.Context) ([]*Token, error) {
	_, tokens, err := d.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Token, 0, len(tokens))
	for _, t := range tokens {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Created.After(out[j].Created) || out[i].Created.Equal(out[j].Created) && out[i].ID < out[j].ID
	})
	return out, nil
}

// ByToken resolves a raw API token to the user it acts as, with the role
// lowered to the token's. It returns ErrNoUser for an unknown, revoked or
// orphaned token, or a disabled user.
func (d *Directory) ByToken(ctx context.Context, raw string) (*User, *Token, error) {
	users, tokens, err := d.snapshot(ctx)
	if err != nil {
		return nil, nil, err
	}
	t := tokens[tokenHash(raw)]
	if t == nil || t.Revoked {
		return nil, nil, ErrNoUser
	}
	u := users[t.User]
	if u == nil || u.Disabled {
		return nil, nil, ErrNoUser
	}
	acting := *u
	acting.allSites = u.Role == RoleAdmin
	if !u.Role.AtLeast(t.Role) {
		acting.Role = u.Role
	} else {
		acting.Role = t.Role
	}
	return &acting, t, nil
}

// ValidName reports whether name may name an account.
func ValidName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@", r)) {
			return false
		}
	}
	return true
}

// PutUser writes a new version of u. password, when not empty, is a PHC
// string that replaces the stored one; otherwise the stored one is kept.
func (d *Directory) PutUser(ctx context.Context, u *User, password string) error {
	if !ValidName(u.Name) {
		return ErrBadName
	}
	if u.Role.rank() == 0 {
		return fmt.Errorf("cannot save user %q: unknown role %q", u.Name, u.Role)
	}
	if password == "" {
		password = u.password
	}
	now := d.o.Now().UTC()
	disabled := uint8(0)
	if u.Disabled {
		disabled = 1
	}
	row := []any{u.Name, string(u.Role), strings.Join(u.Sites, ","), password, disabled, now, uint64(now.UnixNano())}
	cols := []string{"name", "role", "sites", "password", "disabled", "updated_at", "version"}
	if err := d.o.Store.Insert(ctx, d.table("staff_users"), cols, [][]any{row}); err != nil {
		return fmt.Errorf("cannot save user %q: %w", u.Name, err)
	}
	d.Invalidate()
	return nil
}

// TokenPrefix starts every API token, so a leaked one is recognisable.
const TokenPrefix = "sezim_"

func tokenHash(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// AddToken makes an API token for user with role (at most the user's) and
// returns the raw token: it is shown once and never stored.
func (d *Directory) AddToken(ctx context.Context, user string, role Role, label string) (string, *Token, error) {
	u, err := d.User(ctx, user)
	if err != nil {
		return "", nil, err
	}
	if !u.Role.AtLeast(role) {
		return "", nil, fmt.Errorf("cannot give a token role %s: user %q is only %s", role, user, u.Role)
	}
	raw := TokenPrefix + randomString(32)
	now := d.o.Now().UTC()
	t := &Token{ID: randomString(6), User: user, Role: role, Label: label, Created: now, hash: tokenHash(raw)}
	if err := d.putToken(ctx, t); err != nil {
		return "", nil, err
	}
	return raw, t, nil
}

// RevokeToken marks the token with id revoked.
func (d *Directory) RevokeToken(ctx context.Context, id string) error {
	tokens, err := d.Tokens(ctx)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		if t.ID == id {
			r := *t
			r.Revoked = true
			return d.putToken(ctx, &r)
		}
	}
	return fmt.Errorf("cannot revoke token %q: no such token", id)
}

func (d *Directory) putToken(ctx context.Context, t *Token) error {
	revoked := uint8(0)
	if t.Revoked {
		revoked = 1
	}
	cols := []string{"id", "hash", "user", "role", "label", "created_at", "revoked", "version"}
	row := []any{t.ID, t.hash, t.User, string(t.Role), t.Label, t.Created, revoked, uint64(d.o.Now().UnixNano())}
	if err := d.o.Store.Insert(ctx, d.table("staff_tokens"), cols, [][]any{row}); err != nil {
		return fmt.Errorf("cannot save token %q: %w", t.ID, err)
	}
	d.Invalidate()
	return nil
}
