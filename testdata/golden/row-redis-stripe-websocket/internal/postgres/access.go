package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/acme/shop-api/internal/postgres/db"
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
	var change *AccessChange
	err := pgx.BeginFunc(ctx, ts.pool, func(tx pgx.Tx) error {
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
