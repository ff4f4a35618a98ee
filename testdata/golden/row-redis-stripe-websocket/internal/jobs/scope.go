package jobs

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/postgres/tenantdb"
)

// TenantStore is what TenantsScope needs of the tenant registry:
// *postgres.Tenants. It is an interface so that package postgres may
// import this one, whose jobs a tenant's unit of work enqueues.
type TenantStore interface {
	// Get returns the tenant called slug, active or suspended, read from
	// the database.
	Get(ctx context.Context, slug string) (domain.Tenant, error)
	// InTenantTx runs fn in a transaction confined to t, as a unit of
	// work that fn reaches with postgres.UnitFrom(ctx).
	InTenantTx(ctx context.Context, t domain.Tenant, fn func(context.Context, pgx.Tx) error) error
}

// TenantsScope is the worker's TenantScope. A tenant's job runs in a
// transaction that tenants confines to that tenant, exactly as a request's
// is: here, under row-level security on the tenant's seal (app.tenant_seal). It is
// the same unit of work a request gets: the handler reaches it with
// postgres.UnitFrom(ctx) to enqueue, audit and publish after commit. A
// control-plane job (the zero Tenant) runs in a plain transaction on pool.
//
// The job names its tenant by id and slug. The slug is read again, from
// the database, and must still name the same tenant, so a job outliving
// its tenant (deleted, or its slug reused) fails instead of running in the
// wrong place, and fails permanently: it is discarded rather than retried. A suspended
// tenant's job fails without running and is retried with the usual
// backoff, so it runs if the tenant is resumed before its attempts run out
// (about 8.5 minutes with DefaultMaxAttempts and Backoff); after that it
// is discarded like any failing job, and `jobs retry` brings it back.
func TenantsScope(pool *pgxpool.Pool, tenants TenantStore) TenantScope {
	control := PoolScope(pool)
	return func(ctx context.Context, tenant Tenant, fn func(ctx context.Context, tx pgx.Tx) error) error {
		if tenant.ID == "" {
			return control(ctx, tenant, fn)
		}
		// Read afresh, not through the resolve cache: a worker that has
		// not heard of a suspension or a deletion yet (its notification
		// lost, the cache not expired) does not run the job. One indexed
		// read per job.
		t, err := tenants.Get(ctx, tenant.Slug)
		switch {
		case domain.ErrorCode(err) == domain.ENOTFOUND:
			return Permanent(fmt.Errorf("tenant %s: %w", tenant.Slug, err))
		case err != nil:
			return fmt.Errorf("tenant %s: %w", tenant.Slug, err)
		case t.ID != tenant.ID:
			return Permanent(domain.Errorf(domain.ENOTFOUND, "tenant %s is no longer the tenant %s the job was enqueued for", tenant.Slug, tenant.ID))
		case t.Suspended:
			return domain.Errorf(domain.EUNAVAILABLE, "tenant %s is suspended: the job waits until it is resumed", tenant.Slug)
		}
		return tenants.InTenantTx(ctx, t, fn)
	}
}

// TenantQueries returns the tenant queries on a handler's transaction, which
// TenantsScope has confined to the job's tenant. Use it only on that
// transaction: elsewhere, tenant data is reached through
// postgres.Tenants.InTenant.
func TenantQueries(tx pgx.Tx) *tenantdb.Queries {
	return tenantdb.New(tx)
}
