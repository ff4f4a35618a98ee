package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/jobs"
)

// Synced is one tenant's subscription as reconciliation left it.
type Synced struct {
	Tenant string `json:"tenant"`
	// Subscription is the Stripe subscription now in the database, or ""
	// when Stripe has none for the tenant's customer.
	Subscription string `json:"subscription"`
	Status       string `json:"status"`
}

// Sync reconciles the database with Stripe: for every tenant with a Stripe
// customer (or only the tenant slug, when not empty) it fetches the
// customer's subscriptions and writes the one that matters (the newest in
// force, else the newest) the way a webhook would, through the same
// applier. State is stamped with the time the fetch started, so an event
// newer than the fetch is never overwritten, and state older than it (a
// missed or failed webhook) is repaired. A customer without subscriptions
// leaves the tenant on the default plan.
func (s *Service) Sync(ctx context.Context, slug string) ([]Synced, error) {
	rows, err := s.cfg.Pool.Query(ctx, `
		SELECT t.id::text, t.slug, c.stripe_customer_id
		FROM tenants t JOIN billing_customers c ON c.tenant_id = t.id
		WHERE $1 = '' OR t.slug = $1 ORDER BY t.slug`, slug)
	if err != nil {
		return nil, fmt.Errorf("list billing customers: %w", err)
	}
	type customer struct{ tenant, slug, id string }
	customers, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (customer, error) {
		var c customer
		return c, r.Scan(&c.tenant, &c.slug, &c.id)
	})
	if err != nil {
		return nil, fmt.Errorf("list billing customers: %w", err)
	}
	if slug != "" && len(customers) == 0 {
		return nil, domain.Errorf(domain.ENOTFOUND, "tenant %q: no such tenant, or it has no Stripe customer yet (it gets one at its first checkout)", slug)
	}
	synced := make([]Synced, 0, len(customers))
	var errs []error
	for _, c := range customers {
		got, err := s.syncCustomer(ctx, c.tenant, c.id)
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", c.slug, err))
			continue
		}
		got.Tenant = c.slug
		synced = append(synced, got)
	}
	return synced, errors.Join(errs...)
}

// syncCustomer writes the current state of customer's subscription.
func (s *Service) syncCustomer(ctx context.Context, tenant, customer string) (Synced, error) {
	fetched := time.Now().Truncate(time.Second)
	params := &stripe.SubscriptionListParams{Customer: new(customer), Status: new("all")}
	params.Context = ctx
	var current *stripe.Subscription
	it := s.stripe.Subscriptions.List(params)
	for it.Next() {
		if sub := it.Subscription(); current == nil || newerOrInForce(sub, current) {
			current = sub
		}
	}
	if err := it.Err(); err != nil {
		return Synced{}, stripeError("list subscriptions", err)
	}
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		if current == nil {
			_, err := tx.Exec(ctx, `DELETE FROM billing_subscriptions WHERE tenant_id = $1 AND event_created <= $2`, tenant, fetched)
			return err
		}
		// The list is the customer's: name it so, however Stripe expanded it.
		current.Customer = &stripe.Customer{ID: customer}
		object, err := json.Marshal(current)
		if err != nil {
			return fmt.Errorf("encode subscription %s: %w", current.ID, err)
		}
		return applier{svc: s, tx: tx, created: fetched, object: object}.subscription(ctx)
	})
	if err != nil {
		return Synced{}, fmt.Errorf("store subscription: %w", err)
	}
	if current == nil {
		return Synced{Status: "none"}, nil
	}
	return Synced{Subscription: current.ID, Status: string(current.Status)}, nil
}

// newerOrInForce reports whether a should win over b: a subscription in
// force over one that is not, else the newer.
func newerOrInForce(a, b *stripe.Subscription) bool {
	if inForce[string(a.Status)] != inForce[string(b.Status)] {
		return inForce[string(a.Status)]
	}
	return a.Created > b.Created
}

// ReconcileArgs is the periodic job that runs Sync for every tenant.
type ReconcileArgs struct{}

// Kind names the job.
func (ReconcileArgs) Kind() string { return "billing.reconcile" }

// ReconcilePeriodic runs ReconcileArgs every night at 04:23 UTC.
var ReconcilePeriodic = jobs.PeriodicJob{
	Name:     "billing.reconcile",
	Schedule: "23 4 * * *",
	Job:      func(time.Time) jobs.Job { return jobs.Job{Args: ReconcileArgs{}} },
}

// HandleReconcile is the worker's handler of ReconcileArgs.
func (s *Service) HandleReconcile(ctx context.Context, _ pgx.Tx, _ *jobs.Delivery[ReconcileArgs]) error {
	synced, err := s.Sync(ctx, "")
	s.cfg.Logger.InfoContext(ctx, "billing reconciled with Stripe", slog.Int("tenants", len(synced)))
	return err
}
