package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger.internal/svc/internal/domain"
	"ledger.internal/svc/internal/postgres/db"
)

// deletionTimeout bounds the work of a deletion once it has started: it
// goes on when the caller hangs up, since a tenant left half-deleted is
// served to no one until a deletion finishes it.
const deletionTimeout = 5 * time.Minute

// Rename changes the display name of the active tenant called slug; its
// slug, and so its subdomain and storage, stay. A slug with no active
// tenant is ENOTFOUND.
func (ts *Tenants) Rename(ctx context.Context, slug, name string) (domain.Tenant, error) {
	if err := domain.ValidateTenantName(name); err != nil {
		return domain.Tenant{}, err
	}
	if domain.ValidateSlugSyntax(slug) != nil {
		return domain.Tenant{}, domain.Errorf(domain.ENOTFOUND, "no tenant %q", truncateSlug(slug))
	}
	var row db.Tenant
	err := ts.inControlTx(ctx, func(tx pgx.Tx, q *db.Queries) (*AccessChange, error) {
		before, err := q.GetTenantBySlug(ctx, slug)
		if err != nil {
			return nil, err
		}
		if row, err = q.RenameTenant(ctx, db.RenameTenantParams{Slug: slug, Name: name}); err != nil {
			return nil, err
		}
		t := tenantFromRow(row)
		return nil, RecordControl(ctx, tx, t, "tenant.rename", "tenant:"+t.ID, tenantFromRow(before), t)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Tenant{}, domain.Errorf(domain.ENOTFOUND, "no tenant %q", slug)
	}
	if err != nil {
		return domain.Tenant{}, fmt.Errorf("rename tenant %q: %w", slug, err)
	}
	// The trigger tells every process; this one need not wait for it.
	ts.cache.invalidate(slug)
	return tenantFromRow(row), nil
}

// Delete removes the tenant called slug, active or suspended, with all of
// its data, and returns it as it was:
//
//   - at once, everywhere: it resolves nowhere (as an unknown slug), its
//     members' and API keys' requests are answered 404 and its realtime
//     clients are closed (the access change is announced);
//   - its storage goes: its database is dropped (its pool closed first, any other session
//     on it ended) with every table in it, its audit log included;
//   - its control-plane rows go: memberships, custom roles, invitations,
//     object grants, API keys, its subscription and usage; its Stripe
//     customer is queued for deletion at Stripe, which cancels its
//     subscriptions (see billing.RemoveCustomers);
//   - the deletion itself is recorded in the control-plane audit log, which
//     outlives the tenant;
//   - the slug is free again: a new tenant may take it (and gets new, empty
//     storage and a new id, so nothing of the old one is reachable).
//
// The tenant is first marked deleting, in a transaction of its own; the
// storage is dropped next and the row deleted last. A deletion that dies
// half-way leaves the tenant deleting, served to no one; deleting the slug
// again (or creating a tenant with it) finishes it. Deletions and creations
// of one slug are serialised; a concurrent one is ECONFLICT. A slug with
// no tenant is ENOTFOUND.
func (ts *Tenants) Delete(ctx context.Context, slug string) (domain.Tenant, error) {
	if domain.ValidateSlugSyntax(slug) != nil {
		return domain.Tenant{}, domain.Errorf(domain.ENOTFOUND, "no tenant %q", truncateSlug(slug))
	}
	conn, err := ts.session.Acquire(ctx) // for its session lock, as in CreateOwned
	if err != nil {
		return domain.Tenant{}, fmt.Errorf("delete tenant: %w", err)
	}
	defer conn.Release()
	unlock, err := lockSlug(ctx, conn, slug)
	if err != nil {
		return domain.Tenant{}, err
	}
	defer unlock()

	var t domain.Tenant
	err = ts.inControlTxOn(ctx, conn, func(_ pgx.Tx, q *db.Queries) (*AccessChange, error) {
		row, markErr := q.MarkTenantDeleting(ctx, slug)
		if markErr != nil {
			return nil, markErr
		}
		t = tenantFromRow(row)
		return &AccessChange{Tenant: t.ID}, nil
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Tenant{}, domain.Errorf(domain.ENOTFOUND, "no tenant %q", slug)
	}
	if err != nil {
		return domain.Tenant{}, fmt.Errorf("delete tenant %q: %w", slug, err)
	}
	ts.cache.invalidate(slug)
	if err := ts.finishDeletion(ctx, conn, t); err != nil {
		return domain.Tenant{}, err
	}
	return t, nil
}

// finishDeletion drops the storage of t, a tenant marked deleting, and
// deletes its row, recording the deletion. The caller holds the slug's
// lock, on conn.
func (ts *Tenants) finishDeletion(ctx context.Context, conn *pgxpool.Conn, t domain.Tenant) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deletionTimeout)
	defer cancel()
	if err := ts.storage.deprovision(ctx, conn, t); err != nil {
		return fmt.Errorf("delete tenant %q: drop its storage (it stays deleting, served to no one; delete it again to finish): %w", t.Slug, err)
	}
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// The Stripe customer outlives the row for as long as Stripe has not
		// confirmed its deletion (billing.RemoveCustomers).
		if _, err := tx.Exec(ctx, `
			INSERT INTO billing_customer_removals (stripe_customer_id, tenant_id)
			SELECT stripe_customer_id, tenant_id FROM billing_customers WHERE tenant_id = $1
			ON CONFLICT (stripe_customer_id) DO NOTHING`, t.ID); err != nil {
			return fmt.Errorf("queue the Stripe customer's removal: %w", err)
		}
		if err := db.New(tx).DeleteTenant(ctx, pgUUID(t.ID)); err != nil {
			return err
		}
		return RecordControl(ctx, tx, t, "tenant.delete", "tenant:"+t.ID, t, nil)
	})
	if err != nil {
		return fmt.Errorf("delete tenant %q (it stays deleting, served to no one; delete it again to finish): %w", t.Slug, err)
	}
	return nil
}
