package billing

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/jobs"
	"github.com/acme/shop-api/internal/postgres"
)

// SeatSyncDelay is how long after a member joins or leaves its tenant's
// subscription quantity is brought in step: changes within it (a team
// invited at once) reach Stripe as one update.
const SeatSyncDelay = 5 * time.Second

// SyncSeatsArgs is the job that sets a tenant's subscription quantity to
// its member count.
type SyncSeatsArgs struct {
	TenantID string `json:"tenant_id"`
}

// Kind names the job.
func (SyncSeatsArgs) Kind() string { return "billing.sync_seats" }

var _ postgres.SeatKeeper = (*Service)(nil)

// SeatLimit returns how many members tenantID's plan in force allows; 0 is
// no limit. Identity asks it before an invitation or an acceptance.
func (s *Service) SeatLimit(ctx context.Context, tenantID string) (int64, error) {
	sub, err := s.Subscription(ctx, tenantID)
	if err != nil {
		return 0, err
	}
	return sub.Plan.Seats, nil
}

// MembersChanged enqueues, in tx (the membership change's transaction), a
// job that brings tenantID's subscription quantity in step SeatSyncDelay
// later. A tenant without a subscription in force has nothing to update.
func (s *Service) MembersChanged(ctx context.Context, tx pgx.Tx, tenantID string) error {
	var subscribed bool
	err := tx.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM billing_subscriptions
			WHERE tenant_id = $1 AND status IN ('active', 'trialing', 'past_due'))`, tenantID).Scan(&subscribed)
	if err != nil {
		return fmt.Errorf("read subscription: %w", err)
	}
	if !subscribed {
		return nil
	}
	_, err = s.cfg.Jobs.Enqueue(ctx, tx, jobs.Job{
		Args:    SyncSeatsArgs{TenantID: tenantID},
		Options: jobs.Options{RunAt: time.Now().Add(SeatSyncDelay)},
	})
	return err
}

// HandleSyncSeats is the worker's handler of SyncSeatsArgs. It locks the
// tenant's subscription row, so seat jobs of one tenant run one after the
// other, and counts the members as they are when it runs: of the jobs a
// burst of changes enqueued, the first to run updates Stripe and the
// others find the quantity in step and call nothing. The update's
// idempotency key is the job's and the quantity, so a retried job never
// applies it twice.
func (s *Service) HandleSyncSeats(ctx context.Context, tx pgx.Tx, d *jobs.Delivery[SyncSeatsArgs]) error {
	tenant := d.Args.TenantID
	var (
		subscription, status string
		seats                int64
	)
	err := tx.QueryRow(ctx, `SELECT stripe_subscription_id, status, seats FROM billing_subscriptions WHERE tenant_id = $1 FOR UPDATE`, tenant).
		Scan(&subscription, &status, &seats)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // cancelled and forgotten since: nothing to keep in step
	}
	if err != nil {
		return fmt.Errorf("read subscription: %w", err)
	}
	if !inForce[status] {
		return nil
	}
	var members int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM memberships WHERE tenant_id = $1`, tenant).Scan(&members); err != nil {
		return fmt.Errorf("count members: %w", err)
	}
	members = max(members, 1)
	if members == seats {
		return nil
	}
	if err := s.setQuantity(ctx, subscription, members, idempotencyKey("seats", tenant, d.Key, strconv.FormatInt(members, 10))); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE billing_subscriptions SET seats = $2, updated_at = now() WHERE tenant_id = $1`, tenant, members); err != nil {
		return fmt.Errorf("store seats: %w", err)
	}
	return postgres.RecordControl(ctx, tx, domain.Tenant{ID: tenant}, "billing.subscription.seats", "subscription:"+subscription,
		map[string]any{"seats": seats}, map[string]any{"seats": members})
}

// setQuantity sets the quantity of subscription's item (a plan is one
// price, so one item) at Stripe, prorated.
func (s *Service) setQuantity(ctx context.Context, subscription string, quantity int64, key string) error {
	get := &stripe.SubscriptionParams{}
	get.Context = ctx
	sub, err := s.stripe.Subscriptions.Get(subscription, get)
	if err != nil {
		return stripeError("read the subscription", err)
	}
	if sub.Items == nil || len(sub.Items.Data) == 0 {
		return jobs.Permanent(fmt.Errorf("subscription %s has no item to set the seats of", subscription))
	}
	params := &stripe.SubscriptionItemParams{
		Quantity:          new(quantity),
		ProrationBehavior: new("create_prorations"),
	}
	params.Context = ctx
	params.SetIdempotencyKey(key)
	if _, err := s.stripe.SubscriptionItems.Update(sub.Items.Data[0].ID, params); err != nil {
		return stripeError("update the subscription's seats", err)
	}
	return nil
}
