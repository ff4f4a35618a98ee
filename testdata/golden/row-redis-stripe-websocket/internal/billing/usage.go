package billing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/jobs"
)

// UsagePeriod is the span usage is summed over and reported to Stripe in:
// an hour, UTC. An hour is reported once it is over.
const UsagePeriod = time.Hour

// Meters reports whether some plan meters item (its metered list).
func (ps *Plans) Meters(item string) bool {
	for i := range ps.plans {
		if slices.Contains(ps.plans[i].Metered, item) {
			return true
		}
	}
	return false
}

// RecordUsage adds quantity of item (a name some plan lists under metered,
// and the event name of a Stripe meter) to tenant's usage for the current
// hour. The worker's ReportUsage job sends the hour to Stripe once it is
// over.
func (s *Service) RecordUsage(ctx context.Context, tenantID, item string, quantity int64) error {
	if quantity <= 0 {
		return domain.Errorf(domain.EINVALID, "usage quantity %d: want a positive number", quantity)
	}
	if !s.cfg.Plans.Meters(item) {
		return domain.Errorf(domain.EINVALID, "usage item %q is metered by no plan (plans.yaml, metered)", item)
	}
	_, err := s.cfg.Pool.Exec(ctx, `
		INSERT INTO billing_usage AS u (tenant_id, item, period_start, quantity) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant_id, item, period_start) DO UPDATE SET quantity = u.quantity + EXCLUDED.quantity`,
		tenantID, item, time.Now().UTC().Truncate(UsagePeriod), quantity)
	if err != nil {
		return fmt.Errorf("record usage: %w", err)
	}
	return nil
}

// ReportUsageArgs is the periodic job that reports finished hours of usage.
type ReportUsageArgs struct{}

// Kind names the job.
func (ReportUsageArgs) Kind() string { return "billing.report_usage" }

// ReportUsagePeriodic runs ReportUsageArgs a few minutes into every hour.
var ReportUsagePeriodic = jobs.PeriodicJob{
	Name:     "billing.report_usage",
	Schedule: "7 * * * *",
	Job:      func(time.Time) jobs.Job { return jobs.Job{Args: ReportUsageArgs{}} },
}

// HandleReportUsage is the worker's handler of ReportUsageArgs. Each hour
// is reported in its own transaction, so a retry resumes where a failed
// attempt stopped.
func (s *Service) HandleReportUsage(ctx context.Context, _ pgx.Tx, _ *jobs.Delivery[ReportUsageArgs]) error {
	_, err := s.ReportUsage(ctx, time.Now())
	return err
}

// ReportUsage sends every unreported hour of usage that ended by now to
// Stripe as a meter event and returns how many it settled. Each hour is
// settled once: its row is locked while it is sent and marked reported in
// the same transaction, and the event's identifier and idempotency key
// derive from tenant, item and hour, so an attempt that failed after
// Stripe took the event (a lost response, a crash before the commit) sends
// the very same event again, which Stripe counts once. Usage of a tenant
// whose plan in force does not meter the item, or that has no Stripe
// customer, is settled as unbilled. It stops at the first failure.
func (s *Service) ReportUsage(ctx context.Context, now time.Time) (int, error) {
	ended := now.UTC().Truncate(UsagePeriod)
	settled := 0
	for {
		found, err := s.reportOne(ctx, ended)
		if err != nil || !found {
			return settled, err
		}
		settled++
	}
}

// reportOne settles the oldest unreported hour that started before ended,
// and reports whether there was one.
func (s *Service) reportOne(ctx context.Context, ended time.Time) (bool, error) {
	found := false
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		var (
			tenant, item string
			period       time.Time
			quantity     int64
			customer     *string
		)
		err := tx.QueryRow(ctx, `
			SELECT u.tenant_id::text, u.item, u.period_start, u.quantity, c.stripe_customer_id
			FROM billing_usage u LEFT JOIN billing_customers c ON c.tenant_id = u.tenant_id
			WHERE u.reported_at IS NULL AND u.period_start < $1
			ORDER BY u.period_start, u.tenant_id, u.item
			LIMIT 1 FOR UPDATE OF u SKIP LOCKED`, ended).
			Scan(&tenant, &item, &period, &quantity, &customer)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read usage: %w", err)
		}
		found = true
		outcome := "unbilled"
		if customer != nil {
			sub, subErr := s.Subscription(ctx, tenant)
			if subErr != nil {
				return subErr
			}
			if slices.Contains(sub.Plan.Metered, item) {
				if sendErr := s.sendUsage(ctx, *customer, tenant, item, period, quantity); sendErr != nil {
					return sendErr
				}
				outcome = "reported"
			}
		}
		_, err = tx.Exec(ctx, `
			UPDATE billing_usage SET outcome = $4, reported_at = now()
			WHERE tenant_id = $1 AND item = $2 AND period_start = $3`, tenant, item, period, outcome)
		if err != nil {
			return fmt.Errorf("mark usage reported: %w", err)
		}
		return nil
	})
	return found, err
}

// sendUsage creates the hour's meter event at Stripe.
func (s *Service) sendUsage(ctx context.Context, customer, tenant, item string, period time.Time, quantity int64) error {
	key := UsageKey(tenant, item, period)
	params := &stripe.BillingMeterEventParams{
		EventName:  new(item),
		Identifier: new(key),
		Timestamp:  new(period.Unix()),
		Payload:    map[string]string{"stripe_customer_id": customer, "value": strconv.FormatInt(quantity, 10)},
	}
	params.Context = ctx
	params.SetIdempotencyKey(key)
	if _, err := s.stripe.BillingMeterEvents.New(params); err != nil {
		return stripeError("report usage", err)
	}
	return nil
}

// UsageKey is the meter event identifier and idempotency key of tenant's
// usage of item in the hour starting at period.
func UsageKey(tenant, item string, period time.Time) string {
	return idempotencyKey("usage", tenant, item, period.UTC().Format("2006010215"))
}
