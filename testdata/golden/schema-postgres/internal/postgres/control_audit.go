package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"example.com/acme/internal/domain"
	"example.com/acme/internal/postgres/db"
)

// Control-plane changes are audited like a tenant's (see audit.go): each
// records its entry with RecordControl in the transaction that makes it.
// The states recorded are domain values, which carry no secrets (no
// password hash, key hash or token).

// inAuditedTx runs fn in a control-plane transaction, in which fn makes
// its change and records it with RecordControl.
func (id *Identity) inAuditedTx(ctx context.Context, fn func(pgx.Tx, *db.Queries) error) error {
	return id.inRevokingTx(ctx, func(tx pgx.Tx, q *db.Queries) (*AccessChange, error) {
		return nil, fn(tx, q)
	})
}

// inRevokingTx runs fn as inAuditedTx does, for a change that may take
// access away: the AccessChange fn returns (nil for none) is announced to
// the seams' AccessWatcher once the transaction committed, whoever called.
func (id *Identity) inRevokingTx(ctx context.Context, fn func(pgx.Tx, *db.Queries) (*AccessChange, error)) error {
	return id.tenants.inControlTx(ctx, fn)
}

// insertUser creates a user, records action ("user.signup",
// "user.create") on it and runs then on the new row in the same
// transaction. A taken email is pgx.ErrNoRows, as InsertUser says.
func (id *Identity) insertUser(ctx context.Context, p db.InsertUserParams, action string, then func(context.Context, pgx.Tx, *db.Queries, db.User) error) (db.User, error) {
	var row db.User
	err := id.inAuditedTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		var err error
		if row, err = q.InsertUser(ctx, p); err != nil {
			return err
		}
		u := userFromRow(row)
		err = RecordControl(ctx, tx, domain.Tenant{}, action, "user:"+u.ID, nil, u)
		if err != nil {
			return err
		}
		return then(ctx, tx, q, row)
	})
	return row, err
}
