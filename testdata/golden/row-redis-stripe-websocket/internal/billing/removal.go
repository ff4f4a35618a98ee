package billing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"

	"github.com/acme/shop-api/internal/jobs"
)

// RemoveCustomersArgs is the periodic job that deletes deleted tenants'
// customers at Stripe.
type RemoveCustomersArgs struct{}

// Kind names the job.
func (RemoveCustomersArgs) Kind() string { return "billing.remove_customers" }

// RemoveCustomersPeriodic runs RemoveCustomersArgs every five minutes: a
// deleted tenant's subscription is cancelled within minutes, long before
// Stripe would charge it again.
var RemoveCustomersPeriodic = jobs.PeriodicJob{
	Name:     "billing.remove_customers",
	Schedule: "*/5 * * * *",
	Job:      func(time.Time) jobs.Job { return jobs.Job{Args: RemoveCustomersArgs{}} },
}

// HandleRemoveCustomers is the worker's handler of RemoveCustomersArgs.
func (s *Service) HandleRemoveCustomers(ctx context.Context, _ pgx.Tx, _ *jobs.Delivery[RemoveCustomersArgs]) error {
	removed, err := s.RemoveCustomers(ctx)
	if removed > 0 {
		s.cfg.Logger.InfoContext(ctx, "deleted tenants' Stripe customers removed", slog.Int("customers", removed))
	}
	return err
}

// RemoveCustomers deletes at Stripe every customer a tenant's deletion
// queued (billing_customer_removals), which cancels the customer's
// subscriptions at once, and forgets each once Stripe confirmed it: a
// customer Stripe no longer has counts as removed. It returns how many it
// removed and stops at the first failure, which the job's retry resumes.
func (s *Service) RemoveCustomers(ctx context.Context) (int, error) {
	removed := 0
	for {
		found, err := s.removeOne(ctx)
		if err != nil || !found {
			return removed, err
		}
		removed++
	}
}

// removeOne removes the oldest queued customer; its row is locked while
// Stripe is called, so two workers never both send it.
func (s *Service) removeOne(ctx context.Context) (bool, error) {
	found := false
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		var customer string
		err := tx.QueryRow(ctx, `
			SELECT stripe_customer_id FROM billing_customer_removals
			ORDER BY queued_at, stripe_customer_id
			LIMIT 1 FOR UPDATE SKIP LOCKED`).Scan(&customer)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list customers to remove: %w", err)
		}
		found = true
		params := &stripe.CustomerParams{}
		params.Context = ctx
		if _, delErr := s.stripe.Customers.Del(customer, params); delErr != nil && !stripeMissing(delErr) {
			return stripeError("delete customer "+customer, delErr)
		}
		_, err = tx.Exec(ctx, `DELETE FROM billing_customer_removals WHERE stripe_customer_id = $1`, customer)
		return err
	})
	return found, err
}

// stripeMissing reports whether Stripe answered that the object is gone.
func stripeMissing(err error) bool {
	var se *stripe.Error
	return errors.As(err, &se) && se.HTTPStatusCode == http.StatusNotFound
}
