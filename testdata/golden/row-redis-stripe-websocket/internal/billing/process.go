package billing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/jobs"
	"github.com/acme/shop-api/internal/postgres"
)

// HandleEvent applies a stored event: the worker's handler of
// ProcessEvent. tx is a control-plane transaction that also records the
// job's key (the event id), so an event delivered twice is applied once;
// concurrent deliveries serialise on the tenant's subscription row. State
// written by a newer event (its created time) is never overwritten by an
// older one.
func (s *Service) HandleEvent(ctx context.Context, tx pgx.Tx, d *jobs.Delivery[ProcessEvent]) error {
	var (
		typ     string
		created time.Time
		payload []byte
	)
	err := tx.QueryRow(ctx, `SELECT type, created, payload FROM billing_events WHERE id = $1 FOR UPDATE`, d.Args.EventID).
		Scan(&typ, &created, &payload)
	if errors.Is(err, pgx.ErrNoRows) {
		return jobs.Permanent(fmt.Errorf("billing event %s is not stored", d.Args.EventID))
	}
	if err != nil {
		return fmt.Errorf("read event: %w", err)
	}
	var ev struct {
		Data struct {
			Object json.RawMessage `json:"object"`
		} `json:"data"`
	}
	if decodeErr := json.Unmarshal(payload, &ev); decodeErr != nil {
		return jobs.Permanent(fmt.Errorf("decode event %s: %w", d.Args.EventID, decodeErr))
	}
	a := applier{svc: s, tx: tx, created: created, object: ev.Data.Object}
	switch typ {
	case "checkout.session.completed":
		err = a.checkoutCompleted(ctx)
	case "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted":
		err = a.subscription(ctx)
	case "invoice.paid":
		err = a.invoice(ctx, "active")
	case "invoice.payment_failed":
		err = a.invoice(ctx, "past_due")
	case "customer.deleted":
		err = a.customerDeleted(ctx)
	default:
		s.cfg.Logger.DebugContext(ctx, "billing event type not handled", slog.String("type", typ))
	}
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE billing_events SET processed_at = now() WHERE id = $1`, d.Args.EventID)
	return err
}

// applier applies one event's object in its transaction.
type applier struct {
	svc     *Service
	tx      pgx.Tx
	created time.Time
	object  json.RawMessage
}

// objectID is a Stripe reference: an id, or an expanded object with one.
type objectID string

func (o *objectID) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '{' {
		var obj struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &obj); err != nil {
			return err
		}
		*o = objectID(obj.ID)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*o = objectID(s)
	return nil
}

func (a applier) decode(v any) error {
	if err := json.Unmarshal(a.object, v); err != nil {
		return jobs.Permanent(fmt.Errorf("decode event object: %w", err))
	}
	return nil
}

// tenantOf returns the tenant whose Stripe customer is customer, or "".
func (a applier) tenantOf(ctx context.Context, customer objectID) (string, error) {
	var tenant string
	err := a.tx.QueryRow(ctx, `SELECT tenant_id::text FROM billing_customers WHERE stripe_customer_id = $1`, string(customer)).Scan(&tenant)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return tenant, err
}

// checkoutCompleted links the session's customer to the tenant that
// started it (client_reference_id), should the customer be new to us.
func (a applier) checkoutCompleted(ctx context.Context) error {
	var sess struct {
		Customer          objectID `json:"customer"`
		ClientReferenceID string   `json:"client_reference_id"`
	}
	if err := a.decode(&sess); err != nil {
		return err
	}
	if sess.Customer == "" || sess.ClientReferenceID == "" {
		return nil
	}
	_, err := a.tx.Exec(ctx, `
		INSERT INTO billing_customers (tenant_id, stripe_customer_id)
		SELECT id, $2 FROM tenants WHERE id::text = $1
		ON CONFLICT DO NOTHING`, sess.ClientReferenceID, string(sess.Customer))
	return err
}

// subscription writes the subscription's state, unless a newer event
// already did.
func (a applier) subscription(ctx context.Context) error {
	var sub struct {
		ID                 string   `json:"id"`
		Customer           objectID `json:"customer"`
		Status             string   `json:"status"`
		TrialEnd           int64    `json:"trial_end"`
		CurrentPeriodStart int64    `json:"current_period_start"`
		CurrentPeriodEnd   int64    `json:"current_period_end"`
		Items              struct {
			Data []struct {
				Quantity int64 `json:"quantity"`
				Price    struct {
					ID string `json:"id"`
				} `json:"price"`
			} `json:"data"`
		} `json:"items"`
	}
	if err := a.decode(&sub); err != nil {
		return err
	}
	tenant, err := a.tenantOf(ctx, sub.Customer)
	if err != nil || tenant == "" {
		return err // a customer that is not a tenant's: nothing to do
	}
	price, seats := "", int64(1)
	if len(sub.Items.Data) > 0 {
		price, seats = sub.Items.Data[0].Price.ID, max(sub.Items.Data[0].Quantity, 1)
	}
	tag, err := a.tx.Exec(ctx, `
		INSERT INTO billing_subscriptions AS s (tenant_id, stripe_subscription_id, stripe_customer_id, price_id, status, seats,
			trial_end, current_period_start, current_period_end, event_created)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (tenant_id) DO UPDATE SET
			stripe_subscription_id = EXCLUDED.stripe_subscription_id, stripe_customer_id = EXCLUDED.stripe_customer_id,
			price_id = EXCLUDED.price_id, status = EXCLUDED.status, seats = EXCLUDED.seats, trial_end = EXCLUDED.trial_end,
			current_period_start = EXCLUDED.current_period_start, current_period_end = EXCLUDED.current_period_end,
			event_created = EXCLUDED.event_created, updated_at = now()
		WHERE s.event_created <= EXCLUDED.event_created`,
		tenant, sub.ID, string(sub.Customer), price, sub.Status, seats,
		unixOrNil(sub.TrialEnd), unixOrNil(sub.CurrentPeriodStart), unixOrNil(sub.CurrentPeriodEnd), a.created)
	if err != nil || tag.RowsAffected() == 0 {
		return err
	}
	return a.audit(ctx, tenant, sub.ID, map[string]any{"status": sub.Status, "price": price, "seats": seats})
}

// audit records a change the event made to tenant's subscription in the
// tenant's control-plane audit chain, in the event's transaction.
func (a applier) audit(ctx context.Context, tenant, subscription string, after map[string]any) error {
	return postgres.RecordControl(ctx, a.tx, domain.Tenant{ID: tenant}, "billing.subscription.update", "subscription:"+subscription, nil, after)
}

// invoice moves the invoice's subscription to status (paid: active;
// failed: past_due), unless a newer event already wrote it. A failure
// notes when payment first failed, which starts the grace period; a paid
// invoice clears it.
func (a applier) invoice(ctx context.Context, status string) error {
	var inv struct {
		Subscription objectID `json:"subscription"`
	}
	if err := a.decode(&inv); err != nil {
		return err
	}
	if inv.Subscription == "" {
		return nil
	}
	var (
		tenant              string
		wasFailed, isFailed *time.Time
	)
	err := a.tx.QueryRow(ctx, `
		WITH was AS (SELECT tenant_id, payment_failed_at FROM billing_subscriptions WHERE stripe_subscription_id = $1 FOR UPDATE)
		UPDATE billing_subscriptions s SET status = $2, event_created = $3, updated_at = now(),
			payment_failed_at = CASE WHEN $2 = 'past_due' THEN coalesce(s.payment_failed_at, $3) END
		FROM was
		WHERE s.tenant_id = was.tenant_id AND s.event_created <= $3 AND s.status <> 'canceled'
		RETURNING s.tenant_id::text, was.payment_failed_at, s.payment_failed_at`,
		string(inv.Subscription), status, a.created).Scan(&tenant, &wasFailed, &isFailed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // a newer event wrote it, or no tenant's subscription
	}
	if err != nil {
		return err
	}
	// The dunning emails: a first failure schedules its reminders; a
	// payment after a failure says it is restored.
	switch {
	case wasFailed == nil && isFailed != nil:
		err = a.svc.scheduleDunning(ctx, a.tx, tenant, *isFailed)
	case wasFailed != nil && isFailed == nil:
		err = a.svc.enqueueDunning(ctx, a.tx, tenant, *wasFailed, StageRestored, time.Now())
	}
	if err != nil {
		return err
	}
	return a.audit(ctx, tenant, string(inv.Subscription), map[string]any{"status": status})
}

// customerDeleted forgets the customer and its subscription: the tenant is
// back on the default plan.
func (a applier) customerDeleted(ctx context.Context) error {
	var c struct {
		ID string `json:"id"`
	}
	if err := a.decode(&c); err != nil {
		return err
	}
	if _, err := a.tx.Exec(ctx, `DELETE FROM billing_subscriptions WHERE stripe_customer_id = $1 AND event_created <= $2`, c.ID, a.created); err != nil {
		return err
	}
	_, err := a.tx.Exec(ctx, `DELETE FROM billing_customers WHERE stripe_customer_id = $1`, c.ID)
	return err
}

func unixOrNil(sec int64) *time.Time {
	if sec == 0 {
		return nil
	}
	t := time.Unix(sec, 0).UTC()
	return &t
}
