package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"ledger.internal/svc/internal/domain"
	"ledger.internal/svc/internal/postgres/db"
)

// AccessChange names whose access a committed control-plane change took
// away or lowered: a session ended, an API key revoked, a member removed
// or given another role, a tenant suspended. Every field set narrows it;
// a change always sets at least one.
type AccessChange struct {
	Tenant   string // a tenant's id: suspended, or a member removed or given another role in it
	User     string // a user's id: a session of theirs ended, or their membership changed
	APIKeyID string // an API key's id (never the key): revoked
}

// AccessWatcher is told of every access change once the transaction that
// made it committed, whichever code made it (a request, a command, a job):
// realtime closes the sockets it ends. It cannot fail the change, which has
// happened: it handles its own errors.
type AccessWatcher interface {
	AccessChanged(ctx context.Context, c AccessChange)
}

// inControlTx runs fn in a control-plane transaction; once it committed,
// the access change fn returns (nil for none) goes to the seams' watcher.
// A change that rolled back is announced to no one.
func (ts *Tenants) inControlTx(ctx context.Context, fn func(pgx.Tx, *db.Queries) (*AccessChange, error)) error {
	return ts.inControlTxOn(ctx, ts.pool, fn)
}

// beginner starts transactions: a pool, or a connection taken from one.
type beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// inControlTxOn is inControlTx on conn, a connection the caller already
// holds: waiting for a second one from the pool while holding the first
// would deadlock once as many callers hold one as the pool has.
func (ts *Tenants) inControlTxOn(ctx context.Context, conn beginner, fn func(pgx.Tx, *db.Queries) (*AccessChange, error)) error {
	var change *AccessChange
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var err error
		change, err = fn(tx, db.New(tx))
		return err
	})
	if err != nil {
		return err
	}
	ts.accessChanged(ctx, change)
	return nil
}

// accessChanged hands a committed change (if any) to the seams' watcher.
func (ts *Tenants) accessChanged(ctx context.Context, c *AccessChange) {
	if c != nil && ts.seams.Access != nil {
		ts.seams.Access.AccessChanged(ctx, *c)
	}
}

// A GET's credential is checked with its read (AccessCheck): an
// authenticated session's access in a tenant, or an API key's in its
// tenant, is remembered, and the next request with the same credential
// (in the same tenant) is let through the guards on what was remembered,
// while the statement that authenticated it leads the request's first read
// in the same pipeline (Tenants.ReadTenant) and has to find the credential
// granting exactly that again before any row read is used. Revocation is
// as instant as with the check in front of the request: what a request
// answers was read in the same round trip as a check made after it
// arrived.
const (
	// rememberAccessFor is how long a credential's access is
	// remembered since it was last read in full. Every use is checked
	// anew, so this bounds memory, not trust.
	rememberAccessFor = 5 * time.Minute
	// maxRememberedCredentials bounds the credentials remembered, at ~300
	// bytes each; past it, an arbitrary eighth is forgotten (see
	// expiring).
	maxRememberedCredentials = 20_000
)

// ErrAccessChanged is what a read led by an AccessCheck, or the check
// itself, returns when the credential no longer grants what was
// remembered of it: a session ended or expired, an API key revoked, its
// user's (or key creator's) membership or role changed, a key's role's
// permissions changed, the tenant no longer served or renamed. No row of
// the read was used; authenticate afresh and read again.
var ErrAccessChanged = errors.New("postgres: the credential's access changed since it was remembered")

// rememberedAccess is what a full authentication of a credential read,
// kept for its next requests: a session's access in a tenant
// (GetSessionAccess), or, with key set, an API key's (GetAPIKeyAccess).
type rememberedAccess struct {
	principal domain.Principal
	access    sessionAccess
	key       *keyAccess
}

// sessionAccess is what an AccessCheck finds again: the row's fields that
// a principal is made of.
type sessionAccess struct {
	userID    pgtype.UUID
	superuser bool
	role      pgtype.Text
	custom    []string
}

func sessionAccessOf(row db.GetSessionAccessRow) sessionAccess {
	return sessionAccess{userID: row.UserID, superuser: row.Superuser, role: row.MemberRole, custom: row.CustomPermissions}
}

func (a sessionAccess) equal(b sessionAccess) bool {
	return a.userID == b.userID && a.superuser == b.superuser && a.role == b.role && slices.Equal(a.custom, b.custom)
}

// keyAccess is what an AccessCheck of an API key finds again: the row's
// fields that the key's principal is made of.
type keyAccess struct {
	id, tenantID, creatorID pgtype.UUID
	tenantSlug, role        string
	custom                  []string
	creatorRole             string
	creatorCustom           []string
}

func keyAccessOf(row db.GetAPIKeyAccessRow) keyAccess {
	return keyAccess{
		id: row.ID, tenantID: row.TenantID, creatorID: row.CreatorID, tenantSlug: row.TenantSlug, role: row.Role,
		custom: row.KeyCustomPermissions, creatorRole: row.CreatorRole, creatorCustom: row.CreatorCustomPermissions,
	}
}

func (a keyAccess) equal(b keyAccess) bool {
	return a.id == b.id && a.tenantID == b.tenantID && a.creatorID == b.creatorID && a.tenantSlug == b.tenantSlug &&
		a.role == b.role && slices.Equal(a.custom, b.custom) && a.creatorRole == b.creatorRole && slices.Equal(a.creatorCustom, b.creatorCustom)
}

// rememberKey is a credential's token hash and, for a session, a tenant's
// id (an API key has one tenant: "").
type rememberKey struct {
	tokenHash [sha256.Size]byte
	tenantID  string
}

// AccessCheck is a credential's remembered access, to be found again
// before a request served on it answers. It belongs to one request.
type AccessCheck struct {
	remembered *expiring[rememberKey, rememberedAccess]
	queries    *db.Queries
	key        rememberKey
	was        rememberedAccess
	confirmed  atomic.Bool
}

// Confirmed reports whether the check has passed, led by a read or by
// Confirm.
func (c *AccessCheck) Confirmed() bool {
	return c.confirmed.Load()
}

// Confirm checks in a round trip of its own, for a request none of whose
// reads led with the check; it returns ErrAccessChanged when the
// credential no longer grants what was remembered.
func (c *AccessCheck) Confirm(ctx context.Context) error {
	if c.Confirmed() {
		return nil
	}
	return c.run(ctx, c.queries)
}

// run reads the credential's access again through q, with the statement
// that authenticated it, and compares it with what was remembered (see
// verify).
func (c *AccessCheck) run(ctx context.Context, q *db.Queries) error {
	if c.was.key != nil {
		row, err := q.GetAPIKeyAccess(ctx, c.key.tokenHash[:])
		return c.verify(err == nil && row.TenantActive && keyAccessOf(row).equal(*c.was.key), err)
	}
	row, err := q.GetSessionAccess(ctx, db.GetSessionAccessParams{TokenHash: c.key.tokenHash[:], TenantID: pgUUID(c.key.tenantID)})
	return c.verify(err == nil && row.TenantActive && sessionAccessOf(row).equal(c.was.access), err)
}

// verify passes the check when the statement found what was remembered
// (same); anything else forgets the credential.
func (c *AccessCheck) verify(same bool, err error) error {
	if same {
		c.confirmed.Store(true)
		return nil
	}
	c.remembered.forget(c.key)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("check credential: %w", err)
	}
	return ErrAccessChanged
}

type accessCheckKey struct{}

// WithAccessCheck returns a context whose first tenant read carries check
// (see Tenants.ReadTenant); a nil check takes away the one ctx carried.
func WithAccessCheck(ctx context.Context, check *AccessCheck) context.Context {
	return context.WithValue(ctx, accessCheckKey{}, check)
}
