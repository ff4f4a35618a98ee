package billing_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/billing"
	"github.com/acme/shop-api/internal/jobs"
)

// addMembers makes n new users members of the bundle's tenant, each in its
// own transaction that tells billing, as Identity does.
func addMembers(t *testing.T, b *bundle, n int, prefix string) {
	t.Helper()
	ctx := t.Context()
	for i := range n {
		err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `
				WITH u AS (INSERT INTO users (email, name, password_hash) VALUES ($2, 'Member', '$argon2id$x') RETURNING id)
				INSERT INTO memberships (tenant_id, user_id, role) SELECT $1, id, 'member' FROM u`,
				b.tenant.ID, fmt.Sprintf("%s%d@example.com", prefix, i))
			if err != nil {
				return err
			}
			return b.svc.MembersChanged(ctx, tx, b.tenant.ID)
		})
		require.NoError(t, err)
	}
}

// seatUpdates returns the forms of the subscription item updates sent to
// stripe-mock.
func seatUpdates(b *bundle) []map[string]string {
	var out []map[string]string
	b.keys.mu.Lock()
	defer b.keys.mu.Unlock()
	for at, forms := range b.keys.bodies {
		if !strings.HasPrefix(at, "POST /v1/subscription_items/") {
			continue
		}
		for i, f := range forms {
			out = append(out, map[string]string{
				"quantity": f.Get("quantity"), "proration_behavior": f.Get("proration_behavior"),
				"key": b.keys.keys[at][i],
			})
		}
	}
	return out
}

// TestSeatsFollowMembers: members joining at once reach Stripe as one
// quantity update, made by the worker from the jobs their transactions
// enqueued; a change that leaves the count as it is calls nothing; a
// tenant without a subscription enqueues nothing.
func TestSeatsFollowMembers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()

	// No subscription: members come and go without a job.
	addMembers(t, b, 1, "early")
	var queued int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM memberships WHERE tenant_id = $1`, b.tenant.ID).Scan(&queued))
	require.Equal(t, 1, queued)
	scheduled, err := b.jobs.List(ctx, jobs.Query{State: jobs.StateScheduled, Kind: billing.SyncSeatsArgs{}.Kind(), Limit: 10})
	require.NoError(t, err)
	require.Empty(t, scheduled, "a tenant without a subscription has no seats to sync")

	_, err = b.pool.Exec(ctx, `
		INSERT INTO billing_subscriptions (tenant_id, stripe_subscription_id, stripe_customer_id, price_id, status, seats, event_created)
		VALUES ($1, 'sub_seats', 'cus_seats', 'price_pro_monthly', 'active', 1, now())`, b.tenant.ID)
	require.NoError(t, err)
	addMembers(t, b, 3, "team")
	scheduled, err = b.jobs.List(ctx, jobs.Query{State: jobs.StateScheduled, Kind: billing.SyncSeatsArgs{}.Kind(), Limit: 10})
	require.NoError(t, err)
	require.Len(t, scheduled, 3, "each change enqueues its job in its own transaction")

	runWorker(t, b)
	require.Eventually(t, func() bool {
		got, err := b.svc.Subscription(ctx, b.tenant.ID)
		return err == nil && got.Seats == 4
	}, 30*time.Second, 100*time.Millisecond, "the subscription's seats follow the 4 members")
	waitSeatJobs(t, b, 3)
	updates := seatUpdates(b)
	require.Len(t, updates, 1, "three changes at once, one update at Stripe: %v", updates)
	require.Equal(t, "4", updates[0]["quantity"])
	require.Equal(t, "create_prorations", updates[0]["proration_behavior"])
	require.Contains(t, updates[0]["key"], b.tenant.ID)

	// A change that leaves the count as it is (here, none) calls nothing.
	require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error { return b.svc.MembersChanged(ctx, tx, b.tenant.ID) }))
	waitSeatJobs(t, b, 4)
	require.Len(t, seatUpdates(b), 1)
}

// TestRetriedSeatSyncReusesItsKey: a seat job retried (its update sent,
// its transaction lost) sends Stripe the same idempotency key, so the
// update is applied once.
func TestRetriedSeatSyncReusesItsKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	_, err := b.pool.Exec(ctx, `
		INSERT INTO billing_subscriptions (tenant_id, stripe_subscription_id, stripe_customer_id, price_id, status, seats, event_created)
		VALUES ($1, 'sub_seats', 'cus_seats', 'price_pro_monthly', 'active', 1, now())`, b.tenant.ID)
	require.NoError(t, err)
	addMembers(t, b, 2, "m")
	d := &jobs.Delivery[billing.SyncSeatsArgs]{ID: "1", Key: "job-key", Attempt: 1, Args: billing.SyncSeatsArgs{TenantID: b.tenant.ID}}
	for range 2 {
		tx, err := b.pool.Begin(ctx)
		require.NoError(t, err)
		require.NoError(t, b.svc.HandleSyncSeats(ctx, tx, d))
		require.NoError(t, tx.Rollback(ctx)) // the attempt's transaction is lost
		d.Attempt++
	}
	updates := seatUpdates(b)
	require.Len(t, updates, 2)
	require.Equal(t, updates[0]["key"], updates[1]["key"])
	require.Equal(t, "2", updates[0]["quantity"])
}

// waitSeatJobs waits until n seat jobs have run to completion (their keys
// are recorded in their transactions).
func waitSeatJobs(t *testing.T, b *bundle, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		var done int
		err := b.pool.QueryRow(t.Context(), `SELECT count(*) FROM public.job_processed WHERE kind = $1`, billing.SyncSeatsArgs{}.Kind()).Scan(&done)
		return err == nil && done >= n
	}, 30*time.Second, 100*time.Millisecond, "seat jobs not done")
}
