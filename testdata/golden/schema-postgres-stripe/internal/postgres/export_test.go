package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acme/internal/domain"
)

// InTenantTx exposes inTenantTx to the tests, which attack the tenant
// confinement with hand-written SQL.
func InTenantTx(ctx context.Context, ts *Tenants, t domain.Tenant, fn func(pgx.Tx) error) error {
	return ts.inTenantTx(ctx, t, fn)
}

// ControlPool exposes the control-plane pool to the tests.
func ControlPool(ts *Tenants) *pgxpool.Pool {
	return ts.pool
}
