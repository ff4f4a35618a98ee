package billing_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/domain"
)

// TestSyncRepairsWhatMissedWebhooksLeft fetches the tenant's subscriptions
// from stripe-mock: a subscription no webhook told us of is written, a
// stale state is repaired, and a state written by an event newer than the
// fetch is left alone.
func TestSyncRepairsWhatMissedWebhooksLeft(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	_, err := b.svc.Checkout(ctx, b.tenant, "price_pro_monthly")
	require.NoError(t, err)
	customer := customerOf(t, b)

	// No webhook arrived: the database knows no subscription.
	got, err := b.svc.Subscription(ctx, b.tenant.ID)
	require.NoError(t, err)
	require.Equal(t, "none", got.Status)

	synced, err := b.svc.Sync(ctx, "")
	require.NoError(t, err)
	require.Len(t, synced, 1)
	require.Equal(t, "acme", synced[0].Tenant)
	require.NotEmpty(t, synced[0].Subscription)
	require.NotEqual(t, "none", synced[0].Status)
	require.Contains(t, b.keys.get("GET /v1/subscriptions"), "", "a read sends no idempotency key")
	got, err = b.svc.Subscription(ctx, b.tenant.ID)
	require.NoError(t, err)
	require.Equal(t, synced[0].Status, got.Status)
	var stored, storedCustomer string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT stripe_subscription_id, stripe_customer_id FROM billing_subscriptions WHERE tenant_id = $1`, b.tenant.ID).Scan(&stored, &storedCustomer))
	require.Equal(t, synced[0].Subscription, stored)
	require.Equal(t, customer, storedCustomer)

	// A stale state (an update whose webhook failed) is repaired.
	_, err = b.pool.Exec(ctx, `UPDATE billing_subscriptions SET status = 'incomplete', event_created = now() - interval '1 day' WHERE tenant_id = $1`, b.tenant.ID)
	require.NoError(t, err)
	synced, err = b.svc.Sync(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, synced, 1)
	require.NotEqual(t, "incomplete", synced[0].Status)
	got, err = b.svc.Subscription(ctx, b.tenant.ID)
	require.NoError(t, err)
	require.Equal(t, synced[0].Status, got.Status)

	// State an event newer than the fetch wrote stays.
	_, err = b.pool.Exec(ctx, `UPDATE billing_subscriptions SET status = 'canceled', event_created = $2 WHERE tenant_id = $1`, b.tenant.ID, time.Now().Add(time.Hour))
	require.NoError(t, err)
	_, err = b.svc.Sync(ctx, "acme")
	require.NoError(t, err)
	got, err = b.svc.Subscription(ctx, b.tenant.ID)
	require.NoError(t, err)
	require.Equal(t, "canceled", got.Status)

	_, err = b.svc.Sync(ctx, "nobody")
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err))
}
