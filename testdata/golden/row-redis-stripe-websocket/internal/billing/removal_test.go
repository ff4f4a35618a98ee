package billing_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/billing"
)

// A deleted tenant's Stripe customer, which its deletion queued
// (postgres.Tenants.Delete), is deleted at Stripe by the periodic job,
// once, and forgotten.
func TestDeletedTenantsCustomersAreRemovedAtStripe(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	_, err := b.svc.Checkout(ctx, b.tenant, "price_pro_monthly")
	require.NoError(t, err)
	customer := customerOf(t, b)
	_, err = b.pool.Exec(ctx, `
		INSERT INTO billing_customer_removals (stripe_customer_id, tenant_id)
		SELECT stripe_customer_id, tenant_id FROM billing_customers WHERE tenant_id = $1`, b.tenant.ID)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `DELETE FROM tenants WHERE id = $1`, b.tenant.ID)
	require.NoError(t, err)

	runWorker(t, b)
	require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		_, enqueueErr := b.jobs.Enqueue(ctx, tx, billing.RemoveCustomersPeriodic.Job(time.Now()))
		return enqueueErr
	}))
	require.Eventually(t, func() bool {
		var queued int
		countErr := b.pool.QueryRow(ctx, `SELECT count(*) FROM billing_customer_removals`).Scan(&queued)
		return countErr == nil && queued == 0
	}, 30*time.Second, 50*time.Millisecond, "the customer is still queued")
	require.Len(t, b.keys.get("DELETE /v1/customers/"+customer), 1, "Stripe was asked to delete the customer")

	n, err := b.svc.RemoveCustomers(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Len(t, b.keys.get("DELETE /v1/customers/"+customer), 1, "a removed customer is never sent again")
}
